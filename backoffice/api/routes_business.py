"""`/api/v1` trades, settlement fails, reconciliation breaks, reference data and users: the
CLI's listings, each a keyset page, and a break's investigation (`PATCH`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import bounded_limit, list_page_default

business_router = APIRouter()
Limit = Query(default=list_page_default, ge=1)


def id_cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit():
        raise ProblemError(Problem("invalid_cursor", f"after={after!r} is not a cursor of ours"))
    return int(after)


@business_router.get("/trades", tags=["trades"])
def list_trades(
    door: DoorDep, trade_date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import trades_page

    with door.command("trades.list", "trades.read", Access.READ):
        page = trades_page(
            door.store, trade_date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


@business_router.post("/executions", tags=["trades"])
async def post_executions(request: Request, door: DoorDep) -> dict[str, Any]:
    """Executions as the body: a FIX log (messages one per line) or a trades CSV, detected as
    `trades import` detects them; each captured once (a retry finds them `existing`), the bad
    ones quarantined with their reasons."""
    import tempfile
    from pathlib import Path

    from backoffice.formats.executions import read_executions
    from backoffice.trades.service import import_executions

    body = await request.body()
    with tempfile.TemporaryDirectory(prefix="backoffice-api-") as folder:
        # The readers stream a file, line by line within their limits: the body is spooled.
        path = Path(folder) / "executions"
        path.write_bytes(body)
        with door.command("trades.import", "trades.import", Access.WRITE) as who:
            summary = import_executions(door.store, read_executions(path), actor=who.login)
    return {
        "messages": summary.messages,
        "captured": summary.captured,
        "blocks": summary.blocks,
        "cancelled": summary.cancelled,
        "corrected": summary.corrected,
        "existing": summary.existing,
        "quarantined": summary.quarantined,
        "errors": [
            {"line": p.source.line, "field": p.source.field, "code": p.code, "reason": p.reason}
            for p in summary.problems
        ],
    }


@business_router.get("/allocations", tags=["trades"])
def list_allocations(
    door: DoorDep, trade_date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import allocations_page

    with door.command("trades.allocations", "trades.read", Access.READ):
        page = allocations_page(
            door.store, trade_date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


@business_router.get("/unaffirmed", tags=["trades"])
def list_unaffirmed(
    door: DoorDep, trade_date: dt.date, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import unaffirmed_page

    with door.command("trades.unaffirmed", "trades.read", Access.READ):
        page = unaffirmed_page(door.store, trade_date, limit=bounded_limit(limit), after=after)
    return {"items": page.items, "next": page.next}


@business_router.get("/fails", tags=["settlement"])
def list_fails(
    door: DoorDep, as_of: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.settlement.fail_service import fails_page

    day = as_of or dt.datetime.now(dt.UTC).date()
    with door.command("settlement.fails", "settlement.read", Access.READ):
        page = fails_page(door.store, day, limit=bounded_limit(limit), after=id_cursor(after))
    return {"items": page.items, "next": page.next}


@business_router.get("/breaks", tags=["reconciliation"])
def list_breaks(
    door: DoorDep, status: str | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.recon.queries import breaks_page

    with door.command("recon.breaks", "recon.read", Access.READ):
        page = breaks_page(
            door.store, status=status, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


class BreakChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str | None = None
    status: str | None = None
    comment: str | None = None


@business_router.patch("/breaks/{break_id}", tags=["reconciliation"])
def change_break(break_id: str, change: BreakChange, door: DoorDep) -> dict[str, Any]:
    """Assign a break, move it to investigating (or back to open), comment on it."""
    from backoffice.recon.break_service import update_break

    request = change.model_dump(exclude_none=True) | {"break_id": break_id}
    with door.command("recon.break", "recon.break.update", Access.WRITE, request) as who:
        update_break(
            door.store, break_id, actor=who.login, owner=change.owner, status=change.status,
            comment=change.comment,
        )  # fmt: skip
    return {"break_id": break_id, "updated": True}


@business_router.get("/refdata/{section}", tags=["reference data"])
def list_refdata(section: str, door: DoorDep, as_of: dt.datetime | None = None) -> list[Any]:
    """assets, parties, accounts, ssis, fee_rates or approval_policies; `as_of`: as in force."""
    from backoffice.refdata.change_service import snapshot
    from backoffice.refdata.history_service import in_force

    sections = ("assets", "parties", "accounts", "ssis", "fee_rates", "approval_policies")
    if section not in sections:
        raise ProblemError(Problem("invalid_argument", f"section is one of {', '.join(sections)}"))
    with door.command("refdata.list", "refdata.read", Access.READ):
        if as_of is None:
            return [r for (kind, _), r in sorted(snapshot(door.store).items()) if kind == section]
        moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
        return in_force(door.store, int(moment.timestamp() * 1_000_000)).get(section, [])


@business_router.post("/refdata", tags=["reference data"])
async def change_refdata(request: Request, door: DoorDep, format: str = "yaml") -> Response:
    """A reference-data file as the body (YAML, or CSV with `?format=csv`): loaded all or
    nothing with every record's before/after, or 202 when a policy makes it wait."""
    from backoffice.admin.approval_service import Parked
    from backoffice.api.routes_ledger import parked
    from backoffice.refdata.change_service import change_refdata as change

    if format not in ("yaml", "csv"):
        raise ProblemError(Problem("invalid_argument", "format is yaml or csv"))
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(Problem("not_utf8", "the body is not UTF-8 text")) from None
    with door.command("refdata.load", "refdata.change", Access.WRITE, {"format": format}) as who:
        done = change(door.store, who, text, source="api", csv_format=format == "csv")
    if isinstance(done, Parked):
        return parked(done)
    summary = done.summary
    return JSONResponse(
        {
            "created": summary.created,
            "changed": summary.changed,
            "unchanged": summary.unchanged,
            "changes": done.changes,
        }
    )


@business_router.get("/refdata/history/{code:path}", tags=["reference data"])
def refdata_history(code: str, door: DoorDep) -> list[Any]:
    from backoffice.refdata.history_service import history

    with door.command("refdata.history", "refdata.read", Access.READ):
        return history(door.store, code)


@business_router.get("/users", tags=["users"])
def list_users(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import list_users as users

    with door.command("users.list", "users.read", Access.READ):
        return [user.as_json() for user in users(door.store)]


@business_router.get("/roles", tags=["users"])
def list_roles(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import every_role

    with door.command("roles.list", "users.read", Access.READ):
        return [
            {"role": r.name, "builtin": r.builtin, "permissions": sorted(r.permissions)}
            for r in every_role(door.store)
        ]
