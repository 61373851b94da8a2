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
from backoffice.formats.mt940 import read_mt940
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.recon.service import import_statements, list_breaks, list_statements, run_recon
from backoffice.refdata.model import Account, AccountType, Asset, AssetKind
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from tests.books import FIRM_BANK, USD, reference_data
from tests.conftest import SHARED
from tests.test_camt053 import balance, camt, entry, write

MONDAY = dt.date(2026, 11, 16)
TUESDAY = MONDAY + dt.timedelta(days=1)
IBAN = "DE89370400440532013000"
NOSTRO = FIRM_BANK[USD]
EURO_BANKS = ("firm/bank/EUR", "firm/bank2/EUR")
RABOBANK_IBAN = "NL71RABO0123456789"


@pytest.fixture
def books(store: Store) -> Store:
    """The standard books, the firm's USD bank account kept at IBAN."""
    return with_external_accounts(store, {NOSTRO: IBAN})


def with_external_accounts(store: Store, named: dict[str, str]) -> Store:
    """The standard books and two euro bank accounts, each account in `named` kept at the
    bank's account given there."""
    refdata = reference_data()
    refdata.assets.append(Asset("EUR", AssetKind.CURRENCY, 2, "Euro"))
    refdata.accounts += [
        Account(code, AccountType.ASSET, "EUR", "FIRM") for code in EURO_BANKS
    ]  # fmt: skip
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


# --- Statement identity -----------------------------------------------------------------------


def rabobank_file() -> Path:
    # Rabobank's MT940 export (jejik/mt940's sample): two weekly statements of one account,
    # both with :20:940S130101 and :28C:0; only their balances and dates tell them apart.
    path = SHARED / "samples" / "mt940" / "jejik" / "rabobank-iban.sta"
    if not path.is_file():
        pytest.skip(f"the shared samples are not here: {path}")
    return path


def test_two_rabobank_statements_sharing_their_20_and_28c_both_import(store: Store) -> None:
    with_external_accounts(store, {EURO_BANKS[0]: RABOBANK_IBAN})
    first, second = read_mt940(rabobank_file())
    assert first.statement_id == second.statement_id
    imported = load(store, first, second)
    assert (imported.statements, imported.lines, imported.existing) == (2, 4, 0)
    assert [row["closing_balance"] for row in list_statements(store)] == ["965.00", "930.00"]
    assert balance_breaks(store) == []


def test_the_same_rabobank_file_imported_again_is_recognised_and_stores_nothing(
    store: Store,
) -> None:
    with_external_accounts(store, {EURO_BANKS[0]: RABOBANK_IBAN})
    load(store, *read_mt940(rabobank_file()))
    again = load(store, *read_mt940(rabobank_file()))
    assert (again.statements, again.lines, again.existing) == (0, 0, 2)
    assert len(list_statements(store)) == 2


def test_a_statement_changed_under_the_same_identity_is_refused(books: Store) -> None:
    load(books, statement("REF/1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"), sequence="1"))
    # The bank's :20: differs, its number, days and opening are the same: the same statement.
    changed = statement("OTHER/1", "0.00", "90.00", line("90.00", MONDAY, "E2E-1"), sequence="1")
    problem = refusal(books, changed).problems[0]
    assert problem.code == "statement_changed"
    assert len(list_statements(books)) == 1


def test_the_same_statement_number_on_another_day_is_another_statement(books: Store) -> None:
    load(books, statement("REF/1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"), sequence="1"))
    tuesday = statement("REF/1", "100.00", "100.00", day=TUESDAY, sequence="1")
    assert load(books, tuesday).statements == 1


def test_a_statement_id_longer_than_swift_allows_is_kept_whole(books: Store) -> None:
    # Some banks send :20: past its 16 characters (issue 10); camt.053's Stmt/Id holds 35.
    long_id = "2026111600000123456789/00001/001"
    load(books, statement(long_id, "0.00", "0.00", sequence="00001/001"))
    assert [row["statement_id"] for row in list_statements(books)] == [long_id]
    assert load(books, statement(long_id, "0.00", "0.00", sequence="00001/001")).existing == 1
