"""`/api/v1` trades: executions in (FIX or CSV), trades (one with its raw message and booking),
allocations, confirmations (JSON and PDF), affirmations, the quarantine and its resubmissions,
the verification of the books against the trades."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep, RawBody
from backoffice.api.paging import Limit, id_cursor
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.queries import bounded_limit

trades_router = APIRouter(tags=["trades"])


@contextmanager
def spooled(body: bytes, name: str) -> Iterator[Path]:
    """The body as a file named `name` in a private temporary directory, for the readers,
    which stream a file line by line within their limits (as the CLI reads its files)."""
    with tempfile.TemporaryDirectory(prefix="backoffice-api-") as folder:
        path = Path(folder) / name
        path.write_bytes(body)
        yield path


def problems_json(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Each problem of a message refused (quarantined) as the problem details' `errors`."""
    return [
        {"line": p.source.line, "field": p.source.field, "code": p.code, "reason": p.reason}
        for p in problems
    ]


@trades_router.get("/trades")
def list_trades(
    door: DoorDep,
    trade_date: dt.date | None = None,
    client: str | None = None,
    status: str | None = None,
    limit: int = Limit,
    after: str | None = None,
) -> dict[str, Any]:
    """Trades in capture order; `client` is a party code, `status` a trade status."""
    from backoffice.trades.queries import trades_page

    with door.command("trades.list", "trades.read", Access.READ):
        page = trades_page(
            door.store, trade_date, client=client, status=status, limit=bounded_limit(limit),
            after=id_cursor(after),
        )  # fmt: skip
    return {"items": page.items, "next": page.next}


@trades_router.get("/trades/quarantine")
def list_trades_quarantine(
    door: DoorDep, all: bool = False, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    """Messages refused by import, allocation or affirmation (`all`: resolved ones too)."""
    from backoffice.ledger.queries import quarantined
    from backoffice.trades.service import TRADE_QUARANTINE_KINDS

    with door.command("trades.quarantine", "trades.read", Access.READ):
        page = quarantined(
            door.store, kinds=TRADE_QUARANTINE_KINDS, include_resolved=all,
            limit=bounded_limit(limit), after=id_cursor(after),
        )  # fmt: skip
    return {"items": page.items, "next": page.next}


@trades_router.post("/trades/quarantine/{item_id}/resubmit")
def resubmit_quarantined(item_id: int, body: RawBody, door: DoorDep) -> dict[str, Any]:
    """The repaired message as the body (alone): applied and the item resolved, all or
    nothing; `resubmission_refused` (422) with the message's problems when it does not go
    through as one message."""
    from backoffice.trades.resubmission_service import resubmit_file

    request_detail = {"item_id": item_id}
    with (
        spooled(body, "repaired") as path,
        door.command("trades.resubmit", "trades.import", Access.WRITE, request_detail) as who,
    ):
        outcome = resubmit_file(door.store, item_id, path, actor=who.login, by="api")
        if not outcome.resolved:
            raise ProblemError(
                Problem(
                    "resubmission_refused",
                    "the body must hold exactly the one repaired message, and it must go "
                    f"through now ({outcome.received} messages, {outcome.applied} applied); "
                    f"item {item_id} stays quarantined",
                    Source(field="body"),
                ),
                *outcome.problems,
            )
    return {"id": item_id, "resolved": True, "applied": outcome.applied}


@trades_router.post("/trades/verify")
def verify(door: DoorDep) -> dict[str, Any]:
    """Whether the books tie out to the trades: every difference named (200 either way: the
    check ran)."""
    from backoffice.trades.verify import verify_trades

    with door.command("trades.verify", "trades.read", Access.READ):
        problems = verify_trades(door.store)
    return {"verified": not problems, "errors": problems_json(problems)}


@trades_router.get("/trades/{trade_id:path}")
def one_trade(trade_id: str, door: DoorDep) -> dict[str, Any]:
    """One trade with its raw message, where it came from and its booking (the allocations
    that book it and their ledger entries with postings)."""
    from backoffice.trades.queries import trade_detail

    with door.command("trades.show", "trades.read", Access.READ):
        return trade_detail(door.store, trade_id)


@trades_router.post("/executions")
def post_executions(body: RawBody, door: DoorDep) -> dict[str, Any]:
    """Executions as the body: a FIX log (messages one per line) or a trades CSV, detected as
    `trades import` detects them; each captured once (a retry finds them `existing`), the bad
    ones quarantined with their reasons."""
    from backoffice.formats.executions import read_executions
    from backoffice.trades.service import import_executions

    with (
        spooled(body, "executions") as path,
        door.command("trades.import", "trades.import", Access.WRITE) as who,
    ):
        summary = import_executions(door.store, read_executions(path), actor=who.login)
    return {
        "messages": summary.messages,
        "captured": summary.captured,
        "blocks": summary.blocks,
        "cancelled": summary.cancelled,
        "corrected": summary.corrected,
        "existing": summary.existing,
        "quarantined": summary.quarantined,
        "errors": problems_json(summary.problems),
    }


@trades_router.get("/allocations")
def list_allocations(
    door: DoorDep, trade_date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import allocations_page

    with door.command("trades.allocations", "trades.read", Access.READ):
        page = allocations_page(
            door.store, trade_date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


@trades_router.get("/unaffirmed")
def list_unaffirmed(
    door: DoorDep, trade_date: dt.date, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import unaffirmed_page

    with door.command("trades.unaffirmed", "trades.read", Access.READ):
        page = unaffirmed_page(door.store, trade_date, limit=bounded_limit(limit), after=after)
    return {"items": page.items, "next": page.next}


@trades_router.post("/allocations")
def post_allocations(body: RawBody, door: DoorDep) -> dict[str, Any]:
    """Allocation instructions as the body (a FIX AllocationInstruction (35=J) log or an
    allocations CSV, as `trades allocate` reads a file): blocks allocated at their average price
    and booked; each applied once, the bad ones quarantined with their reasons."""
    from backoffice.formats.allocations import read_allocations
    from backoffice.trades.allocation_service import allocate

    with (
        spooled(body, "allocations") as path,
        door.command("trades.allocate", "trades.allocate", Access.WRITE) as who,
    ):
        result = allocate(door.store, read_allocations(path), actor=who.login)
    return {
        "instructions": result.received,
        "allocated": result.done,
        "existing": result.existing,
        "quarantined": result.quarantined,
        "errors": problems_json(result.problems),
    }


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trade_date: dt.date


@trades_router.post("/confirmations")
def post_confirmations(body: ConfirmRequest, door: DoorDep) -> dict[str, Any]:
    """Confirm the trade date's booked allocations (each once: a rerun keeps the ids); every
    live confirmation of the date, each with where its PDF is."""
    from backoffice.trades.confirmation_service import confirm, confirmation_json

    request_detail = {"trade_date": body.trade_date.isoformat()}
    with door.command("trades.confirm", "trades.confirm", Access.WRITE, request_detail) as who:
        details = confirm(door.store, body.trade_date, actor=who.login)
    return {
        "trade_date": body.trade_date.isoformat(),
        "items": [_with_links(confirmation_json(one)) for one in details],
    }


def _with_links(confirmation: dict[str, Any]) -> dict[str, Any]:
    return {**confirmation, "pdf": f"/api/v1/confirmations/{confirmation['confirm_id']}.pdf"}


@trades_router.get("/confirmations")
def list_confirmations(
    door: DoorDep, trade_date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.confirmation_service import confirmations_page

    with door.command("trades.confirmations", "trades.read", Access.READ):
        page = confirmations_page(
            door.store, trade_date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": [_with_links(item) for item in page.items], "next": page.next}


@trades_router.get("/confirmations/{confirm_id}.pdf")
def confirmation_pdf(confirm_id: str, door: DoorDep) -> Response:
    """The client's confirmation document: a client's figures leaving the firm, so audited."""
    from backoffice.trades.confirmation_service import confirmation_pdf_of

    request_detail = {"confirm_id": confirm_id}
    with door.command("trades.confirmations.pdf", "trades.read", Access.AUDITED_READ,
                      request_detail):  # fmt: skip
        document = confirmation_pdf_of(door.store, confirm_id)
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{confirm_id}.pdf"'},
    )


@trades_router.get("/confirmations/{confirm_id}")
def one_confirmation(confirm_id: str, door: DoorDep) -> dict[str, Any]:
    from backoffice.trades.confirmation_service import confirmation_json, confirmation_of

    with door.command("trades.confirmations", "trades.read", Access.READ):
        return _with_links(confirmation_json(confirmation_of(door.store, confirm_id)))


class AffirmRequest(BaseModel):
    """One affirmation by its confirmation id, as `trades affirm --confirm-id` gives it."""

    model_config = ConfigDict(extra="forbid")
    confirm_id: str
    status: str = "affirmed"
    reason: str | None = None


@trades_router.post("/affirmations")
def post_affirmations(
    body: RawBody,
    door: DoorDep,
    content_type: str = Header(default="", alias="Content-Type", include_in_schema=False),
) -> dict[str, Any]:
    """Clients' affirmations: a FIX ConfirmationAck (35=AU) log or an affirmations CSV as the
    body, or (`Content-Type: application/json`) one as `{"confirm_id", "status", "reason"}`."""
    from backoffice.formats.affirmations import read_affirmations
    from backoffice.trades.affirmation_service import affirm, one_affirmation

    with door.command("trades.affirm", "trades.affirm", Access.WRITE) as who:
        if content_type.startswith("application/json"):
            one = _affirm_request(body)
            item = one_affirmation(one.confirm_id, one.status, one.reason, source=Source("api"))
            result = affirm(door.store, [item], actor=who.login)
        else:
            with spooled(body, "affirmations") as path:
                result = affirm(door.store, read_affirmations(path), actor=who.login)
    return {
        "received": result.received,
        "recorded": result.done,
        "existing": result.existing,
        "quarantined": result.quarantined,
        "errors": problems_json(result.problems),
    }


def _affirm_request(body: bytes) -> AffirmRequest:
    from pydantic import ValidationError

    try:
        return AffirmRequest.model_validate_json(body)
    except ValidationError as error:
        raise ProblemError(
            *[
                Problem(
                    "invalid_request",
                    str(item["msg"]),
                    Source(field=".".join(str(part) for part in item["loc"]) or None),
                )
                for item in error.errors()
            ]
        ) from None
