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
`wrong_delimiter`, `missing_column`, `duplicate_column`, `line_too_long`, `too_many_rows`, and
`invalid_mapping` (two roles on one column, an empty column name, a date format that is not
one). A row's codes: `line_too_long`, `not_utf8`, `binary_line`, `malformed_row`,
`unclosed_quote`, `truncated_row`, `wrong_column_count`, `missing_field`, `invalid_field` (a
value too long, an unknown record type, both debit and credit filled), `invalid_amount`,
`invalid_date`, `invalid_currency`; a statement's: `missing_balance`, `duplicate_balance`,
`mixed_currencies`, `mixed_accounts` (named on the row that differs from the statement's first),
and `too_many_problems` (the last, when more were found than `problems_max`).

A file of `rows_per_file_max` rows is read in bounded memory: `scan_statement_csv` reads it
through once, checks every row and keeps one small record per statement (its balances,
account, currency and line count; at most `problems_max` problems); `CsvStatements.lines`
reads it again, one line at a time, for the store (`backoffice.recon.statement_import_service`).
`read_statement_csv` gives the statements with their lines in memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from backoffice.errors import InvariantViolation, Problem, ProblemError, Source
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.statement_csv_row import (
    DEFAULT_MAPPING,
    AmountMode,
    CsvMapping,
    RecordType,
    StatementRow,
    column_name,
    description_chars_max,
    read_row,
)
from backoffice.formats.trades_csv import CsvHeader, csv_rows, read_header
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
                else read_row(row, self.header, self.mapping, problems)
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
            read = read_row(row, header, mapping, problems)
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


# Rows into statements -----------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    """The rows of one statement; its account and currency are those of the first row giving
    them, and every other row must give the same."""

    mapping: CsvMapping
    statement_id: str
    first_line: int | None
    account: StatementRow | None = None
    currency: StatementRow | None = None
    opening: StatementRow | None = None
    closing: StatementRow | None = None
    lines: int = 0  # the lines themselves are read again when stored
    complete: bool = True

    def add(self, row: StatementRow, problems: list[Problem]) -> None:
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
                source = Source(file, self.first_line, column_name(self.mapping.record))
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


def _line(row: StatementRow) -> StatementLine:
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


def _at(row: StatementRow, column: str) -> Source:
    return Source(row.source.file, row.source.line, column_name(column))
