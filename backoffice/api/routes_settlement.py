"""`/api/v1` settlement: netting, instructions (and their sese.023 / MT54x documents),
inbound statuses, fails, CSDR penalties and the quarantine of refused status messages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep, RawBody
from backoffice.api.paging import Limit, id_cursor
from backoffice.api.routes_trades import problems_json, spooled
from backoffice.commands.invocation import Access
from backoffice.errors import ProblemError
from backoffice.ledger.queries import bounded_limit
from backoffice.settlement.model import NettingMode

settlement_router = APIRouter(tags=["settlement"])
default_sender_bic = "BKOFUS33XXX"  # as `settlement instruct --sender-bic`


@settlement_router.get("/fails")
def list_fails(
    door: DoorDep, as_of: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.settlement.fail_service import fails_page

    day = as_of or dt.datetime.now(dt.UTC).date()
    with door.command("settlement.fails", "settlement.read", Access.READ):
        page = fails_page(door.store, day, limit=bounded_limit(limit), after=id_cursor(after))
    return {"items": page.items, "next": page.next}


class NetRequest(BaseModel):
    """As `settlement net`: the settlement date, the mode and (in ccp mode) the CCP."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date
    mode: NettingMode = NettingMode.BILATERAL
    ccp: str | None = None


@settlement_router.post("/netting")
def post_netting(body: NetRequest, door: DoorDep) -> dict[str, Any]:
    """Net the day's booked street trades into settlement obligations and store them; the
    netting report (`settlement net --json`)."""
    from backoffice.settlement.service import net_obligations

    request_detail = {"date": body.date.isoformat(), "mode": body.mode.value, "ccp": body.ccp}
    with door.command("settlement.net", "settlement.net", Access.WRITE, request_detail) as who:
        result = net_obligations(door.store, body.date, body.mode, actor=who.login, ccp=body.ccp)
    report: dict[str, Any] = result.as_json()
    return report


class InstructRequest(BaseModel):
    """As `settlement instruct`: the date, and the format and sender BIC of the documents the
    answer links to (each is made on demand from the stored instruction)."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date
    format: str = "sese023"
    sender_bic: str = default_sender_bic


@settlement_router.post("/instructions")
def post_instructions(body: InstructRequest, door: DoorDep) -> dict[str, Any]:
    """Instruct the date's open obligations and cancel those whose trades changed; every
    instruction of the date with the address of its document."""
    from backoffice.settlement.instruction_service import (
        instruct,
        instruction_format,
        instruction_json,
    )

    request_detail = {"date": body.date.isoformat(), "format": body.format}
    with door.command(
        "settlement.instruct", "settlement.instruct", Access.WRITE, request_detail
    ) as who:
        instruction_format(body.format)
        result = instruct(door.store, body.date, actor=who.login)
    return {
        "date": body.date.isoformat(),
        "new": [instruction.reference for instruction in result.new],
        "cancelled": [instruction.reference for instruction in result.cancelled],
        "exceptions": result.exceptions,
        "items": [
            _with_document(instruction_json(one, at_us), body.format, body.sender_bic)
            for one, at_us in result.all_of_date
        ],
    }


def _with_document(
    instruction: dict[str, Any], fmt: str, sender_bic: str = default_sender_bic
) -> dict[str, Any]:
    query = f"format={fmt}" + (
        "" if sender_bic == default_sender_bic else f"&sender_bic={sender_bic}"
    )
    address = f"/api/v1/instructions/{instruction['reference']}/document?{query}"
    return {**instruction, "document": address}


@settlement_router.get("/instructions")
def list_instructions(
    door: DoorDep, date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    """Stored instructions (of a settlement date), oldest first, a page at a time."""
    from backoffice.settlement.instruction_service import instructions_page

    with door.command("settlement.instructions", "settlement.read", Access.READ):
        page = instructions_page(
            door.store, date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": [_with_document(item, "sese023") for item in page.items], "next": page.next}


@settlement_router.get("/instructions/{reference}/document")
def instruction_document(
    reference: str,
    door: DoorDep,
    format: str = "sese023",
    sender_bic: str = default_sender_bic,
) -> Response:
    """The instruction's document, as `settlement instruct` writes it: a sese.023 Document
    (application/xml) for a new instruction, an MT54x message (text/plain FIN) for one in
    mt54x or a cancellation (sese.023 cannot carry one)."""
    from backoffice.settlement.instruction_service import instruction_document as document_of

    with door.command("settlement.instructions", "settlement.read", Access.READ):
        name, content = document_of(door.store, reference, format, sender_bic=sender_bic)
    media = "application/xml" if name.endswith(".xml") else "text/plain"
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@settlement_router.post("/settlement/status")
def post_statuses(body: RawBody, door: DoorDep) -> dict[str, Any]:
    """Inbound statuses and settlement confirmations as the body (sese.024/025 XML, or
    MT548/544-547 FIN), as `settlement status` reads a file: settlement moves the ledger from
    pending to settled; each applied once, the bad ones quarantined with their reasons."""
    from backoffice.formats.settlement_status import read_settlement_messages
    from backoffice.settlement.status_service import apply_statuses

    with (
        spooled(body, "statuses") as path,
        door.command("settlement.status", "settlement.status", Access.WRITE) as who,
    ):
        summary = apply_statuses(door.store, read_settlement_messages(path), actor=who.login)
    return {
        "received": summary.received,
        "applied": summary.applied,
        "settled": summary.settled,
        "existing": summary.existing,
        "quarantined": summary.quarantined,
        "errors": problems_json(summary.problems),
    }


@settlement_router.post("/penalties")
@settlement_router.get("/penalties")
def penalties(
    body: RawBody,
    door: DoorDep,
    month: str,
    as_of: dt.date | None = None,
    cash_rate: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """CSDR cash penalties of the month's fails on EU markets, priced by the reference prices
    CSV sent as the body (`settlement penalties --prices`): an audited read. `cash_rate`
    (repeatable) `CCY:YYYY-MM-DD:PERCENT` adds central bank rates to the built-in ECB ones.
    Fails that cannot be priced are named in `errors`."""
    from backoffice.formats.prices_csv import read_prices
    from backoffice.settlement.penalties_service import (
        first_of_month,
        month_penalties,
        parse_cash_rate,
        penalties_json,
    )

    request_detail = {"month": month, "as_of": as_of.isoformat() if as_of else None}
    with door.command(
        "settlement.penalties", "settlement.read", Access.AUDITED_READ, request_detail
    ):
        rates = [parse_cash_rate(text) for text in cash_rate or []]
        first = first_of_month(month)
        with spooled(body, "prices.csv") as path:
            price_file = read_prices(path)
        if price_file.problems:
            raise ProblemError(*price_file.problems)
        today = as_of or dt.datetime.now(dt.UTC).date()
        report = month_penalties(door.store, first, price_file, today=today, cash_rates=rates)
    return {
        "month": month,
        "lines": penalties_json(report),
        "errors": problems_json(report.problems),
    }


@settlement_router.get("/settlement/quarantine")
def list_settlement_quarantine(
    door: DoorDep, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    """Inbound settlement messages refused: raw text, file, line, every reason."""
    from backoffice.ledger.queries import quarantined

    with door.command("settlement.quarantine", "settlement.read", Access.READ):
        page = quarantined(
            door.store, kinds=("settlement.status",), limit=bounded_limit(limit),
            after=id_cursor(after),
        )  # fmt: skip
    items = [
        {key: item[key] for key in ("id", "file", "line", "problems", "raw")} for item in page.items
    ]
    return {"items": items, "next": page.next}
