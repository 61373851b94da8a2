"""The console in a real browser: Debian's chromium driven by Playwright against a real
`backoffice serve` process on loopback. Logging in and out, a wrong password shown beside the
form, the Today page, and a forged POST refused. Screenshots go to docs/screenshots/ (the
README shows them, so they are always current)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import BACKOFFICE, serving

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"
# As root and offline: no sandbox, and none of chromium's own calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("BACKOFFICE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (.ci/run installs it): apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console")
    db = f"sqlite:///{folder / 'console.db'}"

    def cli(*args: str, given: str | None = None) -> None:
        subprocess.run([BACKOFFICE, "--db", db, *args], input=given, capture_output=True,
                       text=True, check=True, cwd=folder)  # fmt: skip

    cli("users", "add", "admin", "--name", "Admin", "--role", "admin")
    cli("users", "add", "olga", "--name", "Olga Ops", "--role", "operations")
    cli("users", "password", "olga", given=f"{PASSWORD}\n{PASSWORD}\n")
    cli("users", "password", "admin", given=f"{PASSWORD}\n{PASSWORD}\n")
    with serving(db, folder) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Any, base: str, password: str = PASSWORD, login: str = "olga") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_operations_logs_in_sees_today_and_logs_out(served: str, page: Any) -> None:
    page.goto(f"{served}/")
    assert page.url.endswith("/login")  # no session: the login form
    log_in(page, served)
    page.wait_for_selector("text=Open breaks by type")
    assert page.url == f"{served}/"
    assert page.inner_text("header .who") == "olga"
    page.click("text=Log out")
    page.wait_for_selector("text=Log in")
    page.goto(f"{served}/")
    assert page.url.endswith("/login")


def test_a_wrong_password_is_shown_beside_the_form(served: str, page: Any) -> None:
    log_in(page, served, "not the password")
    assert page.inner_text("form.login .error") == "the login or the password is wrong"
    assert page.input_value("input[name=login]") == "olga"


def test_a_forged_post_from_the_logged_in_browser_is_refused(served: str, page: Any) -> None:
    log_in(page, served)
    page.wait_for_selector("text=Open breaks by type")
    # The browser's own cookies, but not the page's CSRF token: what another site could send.
    forged = page.request.post(f"{served}/logout", form={"csrf": "guessed"})
    assert forged.status == 403
    page.goto(f"{served}/")
    assert page.url == f"{served}/"  # still logged in


def test_an_admin_adds_a_user_issues_a_token_once_revokes_it_and_disables_the_user(
    served: str, page: Any
) -> None:
    log_in(page, served, login="admin")
    page.click("nav >> text=Users")
    form = page.locator("form.add-user")
    form.locator("input[name=login]").fill("nina")
    form.locator("input[name=name]").fill("Nina Compliance")
    form.locator("input[value=compliance]").check()
    form.locator("button").click()
    row = page.locator("tr[data-user=nina]")
    assert row.locator("[data-roles]").inner_text() == "compliance"
    row.locator("text=Issue token").click()
    token = page.inner_text("[data-token]")
    assert token.startswith("bo_")
    assert page.locator("tr[data-user=nina] td").nth(5).inner_text() == "1"
    page.goto(f"{served}/users")
    assert page.locator("[data-token]").count() == 0  # shown once, never again
    page.locator("form.revoke input[name=prefix]").fill(token[:12])
    page.locator("form.revoke button").click()
    assert page.locator("tr[data-user=nina] td").nth(5).inner_text() == "0"
    page.locator("tr[data-user=nina] >> text=Disable").click()
    assert page.locator("tr[data-user=nina] td").nth(3).inner_text() == "no"
    # A login that exists already: the error comes back above the form, the input kept.
    form = page.locator("form.add-user")
    form.locator("input[name=login]").fill("nina")
    form.locator("input[name=name]").fill("Nina Again")
    form.locator("button").click()
    assert page.locator("ul.error").count() == 1
    assert page.locator("form.add-user input[name=name]").input_value() == "Nina Again"


def test_operations_is_not_offered_users_and_is_refused_them(served: str, page: Any) -> None:
    log_in(page, served)
    page.wait_for_selector("text=Open breaks by type")
    assert page.locator("nav >> text=Users").count() == 0
    answer = page.goto(f"{served}/users")
    assert answer is not None
    assert answer.status == 403
