"""The four-eyes flow end to end in a real browser, on the demo's database and its people:
operations proposes the correction of a break and is offered no Approve button, a forged
approval from their browser is refused; a supervisor sees the effect and approves; the break
is resolved, and the audit trail names both."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tests.serving import BACKOFFICE, serving
from tests.test_console_browser import SCREENSHOTS
from tests.test_console_browser import browser as browser_fixture

browser = browser_fixture  # the fixture, under the name the tests ask for


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("demo")
    db = f"sqlite:///{folder / 'demo.db'}"
    done = subprocess.run([BACKOFFICE, "--db", db, "demo", "--entries", "500"], cwd=folder,
                          capture_output=True, text=True, check=True)  # fmt: skip
    said = done.stdout + done.stderr
    line = re.search(r"\(login / password\): (.+)", said)
    assert line is not None, said
    passwords = dict(pair.split(" / ") for pair in line.group(1).split(", "))
    with serving(db, folder) as base:
        yield base, db, passwords


def log_in(browser: Any, base: str, login: str, password: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def test_ops_proposes_a_correction_and_only_a_supervisor_can_approve_it(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, db, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.click("nav >> text=Breaks")
    row = (
        ops.locator("tr[data-break]")
        .filter(has_text="amount_difference")
        .filter(has_text="firm/bank/USD")
        .first
    )
    break_id = row.get_attribute("data-break")
    amount = row.locator("td.num").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ops.screenshot(path=str(SCREENSHOTS / "breaks.png"), full_page=True)
    row.locator("a").click()
    ops.wait_for_selector("text=Propose a correcting entry")
    # Booking the statement's amount would not close the difference: the error comes back
    # beside the form, with the figures, and nothing is proposed.
    ops.fill("input[name=account0]", "firm/bank/USD")
    ops.fill("input[name=amount0]", amount)
    ops.fill("input[name=account1]", "firm/expense/bank-fees/USD")
    ops.fill("input[name=amount1]", str(-Decimal(amount)))
    ops.fill("input[name=description]", "what the bank booked")
    ops.click("form.correction button[type=submit]")
    error = ops.inner_text("form.correction .error")
    assert "correction_mismatch" in error
    still = re.search(r"would still differ by (-?[\d.]+)", error)
    assert still is not None, error
    needed = Decimal(amount) + Decimal(still.group(1))
    assert ops.input_value("input[name=account1]") == "firm/expense/bank-fees/USD"  # kept
    ops.fill("input[name=amount0]", str(needed))
    ops.fill("input[name=amount1]", str(-needed))
    ops.click("form.correction button[type=submit]")
    ops.wait_for_load_state()
    assert ops.locator("form.correction .error").count() == 0, ops.inner_text("main")
    ops.wait_for_selector("text=Its effect")
    approval_url = ops.url
    assert ops.locator("[data-maker]").inner_text() == "ops"
    assert ops.locator("form.decide button").count() == 0  # the maker is offered no Approve
    token = ops.locator("input[name=csrf]").first.get_attribute("value")
    forged = ops.request.post(f"{approval_url}/approve", form={"csrf": token or ""})
    assert forged.status == 403  # and refused when she tries anyway
    supervisor = log_in(browser, base, "supervisor", passwords["supervisor"])
    supervisor.click("nav >> text=Approvals")
    supervisor.click(f"a[href='{approval_url.removeprefix(base)}']")
    assert supervisor.locator("table.effect").inner_text().count("firm/") == 2
    supervisor.screenshot(path=str(SCREENSHOTS / "approval.png"), full_page=True)
    supervisor.click("button[value=approve]")
    supervisor.wait_for_load_state()
    assert supervisor.locator("[data-status]").count() == 1, supervisor.inner_text("main")
    assert "approved" in supervisor.inner_text("[data-status]")
    supervisor.wait_for_selector("[data-status]:has-text('approved')")
    ops.goto(f"{base}/breaks/{break_id}")
    assert ops.locator("[data-status]").inner_text() == "resolved"
    engine = sa.create_engine(db)
    with engine.connect() as connection:
        actors = connection.exec_driver_sql(
            "SELECT actor, command, outcome FROM audit_log WHERE command IN"
            " ('recon.resolve.propose', 'approvals.approve') ORDER BY id DESC LIMIT 3"
        ).all()
    engine.dispose()
    assert ("ops", "recon.resolve.propose") in {(a, c) for a, c, _ in actors}
    assert ("supervisor", "approvals.approve") in {(a, c) for a, c, _ in actors}


def test_a_trade_is_found_by_filter_and_shows_its_raw_message_and_booked_entries(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.click("nav >> text=Trades")
    first = ops.locator("tr[data-trade]").first
    client = first.locator("td").nth(2).inner_text()
    ops.fill("input[name=client]", client)
    ops.click("form.filters button")
    ops.wait_for_url(re.compile(r".*client=" + re.escape(client)))
    clients = ops.locator("tr[data-trade] td:nth-child(3)").all_inner_texts()
    assert clients
    assert set(clients) == {client}
    ops.locator("tr[data-trade] a").first.click()
    assert ops.inner_text("pre.raw").startswith("8=FIX")
    ops.screenshot(path=str(SCREENSHOTS / "trade.png"), full_page=True)
    ops.locator("main h3 a").first.click()  # the booking's entry
    assert ops.locator("main h1").inner_text().startswith("Entry trades:")
    ops.goto(f"{base}/books")
    assert ops.locator("tr[data-asset=USD]").count() == 1


def test_compliance_reads_the_audit_trail_and_operations_is_neither_offered_it_nor_let_in(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    compliance = log_in(browser, base, "compliance", passwords["compliance"])
    compliance.click("nav >> text=Audit")
    compliance.fill("input[name=user]", "supervisor")
    compliance.click("form.filters button")
    compliance.wait_for_url(re.compile(r".*user=supervisor"))
    actors = compliance.locator("tr[data-event] td:nth-child(3)").all_inner_texts()
    assert actors
    assert set(actors) == {"supervisor"}
    ops = log_in(browser, base, "ops", passwords["ops"])
    assert ops.locator("nav >> text=Audit").count() == 0
    refused = ops.goto(f"{base}/audit")
    assert refused is not None
    assert refused.status == 403
    assert "lacks audit.read" in ops.inner_text("main")


def test_the_quarantine_shows_every_reason_and_a_resubmission_that_fails_keeps_the_item(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.click("nav >> text=Quarantine")
    items = ops.locator("article.quarantined")
    before = items.count()
    assert before >= 1
    first = items.first
    item_id = first.get_attribute("data-item")
    assert first.locator("ul.error li").count() >= 1
    ops.screenshot(path=str(SCREENSHOTS / "quarantine.png"), full_page=True)
    first.locator("button").click()  # resubmitted unrepaired: refused, nothing changes
    assert "stays quarantined" in ops.inner_text("main")
    ops.goto(f"{base}/quarantine?source=trades")
    assert ops.locator(f"article[data-item='{item_id}']").count() == 1


def test_today_on_the_demo_counts_the_days_exceptions_and_draws_them(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    breaks = ops.locator("article[data-figure='Open breaks by type']")
    assert int(breaks.locator(".count").inner_text()) >= 1
    assert breaks.locator("svg.bars rect").count() >= 1
    quarantined = ops.locator("article[data-figure='Quarantined messages by source']")
    assert int(quarantined.locator(".count").inner_text()) >= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ops.screenshot(path=str(SCREENSHOTS / "today.png"), full_page=True)
    breaks.locator("h2 a").click()
    assert ops.url.endswith("/breaks")


def test_a_break_is_assigned_marked_investigating_and_commented_from_its_page(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.goto(f"{base}/breaks")
    ops.locator("tr[data-break]").filter(has_text="missing_in_statement").first.locator("a").click()
    ops.click("text=Assign to me")
    ops.click("text=Mark investigating")
    ops.fill("form.comment input[name=comment]", "asked the bank for the missing line")
    ops.click("form.comment button")
    assert ops.locator("[data-status]").inner_text() == "investigating"
    facts = ops.inner_text("dl.facts")
    assert "ops" in facts
    assert "asked the bank for the missing line" in ops.inner_text("ul.history")


def test_settlement_shows_a_dates_instructions_with_their_documents_and_the_fails(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.click("nav >> text=Settlement")
    assert ops.locator("tr[data-fail]").count() >= 1  # the demo fails two
    ops.fill("input[name=date]", "2026-11-25")
    ops.click("form.filters button")
    ops.wait_for_url(re.compile(r".*date=2026-11-25"))
    rows = ops.locator("tr[data-instruction]")
    assert rows.count() >= 1
    link = rows.first.locator("a").get_attribute("href")
    assert link is not None
    document = ops.request.get(f"{base}{link}")
    assert document.status == 200
    assert b"sese.023" in document.body() or document.body().startswith(b"{1:")


def test_reference_data_is_changed_from_a_form_errors_beside_it_and_an_ssi_change_waits(
    demo: tuple[str, str, dict[str, str]], browser: Any
) -> None:
    base, _, passwords = demo
    ops = log_in(browser, base, "ops", passwords["ops"])
    ops.click("nav >> text=Reference data")
    ops.click("text=ssis")
    assert ops.locator("table.rows tbody tr").count() >= 1
    ops.fill("form.change textarea", "ssis:\n- party: NOBODY\n  market: XNYS\n")
    ops.click("form.change button")
    assert ops.locator("form.change .error li").count() >= 1
    assert "NOBODY" in ops.input_value("form.change textarea")  # the text is kept
    change = ("ssis:\n- agent: GOLDUS33\n  market: XNYS\n  party: GSCO\n"
              "  place_of_settlement: DTCYUS33\n  safekeeping_account: DTC-0303\n")  # fmt: skip
    ops.fill("form.change textarea", change)
    ops.click("form.change button")
    ops.wait_for_selector("text=Its effect")
    assert "/approvals/" in ops.url  # an SSI change waits for a second person
    assert ops.locator("[data-status]").inner_text() == "awaiting"
