"""The console's users and roles (admins): add a user, disable one, set their roles, issue a
token (shown once) and revoke one; each the command `users ...` of the CLI."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from backoffice.admin.session_service import Session
from backoffice.api.app import RawBody
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import ProblemError
from backoffice.web.console import SessionDep, check_csrf, form_of, page, refused

users_router = APIRouter(include_in_schema=False)
token_days_default = 90


def _users_page(
    request: Request, session: Session, status: int = 200, **shown: object
) -> HTMLResponse:
    from backoffice.admin.identity_service import every_role, list_users

    store = request.app.state.store
    with invoke(store, session.principal, "users.list", "users.read", access=Access.READ):
        users = list_users(store)
        roles = [role.name for role in every_role(store)]
    values = {"token": None, "error": None, "form": {}} | shown
    return page("users.html", status, session=session, users=users, roles=roles,
                may_manage=session.principal.may("users.manage"), **values)  # fmt: skip


@users_router.get("/users")
def users(request: Request, session: SessionDep) -> HTMLResponse:
    return _users_page(request, session)


@users_router.post("/users/{action}")
def change(request: Request, body: RawBody, session: SessionDep, action: str) -> Response:
    """add, disable, roles, token or revoke, as the form says; refused errors shown above it."""
    from backoffice.admin import identity_service as users_service

    form = form_of(body)
    if not check_csrf(session, request, form):
        return refused(session, "this request did not come from a console page")
    roles = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50).get("role", [])
    store, who, login = request.app.state.store, session.principal, form.get("login", "").strip()
    issued = None
    try:
        with invoke(store, who, f"users.{action}", "users.manage", access=Access.WRITE,
                    request={"login": login, "roles": roles}):  # fmt: skip
            if action == "add":
                users_service.add_user(store, login, name=form.get("name", "").strip(),
                                       roles=roles, os_user=None, actor=who.login)  # fmt: skip
            elif action == "disable":
                users_service.disable_user(store, login, actor=who.login)
            elif action == "roles":
                users_service.set_roles(store, login, roles, actor=who.login)
            elif action == "token":
                issued = users_service.issue_token(
                    store, login, expires_days=token_days_default, actor=who.login
                ).token
            elif action == "revoke":
                users_service.revoke_token(store, form.get("prefix", "").strip(), actor=who.login)
            else:
                return refused(session, "add, disable, roles, token or revoke")
    except ProblemError as error:
        if error.problems[0].code == "forbidden":
            raise
        return _users_page(request, session, 422, error=error.problems, form=form)
    if issued is not None:
        return _users_page(request, session, token=(login, issued))
    return RedirectResponse("/users", status_code=303)
