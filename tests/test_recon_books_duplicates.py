"""A payment posted twice in the books that the bank shows once: one `duplicate` break on the
books side, naming the entry it repeats, closed by reversing the duplicate (SQLite and
PostgreSQL)."""

from __future__ import annotations

import dataclasses

import pytest

from backoffice.ledger.model import EntryOutcome, EntryRequest
from backoffice.ledger.service import post_entries
from backoffice.recon.queries import list_breaks
from backoffice.recon.run_service import run_recon
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from tests.books import reference_data
from tests.test_recon_service import IBAN, MONDAY, NOSTRO, TUESDAY, book, line, load, statement


@pytest.fixture
def books(store: Store) -> Store:
    """The standard books, the firm's USD bank account kept at IBAN."""
    refdata = reference_data()
    refdata.accounts = [
        dataclasses.replace(account, external_account=IBAN if account.code == NOSTRO else None)
        for account in refdata.accounts
    ]
    load_refdata(store, refdata, actor="test", source="tests/test_recon_books_duplicates.py")
    return store


def posted_twice(store: Store) -> None:
    """A receipt of 250.00 posted by one clerk and again by another (other idempotency keys),
    and Monday's camt.053 with the one credit the bank booked."""
    book(store, "receipt-1", "250.00", reference="E2E-1")
    book(store, "receipt-1-again", "250.00", reference="E2E-1")
    load(store, statement("STMT-1", "0.00", "250.00", line("250.00", MONDAY, "E2E-1")))


def test_an_entry_posted_twice_against_one_statement_line_is_one_duplicate_break(
    books: Store,
) -> None:
    posted_twice(books)
    result = run_recon(books, MONDAY, actor="ops")
    assert result.matched == 1
    assert [(row["type"], row["amount"], row["reference"]) for row in result.breaks] == [
        ("duplicate", "250.00", "E2E-1")
    ]
    (listed,) = list_breaks(books)
    assert listed["break_id"] == result.breaks[0]["break_id"]
    assert listed["break_id"].startswith("BRK-B")
    assert listed["other_entry"] == "receipt-1"
    (opened,) = listed["history"]
    assert "'receipt-1-again' repeats entry 'receipt-1'" in opened["text"]


def test_a_books_duplicate_stays_one_break_when_the_run_is_repeated(books: Store) -> None:
    posted_twice(books)
    first = run_recon(books, MONDAY, actor="ops").breaks
    again = run_recon(books, MONDAY, actor="ops").breaks
    assert first == again
    assert [row["type"] for row in again] == ["duplicate"]
    assert len(list_breaks(books)) == 1


def test_reversing_the_duplicate_entry_closes_its_break(books: Store) -> None:
    posted_twice(books)
    (found,) = run_recon(books, MONDAY, actor="ops").breaks
    undo = EntryRequest(key="receipt-1-again/undo", effective_date=None, reverse="receipt-1-again")
    (reversed_,) = post_entries(books, [undo], actor="ops").results
    assert reversed_.outcome is EntryOutcome.CREATED, reversed_.problems
    load(books, statement("STMT-2", "250.00", "250.00", day=TUESDAY))
    result = run_recon(books, TUESDAY, actor="ops")
    assert result.breaks == []
    assert result.closed == 1
    (closed,) = list_breaks(books)
    assert (closed["break_id"], closed["status"]) == (found["break_id"], "resolved")
    assert "reversed" in closed["resolution"]
    # Nothing comes back the day after.
    assert run_recon(books, TUESDAY, actor="ops").breaks == []


def test_a_reversed_entry_the_bank_shows_with_its_return_matches_the_banks_lines(
    books: Store,
) -> None:
    # Received and sent back: the bank books both (camt.053 RTRN), so both lines match.
    book(books, "receipt-1", "90.00", reference="E2E-5")
    undo = EntryRequest(key="receipt-1/return", effective_date=None, reverse="receipt-1")
    assert post_entries(books, [undo], actor="ops").results[0].outcome is EntryOutcome.CREATED
    load(
        books,
        statement(
            "STMT-1", "0.00", "0.00",
            line("90.00", MONDAY, "E2E-5"), line("-90.00", MONDAY, "receipt-1/return"),
        ),
    )  # fmt: skip
    result = run_recon(books, MONDAY, actor="ops")
    assert (result.matched, result.breaks) == (2, [])


def test_an_entry_and_its_reversal_the_bank_never_saw_are_no_break(books: Store) -> None:
    book(books, "receipt-2", "90.00", reference="E2E-6")
    undo = EntryRequest(key="receipt-2/undo", effective_date=None, reverse="receipt-2")
    assert post_entries(books, [undo], actor="ops").results[0].outcome is EntryOutcome.CREATED
    load(books, statement("STMT-1", "0.00", "0.00"))
    assert run_recon(books, MONDAY, actor="ops").breaks == []
