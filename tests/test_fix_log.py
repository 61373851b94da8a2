"""Reading FIX 4.4 and 4.2 execution reports from a FIX log (backoffice.formats.fix_log)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
import simplefix
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats import fix_framing
from backoffice.formats.fix_framing import RejectedMessage, _split_fields
from backoffice.formats.fix_log import FixLogSummary, read_fix_log
from backoffice.trades.model import Execution, ExecutionKind, Side

APPLE = "US0378331005"
SOH = b"\x01"

TRADE_44: dict[int, str] = {
    49: "XNAS-GW", 56: "BROKER", 34: "12", 52: "20261124-14:30:00.125",
    37: "ORD-1", 17: "EXEC-1", 150: "F", 39: "2", 1: "C0001", 55: "AAPL",
    48: APPLE, 22: "4", 54: "1", 32: "100", 31: "228.5200", 15: "USD",
    75: "20261124", 30: "XNAS", 60: "20261124-14:30:00.123",
}  # fmt: skip
FILL_42: dict[int, str] = {**TRADE_44, 20: "0", 150: "2"}


def fix_message(
    fields: dict[int, str],
    *,
    version: str = "FIX.4.4",
    message_type: str = "8",
    parties: Sequence[tuple[str, str]] = (),
    **changes: str | None,
) -> bytes:
    """An encoded message (right BodyLength and CheckSum); `changes` as t31="1" or t31=None."""
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
    if parties:
        message.append_pair(453, str(len(parties)))
        for party_id, role in parties:
            message.append_pair(448, party_id)
            message.append_pair(447, "D")
            message.append_pair(452, role)
    encoded: bytes = message.encode()
    return encoded


def session_message(message_type: str) -> bytes:
    return fix_message({49: "XNAS-GW", 56: "BROKER", 34: "1"}, message_type=message_type)


def write_log(tmp_path: Path, messages: list[bytes], delimiter: bytes = SOH) -> Path:
    path = tmp_path / "executions.log"
    path.write_bytes(b"".join(m.replace(SOH, delimiter) + b"\n" for m in messages))
    return path


def read_all(path: Path) -> tuple[list[Execution | RejectedMessage], FixLogSummary]:
    summary = FixLogSummary()
    return list(read_fix_log(path, summary)), summary


def only_execution(path: Path) -> Execution:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], Execution), results[0]
    return results[0]


def only_rejection(path: Path) -> RejectedMessage:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], RejectedMessage), results[0]
    return results[0]


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_a_fix_44_trade_is_read_with_every_field(tmp_path: Path, delimiter: bytes) -> None:
    path = write_log(tmp_path, [fix_message(TRADE_44, parties=[("GSCO", "17")])], delimiter)
    execution = only_execution(path)
    assert execution.exec_id == "EXEC-1"
    assert execution.kind is ExecutionKind.TRADE
    assert execution.ref_exec_id is None
    assert execution.order_id == "ORD-1"
    assert execution.account == "C0001"
    assert execution.isin == APPLE
    assert execution.side is Side.BUY
    assert execution.currency == "USD"
    assert execution.trade_date == dt.date(2026, 11, 24)
    assert execution.venue == "XNAS"
    assert execution.counterparty == "GSCO"
    assert execution.transact_time == dt.datetime(2026, 11, 24, 14, 30, 0, 123000, tzinfo=dt.UTC)
    assert execution.source.file == str(path)
    assert execution.source.line == 1


def test_quantities_and_prices_are_kept_exactly_as_received(tmp_path: Path) -> None:
    execution = only_execution(write_log(tmp_path, [fix_message(TRADE_44)]))
    assert execution.quantity == "100"
    assert execution.price == "228.5200"
    assert isinstance(execution.quantity, str)


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_the_raw_message_is_kept_with_its_delimiter_shown_as_a_pipe(
    tmp_path: Path, delimiter: bytes
) -> None:
    encoded = fix_message(TRADE_44)
    execution = only_execution(write_log(tmp_path, [encoded], delimiter))
    assert execution.raw == encoded.replace(SOH, b"|").decode()
    assert execution.raw.startswith("8=FIX.4.4|9=")


def test_a_sell_is_read_as_a_sell(tmp_path: Path) -> None:
    assert only_execution(write_log(tmp_path, [fix_message(TRADE_44, t54="2")])).side is Side.SELL


def test_a_trade_cancel_names_the_execution_it_cancels(tmp_path: Path) -> None:
    cancel = fix_message(TRADE_44, t150="H", t17="EXEC-2", t19="EXEC-1")
    execution = only_execution(write_log(tmp_path, [cancel]))
    assert execution.kind is ExecutionKind.CANCEL
    assert execution.exec_id == "EXEC-2"
    assert execution.ref_exec_id == "EXEC-1"


def test_a_trade_correct_names_the_execution_it_corrects(tmp_path: Path) -> None:
    correct = fix_message(TRADE_44, t150="G", t17="EXEC-3", t19="EXEC-1", t31="228.50")
    execution = only_execution(write_log(tmp_path, [correct]))
    assert execution.kind is ExecutionKind.CORRECT
    assert execution.ref_exec_id == "EXEC-1"
    assert execution.price == "228.50"


def test_a_cancel_without_exec_ref_id_is_rejected_naming_the_tag(tmp_path: Path) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, t150="H")]))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("missing_field", "19 ExecRefID")
    ]


@pytest.mark.parametrize("exec_type", ["1", "2"], ids=["partial_fill", "fill"])
def test_fix_42_partial_fills_and_fills_are_trades(tmp_path: Path, exec_type: str) -> None:
    message = fix_message(FILL_42, version="FIX.4.2", t150=exec_type)
    execution = only_execution(write_log(tmp_path, [message], b"|"))
    assert execution.kind is ExecutionKind.TRADE
    assert execution.quantity == "100"


@pytest.mark.parametrize(
    ("exec_trans_type", "kind"), [("1", ExecutionKind.CANCEL), ("2", ExecutionKind.CORRECT)]
)
def test_fix_42_exec_trans_type_cancels_and_corrects_a_fill(
    tmp_path: Path, exec_trans_type: str, kind: ExecutionKind
) -> None:
    message = fix_message(
        FILL_42, version="FIX.4.2", t20=exec_trans_type, t17="EXEC-9", t19="EXEC-1"
    )
    execution = only_execution(write_log(tmp_path, [message]))
    assert execution.kind is kind
    assert execution.ref_exec_id == "EXEC-1"


def test_fix_42_trade_cancel_and_correct_exec_types_are_read_as_in_44(tmp_path: Path) -> None:
    messages = [
        fix_message(FILL_42, version="FIX.4.2", t150="H", t19="EXEC-1"),
        fix_message(FILL_42, version="FIX.4.2", t150="G", t19="EXEC-1"),
    ]
    results, _ = read_all(write_log(tmp_path, messages))
    assert [r.kind for r in results if isinstance(r, Execution)] == [
        ExecutionKind.CANCEL,
        ExecutionKind.CORRECT,
    ]


def test_a_fix_42_report_without_exec_trans_type_is_rejected(tmp_path: Path) -> None:
    message = fix_message(FILL_42, version="FIX.4.2", t20=None)
    rejected = only_rejection(write_log(tmp_path, [message]))
    assert [p.source.field for p in rejected.problems] == ["20 ExecTransType"]


def test_session_messages_and_non_trade_reports_are_skipped_and_counted(tmp_path: Path) -> None:
    messages = [
        session_message("A"),
        session_message("0"),
        session_message("0"),
        fix_message({11: "CL-1", 55: "AAPL", 54: "1", 38: "100", 40: "1"}, message_type="D"),
        fix_message(TRADE_44, t150="0", t39="0"),  # new order acknowledged
        fix_message(TRADE_44, t150="4", t39="4"),  # order cancelled, not a trade cancel
        fix_message(FILL_42, version="FIX.4.2", t20="3"),  # a status report
        fix_message(TRADE_44),
        session_message("5"),
    ]
    results, summary = read_all(write_log(tmp_path, messages))
    assert [type(r) for r in results] == [Execution]
    assert results[0].source.line == 8
    assert summary.session_messages == {"A": 1, "0": 2, "5": 1}
    assert summary.other_messages == {"D": 1}
    assert summary.non_trade_reports == {"150=0": 1, "150=4": 1, "20=3": 1}
    assert summary.skipped == 8
    assert (summary.lines, summary.executions, summary.rejected) == (9, 1, 0)


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_a_wrong_checksum_is_rejected(tmp_path: Path, delimiter: bytes) -> None:
    encoded = fix_message(TRADE_44)
    checksum = int(encoded[-4:-1])
    tampered = encoded[:-4] + f"{(checksum + 1) % 256:03d}".encode() + SOH
    rejected = only_rejection(write_log(tmp_path, [tampered], delimiter))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("bad_checksum", "10 CheckSum")
    ]
    assert rejected.raw == tampered.replace(SOH, b"|").decode()
    assert rejected.source.line == 1


def test_a_changed_field_breaks_the_checksum(tmp_path: Path) -> None:
    tampered = fix_message(TRADE_44).replace(b"32=100\x01", b"32=900\x01")
    rejected = only_rejection(write_log(tmp_path, [tampered]))
    assert [p.code for p in rejected.problems] == ["bad_checksum"]


def test_a_wrong_body_length_is_rejected(tmp_path: Path) -> None:
    tampered = fix_message(TRADE_44)
    body_length = tampered.split(SOH)[1]
    tampered = tampered.replace(body_length + SOH, b"9=7" + SOH, 1)
    rejected = only_rejection(write_log(tmp_path, [tampered]))
    assert "bad_body_length" in [p.code for p in rejected.problems]


def test_a_missing_last_px_is_rejected_naming_the_tag(tmp_path: Path) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, t31=None)]))
    assert len(rejected.problems) == 1
    problem = rejected.problems[0]
    assert (problem.code, problem.source.field) == ("missing_field", "31 LastPx")
    assert problem.source.line == 1


@pytest.mark.parametrize("quantity", ["1e2", "-100", "+100", "1,000", ".5", "0"])
def test_a_quantity_that_is_not_a_plain_positive_decimal_is_rejected(
    tmp_path: Path, quantity: str
) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, t32=quantity)]))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("invalid_field", "32 LastQty")
    ]


def test_every_problem_of_a_message_is_reported_at_once(tmp_path: Path) -> None:
    message = fix_message(TRADE_44, t31="1E2", t75="20261332", t15=None)
    rejected = only_rejection(write_log(tmp_path, [message]))
    assert sorted((p.code, p.source.field) for p in rejected.problems) == [
        ("invalid_field", "31 LastPx"),
        ("invalid_field", "75 TradeDate"),
        ("missing_field", "15 Currency"),
    ]


def test_a_security_not_identified_by_isin_is_rejected(tmp_path: Path) -> None:
    cusip = fix_message(TRADE_44, t48="037833100", t22="1")
    rejected = only_rejection(write_log(tmp_path, [cusip]))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("unsupported_security_id", "22 SecurityIDSource")
    ]


def test_an_isin_with_a_wrong_check_digit_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, t48="US0378331006")]))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("invalid_field", "48 SecurityID")
    ]


def test_a_side_other_than_buy_or_sell_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, t54="5")]))
    assert [(p.code, p.source.field) for p in rejected.problems] == [
        ("unsupported_side", "54 Side")
    ]


def test_an_unsupported_fix_version_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44, version="FIX.4.1")]))
    assert [p.code for p in rejected.problems] == ["unsupported_version"]


def test_a_truncated_last_line_is_rejected_after_the_complete_ones(tmp_path: Path) -> None:
    complete = fix_message(TRADE_44)
    cut = fix_message(TRADE_44, t17="EXEC-2")[:60]
    path = tmp_path / "executions.log"
    path.write_bytes(complete + b"\n" + cut)
    results, summary = read_all(path)
    assert isinstance(results[0], Execution)
    assert isinstance(results[1], RejectedMessage)
    assert [p.code for p in results[1].problems] == ["truncated_message"]
    assert results[1].source.line == 2
    assert (summary.executions, summary.rejected) == (1, 1)


def test_a_message_cut_inside_its_checksum_is_rejected(tmp_path: Path) -> None:
    cut = fix_message(TRADE_44)[:-3]
    rejected = only_rejection(write_log(tmp_path, [cut]))
    assert [p.code for p in rejected.problems] == ["bad_checksum"]


def test_a_binary_file_is_refused_as_not_a_fix_log(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 50)
    with pytest.raises(ProblemError) as raised:
        read_fix_log(path)
    assert [p.code for p in raised.value.problems] == ["not_a_fix_log"]
    assert raised.value.problems[0].source.file == str(path)


def test_a_text_file_that_is_not_a_fix_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_text('{"key": "trade-42"}\n')
    with pytest.raises(ProblemError, match="not_a_fix_log"):
        read_fix_log(path)


def test_a_missing_file_is_refused_with_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match="unreadable_file"):
        read_fix_log(tmp_path / "absent.log")


def test_an_empty_log_has_no_messages(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert read_all(path)[0] == []


def test_binary_and_non_fix_lines_in_a_fix_log_are_rejected_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "executions.log"
    path.write_bytes(
        fix_message(TRADE_44)
        + b"\n8=FIX.4.4\x019=5\x00\xff\xfe\x01\n"
        + b"\x00\x01\x02\x03\n"
        + b"some operator note\n"
        + b"\n"
        + b"8=FIX.4.4|9=x|abc|10=000|\n"
    )
    results, summary = read_all(path)
    assert isinstance(results[0], Execution)
    codes = [r.problems[0].code for r in results[1:] if isinstance(r, RejectedMessage)]
    assert codes == ["binary_line", "binary_line", "not_a_fix_message", "malformed_message"]
    assert summary.blank_lines == 1
    assert "\\x00" in results[1].raw


def test_a_line_over_the_limit_is_rejected_and_reading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fix_framing, "line_bytes_max", 300)
    long_message = fix_message(TRADE_44, t58="x" * 400)
    path = write_log(tmp_path, [long_message, fix_message(TRADE_44)])
    results, _ = read_all(path)
    assert isinstance(results[0], RejectedMessage)
    assert [p.code for p in results[0].problems] == ["line_too_long"]
    assert isinstance(results[1], Execution)
    assert results[1].source.line == 2


def test_a_message_with_too_many_fields_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fix_framing, "fields_per_message_max", 10)
    rejected = only_rejection(write_log(tmp_path, [fix_message(TRADE_44)]))
    assert [p.code for p in rejected.problems] == ["too_many_fields"]


def test_the_counterparty_is_the_contra_firm_of_the_party_group(tmp_path: Path) -> None:
    message = fix_message(TRADE_44, t375="OTHER", parties=[("BROKERX", "1"), ("MSCO", "17")])
    assert only_execution(write_log(tmp_path, [message])).counterparty == "MSCO"


def test_the_counterparty_falls_back_to_contra_broker(tmp_path: Path) -> None:
    message = fix_message(TRADE_44, t375="JPMS", parties=[("BROKERX", "1")])
    assert only_execution(write_log(tmp_path, [message])).counterparty == "JPMS"


def test_an_execution_without_a_counterparty_has_none(tmp_path: Path) -> None:
    assert only_execution(write_log(tmp_path, [fix_message(TRADE_44)])).counterparty is None


def test_a_transact_time_in_microseconds_is_read(tmp_path: Path) -> None:
    message = fix_message(TRADE_44, t60="20261124-14:30:00.123456789")
    execution = only_execution(write_log(tmp_path, [message]))
    assert execution.transact_time.microsecond == 123456
    assert "60=20261124-14:30:00.123456789|" in execution.raw


_field_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=12
)


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=9999), _field_values), min_size=0, max_size=12
    ),
    st.sampled_from([b"", b"\x01", b"=\x01", b"1x=2\x01"]),
)
def test_the_fast_field_split_gives_what_simplefix_gives_or_leaves_the_line_to_simplefix(
    fields: list[tuple[int, str]], junk: bytes
) -> None:
    body = b"".join(f"{tag}={value}".encode() + b"\x01" for tag, value in fields)
    wire = b"8=FIX.4.4\x01" + body + junk + b"10=000\x01"
    pairs = _split_fields(wire)
    parser = simplefix.FixParser()
    parser.append_buffer(wire)
    try:
        message = parser.get_message()
    except simplefix.errors.ParsingError:
        message = None
    if pairs is None:
        return  # the reader asks simplefix itself for these
    assert message is not None
    assert not parser.get_buffer()
    assert pairs == [(int(tag), value.decode()) for tag, value in message.pairs]


# --- several messages on one line -------------------------------------------------------------

# Some OMS drop-copy dumps write a burst of messages on one line, one straight after the other
# (each ends with its CheckSum field and delimiter, so the next "8=FIX" follows at once). Each
# carries its own BeginString, BodyLength and CheckSum, which mark its bounds unambiguously:
# each is read, or rejected, on its own, as if it had its own line.


@pytest.mark.parametrize("delimiter", [SOH, b"|"], ids=["soh", "pipe"])
def test_several_messages_on_one_line_are_each_read_at_that_line(
    tmp_path: Path, delimiter: bytes
) -> None:
    burst = (
        fix_message(TRADE_44) + session_message("0") + fix_message(TRADE_44, t17="EXEC-2", t32="50")
    )
    path = write_log(tmp_path, [fix_message(TRADE_44, t17="EXEC-0"), burst], delimiter)
    results, summary = read_all(path)
    assert [
        (r.exec_id, r.quantity, r.source.line) for r in results if isinstance(r, Execution)
    ] == [
        ("EXEC-0", "100", 1),
        ("EXEC-1", "100", 2),
        ("EXEC-2", "50", 2),
    ]
    assert (summary.lines, summary.executions, summary.session_messages["0"]) == (2, 3, 1)
    assert results[1].raw == fix_message(TRADE_44).replace(SOH, b"|").decode()


def test_a_message_whose_checksum_runs_into_the_next_one_is_still_split(tmp_path: Path) -> None:
    burst = fix_message(TRADE_44)[:-1] + fix_message(TRADE_44, t17="EXEC-2")  # no SOH between
    results, _ = read_all(write_log(tmp_path, [burst], b"|"))
    assert [r.exec_id for r in results if isinstance(r, Execution)] == ["EXEC-1", "EXEC-2"]


def test_a_bad_message_among_several_on_a_line_is_rejected_naming_its_place(
    tmp_path: Path,
) -> None:
    tampered = fix_message(TRADE_44, t17="EXEC-2").replace(b"32=100\x01", b"32=900\x01")
    results, summary = read_all(write_log(tmp_path, [fix_message(TRADE_44) + tampered]))
    first, second = results
    assert isinstance(first, Execution)
    assert isinstance(second, RejectedMessage)
    assert [(p.code, p.source.line, p.source.field) for p in second.problems] == [
        ("bad_checksum", 1, "10 CheckSum")
    ]
    assert second.problems[0].reason.startswith("message 2 of 2 on the line: CheckSum is ")
    assert (summary.executions, summary.rejected) == (1, 1)


def test_framing_a_line_of_several_messages_as_one_says_so() -> None:
    framed = fix_framing.frame_message(fix_message(TRADE_44) * 3, "drop-copy.log", 7)
    assert isinstance(framed, RejectedMessage)
    assert [(p.code, p.source.line) for p in framed.problems] == [("several_messages_on_line", 7)]
    assert "holds 3 messages" in framed.problems[0].reason


# QuickFIX's file logs can stamp each message with the time it was logged: QuickFIX/C++ FileLog
# writes "20261124-14:30:00.125000000 : 8=FIX...", QuickFIX/J's FileLog (with
# includeTimestampForMessages) "20261124-14:30:00.125: 8=FIX...". The stamp is the log's, not
# the message's: the message after it is read as it stands.
@pytest.mark.parametrize(
    "stamp",
    [b"20261124-14:30:00.125000000 : ", b"20261124-14:30:00.125: ", b"20261124-14:30:00 : "],
)
def test_a_quickfix_log_time_stamp_before_the_message_is_set_aside(
    tmp_path: Path, stamp: bytes
) -> None:
    path = tmp_path / "FIX.4.4-BROKER-XNAS.messages.log"
    path.write_bytes(stamp + fix_message(TRADE_44) + b"\n")
    execution = only_execution(path)
    assert (execution.exec_id, execution.source.line) == ("EXEC-1", 1)
    assert execution.raw == fix_message(TRADE_44).replace(SOH, b"|").decode()


def test_text_before_the_message_that_is_no_time_stamp_is_still_rejected(tmp_path: Path) -> None:
    path = write_log(
        tmp_path, [fix_message(TRADE_44, t17="EXEC-0"), b"IN: " + fix_message(TRADE_44)]
    )
    results, _ = read_all(path)
    assert isinstance(results[1], RejectedMessage)
    assert [p.code for p in results[1].problems] == ["not_a_fix_message"]


def test_a_log_showing_soh_as_caret_a_is_read_as_if_sent_with_soh(tmp_path: Path) -> None:
    # Logs viewed through less or copied from a terminal show SOH as "^A" (caret notation),
    # as FIX support desks often paste them: two characters for the one delimiter byte.
    path = write_log(tmp_path, [fix_message(TRADE_44)], b"^A")
    execution = only_execution(path)
    assert (execution.exec_id, execution.quantity) == ("EXEC-1", "100")
    assert execution.raw == fix_message(TRADE_44).replace(SOH, b"|").decode()


def test_several_caret_a_messages_on_one_line_are_each_read(tmp_path: Path) -> None:
    burst = fix_message(TRADE_44) + fix_message(TRADE_44, t17="EXEC-2")
    results, _ = read_all(write_log(tmp_path, [burst], b"^A"))
    assert [r.exec_id for r in results if isinstance(r, Execution)] == ["EXEC-1", "EXEC-2"]


@given(
    trades=st.lists(
        st.tuples(st.from_regex(r"[A-Z0-9-]{1,20}", fullmatch=True), st.integers(1, 10**9)),
        min_size=1,
        max_size=6,
    ),
    delimiter=st.sampled_from([SOH, b"|", b"^A"]),
    run_together=st.booleans(),
)
def test_messages_on_one_line_read_as_the_same_messages_on_lines_of_their_own(
    tmp_path_factory: pytest.TempPathFactory,
    trades: list[tuple[str, int]],
    delimiter: bytes,
    run_together: bool,
) -> None:
    messages = [fix_message(TRADE_44, t17=exec_id, t32=str(qty)) for exec_id, qty in trades]
    # Run together: the delimiter after each CheckSum dropped, the next 8=FIX straight after.
    line = b"".join(m[:-1] if run_together else m for m in messages)
    directory = tmp_path_factory.mktemp("burst")
    one_line, _ = read_all(write_log(directory, [line], delimiter))
    (directory / "executions.log").unlink()
    own_lines, _ = read_all(write_log(directory, messages, delimiter))
    assert [(r.exec_id, r.quantity) for r in one_line if isinstance(r, Execution)] == [
        (r.exec_id, r.quantity) for r in own_lines if isinstance(r, Execution)
    ]
    assert len(one_line) == len(trades)
