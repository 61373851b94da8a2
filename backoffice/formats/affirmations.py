"""Clients' affirmations of confirmations, from a FIX log or a CSV file (format detected).

FIX: FIX 4.4 ConfirmationAck (35=AU) messages, one a line, SOH- or '|'-delimited, framed and
checked by `backoffice.formats.fix_log`'s own code (BeginString, BodyLength, CheckSum). Read:
ConfirmID (664), TradeDate (75), TransactTime (60) as the time of the answer, AffirmStatus (940:
1 received, 2 rejected, 3 affirmed) and ConfirmRejReason (774) / Text (58) as the reason.
Session messages and other message types are skipped and counted.

CSV: a header naming `confirm_id` and `status` (affirmed, rejected or received, any case) and
optionally `reason` and `at` (ISO 8601 with a UTC offset). One record per line: a quoted value
cannot span lines, so every problem names its exact line.

Each record becomes an `Affirmation` or a `RejectedMessage` naming the tag ("940 AffirmStatus")
or column ("status") at fault. A file that is neither raises `ProblemError` before any record.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats import fix_framing, fix_log
from backoffice.formats.fix_framing import RejectedMessage, line_bytes_max
from backoffice.formats.fix_log import SESSION_MESSAGE_TYPES
from backoffice.trades.model import Affirmation, AffirmationStatus

__all__ = ["AffirmationSummary", "FileFormat", "RejectedMessage", "read_affirmations", "tag_label"]

value_chars_max = 64  # identifiers and codes
reason_chars_max = 500  # a client's free text
sniff_bytes_max = 8 * 1024  # how much of the file's start is checked for binary content

CONFIRMATION_ACK = "AU"
ACK_VERSION = "FIX.4.4"  # ConfirmationAck was added in FIX 4.4

TAG_NAMES = {
    8: "BeginString", 9: "BodyLength", 10: "CheckSum", 35: "MsgType", 58: "Text",
    60: "TransactTime", 75: "TradeDate", 664: "ConfirmID", 774: "ConfirmRejReason",
    940: "AffirmStatus",
}  # fmt: skip

AFFIRM_STATUSES = {
    "1": AffirmationStatus.RECEIVED,
    "2": AffirmationStatus.REJECTED,
    "3": AffirmationStatus.AFFIRMED,
}
CONFIRM_REJECT_REASONS = {
    "1": "mismatched account",
    "2": "missing settlement instructions",
    "99": "other",
}

REQUIRED_COLUMNS = ("confirm_id", "status")
OPTIONAL_COLUMNS = ("reason", "at")

# Control characters but tab: a CSV line holding them is binary, not a record.
_CSV_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
# How a CSV field check reports a problem: (code, reason, column).
_BadColumn = Callable[[ErrorCode, str, str], None]
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def tag_label(tag: int) -> str:
    """A tag as problems name it: "940 AffirmStatus"."""
    name = TAG_NAMES.get(tag)
    return f"{tag} {name}" if name else str(tag)


class FileFormat(StrEnum):
    FIX = "fix"
    CSV = "csv"


@dataclass(slots=True)
class AffirmationSummary:
    """Counts of what a read saw; final once the iterator from `read_affirmations` is done."""

    file_format: FileFormat | None = None
    lines: int = 0
    blank_lines: int = 0
    affirmations: int = 0
    rejected: int = 0
    session_messages: Counter[str] = field(default_factory=Counter)  # by MsgType
    other_messages: Counter[str] = field(default_factory=Counter)  # by MsgType


def read_affirmations(
    path: Path, summary: AffirmationSummary | None = None
) -> Iterator[Affirmation | RejectedMessage]:
    """Every affirmation and rejected record in a FIX log or CSV file, in file order.

    Raises `ProblemError` at once, before any record, naming the file: `unreadable_file`,
    `binary_file` (NUL bytes), `not_utf8`, `unrecognised_format` (neither a FIX log nor a CSV
    with a header), `missing_column`, `duplicate_column` or `unknown_column`.
    An empty file yields nothing.
    """
    file = str(path)
    summary = summary if summary is not None else AffirmationSummary()
    try:
        with path.open("rb") as stream:
            file_format, header = _inspect(stream, file)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error
    summary.file_format = file_format
    if file_format is FileFormat.FIX:
        return _read_fix(path, file, summary)
    if file_format is FileFormat.CSV and header is not None:
        return _read_csv(path, file, header, summary)
    return iter(())


# --- Detecting the format ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    line: int
    columns: tuple[str, ...]  # normalised: stripped, lower case


def _inspect(stream: IO[bytes], file: str) -> tuple[FileFormat | None, _Header | None]:
    """The file's format and, for a CSV, its header; raises on a file that is neither.

    The whole file is checked for NUL bytes and UTF-8 here so that a wrong file is refused
    before any record is read, not half-way through.
    """
    start = stream.read(sniff_bytes_max)
    if start.startswith(_UTF16_BOMS):
        raise _file_problem(file, "not_utf8", "the file is UTF-16 text; save it as UTF-8")
    if b"\x00" in start:
        raise _file_problem(file, "binary_file", "the file holds NUL bytes: it is not text")
    stream.seek(0)
    first: tuple[int, bytes] | None = None
    fix_seen = False
    for number, raw in fix_framing.log_lines(stream):
        if raw is None:
            continue  # over-long: refused as a record when read
        if b"\x00" in raw:
            raise _file_problem(file, "binary_file", "the line holds NUL bytes", number)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _file_problem(
                file, "not_utf8", f"the file is not UTF-8 text: {error.reason}", number
            ) from error
        stripped = raw.strip()
        if first is None and stripped:
            first = (number, stripped)
        fix_seen = fix_seen or stripped.startswith(b"8=FIX")
    if first is None:
        return None, None
    number, line = first
    if line.startswith(b"8=FIX"):
        return FileFormat.FIX, None
    columns = _header_columns(line.decode("utf-8"))
    looks_like_csv = any(c in columns for c in REQUIRED_COLUMNS) or len(columns) > 1
    if fix_seen and not any(c in columns for c in REQUIRED_COLUMNS):
        return FileFormat.FIX, None  # a log whose first line is not a message
    if not looks_like_csv:
        raise _file_problem(
            file,
            "unrecognised_format",
            'neither a FIX log (no line starts with "8=FIX") nor a CSV with a header '
            f"naming {' and '.join(REQUIRED_COLUMNS)}",
        )
    _check_header(columns, file, number)
    return FileFormat.CSV, _Header(number, columns)


def _header_columns(line: str) -> tuple[str, ...]:
    try:
        row = next(csv.reader([line], strict=True), [])
    except csv.Error:
        return ()
    return tuple(name.strip().lower() for name in row)


def _check_header(columns: tuple[str, ...], file: str, line: int) -> None:
    problems: list[Problem] = []
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problems.append(
            Problem(
                "missing_column",
                f"the header lacks {', '.join(missing)}; it has {', '.join(columns) or 'nothing'}",
                Source(file, line),
            )
        )
        raise ProblemError(*problems)  # the other columns' names say little beside this
    for name, count in Counter(columns).items():
        if count > 1:
            problems.append(
                Problem(
                    "duplicate_column", f"{name!r} appears {count} times", Source(file, line, name)
                )
            )
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    for name in dict.fromkeys(columns):  # each unknown name once, in header order
        if name not in known:
            problems.append(
                Problem(
                    "unknown_column",
                    f"{name!r} is not one of {', '.join(known)}",
                    Source(file, line, name),
                )
            )
    if problems:
        raise ProblemError(*problems)


def _file_problem(file: str, code: ErrorCode, reason: str, line: int | None = None) -> ProblemError:
    return ProblemError(Problem(code, reason, Source(file, line)))


# --- CSV --------------------------------------------------------------------------------------


def _read_csv(
    path: Path, file: str, header: _Header, summary: AffirmationSummary
) -> Iterator[Affirmation | RejectedMessage]:
    with path.open("rb") as stream:
        for number, raw in fix_framing.log_lines(stream):
            summary.lines += 1
            if number < header.line:
                summary.blank_lines += 1
                continue
            if number == header.line:
                continue
            if raw is not None and not raw.strip():
                summary.blank_lines += 1
                continue
            result = _csv_record(raw, header.columns, Source(file, number))
            if isinstance(result, Affirmation):
                summary.affirmations += 1
            else:
                summary.rejected += 1
            yield result


def _csv_record(
    raw: bytes | None, columns: tuple[str, ...], source: Source
) -> Affirmation | RejectedMessage:
    def reject(code: ErrorCode, reason: str, text: str = "") -> RejectedMessage:
        return RejectedMessage(source, text, (Problem(code, reason, source),))

    if raw is None:
        return reject("line_too_long", f"the line is longer than {line_bytes_max} bytes")
    if _CSV_CONTROL.search(raw):
        return reject(
            "binary_line", "the line holds control characters", fix_framing.printable(raw)
        )
    text = raw.decode("utf-8")  # checked when the format was detected
    try:
        row = next(csv.reader([text], strict=True))
    except csv.Error as error:
        return reject("malformed_row", f"not one CSV record: {error}", text)
    if len(row) != len(columns):
        return reject(
            "malformed_row", f"{len(row)} values for the header's {len(columns)} columns", text
        )
    values = {name: value.strip() for name, value in zip(columns, row, strict=True)}
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, Source(source.file, source.line, column)))

    confirm_id = values["confirm_id"]
    if not confirm_id:
        bad("missing_field", "confirm_id is required", "confirm_id")
    elif len(confirm_id) > value_chars_max:
        bad("invalid_field", f"longer than {value_chars_max} characters", "confirm_id")

    status: AffirmationStatus | None = None
    status_text = values["status"]
    if not status_text:
        bad("missing_field", "status is required", "status")
    else:
        try:
            status = AffirmationStatus(status_text.lower())
        except ValueError:
            bad(
                "invalid_field",
                f"{status_text!r} is not affirmed, rejected or received",
                "status",
            )

    reason = values.get("reason") or None
    if reason is not None and len(reason) > reason_chars_max:
        bad("invalid_field", f"longer than {reason_chars_max} characters", "reason")

    at = _iso_time(values.get("at") or None, bad)
    if problems or status is None:
        return RejectedMessage(source, text, tuple(problems))
    return Affirmation(
        confirm_id=confirm_id, status=status, reason=reason, at=at, source=source, raw=text
    )


def _iso_time(text: str | None, bad: _BadColumn) -> dt.datetime | None:
    if text is None:
        return None
    if len(text) > value_chars_max:
        bad("invalid_field", f"longer than {value_chars_max} characters", "at")
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        bad("invalid_field", f"{text!r} is not an ISO 8601 time", "at")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A time without an offset could be any of a day's worth of instants.
        bad("invalid_field", f"{text!r} has no UTC offset (add Z or +hh:mm)", "at")
        return None
    return moment.astimezone(dt.UTC)


# --- FIX --------------------------------------------------------------------------------------


def _read_fix(
    path: Path, file: str, summary: AffirmationSummary
) -> Iterator[Affirmation | RejectedMessage]:
    with path.open("rb") as stream:
        for number, raw in fix_framing.log_lines(stream):
            summary.lines += 1
            if raw is not None and not raw.strip():
                summary.blank_lines += 1
                continue
            result = _fix_record(raw, file, number, summary)
            if isinstance(result, Affirmation):
                summary.affirmations += 1
                yield result
            elif isinstance(result, RejectedMessage):
                summary.rejected += 1
                yield result


def _fix_record(
    raw: bytes | None, file: str, line: int, summary: AffirmationSummary
) -> Affirmation | RejectedMessage | None:
    # Framed as execution reports are: BeginString, BodyLength, CheckSum, binary bytes.
    framed = fix_framing.frame_message(raw, file, line)
    if isinstance(framed, RejectedMessage):
        return framed
    pairs, text = framed
    source = Source(file, line)
    begin_string, message_type = pairs[0][1], pairs[2][1]
    if message_type in SESSION_MESSAGE_TYPES:
        summary.session_messages[message_type] += 1
        return None
    if message_type != CONFIRMATION_ACK:
        summary.other_messages[message_type] += 1
        return None
    if begin_string != ACK_VERSION:
        problem = Problem(
            "unsupported_version",
            f"ConfirmationAck (35=AU) is FIX 4.4, not {begin_string}",
            Source(source.file, source.line, tag_label(8)),
        )
        return RejectedMessage(source, text, (problem,))
    return _confirmation_ack(pairs, text, source)


def _confirmation_ack(
    pairs: list[tuple[int, str]], text: str, source: Source
) -> Affirmation | RejectedMessage:
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, tag: int) -> None:
        problems.append(Problem(code, reason, Source(source.file, source.line, tag_label(tag))))

    def value(tag: int, *, required: bool = True, chars_max: int = value_chars_max) -> str | None:
        found = [v for t, v in pairs if t == tag]
        if not found:
            if required:
                bad("missing_field", f"{tag_label(tag)} is required", tag)
            return None
        if len(found) > 1:
            bad("invalid_field", f"{tag_label(tag)} appears {len(found)} times", tag)
            return None
        if not found[0]:
            bad("invalid_field", f"{tag_label(tag)} is empty", tag)
            return None
        if len(found[0]) > chars_max:
            bad("invalid_field", f"longer than {chars_max} characters", tag)
            return None
        return found[0]

    confirm_id = value(664)
    trade_date = fix_log._trade_date(value(75), bad)
    at = fix_log._transact_time(value(60), bad)
    status_code = value(940)
    status = AFFIRM_STATUSES.get(status_code) if status_code is not None else None
    if status_code is not None and status is None:
        bad(
            "invalid_field",
            f"{status_code!r} is not 1 (received), 2 (rejected) or 3 (affirmed)",
            940,
        )
    reason_code = value(774, required=False)
    reason_words = CONFIRM_REJECT_REASONS.get(reason_code) if reason_code is not None else None
    if reason_code is not None and reason_words is None:
        bad(
            "invalid_field",
            f"{reason_code!r} is not 1 (mismatched account), 2 (missing settlement "
            "instructions) or 99 (other)",
            774,
        )
    free_text = value(58, required=False, chars_max=reason_chars_max)
    if problems or confirm_id is None or trade_date is None or at is None or status is None:
        return RejectedMessage(source, text, tuple(problems))
    return Affirmation(
        confirm_id=confirm_id,
        status=status,
        reason=_reason(reason_code, reason_words, free_text),
        at=at,
        source=source,
        raw=text,
    )


def _reason(code: str | None, words: str | None, free_text: str | None) -> str | None:
    """ConfirmRejReason in words, then the client's Text: "mismatched account: wrong fund"."""
    if words is None or code == "99":  # "other" says nothing the text does not
        return free_text if free_text is not None else words
    return f"{words}: {free_text}" if free_text is not None else words
