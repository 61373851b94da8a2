"""The console's door in process: login with a password, a server-side session in an HttpOnly
SameSite cookie, CSRF on every POST, throttled and audited failed logins, idle timeout, the
Today page shown through the commands to those who may read each figure."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backoffice.admin import session_service
from backoffice.admin.identity_service import add_user, set_new_password
from backoffice.api.app import create_app
from backoffice.store import schema
from backoffice.store.engine import Store

PASSWORD = "correct horse battery staple"


@pytest.fixture
def console(store: Store) -> TestClient:
    add_user(store, "admin", name="Admin", roles=["admin"], os_user="nobody-here", actor="t")
    for login, role in (("olga", "operations"), ("carl", "auditor")):
        add_user(store, login, name=login.title(), roles=[role], os_user=None, actor="admin")
        set_new_password(store, login, PASSWORD, actor="admin")
    return TestClient(create_app(store), follow_redirects=False)


def log_in(console: TestClient, login: str, password: str = PASSWORD) -> Any:
    form = console.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return console.post(
        "/login", data={"csrf": csrf.group(1), "login": login, "password": password}
    )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def events(store: Store, command: str) -> list[tuple[str, str]]:
    log = schema.audit_log
    with store.read() as connection:
        rows = connection.execute(
            sa.select(log.c.actor, log.c.outcome).where(log.c.command == command).order_by(log.c.id)
        ).all()
    return [(row.actor, row.outcome) for row in rows]


def test_a_page_without_a_session_sends_the_browser_to_the_login_form(console: TestClient) -> None:
    answer = console.get("/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_a_login_opens_a_session_in_an_httponly_samesite_cookie_and_shows_today(
    console: TestClient, store: Store
) -> None:
    answer = log_in(console, "olga")
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    cookie = answer.headers["set-cookie"].lower()
    assert "bo_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    today = console.get("/")
    assert today.status_code == 200
    assert "Open breaks by type" in today.text
    assert "Approvals waiting for me" in today.text
    with store.read() as connection:
        stored = connection.execute(sa.select(schema.web_sessions.c.sha256)).scalar_one()
    assert console.cookies["bo_session"] not in stored  # only the hash is kept
    assert events(store, "console.login") == [("olga", "ok")]


def test_a_wrong_password_is_refused_beside_the_form_audited_and_throttled_after_five(
    console: TestClient, store: Store
) -> None:
    wrong = log_in(console, "olga", "guess")
    assert wrong.status_code == 401
    assert "the login or the password is wrong" in wrong.text
    for _ in range(4):
        log_in(console, "olga", "guess")
    right_but_late = log_in(console, "olga")
    assert right_but_late.status_code == 401
    assert "failed logins" in right_but_late.text
    assert events(store, "console.login") == [("olga", "refused")] * 6
    assert "bo_session" not in console.cookies


def test_a_post_without_the_sessions_csrf_token_is_refused(console: TestClient) -> None:
    log_in(console, "olga")
    forged = console.post("/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert console.get("/").status_code == 200  # still logged in
    no_login_token = TestClient(console.app, follow_redirects=False).post(
        "/login", data={"login": "olga", "password": PASSWORD}
    )
    assert no_login_token.status_code == 403


def test_logout_ends_the_session_for_good(console: TestClient) -> None:
    log_in(console, "olga")
    cookie = console.cookies["bo_session"]
    token = csrf_of(console.get("/").text)
    assert console.post("/logout", data={"csrf": token}).status_code == 303
    replay = TestClient(console.app, follow_redirects=False, cookies={"bo_session": cookie})
    assert replay.get("/").status_code == 303


def test_a_session_idle_past_its_timeout_is_over(
    console: TestClient, store: Store, monkeypatch: Any
) -> None:
    log_in(console, "olga")
    assert console.get("/").status_code == 200
    later = session_service.now_us() + session_service.session_idle_us + 1
    monkeypatch.setattr(session_service, "now_us", lambda: later)
    assert console.get("/").status_code == 303


def test_today_shows_only_the_figures_a_role_may_read(console: TestClient, store: Store) -> None:
    log_in(console, "carl")
    page = console.get("/").text
    assert "Open breaks by type" in page  # an auditor reads everything
    assert "Settlement fails by ageing bucket" in page
    set_new_password(store, "admin", PASSWORD, actor="admin")
    admin = TestClient(console.app, follow_redirects=False)
    log_in(admin, "admin")
    page = admin.get("/").text
    assert "Approvals waiting for me" in page  # users and approvals, no business data
    assert "Open breaks by type" not in page
    assert "Settlement fails" not in page


def test_the_demo_prints_console_logins_that_open_a_session_on_its_database(
    tmp_path: Any, monkeypatch: Any
) -> None:
    from backoffice.demo import run_demo
    from backoffice.store.engine import open_store

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    said: list[str] = []
    run_demo(url, entries=500, seed=1, say=said.append)
    line = next(text for text in said if "(login / password)" in text)
    logins = dict(pair.split(" / ") for pair in line.split(": ", 1)[1].split(", "))
    assert set(logins) == {"ops", "supervisor", "compliance"}
    demo = TestClient(create_app(open_store(url)), follow_redirects=False)
    assert log_in(demo, "supervisor", logins["supervisor"]).status_code == 303
    assert "Approvals waiting for me" in demo.get("/").text


def test_an_unknown_login_costs_a_password_check_like_a_known_one(
    console: TestClient, monkeypatch: Any
) -> None:
    from argon2 import PasswordHasher

    checked: list[str] = []
    real = PasswordHasher.verify

    def counted(self: PasswordHasher, hashed: str, password: str) -> bool:
        checked.append(password)
        return real(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    assert log_in(console, "nobody-at-all", "guess").status_code == 401
    assert log_in(console, "olga", "guess").status_code == 401
    assert len(checked) == 2  # one Argon2 verification each: timing tells nothing
