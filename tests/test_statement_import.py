"""Statements into reconciliation (backoffice.recon.service.import_statements), as banks write
them: without an opening balance, with the account in the several ways :25: and <Acct> hold
it, and with statement ids that are not unique (issue 10)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from backoffice.errors import ProblemError, Source
from backoffice.formats.camt053 import read_camt053
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.recon.service import import_statements, list_breaks, list_statements, run_recon
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from tests.books import FIRM_BANK, USD, reference_data
from tests.test_camt053 import balance, camt, entry, write

MONDAY = dt.date(2026, 11, 16)
TUESDAY = MONDAY + dt.timedelta(days=1)
IBAN = "DE89370400440532013000"
NOSTRO = FIRM_BANK[USD]


@pytest.fixture
def books(store: Store) -> Store:
    """The standard books, the firm's USD bank account kept at IBAN."""
    return with_external_accounts(store, {NOSTRO: IBAN})


def with_external_accounts(store: Store, named: dict[str, str]) -> Store:
    refdata = reference_data()
    refdata.accounts = [
        dataclasses.replace(account, external_account=named.get(account.code))
        for account in refdata.accounts
    ]
    load_refdata(store, refdata, actor="test", source="tests/test_statement_import.py")
    return store


def line(amount: str, value_date: dt.date, reference: str) -> StatementLine:
    return StatementLine(
        amount=amount,
        value_date=value_date,
        booking_date=value_date,
        references=(reference,),
        description=f"line {reference}",
        source=Source("statement.sta", 7, ":61:"),
        raw=f":61:{amount}",
    )


def statement(
    statement_id: str,
    opening: str | None,
    closing: str,
    *lines: StatementLine,
    day: dt.date = MONDAY,
    account: str = IBAN,
    sequence: str | None = None,
) -> Statement:
    return Statement(
        statement_id=statement_id,
        format=StatementFormat.MT940,
        account=account,
        currency=USD,
        opening_balance=opening,
        opening_date=day if opening is not None else None,
        closing_balance=closing,
        closing_date=day,
        lines=lines,
        source=Source("statement.sta", 1),
        sequence=sequence,
    )


def load(store: Store, *statements: Statement) -> object:
    return import_statements(store, statements, source_file="statement.sta", actor="ops")


def balance_breaks(store: Store) -> list[dict[str, object]]:
    return [row for row in list_breaks(store, today=TUESDAY) if row["type"] == "balance_difference"]


def history_text(found: dict[str, object]) -> str:
    history = found["history"]
    assert isinstance(history, list)
    return " / ".join(str(event["text"]) for event in history)


def refusal(store: Store, *statements: Statement) -> ProblemError:
    with pytest.raises(ProblemError) as refused:
        load(store, *statements)
    return refused.value


# --- No opening balance -----------------------------------------------------------------------


def test_a_camt_statement_with_only_closing_balances_imports_and_its_run_says_no_opening(
    books: Store, tmp_path: Path
) -> None:
    # Deutsche Bank / ING (issue 10): a camt.053 holding only CLBD and CLAV.
    document = camt(
        "<Stmt>\n<Id>2026111600001</Id>\n<ElctrncSeqNb>221</ElctrncSeqNb>\n"
        "<CreDtTm>2026-11-16T21:04:13+01:00</CreDtTm>\n"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>USD</Ccy></Acct>\n"
        + balance("CLBD", "150.00", day="2026-11-16", currency="USD")
        + balance("CLAV", "150.00", day="2026-11-16", currency="USD")
        + entry("100.00", currency="USD", booked="<Dt>2026-11-16</Dt>", value=None)
        + "\n</Stmt>\n"
    )
    statements = read_camt053(write(tmp_path, document))
    imported = import_statements(books, statements, source_file="camt.xml", actor="ops")
    assert (imported.statements, imported.lines) == (1, 1)
    (listed,) = list_statements(books)
    assert listed["opening_balance"] is None
    ran = run_recon(books, MONDAY, actor="ops")
    (found,) = [row for row in ran.breaks if row["type"] == "balance_difference"]
    assert found["amount"] == "50.00"  # closing 150 less the line's 100, unexplained
    (listed_break,) = balance_breaks(books)
    assert listed_break["break_id"] == found["break_id"]
    assert "statement 2026111600001 gave no opening balance" in history_text(listed_break)


def test_a_statement_without_an_opening_is_compared_with_the_closing_before_it(
    books: Store,
) -> None:
    load(books, statement("STMT-1", "0.00", "40.00", line("40.00", MONDAY, "E2E-1")))
    load(books, statement("STMT-2", None, "100.00", line("60.00", TUESDAY, "E2E-2"), day=TUESDAY))
    (found,) = balance_breaks(books)
    # Closing 100 less the line's 60 implies an opening of 40: Monday's closing, so nothing is
    # unexplained, but a person still sees that the bank gave no opening.
    assert (found["amount"], found["status"]) == ("0.00", "open")


def test_a_statement_without_an_opening_imported_first_is_compared_once_its_predecessor_comes(
    books: Store,
) -> None:
    load(books, statement("STMT-2", None, "100.00", line("60.00", TUESDAY, "E2E-2"), day=TUESDAY))
    assert [row["amount"] for row in balance_breaks(books)] == ["40.00"]
    load(books, statement("STMT-1", "0.00", "30.00", line("30.00", MONDAY, "E2E-1")))
    assert [row["amount"] for row in balance_breaks(books)] == ["10.00"]
