"""Bank statements from CSV files (backoffice.formats.statement_csv): the default columns, other
mappings, and every problem of a file listed at once."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError, Source
from backoffice.formats.statement_csv import AmountMode, CsvMapping, read_statement_csv
from backoffice.recon.model import Statement, StatementFormat

HEADER = "record,statement_id,account,currency,value_date,booking_date,amount,reference,description"
IBAN = "DE89370400440532013000"


def write(directory: Path, text: str, name: str = "statement.csv") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_file(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def row(
    record: str,
    amount: str,
    *,
    statement_id: str = "S-1",
    account: str = IBAN,
    currency: str = "EUR",
    value_date: str = "2026-11-24",
    booking_date: str = "",
    reference: str = "",
    description: str = "",
) -> str:
    return ",".join(
        (record, statement_id, account, currency, value_date, booking_date, amount, reference,
         description)
    )  # fmt: skip


OPENING = row("opening", "1000.00", value_date="2026-11-23")
CLOSING = row("closing", "987.50")


def read_one(directory: Path, text: str, mapping: CsvMapping | None = None) -> Statement:
    [statement] = read_statement_csv(write(directory, text), mapping)
    return statement


def problems_of(
    directory: Path, text: str, mapping: CsvMapping | None = None
) -> list[tuple[str, int | None, str | None]]:
    with pytest.raises(ProblemError) as raised:
        read_statement_csv(write(directory, text), mapping)
    return [(p.code, p.source.line, p.source.field) for p in raised.value.problems]


# --- the default columns ----------------------------------------------------------------------


def test_a_statement_has_its_balances_and_its_lines_in_file_order(tmp_path: Path) -> None:
    text = csv_file(
        OPENING,
        row("line", "-12.50", booking_date="2026-11-23", reference="E2E-1", description="Fee"),
        row("line", "0.00001", reference="", description='"Tiny,  rest"'),
        CLOSING,
    )
    statement = read_one(tmp_path, text)
    assert (statement.statement_id, statement.format, statement.account, statement.currency) == (
        "S-1", StatementFormat.CSV, IBAN, "EUR",
    )  # fmt: skip
    assert (statement.opening_balance, statement.opening_date) == ("1000.00", dt.date(2026, 11, 23))
    assert (statement.closing_balance, statement.closing_date) == ("987.50", dt.date(2026, 11, 24))
    fee, rest = statement.lines
    assert (fee.amount, fee.value_date, fee.booking_date) == (
        "-12.50", dt.date(2026, 11, 24), dt.date(2026, 11, 23),
    )  # fmt: skip
    assert (fee.references, fee.description) == (("E2E-1",), "Fee")
    assert (rest.amount, rest.booking_date, rest.references, rest.description) == (
        "0.00001", None, (), "Tiny, rest",
    )  # fmt: skip
    assert (fee.source.line, fee.raw) == (3, text.splitlines()[2])
    assert statement.source.line == 2


def test_the_account_is_read_at_the_statements_first_row(tmp_path: Path) -> None:
    earlier = (
        row("opening", "0.00", statement_id="S-0"),
        row("closing", "0.00", statement_id="S-0"),
    )
    text = csv_file(*earlier, OPENING, row("line", "5.00"), CLOSING)
    _, statement = read_statement_csv(write(tmp_path, text))
    assert statement.account_source == Source(str(tmp_path / "statement.csv"), 4, "account")


def test_rows_are_grouped_by_statement_in_the_order_statements_first_come(tmp_path: Path) -> None:
    text = csv_file(
        row("line", "5", statement_id="B"),
        OPENING,
        row("opening", "0", statement_id="B"),
        row("line", "7", statement_id="A", description="first of A"),
        row("closing", "5", statement_id="B"),
        row("closing", "1007", statement_id="A"),
    ).replace("S-1", "A")
    first, second = read_statement_csv(write(tmp_path, text))
    assert (first.statement_id, [line.amount for line in first.lines]) == ("B", ["5"])
    assert (second.statement_id, [line.amount for line in second.lines]) == ("A", ["7"])


@settings(max_examples=50, deadline=None)
@given(
    sign=st.sampled_from(["", "-", "+"]),
    amount=st.from_regex(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,5})?", fullmatch=True),
)
def test_an_amount_round_trips_exactly(sign: str, amount: str) -> None:
    text = csv_file(OPENING, row("line", f"{sign}{amount}"), CLOSING)
    with tempfile.TemporaryDirectory() as directory:
        [line] = read_one(Path(directory), text).lines
    zero = not amount.replace(".", "").strip("0")
    assert line.amount == (f"-{amount}" if sign == "-" and not zero else amount)


def test_a_balance_row_without_value_date_is_dated_by_its_booking_date(tmp_path: Path) -> None:
    text = csv_file(row("opening", "1", value_date="", booking_date="2026-11-20"), CLOSING)
    assert read_one(tmp_path, text).opening_date == dt.date(2026, 11, 20)


def test_record_types_are_read_whatever_their_case(tmp_path: Path) -> None:
    text = csv_file(OPENING.replace("opening", "Opening"), CLOSING.replace("closing", "CLOSING"))
    assert read_one(tmp_path, text).lines == ()


# --- other mappings ---------------------------------------------------------------------------


def test_a_mapping_reads_other_column_names_dates_and_decimal_commas(tmp_path: Path) -> None:
    mapping = CsvMapping(
        record="Art", statement_id="Auszug", account="Konto", currency="Waehrung",
        value_date="Valuta", booking_date="Buchungstag", amount="Betrag",
        reference="Referenz", description="Verwendungszweck",
        date_format="%d.%m.%Y", decimal_comma=True,
    )  # fmt: skip
    text = csv_file(
        f'opening,A-7,{IBAN},EUR,23.11.2026,,"1234,5",,',
        f'line,A-7,{IBAN},EUR,24.11.2026,24.11.2026,"-0,00001",RF18,Miete November',
        f'closing,A-7,{IBAN},EUR,24.11.2026,,"1234,49999",,',
        header="Art,Auszug,Konto,Waehrung,Valuta,Buchungstag,Betrag,Referenz,Verwendungszweck",
    )
    statement = read_one(tmp_path, text, mapping)
    assert (statement.opening_balance, statement.closing_balance) == ("1234.5", "1234.49999")
    [line] = statement.lines
    assert (line.amount, line.value_date, line.references, line.description) == (
        "-0.00001", dt.date(2026, 11, 24), ("RF18",), "Miete November",
    )  # fmt: skip


DEBIT_CREDIT = CsvMapping(amount_mode=AmountMode.DEBIT_CREDIT)
DEBIT_CREDIT_HEADER = "record,statement_id,account,currency,value_date,debit,credit"


def debit_credit_row(record: str, debit: str, credit: str) -> str:
    return f"{record},S-1,{IBAN},EUR,2026-11-24,{debit},{credit}"


def test_separate_debit_and_credit_columns_give_the_sign(tmp_path: Path) -> None:
    text = csv_file(
        debit_credit_row("opening", "50.00", ""),
        debit_credit_row("line", "12.50", ""),
        debit_credit_row("line", "", "100"),
        debit_credit_row("line", "0.00", ""),
        debit_credit_row("closing", "", "37.50"),
        header=DEBIT_CREDIT_HEADER,
    )
    statement = read_one(tmp_path, text, DEBIT_CREDIT)
    assert statement.opening_balance == "-50.00"  # an overdraft
    assert [line.amount for line in statement.lines] == ["-12.50", "100", "0.00"]


def test_debit_and_credit_columns_take_one_unsigned_amount_a_row(tmp_path: Path) -> None:
    text = csv_file(
        debit_credit_row("opening", "", "1"),
        debit_credit_row("line", "1", "2"),
        debit_credit_row("line", "", ""),
        debit_credit_row("line", "-3", ""),
        debit_credit_row("closing", "", "1"),
        header=DEBIT_CREDIT_HEADER,
    )
    assert problems_of(tmp_path, text, DEBIT_CREDIT) == [
        ("invalid_field", 3, "credit"),
        ("missing_field", 4, "credit"),
        ("invalid_amount", 5, "debit"),
    ]


def test_a_debit_credit_indicator_column_gives_the_sign(tmp_path: Path) -> None:
    mapping = CsvMapping(amount_mode=AmountMode.INDICATOR, indicator="D/C")
    header = "record,statement_id,account,currency,value_date,amount,d/c"
    text = csv_file(
        f"opening,S-1,{IBAN},EUR,2026-11-23,10,C",
        f"line,S-1,{IBAN},EUR,2026-11-24,4.5,D",
        f"line,S-1,{IBAN},EUR,2026-11-24,1,crdt",
        f"line,S-1,{IBAN},EUR,2026-11-24,1,X",
        f"closing,S-1,{IBAN},EUR,2026-11-24,6.5,CR",
        header=header,
    )
    assert problems_of(tmp_path, text, mapping) == [("invalid_field", 5, "d/c")]
    lines = text.splitlines()
    del lines[4]
    statement = read_one(tmp_path, "\n".join(lines) + "\n", mapping)
    assert [line.amount for line in statement.lines] == ["-4.5", "1"]


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        (CsvMapping(reference="amount"), "several values"),
        (CsvMapping(date_format="%d.%m"), "date format"),
        (CsvMapping(date_format="%Q"), "date format"),
        (CsvMapping(account=" "), "empty"),
    ],
)
def test_a_mapping_that_cannot_be_read_by_is_refused(
    tmp_path: Path, mapping: CsvMapping, reason: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        read_statement_csv(write(tmp_path, csv_file(OPENING, CLOSING)), mapping)
    [problem] = raised.value.problems
    assert problem.code == "invalid_mapping"
    assert reason in problem.reason


# --- every problem, with its line and column --------------------------------------------------


def test_every_problem_of_the_file_is_listed_with_its_line_and_column(tmp_path: Path) -> None:
    text = csv_file(
        OPENING,
        row("line", "12.5.0"),
        row("line", "1,234.50"),
        row("line", "3", value_date="24/11/2026"),
        row("line", "3", currency="USD"),
        row("line", "3", account="DE02120300000000202051"),
        row("opening", "2"),
        row("balance", "2"),
        row("line", "3", value_date=""),
        row("line", "4", currency="euro"),
        CLOSING,
        row("line", "1", statement_id="S-2"),
    )
    assert problems_of(tmp_path, text) == [
        ("invalid_amount", 3, "amount"),
        ("wrong_column_count", 4, None),
        ("invalid_date", 5, "value_date"),
        ("mixed_currencies", 6, "currency"),
        ("mixed_accounts", 7, "account"),
        ("duplicate_balance", 8, "record"),
        ("invalid_field", 9, "record"),
        ("missing_field", 10, "value_date"),
        ("invalid_currency", 11, "currency"),
        ("missing_balance", 13, "record"),
        ("missing_balance", 13, "record"),
    ]


def test_a_thousands_separator_is_not_guessed_at(tmp_path: Path) -> None:
    text = csv_file(OPENING, row("line", '"1,234.50"'), CLOSING)
    assert problems_of(tmp_path, text) == [("invalid_amount", 3, "amount")]


def test_a_balance_without_any_date_is_refused(tmp_path: Path) -> None:
    text = csv_file(row("opening", "1", value_date=""), CLOSING)
    assert problems_of(tmp_path, text) == [("missing_field", 2, "value_date")]


# --- the whole file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (HEADER.encode() + b"\n", "empty_file"),
        (b"record,statement_id\x00\n", "binary_file"),
        ("record,statement_id,é\n".encode("latin-1"), "not_utf8"),
        (b"record,statement_id,account,currency,value_date\n", "missing_column"),
        (HEADER.replace(",", ";").encode() + b"\n", "wrong_delimiter"),
        (b"<Document/>\n", "not_a_csv"),
    ],
)
def test_a_file_that_is_not_a_statement_csv_is_refused_whole(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "statement.csv"
    path.write_bytes(content)
    with pytest.raises(ProblemError) as raised:
        read_statement_csv(path)
    [problem] = raised.value.problems
    assert (problem.code, problem.source.file) == (code, str(path))


def test_a_bad_line_refuses_the_whole_file(tmp_path: Path) -> None:
    text = csv_file(OPENING, row("line", "1") + ',"open', CLOSING)
    assert problems_of(tmp_path, text) == [("unclosed_quote", 3, None)]


def test_a_file_of_more_problems_than_listed_counts_the_rest_in_its_last_problem(
    tmp_path: Path,
) -> None:
    # A bank's export gone wrong: every amount with a thousands separator, no balance rows.
    rows = [row("line", "1'000.00", reference=f"E2E-{n}") for n in range(250)]
    with pytest.raises(ProblemError) as refused:
        read_statement_csv(write(tmp_path, csv_file(*rows)))
    problems = refused.value.problems
    assert len(problems) == 101
    assert {problem.code for problem in problems[:100]} == {"invalid_amount"}
    assert problems[-1].code == "too_many_problems"
    # 250 amounts and the two missing balances, less the 100 listed.
    assert problems[-1].reason == "152 more problems not listed"
