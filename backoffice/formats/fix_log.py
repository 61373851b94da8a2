"""FIX 4.4 and 4.2 execution reports from a FIX log file, one message per line.

The field delimiter is SOH (0x01), '|' or "^A" (SOH in caret notation, as a terminal shows it),
detected per line; with '|' or "^A" the message is checked as if it had been sent with SOH. A line holding several messages one after another (as some OMS
drop-copy dumps write them) is cut after each CheckSum the next "8=FIX" follows, and each
message is read or rejected on its own, at that line (a rejection says "message 2 of 3 on the
line"); a reader that does not cut lines rejects such a line as `several_messages_on_line`.
The time stamp a QuickFIX file log writes before each message ("20261124-14:30:00.125 : ") is
set aside; any other text before "8=FIX" rejects the line. Each line becomes an `Execution`, a `RejectedMessage` (problems as
data, with a stable code and the tag as the field, e.g. "31 LastPx"), or is skipped and counted
in a `FixLogSummary`: session/admin messages, other message types, and execution reports that
are not trades (new, cancelled order, replaced, pending...).

Trades: FIX 4.4 ExecType (150) F trade, H trade cancel, G trade correct. FIX 4.2 has no trade
ExecType: 150=1/2 (partial fill / fill) with ExecTransType (20) 0 new is a trade, 20=1 cancels
and 20=2 corrects the execution named by ExecRefID (19); 150=H/G are taken as in 4.4.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import simplefix
from simplefix import data as simplefix_data
from stdnum import isin as stdnum_isin

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.lines import bounded_lines
from backoffice.trades.model import Execution, ExecutionKind, Side

line_bytes_max = 64 * 1024
fields_per_message_max = 1000
value_chars_max = 64  # identifiers, numbers and codes we keep; longer is refused, not cut

BEGIN_STRINGS = frozenset({"FIX.4.4", "FIX.4.2"})
# Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset, Logout, Logon.
SESSION_MESSAGE_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
EXECUTION_REPORT = "8"
ISIN_SOURCE = "4"
CONTRA_FIRM_ROLE = "17"

TAG_NAMES = {
    1: "Account", 8: "BeginString", 9: "BodyLength", 10: "CheckSum", 15: "Currency",
    17: "ExecID", 19: "ExecRefID", 20: "ExecTransType", 22: "SecurityIDSource", 30: "LastMkt",
    31: "LastPx", 32: "LastQty", 35: "MsgType", 37: "OrderID", 48: "SecurityID", 54: "Side",
    60: "TransactTime", 75: "TradeDate", 150: "ExecType", 375: "ContraBroker",
    448: "PartyID", 452: "PartyRole", 453: "NoPartyIDs",
}  # fmt: skip
# Tags that may follow NoPartyIDs (453) inside the Parties group, with its PartySubIDs.
PARTY_GROUP_TAGS = frozenset({448, 447, 452, 802, 523, 803})

_SOH = b"\x01"
_PIPE = b"|"
_UNSIGNED_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_TRADE_DATE = re.compile(r"[0-9]{8}")
_UTC_TIMESTAMP = re.compile(r"([0-9]{8})-([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MIC = re.compile(r"[A-Z0-9]{4}")
# Control characters other than SOH, and DEL: a line holding them is binary, not a message.
_BINARY = re.compile(rb"[\x00\x02-\x08\x0b-\x1f\x7f]")
# How each field check reports a problem: (code, reason, tag).
_Bad = Callable[[ErrorCode, str, int], None]


@functools.lru_cache(maxsize=65_536)
def valid_isin(text: str) -> bool:
    """ISIN format and check digit (python-stdnum), upper case only; remembered, as a day's
    executions name the same few thousand securities over and over."""
    return text == text.upper() and bool(stdnum_isin.is_valid(text))


def tag_label(tag: int) -> str:
    """A tag as problems name it: "31 LastPx"."""
    name = TAG_NAMES.get(tag)
    return f"{tag} {name}" if name else str(tag)


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """A line that could not be read as a trade: where, as received, and every reason why."""

    source: Source
    raw: str
    problems: tuple[Problem, ...]


@dataclass(slots=True)
class FixLogSummary:
    """Counts of what a read saw; final once the iterator from `read_fix_log` is exhausted."""

    lines: int = 0
    blank_lines: int = 0
    executions: int = 0
    rejected: int = 0
    session_messages: Counter[str] = field(default_factory=Counter)  # by MsgType
    other_messages: Counter[str] = field(default_factory=Counter)  # by MsgType
    non_trade_reports: Counter[str] = field(default_factory=Counter)  # by "150=X" / "20=X"

    @property
    def skipped(self) -> int:
        return (
            sum(self.session_messages.values())
            + sum(self.other_messages.values())
            + sum(self.non_trade_reports.values())
        )


def read_fix_log(
    path: Path, summary: FixLogSummary | None = None
) -> Iterator[Execution | RejectedMessage]:
    """Every execution and rejected message in a FIX log, in file order.

    Raises `ProblemError` at once (before any message) with `not_a_fix_log` when the file has
    content but no line starting with "8=FIX", or `unreadable_file` when it cannot be opened.
    Skipped messages are counted in `summary` when one is given.
    """
    file = str(path)
    try:
        with path.open("rb") as stream:
            looks_like_fix, has_content = _scan(stream)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error
    if has_content and not looks_like_fix:
        raise ProblemError(
            Problem("not_a_fix_log", 'no line starts with "8=FIX": not a FIX log', Source(file))
        )
    return _read(path, file, summary if summary is not None else FixLogSummary())


def _scan(stream: IO[bytes]) -> tuple[bool, bool]:
    """(a line starts with 8=FIX, the file has a non-blank line), reading no more than needed."""
    has_content = False
    for _, raw in _lines(stream):
        if raw is None:
            has_content = True
            continue
        stripped = raw.lstrip(b"\xef\xbb\xbf").strip()
        if stripped:
            has_content = True
        if stripped.startswith(b"8=FIX"):
            return True, True
    return False, has_content


def _read(path: Path, file: str, summary: FixLogSummary) -> Iterator[Execution | RejectedMessage]:
    with path.open("rb") as stream:
        for line, raw in _lines(stream):
            summary.lines += 1
            if raw is not None and not raw.strip():
                summary.blank_lines += 1
                continue
            messages = split_messages(raw) if raw is not None else [raw]
            for number, message in enumerate(messages, 1):
                result = _message(message, file, line, summary)
                if isinstance(result, RejectedMessage) and len(messages) > 1:
                    result = _placed(result, number, len(messages))
                if isinstance(result, Execution):
                    summary.executions += 1
                    yield result
                elif isinstance(result, RejectedMessage):
                    summary.rejected += 1
                    yield result


# Where one message ends and the next begins on a line: its CheckSum (always three digits)
# and delimiter, if any, then "8=FIX".
_MESSAGE_BOUNDARY = re.compile(rb"(?<=\x0110=[0-9]{3})\x01?(?=8=FIX)")


def split_messages(raw: bytes) -> list[bytes]:
    """The messages of one log line, as some drop-copy dumps write several one after another.

    Cut after each CheckSum that the next BeginString follows; each part is then framed (and
    its BodyLength and CheckSum checked) on its own, so a cut in the wrong place can only give
    parts that are rejected, never a message read wrongly.
    """
    wire = _on_the_wire(raw)
    cuts = [match.end() for match in _MESSAGE_BOUNDARY.finditer(wire)]
    if not cuts:
        return [raw]
    return [wire[start:end] for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True)]


_CARET_SOH = b"^A"
_CARET_DELIMITED = re.compile(rb"8=FIX[^\x01|^]*\^A")


def _on_the_wire(raw: bytes) -> bytes:
    """The line with SOH as its delimiter, as sent: SOH already, "^A" (SOH in caret notation,
    when BeginString ends with it) or '|'."""
    if _SOH in raw:
        return raw
    if _CARET_DELIMITED.match(raw):
        return raw.replace(_CARET_SOH, _SOH)
    return raw.replace(_PIPE, _SOH)


def _placed(rejected: RejectedMessage, number: int, count: int) -> RejectedMessage:
    """`rejected`, its reasons saying which of the line's messages it is."""
    place = f"message {number} of {count} on the line: "
    problems = tuple(Problem(p.code, place + p.reason, p.source) for p in rejected.problems)
    return RejectedMessage(rejected.source, rejected.raw, problems)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the line end, or None when over `line_bytes_max`)."""
    # One byte more than the content limit leaves room for a CR before the LF.
    for number, raw, _ in bounded_lines(stream, line_bytes_max + 1):
        if raw is None:
            yield number, None
            continue
        content = raw.rstrip(b"\r\n")
        if number == 1:
            content = content.removeprefix(b"\xef\xbb\xbf")
        stamp = _LOG_TIME_STAMP.match(content)
        if stamp is not None:
            content = content[stamp.end() :]
        yield number, content if len(content) <= line_bytes_max else None


# The time a QuickFIX file log stamps before each message: "20261124-14:30:00.125000000 : "
# (QuickFIX/C++ FileLog), "20261124-14:30:00.125: " (QuickFIX/J, includeTimestampForMessages).
# It is the log's, not the message's; anything else before "8=FIX" stays and is rejected.
_LOG_TIME_STAMP = re.compile(rb"[0-9]{8}-[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})? ?: (?=8=FIX)")


def _message(
    raw: bytes | None, file: str, line: int, summary: FixLogSummary
) -> Execution | RejectedMessage | None:
    framed = _frame(raw, file, line)
    if isinstance(framed, RejectedMessage):
        return framed
    pairs, text = framed
    message_type = pairs[2][1]
    if message_type in SESSION_MESSAGE_TYPES:
        summary.session_messages[message_type] += 1
        return None
    if message_type != EXECUTION_REPORT:
        summary.other_messages[message_type] += 1
        return None
    return _execution_report(pairs, text, Source(file, line), summary)


def _frame(
    raw: bytes | None, file: str, line: int
) -> tuple[list[tuple[int, str]], str] | RejectedMessage:
    """One log line as a framed FIX message: its (tag, value) pairs and its text with '|'.

    Every FIX reader (execution reports, allocation instructions) frames lines this way.
    """
    source = Source(file, line)

    def reject(code: ErrorCode, reason: str, text: str = "") -> RejectedMessage:
        return RejectedMessage(source, text, (Problem(code, reason, source),))

    if raw is None:
        return reject("line_too_long", f"the line is longer than {line_bytes_max} bytes")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return reject("binary_line", "the line is not UTF-8 text", _printable(raw))
    if _BINARY.search(raw):
        return reject("binary_line", "the line holds control characters", _printable(raw))
    wire = _on_the_wire(raw)
    text = wire.decode("utf-8").replace("\x01", "|")
    if not wire.startswith(b"8=FIX"):
        return reject("not_a_fix_message", 'the line does not start with "8=FIX"', text)
    if not wire.endswith(_SOH):
        wire += _SOH  # the delimiter after the checksum is often dropped from logs
    count = len(_MESSAGE_BOUNDARY.findall(wire)) + 1
    if count > 1:  # a reader that splits lines (split_messages) never gets here with several
        reason = f"the line holds {count} messages: one FIX message per line is read here"
        return reject("several_messages_on_line", reason, text)
    if wire.count(_SOH) > fields_per_message_max:
        return reject(
            "too_many_fields", f"more than {fields_per_message_max} fields in one message", text
        )
    trailer_at = wire.rfind(_SOH + b"10=", 0, len(wire) - 1) + 1
    if trailer_at == 0 or _SOH in wire[trailer_at:-1]:
        return reject("truncated_message", "no CheckSum (10) trailer: the message is cut", text)
    pairs = _split_fields(wire)
    if pairs is None:
        # Raw data fields (a length tag, then bytes that may hold SOH), or something odd:
        # simplefix's parser, which knows the raw data tags, decides.
        parser = simplefix.FixParser()
        parser.append_buffer(wire)
        try:
            message = parser.get_message()
        except simplefix.errors.ParsingError as error:
            return reject(
                "malformed_message", f"not tag=value fields: {type(error).__name__}", text
            )
        if message is None or parser.get_buffer():
            return reject("malformed_message", "not one tag=value FIX message", text)
        pairs = [(int(tag), value.decode("utf-8")) for tag, value in message.pairs]

    problems = _framing_problems(pairs, wire, trailer_at, source)
    if problems:
        return RejectedMessage(source, text, tuple(problems))
    return pairs, text


# Tags simplefix's parser treats specially (a length, then raw data bytes that may hold SOH):
# a line with one is not split on SOH but left to simplefix, as is its list of them.
RAW_LENGTH_TAGS = frozenset(simplefix_data.RAW_LEN_TAGS) | frozenset(simplefix_data.RAW_DATA_TAGS)
_TAG_DIGITS = frozenset("0123456789")


def _split_fields(wire: bytes) -> list[tuple[int, str]] | None:
    """The (tag, value) pairs of an SOH-terminated message, split in C rather than walked
    byte by byte in Python as simplefix's parser does (ten times faster, which a million
    messages need). Exactly the pairs `simplefix.FixParser` gives for any message without
    raw data fields (tests/test_fix_log.py checks it); None for anything it does not take
    on: raw data length tags, a field without '=', a tag that is not digits, an empty value.
    """
    if wire.count(b"\x0110=") != 1:
        return None  # simplefix stops at the first CheckSum: let it judge a second one
    pairs: list[tuple[int, str]] = []
    append = pairs.append
    for field_text in wire[:-1].decode("utf-8").split("\x01"):
        tag, equals, value = field_text.partition("=")
        if not equals or not value or not tag or not _TAG_DIGITS.issuperset(tag):
            return None
        number = int(tag)
        if number in RAW_LENGTH_TAGS:
            return None
        append((number, value))
    return pairs


def _framing_problems(
    pairs: list[tuple[int, str]], wire: bytes, trailer_at: int, source: Source
) -> list[Problem]:
    """BeginString, BodyLength and CheckSum per the FIX spec, over the SOH-delimited bytes."""

    def problem(code: ErrorCode, reason: str, tag: int) -> Problem:
        return Problem(code, reason, Source(source.file, source.line, tag_label(tag)))

    problems: list[Problem] = []
    begin_string = pairs[0][1]
    if begin_string not in BEGIN_STRINGS:
        problems.append(
            problem("unsupported_version", f"{begin_string!r} is not FIX.4.4 or FIX.4.2", 8)
        )
    if len(pairs) < 4 or pairs[1][0] != 9 or pairs[2][0] != 35:
        problems.append(
            problem("malformed_message", "BodyLength (9) and MsgType (35) must follow 8", 9)
        )
        return problems
    body_start = wire.index(_SOH, wire.index(_SOH) + 1) + 1
    body_length = pairs[1][1]
    if not body_length.isdigit() or int(body_length) != trailer_at - body_start:
        problems.append(
            problem(
                "bad_body_length",
                f"BodyLength is {body_length!r} but the body is {trailer_at - body_start} bytes",
                9,
            )
        )
    checksum = pairs[-1][1]
    expected = f"{sum(wire[:trailer_at]) % 256:03d}"
    if checksum != expected:
        problems.append(
            problem(
                "bad_checksum", f"CheckSum is {checksum!r} but the message sums to {expected}", 10
            )
        )
    return problems


def _execution_report(
    pairs: list[tuple[int, str]], text: str, source: Source, summary: FixLogSummary
) -> Execution | RejectedMessage | None:
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, tag: int) -> None:
        problems.append(Problem(code, reason, Source(source.file, source.line, tag_label(tag))))

    by_tag: dict[int, list[str]] = {}
    for pair_tag, pair_value in pairs:
        by_tag.setdefault(pair_tag, []).append(pair_value)

    def value(tag: int, *, required: bool = True) -> str | None:
        found = by_tag.get(tag, ())
        if not found:
            if required:
                bad("missing_field", f"{tag_label(tag)} is required", tag)
            return None
        if len(found) > 1:
            bad("invalid_field", f"{tag_label(tag)} appears {len(found)} times", tag)
            return None
        if len(found[0]) > value_chars_max:
            bad("invalid_field", f"longer than {value_chars_max} characters", tag)
            return None
        return found[0]

    exec_type = value(150)
    if exec_type is None:
        return RejectedMessage(source, text, tuple(problems))
    kind = _kind(pairs[0][1], exec_type, value(20, required=pairs[0][1] == "FIX.4.2"), bad)
    if problems or kind is None:
        return RejectedMessage(source, text, tuple(problems))
    if not isinstance(kind, ExecutionKind):  # a StrEnum is a str too: test the enum first
        summary.non_trade_reports[kind] += 1
        return None

    exec_id = value(17)
    ref_exec_id = value(19, required=kind is not ExecutionKind.TRADE)
    order_id = value(37)
    account = value(1)
    isin = _isin(value(48), value(22), bad)
    side = _side(value(54), bad)
    quantity = _decimal(value(32), 32, bad, positive=True)
    price = _decimal(value(31), 31, bad, positive=False)
    currency = _coded(value(15), 15, _CURRENCY, "a three-letter ISO 4217 code", bad)
    trade_date = _trade_date(value(75), bad)
    venue = _coded(value(30), 30, _MIC, "a four-character ISO 10383 MIC", bad)
    counterparty = _counterparty(pairs, value(375, required=False), bad)
    transact_time = _transact_time(value(60), bad)
    if (
        problems
        or exec_id is None
        or order_id is None
        or account is None
        or isin is None
        or side is None
        or quantity is None
        or price is None
        or currency is None
        or trade_date is None
        or venue is None
        or transact_time is None
    ):
        return RejectedMessage(source, text, tuple(problems))
    return Execution(
        exec_id=exec_id,
        kind=kind,
        ref_exec_id=ref_exec_id if kind is not ExecutionKind.TRADE else None,
        order_id=order_id,
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
        source=source,
        raw=text,
    )


# FIX 4.4 trade ExecTypes; FIX 4.2 fills. 4.2 feeds that send 4.3+ values get the same reading.
_TRADE_EXEC_TYPES = {
    "F": ExecutionKind.TRADE,
    "H": ExecutionKind.CANCEL,
    "G": ExecutionKind.CORRECT,
}
_FIX42_FILL_EXEC_TYPES = frozenset({"1", "2"})
_FIX42_EXEC_TRANS_TYPES = {"1": ExecutionKind.CANCEL, "2": ExecutionKind.CORRECT}


def _kind(
    begin_string: str, exec_type: str, exec_trans_type: str | None, bad: _Bad
) -> ExecutionKind | str | None:
    """The execution's kind, or the skip reason ("150=0") when the report is not a trade."""
    if begin_string == "FIX.4.4":
        return _TRADE_EXEC_TYPES.get(exec_type, f"150={exec_type}")
    if exec_trans_type is None:
        return None  # missing 20 in 4.2, already reported
    if exec_trans_type not in {"0", "1", "2", "3"}:
        bad("invalid_field", f"{exec_trans_type!r} is not 0, 1, 2 or 3", 20)
        return None
    if exec_trans_type == "3":
        return "20=3"  # a status report repeats what was sent before
    if exec_type not in _FIX42_FILL_EXEC_TYPES and exec_type not in _TRADE_EXEC_TYPES:
        return f"150={exec_type}"
    by_trans_type = _FIX42_EXEC_TRANS_TYPES.get(exec_trans_type)
    by_exec_type = _TRADE_EXEC_TYPES.get(exec_type, ExecutionKind.TRADE)
    if by_trans_type is None:
        return by_exec_type
    if by_exec_type not in {ExecutionKind.TRADE, by_trans_type}:
        bad(
            "invalid_field", f"ExecTransType {exec_trans_type} contradicts ExecType {exec_type}", 20
        )
        return None
    return by_trans_type


def _isin(security_id: str | None, id_source: str | None, bad: _Bad) -> str | None:
    if security_id is None or id_source is None:
        return None
    if id_source != ISIN_SOURCE:
        bad("unsupported_security_id", f"SecurityIDSource {id_source!r} is not 4 (ISIN)", 22)
        return None
    if not valid_isin(security_id):
        bad("invalid_field", f"{security_id!r} is not a valid ISIN", 48)
        return None
    return security_id


def _side(side: str | None, bad: _Bad) -> Side | None:
    if side is None:
        return None
    if side not in {"1", "2"}:
        bad("unsupported_side", f"Side {side!r} is not 1 (buy) or 2 (sell)", 54)
        return None
    return Side.BUY if side == "1" else Side.SELL


def _decimal(number: str | None, tag: int, bad: _Bad, *, positive: bool) -> str | None:
    if number is None:
        return None
    if not _UNSIGNED_DECIMAL.fullmatch(number):
        bad("invalid_field", f"{number!r} is not a plain decimal such as 228.52", tag)
        return None
    if positive and not number.strip("0.").strip():
        bad("invalid_field", "must be greater than zero", tag)
        return None
    return number


def _coded(
    code: str | None, tag: int, pattern: re.Pattern[str], what: str, bad: _Bad
) -> str | None:
    if code is None:
        return None
    if not pattern.fullmatch(code):
        bad("invalid_field", f"{code!r} is not {what}", tag)
        return None
    return code


def _trade_date(text: str | None, bad: _Bad) -> dt.date | None:
    if text is None:
        return None
    try:
        if _TRADE_DATE.fullmatch(text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        pass
    bad("invalid_field", f"{text!r} is not a YYYYMMDD date", 75)
    return None


def _transact_time(text: str | None, bad: _Bad) -> dt.datetime | None:
    if text is None:
        return None
    match = _UTC_TIMESTAMP.fullmatch(text)
    try:
        if match:
            date, hour, minute, second, fraction = match.groups()
            # Finer than microseconds (4.4 allows more digits) is cut here; raw keeps it all.
            microsecond = int((fraction or "").ljust(6, "0")[:6])
            return dt.datetime(
                int(date[:4]), int(date[4:6]), int(date[6:]), int(hour), int(minute),
                int(second), microsecond, tzinfo=dt.UTC,
            )  # fmt: skip
    except ValueError:
        pass
    bad("invalid_field", f"{text!r} is not a UTC timestamp YYYYMMDD-HH:MM:SS[.sss]", 60)
    return None


def _counterparty(pairs: list[tuple[int, str]], contra_broker: str | None, bad: _Bad) -> str | None:
    """The contra firm (PartyRole 17) of the Parties group (453), else ContraBroker (375)."""
    contra_firms: list[str] = []
    in_group = False
    party_id: str | None = None
    for tag, text in pairs:
        if tag == 453:
            in_group = True
            party_id = None
        elif in_group and tag in PARTY_GROUP_TAGS:
            if tag == 448:
                party_id = text
            elif tag == 452 and text == CONTRA_FIRM_ROLE and party_id is not None:
                contra_firms.append(party_id)
        else:
            in_group = False
    if len(set(contra_firms)) > 1:
        bad("invalid_field", f"more than one contra firm: {', '.join(contra_firms)}", 453)
        return None
    if contra_firms:
        return contra_firms[0]
    return contra_broker


def _printable(raw: bytes) -> str:
    """A binary line as text a person can read: bytes other than printable ASCII escaped."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw[:1024])
