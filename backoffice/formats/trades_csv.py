"""Trades from a CSV file: a header line, then one execution per line.

Required columns (any order, names case-insensitive, extra columns ignored): trade_id, account,
isin, side, quantity, price, currency, trade_date, venue, counterparty. Optional: order_id
(defaults to trade_id), transact_time (ISO 8601 with an offset or Z; defaults to the trade date
at 00:00 UTC), kind (trade, cancel or correct; defaults to trade) and ref_trade_id (the trade a
cancel or correct applies to).

A file that cannot be read as such a CSV is refused at once with a `ProblemError`. Each data line
then becomes an `Execution` or a `RejectedMessage` listing every problem of the line, the column
named as the problem's field. A line is a row: a quoted field cannot span lines (no trade field
holds a line break), so line numbers are always the file's own.

The file-level checks (header, encoding, binary content) and the row splitting are shared with
the allocations reader (backoffice.formats.allocations).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import without_dos_eof
from backoffice.formats.fix_framing import RejectedMessage, printable
from backoffice.formats.fix_log import (
    _CURRENCY,
    _MIC,
    _UNSIGNED_DECIMAL,
    valid_isin,
    value_chars_max,
)
from backoffice.formats.lines import bounded_lines
from backoffice.trades.model import Execution, ExecutionKind, Side

line_bytes_max = 64 * 1024
rows_per_file_max = 1_000_000
# The file is judged binary or not UTF-8 by its first bytes, as git and grep do; a bad line
# further on is rejected on its own.
sniff_bytes_max = 8 * 1024

REQUIRED_COLUMNS = (
    "trade_id", "account", "isin", "side", "quantity", "price", "currency", "trade_date",
    "venue", "counterparty",
)  # fmt: skip
OPTIONAL_COLUMNS = ("order_id", "transact_time", "kind", "ref_trade_id")

DELIMITER = ","
# Delimiters a spreadsheet may have used instead; named in `wrong_delimiter`.
OTHER_DELIMITERS = {";": "a semicolon (;)", "\t": "a tab", "|": "a pipe (|)"}

_BOM = b"\xef\xbb\xbf"
_UTF16_OR_32_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control bytes other than tab, LF and CR: a file or line holding them is not text.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # after the line end is cut
_TRADE_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_TIMESTAMP = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}T[0-9:.,]+(Z|[+-][0-9:]+)")
_KINDS = {kind.value: kind for kind in ExecutionKind}
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


@dataclass(slots=True)
class CsvSummary:
    """Counts of what a read saw; final once the iterator from `read_trades_csv` is exhausted.

    `lines` counts every physical line read, the header and blank lines included.
    """

    lines: int = 0
    blank_lines: int = 0
    executions: int = 0
    rejected: int = 0


def read_trades_csv(
    path: Path, summary: CsvSummary | None = None
) -> Iterator[Execution | RejectedMessage]:
    """Every execution and rejected row of a trades CSV, in file order.

    Raises `ProblemError` at once (before any row) when the file is not such a CSV:
    `unreadable_file`, `empty_file`, `binary_file`, `not_utf8`, `not_a_csv`, `missing_header`,
    `wrong_delimiter`, `missing_column`, `duplicate_column` or `line_too_long` (the header).
    Raises `too_many_rows` while reading once more than `rows_per_file_max` rows were read: the
    whole file is refused rather than imported in part. Blank lines (and lines of empty fields
    only, as spreadsheets write them) are skipped and counted in `summary` when one is given.
    """
    header = read_header(path, REQUIRED_COLUMNS, what="a trades CSV")
    return _read(path, header, summary if summary is not None else CsvSummary())


def _read(
    path: Path, header: CsvHeader, summary: CsvSummary
) -> Iterator[Execution | RejectedMessage]:
    summary.lines = header.line
    summary.blank_lines = header.blank_lines_before
    for row in csv_rows(path, header, line_bytes_max, rows_per_file_max):
        summary.lines += 1
        if row is None:
            summary.blank_lines += 1
            continue
        result = row if isinstance(row, RejectedMessage) else _execution(row, header)
        if isinstance(result, Execution):
            summary.executions += 1
        else:
            summary.rejected += 1
        yield result


# -- The CSV file: header, encoding, rows (shared with the allocations reader) ---------------


@dataclass(frozen=True, slots=True)
class CsvHeader:
    """A checked header: column names (stripped, lower case) and where the rows start."""

    file: str
    columns: tuple[str, ...]
    line: int
    blank_lines_before: int
    rows_offset_bytes: int

    def index(self, column: str) -> int | None:
        return self.columns.index(column) if column in self.columns else None


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data line split into fields; `values` may not match the header's column count."""

    file: str
    line: int
    raw: str
    values: tuple[str, ...]

    def source(self, column: str | None = None) -> Source:
        return Source(self.file, self.line, column)


def read_header(path: Path, required: tuple[str, ...], *, what: str) -> CsvHeader:
    """The file's header, after checking the file is UTF-8 text with every required column.

    `what` names the expected file in reasons ("a trades CSV"). Raises `ProblemError`.
    """
    file = str(path)
    try:
        with path.open("rb") as stream:
            _check_text(stream, file)
            stream.seek(0)
            return _header(stream, file, required, what)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error


def _refuse(code: ErrorCode, reason: str, file: str, line: int | None = None) -> ProblemError:
    return ProblemError(Problem(code, reason, Source(file, line)))


def _check_text(stream: IO[bytes], file: str) -> None:
    start = stream.read(sniff_bytes_max)
    if len(start) < sniff_bytes_max:  # the whole file: its end may carry a DOS end-of-file mark
        start = without_dos_eof(start)
    if start.startswith(_UTF16_OR_32_BOMS):
        raise _refuse("not_utf8", "the file is UTF-16 or UTF-32 text: save it as UTF-8", file, 1)
    control = _CONTROL_BYTES.search(start)
    if control:
        line = start.count(b"\n", 0, control.start()) + 1
        byte = start[control.start()]
        raise _refuse(
            "binary_file",
            f"the file holds the control byte 0x{byte:02x}: not a text file",
            file,
            line,
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=len(start) < sniff_bytes_max)
    except UnicodeDecodeError as error:
        line = start.count(b"\n", 0, error.start) + 1
        raise _refuse(
            "not_utf8", f"the file is not UTF-8 text: {error.reason}", file, line
        ) from None


def _header(stream: IO[bytes], file: str, required: tuple[str, ...], what: str) -> CsvHeader:
    blank_lines = 0
    offset = 0
    for number, raw, consumed in bounded_lines(stream, line_bytes_max + 1):
        offset += consumed
        if raw is None or len(raw.rstrip(b"\r\n")) > line_bytes_max:
            raise _refuse(
                "line_too_long", f"the header is longer than {line_bytes_max} bytes", file, number
            )
        content = raw.rstrip(b"\r\n")
        if number == 1:
            content = content.removeprefix(_BOM)
        if not content.strip():
            blank_lines += 1
            continue
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _refuse(
                "not_utf8", f"the header is not UTF-8 text: {error.reason}", file, number
            ) from None
        if "\r" in text:
            raise _refuse(
                "not_a_csv",
                "the lines end with a bare carriage return: save the file with LF or CRLF ends",
                file,
                number,
            )
        if _CONTROL_CHARACTERS.search(text):
            raise _refuse("binary_file", "the header holds control characters", file, number)
        columns = _header_columns(text, file, number, required, what)
        return CsvHeader(file, columns, number, blank_lines, offset)
    raise _refuse("empty_file", f"the file is empty: {what} starts with a header line", file)


def _header_columns(
    text: str, file: str, line: int, required: tuple[str, ...], what: str
) -> tuple[str, ...]:
    expected = ", ".join(required)
    if text.startswith(("8=FIX", "{", "[", "<")):
        kind = "a FIX log" if text.startswith("8=FIX") else "JSON or XML"
        raise _refuse("not_a_csv", f"the file looks like {kind}, not {what}", file, line)
    try:
        values = split_csv_line(text)
    except csv.Error as error:
        raise _refuse("not_a_csv", f"the header is not a CSV line: {error}", file, line) from None
    if values is None:
        raise _refuse("not_a_csv", "the header has a quote that is not closed", file, line)
    columns = tuple(value.strip().lower() for value in values)
    missing = [column for column in required if column not in columns]
    if not missing:
        repeated = sorted({c for c in columns if c and columns.count(c) > 1})
        if repeated:
            raise _refuse(
                "duplicate_column", f"the header repeats {', '.join(repeated)}", file, line
            )
        return columns
    for delimiter, name in OTHER_DELIMITERS.items():
        if delimiter in text and set(required) <= _names(text, delimiter):
            raise _refuse(
                "wrong_delimiter",
                f"the columns are separated by {name}, not a comma: save the file as "
                "comma-separated values",
                file,
                line,
            )
    if len(missing) == len(required):
        if len(columns) == 1:
            raise _refuse(
                "not_a_csv",
                f"the first line is not {what} header (expected {expected})",
                file,
                line,
            )
        raise _refuse(
            "missing_header",
            f"the first line names none of the columns: {what} starts with the header {expected}",
            file,
            line,
        )
    raise _refuse(
        "missing_column", f"the header lacks the column(s) {', '.join(missing)}", file, line
    )


def _names(text: str, delimiter: str) -> set[str]:
    try:
        values = split_csv_line(text, delimiter)
    except csv.Error:
        return set()
    return {value.strip().lower() for value in values or ()}


def split_csv_line(text: str, delimiter: str = DELIMITER) -> list[str] | None:
    """The fields of one CSV line, or None when a quoted field is still open at its end.

    Raises `csv.Error` when the line is not valid CSV (text after a closing quote).
    """
    at_end = False

    def one_line() -> Iterator[str]:
        nonlocal at_end
        yield text
        at_end = True  # the reader asked for more: a quoted field runs past the line

    try:
        return next(csv.reader(one_line(), delimiter=delimiter, strict=True), [])
    except csv.Error:
        if at_end:
            return None
        raise


def csv_rows(
    path: Path, header: CsvHeader, bytes_max: int, rows_max: int
) -> Iterator[CsvRow | RejectedMessage | None]:
    """One item per physical line after the header: a row, a rejected line, or None if blank.

    Raises `ProblemError` (`too_many_rows`) at the first row over `rows_max`.
    """
    file = header.file
    rows = 0
    with path.open("rb") as stream:
        stream.seek(header.rows_offset_bytes)
        lines = bounded_lines(stream, bytes_max + 1)
        current = next(lines, None)
        while current is not None:
            following = next(lines, None)
            number, raw, _ = current
            line = header.line + number
            row = _row(raw, file, line, bytes_max, is_last=following is None)
            if row is not None:
                rows += 1
                if rows > rows_max:
                    raise _refuse(
                        "too_many_rows", f"more than {rows_max} rows: split the file", file, line
                    )
            yield row
            current = following


def _row(
    raw: bytes | None, file: str, line: int, bytes_max: int, *, is_last: bool
) -> CsvRow | RejectedMessage | None:
    source = Source(file, line)

    def reject(code: ErrorCode, reason: str, text: str) -> RejectedMessage:
        return RejectedMessage(source, text, (Problem(code, reason, source),))

    content = raw.rstrip(b"\r\n") if raw is not None else None
    if content is not None and is_last:
        content = without_dos_eof(content)  # as every reader does (formats/file_text.py)
    if content is None or len(content) > bytes_max:
        return reject("line_too_long", f"the line is longer than {bytes_max} bytes", "")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        return reject("not_utf8", f"the line is not UTF-8 text: {error.reason}", printable(content))
    if _CONTROL_CHARACTERS.search(text):
        return reject("binary_line", "the line holds control characters", printable(content))
    if not text.strip():
        return None
    try:
        values = split_csv_line(text)
    except csv.Error as error:
        return reject("malformed_row", f"not a valid CSV line: {error}", text)
    if values is None:
        if is_last:
            return reject(
                "truncated_row", "the last line ends inside a quoted field: the file is cut", text
            )
        return reject(
            "unclosed_quote",
            "a quoted field is not closed on its line (a field cannot span lines)",
            text,
        )
    if not any(value.strip() for value in values):
        return None  # a spreadsheet's empty row: ",,,,"
    return CsvRow(file, line, text, tuple(values))


def column_count_problem(row: CsvRow, header: CsvHeader) -> Problem | None:
    """`wrong_column_count` when the row's fields do not line up with the header's columns."""
    if len(row.values) == len(header.columns):
        return None
    return Problem(
        "wrong_column_count",
        f"the row has {len(row.values)} fields but the header {len(header.columns)} columns",
        row.source(),
    )


def row_fields(row: CsvRow, header: CsvHeader) -> dict[str, str]:
    """The row's values by column, stripped; only for a row with the header's column count."""
    return {column: value.strip() for column, value in zip(header.columns, row.values, strict=True)}


# -- One row as an execution -----------------------------------------------------------------

# How each check reports a problem: (code, reason, column).
Bad = Callable[[ErrorCode, str, str], None]


def _execution(row: CsvRow, header: CsvHeader) -> Execution | RejectedMessage:
    count_problem = column_count_problem(row, header)
    if count_problem is not None:
        # Fields out of line with the header would be judged under the wrong columns.
        return RejectedMessage(row.source(), row.raw, (count_problem,))
    fields = row_fields(row, header)
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, row.source(column)))

    def value(column: str, *, required: bool = True) -> str | None:
        return field_value(fields, column, bad, required=required)

    trade_id = value("trade_id")
    kind = _kind(value("kind", required=False), bad)
    ref_trade_id = value("ref_trade_id", required=kind not in {None, ExecutionKind.TRADE})
    if kind is ExecutionKind.TRADE and ref_trade_id is not None:
        bad(
            "invalid_field",
            "a trade names no earlier trade: set kind to cancel or correct, or leave it empty",
            "ref_trade_id",
        )
    order_id = value("order_id", required=False)
    account = value("account")
    isin = checked_isin(value("isin"), "isin", bad)
    side = _side(value("side"), bad)
    quantity = checked_decimal(value("quantity"), "quantity", bad)
    price = checked_decimal(value("price"), "price", bad)
    currency = _coded(value("currency"), "currency", _CURRENCY, "a three-letter ISO 4217 code", bad)
    trade_date = _trade_date(value("trade_date"), bad)
    venue = _coded(value("venue"), "venue", _MIC, "a four-character ISO 10383 MIC", bad)
    counterparty = value("counterparty")
    transact_time = _transact_time(value("transact_time", required=False), trade_date, bad)
    if (
        problems
        or trade_id is None
        or kind is None
        or account is None
        or isin is None
        or side is None
        or quantity is None
        or price is None
        or currency is None
        or trade_date is None
        or venue is None
        or counterparty is None
        or transact_time is None
    ):
        return RejectedMessage(row.source(), row.raw, tuple(problems))
    return Execution(
        exec_id=trade_id,
        kind=kind,
        ref_exec_id=ref_trade_id if kind is not ExecutionKind.TRADE else None,
        order_id=order_id if order_id is not None else trade_id,
        account=account,
        isin=isin,
        side=side,
        quantity=quantity,
        price=price,
        currency=currency,
        trade_date=trade_date,
        venue=venue,
        counterparty=counterparty,
        transact_time=transact_time,
        source=row.source(),
        raw=row.raw,
    )


def field_value(fields: dict[str, str], column: str, bad: Bad, *, required: bool) -> str | None:
    """The column's value, None when empty (a problem if `required`) or too long."""
    found = fields.get(column, "")
    if not found:
        if required:
            bad("missing_field", f"{column} is required", column)
        return None
    if len(found) > value_chars_max:
        bad("invalid_field", f"longer than {value_chars_max} characters", column)
        return None
    return found


def checked_decimal(number: str | None, column: str, bad: Bad) -> str | None:
    """A positive plain decimal ("100", "228.52"): no sign, exponent, separator or bare point."""
    if number is None:
        return None
    if not _UNSIGNED_DECIMAL.fullmatch(number):
        bad("invalid_field", f"{number!r} is not a plain decimal such as 228.52", column)
        return None
    if not number.strip("0.").strip():
        bad("invalid_field", "must be greater than zero", column)
        return None
    return number


def checked_isin(isin: str | None, column: str, bad: Bad) -> str | None:
    if isin is None:
        return None
    if not valid_isin(isin):
        bad("invalid_field", f"{isin!r} is not a valid ISIN", column)
        return None
    return isin


def _kind(kind: str | None, bad: Bad) -> ExecutionKind | None:
    if kind is None:
        return ExecutionKind.TRADE
    found = _KINDS.get(kind.lower())
    if found is None:
        bad("invalid_field", f"{kind!r} is not trade, cancel or correct", "kind")
    return found


def _side(side: str | None, bad: Bad) -> Side | None:
    if side is None:
        return None
    found = _SIDES.get(side.lower())
    if found is None:
        bad("unsupported_side", f"{side!r} is not buy or sell", "side")
    return found


def _coded(
    code: str | None, column: str, pattern: re.Pattern[str], what: str, bad: Bad
) -> str | None:
    if code is None:
        return None
    if not pattern.fullmatch(code):
        bad("invalid_field", f"{code!r} is not {what}", column)
        return None
    return code


def _trade_date(text: str | None, bad: Bad) -> dt.date | None:
    if text is None:
        return None
    try:
        if _TRADE_DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    bad("invalid_field", f"{text!r} is not a YYYY-MM-DD date", "trade_date")
    return None


def _transact_time(text: str | None, trade_date: dt.date | None, bad: Bad) -> dt.datetime | None:
    if text is None:
        if trade_date is None:
            return None
        return dt.datetime.combine(trade_date, dt.time(), tzinfo=dt.UTC)
    try:
        if _ISO_TIMESTAMP.fullmatch(text):
            at = dt.datetime.fromisoformat(text)
            if at.tzinfo is not None:
                return at.astimezone(dt.UTC)
    except ValueError:
        pass
    bad(
        "invalid_field",
        f"{text!r} is not an ISO 8601 time with an offset, such as 2026-11-24T14:30:00Z",
        "transact_time",
    )
    return None
