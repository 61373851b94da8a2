"""Allocation instructions from a file: a FIX log of AllocationInstruction (35=J), or a CSV.

The format is detected: a file that starts with the CSV header alloc_id, trade_id, account,
quantity (optional: action, new or cancel) is a CSV; otherwise a file with a line starting with
"8=FIX" is a FIX log, framed and checked line by line exactly as `backoffice.formats.fix_log`
does (SOH or '|', BodyLength, CheckSum), session messages and other message types skipped and
counted; anything else is refused as the CSV reader refuses it.

FIX 35=J: AllocID (70), AllocTransType (71: 0 new, 2 cancel; 1 replace is refused, send a cancel
then a new), Side (54), SecurityID (48) with SecurityIDSource (22) 4 (ISIN), Quantity (53,
optional), TradeDate (75), the block's executions in NoExecs (124) / ExecID (17), and the split in
NoAllocs (78) / AllocAccount (79), AllocQty (80). A cancel names the instruction it cancels in
RefAllocID (72), or else in AllocID (70); it needs no other field, but fields given are checked.

CSV: all rows with the same alloc_id form one instruction, yielded where its first row is. Its
exec_ids are the distinct trade ids of its rows in order (a row may list several, separated by
';'); each row is one `AllocationLine`. Any problem in any of its rows rejects the instruction
whole, with every problem named by line and column: a block is never half allocated.

Whether the lines add up to the block is the service's check (it knows the executions); here
the lines must only add up to Quantity (53) when the sender states it.
"""

from __future__ import annotations

import decimal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats import trades_csv
from backoffice.formats.fix_framing import (
    TAG_NAMES,
    RejectedMessage,
    frame_message,
    log_lines,
    scan_log,
)
from backoffice.formats.fix_log import (
    SESSION_MESSAGE_TYPES,
    _decimal,
    _isin,
    _side,
    _trade_date,
    value_chars_max,
)
from backoffice.formats.trades_csv import (
    CsvHeader,
    CsvRow,
    checked_decimal,
    column_count_problem,
    csv_rows,
    field_value,
    read_header,
    row_fields,
)
from backoffice.trades.model import AllocationAction, AllocationInstruction, AllocationLine

# Every row is held until the end of the file (an instruction's rows need not be adjacent).
rows_per_file_max = 100_000

ALLOCATION_INSTRUCTION = "J"
REQUIRED_COLUMNS = ("alloc_id", "trade_id", "account", "quantity")
OPTIONAL_COLUMNS = ("action",)
TRADE_ID_SEPARATOR = ";"

ALLOCATION_TAG_NAMES = {
    **TAG_NAMES, 53: "Quantity", 70: "AllocID", 71: "AllocTransType", 72: "RefAllocID",
    73: "NoOrders", 78: "NoAllocs", 79: "AllocAccount", 80: "AllocQty", 124: "NoExecs",
}  # fmt: skip
_ALLOC_TRANS_TYPES = {"0": AllocationAction.NEW, "2": AllocationAction.CANCEL}
_REPLACE = "1"
_CSV_ACTIONS = {action.value: action for action in AllocationAction}
# Exact sums of plain decimals of up to `value_chars_max` characters, however many lines.
_EXACT = decimal.Context(prec=4 * value_chars_max, traps=[decimal.Inexact])


def allocation_tag_label(tag: int) -> str:
    """A tag as problems name it: "80 AllocQty"."""
    name = ALLOCATION_TAG_NAMES.get(tag)
    return f"{tag} {name}" if name else str(tag)


@dataclass(slots=True)
class AllocationFileSummary:
    """Counts of what a read saw; final once the iterator from `read_allocations` is exhausted.

    `file_format` is "fix" or "csv" ("" for an empty file). `lines` counts physical lines.
    """

    file_format: str = ""
    lines: int = 0
    blank_lines: int = 0
    instructions: int = 0
    rejected: int = 0
    session_messages: Counter[str] = field(default_factory=Counter)  # by MsgType
    other_messages: Counter[str] = field(default_factory=Counter)  # by MsgType


def read_allocations(
    path: Path, summary: AllocationFileSummary | None = None
) -> Iterator[AllocationInstruction | RejectedMessage]:
    """Every allocation instruction and rejected message or instruction in the file, in order.

    Raises `ProblemError` at once with `unreadable_file`, or for a file that is not a FIX log,
    with the trades CSV reader's file codes (`binary_file`, `not_utf8`, `not_a_csv`,
    `missing_header`, `wrong_delimiter`, `missing_column`, ...); and `too_many_rows` while
    reading a CSV of more than `rows_per_file_max` rows. An empty file holds no instructions.
    """
    file = str(path)
    summary = summary if summary is not None else AllocationFileSummary()
    try:
        with path.open("rb") as stream:
            looks_like_fix, has_content = scan_log(stream)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error
    if not has_content:
        return iter(())
    try:
        header = read_header(path, REQUIRED_COLUMNS, what="an allocations CSV")
    except ProblemError:
        if not looks_like_fix:
            raise
        summary.file_format = "fix"
        return _read_fix(path, file, summary)
    summary.file_format = "csv"
    return _read_csv(path, header, summary)


# -- FIX ---------------------------------------------------------------------------------------


def _read_fix(
    path: Path, file: str, summary: AllocationFileSummary
) -> Iterator[AllocationInstruction | RejectedMessage]:
    with path.open("rb") as stream:
        for line, raw in log_lines(stream):
            summary.lines += 1
            if raw is not None and not raw.strip():
                summary.blank_lines += 1
                continue
            framed = frame_message(raw, file, line)
            if isinstance(framed, RejectedMessage):
                summary.rejected += 1
                yield framed
                continue
            pairs, text = framed
            message_type = pairs[2][1]
            if message_type in SESSION_MESSAGE_TYPES:
                summary.session_messages[message_type] += 1
                continue
            if message_type != ALLOCATION_INSTRUCTION:
                summary.other_messages[message_type] += 1
                continue
            result = _fix_instruction(pairs, text, Source(file, line))
            if isinstance(result, AllocationInstruction):
                summary.instructions += 1
            else:
                summary.rejected += 1
            yield result


_FixBad = Callable[[ErrorCode, str, int], None]


def _fix_instruction(
    pairs: list[tuple[int, str]], text: str, source: Source
) -> AllocationInstruction | RejectedMessage:
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, tag: int) -> None:
        label = allocation_tag_label(tag)
        problems.append(Problem(code, reason, Source(source.file, source.line, label)))

    def value(tag: int, *, required: bool = True) -> str | None:
        found = [v for t, v in pairs if t == tag]
        if not found:
            if required:
                bad("missing_field", f"{allocation_tag_label(tag)} is required", tag)
            return None
        if len(found) > 1:
            bad("invalid_field", f"{allocation_tag_label(tag)} appears {len(found)} times", tag)
            return None
        if len(found[0]) > value_chars_max:
            bad("invalid_field", f"longer than {value_chars_max} characters", tag)
            return None
        return found[0]

    alloc_id = value(70)
    action = _fix_action(value(71), bad)
    ref_alloc_id = value(72, required=False)
    is_new = action is not AllocationAction.CANCEL
    side = _side(value(54, required=is_new), bad)
    security_id = value(48, required=is_new)
    isin = _isin(security_id, value(22, required=security_id is not None), bad)
    quantity = _decimal(value(53, required=False), 53, bad, positive=True)
    trade_date = _trade_date(value(75, required=is_new), bad)
    exec_ids = _fix_exec_ids(pairs, value(124, required=False), bad, required=is_new)
    lines_from = len(problems)
    lines = _fix_allocation_lines(pairs, value(78, required=False), source, bad, required=is_new)
    if quantity is not None and lines and len(problems) == lines_from:
        _check_total(quantity, lines, bad)
    if problems or alloc_id is None or action is None:
        return RejectedMessage(source, text, tuple(problems))
    return AllocationInstruction(
        alloc_id=ref_alloc_id if action is AllocationAction.CANCEL and ref_alloc_id else alloc_id,
        action=action,
        exec_ids=exec_ids,
        side=side,
        isin=isin,
        quantity=quantity,
        trade_date=trade_date,
        lines=lines,
        source=source,
        raw=text,
    )


def _fix_action(trans_type: str | None, bad: _FixBad) -> AllocationAction | None:
    if trans_type is None:
        return None
    if trans_type == _REPLACE:
        bad(
            "replace_not_supported",
            "AllocTransType 1 (replace) is not supported: send a cancel (71=2) of the "
            "instruction, then a new one (71=0)",
            71,
        )
        return None
    action = _ALLOC_TRANS_TYPES.get(trans_type)
    if action is None:
        bad("invalid_field", f"AllocTransType {trans_type!r} is not 0 (new) or 2 (cancel)", 71)
    return action


def _fix_exec_ids(
    pairs: list[tuple[int, str]], no_execs: str | None, bad: _FixBad, *, required: bool
) -> tuple[str, ...]:
    """The ExecIDs (17) of the NoExecs (124) group: the executions the block is made of."""
    exec_ids: list[str] = []
    for tag, exec_id in pairs:
        if tag != 17:
            continue
        if len(exec_id) > value_chars_max:
            bad("invalid_field", f"an ExecID is longer than {value_chars_max} characters", 17)
        elif exec_id in exec_ids:
            bad("invalid_field", f"ExecID {exec_id!r} is listed twice", 17)
        exec_ids.append(exec_id)
    if no_execs is not None:
        if not no_execs.isdigit():
            bad("invalid_field", f"NoExecs {no_execs!r} is not a count", 124)
        elif int(no_execs) != len(exec_ids):
            bad(
                "group_count_mismatch",
                f"NoExecs is {no_execs} but {len(exec_ids)} ExecID (17) follow",
                124,
            )
    elif exec_ids:
        bad("missing_field", "ExecID (17) is given without NoExecs (124)", 124)
    if not exec_ids and required:
        order_tags = [tag for tag, _ in pairs if tag in {73, 37}]
        if order_tags:
            bad(
                "executions_required",
                "the instruction names orders (NoOrders 73 / OrderID 37): list the block's "
                "executions in NoExecs (124) with ExecID (17) instead",
                order_tags[0],
            )
        else:
            bad(
                "executions_required",
                "the block's executions are required in NoExecs (124) with ExecID (17)",
                124,
            )
    return tuple(exec_ids)


def _fix_allocation_lines(
    pairs: list[tuple[int, str]],
    no_allocs: str | None,
    source: Source,
    bad: _FixBad,
    *,
    required: bool,
) -> tuple[AllocationLine, ...]:
    """The NoAllocs (78) group: each entry starts with AllocAccount (79) and holds AllocQty (80)."""
    entries: list[tuple[str, list[str]]] = []
    count_seen = False
    for tag, text in pairs:
        if tag == 78:
            count_seen = True
        elif tag == 79:
            if no_allocs is not None and not count_seen and not entries:
                bad("malformed_group", "AllocAccount (79) comes before NoAllocs (78)", 79)
            entries.append((text, []))
        elif tag == 80:
            if entries:
                entries[-1][1].append(text)
            else:
                bad("malformed_group", "AllocQty (80) comes before any AllocAccount (79)", 80)
    if no_allocs is not None:
        if not no_allocs.isdigit():
            bad("invalid_field", f"NoAllocs {no_allocs!r} is not a count", 78)
        elif int(no_allocs) != len(entries):
            bad(
                "group_count_mismatch",
                f"NoAllocs is {no_allocs} but {len(entries)} AllocAccount (79) follow",
                78,
            )
    elif entries:
        bad("missing_field", "AllocAccount (79) is given without NoAllocs (78)", 78)
    if not entries and required:
        bad("no_allocations", "a new instruction needs at least one AllocAccount (79)", 78)

    lines: list[AllocationLine] = []
    accounts: set[str] = set()
    for account, quantities in entries:
        if len(account) > value_chars_max:
            bad("invalid_field", f"an AllocAccount is longer than {value_chars_max} characters", 79)
            continue
        if account in accounts:
            bad("duplicate_account", f"account {account!r} is allocated twice", 79)
        accounts.add(account)
        if not quantities:
            bad("missing_field", f"AllocQty (80) is required for account {account!r}", 80)
            continue
        if len(quantities) > 1:
            bad("malformed_group", f"account {account!r} has {len(quantities)} AllocQty (80)", 80)
            continue
        quantity = _decimal(quantities[0], 80, bad, positive=True)
        if quantity is not None:
            lines.append(AllocationLine(account, quantity, source))
    return tuple(lines)


def _check_total(quantity: str, lines: tuple[AllocationLine, ...], bad: _FixBad) -> None:
    with decimal.localcontext(_EXACT):
        total = sum((Decimal(line.quantity) for line in lines), Decimal(0))
        if total != Decimal(quantity):
            bad(
                "quantities_do_not_add_up",
                f"the allocations add up to {total} but Quantity (53) is {quantity}",
                53,
            )


# -- CSV ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CsvEntry:
    """One well-formed row of an instruction: its action, trade ids and line (None if bad)."""

    row: CsvRow
    action: AllocationAction | None
    trade_ids: tuple[str, ...]
    line: AllocationLine | None


@dataclass(slots=True)
class _CsvInstructionRows:
    """The rows of one alloc_id, gathered over the whole file, and their problems."""

    alloc_id: str
    entries: list[_CsvEntry] = field(default_factory=list)
    misaligned: list[CsvRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _read_csv(
    path: Path, header: CsvHeader, summary: AllocationFileSummary
) -> Iterator[AllocationInstruction | RejectedMessage]:
    summary.lines = header.line
    summary.blank_lines = header.blank_lines_before
    instructions: dict[str, _CsvInstructionRows] = {}
    loose: list[RejectedMessage] = []  # lines that name no instruction
    misaligned: list[tuple[CsvRow, Problem]] = []
    alloc_id_at = header.index("alloc_id")
    for item in csv_rows(path, header, trades_csv.line_bytes_max, rows_per_file_max):
        summary.lines += 1
        if item is None:
            summary.blank_lines += 1
        elif isinstance(item, RejectedMessage):
            loose.append(item)
        elif (count_problem := column_count_problem(item, header)) is not None:
            misaligned.append((item, count_problem))
        else:
            _add_row(item, header, instructions, loose)
    for row, count_problem in misaligned:
        # A short or long row's alloc_id may be out of place; when it names an instruction of
        # the file anyway, that instruction is rejected too: it may have lost a line.
        named = row.values[alloc_id_at].strip() if alloc_id_at is not None else ""
        if alloc_id_at is not None and alloc_id_at < len(row.values) and named in instructions:
            instructions[named].misaligned.append(row)
            instructions[named].problems.append(count_problem)
        else:
            loose.append(RejectedMessage(row.source(), row.raw, (count_problem,)))
    results = [_csv_instruction(rows, header.file) for rows in instructions.values()] + loose
    for result in sorted(results, key=lambda r: r.source.line or 0):
        if isinstance(result, AllocationInstruction):
            summary.instructions += 1
        else:
            summary.rejected += 1
        yield result


def _add_row(
    row: CsvRow,
    header: CsvHeader,
    instructions: dict[str, _CsvInstructionRows],
    loose: list[RejectedMessage],
) -> None:
    fields = row_fields(row, header)
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, row.source(column)))

    alloc_id = field_value(fields, "alloc_id", bad, required=True)
    action = _csv_action(field_value(fields, "action", bad, required=False), bad)
    # A cancel needs only its alloc_id; the rest, when given, is checked all the same.
    is_new = action is not AllocationAction.CANCEL
    trade_ids = _trade_ids(fields.get("trade_id", ""), bad, required=is_new)
    has_account, has_quantity = bool(fields.get("account")), bool(fields.get("quantity"))
    account = field_value(fields, "account", bad, required=is_new or has_quantity)
    quantity = checked_decimal(
        field_value(fields, "quantity", bad, required=is_new or has_account), "quantity", bad
    )
    if alloc_id is None:
        loose.append(RejectedMessage(row.source(), row.raw, tuple(problems)))
        return
    line = None
    if account is not None and quantity is not None:
        line = AllocationLine(account, quantity, row.source())
    gathered = instructions.setdefault(alloc_id, _CsvInstructionRows(alloc_id))
    gathered.entries.append(_CsvEntry(row, action, trade_ids, line))
    gathered.problems.extend(problems)


def _csv_action(action: str | None, bad: trades_csv.Bad) -> AllocationAction | None:
    if action is None:
        return AllocationAction.NEW
    found = _CSV_ACTIONS.get(action.lower())
    if found is None:
        bad("invalid_field", f"{action!r} is not new or cancel", "action")
    return found


def _trade_ids(text: str, bad: trades_csv.Bad, *, required: bool) -> tuple[str, ...]:
    if not text:
        if required:
            bad("missing_field", "trade_id is required", "trade_id")
        return ()
    trade_ids = tuple(piece.strip() for piece in text.split(TRADE_ID_SEPARATOR))
    if not all(trade_ids):
        bad("invalid_field", f"{text!r} has an empty trade id between ';'", "trade_id")
        return ()
    if any(len(trade_id) > value_chars_max for trade_id in trade_ids):
        bad("invalid_field", f"a trade id is longer than {value_chars_max} characters", "trade_id")
        return ()
    return trade_ids


def _csv_instruction(
    gathered: _CsvInstructionRows, file: str
) -> AllocationInstruction | RejectedMessage:
    first = gathered.entries[0].row
    problems = list(gathered.problems)
    known_actions = [entry.action for entry in gathered.entries if entry.action is not None]
    action = known_actions[0] if known_actions else None
    lines: list[AllocationLine] = []
    for entry in gathered.entries:
        if entry.action is not None and entry.action is not action:
            problems.append(
                Problem(
                    "inconsistent_action",
                    f"alloc_id {gathered.alloc_id!r} is {action} on line {first.line} but "
                    f"{entry.action} here: one instruction has one action",
                    entry.row.source("action"),
                )
            )
        if entry.line is None:
            continue
        if any(entry.line.account == earlier.account for earlier in lines):
            problems.append(
                Problem(
                    "duplicate_account",
                    f"account {entry.line.account!r} is allocated twice in {gathered.alloc_id!r}",
                    entry.row.source("account"),
                )
            )
        lines.append(entry.line)
    exec_ids = tuple(dict.fromkeys(t for entry in gathered.entries for t in entry.trade_ids))
    rows = sorted([entry.row for entry in gathered.entries] + gathered.misaligned, key=_line)
    raw = "\n".join(row.raw for row in rows)
    source = Source(file, first.line)
    if problems or action is None:
        problems.sort(key=lambda problem: problem.source.line or 0)
        return RejectedMessage(source, raw, tuple(problems))
    return AllocationInstruction(
        alloc_id=gathered.alloc_id,
        action=action,
        exec_ids=exec_ids,
        side=None,
        isin=None,
        quantity=None,
        trade_date=None,
        lines=tuple(lines),
        source=source,
        raw=raw,
    )


def _line(row: CsvRow) -> int:
    return row.line
