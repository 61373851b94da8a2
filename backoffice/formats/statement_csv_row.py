"""One row of a bank statement CSV (`backoffice.formats.statement_csv`): the column mapping
and the reading of each value, every problem of the row collected."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.trades_csv import CsvHeader, CsvRow, column_count_problem, row_fields

identifier_chars_max = 64  # statement ids, accounts
reference_chars_max = 140  # a SEPA reference or remittance line
description_chars_max = 1_000
amount_digits_max = 18

CREDIT_CODES = frozenset({"c", "cr", "crdt", "credit"})
DEBIT_CODES = frozenset({"d", "dr", "dbit", "debit"})

_CURRENCY = re.compile(r"[A-Z]{3}")
_POINT_AMOUNT = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_COMMA_AMOUNT = re.compile(r"([+-]?)([0-9]+)(?:,([0-9]+))?")


class AmountMode(StrEnum):
    """How a row gives the direction of its amount."""

    SIGNED = "signed"  # one amount column, negative for money out
    DEBIT_CREDIT = "debit_credit"  # unsigned debit and credit columns, one filled per row
    INDICATOR = "indicator"  # an unsigned amount column and a C/D indicator column


class RecordType(StrEnum):
    OPENING = "opening"
    CLOSING = "closing"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """Which column holds what, and how dates and amounts are written.

    Column names are matched case-insensitively. `debit` and `credit` are read in
    `AmountMode.DEBIT_CREDIT`, `indicator` in `AmountMode.INDICATOR`, `amount` in the others.
    """

    record: str = "record"
    statement_id: str = "statement_id"
    account: str = "account"
    currency: str = "currency"
    value_date: str = "value_date"
    booking_date: str = "booking_date"
    amount: str = "amount"
    reference: str = "reference"
    description: str = "description"
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False
    amount_mode: AmountMode = AmountMode.SIGNED
    debit: str = "debit"
    credit: str = "credit"
    indicator: str = "dc"

    def required_columns(self) -> tuple[str, ...]:
        names = [self.record, self.statement_id, self.account, self.currency, self.value_date]
        if self.amount_mode is AmountMode.DEBIT_CREDIT:
            names += [self.debit, self.credit]
        elif self.amount_mode is AmountMode.INDICATOR:
            names += [self.amount, self.indicator]
        else:
            names.append(self.amount)
        return tuple(column_name(name) for name in names)

    def optional_columns(self) -> tuple[str, ...]:
        return tuple(
            column_name(name) for name in (self.booking_date, self.reference, self.description)
        )


DEFAULT_MAPPING = CsvMapping()


def column_name(name: str) -> str:
    return name.strip().lower()


# One row ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One row as far as it could be read: a row with problems still counts towards its
    statement's balances, account and currency, so that every problem is found in one read."""

    complete: bool  # every value read without a problem
    record: RecordType | None
    statement_id: str
    account: str | None
    currency: str | None
    amount: str | None  # signed
    value_date: dt.date | None
    booking_date: dt.date | None
    reference: str | None
    description: str
    source: Source
    raw: str


Bad = Callable[[ErrorCode, str, str], None]


def read_row(
    row: CsvRow, header: CsvHeader, mapping: CsvMapping, problems: list[Problem]
) -> StatementRow | None:
    count_problem = column_count_problem(row, header)
    if count_problem is not None:
        # Fields out of line with the header would be judged under the wrong columns.
        problems.append(count_problem)
        return None
    fields = row_fields(row, header)
    problems_before = len(problems)

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, row.source(column)))

    def value(name: str, *, required: bool, chars_max: int = identifier_chars_max) -> str | None:
        column = column_name(name)
        found = fields.get(column, "")
        if not found:
            if required:
                bad("missing_field", f"{column} is required", column)
            return None
        if len(found) > chars_max:
            bad("invalid_field", f"longer than {chars_max} characters", column)
            return None
        return found

    record = _record(value(mapping.record, required=True), column_name(mapping.record), bad)
    statement_id = value(mapping.statement_id, required=True)
    account = value(mapping.account, required=True)
    currency = value(mapping.currency, required=True)
    if currency is not None and not _CURRENCY.fullmatch(currency):
        reason = f"{currency!r} is not a three-letter ISO 4217 code"
        bad("invalid_currency", reason, column_name(mapping.currency))
        currency = None
    amount = _amount(mapping, value, bad, balance=record is not RecordType.LINE)
    value_text = value(mapping.value_date, required=record is RecordType.LINE)
    booking_text = value(mapping.booking_date, required=False)
    value_date = _date(value_text, mapping, mapping.value_date, bad)
    booking_date = _date(booking_text, mapping, mapping.booking_date, bad)
    if record in {RecordType.OPENING, RecordType.CLOSING}:
        if value_text is None and booking_text is None:
            reason = f"a balance's date ({column_name(mapping.value_date)}) is required"
            bad("missing_field", reason, column_name(mapping.value_date))
        elif value_text is None:
            value_date = booking_date
    reference = value(mapping.reference, required=False, chars_max=reference_chars_max)
    description = value(mapping.description, required=False, chars_max=description_chars_max)
    if statement_id is None:
        return None
    return StatementRow(
        complete=len(problems) == problems_before,
        record=record,
        statement_id=statement_id,
        account=account,
        currency=currency,
        amount=amount,
        value_date=value_date,
        booking_date=booking_date,
        reference=reference,
        description=" ".join((description or "").split()),
        source=row.source(),
        raw=row.raw,
    )


def _record(text: str | None, column: str, bad: Bad) -> RecordType | None:
    if text is None:
        return None
    try:
        return RecordType(text.lower())
    except ValueError:
        bad("invalid_field", f"{text[:20]!r} is not opening, closing or line", column)
        return None


class _Value(Protocol):
    def __call__(self, name: str, *, required: bool, chars_max: int = ...) -> str | None: ...


def _amount(mapping: CsvMapping, value: _Value, bad: Bad, *, balance: bool) -> str | None:
    """The row's amount as a signed plain decimal, however the mapping says it is written."""
    if mapping.amount_mode is AmountMode.SIGNED:
        return _decimal(value(mapping.amount, required=True), mapping, mapping.amount, bad)
    if mapping.amount_mode is AmountMode.INDICATOR:
        amount = _unsigned(value(mapping.amount, required=True), mapping, mapping.amount, bad)
        indicator = value(mapping.indicator, required=True)
        if indicator is not None and indicator.lower() not in CREDIT_CODES | DEBIT_CODES:
            reason = f"{indicator[:20]!r} is not a credit (C, CR, CRDT) or debit (D, DR, DBIT)"
            bad("invalid_field", reason, column_name(mapping.indicator))
            return None
        if amount is None or indicator is None:
            return None
        return _negated(amount) if indicator.lower() in DEBIT_CODES else amount
    debit_text = value(mapping.debit, required=False)
    credit_text = value(mapping.credit, required=False)
    debit = _unsigned(debit_text, mapping, mapping.debit, bad)
    credit = _unsigned(credit_text, mapping, mapping.credit, bad)
    if debit_text is not None and credit_text is not None:
        reason = f"both {column_name(mapping.debit)} and {column_name(mapping.credit)} are filled"
        bad("invalid_field", reason, column_name(mapping.credit))
        return None
    if debit_text is None and credit_text is None:
        what = "balance" if balance else "line"
        reason = f"a {what} needs its amount in {column_name(mapping.debit)} or {column_name(mapping.credit)}"
        bad("missing_field", reason, column_name(mapping.credit))
        return None
    if debit is not None:
        return _negated(debit)
    return credit


def _decimal(text: str | None, mapping: CsvMapping, name: str, bad: Bad) -> str | None:
    """A signed amount as a plain decimal string with a dot: "+1234,5" -> "1234.5"."""
    if text is None:
        return None
    pattern = _COMMA_AMOUNT if mapping.decimal_comma else _POINT_AMOUNT
    match = pattern.fullmatch(text)
    if match is None or len(match[2].lstrip("0")) + len(match[3] or "") > amount_digits_max:
        example = "-1234,50" if mapping.decimal_comma else "-1234.50"
        reason = (
            f"{text[:40]!r} is not an amount such as {example} (at most {amount_digits_max} "
            "digits, no thousands separator)"
        )
        bad("invalid_amount", reason, column_name(name))
        return None
    sign, whole, fraction = match.groups()
    plain = f"{whole}.{fraction}" if fraction is not None else whole
    return _negated(plain) if sign == "-" else plain


def _unsigned(text: str | None, mapping: CsvMapping, name: str, bad: Bad) -> str | None:
    if text is not None and text.startswith(("-", "+")):
        reason = f"{text[:40]!r}: the direction is given by another column, not a sign"
        bad("invalid_amount", reason, column_name(name))
        return None
    return _decimal(text, mapping, name, bad)


def _negated(amount: str) -> str:
    """The amount with the sign of money out; zero stays unsigned."""
    if amount.startswith("-"):
        return amount[1:]
    return amount if not amount.replace(".", "").strip("0") else f"-{amount}"


def _date(text: str | None, mapping: CsvMapping, name: str, bad: Bad) -> dt.date | None:
    if text is None:
        return None
    try:
        # A calendar date: the zone is irrelevant, UTC only keeps the datetime aware.
        return dt.datetime.strptime(text, mapping.date_format).replace(tzinfo=dt.UTC).date()
    except ValueError:
        reason = f"{text[:40]!r} is not a date written {mapping.date_format!r}"
        bad("invalid_date", reason, column_name(name))
        return None
