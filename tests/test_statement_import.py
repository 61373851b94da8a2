"""Statements into reconciliation (backoffice.recon.statement_service.import_statements), as
banks write them: without an opening balance, with the account in the several ways :25: and
<Acct> hold it, and with statement ids that are not unique (issue 10)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import ProblemError, Source
from backoffice.formats.camt053 import read_camt053
from backoffice.formats.mt940 import read_mt940
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.recon.queries import list_breaks, list_statements
from backoffice.recon.run_service import run_recon
from backoffice.recon.statement_service import account_part, import_statements
from backoffice.refdata.model import Account, AccountType, Asset, AssetKind
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
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


# --- Account identification -------------------------------------------------------------------


def euro_statement(account: str) -> Statement:
    return dataclasses.replace(
        statement("STMT-1/1", "0.00", "0.00", account=account, sequence="1"), currency="EUR"
    )


def reconciled_account(store: Store, account: str) -> str:
    load(store, euro_statement(account))
    (listed,) = list_statements(store)
    with store.read() as connection:
        code = connection.execute(
            sa.select(schema.accounts.c.code)
            .join(schema.statements, schema.statements.c.account_id == schema.accounts.c.id)
            .where(schema.statements.c.statement_id == listed["statement_id"])
        ).scalar_one()
    return str(code)


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("NL71RABO0123456789", "NL71RABO0123456789"),  # an IBAN (Rabobank's :25:)
        ("RABONL2U/NL71RABO0123456789", "NL71RABO0123456789"),  # BIC/account (Triodos)
        ("50010517/0123456789", "0123456789"),  # bank code/account (German banks)
        ("0123456789/EUR", "0123456789"),  # account/currency
    ],
    ids=["IBAN", "BIC/account", "bankcode/account", "account/currency"],
)
def test_a_statement_finds_the_ledger_account_kept_at_its_account_part(
    store: Store, written: str, kept: str
) -> None:
    with_external_accounts(store, {EURO_BANKS[0]: kept})
    assert reconciled_account(store, written) == EURO_BANKS[0]


def test_the_account_exactly_as_written_wins_over_its_account_part(store: Store) -> None:
    with_external_accounts(
        store, {EURO_BANKS[0]: "0123456789", EURO_BANKS[1]: "50010517/0123456789"}
    )
    assert reconciled_account(store, "50010517/0123456789") == EURO_BANKS[1]


def test_two_ledger_accounts_at_one_account_part_are_ambiguous_and_nothing_is_stored(
    store: Store,
) -> None:
    with_external_accounts(store, {EURO_BANKS[0]: "0123456789", EURO_BANKS[1]: "0123456789"})
    problem = refusal(store, euro_statement("50010517/0123456789")).problems[0]
    assert problem.code == "ambiguous_account"
    assert EURO_BANKS[0] in problem.reason
    assert EURO_BANKS[1] in problem.reason
    assert list_statements(store) == []


def test_a_three_letter_part_that_is_no_currency_is_not_taken_for_one(store: Store) -> None:
    # "ABC" after the slash is no ISO currency: it is the account part, not "0123456789".
    with_external_accounts(store, {EURO_BANKS[0]: "0123456789"})
    assert refusal(store, euro_statement("0123456789/ABC")).problems[0].code == "unknown_account"


# --- Where an unknown account was read --------------------------------------------------------


def test_an_unknown_mt940_account_names_the_25_field_and_its_line(
    books: Store, tmp_path: Path
) -> None:
    # A German bank's MT940 (Postbank's layout): bank code/account in :25:.
    path = tmp_path / "postbank.sta"
    path.write_text(
        ":20:STARTUMS\n:25:50010517/0123456789\n:28C:00001/001\n"
        ":60F:C261116USD0,00\n:62F:C261116USD0,00\n-\n",
        encoding="utf-8",
    )
    statements = read_mt940(path)
    with pytest.raises(ProblemError) as refused:
        import_statements(books, statements, source_file=str(path), actor="ops")
    (problem,) = refused.value.problems
    assert (problem.code, problem.source) == ("unknown_account", Source(str(path), 2, ":25:"))
    assert "50010517/0123456789" in problem.reason


def test_an_unknown_camt_account_names_the_acct_element_and_its_line(
    books: Store, tmp_path: Path
) -> None:
    document = camt(
        "<Stmt>\n<Id>STMT-1</Id>\n<CreDtTm>2026-11-16T21:04:13+01:00</CreDtTm>\n<Acct>\n"
        "<Id><IBAN>GB29NWBK60161331926819</IBAN></Id>\n<Ccy>USD</Ccy></Acct>\n"
        + balance("OPBD", "0.00", currency="USD")
        + balance("CLBD", "0.00", currency="USD")
        + "\n</Stmt>\n"
    )
    path = write(tmp_path, document)
    with pytest.raises(ProblemError) as refused:
        import_statements(books, read_camt053(path), source_file=str(path), actor="ops")
    (problem,) = refused.value.problems
    iban_line = document[: document.index("<IBAN>")].count("\n") + 1
    assert (problem.code, problem.source) == (
        "unknown_account",
        Source(str(path), iban_line, "/Document/BkToCstmrStmt/Stmt[1]/Acct/Id/IBAN"),
    )


# --- Amounts as banks write them --------------------------------------------------------------


def test_a_camt_amount_with_a_trailing_zero_past_the_currency_scale_imports(
    store: Store, tmp_path: Path
) -> None:
    # Issue 10: <Amt Ccy="EUR">18.150</Amt>, three decimals for a two-decimal currency, the
    # last a zero: exactly 18.15, so nothing is rounded away.
    with_external_accounts(store, {EURO_BANKS[0]: IBAN})
    document = camt(
        "<Stmt>\n<Id>STMT-1</Id>\n<CreDtTm>2026-11-16T21:04:13+01:00</CreDtTm>\n"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
        + balance("OPBD", "0.00")
        + balance("CLBD", "18.150")
        + entry("18.150")
        + "\n</Stmt>\n"
    )
    statements = read_camt053(write(tmp_path, document))
    assert [line.amount for line in statements[0].lines] == ["18.150"]
    import_statements(store, statements, source_file="camt.xml", actor="ops")
    (listed,) = list_statements(store)
    assert (listed["closing_balance"], listed["lines"][0]["amount"]) == ("18.15", "18.15")


def test_a_statement_number_longer_than_the_store_holds_is_refused_not_a_database_error(
    books: Store,
) -> None:
    # camt.053.001.05 to .07 are read without a schema: nothing bounds their ElctrncSeqNb.
    too_long = "9" * 81
    problem = refusal(books, statement("STMT-1", "0.00", "0.00", sequence=too_long)).problems[0]
    assert (problem.code, problem.source) == ("invalid_field", Source("statement.sta", 1))
    assert list_statements(books) == []


# --- The account part, for any account ------------------------------------------------------

_ACCOUNT_NUMBERS = st.text(alphabet="0123456789", min_size=1, max_size=34)


@given(account=_ACCOUNT_NUMBERS, currency=st.sampled_from(["EUR", "USD", "CHF", "GBP", "JPY"]))
def test_the_account_part_of_account_and_currency_is_the_account(
    account: str, currency: str
) -> None:
    assert account_part(f"{account}/{currency}") == account


@given(
    account=_ACCOUNT_NUMBERS,
    before=st.one_of(
        st.text(alphabet="0123456789", min_size=8, max_size=8), st.just("COBADEFFXXX")
    ),
)
def test_the_account_part_after_a_bank_code_or_bic_is_the_account(
    account: str, before: str
) -> None:
    assert account_part(f"{before}/{account}") == account


@given(written=st.text(alphabet=st.characters(exclude_characters="/"), max_size=40))
def test_an_account_written_without_a_slash_has_no_account_part(written: str) -> None:
    assert account_part(written) is None
