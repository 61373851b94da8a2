"""The console's reference data: browse a section as in force, and change records by a YAML
fragment of the reference-data file (the same loader and validation as `refdata load`, errors
beside the form naming their line and field); a change under an approval policy waits."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from backoffice.api.app import RawBody
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import Problem, ProblemError
from backoffice.web.console import SessionDep, check_csrf, form_of, page, refused

refdata_router = APIRouter(include_in_schema=False)
SECTIONS = ("assets", "parties", "accounts", "ssis", "fee_rates", "approval_policies")
records_shown_max = 500


def _section_page(request: Request, session: SessionDep, section: str, status: int = 200,
                  **shown: object) -> HTMLResponse:  # fmt: skip
    from backoffice.refdata.change_service import snapshot

    if section not in SECTIONS:
        raise ProblemError(Problem("invalid_argument", f"section is one of {', '.join(SECTIONS)}"))
    store = request.app.state.store
    with invoke(store, session.principal, "refdata.list", "refdata.read", access=Access.READ):
        records = [r for (kind, _), r in sorted(snapshot(store).items()) if kind == section]
    values = {"errors": None, "text": "", "done": None} | shown
    return page("refdata.html", status, session=session, section=section, sections=SECTIONS,
                records=records[:records_shown_max], more=len(records) > records_shown_max,
                may_change=session.principal.may("refdata.change"), **values)  # fmt: skip


@refdata_router.get("/refdata")
def refdata(request: Request, session: SessionDep, section: str = "accounts") -> HTMLResponse:
    return _section_page(request, session, section)


@refdata_router.post("/refdata")
def change(request: Request, body: RawBody, session: SessionDep) -> Response:
    from backoffice.admin.approval_service import Parked
    from backoffice.refdata.change_service import change_refdata

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    section, text = form.get("section", "accounts"), form.get("text", "")
    store = request.app.state.store
    try:
        with invoke(store, session.principal, "refdata.load", "refdata.change",
                    access=Access.WRITE, request={"source": "console"}):  # fmt: skip
            done = change_refdata(store, session.principal, text, source="console",
                                  csv_format=False)  # fmt: skip
    except ProblemError as error:
        if error.problems[0].code == "forbidden":
            raise
        return _section_page(request, session, section, 422, errors=error.problems, text=text)
    if isinstance(done, Parked):
        return RedirectResponse(f"/approvals/{done.approval_id}", status_code=303)
    summary = done.summary
    outcome = f"{summary.created} created, {summary.changed} changed, {summary.unchanged} unchanged"
    return _section_page(request, session, section, done=outcome)
