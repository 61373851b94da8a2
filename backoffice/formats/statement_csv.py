"""Bank statements from a CSV file: a header line, then one row per balance or statement line.

Default columns (any order, names case-insensitive, extra columns ignored):

| column | what |
| --- | --- |
| record | `opening`, `closing` or `line` (case-insensitive) |
| statement_id | the bank's statement identifier: rows are grouped into statements by it |
| account | the IBAN or account number the statement is for |
| currency | an ISO 4217 code (three capitals), the same on every row of a statement |
| value_date | a line's value date; a balance row's date (else its booking_date) |
| booking_date | optional: a line's booking date |
| amount | a plain decimal, positive for money in, negative for money out ("-12.50") |
| reference | optional: the line's reference (end-to-end id, bank reference...) |
| description | optional: the line's narrative |

Every statement has one `opening` and one `closing` row (the balances, signed like amounts) and
any number of `line` rows; rows of several statements may come in any order. A `CsvMapping`
names other columns and reads other conventions: a date format (`strptime`, "%d.%m.%Y"), a
decimal comma ("1234,50", quoted in the file: the delimiter stays a comma), and the direction
of an amount as a sign (the default), as separate `debit` and `credit` columns (unsigned; one of
the two filled on each row; a debit balance is an overdraft) or as an unsigned amount with a
`dc` indicator column (C, CR, CRDT or CREDIT; D, DR, DBIT or DEBIT; case-insensitive). A leading
"+" is allowed; thousands separators are not (an amount is never guessed at). Amounts stay plain
decimal strings exactly as written, with a dot: "1234,5" reads "1234.5", "0,00001" "0.00001".

A bank statement is all or nothing: every problem of every row is collected (the file, line and
column of each) and any problem refuses the whole file with a `ProblemError`. Whole-file codes,
shared with `backoffice.formats.trades_csv.read_header`: `unreadable_file`, `empty_file` (also
a header with no row), `binary_file`, `not_utf8`, `not_a_csv`, `missing_header`,
`wrong_delimiter`, `missing_columns`, `duplicate_columns`, `line_too_long`, `too_many_rows`, and
`invalid_mapping` (two roles on one column, an empty column name, a date format that is not
one). A row's codes: `line_too_long`, `not_utf8`, `binary_line`, `malformed_row`,
`unclosed_quote`, `truncated_row`, `wrong_column_count`, `missing_field`, `invalid_field` (a
value too long, an unknown record type, both debit and credit filled), `invalid_amount`,
`invalid_date`, `invalid_currency`; a statement's: `missing_balance`, `duplicate_balance`,
`mixed_currencies`, `mixed_accounts` (named on the row that differs from the statement's first),
and `too_many_problems` (the last, when more were found than `problems_max`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar

from backoffice.errors import InvariantViolation, Problem, ProblemError, Source
from backoffice.formats.fix_log import RejectedMessage
from backoffice.formats.trades_csv import (
    CsvHeader,
    CsvRow,
    column_count_problem,
    csv_rows,
    read_header,
    row_fields,
)
from backoffice.recon.model import Statement, StatementFormat, StatementLine

__all__ = [
    "AmountMode",
    "CsvMapping",
    "CsvStatements",
    "description_chars_max",
    "line_bytes_max",
    "problems_max",
    "read_statement_csv",
    "rows_per_file_max",
    "scan_statement_csv",
]

line_bytes_max = 16 * 1024
rows_per_file_max = 1_000_000
problems_max = 100
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
        return tuple(_column(name) for name in names)

    def optional_columns(self) -> tuple[str, ...]:
        return tuple(
            _column(name) for name in (self.booking_date, self.reference, self.description)
        )


DEFAULT_MAPPING = CsvMapping()


def _column(name: str) -> str:
    return name.strip().lower()


def read_statement_csv(path: Path, mapping: CsvMapping | None = None) -> list[Statement]:
    """Every statement of a bank statement CSV with its lines, in the order their first rows
    come: the whole file in memory (`scan_statement_csv` and `CsvStatements.lines` stream it).

    Raises `ProblemError` listing every problem when any row or statement cannot be read (see
    the module's documentation for the columns, the mapping and the codes).
    """
    scanned = scan_statement_csv(path, mapping)
    lines: list[list[StatementLine]] = [[] for _ in scanned.statements]
    for index, line in scanned.lines():
        lines[index].append(line)
    return [
        dataclasses.replace(statement, lines=tuple(found))
        for statement, found in zip(scanned.statements, lines, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class CsvStatements:
    """A bank statement CSV read through once and found valid: its statements without their
    lines (`lines` is empty on each), in the order their first rows come, and how many lines
    each has. `lines()` reads the file again for the lines, one at a time."""

    path: Path
    mapping: CsvMapping
    header: CsvHeader
    statements: tuple[Statement, ...]
    line_counts: tuple[int, ...]
    file_state: tuple[int, int]  # size and modification time when scanned

    def lines(self) -> Iterator[tuple[int, StatementLine]]:
        """(index into `statements`, line) of every line, in file order. Raises `ProblemError`
        (`unreadable_file`) when the file is no longer the one scanned."""
        index_of = {statement.statement_id: n for n, statement in enumerate(self.statements)}
        counts = [0] * len(self.statements)
        problems: list[Problem] = []
        for row in csv_rows(self.path, self.header, line_bytes_max, rows_per_file_max):
            if row is None:
                continue
            read = (
                None
                if isinstance(row, RejectedMessage)
                else _row(row, self.header, self.mapping, problems)
            )
            index = index_of.get(read.statement_id) if read is not None else None
            if read is None or problems or index is None or not read.complete:
                raise self._changed()
            if read.record is RecordType.LINE:
                counts[index] += 1
                yield index, _line(read)
        if tuple(counts) != self.line_counts or _file_state(self.path) != self.file_state:
            raise self._changed()

    def _changed(self) -> ProblemError:
        reason = "the file changed while it was read: import it again once it is complete"
        return ProblemError(Problem("unreadable_file", reason, Source(self.header.file)))


def scan_statement_csv(path: Path, mapping: CsvMapping | None = None) -> CsvStatements:
    """Read a bank statement CSV through once, holding one small record per statement, and
    check every row: raises `ProblemError` listing every problem (at most `problems_max`)
    when any row or statement cannot be read."""
    mapping = mapping if mapping is not None else DEFAULT_MAPPING
    file = str(path)
    mapping_problem = _mapping_problem(mapping)
    if mapping_problem is not None:
        raise ProblemError(Problem("invalid_mapping", mapping_problem, Source(file)))
    header = read_header(path, mapping.required_columns(), what="a bank statement CSV")
    state = _file_state(path)
    problems: list[Problem] = []
    unlisted = 0
    groups: dict[str, _Group] = {}
    for row in csv_rows(path, header, line_bytes_max, rows_per_file_max):
        if row is None:
            continue
        if isinstance(row, RejectedMessage):
            problems.extend(row.problems)
        else:
            read = _row(row, header, mapping, problems)
            if read is not None:
                group = groups.get(read.statement_id)
                if group is None:
                    group = _Group(mapping, read.statement_id, read.source.line)
                    groups[read.statement_id] = group
                group.add(read, problems)
        if len(problems) > problems_max:
            # Only the first are listed: the rest are counted, not kept.
            unlisted += len(problems) - problems_max
            del problems[problems_max:]
    if not groups and not problems:
        reason = "the file holds a header and no row: a statement has at least its balances"
        raise ProblemError(Problem("empty_file", reason, Source(file, header.line)))
    statements = [group.statement(file, problems) for group in groups.values()]
    if problems:
        unlisted += max(len(problems) - problems_max, 0)
        listed = problems[:problems_max]
        if unlisted:
            reason = f"{unlisted} more problems not listed"
            listed.append(Problem("too_many_problems", reason, Source(file)))
        raise ProblemError(*listed)
    return CsvStatements(
        path=path,
        mapping=mapping,
        header=header,
        statements=tuple(_known(statement) for statement in statements),
        line_counts=tuple(group.lines for group in groups.values()),
        file_state=state,
    )


def _file_state(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _mapping_problem(mapping: CsvMapping) -> str | None:
    columns = [*mapping.required_columns(), *mapping.optional_columns()]
    if any(not column for column in columns):
        return "a column name is empty"
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        return f"the mapping reads several values from the column(s) {', '.join(repeated)}"
    # A format is one when a date written with it reads back as that date.
    sample = dt.date(2001, 2, 3)
    try:
        written = sample.strftime(mapping.date_format)
        read_back = dt.datetime.strptime(written, mapping.date_format).replace(tzinfo=dt.UTC)
    except ValueError:
        read_back = None
    if read_back is None or read_back.date() != sample:
        return f"the date format {mapping.date_format!r} does not read back a year, month and day"
    return None


# One row ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
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


Bad = Callable[[str, str, str], None]


def _row(
    row: CsvRow, header: CsvHeader, mapping: CsvMapping, problems: list[Problem]
) -> _Row | None:
    count_problem = column_count_problem(row, header)
    if count_problem is not None:
        # Fields out of line with the header would be judged under the wrong columns.
        problems.append(count_problem)
        return None
    fields = row_fields(row, header)
    problems_before = len(problems)

    def bad(code: str, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, row.source(column)))

    def value(name: str, *, required: bool, chars_max: int = identifier_chars_max) -> str | None:
        column = _column(name)
        found = fields.get(column, "")
        if not found:
            if required:
                bad("missing_field", f"{column} is required", column)
            return None
        if len(found) > chars_max:
            bad("invalid_field", f"longer than {chars_max} characters", column)
            return None
        return found

    record = _record(value(mapping.record, required=True), _column(mapping.record), bad)
    statement_id = value(mapping.statement_id, required=True)
    account = value(mapping.account, required=True)
    currency = value(mapping.currency, required=True)
    if currency is not None and not _CURRENCY.fullmatch(currency):
        reason = f"{currency!r} is not a three-letter ISO 4217 code"
        bad("invalid_currency", reason, _column(mapping.currency))
        currency = None
    amount = _amount(mapping, value, bad, balance=record is not RecordType.LINE)
    value_text = value(mapping.value_date, required=record is RecordType.LINE)
    booking_text = value(mapping.booking_date, required=False)
    value_date = _date(value_text, mapping, mapping.value_date, bad)
    booking_date = _date(booking_text, mapping, mapping.booking_date, bad)
    if record in {RecordType.OPENING, RecordType.CLOSING}:
        if value_text is None and booking_text is None:
            reason = f"a balance's date ({_column(mapping.value_date)}) is required"
            bad("missing_field", reason, _column(mapping.value_date))
        elif value_text is None:
            value_date = booking_date
    reference = value(mapping.reference, required=False, chars_max=reference_chars_max)
    description = value(mapping.description, required=False, chars_max=description_chars_max)
    if statement_id is None:
        return None
    return _Row(
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
            bad("invalid_field", reason, _column(mapping.indicator))
            return None
        if amount is None or indicator is None:
            return None
        return _negated(amount) if indicator.lower() in DEBIT_CODES else amount
    debit_text = value(mapping.debit, required=False)
    credit_text = value(mapping.credit, required=False)
    debit = _unsigned(debit_text, mapping, mapping.debit, bad)
    credit = _unsigned(credit_text, mapping, mapping.credit, bad)
    if debit_text is not None and credit_text is not None:
        reason = f"both {_column(mapping.debit)} and {_column(mapping.credit)} are filled"
        bad("invalid_field", reason, _column(mapping.credit))
        return None
    if debit_text is None and credit_text is None:
        what = "balance" if balance else "line"
        reason = (
            f"a {what} needs its amount in {_column(mapping.debit)} or {_column(mapping.credit)}"
        )
        bad("missing_field", reason, _column(mapping.credit))
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
        bad("invalid_amount", reason, _column(name))
        return None
    sign, whole, fraction = match.groups()
    plain = f"{whole}.{fraction}" if fraction is not None else whole
    return _negated(plain) if sign == "-" else plain


def _unsigned(text: str | None, mapping: CsvMapping, name: str, bad: Bad) -> str | None:
    if text is not None and text.startswith(("-", "+")):
        reason = f"{text[:40]!r}: the direction is given by another column, not a sign"
        bad("invalid_amount", reason, _column(name))
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
        bad("invalid_date", reason, _column(name))
        return None


# Rows into statements -----------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    """The rows of one statement; its account and currency are those of the first row giving
    them, and every other row must give the same."""

    mapping: CsvMapping
    statement_id: str
    first_line: int | None
    account: _Row | None = None
    currency: _Row | None = None
    opening: _Row | None = None
    closing: _Row | None = None
    lines: int = 0  # the lines themselves are read again when stored
    complete: bool = True

    def add(self, row: _Row, problems: list[Problem]) -> None:
        self.complete = self.complete and row.complete
        if row.currency is not None:
            if self.currency is None:
                self.currency = row
            elif row.currency != self.currency.currency:
                reason = (
                    f"{row.currency} on a statement in {self.currency.currency} "
                    f"(line {self.currency.source.line})"
                )
                problems.append(
                    Problem("mixed_currencies", reason, _at(row, self.mapping.currency))
                )
        if row.account is not None:
            if self.account is None:
                self.account = row
            elif row.account != self.account.account:
                reason = (
                    f"account {row.account} on a statement for {self.account.account} "
                    f"(line {self.account.source.line})"
                )
                problems.append(Problem("mixed_accounts", reason, _at(row, self.mapping.account)))
        if row.record is RecordType.LINE:
            self.lines += 1
        elif row.record is not None:
            earlier = self.opening if row.record is RecordType.OPENING else self.closing
            if earlier is not None:
                reason = (
                    f"a second {row.record} balance for statement {row.statement_id} "
                    f"(the first on line {earlier.source.line})"
                )
                problems.append(Problem("duplicate_balance", reason, _at(row, self.mapping.record)))
            elif row.record is RecordType.OPENING:
                self.opening = row
            else:
                self.closing = row

    def statement(self, file: str, problems: list[Problem]) -> Statement | None:
        for kind, found in (("opening", self.opening), ("closing", self.closing)):
            if found is None:
                reason = f"statement {self.statement_id} has no {kind} balance row"
                source = Source(file, self.first_line, _column(self.mapping.record))
                problems.append(Problem("missing_balance", reason, source))
        opening, closing, account, currency = (
            self.opening,
            self.closing,
            self.account,
            self.currency,
        )
        if (
            not self.complete
            or opening is None
            or closing is None
            or account is None
            or currency is None
        ):
            return None
        return Statement(
            statement_id=self.statement_id,
            format=StatementFormat.CSV,
            account=_known(account.account),
            currency=_known(currency.currency),
            opening_balance=_known(opening.amount),
            opening_date=_known(opening.value_date),
            closing_balance=_known(closing.amount),
            closing_date=_known(closing.value_date),
            lines=(),
            source=Source(file, self.first_line),
            account_source=_at(account, self.mapping.account),
        )


def _line(row: _Row) -> StatementLine:
    return StatementLine(
        amount=_known(row.amount),
        value_date=_known(row.value_date),
        booking_date=row.booking_date,
        references=(row.reference,) if row.reference else (),
        description=row.description,
        source=row.source,
        raw=row.raw,
    )


_T = TypeVar("_T")


def _known(value: _T | None) -> _T:
    """A value of a complete row, which is never None."""
    if value is None:
        raise InvariantViolation("a row read without a problem lacks a value")
    return value


def _at(row: _Row, column: str) -> Source:
    return Source(row.source.file, row.source.line, _column(column))
