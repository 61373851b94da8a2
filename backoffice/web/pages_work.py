"""The console's work queues: the breaks (list, one break, propose its correction) and the
approvals (my inbox, one approval with its effect, approve or reject). Each action is the
command the CLI and the API run; what a user may not do is not offered, and refused if tried."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from backoffice.api.app import RawBody
from backoffice.api.paging import id_cursor
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import ProblemError
from backoffice.web.console import SessionDep, check_csrf, form_of, page, refused

work_router = APIRouter(include_in_schema=False)
page_rows_max = 50
correction_lines_max = 4  # posting lines offered by the correction form


@work_router.get("/breaks")
def breaks_queue(
    request: Request, session: SessionDep, status: str = "open", after: str | None = None
) -> HTMLResponse:
    from backoffice.recon.queries import breaks_page

    store = request.app.state.store
    with invoke(store, session.principal, "recon.breaks", "recon.read", access=Access.READ):
        shown = breaks_page(store, status=None if status == "all" else status,
                            limit=page_rows_max, after=id_cursor(after))  # fmt: skip
    return page("breaks.html", session=session, breaks=shown.items, next=shown.next, status=status)


@work_router.get("/breaks/{break_id}")
def one_break(request: Request, session: SessionDep, break_id: str) -> HTMLResponse:
    from backoffice.recon.queries import break_detail

    store = request.app.state.store
    with invoke(store, session.principal, "recon.breaks", "recon.read", access=Access.READ):
        found = break_detail(store, break_id)
    may_propose = session.principal.may("recon.correction.propose")
    return page("break.html", session=session, b=found, may_propose=may_propose,
                may_work=session.principal.may("recon.break.update"),
                may_match=session.principal.may("recon.match"),
                lines=range(correction_lines_max), error=None, form={})  # fmt: skip


@work_router.post("/breaks/{break_id}/corrections")
def propose(request: Request, body: RawBody, session: SessionDep, break_id: str) -> Response:
    """Propose the correcting entry the form describes; it waits for another person."""
    from backoffice.recon.correction_service import submit_correction
    from backoffice.recon.queries import break_detail

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    postings = [
        (form[f"account{n}"].strip(), form.get(f"amount{n}", "").strip())
        for n in range(correction_lines_max)
        if form.get(f"account{n}", "").strip()
    ]
    description = form.get("description", "").strip()
    store = request.app.state.store
    detail = {"break_id": break_id, "postings": [list(p) for p in postings]}
    try:
        with invoke(store, session.principal, "recon.resolve.propose",
                    "recon.correction.propose", access=Access.WRITE, request=detail):  # fmt: skip
            _, waiting = submit_correction(
                store, session.principal, break_id, postings, description=description
            )
    except ProblemError as error:
        if error.problems[0].code == "forbidden":
            raise
        with invoke(store, session.principal, "recon.breaks", "recon.read", access=Access.READ):
            found = break_detail(store, break_id)
        return page("break.html", 422, session=session, b=found, may_propose=True,
                    may_work=session.principal.may("recon.break.update"),
                    may_match=session.principal.may("recon.match"),
                    lines=range(correction_lines_max), error=error.problems, form=form)  # fmt: skip
    return RedirectResponse(f"/approvals/{waiting.approval_id}", status_code=303)


@work_router.post("/breaks/{break_id}/{action}")
def work_on_break(
    request: Request, body: RawBody, session: SessionDep, break_id: str, action: str
) -> Response:
    """assign (to me), investigate, comment, or match with a candidate on the other side."""
    from backoffice.recon.break_service import manual_match, update_break

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    store, who = request.app.state.store, session.principal
    if action == "match":
        with invoke(store, who, "recon.resolve.match", "recon.match", access=Access.WRITE,
                    request={"break_id": break_id, "with": form.get("with", "")}):  # fmt: skip
            statement, books = break_id, form.get("with", "")
            if form.get("side") == "books":
                statement, books = books, statement
            manual_match(store, statement, books, actor=who.login)
        return RedirectResponse(f"/breaks/{break_id}", status_code=303)
    changes = {
        "assign": {"owner": who.login},
        "investigate": {"status": "investigating"},
        "comment": {"comment": form.get("comment", "").strip()},
    }
    if action not in changes:
        return refused(session, "a break is assigned, investigated, commented on or matched")
    with invoke(store, who, "recon.break", "recon.break.update", access=Access.WRITE,
                request={"break_id": break_id, **changes[action]}):  # fmt: skip
        update_break(store, break_id, actor=who.login, **changes[action])
    return RedirectResponse(f"/breaks/{break_id}", status_code=303)


@work_router.get("/approvals")
def inbox(request: Request, session: SessionDep, after: str | None = None) -> HTMLResponse:
    from backoffice.admin.approval_service import approvals_page

    store = request.app.state.store
    with invoke(store, session.principal, "approvals.list", "approvals.read", access=Access.READ):
        mine = approvals_page(store, session.principal, for_me=True, limit=page_rows_max,
                              after=id_cursor(after))  # fmt: skip
        made = approvals_page(store, session.principal, mine=True, limit=page_rows_max)
    return page("approvals.html", session=session, inbox=mine.items, next=mine.next,
                made=made.items)  # fmt: skip


@work_router.get("/approvals/{approval_id}")
def one_approval(request: Request, session: SessionDep, approval_id: int) -> HTMLResponse:
    from backoffice.admin.approval_service import show_approval

    store = request.app.state.store
    with invoke(store, session.principal, "approvals.show", "approvals.read", access=Access.READ):
        found = show_approval(store, approval_id)
    return page("approval.html", session=session, a=found, may_decide=_may_decide(session, found))


def _may_decide(session: Any, approval: dict[str, Any]) -> bool:
    """Offered only to someone else who holds the approval's permission, while it waits."""
    principal = session.principal
    twin = approval.get("approval_permission")
    return (
        approval["status"] == "awaiting"
        and approval["maker"] != principal.login
        and principal.may("approvals.decide")
        and (twin is None or principal.may(twin))
        and principal.login not in {d["user"] for d in approval["decisions"]}
    )


@work_router.post("/approvals/{approval_id}/{verb}")
def decide(
    request: Request, body: RawBody, session: SessionDep, approval_id: int, verb: str
) -> Response:
    """Approve or reject: the command decides who may (never the maker, never twice)."""
    from backoffice.admin.approval_service import decide as decide_approval

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    if verb not in ("approve", "reject"):
        return refused(session, "an approval is approved or rejected")
    store = request.app.state.store
    with invoke(store, session.principal, f"approvals.{verb}", "approvals.decide",
                access=Access.WRITE, request={"approval_id": approval_id}):  # fmt: skip
        decide_approval(store, session.principal, approval_id, approve=verb == "approve",
                        reason=form.get("reason", ""))  # fmt: skip
    return RedirectResponse(f"/approvals/{approval_id}", status_code=303)
