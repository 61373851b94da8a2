"""FIX log lines framed as FIX messages: every FIX reader (execution reports in `fix_log`,
allocation instructions in `allocations`, confirmation acks in `affirmations`) reads a log this
way before it reads any field.

The field delimiter is SOH (0x01), '|' or "^A" (SOH in caret notation, as a terminal shows it),
detected per line; with '|' or "^A" the message is checked as if it had been sent with SOH. A
line holding several messages one after another (as some OMS drop-copy dumps write them) is cut
after each CheckSum the next "8=FIX" follows (`split_messages`). The time stamp a QuickFIX file
log writes before each message ("20261124-14:30:00.125 : ") is set aside. A framed message has
its BeginString, BodyLength and CheckSum checked per the FIX spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import simplefix
from simplefix import data as simplefix_data

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.lines import bounded_lines

line_bytes_max = 64 * 1024
fields_per_message_max = 1000

BEGIN_STRINGS = frozenset({"FIX.4.4", "FIX.4.2"})

TAG_NAMES = {
    1: "Account", 8: "BeginString", 9: "BodyLength", 10: "CheckSum", 15: "Currency",
    17: "ExecID", 19: "ExecRefID", 20: "ExecTransType", 22: "SecurityIDSource", 30: "LastMkt",
    31: "LastPx", 32: "LastQty", 35: "MsgType", 37: "OrderID", 48: "SecurityID", 54: "Side",
    60: "TransactTime", 75: "TradeDate", 150: "ExecType", 375: "ContraBroker",
    448: "PartyID", 452: "PartyRole", 453: "NoPartyIDs",
}  # fmt: skip

_SOH = b"\x01"
_PIPE = b"|"
# Control characters other than SOH, and DEL: a line holding them is binary, not a message.
_BINARY = re.compile(rb"[\x00\x02-\x08\x0b-\x1f\x7f]")


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


def scan_log(stream: IO[bytes]) -> tuple[bool, bool]:
    """(a line starts with 8=FIX, the file has a non-blank line), reading no more than needed."""
    has_content = False
    for _, raw in log_lines(stream):
        if raw is None:
            has_content = True
            continue
        stripped = raw.lstrip(b"\xef\xbb\xbf").strip()
        if stripped:
            has_content = True
        if stripped.startswith(b"8=FIX"):
            return True, True
    return False, has_content


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


def placed_on_line(rejected: RejectedMessage, number: int, count: int) -> RejectedMessage:
    """`rejected`, its reasons saying which of the line's messages it is."""
    place = f"message {number} of {count} on the line: "
    problems = tuple(Problem(p.code, place + p.reason, p.source) for p in rejected.problems)
    return RejectedMessage(rejected.source, rejected.raw, problems)


def log_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
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


def frame_message(
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
        return reject("binary_line", "the line is not UTF-8 text", printable(raw))
    if _BINARY.search(raw):
        return reject("binary_line", "the line holds control characters", printable(raw))
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


def printable(raw: bytes) -> str:
    """A binary line as text a person can read: bytes other than printable ASCII escaped."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw[:1024])
