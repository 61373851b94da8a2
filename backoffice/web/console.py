"""The console's door: login, logout, the session of each request and its CSRF check, and the
pages. Pages render what the commands answer; they never touch the store.

Every page needs a live session (else a redirect to /login). Every POST carries the session's
CSRF token, as the form field `csrf` or (HTMX) the `X-CSRF-Token` header, and is refused with
403 without it; the session cookie is HttpOnly, SameSite=Lax, Secure over TLS, and a new one
is made at each login."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from backoffice.admin.session_service import Session, log_in, log_out, session_of
from backoffice.api.app import RawBody
from backoffice.errors import Problem, ProblemError
from backoffice.store.engine import Store

SESSION_COOKIE = "bo_session"
LOGIN_COOKIE = "bo_login"  # the login form's own CSRF token, before there is a session
form_fields_max = 50

console_router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
STATIC = Path(__file__).with_name("static")


class LoginNeeded(Exception):
    """No live session: the page answers with a redirect to the login form."""


def page(name: str, status_code: int = 200, /, **values: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**values), status_code=status_code)


def form_of(body: bytes) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the console's forms), first value each."""
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=form_fields_max)
    return {name: values[0] for name, values in fields.items()}


def live_session(request: Request) -> Session:
    store: Store = request.app.state.store
    token = request.cookies.get(SESSION_COOKIE)
    found = session_of(store, token) if token else None
    if found is None:
        raise LoginNeeded
    return found


SessionDep = Annotated[Session, Depends(live_session)]


def check_csrf(session: Session, request: Request, form: dict[str, str]) -> bool:
    sent = request.headers.get("x-csrf-token") or form.get("csrf", "")
    return secrets.compare_digest(sent.encode(), session.csrf_token.encode())


def refused(session: Session | None, reason: str) -> HTMLResponse:
    return page("refused.html", 403, session=session, reason=reason)


def refused_page(problems: Sequence[Problem]) -> HTMLResponse:
    """A command's refusal on a console page: the reason, with the API's status."""
    from backoffice.api.problems import status_of

    return page("refused.html", status_of(problems), session=None, reason=problems[0].describe())


@console_router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page("login.html", csrf=token, error=None, login="")
    _cookie(response, request, LOGIN_COOKIE, token)
    return response


@console_router.post("/login")
def login(request: Request, body: RawBody) -> Response:
    form = form_of(body)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        return refused(None, "the login form has expired: open it again")
    store: Store = request.app.state.store
    try:
        session = log_in(store, form.get("login", ""), form.get("password", ""))
    except ProblemError as error:
        return page("login.html", 401, csrf=expected, error=error.problems[0].reason,
                    login=form.get("login", ""))  # fmt: skip
    welcome = RedirectResponse("/", status_code=303)
    _cookie(welcome, request, SESSION_COOKIE, session.token)
    welcome.delete_cookie(LOGIN_COOKIE, path="/")
    return welcome


@console_router.post("/logout")
def logout(request: Request, body: RawBody, session: SessionDep) -> Response:
    if not check_csrf(session, request, form_of(body)):
        return refused(session, "this request did not come from a console page")
    log_out(request.app.state.store, session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@console_router.get("/")
def today(request: Request, session: SessionDep, day: dt.date | None = None) -> HTMLResponse:
    """What needs doing today: the exceptions, each with its count and a link."""
    from backoffice.web.today import today_figures

    shown = day or dt.datetime.now(dt.UTC).date()
    figures = today_figures(request.app.state.store, session.principal, shown)
    return page("today.html", session=session, figures=figures, day=shown)


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="lax", secure=request.url.scheme == "https",
        path="/",
    )  # fmt: skip
