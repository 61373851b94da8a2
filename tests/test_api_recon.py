"""The reconciliation over the API: statements posted as the body and listed, runs, the
quarantine, one break with its candidates, matches by hand and corrections under
maker-checker, each through the same command, permission and service as `recon ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backoffice.api.app import create_app
from backoffice.store.engine import Store
from tests.books import FIRM_HOUSE, USD
from tests.test_api_business import bearer
from tests.test_recon_cli import (
    MONDAY,
    NOSTRO,
    book,
    camt053,
    entry,
    holdings_file,
)
from tests.test_recon_cli import books as recon_books

books = recon_books  # the fixture, under the name the tests ask for


@pytest.fixture
def api(books: Store) -> TestClient:
    bearer(books, "admin", "admin")  # the first user: the rest are added by an admin
    return TestClient(create_app(books))


def post_file(api: TestClient, file: Path, who: dict[str, str]) -> Any:
    return api.post(
        f"/api/v1/statements?filename={file.name}", content=file.read_bytes(), headers=who
    )


def last_event(api: TestClient, who: dict[str, str], command: str) -> dict[str, Any]:
    events = api.get("/api/v1/audit?limit=500", headers=who).json()["items"]
    return [event for event in events if event["command"] == command][-1]


# --- Statements in ----------------------------------------------------------------------------


def test_a_statement_posted_as_the_body_is_imported_once_and_a_changed_one_is_409(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    ops = bearer(books, "olga", "operations")
    file = camt053(tmp_path / "monday.xml", "STMT-1", "0.00", "250.00", entry("250.00", "E2E-1"))
    first = post_file(api, file, ops)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "file": "monday.xml", "statements": 1, "lines": 1, "existing": 0, "balance_breaks": [],
    }  # fmt: skip
    again = post_file(api, file, ops)
    assert again.status_code == 200
    assert (again.json()["statements"], again.json()["existing"]) == (0, 1)
    (listed,) = api.get("/api/v1/statements", headers=ops).json()["items"]
    assert [line["amount"] for line in listed["lines"]] == ["250.00"]
    changed = camt053(tmp_path / "changed.xml", "STMT-1", "0.00", "25.00", entry("25.00", "E2E-1"))
    refused = post_file(api, changed, ops)
    assert (refused.status_code, refused.json()["code"]) == (409, "statement_changed")
    assert "changed.xml" in refused.json()["detail"]
    assert api.get("/api/v1/statements", headers=ops).json()["items"] == [listed]
    admin = bearer(books, "ann", "admin")
    event = last_event(api, admin, "recon.import")
    assert (event["actor"], event["permission"]) == ("olga", "recon.import")


def test_a_malformed_statement_is_422_naming_its_line_and_field_and_is_quarantined(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    ops = bearer(books, "olga", "operations")
    invalid = camt053(tmp_path / "invalid.xml", "STMT-9", "0.00", "5.00", entry("5.00", "E2E-9"))
    invalid.write_text(invalid.read_text().replace(">5.00<", ">5,00<"))
    refused = post_file(api, invalid, ops)
    assert (refused.status_code, refused.json()["code"]) == (422, "schema_invalid")
    assert {(e["line"], e["field"]) for e in refused.json()["errors"]} >= {
        (8, "/Document/BkToCstmrStmt/Stmt/Ntry/Amt")
    }
    assert "backoffice-api" not in refused.text  # the spooled file is never named
    (quarantined,) = api.get("/api/v1/recon/quarantine", headers=ops).json()["items"]
    assert (quarantined["file"], quarantined["raw"]) == ("invalid.xml", invalid.read_text())
    stranger = camt053(tmp_path / "x.xml", "S-7", "0.00", "0.00", account="GB29NWBK60161331926819")
    unknown = post_file(api, stranger, ops)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_account")
    empty = api.post("/api/v1/statements", content=b"  \n", headers=ops)
    assert (empty.status_code, empty.json()["code"]) == (422, "empty_file")
    assert api.get("/api/v1/statements", headers=ops).json() == {"items": [], "next": None}


def test_custodian_holdings_posted_as_a_csv_body_are_imported(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    ops = bearer(books, "olga", "operations")
    imported = post_file(api, holdings_file(tmp_path / "holdings.csv", "csv", "120"), ops)
    assert imported.status_code == 201, imported.text
    assert (imported.json()["holdings_statements"], imported.json()["positions"]) == (1, 1)


def test_an_auditor_lists_statements_and_the_quarantine_but_may_not_import(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    auditor = bearer(books, "carl", "auditor")
    file = camt053(tmp_path / "monday.xml", "STMT-1", "0.00", "250.00", entry("250.00", "E2E-1"))
    refused = post_file(api, file, auditor)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert api.get("/api/v1/statements", headers=auditor).status_code == 200
    assert api.get("/api/v1/recon/quarantine", headers=auditor).json()["items"] == []
    bad_cursor = api.get("/api/v1/statements?after=x", headers=auditor)
    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (422, "invalid_cursor")
    bad_name = api.post("/api/v1/statements?filename=%00", content=b"x", headers=auditor)
    assert bad_name.status_code == 422


def test_statements_are_listed_a_keyset_page_at_a_time(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    ops = bearer(books, "olga", "operations")
    for number in (1, 2):
        file = camt053(tmp_path / f"s{number}.xml", f"STMT-{number}", "0.00", "0.00")
        assert post_file(api, file, ops).status_code == 201
    first = api.get("/api/v1/statements?limit=1", headers=ops).json()
    assert [s["statement_id"] for s in first["items"]] == ["STMT-1"]
    after = api.get(f"/api/v1/statements?limit=1&after={first['next']}", headers=ops).json()
    assert ([s["statement_id"] for s in after["items"]], after["next"]) == (["STMT-2"], None)


# --- Runs -------------------------------------------------------------------------------------


def test_a_run_posted_answers_its_matches_and_breaks_and_refuses_bad_rules_by_field(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    ops = bearer(books, "olga", "operations")
    book(books, "E2E-0", "100.00")
    file = camt053(
        tmp_path / "fee.xml", "STMT-1", "0.00", "95.00",
        entry("100.00", "E2E-0"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    assert post_file(api, file, ops).status_code == 201
    rules = {"default": {"date_tolerance_days": 99}}
    bad = api.post("/api/v1/recon/runs", json={"date": str(MONDAY), "rules": rules}, headers=ops)
    assert (bad.status_code, bad.json()["code"]) == (422, "limit_exceeded")
    assert bad.json()["errors"][0]["field"] == "default.date_tolerance_days"
    ran = api.post(
        "/api/v1/recon/runs",
        json={"date": str(MONDAY), "rules": {"default": {"rules": ["exact"]}}},
        headers=ops,
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["matched"] == 1
    assert [(b["type"], b["amount"]) for b in ran.json()["breaks"]] == [
        ("missing_in_books", "-5.00")
    ]
    auditor = bearer(books, "carl", "auditor")
    forbidden = api.post("/api/v1/recon/runs", json={"date": str(MONDAY)}, headers=auditor)
    assert forbidden.status_code == 403
    extra = api.post("/api/v1/recon/runs", json={"date": str(MONDAY), "x": 1}, headers=ops)
    assert extra.status_code == 422
    unknown = api.post(
        "/api/v1/recon/runs", json={"date": str(MONDAY), "account": "no/such"}, headers=ops
    )
    assert unknown.status_code == 404


# --- Breaks and matches -----------------------------------------------------------------------


@pytest.fixture
def unmatched(api: TestClient, books: Store, tmp_path: Path) -> dict[str, str]:
    """One payment the engine matches, and one the bank reports under its own reference: a
    statement-side break and a books-side break to match by hand."""
    ops = bearer(books, "otto", "operations")
    book(books, "E2E-1", "100.00")
    book(books, "OUR-REF-1", "250.00")
    file = camt053(
        tmp_path / "monday.xml", "STMT-1", "0.00", "350.00",
        entry("100.00", "E2E-1"), entry("250.00", "THEIR-9"),
    )  # fmt: skip
    assert post_file(api, file, ops).status_code == 201
    ran = api.post("/api/v1/recon/runs", json={"date": str(MONDAY)}, headers=ops).json()
    assert ran["matched"] == 1
    found = {row["type"]: row["break_id"] for row in ran["breaks"]}
    return {"statement": found["missing_in_books"], "books": found["missing_in_statement"]}


def test_a_break_is_shown_with_its_statement_line_and_the_posting_to_match_it_with(
    api: TestClient, books: Store, unmatched: dict[str, str]
) -> None:
    auditor = bearer(books, "carl", "auditor")
    shown = api.get(f"/api/v1/breaks/{unmatched['statement']}", headers=auditor)
    assert shown.status_code == 200, shown.text
    found = shown.json()
    assert (found["side"], found["status"], found["amount"]) == ("statement", "open", "250.00")
    assert found["statement_line"]["references"] == ["THEIR-9"]
    assert found["statement_line"]["statement_id"] == "STMT-1"
    (candidate,) = found["candidates"]
    assert candidate["break_id"] == unmatched["books"]
    assert (candidate["item"]["entry"], candidate["item"]["amount"]) == ("OUR-REF-1", "250.00")
    books_side = api.get(f"/api/v1/breaks/{unmatched['books']}", headers=auditor).json()
    assert (books_side["posting"]["entry"], books_side["statement_line"]) == ("OUR-REF-1", None)
    assert [c["break_id"] for c in books_side["candidates"]] == [unmatched["statement"]]
    missing = api.get("/api/v1/breaks/B-nope", headers=auditor)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_break")


def test_a_manual_match_resolves_both_breaks_and_is_listed_among_the_matches(
    api: TestClient, books: Store, unmatched: dict[str, str]
) -> None:
    ops = bearer(books, "olga", "operations")
    auditor = bearer(books, "carl", "auditor")
    statement_side, books_side = unmatched["statement"], unmatched["books"]
    body = {"books_break": books_side}
    forbidden = api.post(f"/api/v1/breaks/{statement_side}/match", json=body, headers=auditor)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    backwards = api.post(
        f"/api/v1/breaks/{books_side}/match", json={"books_break": statement_side}, headers=ops
    )
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_match")
    unknown = api.post("/api/v1/breaks/B-nope/match", json=body, headers=ops)
    assert unknown.status_code == 404
    matched = api.post(f"/api/v1/breaks/{statement_side}/match", json=body, headers=ops)
    assert matched.status_code == 200, matched.text
    assert api.get("/api/v1/breaks?status=open", headers=ops).json()["items"] == []
    first = api.get("/api/v1/matches?limit=1", headers=auditor).json()
    assert first["items"][0]["rule"] == "exact"
    rest = api.get(f"/api/v1/matches?after={first['next']}", headers=auditor).json()
    (manual,) = rest["items"]
    assert (manual["rule"], manual["actor"], rest["next"]) == ("manual", "olga", None)
    assert [line["references"] for line in manual["statement_lines"]] == [["THEIR-9"]]
    assert [posting["entry"] for posting in manual["postings"]] == ["OUR-REF-1"]


# --- Corrections ------------------------------------------------------------------------------


def fee_break(api: TestClient, books: Store, tmp_path: Path) -> str:
    """A receipt the bank reports and the books have, and a bank fee they lack: its break."""
    ops = bearer(books, "otto", "operations")
    book(books, "E2E-0", "100.00")
    file = camt053(
        tmp_path / "fee.xml", "STMT-1", "0.00", "95.00",
        entry("100.00", "E2E-0"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    assert post_file(api, file, ops).status_code == 201
    ran = api.post("/api/v1/recon/runs", json={"date": str(MONDAY)}, headers=ops).json()
    (found,) = ran["breaks"]
    return str(found["break_id"])


def test_a_correction_proposed_waits_is_refused_to_its_maker_and_resolves_the_break_when_approved(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    break_id = fee_break(api, books, tmp_path)
    alice = bearer(books, "alice", "supervisor")
    bob = bearer(books, "bob", "supervisor")
    body = {
        "postings": [
            {"account": NOSTRO, "amount": "-5.00"},
            {"account": FIRM_HOUSE[USD], "amount": "5.00"},
        ],
        "description": "bank fee November",
    }
    proposed = api.post(f"/api/v1/breaks/{break_id}/corrections", json=body, headers=alice)
    assert proposed.status_code == 202, proposed.text
    location = proposed.headers["location"]
    assert location == f"/api/v1/approvals/{proposed.json()['approval_id']}"
    number = proposed.json()["correction_id"]
    own = api.post(f"{location}/approve", headers=alice)
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert api.get(f"/api/v1/breaks/{break_id}", headers=bob).json()["status"] == "open"
    approved = api.post(f"{location}/approve", headers=bob)
    assert approved.json()["status"] == "approved", approved.text
    found = api.get(f"/api/v1/breaks/{break_id}", headers=bob).json()
    assert (found["status"], found["candidates"]) == ("resolved", [])
    posted = api.get(f"/api/v1/entries/recon:correction/{number}", headers=bob).json()
    assert posted["reference"] == break_id


def test_a_correction_is_refused_to_an_auditor_and_for_a_float_amount_or_an_unknown_break(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    break_id = fee_break(api, books, tmp_path)
    ops = bearer(books, "olga", "operations")
    auditor = bearer(books, "carl", "auditor")
    good = {
        "postings": [{"account": NOSTRO, "amount": "-5.00"},
                     {"account": FIRM_HOUSE[USD], "amount": "5.00"}],
        "description": "bank fee",
    }  # fmt: skip
    url = f"/api/v1/breaks/{break_id}/corrections"
    assert api.post(url, json=good, headers=auditor).status_code == 403
    floats = {**good, "postings": [{"account": NOSTRO, "amount": -5.0}] * 2}
    assert api.post(url, json=floats, headers=ops).status_code == 422
    one = {**good, "postings": good["postings"][:1]}
    assert api.post(url, json=one, headers=ops).status_code == 422
    unknown = api.post("/api/v1/breaks/B-nope/corrections", json=good, headers=ops)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_break")
    supervisor = bearer(books, "sam", "supervisor")
    assert api.get("/api/v1/approvals", headers=supervisor).json()["items"] == []


@pytest.mark.parametrize(
    ("postings", "code"),
    [
        ([(NOSTRO, "-5.001"), (FIRM_HOUSE[USD], "5.001")], "too_many_decimals"),
        ([(NOSTRO, "-5.00"), (FIRM_HOUSE[USD], "4.00")], "entry_unbalanced"),
        ([(NOSTRO, "-5.00"), ("firm/nowhere/USD", "5.00")], "unknown_account"),
    ],
    ids=["too-many-decimals", "unbalanced", "unknown-account"],
)
def test_a_correction_the_ledger_would_refuse_is_refused_when_proposed_and_parks_nothing(
    api: TestClient, books: Store, tmp_path: Path, postings: list[tuple[str, str]], code: str
) -> None:
    break_id = fee_break(api, books, tmp_path)
    ops = bearer(books, "olga", "operations")
    body = {"postings": [{"account": a, "amount": m} for a, m in postings], "description": "x"}
    refused = api.post(f"/api/v1/breaks/{break_id}/corrections", json=body, headers=ops)
    assert refused.status_code in (404, 422), refused.text
    assert code in {error["code"] for error in refused.json()["errors"]}
    supervisor = bearer(books, "sam", "supervisor")
    assert api.get("/api/v1/approvals", headers=supervisor).json()["items"] == []


def test_a_correction_that_would_not_close_its_break_is_refused_when_proposed(
    api: TestClient, books: Store, tmp_path: Path
) -> None:
    break_id = fee_break(api, books, tmp_path)
    ops = bearer(books, "olga", "operations")
    body = {
        "postings": [{"account": NOSTRO, "amount": "-4.00"},
                     {"account": FIRM_HOUSE[USD], "amount": "4.00"}],
        "description": "one dollar short",
    }  # fmt: skip
    refused = api.post(f"/api/v1/breaks/{break_id}/corrections", json=body, headers=ops)
    assert (refused.status_code, refused.json()["code"]) == (422, "correction_mismatch")
