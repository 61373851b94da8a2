"""`/api/v1` settlement: fails."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from backoffice.api.app import DoorDep
from backoffice.api.paging import Limit, id_cursor
from backoffice.commands.invocation import Access
from backoffice.ledger.queries import bounded_limit

settlement_router = APIRouter(tags=["settlement"])


@settlement_router.get("/fails")
def list_fails(
    door: DoorDep, as_of: dt.date | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.settlement.fail_service import fails_page

    day = as_of or dt.datetime.now(dt.UTC).date()
    with door.command("settlement.fails", "settlement.read", Access.READ):
        page = fails_page(door.store, day, limit=bounded_limit(limit), after=id_cursor(after))
    return {"items": page.items, "next": page.next}
