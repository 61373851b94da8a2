"""Reference prices from a CSV file: exact prices, per-line problems, the price of a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from backoffice.errors import Problem, ProblemError
from backoffice.formats import prices_csv
from backoffice.formats.prices_csv import PriceFile, read_prices

SAP = "DE0007164600"
TOTAL = "FR0000120271"
HEADER = "isin,date,price,currency\n"


def write(tmp_path: Path, text: str | bytes, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read(tmp_path: Path, rows: str, header: str = HEADER) -> PriceFile:
    return read_prices(write(tmp_path, header + rows))


def only_problem(prices: PriceFile) -> Problem:
    (problem,) = prices.problems
    return problem


def refused(path: Path) -> Problem:
    with pytest.raises(ProblemError) as caught:
        read_prices(path)
    (problem,) = caught.value.problems
    assert problem.source.file == str(path)
    return problem


# --- Reading prices -----------------------------------------------------------------------------


def test_a_price_is_read_exactly_as_written(tmp_path: Path) -> None:
    prices = read(tmp_path, f"{SAP},2026-03-30,50.250,EUR\n")
    assert prices.problems == ()
    assert prices.count == 1
    assert prices.price_on(SAP, date(2026, 3, 30)) == ("50.250", "EUR")
    entry = prices.entry_on(SAP, date(2026, 3, 30))
    assert entry is not None
    assert (entry.day, entry.source.line) == (date(2026, 3, 30), 2)


def test_columns_may_come_in_any_order_and_case_with_extra_columns_ignored(
    tmp_path: Path,
) -> None:
    prices = read(
        tmp_path,
        f"EUR,Xetra,49.99,2026-03-30,{SAP}\n",
        header="Currency,venue,PRICE,Date, ISIN \n",
    )
    assert prices.problems == ()
    assert prices.price_on(SAP, date(2026, 3, 30)) == ("49.99", "EUR")


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    prices = read(tmp_path, f"\n{SAP},2026-03-30,50,EUR\n,,,\n")
    assert (prices.problems, prices.count) == ((), 1)


# --- The price of a day ---------------------------------------------------------------------


def test_a_day_without_its_own_price_takes_the_latest_earlier_one(tmp_path: Path) -> None:
    prices = read(
        tmp_path,
        f"{SAP},2026-04-02,49.99,EUR\n{SAP},2026-03-30,50.00,EUR\n{TOTAL},2026-04-07,60,EUR\n",
    )
    # Good Friday and Easter Monday have no price: Thursday's stands.
    assert prices.price_on(SAP, date(2026, 4, 6)) == ("49.99", "EUR")
    assert prices.price_on(SAP, date(2026, 3, 31)) == ("50.00", "EUR")
    entry = prices.entry_on(SAP, date(2026, 4, 6))
    assert entry is not None
    assert entry.day == date(2026, 4, 2)


def test_there_is_no_price_before_the_first_one_nor_for_an_unknown_isin(tmp_path: Path) -> None:
    prices = read(tmp_path, f"{SAP},2026-03-30,50.00,EUR\n")
    assert prices.price_on(SAP, date(2026, 3, 29)) is None
    assert prices.price_on(TOTAL, date(2026, 3, 30)) is None


def test_the_same_price_written_twice_is_no_problem(tmp_path: Path) -> None:
    prices = read(tmp_path, f"{SAP},2026-03-30,50.0,EUR\n{SAP},2026-03-30,50.00,EUR\n")
    assert prices.problems == ()
    assert prices.price_on(SAP, date(2026, 3, 30)) == ("50.0", "EUR")


def test_two_different_prices_for_a_day_are_a_problem_and_neither_is_used(tmp_path: Path) -> None:
    prices = read(
        tmp_path,
        f"{SAP},2026-03-27,48.00,EUR\n{SAP},2026-03-30,50.00,EUR\n{SAP},2026-03-30,51.00,EUR\n",
    )
    problem = only_problem(prices)
    assert (problem.code, problem.source.line, problem.source.field) == (
        "conflicting_price",
        4,
        "price",
    )
    assert "line 3" in problem.reason
    # Neither price, nor the older one of 27 March: the day's price is unknown, not absent.
    assert prices.price_on(SAP, date(2026, 3, 30)) is None
    assert prices.price_on(SAP, date(2026, 3, 31)) is None
    assert prices.price_on(SAP, date(2026, 3, 27)) == ("48.00", "EUR")
    assert prices.count == 1


def test_the_same_price_in_another_currency_is_a_conflict_on_the_currency(tmp_path: Path) -> None:
    prices = read(tmp_path, f"{SAP},2026-03-30,50.00,EUR\n{SAP},2026-03-30,50.00,USD\n")
    problem = only_problem(prices)
    assert (problem.code, problem.source.field) == ("conflicting_price", "currency")


# --- A line's problems ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        ("US0378331006,2026-03-30,50.00,USD", "invalid_isin", "isin"),  # check digit 5, not 6
        ("de0007164600,2026-03-30,50.00,EUR", "invalid_isin", "isin"),
        ("DE000716460,2026-03-30,50.00,EUR", "invalid_isin", "isin"),
        (f"{SAP},2026-02-30,50.00,EUR", "invalid_date", "date"),
        (f"{SAP},30/03/2026,50.00,EUR", "invalid_date", "date"),
        (f"{SAP},2026-3-30,50.00,EUR", "invalid_date", "date"),
        (f"{SAP},2026-03-30,0,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,0.000,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,-50.00,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,+50.00,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,5e1,EUR", "invalid_price", "price"),
        (f'{SAP},2026-03-30,"1,050.00",EUR', "invalid_price", "price"),
        (f"{SAP},2026-03-30,50.,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,.5,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,0.1234567891,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,NaN,EUR", "invalid_price", "price"),
        (f"{SAP},2026-03-30,50.00,eur", "invalid_currency", "currency"),
        (f"{SAP},2026-03-30,50.00,EURO", "invalid_currency", "currency"),
        (f"{SAP},2026-03-30,50.00,XYZ", "unknown_currency", "currency"),
        (f"{SAP},,50.00,EUR", "missing_field", "date"),
        (f"{SAP},2026-03-30,{'1' * 65},EUR", "invalid_field", "price"),
    ],
)
def test_a_bad_value_is_reported_with_its_line_and_column(
    tmp_path: Path, row: str, code: str, field: str
) -> None:
    prices = read(tmp_path, f"{TOTAL},2026-03-30,60.00,EUR\n{row}\n")
    problem = only_problem(prices)
    assert (problem.code, problem.source.line, problem.source.field) == (code, 3, field)
    assert problem.source.file == str(tmp_path / "prices.csv")
    assert prices.count == 1  # the good line is kept


def test_the_reason_says_why_a_price_is_refused(tmp_path: Path) -> None:
    zero = only_problem(read(tmp_path, f"{SAP},2026-03-30,0.00,EUR\n"))
    assert "greater than zero" in zero.reason
    long = only_problem(read(tmp_path, f"{SAP},2026-03-30,1.1234567891,EUR\n"))
    assert "more than 9 decimals" in long.reason
    plain = only_problem(read(tmp_path, f"{SAP},2026-03-30,1e3,EUR\n"))
    assert "plain decimal" in plain.reason


def test_every_problem_of_a_line_is_reported_at_once(tmp_path: Path) -> None:
    prices = read(tmp_path, "US0378331006,2026-02-30,-1,eur\n")
    assert [(p.code, p.source.field) for p in prices.problems] == [
        ("invalid_isin", "isin"),
        ("invalid_date", "date"),
        ("invalid_price", "price"),
        ("invalid_currency", "currency"),
    ]


def test_a_line_with_the_wrong_number_of_fields_is_reported_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    prices = read(tmp_path, f"{SAP},2026-03-30,50.00\n{TOTAL},2026-03-30,60.00,EUR\n")
    problem = only_problem(prices)
    assert (problem.code, problem.source.line) == ("wrong_column_count", 2)
    assert prices.price_on(TOTAL, date(2026, 3, 30)) == ("60.00", "EUR")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (f'{SAP},2026-03-30,"50.00"x,EUR\n'.encode(), "malformed_row"),
        (f'{SAP},2026-03-30,"50.00,EUR\n{TOTAL},2026-03-30,60,EUR\n'.encode(), "unclosed_quote"),
        (f'{SAP},2026-03-30,"50.00,EUR'.encode(), "truncated_row"),
        (f"{SAP},2026-03-30,50.00,EUR\x01\n".encode(), "binary_line"),
        (f"{SAP},2026-03-30,50.00,".encode() + b"\xff\xfe\n", "not_utf8"),
        (f"{SAP},2026-03-30,{'1' * 5000},EUR\n".encode(), "line_too_long"),
    ],
)
def test_an_unreadable_line_is_reported_and_reading_goes_on(
    tmp_path: Path, line: bytes, code: str
) -> None:
    # Past the first 8 KiB, so that the file as a whole is judged text.
    padding = "".join(f"{TOTAL},2026-01-{day:02d},60.00,EUR\n" for day in range(1, 29)) * 12
    path = write(tmp_path, HEADER.encode() + padding.encode() + line)
    prices = read_prices(path)
    assert [problem.code for problem in prices.problems] == [code]
    assert prices.problems[0].source.line == 2 + 28 * 12


# --- A file that is not a prices CSV ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"\n\n", "empty_file"),
        (b"isin,date,price,currency\x00\n", "binary_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"),
        (b"\xff\xfei\x00s\x00", "not_utf8"),
        (b"isin,date,price,currency\n" + b"\xe9t\xe9\n", "not_utf8"),
        (b"isin,date,price\n", "missing_column"),
        (b"security,day,value,ccy\n", "missing_header"),
        (b"isin;date;price;currency\n", "wrong_delimiter"),
        (b"isin,date,price,currency,ISIN\n", "duplicate_column"),
        (b'{"isin": "DE0007164600"}\n', "not_a_csv"),
        (b"8=FIX.4.4|9=5|35=0|10=000|\n", "not_a_csv"),
        (b"just one line of prose\n", "not_a_csv"),
        (b"isin,date,price,currency" + b",x" * 40_000 + b"\n", "line_too_long"),
    ],
)
def test_a_file_that_is_not_a_prices_csv_is_refused_naming_the_file(
    tmp_path: Path, content: bytes, code: str
) -> None:
    assert refused(write(tmp_path, content)).code == code


def test_a_missing_file_is_refused_as_unreadable(tmp_path: Path) -> None:
    assert refused(tmp_path / "absent.csv").code == "unreadable_file"


def test_a_file_over_the_row_limit_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prices_csv, "rows_per_file_max", 2)
    rows = "".join(f"{SAP},2026-03-{day:02d},50.00,EUR\n" for day in (23, 24, 25))
    problem = refused(write(tmp_path, HEADER + rows))
    assert (problem.code, problem.source.line) == ("too_many_rows", 4)
