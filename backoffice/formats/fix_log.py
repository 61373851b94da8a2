"""FIX 4.4 and 4.2 execution reports from a FIX log file, one message per line.

Lines are framed as FIX messages by `fix_framing` (delimiter SOH, '|' or "^A"; BodyLength and
CheckSum checked). A line holding several messages one after another (as some OMS
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

from stdnum import isin as stdnum_isin

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.fix_framing import (
    RejectedMessage,
    frame_message,
    log_lines,
    placed_on_line,
    scan_log,
    split_messages,
    tag_label,
)
from backoffice.trades.model import Execution, ExecutionKind, Side

value_chars_max = 64  # identifiers, numbers and codes we keep; longer is refused, not cut

# Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset, Logout, Logon.
SESSION_MESSAGE_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
EXECUTION_REPORT = "8"
ISIN_SOURCE = "4"
CONTRA_FIRM_ROLE = "17"
# Tags that may follow NoPartyIDs (453) inside the Parties group, with its PartySubIDs.
PARTY_GROUP_TAGS = frozenset({448, 447, 452, 802, 523, 803})

_UNSIGNED_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_TRADE_DATE = re.compile(r"[0-9]{8}")
_UTC_TIMESTAMP = re.compile(r"([0-9]{8})-([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MIC = re.compile(r"[A-Z0-9]{4}")
# How each field check reports a problem: (code, reason, tag).
_Bad = Callable[[ErrorCode, str, int], None]


@functools.lru_cache(maxsize=65_536)
def valid_isin(text: str) -> bool:
    """ISIN format and check digit (python-stdnum), upper case only; remembered, as a day's
    executions name the same few thousand securities over and over."""
    return text == text.upper() and bool(stdnum_isin.is_valid(text))


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
            looks_like_fix, has_content = scan_log(stream)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error
    if has_content and not looks_like_fix:
        raise ProblemError(
            Problem("not_a_fix_log", 'no line starts with "8=FIX": not a FIX log', Source(file))
        )
    return _read(path, file, summary if summary is not None else FixLogSummary())


def _read(path: Path, file: str, summary: FixLogSummary) -> Iterator[Execution | RejectedMessage]:
    with path.open("rb") as stream:
        for line, raw in log_lines(stream):
            summary.lines += 1
            if raw is not None and not raw.strip():
                summary.blank_lines += 1
                continue
            messages = split_messages(raw) if raw is not None else [raw]
            for number, message in enumerate(messages, 1):
                result = _message(message, file, line, summary)
                if isinstance(result, RejectedMessage) and len(messages) > 1:
                    result = placed_on_line(result, number, len(messages))
                if isinstance(result, Execution):
                    summary.executions += 1
                    yield result
                elif isinstance(result, RejectedMessage):
                    summary.rejected += 1
                    yield result


def _message(
    raw: bytes | None, file: str, line: int, summary: FixLogSummary
) -> Execution | RejectedMessage | None:
    framed = frame_message(raw, file, line)
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
