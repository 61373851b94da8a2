"""The ledger's other commands over the API: reverse (idempotent by key, parked under a
policy), post, void and expire pending entries, verify, the quarantine and the export, each
as its `backoffice ledger` command with the same permission."""

from __future__ import annotations

import csv
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backoffice.api.app import create_app
from backoffice.cli.approvals import AWAITING_APPROVAL_EXIT
from backoffice.formats.refdata_file import parse_refdata
from backoffice.ledger.export import export_ledger
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_BANK, USD, reference_data
from tests.cli_runner import Cli
from tests.test_api import entry, last_event, token


@pytest.fixture
def api(store: Store) -> TestClient:
    load_refdata(store, reference_data(), actor="test", source="tests/test_api_ledger_more.py")
    token(store, "admin", "admin")
    return TestClient(create_app(store))


@pytest.fixture
def ops(store: Store, api: TestClient) -> dict[str, str]:
    return token(store, "olga", "operations")


def posted(api: TestClient, ops: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post("/api/v1/entries", json=body, headers=ops)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def hold(key: str, **more: Any) -> dict[str, Any]:
    return entry(key, "1.00") | {"pending": True, **more}


def bank_balance(api: TestClient, ops: dict[str, str]) -> tuple[str, str]:
    (line,) = api.get(f"/api/v1/balances?account={FIRM_BANK[USD]}", headers=ops).json()
    return line["balance"], line["pending"]


def test_a_reversal_is_201_then_200_for_the_same_key_and_books_one_reversal(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    original = posted(api, ops, entry("dep-1"))
    first = api.post("/api/v1/entries/dep-1/reverse", json={"key": "dep-1/undo"}, headers=ops)
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "reversal"
    assert first.json()["reversal_of"] == original["id"]
    assert first.headers["location"] == "/api/v1/entries/dep-1/undo"
    again = api.post("/api/v1/entries/dep-1/reverse", json={"key": "dep-1/undo"}, headers=ops)
    assert again.status_code == 200
    assert again.json() == first.json()
    items = api.get("/api/v1/entries", headers=ops).json()["items"]
    assert [item["key"] for item in items if item["kind"] == "reversal"] == ["dep-1/undo"]
    assert bank_balance(api, ops)[0] == "0.00"
    assert (last_event(store).actor, last_event(store).permission) == ("olga", "ledger.reverse")


def test_a_second_reversal_under_another_key_is_refused_as_already_reversed(
    api: TestClient, ops: dict[str, str]
) -> None:
    posted(api, ops, entry("dep-1"))
    api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-1"}, headers=ops)
    refused = api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-2"}, headers=ops)
    assert (refused.status_code, refused.json()["code"]) == (409, "already_reversed")


def test_reversing_an_unknown_entry_is_404_and_audited_as_failed(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    refused = api.post("/api/v1/entries/no-such/reverse", json={"key": "r-1"}, headers=ops)
    assert (refused.status_code, refused.json()["code"]) == (404, "entry_not_found")
    event = last_event(store)
    assert (event.command, event.outcome) == ("ledger.reverse", "failed")


def test_reversing_needs_ledger_reverse_and_a_body_of_known_fields(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    posted(api, ops, entry("dep-1"))
    auditor = token(store, "carl", "auditor")
    refused = api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-1"}, headers=auditor)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "forbidden: carl lacks ledger.reverse"
    extra = api.post(
        "/api/v1/entries/dep-1/reverse", json={"key": "r-1", "amount": "5"}, headers=ops
    )
    assert extra.status_code == 422
    bad_date = api.post(
        "/api/v1/entries/dep-1/reverse", json={"key": "r-1", "date": "someday"}, headers=ops
    )
    assert bad_date.status_code == 422


def test_a_reversal_under_a_policy_waits_202_once_and_posts_when_approved(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    posted(api, ops, entry("dep-1"))
    policy = "approval_policies:\n  - {permission: ledger.reverse, rule: always}\n"
    load_refdata(store, parse_refdata(policy, "p", csv_format=False), actor="test", source="p")
    waiting = api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-1"}, headers=ops)
    assert waiting.status_code == 202, waiting.text
    number = waiting.json()["approval_id"]
    retried = api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-1"}, headers=ops)
    assert (retried.status_code, retried.json()["approval_id"]) == (202, number)
    assert api.get("/api/v1/entries/r-1", headers=ops).status_code == 404
    shown = api.get(f"/api/v1/approvals/{number}", headers=ops).json()
    assert shown["effect"]["postings"][0] == {"account": FIRM_BANK[USD], "amount": "-10.00"}
    sup = token(store, "sam", "supervisor")
    done = api.post(f"/api/v1/approvals/{number}/approve", headers=sup)
    assert done.status_code == 200, done.text
    reversal = api.get("/api/v1/entries/r-1", headers=ops).json()
    assert (reversal["kind"], reversal["actor"]) == ("reversal", "olga")
    made = api.post("/api/v1/entries/dep-1/reverse", json={"key": "r-1"}, headers=ops)
    assert made.status_code == 200


def test_a_pending_entry_is_posted_once_by_key_and_another_voided(
    api: TestClient, ops: dict[str, str]
) -> None:
    posted(api, ops, hold("hold-1"))
    posted(api, ops, hold("hold-2"))
    assert bank_balance(api, ops) == ("0.00", "2.00")
    done = api.post("/api/v1/entries/hold-1/post", json={"key": "hold-1/posted"}, headers=ops)
    assert done.status_code == 201, done.text
    assert done.json()["kind"] == "post_pending"
    again = api.post("/api/v1/entries/hold-1/post", json={"key": "hold-1/posted"}, headers=ops)
    assert again.status_code == 200
    void = api.post("/api/v1/entries/hold-2/void", json={"key": "hold-2/void"}, headers=ops)
    assert void.status_code == 201
    assert void.json()["kind"] == "void_pending"
    assert bank_balance(api, ops) == ("1.00", "0.00")


def test_resolving_refuses_what_is_not_pending_unknown_or_not_permitted(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    posted(api, ops, entry("dep-1"))
    not_pending = api.post("/api/v1/entries/dep-1/post", json={"key": "p-1"}, headers=ops)
    assert (not_pending.status_code, not_pending.json()["code"]) == (422, "not_pending")
    unknown = api.post("/api/v1/entries/nothing/void", json={"key": "v-1"}, headers=ops)
    assert unknown.status_code == 404
    dated_void = api.post(
        "/api/v1/entries/dep-1/void", json={"key": "v-1", "date": "2026-11-16"}, headers=ops
    )
    assert dated_void.status_code == 422  # `void-pending` takes no date
    auditor = token(store, "carl", "auditor")
    refused = api.post("/api/v1/entries/dep-1/void", json={"key": "v-1"}, headers=auditor)
    assert refused.json()["detail"] == "forbidden: carl lacks ledger.pending"


def test_expiring_voids_only_the_pending_entries_whose_timeout_passed(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    posted(api, ops, hold("short", timeout_seconds=1))
    posted(api, ops, hold("long", timeout_seconds=3600))
    time.sleep(1.1)
    expired = api.post("/api/v1/pending/expire", headers=ops)
    assert expired.status_code == 200
    assert expired.json() == {"expired": 1}
    assert api.post("/api/v1/pending/expire", headers=ops).json() == {"expired": 0}
    assert bank_balance(api, ops) == ("0.00", "1.00")
    admin = token(store, "ada", "admin")
    assert api.post("/api/v1/pending/expire", headers=admin).status_code == 403


def test_verify_answers_ok_and_names_a_balance_changed_behind_the_ledgers_back(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    posted(api, ops, entry("dep-1"))
    verified = api.post("/api/v1/ledger/verify", headers=ops)
    assert verified.status_code == 200
    assert verified.json() == {"ok": True, "problems": []}
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(schema.accounts)
            .where(schema.accounts.c.code == CLIENT_OPEN[USD])
            .values(debits_posted=schema.accounts.c.debits_posted + 100)
        )
    broken = api.post("/api/v1/ledger/verify", headers=ops).json()
    assert broken["ok"] is False
    assert [p["code"] for p in broken["problems"]] == ["balance_mismatch"]
    assert CLIENT_OPEN[USD] in broken["problems"][0]["reason"]
    assert (
        api.post("/api/v1/ledger/verify", headers=token(store, "ada", "admin")).status_code == 403
    )


def test_the_quarantine_is_listed_a_keyset_page_at_a_time(
    api: TestClient, store: Store, ops: dict[str, str]
) -> None:
    bad = [entry(f"bad-{n}") | {"postings": entry("x")["postings"][:1]} for n in range(3)]
    answer = api.post("/api/v1/entries", json={"entries": bad}, headers=ops)
    assert answer.json()["failed"] == 3
    first = api.get("/api/v1/ledger/quarantine?limit=2", headers=ops).json()
    assert len(first["items"]) == 2
    assert first["next"] is not None
    assert all(item["problems"] and item["raw"] for item in first["items"])
    rest = api.get(f"/api/v1/ledger/quarantine?limit=2&after={first['next']}", headers=ops)
    assert [item["id"] for item in rest.json()["items"]] == [first["items"][-1]["id"] + 1]
    assert rest.json()["next"] is None
    assert api.get("/api/v1/ledger/quarantine?after=x", headers=ops).status_code == 422
    admin = token(store, "ada", "admin")
    assert api.get("/api/v1/ledger/quarantine", headers=admin).status_code == 403


def test_the_export_downloads_what_the_cli_writes_and_is_an_audited_read(
    api: TestClient, store: Store, ops: dict[str, str], tmp_path: Path, monkeypatch: Any
) -> None:
    posted(api, ops, entry("dep-1"))
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    auditor = token(store, "carl", "auditor")
    answer = api.get("/api/v1/ledger/export?format=csv", headers=auditor)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="ledger.csv"' in answer.headers["content-disposition"]
    export_ledger(store, "csv", tmp_path / "cli.csv")
    assert answer.content == (tmp_path / "cli.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {(row["account"], row["amount"]) for row in rows} == {
        (FIRM_BANK[USD], "10.00"), (CLIENT_OPEN[USD], "-10.00"),
    }  # fmt: skip
    event = last_event(store)
    assert (event.command, event.actor, event.outcome) == ("ledger.export", "carl", "ok")
    beancount = api.get("/api/v1/ledger/export?format=beancount", headers=auditor)
    assert "dep-1" in beancount.text
    assert list(spool.iterdir()) == []  # each download's folder went once it was sent


def test_the_export_refuses_an_unknown_format_and_a_role_without_ledger_export(
    api: TestClient, store: Store, tmp_path: Path, monkeypatch: Any
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    auditor = token(store, "carl", "auditor")
    unknown = api.get("/api/v1/ledger/export?format=xlsx", headers=auditor)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid_argument")
    assert api.get("/api/v1/ledger/export", headers=auditor).status_code == 422
    admin = token(store, "ada", "admin")
    assert api.get("/api/v1/ledger/export?format=csv", headers=admin).status_code == 403
    assert list(spool.iterdir()) == []


def test_the_cli_reverse_parks_under_the_same_policy_with_exit_status_3(
    api: TestClient, store: Store, ops: dict[str, str], cli: Cli
) -> None:
    posted(api, ops, entry("dep-1"))
    policy = (
        "approval_policies:\n"
        '  - {permission: ledger.reverse, rule: above, amounts: {USD: "5.00"}}\n'
    )
    load_refdata(store, parse_refdata(policy, "p", csv_format=False), actor="test", source="p")
    waiting = cli("ledger", "reverse", "dep-1", "--key", "r-1", token=ops["Authorization"][7:])
    assert waiting.status == AWAITING_APPROVAL_EXIT, waiting.stderr
    assert "awaiting approval" in waiting.stderr
    posted(api, ops, entry("small", "5.00"))
    small = cli("ledger", "reverse", "small", "--key", "r-2", token=ops["Authorization"][7:])
    assert small.status == 0, small.stderr  # not above the policy's amount: posted at once
    assert api.get("/api/v1/entries/r-2", headers=ops).json()["kind"] == "reversal"
    assert api.get("/api/v1/entries/r-1", headers=ops).status_code == 404
