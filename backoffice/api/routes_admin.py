"""`/api/v1` approvals and the audit trail (listed, verified, exported)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep
from backoffice.api.paging import Limit, id_cursor
from backoffice.commands.invocation import Access
from backoffice.ledger.queries import bounded_limit

admin_router = APIRouter(tags=["approvals", "audit"])


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # unknown fields: 422
    reason: str = ""


@admin_router.get("/approvals")
def list_approvals(
    door: DoorDep,
    status: str = "awaiting",
    mine: bool = False,
    for_me: bool = False,
    limit: int = Limit,
    after: str | None = None,
) -> dict[str, Any]:
    from backoffice.admin.approval_service import approvals_page

    with door.command("approvals.list", "approvals.read", Access.READ) as who:
        page = approvals_page(
            door.store, who, status=None if status == "all" else status, mine=mine,
            for_me=for_me, limit=bounded_limit(limit), after=id_cursor(after),
        )  # fmt: skip
    return {"items": page.items, "next": page.next}


@admin_router.get("/approvals/{approval_id}")
def one_approval(approval_id: int, door: DoorDep) -> dict[str, Any]:
    from backoffice.admin.approval_service import show_approval

    with door.command("approvals.show", "approvals.read", Access.READ):
        return show_approval(door.store, approval_id)


def _decide(door: Any, approval_id: int, approve: bool, reason: str) -> dict[str, Any]:
    from backoffice.admin.approval_service import decide

    verb = "approve" if approve else "reject"
    with door.command(f"approvals.{verb}", "approvals.decide", Access.WRITE) as who:
        decision = decide(door.store, who, approval_id, approve=approve, reason=reason)
    return {
        "approval_id": decision.approval_id,
        "status": decision.status.value,
        "approvals": decision.approvals,
        "approvers_required": decision.approvers_required,
        "result": decision.result,
    }


@admin_router.post("/approvals/{approval_id}/approve")
def approve(approval_id: int, door: DoorDep, body: DecisionBody | None = None) -> dict[str, Any]:
    return _decide(door, approval_id, True, body.reason if body else "")


@admin_router.post("/approvals/{approval_id}/reject")
def reject(approval_id: int, body: DecisionBody, door: DoorDep) -> dict[str, Any]:
    return _decide(door, approval_id, False, body.reason)


@admin_router.get("/audit")
def audit_events(
    door: DoorDep,
    user: str | None = None,
    permission: str | None = None,
    outcome: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int = Limit,
    after: str | None = None,
) -> dict[str, Any]:
    from backoffice.store.audit_queries import AuditFilter, audit_page

    where = AuditFilter(user, permission, outcome, since, until)
    with door.command("audit.list", "audit.read", Access.READ):
        page = audit_page(
            door.store, limit=bounded_limit(limit), after=id_cursor(after), where=where
        )
    return {"items": page.items, "next": page.next}


@admin_router.post("/audit/verify")
def verify_audit_trail(door: DoorDep) -> dict[str, Any]:
    """`audit verify`: the hash chain recomputed; `ok` false naming the first event changed,
    removed or inserted behind Backoffice's back."""
    from backoffice.store.audit_queries import verify_audit

    with door.command("audit.verify", "audit.read", Access.READ):
        report = verify_audit(door.store)
    return {
        "ok": not report.problems,
        "events": report.events,
        "head_hash": report.head_hash,
        "problems": [{"code": p.code, "reason": p.reason} for p in report.problems],
    }


@admin_router.get("/audit/export")
def export_audit_trail(
    door: DoorDep,
    from_day: Annotated[dt.date, Query(alias="from")],
    to_day: Annotated[dt.date, Query(alias="to")],
) -> Response:
    """`audit export --from --to`: a zip of `events.jsonl` and `manifest.json` as the CLI
    writes them, checkable without Backoffice (an audited read)."""
    import zipfile

    from backoffice.admin.audit_export_service import export_audit
    from backoffice.api.downloads import download, download_folder

    period = {"from": str(from_day), "to": str(to_day)}
    with download_folder() as folder:
        written = folder / "export"
        with door.command("audit.export", "audit.export", Access.AUDITED_READ, period):
            manifest = export_audit(door.store, from_day, to_day, written)
        archive = folder / f"audit-{from_day}-{to_day}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for file in [*manifest["files"], {"name": "manifest.json"}]:
                out.write(written / file["name"], file["name"])
        return download(folder, archive, "application/zip", archive.name)
