"""The trades API (`/api/v1`): allocations, confirmations (JSON and PDF), affirmations, the
quarantine and its resubmissions, verification and one trade with its booking; each through
the CLI command's name and permission, refused to a role without it, bad input a 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backoffice.api.app import create_app
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.cli_runner import Cli
from tests.test_api_business import bearer
from tests.trading import execution, load_desk, table_rows

DAY = "2026-01-15"
ALLOCATIONS = "alloc_id,trade_id,account,quantity\n{id},B1;B2,C1,150\n{id},B1;B2,C2,{rest}\n"


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    load_desk(store, tmp_path)
    bearer(store, "admin", "admin")
    return store


@pytest.fixture
def api(desk: Store) -> TestClient:
    return TestClient(create_app(desk))


def fix_log(*messages: bytes) -> bytes:
    return b"".join(message + b"\n" for message in messages)


def events(store: Store, command: str) -> list[Any]:
    log = schema.audit_log
    with store.read() as connection:
        return list(
            connection.execute(
                sa.select(log).where(log.c.command == command).order_by(log.c.id)
            ).all()
        )


def test_allocations_posted_as_a_csv_book_the_blocks_and_a_short_one_is_quarantined(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    blocks = fix_log(
        execution("B1", account="IM", price="10.01"), execution("B2", account="IM", price="10.03")
    )
    assert api.post("/api/v1/executions", content=blocks, headers=ops).json()["blocks"] == 2
    short = api.post(
        "/api/v1/allocations", content=ALLOCATIONS.format(id="A1", rest=40), headers=ops
    )
    assert short.status_code == 200, short.text
    assert (short.json()["quarantined"], short.json()["errors"][0]["code"]) == (
        1,
        "quantities_do_not_add_up",
    )
    done = api.post(
        "/api/v1/allocations", content=ALLOCATIONS.format(id="A2", rest=50), headers=ops
    ).json()
    assert (done["allocated"], done["quarantined"]) == (1, 0)
    listed = api.get("/api/v1/allocations", headers=ops).json()["items"]
    assert [(a["client"], a["gross_amount"]) for a in listed] == [
        ("C1", "1503.00"),
        ("C2", "501.00"),
    ]
    assert events(desk, "trades.allocate")[-1].outcome == "ok"
    auditor = bearer(desk, "ann", "auditor")
    refused = api.post(
        "/api/v1/allocations", content=ALLOCATIONS.format(id="A3", rest=50), headers=auditor
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert events(desk, "trades.allocate")[-1].outcome == "forbidden"


def test_confirmations_are_made_for_a_date_listed_by_page_and_read_as_json_and_as_a_pdf(
    desk: Store, api: TestClient, database_url: str
) -> None:
    ops = bearer(desk, "olga", "operations")
    api.post(
        "/api/v1/executions",
        content=fix_log(execution("E1"), execution("E2", account="C2")),
        headers=ops,
    )
    made = api.post("/api/v1/confirmations", json={"trade_date": DAY}, headers=ops)
    assert made.status_code == 200, made.text
    ids = [item["confirm_id"] for item in made.json()["items"]]
    assert len(set(ids)) == 2
    rerun = api.post("/api/v1/confirmations", json={"trade_date": DAY}, headers=ops).json()
    assert [item["confirm_id"] for item in rerun["items"]] == ids
    first = api.get("/api/v1/confirmations?limit=1", headers=ops).json()
    second = api.get(f"/api/v1/confirmations?limit=1&after={first['next']}", headers=ops).json()
    assert [i["confirm_id"] for i in first["items"] + second["items"]] == ids
    assert second["next"] is None
    one = api.get(f"/api/v1/confirmations/{ids[0]}", headers=ops).json()
    assert (one["trade_id"], one["client_code"], one["net_amount"]) == ("E1", "C1", "1005.00")
    if database_url.startswith("sqlite"):  # a PDF takes a second to render: once is enough
        pdf = api.get(one["pdf"], headers=ops)
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        assert f'filename="{ids[0]}.pdf"' in pdf.headers["content-disposition"]
        assert pdf.content.startswith(b"%PDF")
        assert events(desk, "trades.confirmations.pdf")[-1].outcome == "ok"  # audited
    assert api.get("/api/v1/confirmations/CNF-NOPE", headers=ops).status_code == 404
    assert api.get("/api/v1/confirmations/CNF-NOPE.pdf", headers=ops).status_code == 404
    assert (
        api.post("/api/v1/confirmations", json={"trade_date": "15/01"}, headers=ops).status_code
        == 422
    )
    assert (
        api.post("/api/v1/confirmations", json={"trade_date": DAY, "x": 1}, headers=ops).status_code
        == 422
    )
    auditor = bearer(desk, "ann", "auditor")
    assert (
        api.post("/api/v1/confirmations", json={"trade_date": DAY}, headers=auditor).status_code
        == 403
    )
    assert api.get("/api/v1/confirmations", headers=auditor).status_code == 200


def test_affirmations_come_as_a_csv_body_or_one_as_json_and_the_unknown_are_quarantined(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    api.post(
        "/api/v1/executions",
        content=fix_log(execution("E1"), execution("E2", account="C2")),
        headers=ops,
    )
    api.post("/api/v1/confirmations", json={"trade_date": DAY}, headers=ops)
    ids = {row["trade_id"]: row["confirm_id"] for row in table_rows(desk, "allocations")}
    answers = f"confirm_id,status\n{ids['E1']},affirmed\nCNF-NOPE,affirmed\n"
    csv = api.post("/api/v1/affirmations", content=answers, headers=ops).json()
    assert (csv["recorded"], csv["quarantined"]) == (1, 1)
    assert csv["errors"][0]["code"] == "unknown_confirmation"
    one = api.post("/api/v1/affirmations", json={"confirm_id": ids["E2"]}, headers=ops).json()
    assert (one["received"], one["recorded"]) == (1, 1)
    left = api.get(f"/api/v1/unaffirmed?trade_date={DAY}", headers=ops).json()["items"]
    assert left == []
    bad = api.post(
        "/api/v1/affirmations", json={"confirm_id": ids["E2"], "status": "maybe"}, headers=ops
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_status")
    extra = api.post("/api/v1/affirmations", json={"confirm_id": "X", "who": 1}, headers=ops)
    assert (extra.status_code, extra.json()["code"]) == (422, "invalid_request")
    auditor = bearer(desk, "ann", "auditor")
    assert api.post("/api/v1/affirmations", content=answers, headers=auditor).status_code == 403


def test_a_quarantined_execution_is_listed_and_resolved_by_resubmitting_it_repaired(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    bad = fix_log(execution("E1", account="NOBODY"))
    assert api.post("/api/v1/executions", content=bad, headers=ops).json()["quarantined"] == 1
    (item,) = api.get("/api/v1/trades/quarantine", headers=ops).json()["items"]
    assert (item["kind"], [p["code"] for p in item["problems"]]) == (
        "trades.import",
        ["unknown_account"],
    )
    resubmit = f"/api/v1/trades/quarantine/{item['id']}/resubmit"
    still_bad = api.post(resubmit, content=bad, headers=ops)
    assert still_bad.status_code == 422
    assert [e["code"] for e in still_bad.json()["errors"]] == [
        "resubmission_refused",
        "unknown_account",
    ]
    auditor = bearer(desk, "ann", "auditor")
    repaired = fix_log(execution("E1", account="C1"))
    assert api.post(resubmit, content=repaired, headers=auditor).status_code == 403
    done = api.post(resubmit, content=repaired, headers=ops)
    assert done.json() == {"id": item["id"], "resolved": True, "applied": 1}
    assert api.get("/api/v1/trades/quarantine", headers=ops).json()["items"] == []
    (resolved,) = api.get("/api/v1/trades/quarantine?all=true", headers=ops).json()["items"]
    assert resolved["resolved"] is True
    again = api.post(resubmit, content=repaired, headers=ops)
    assert (again.status_code, again.json()["code"]) == (409, "already_resolved")
    unknown = api.post("/api/v1/trades/quarantine/999999/resubmit", content=repaired, headers=ops)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_quarantine_item")
    assert events(desk, "trades.resubmit")[-1].outcome == "failed"


def test_verify_answers_whether_the_books_tie_out_naming_each_difference(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    api.post("/api/v1/executions", content=fix_log(execution("E1")), headers=ops)
    assert api.post("/api/v1/trades/verify", headers=ops).json() == {
        "verified": True,
        "errors": [],
    }
    with desk.write() as connection:
        connection.exec_driver_sql("UPDATE allocations SET commission_minor = 0")
    found = api.post("/api/v1/trades/verify", headers=ops).json()
    assert found["verified"] is False
    assert {"net_amount_wrong", "booking_differs"} <= {e["code"] for e in found["errors"]}
    admin = bearer(desk, "adam", "admin")  # manages users, reads no trades
    assert api.post("/api/v1/trades/verify", headers=admin).status_code == 403


def test_one_trade_comes_with_its_raw_message_and_the_entries_that_book_it(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    api.post("/api/v1/executions", content=fix_log(execution("E1")), headers=ops)
    cancel = execution("X1", exec_type="H", ref="E1", sequence=2)
    api.post("/api/v1/executions", content=fix_log(cancel), headers=ops)
    trade = api.get("/api/v1/trades/E1", headers=ops).json()
    assert (trade["trade_id"], trade["status"]) == ("E1", "cancelled")
    assert trade["raw"].startswith("8=FIX.4.4")
    assert "17=E1" in trade["raw"]
    (booking,) = trade["booking"]
    assert booking["entry_key"] == "trades:trade/E1"
    booked, reversed_ = booking["entries"]
    assert booked["key"] == "trades:trade/E1"
    assert reversed_["key"] == "trades:cancel/trade/E1"
    postings = {p["account"]: p["amount"] for p in booked["postings"]}
    assert postings["client/C1/cash/USD"] == "1005.00"  # 100 x 10.00 and 5.00 commission
    assert {p["account"]: p["amount"] for p in reversed_["postings"]}["client/C1/cash/USD"] == (
        "-1005.00"
    )
    missing = api.get("/api/v1/trades/NOPE", headers=ops)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_trade")
    admin = bearer(desk, "adam", "admin")
    assert api.get("/api/v1/trades/E1", headers=admin).status_code == 403


def test_a_block_shows_the_allocations_that_book_it(desk: Store, api: TestClient) -> None:
    ops = bearer(desk, "olga", "operations")
    blocks = fix_log(
        execution("B1", account="IM", price="10.01"), execution("B2", account="IM", price="10.03")
    )
    api.post("/api/v1/executions", content=blocks, headers=ops)
    assert api.get("/api/v1/trades/B1", headers=ops).json()["booking"] == []
    api.post("/api/v1/allocations", content=ALLOCATIONS.format(id="A2", rest=50), headers=ops)
    booking = api.get("/api/v1/trades/B1", headers=ops).json()["booking"]
    assert [(b["client"], b["quantity"], len(b["entries"])) for b in booking] == [
        ("C1", "150", 1),
        ("C2", "50", 1),
    ]


def test_the_cli_and_the_api_confirm_the_same_allocations_under_the_same_ids(
    desk: Store, api: TestClient, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = bearer(desk, "olga", "operations")
    monkeypatch.setenv("BACKOFFICE_TOKEN", ops["Authorization"].removeprefix("Bearer "))
    api.post("/api/v1/executions", content=fix_log(execution("E1")), headers=ops)
    through_api = api.post("/api/v1/confirmations", json={"trade_date": DAY}, headers=ops).json()
    out = tmp_path / "out"
    assert cli("trades", "confirm", "--date", DAY, "-o", str(out), "--no-pdf").status == 0
    assert sorted(path.stem for path in out.glob("*.html")) == [
        item["confirm_id"] for item in through_api["items"]
    ]


def test_trades_are_filtered_by_client_and_status_and_a_bad_status_is_422(
    desk: Store, api: TestClient
) -> None:
    ops = bearer(desk, "olga", "operations")
    messages = fix_log(execution("E1"), execution("E2", account="C2"), execution("E3"))
    assert api.post("/api/v1/executions", content=messages, headers=ops).status_code == 200
    cancel = execution("X3", exec_type="H", ref="E3", sequence=2)
    api.post("/api/v1/executions", content=fix_log(cancel), headers=ops)

    def listed(query: str) -> list[str]:
        answer = api.get(f"/api/v1/trades?{query}", headers=ops)
        assert answer.status_code == 200, answer.text
        return [trade["trade_id"] for trade in answer.json()["items"]]

    assert listed("client=C1") == ["E1", "E3"]
    assert listed("status=cancelled") == ["E3"]
    assert listed("client=C2&status=booked&trade_date=2026-01-15") == ["E2"]
    assert listed("client=NOBODY") == []
    bad = api.get("/api/v1/trades?status=lost", headers=ops)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_status")
