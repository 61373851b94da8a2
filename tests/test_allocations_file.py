"""Reading allocation instructions from a FIX log or a CSV (backoffice.formats.allocations)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats import allocations
from backoffice.formats.allocations import AllocationFileSummary, read_allocations
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.trades.model import AllocationAction, AllocationInstruction, Side

APPLE = "US0378331005"
SOH = b"\x01"

BLOCK: dict[int, str] = {
    49: "BROKER", 56: "CUSTODIAN", 34: "7", 52: "20261124-16:00:00.000",
    70: "A-1", 71: "0", 626: "1", 857: "1", 54: "1", 55: "AAPL", 48: APPLE, 22: "4",
    53: "100", 6: "228.52", 75: "20261124",
}  # fmt: skip
TWO_ACCOUNTS: tuple[tuple[str, str | None], ...] = (("C0001", "60"), ("C0002", "40"))


def allocation_message(
    fields: dict[int, str] = BLOCK,
    *,
    version: str = "FIX.4.4",
    message_type: str = "J",
    executions: Sequence[str] = ("E-1", "E-2"),
    no_execs: str | None = None,
    orders: Sequence[str] = (),
    accounts: Sequence[tuple[str, str | None]] = TWO_ACCOUNTS,
    no_allocs: str | None = None,
    allocation_group: Sequence[tuple[int, str]] | None = None,
    **changes: str | None,
) -> bytes:
    """An encoded 35=J (right BodyLength and CheckSum); `changes` as t53="90" or t53=None.

    The groups follow the body: NoOrders (73) when `orders`, NoExecs (124) with ExecID (17),
    NoAllocs (78) with AllocAccount (79) and AllocQty (80), or `allocation_group` as given.
    """
    message = simplefix.FixMessage()
    message.append_pair(8, version, header=True)
    message.append_pair(35, message_type, header=True)
    merged = dict(fields)
    for name, value in changes.items():
        tag = int(name.removeprefix("t"))
        if value is None:
            merged.pop(tag, None)
        else:
            merged[tag] = value
    for tag, value in merged.items():
        message.append_pair(tag, value)
    if orders:
        message.append_pair(73, str(len(orders)))
        for order_id in orders:
            message.append_pair(11, f"CL-{order_id}")
            message.append_pair(37, order_id)
    if executions or no_execs is not None:
        message.append_pair(124, no_execs if no_execs is not None else str(len(executions)))
        for exec_id in executions:
            message.append_pair(32, "50")
            message.append_pair(17, exec_id)
            message.append_pair(31, "228.52")
    group = allocation_group
    if group is None:
        group = []
        for account, quantity in accounts:
            group.append((79, account))
            if quantity is not None:
                group.append((80, quantity))
    count = sum(1 for tag, _ in group if tag == 79)
    if group or no_allocs is not None:
        message.append_pair(78, no_allocs if no_allocs is not None else str(count))
        for tag, value in group:
            message.append_pair(tag, value)
    encoded: bytes = message.encode()
    return encoded


def session_message(message_type: str) -> bytes:
    return allocation_message(
        {49: "BROKER", 56: "CUSTODIAN", 34: "1"},
        message_type=message_type,
        executions=(),
        accounts=(),
    )


def write_log(tmp_path: Path, messages: list[bytes], delimiter: bytes = SOH) -> Path:
    path = tmp_path / "allocations.log"
    path.write_bytes(b"".join(m.replace(SOH, delimiter) + b"\n" for m in messages))
    return path


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allocations.csv"
    path.write_text(text)
    return path


def read_all(
    path: Path,
) -> tuple[list[AllocationInstruction | RejectedMessage], AllocationFileSummary]:
    summary = AllocationFileSummary()
    return list(read_allocations(path, summary)), summary


def only_instruction(path: Path) -> AllocationInstruction:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], AllocationInstruction), results[0]
    return results[0]


def only_rejection(path: Path) -> RejectedMessage:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], RejectedMessage), results[0]
    return results[0]


def problems_of(rejected: RejectedMessage) -> list[tuple[str, str | None]]:
    return [(p.code, p.source.field) for p in rejected.problems]


def fix_rejection(tmp_path: Path, **options: Any) -> RejectedMessage:
    return only_rejection(write_log(tmp_path, [allocation_message(**options)]))


# -- FIX AllocationInstruction (35=J) ----------------------------------------------------------


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_a_fix_allocation_instruction_is_read_with_every_field(
    tmp_path: Path, delimiter: bytes
) -> None:
    encoded = allocation_message()
    path = write_log(tmp_path, [encoded], delimiter)
    instruction = only_instruction(path)
    assert instruction.alloc_id == "A-1"
    assert instruction.action is AllocationAction.NEW
    assert instruction.exec_ids == ("E-1", "E-2")
    assert instruction.side is Side.BUY
    assert instruction.isin == APPLE
    assert instruction.quantity == "100"
    assert instruction.trade_date == dt.date(2026, 11, 24)
    assert [(line.account, line.quantity) for line in instruction.lines] == [
        ("C0001", "60"),
        ("C0002", "40"),
    ]
    assert instruction.source.file == str(path)
    assert instruction.source.line == 1
    assert instruction.lines[0].source.line == 1
    assert instruction.raw == encoded.replace(SOH, b"|").decode()


def test_a_fix_42_allocation_instruction_is_read(tmp_path: Path) -> None:
    message = allocation_message(version="FIX.4.2", t54="2", t626=None, t857=None)
    instruction = only_instruction(write_log(tmp_path, [message], b"|"))
    assert instruction.side is Side.SELL


def test_session_messages_and_other_message_types_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    execution_report = allocation_message(
        {37: "ORD-1", 17: "E-1", 150: "F"}, message_type="8", executions=(), accounts=()
    )
    messages = [
        session_message("A"),
        session_message("0"),
        execution_report,
        allocation_message(),
        session_message("5"),
    ]
    results, summary = read_all(write_log(tmp_path, messages))
    assert [type(r) for r in results] == [AllocationInstruction]
    assert results[0].source.line == 4
    assert summary.file_format == "fix"
    assert summary.session_messages == {"A": 1, "0": 1, "5": 1}
    assert summary.other_messages == {"8": 1}
    assert (summary.lines, summary.instructions, summary.rejected) == (5, 1, 0)


def test_a_cancel_names_the_instruction_it_cancels_in_ref_alloc_id(tmp_path: Path) -> None:
    cancel = allocation_message(t70="A-1-CXL", t71="2", t72="A-1")
    instruction = only_instruction(write_log(tmp_path, [cancel]))
    assert (instruction.action, instruction.alloc_id) == (AllocationAction.CANCEL, "A-1")


def test_a_cancel_needs_no_more_than_its_alloc_id(tmp_path: Path) -> None:
    cancel = allocation_message(
        {70: "A-1", 71: "2"}, executions=(), accounts=(), t49="BROKER", t56="CUSTODIAN"
    )
    instruction = only_instruction(write_log(tmp_path, [cancel]))
    assert instruction.alloc_id == "A-1"
    assert instruction.action is AllocationAction.CANCEL
    assert (instruction.exec_ids, instruction.lines, instruction.side) == ((), (), None)


def test_a_replace_is_refused_asking_for_a_cancel_then_a_new_instruction(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, t71="1", t72="A-0")
    assert problems_of(rejected) == [("replace_not_supported", "71 AllocTransType")]
    assert "cancel" in rejected.problems[0].reason
    assert "new" in rejected.problems[0].reason


def test_an_unknown_alloc_trans_type_is_rejected(tmp_path: Path) -> None:
    assert problems_of(fix_rejection(tmp_path, t71="6")) == [("invalid_field", "71 AllocTransType")]


def test_an_instruction_naming_orders_instead_of_executions_is_refused(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, executions=(), orders=("ORD-1", "ORD-2"))
    assert problems_of(rejected) == [("executions_required", "73 NoOrders")]


def test_an_instruction_naming_no_executions_is_refused(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, executions=())
    assert problems_of(rejected) == [("executions_required", "124 NoExecs")]


def test_orders_listed_beside_the_executions_are_accepted(tmp_path: Path) -> None:
    message = allocation_message(orders=("ORD-1",))
    assert only_instruction(write_log(tmp_path, [message])).exec_ids == ("E-1", "E-2")


def test_a_no_execs_count_that_does_not_match_the_group_is_rejected(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, no_execs="3")
    assert problems_of(rejected) == [("group_count_mismatch", "124 NoExecs")]


def test_a_no_allocs_count_that_does_not_match_the_group_is_rejected(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, no_allocs="3")
    assert problems_of(rejected) == [("group_count_mismatch", "78 NoAllocs")]
    assert "NoAllocs is 3 but 2" in rejected.problems[0].reason


@pytest.mark.parametrize("no_allocs", ["0", None], ids=["zero", "absent"])
def test_a_new_instruction_without_allocations_is_rejected(
    tmp_path: Path, no_allocs: str | None
) -> None:
    rejected = fix_rejection(tmp_path, accounts=(), no_allocs=no_allocs)
    assert problems_of(rejected) == [("no_allocations", "78 NoAllocs")]


def test_an_account_allocated_twice_in_one_instruction_is_rejected(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, accounts=(("C0001", "60"), ("C0001", "40")))
    assert problems_of(rejected) == [("duplicate_account", "79 AllocAccount")]


def test_allocations_that_do_not_add_up_to_the_stated_quantity_are_rejected_naming_both(
    tmp_path: Path,
) -> None:
    rejected = fix_rejection(tmp_path, accounts=(("C0001", "60"), ("C0002", "30")))
    assert problems_of(rejected) == [("quantities_do_not_add_up", "53 Quantity")]
    assert "90" in rejected.problems[0].reason
    assert "100" in rejected.problems[0].reason


def test_allocations_are_compared_with_the_quantity_by_value_not_by_text(tmp_path: Path) -> None:
    message = allocation_message(t53="100.00", accounts=(("C0001", "60.5"), ("C0002", "39.50")))
    instruction = only_instruction(write_log(tmp_path, [message]))
    assert [line.quantity for line in instruction.lines] == ["60.5", "39.50"]
    assert instruction.quantity == "100.00"


def test_without_a_stated_quantity_the_lines_are_not_totalled_here(tmp_path: Path) -> None:
    message = allocation_message(t53=None, accounts=(("C0001", "7"),))
    instruction = only_instruction(write_log(tmp_path, [message]))
    assert instruction.quantity is None


@pytest.mark.parametrize("quantity", ["1e2", "-40", "0", ".5", "40,0"])
def test_an_alloc_qty_that_is_not_a_plain_positive_decimal_is_rejected(
    tmp_path: Path, quantity: str
) -> None:
    rejected = fix_rejection(tmp_path, accounts=(("C0001", "60"), ("C0002", quantity)))
    assert problems_of(rejected) == [("invalid_field", "80 AllocQty")]


def test_an_account_without_a_quantity_is_rejected(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, accounts=(("C0001", "100"), ("C0002", None)))
    assert problems_of(rejected) == [("missing_field", "80 AllocQty")]


def test_an_alloc_qty_before_any_account_is_a_malformed_group(tmp_path: Path) -> None:
    rejected = fix_rejection(tmp_path, allocation_group=[(80, "40"), (79, "C0001"), (80, "60")])
    assert ("malformed_group", "80 AllocQty") in problems_of(rejected)


def test_every_problem_of_an_instruction_is_reported_at_once(tmp_path: Path) -> None:
    rejected = fix_rejection(
        tmp_path,
        t70=None,
        t54="5",
        t75=None,
        t48="US0378331006",
        no_execs="1",
        accounts=(("C0001", "1E2"),),
    )
    assert sorted(problems_of(rejected)) == [
        ("group_count_mismatch", "124 NoExecs"),
        ("invalid_field", "48 SecurityID"),
        ("invalid_field", "80 AllocQty"),
        ("missing_field", "70 AllocID"),
        ("missing_field", "75 TradeDate"),
        ("unsupported_side", "54 Side"),
    ]


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_a_wrong_checksum_is_rejected_as_in_the_execution_log(
    tmp_path: Path, delimiter: bytes
) -> None:
    tampered = allocation_message().replace(b"80=60\x01", b"80=90\x01")
    rejected = only_rejection(write_log(tmp_path, [tampered], delimiter))
    assert problems_of(rejected) == [("bad_checksum", "10 CheckSum")]


def test_a_wrong_body_length_is_rejected(tmp_path: Path) -> None:
    encoded = allocation_message()
    body_length = encoded.split(SOH)[1]
    tampered = encoded.replace(body_length + SOH, b"9=12" + SOH, 1)
    rejected = only_rejection(write_log(tmp_path, [tampered]))
    assert "bad_body_length" in [p.code for p in rejected.problems]


def test_a_truncated_last_message_is_rejected_after_the_complete_ones(tmp_path: Path) -> None:
    path = tmp_path / "allocations.log"
    path.write_bytes(allocation_message() + b"\n" + allocation_message(t70="A-2")[:70])
    results, summary = read_all(path)
    assert isinstance(results[0], AllocationInstruction)
    assert isinstance(results[1], RejectedMessage)
    assert problems_of(results[1]) == [("truncated_message", None)]
    assert (summary.instructions, summary.rejected) == (1, 1)


def test_a_missing_file_is_refused_with_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match="unreadable_file"):
        read_allocations(tmp_path / "absent.log")


def test_an_empty_file_holds_no_instructions(tmp_path: Path) -> None:
    results, summary = read_all(write_csv(tmp_path, ""))
    assert (results, summary.file_format) == ([], "")


# -- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = "alloc_id,trade_id,account,quantity"


def test_csv_rows_with_one_alloc_id_form_one_instruction(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        f"{CSV_HEADER}\nA-1,T-1;T-2,C0001,60\nA-2,T-3,C0003,10\nA-1,T-2; T-4,C0002,40\n",
    )
    results, summary = read_all(path)
    assert summary.file_format == "csv"
    first, second = results
    assert isinstance(first, AllocationInstruction)
    assert first.alloc_id == "A-1"
    assert first.action is AllocationAction.NEW
    assert first.exec_ids == ("T-1", "T-2", "T-4")
    assert [(line.account, line.quantity, line.source.line) for line in first.lines] == [
        ("C0001", "60", 2),
        ("C0002", "40", 4),
    ]
    assert (first.side, first.isin, first.quantity, first.trade_date) == (None, None, None, None)
    assert first.source.line == 2
    assert first.raw == "A-1,T-1;T-2,C0001,60\nA-1,T-2; T-4,C0002,40"
    assert isinstance(second, AllocationInstruction)
    assert (second.alloc_id, second.exec_ids, second.source.line) == ("A-2", ("T-3",), 3)
    assert (summary.lines, summary.instructions) == (4, 2)


def test_a_csv_cancel_needs_only_its_alloc_id(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"Action,{CSV_HEADER}\nCANCEL,A-1,,,\n")
    instruction = only_instruction(path)
    assert (instruction.alloc_id, instruction.action) == ("A-1", AllocationAction.CANCEL)
    assert (instruction.exec_ids, instruction.lines) == ((), ())


def test_a_problem_in_one_row_rejects_its_whole_instruction_but_not_the_others(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        f"{CSV_HEADER}\nA-1,T-1,C0001,60\nA-2,T-2,C0003,10\nA-1,T-1,C0002,-40\nA-1,,C0004,1\n",
    )
    results, summary = read_all(path)
    rejected, accepted = results
    assert isinstance(rejected, RejectedMessage)
    assert [(p.code, p.source.line, p.source.field) for p in rejected.problems] == [
        ("invalid_field", 4, "quantity"),
        ("missing_field", 5, "trade_id"),
    ]
    assert rejected.source.line == 2
    assert rejected.raw.count("\n") == 2
    assert isinstance(accepted, AllocationInstruction)
    assert accepted.alloc_id == "A-2"
    assert (summary.instructions, summary.rejected) == (1, 1)


def test_a_csv_account_allocated_twice_in_one_instruction_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C0001,60\nA-1,T-1,C0001,40\n")
    rejected = only_rejection(path)
    assert [(p.code, p.source.line) for p in rejected.problems] == [("duplicate_account", 3)]


def test_rows_of_one_instruction_with_different_actions_are_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, f"{CSV_HEADER},action\nA-1,T-1,C0001,60,new\nA-1,T-1,C0002,40,cancel\n"
    )
    assert problems_of(only_rejection(path)) == [("inconsistent_action", "action")]


def test_an_unknown_csv_action_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER},action\nA-1,T-1,C0001,60,replace\n")
    assert problems_of(only_rejection(path)) == [("invalid_field", "action")]


def test_a_csv_row_without_an_alloc_id_is_rejected_on_its_own(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C0001,60\n,T-1,C0002,40\n")
    results, _ = read_all(path)
    assert isinstance(results[0], AllocationInstruction)
    assert isinstance(results[1], RejectedMessage)
    assert problems_of(results[1]) == [("missing_field", "alloc_id")]


def test_an_empty_trade_id_between_separators_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1;;T-2,C0001,60\n")
    assert problems_of(only_rejection(path)) == [("invalid_field", "trade_id")]


def test_a_short_row_naming_an_instruction_rejects_that_instruction_too(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C0001,60\nA-1,T-1,C0002\nA-2,T-2,C9,1\n")
    results, _ = read_all(path)
    rejected, accepted = results
    assert isinstance(rejected, RejectedMessage)
    assert [(p.code, p.source.line) for p in rejected.problems] == [("wrong_column_count", 3)]
    assert rejected.raw == "A-1,T-1,C0001,60\nA-1,T-1,C0002"
    assert isinstance(accepted, AllocationInstruction)


def test_a_misaligned_row_naming_no_instruction_is_rejected_on_its_own(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C0001,60\nC0002,40\n")
    results, _ = read_all(path)
    assert [type(r) for r in results] == [AllocationInstruction, RejectedMessage]
    assert results[1].source.line == 3


def test_a_csv_row_that_looks_like_fix_does_not_make_the_file_a_fix_log(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C0001,60\n8=FIX.4.4,T-2,C0002,1\n")
    results, summary = read_all(path)
    assert summary.file_format == "csv"
    assert [r.source.line for r in results] == [2, 3]


def test_a_fix_log_opening_with_an_operator_note_is_still_a_fix_log(tmp_path: Path) -> None:
    path = tmp_path / "allocations.log"
    path.write_bytes(b"session started\n" + allocation_message() + b"\n")
    results, summary = read_all(path)
    assert summary.file_format == "fix"
    assert [type(r) for r in results] == [RejectedMessage, AllocationInstruction]
    assert isinstance(results[0], RejectedMessage)
    assert problems_of(results[0]) == [("not_a_fix_message", None)]


def test_a_semicolon_separated_allocations_csv_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "alloc_id;trade_id;account;quantity\nA-1;T-1;C0001;60\n")
    with pytest.raises(ProblemError) as raised:
        read_allocations(path)
    assert [(p.code, p.source.line) for p in raised.value.problems] == [("wrong_delimiter", 1)]


def test_an_allocations_csv_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "alloc_id,trade_id,account\nA-1,T-1,C0001\n")
    with pytest.raises(ProblemError, match=r"missing_column.*quantity"):
        read_allocations(path)


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    with pytest.raises(ProblemError, match="binary_file"):
        read_allocations(path)


def test_an_allocations_csv_over_the_row_limit_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allocations, "rows_per_file_max", 2)
    path = write_csv(tmp_path, f"{CSV_HEADER}\nA-1,T-1,C1,1\nA-1,T-1,C2,1\nA-1,T-1,C3,1\n")
    with pytest.raises(ProblemError, match="too_many_rows"):
        read_all(path)


# -- Properties --------------------------------------------------------------------------------

allocation_rows = st.lists(
    st.tuples(
        st.sampled_from(["A-1", "A-2", "A-3"]),
        st.lists(st.sampled_from(["T-1", "T-2", "T-3"]), min_size=1, max_size=3),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**9), places=2),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=allocation_rows)
def test_every_csv_row_becomes_exactly_one_line_of_its_instruction(
    tmp_path: Path, rows: list[tuple[str, list[str], Decimal]]
) -> None:
    text = CSV_HEADER + "\n"
    for number, (alloc_id, trade_ids, quantity) in enumerate(rows):
        text += f"{alloc_id},{';'.join(trade_ids)},C{number:04d},{quantity}\n"
    results, _ = read_all(write_csv(tmp_path, text))
    assert all(isinstance(r, AllocationInstruction) for r in results)
    instructions = [r for r in results if isinstance(r, AllocationInstruction)]
    assert [i.alloc_id for i in instructions] == list(dict.fromkeys(r[0] for r in rows))
    for instruction in instructions:
        own = [r for r in rows if r[0] == instruction.alloc_id]
        assert [Decimal(line.quantity) for line in instruction.lines] == [r[2] for r in own]
        assert instruction.exec_ids == tuple(dict.fromkeys(t for r in own for t in r[1]))


printable_line = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff"),
    max_size=120,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=printable_line)
def test_any_printable_csv_row_is_an_instruction_or_a_rejection_never_a_crash(
    tmp_path: Path, line: str
) -> None:
    results, summary = read_all(write_csv(tmp_path, f"{CSV_HEADER},action\n{line}\n"))
    assert len(results) + summary.blank_lines == 1
    assert all(r.source.line == 2 for r in results)
    assert all(r.problems for r in results if isinstance(r, RejectedMessage))
