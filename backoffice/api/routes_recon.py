"""`/api/v1` reconciliation: breaks, and a break's investigation (`PATCH`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep
from backoffice.api.paging import Limit, id_cursor
from backoffice.commands.invocation import Access
from backoffice.ledger.queries import bounded_limit

recon_router = APIRouter(tags=["reconciliation"])


@recon_router.get("/breaks")
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


@recon_router.patch("/breaks/{break_id}")
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
