"""The console's quarantine: what each importer refused, with every reason, by source; a
trade message is repaired and resubmitted from the page (the command `trades resubmit`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from backoffice.api.app import RawBody
from backoffice.api.paging import id_cursor
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import Problem, ProblemError
from backoffice.web.console import SessionDep, check_csrf, form_of, page, refused

quarantine_router = APIRouter(include_in_schema=False)
page_rows_max = 50
# source: (the CLI command that lists it, its permission, the kinds of item it holds)
SOURCES: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "trades": ("trades.quarantine", "trades.read",
               ("trades.import", "trades.allocate", "trades.affirm")),
    "settlement": ("settlement.quarantine", "settlement.read", ("settlement.status",)),
    "recon": ("recon.quarantine", "recon.read", ("recon.import",)),
    "ledger": ("ledger.quarantine", "ledger.read", None),
}  # fmt: skip


@quarantine_router.get("/quarantine")
def quarantine(
    request: Request, session: SessionDep, source: str = "trades", after: str | None = None
) -> HTMLResponse:
    from backoffice.ledger.queries import quarantined

    if source not in SOURCES:
        raise ProblemError(Problem("invalid_argument", f"source is one of {', '.join(SOURCES)}"))
    command, permission, kinds = SOURCES[source]
    store = request.app.state.store
    with invoke(store, session.principal, command, permission, access=Access.READ):
        shown = quarantined(store, kinds=kinds, limit=page_rows_max, after=id_cursor(after))
    sources = [name for name, (_, needs, _) in SOURCES.items() if session.principal.may(needs)]
    return page("quarantine.html", session=session, items=shown.items, next=shown.next,
                source=source, sources=sources,
                may_resubmit=source == "trades" and session.principal.may("trades.import"))  # fmt: skip


@quarantine_router.post("/quarantine/{item_id}/resubmit")
def resubmit(request: Request, body: RawBody, session: SessionDep, item_id: int) -> Response:
    """The repaired message from the form: applied and the item resolved, or its problems."""
    from backoffice.trades.resubmission_service import resubmit_file

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    store = request.app.state.store
    with tempfile.TemporaryDirectory(prefix="backoffice-console-") as folder:
        path = Path(folder) / "repaired"
        path.write_text(form.get("message", "").strip() + "\n")
        with invoke(store, session.principal, "trades.resubmit", "trades.import",
                    access=Access.WRITE, request={"item_id": item_id}):  # fmt: skip
            outcome = resubmit_file(store, item_id, path, actor=session.principal.login,
                                    by="console")  # fmt: skip
    if not outcome.resolved:
        reasons = "; ".join(p.describe() for p in outcome.problems) or "it did not go through"
        return refused(session, f"item {item_id} stays quarantined: {reasons}")
    return RedirectResponse("/quarantine?source=trades", status_code=303)
