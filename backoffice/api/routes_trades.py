"""`/api/v1` trades: executions in (FIX or CSV), trades, allocations, unaffirmed confirmations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from backoffice.api.app import DoorDep
from backoffice.api.paging import Limit, id_cursor
from backoffice.commands.invocation import Access
from backoffice.ledger.queries import bounded_limit

trades_router = APIRouter(tags=["trades"])


@trades_router.get("/trades")
def list_trades(
    door: DoorDep, trade_date: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.trades.queries import trades_page

    with door.command("trades.list", "trades.read", Access.READ):
        page = trades_page(
            door.store, trade_date, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


@trades_router.post("/executions")
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
