"""Reference prices from a CSV file: a header line, then one price per security and day.

Columns (any order, names case-insensitive, extra columns ignored): isin, date (YYYY-MM-DD),
price (a plain positive decimal such as 50.25, at most 9 decimals, kept exactly as written) and
currency (an ISO 4217 code). CSDR cash penalties value a fail at the reference price of each
business day (Delegated Regulation (EU) 2017/389, Article 3(1)); `PriceFile.price_on` gives it.

A file that cannot be read as such a CSV is refused whole with a `ProblemError` naming the file
(the codes of `backoffice.formats.trades_csv.read_header`, whose checks this reader shares, and
`too_many_rows`). Each bad line is left out and reported as `Problem`s with the file, line and
column, every problem of the line at once; reading goes on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from backoffice.error_codes import ErrorCode
from backoffice.errors import InvariantViolation, Problem, Source
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.fix_log import valid_isin
from backoffice.formats.trades_csv import (
    Bad,
    CsvHeader,
    CsvRow,
    column_count_problem,
    csv_rows,
    field_value,
    read_header,
    row_fields,
)
from backoffice.refdata.model import currency_minor_units
from backoffice.trades.charges import parse_price, price_decimals_max

REQUIRED_COLUMNS = ("isin", "date", "price", "currency")
line_bytes_max = 4 * 1024  # a price line is short: anything longer is not one
# Every price is held in memory: 10,000 securities over 100 days.
rows_per_file_max = 1_000_000

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    """One security's reference price for one day, as written in the file."""

    isin: str
    day: dt.date
    price: str  # a plain positive decimal, exactly as written ("50.250" stays "50.250")
    currency: str
    source: Source


# Per ISIN: the days with a price, increasing, and each day's price; None where the file gives
# two different prices for the day, so that no one of them is used.
_Index = Mapping[str, tuple[tuple[dt.date, ...], tuple[ReferencePrice | None, ...]]]


@dataclass(frozen=True, slots=True)
class PriceFile:
    """The prices read from one file, and the problems of the lines left out."""

    file: str
    problems: tuple[Problem, ...]
    _index: _Index = field(repr=False)

    @property
    def count(self) -> int:
        """How many (ISIN, day) prices the file holds, conflicting days excluded."""
        return sum(
            sum(entry is not None for entry in entries) for _, entries in self._index.values()
        )

    def entry_on(self, isin: str, day: dt.date) -> ReferencePrice | None:
        """The price of `isin` for `day`: the day's own, else the latest earlier one; or None.

        CSDR values a fail at the reference price of each business day. A security that has no
        price on a day (no trading, a holiday of its market) keeps its latest earlier price, as
        a closing price stands until the next one; the entry's `day` says which day it is from,
        so a report can show a stale price. None when the file has no price for `isin` on or
        before `day`, or when the latest such day has two different prices in the file (a
        conflicting price is never replaced by an older one).
        """
        found = self._index.get(isin)
        if found is None:
            return None
        days, entries = found
        position = bisect.bisect_right(days, day) - 1
        return entries[position] if position >= 0 else None

    def price_on(self, isin: str, day: dt.date) -> tuple[str, str] | None:
        """(price text, currency) of `entry_on(isin, day)`, or None."""
        entry = self.entry_on(isin, day)
        return None if entry is None else (entry.price, entry.currency)


def read_prices(path: Path) -> PriceFile:
    """Every reference price of a prices CSV, with a `Problem` for each line left out.

    Raises `ProblemError` when the file is not such a CSV: `unreadable_file`, `empty_file`,
    `binary_file`, `not_utf8`, `not_a_csv`, `missing_header`, `wrong_delimiter`,
    `missing_column`, `duplicate_column`, `line_too_long` (the header) or `too_many_rows`
    (more than `rows_per_file_max`). A line's problems: `line_too_long`, `not_utf8`,
    `binary_line`, `malformed_row`, `unclosed_quote`, `truncated_row`, `wrong_column_count`,
    `missing_field`, `invalid_field` (a value over 64 characters), `invalid_isin` (format or
    check digit), `invalid_date`, `invalid_price` (not a plain decimal, zero, or more than 9
    decimals), `invalid_currency` (not three capital letters), `unknown_currency` (not in ISO
    4217) and `conflicting_price` (a second, different price or currency for an ISIN and day
    already read; the same price written again is no problem).
    """
    header = read_header(path, REQUIRED_COLUMNS, what="a reference prices CSV")
    problems: list[Problem] = []
    by_key: dict[tuple[str, dt.date], ReferencePrice] = {}
    conflicting: set[tuple[str, dt.date]] = set()
    for row in csv_rows(path, header, line_bytes_max, rows_per_file_max):
        if row is None:
            continue
        if isinstance(row, RejectedMessage):
            problems.extend(row.problems)
            continue
        read = _price(row, header)
        if not isinstance(read, ReferencePrice):
            problems.extend(read)
            continue
        key = (read.isin, read.day)
        earlier = by_key.get(key)
        if earlier is None:
            by_key[key] = read
        elif _value(earlier) != _value(read):
            conflicting.add(key)
            column = "price" if earlier.currency == read.currency else "currency"
            problems.append(
                Problem(
                    "conflicting_price",
                    f"{read.isin} on {read.day} is {read.price} {read.currency} here but "
                    f"{earlier.price} {earlier.currency} on line {earlier.source.line}: "
                    "neither is used",
                    row.source(column),
                )
            )
    return PriceFile(header.file, tuple(problems), _index(by_key, conflicting))


def _index(
    by_key: dict[tuple[str, dt.date], ReferencePrice], conflicting: set[tuple[str, dt.date]]
) -> _Index:
    grouped: dict[str, list[tuple[dt.date, ReferencePrice | None]]] = {}
    for (isin, day), entry in by_key.items():
        grouped.setdefault(isin, []).append((day, None if (isin, day) in conflicting else entry))
    index: dict[str, tuple[tuple[dt.date, ...], tuple[ReferencePrice | None, ...]]] = {}
    for isin, entries in grouped.items():
        entries.sort(key=lambda item: item[0])
        index[isin] = (tuple(day for day, _ in entries), tuple(entry for _, entry in entries))
    return MappingProxyType(index)


def _value(entry: ReferencePrice) -> tuple[int, int, str]:
    """The price as a number (trailing zeros dropped, so 50.0 equals 50.00) and its currency."""
    parsed = parse_price(entry.price)
    if parsed is None:
        raise InvariantViolation(f"a price kept from the file does not parse: {entry!r}")
    mantissa, decimals = parsed
    while decimals > 0 and mantissa % 10 == 0:
        mantissa //= 10
        decimals -= 1
    return (mantissa, decimals, entry.currency)


def _price(row: CsvRow, header: CsvHeader) -> ReferencePrice | list[Problem]:
    count_problem = column_count_problem(row, header)
    if count_problem is not None:
        # Fields out of line with the header would be judged under the wrong columns.
        return [count_problem]
    fields = row_fields(row, header)
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, row.source(column)))

    isin = field_value(fields, "isin", bad, required=True)
    if isin is not None and not valid_isin(isin):
        bad("invalid_isin", f"{isin!r} is not an ISIN (format or check digit)", "isin")
        isin = None
    day = _day(field_value(fields, "date", bad, required=True), bad)
    price = _checked_price(field_value(fields, "price", bad, required=True), bad)
    currency = _currency(field_value(fields, "currency", bad, required=True), bad)
    if problems or isin is None or day is None or price is None or currency is None:
        return problems
    return ReferencePrice(isin, day, price, currency, row.source())


def _day(text: str | None, bad: Bad) -> dt.date | None:
    if text is None:
        return None
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    bad("invalid_date", f"{text!r} is not a YYYY-MM-DD date", "date")
    return None


def _checked_price(text: str | None, bad: Bad) -> str | None:
    if text is None:
        return None
    if parse_price(text) is not None:
        return text
    if text.startswith("-") or (_PLAIN_DECIMAL.fullmatch(text) and not text.strip("0.")):
        reason = f"{text!r}: a reference price must be greater than zero"
    elif _PLAIN_DECIMAL.fullmatch(text):
        reason = f"{text!r} has more than {price_decimals_max} decimals"
    else:
        reason = f"{text!r} is not a plain decimal such as 50.25 (no sign, exponent or separator)"
    bad("invalid_price", reason, "price")
    return None


def _currency(text: str | None, bad: Bad) -> str | None:
    if text is None:
        return None
    if not _CURRENCY.fullmatch(text):
        bad("invalid_currency", f"{text!r} is not a three-letter ISO 4217 code", "currency")
        return None
    if currency_minor_units(text) is None:
        bad("unknown_currency", f"{text!r} is not an ISO 4217 currency", "currency")
        return None
    return text
