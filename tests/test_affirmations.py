"""Clients' affirmations from a FIX log of ConfirmationAcks or a CSV file
(backoffice.formats.affirmations)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import simplefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats.affirmations import AffirmationSummary, FileFormat, read_affirmations
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.trades.model import Affirmation, AffirmationStatus

SOH = b"\x01"
AT = dt.datetime(2026, 11, 24, 21, 5, 0, 250000, tzinfo=dt.UTC)

ACK: dict[int, str] = {
    49: "CLIENT-MW", 56: "BRKR", 34: "3", 52: "20261124-21:05:01.000",
    664: "CONF-1", 75: "20261124", 60: "20261124-21:05:00.250", 940: "3",
}  # fmt: skip


def fix_message(
    fields: dict[int, str], *, version: str = "FIX.4.4", message_type: str = "AU"
) -> bytes:
    """An encoded message with a right BodyLength and CheckSum."""
    message = simplefix.FixMessage()
    message.append_pair(8, version, header=True)
    message.append_pair(35, message_type, header=True)
    for tag, value in fields.items():
        message.append_pair(tag, value)
    encoded: bytes = message.encode()
    return encoded


def ack(**changes: str | None) -> bytes:
    """The ConfirmationAck ACK with `changes` as t940="2" (set) or t60=None (left out)."""
    fields = dict(ACK)
    for name, value in changes.items():
        tag = int(name.removeprefix("t"))
        if value is None:
            fields.pop(tag, None)
        else:
            fields[tag] = value
    return fix_message(fields)


def write(tmp_path: Path, content: bytes | str, name: str = "affirmations.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def write_log(tmp_path: Path, messages: list[bytes], delimiter: bytes = SOH) -> Path:
    return write(tmp_path, b"".join(m.replace(SOH, delimiter) + b"\n" for m in messages))


def read_all(path: Path) -> tuple[list[Affirmation | RejectedMessage], AffirmationSummary]:
    summary = AffirmationSummary()
    return list(read_affirmations(path, summary)), summary


def only_affirmation(path: Path) -> Affirmation:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], Affirmation), results[0]
    return results[0]


def only_rejection(path: Path) -> RejectedMessage:
    results, _ = read_all(path)
    assert len(results) == 1
    assert isinstance(results[0], RejectedMessage), results[0]
    return results[0]


def problems_of(path: Path) -> list[tuple[str, str | None]]:
    return [(p.code, p.source.field) for p in only_rejection(path).problems]


def refusal(path: Path) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        read_affirmations(path)  # raised at once, before any record is asked for
    return raised.value


# --- FIX --------------------------------------------------------------------------------------


def test_an_affirmed_confirmation_ack_is_an_affirmation(tmp_path: Path) -> None:
    path = write_log(tmp_path, [ack()])
    affirmation = only_affirmation(path)
    assert affirmation.confirm_id == "CONF-1"
    assert affirmation.status is AffirmationStatus.AFFIRMED
    assert affirmation.reason is None
    assert affirmation.at == AT
    assert affirmation.source.file == str(path)
    assert affirmation.source.line == 1
    assert affirmation.raw == ack().decode().replace("\x01", "|")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("1", AffirmationStatus.RECEIVED),
        ("2", AffirmationStatus.REJECTED),
        ("3", AffirmationStatus.AFFIRMED),
    ],
)
def test_affirm_status_names_the_answer(
    tmp_path: Path, code: str, status: AffirmationStatus
) -> None:
    assert only_affirmation(write_log(tmp_path, [ack(t940=code)])).status is status


@pytest.mark.parametrize(
    ("reason_code", "text", "reason"),
    [
        ("1", None, "mismatched account"),
        ("2", "no SSI for USD", "missing settlement instructions: no SSI for USD"),
        ("99", "wrong price", "wrong price"),
        ("99", None, "other"),
        (None, "commission too high", "commission too high"),
    ],
)
def test_a_rejection_gives_its_reason_from_confirm_rej_reason_and_text(
    tmp_path: Path, reason_code: str | None, text: str | None, reason: str
) -> None:
    path = write_log(tmp_path, [ack(t940="2", t774=reason_code, t58=text)])
    assert only_affirmation(path).reason == reason


def test_a_pipe_delimited_log_reads_like_soh(tmp_path: Path) -> None:
    assert only_affirmation(write_log(tmp_path, [ack()], delimiter=b"|")).confirm_id == "CONF-1"


def test_session_messages_and_other_message_types_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    heartbeat = fix_message({49: "CLIENT-MW", 56: "BRKR", 34: "1"}, message_type="0")
    logon = fix_message({49: "CLIENT-MW", 56: "BRKR", 34: "1"}, message_type="A")
    confirmation = fix_message({664: "CONF-1"}, message_type="AK")
    path = write_log(tmp_path, [logon, heartbeat, confirmation, ack(), b""])
    results, summary = read_all(path)
    assert [type(r) for r in results] == [Affirmation]
    assert summary.file_format is FileFormat.FIX
    assert summary.session_messages == {"A": 1, "0": 1}
    assert summary.other_messages == {"AK": 1}
    assert (summary.lines, summary.blank_lines, summary.affirmations) == (5, 1, 1)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"t664": None}, [("missing_field", "664 ConfirmID")]),
        ({"t940": None}, [("missing_field", "940 AffirmStatus")]),
        ({"t940": "4"}, [("invalid_field", "940 AffirmStatus")]),
        ({"t75": None}, [("missing_field", "75 TradeDate")]),
        ({"t75": "20261131"}, [("invalid_field", "75 TradeDate")]),
        ({"t60": "2026-11-24T21:05:00"}, [("invalid_field", "60 TransactTime")]),
        ({"t774": "7"}, [("invalid_field", "774 ConfirmRejReason")]),
        ({"t58": "x" * 501}, [("invalid_field", "58 Text")]),
        ({"t664": "C" * 65}, [("invalid_field", "664 ConfirmID")]),
        (
            {"t664": None, "t940": "9"},
            [("missing_field", "664 ConfirmID"), ("invalid_field", "940 AffirmStatus")],
        ),
    ],
)
def test_a_bad_confirmation_ack_is_rejected_naming_every_tag_at_fault(
    tmp_path: Path, changes: dict[str, str | None], expected: list[tuple[str, str]]
) -> None:
    path = write_log(tmp_path, [ack(**changes)])
    assert problems_of(path) == expected
    assert only_rejection(path).source.line == 1


def test_a_tag_sent_twice_is_rejected(tmp_path: Path) -> None:
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4", header=True)
    message.append_pair(35, "AU", header=True)
    for tag, value in ACK.items():
        message.append_pair(tag, value)
    message.append_pair(940, "2")
    path = write_log(tmp_path, [message.encode()])
    assert problems_of(path) == [("invalid_field", "940 AffirmStatus")]


def test_a_bad_checksum_and_body_length_are_rejected_as_fix_log_does(tmp_path: Path) -> None:
    wire = ack()
    tampered = wire.replace(b"664=CONF-1", b"664=CONF-12")
    assert problems_of(write_log(tmp_path, [tampered])) == [
        ("bad_body_length", "9 BodyLength"),
        ("bad_checksum", "10 CheckSum"),
    ]


def test_a_confirmation_ack_in_fix_42_is_refused(tmp_path: Path) -> None:
    path = write_log(tmp_path, [fix_message(ACK, version="FIX.4.2")])
    assert problems_of(path) == [("unsupported_version", "8 BeginString")]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"# a comment in the log", "not_a_fix_message"),
        (ack()[:-8], "truncated_message"),
        (b"8=FIX.4.4|9=5|35=AU|\x02|10=000|", "binary_line"),
    ],
)
def test_a_line_that_is_not_a_message_is_rejected_and_the_read_goes_on(
    tmp_path: Path, line: bytes, code: str
) -> None:
    path = write_log(tmp_path, [ack(), line, ack(t664="CONF-2")])
    results, summary = read_all(path)
    assert [type(r) for r in results] == [Affirmation, RejectedMessage, Affirmation]
    rejected = results[1]
    assert isinstance(rejected, RejectedMessage)
    assert rejected.problems[0].code == code
    assert rejected.source.line == 2
    assert (summary.affirmations, summary.rejected) == (2, 1)


def test_an_overlong_line_is_rejected_without_being_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path, ack() + b"\n" + b"8=FIX.4.4\x01" + b"x" * 70_000 + b"\n")
    results, _ = read_all(path)
    assert isinstance(results[1], RejectedMessage)
    assert results[1].problems[0].code == "line_too_long"


@given(
    text=st.text(
        st.characters(codec="utf-8", min_codepoint=0x20, exclude_characters="\x7f"), max_size=200
    )
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_reason_reads_back_as_sent(tmp_path: Path, text: str) -> None:
    path = write_log(tmp_path, [ack(t940="2", t58=text or None)])
    assert only_affirmation(path).reason == (text or None)


# --- CSV --------------------------------------------------------------------------------------


def test_a_csv_with_confirm_id_and_status_gives_affirmations(tmp_path: Path) -> None:
    path = write(tmp_path, "confirm_id,status\nCONF-1,affirmed\nCONF-2,Rejected\nCONF-3,RECEIVED\n")
    results, summary = read_all(path)
    assert [(a.confirm_id, a.status) for a in results if isinstance(a, Affirmation)] == [
        ("CONF-1", AffirmationStatus.AFFIRMED),
        ("CONF-2", AffirmationStatus.REJECTED),
        ("CONF-3", AffirmationStatus.RECEIVED),
    ]
    assert [a.source.line for a in results] == [2, 3, 4]
    assert all(isinstance(a, Affirmation) and a.at is None for a in results)
    assert summary.file_format is FileFormat.CSV


def test_a_csv_reason_and_time_are_read_and_the_time_made_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffConfirm_ID , Status,reason,at\r\n"
        'CONF-1,rejected,"wrong account, please rebook",2026-11-24T16:05:00.25-05:00\r\n',
    )
    affirmation = only_affirmation(path)
    assert affirmation.reason == "wrong account, please rebook"
    assert affirmation.at == AT
    assert affirmation.raw.startswith("CONF-1,rejected,")


def test_a_csv_time_in_z_form_is_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "confirm_id,status,at\nCONF-1,affirmed,2026-11-24T21:05:00.250Z\n")
    assert only_affirmation(path).at == AT


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "\nconfirm_id,status\n\nCONF-1,affirmed\n  \n")
    results, summary = read_all(path)
    assert [r.source.line for r in results] == [4]
    assert summary.blank_lines == 3


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("CONF-1,maybe,,", [("invalid_field", "status")]),
        (",affirmed,,", [("missing_field", "confirm_id")]),
        ("CONF-1,,,", [("missing_field", "status")]),
        ("CONF-1,affirmed,,2026-11-24 21:05", [("invalid_field", "at")]),
        ("CONF-1,affirmed,,yesterday", [("invalid_field", "at")]),
        (f"CONF-1,rejected,{'x' * 501},", [("invalid_field", "reason")]),
        (",sure,,", [("missing_field", "confirm_id"), ("invalid_field", "status")]),
        ("CONF-1,affirmed", [("malformed_row", None)]),
        ('CONF-1,affirmed,"open quote,', [("malformed_row", None)]),
        ("CONF-1,affirmed,\x1b[31m,", [("binary_line", None)]),
    ],
)
def test_a_bad_csv_row_is_rejected_naming_its_column(
    tmp_path: Path, row: str, expected: list[tuple[str, str | None]]
) -> None:
    path = write(tmp_path, f"confirm_id,status,reason,at\n{row}\n")
    assert problems_of(path) == expected
    assert only_rejection(path).source.line == 2


@given(
    confirm_id=st.text(
        st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1, max_size=64
    ),
    reason=st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=80),
    status=st.sampled_from(AffirmationStatus),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_csv_record_written_by_a_csv_writer_reads_back(
    tmp_path: Path, confirm_id: str, reason: str, status: AffirmationStatus
) -> None:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["confirm_id", "status", "reason"], [confirm_id, status, reason]])
    affirmation = only_affirmation(write(tmp_path, buffer.getvalue()))
    assert affirmation.confirm_id == confirm_id
    assert affirmation.status is status
    assert affirmation.reason == (reason.strip() or None)


# --- Wrong files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"),
        ("confirm_id,status\nCONF-1,affirmed\n".encode("utf-16"), "not_utf8"),
        (b"confirm_id,status\nCONF-1,rejected,\xe9t\xe9\n", "not_utf8"),
        (b"Dear broker, we affirm.\n", "missing_column"),
        (b"just some notes\nnothing else\n", "unrecognised_format"),
        (b"ConfirmID,Status\nCONF-1,affirmed\n", "missing_column"),
        (b"confirm_id,status,status\n", "duplicate_column"),
        (b"confirm_id,status,comment\n", "unknown_column"),
    ],
)
def test_a_wrong_file_is_refused_at_once_naming_the_file(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = write(tmp_path, content)
    error = refusal(path)
    assert [p.code for p in error.problems] == [code]
    assert error.problems[0].source.file == str(path)
    assert str(path) in str(error)


def test_a_byte_that_is_not_utf8_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"confirm_id,status\nCONF-1,affirmed\nCONF-2,rejected,\xff\n")
    assert refusal(path).problems[0].source.line == 3


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    assert refusal(tmp_path / "absent.csv").problems[0].code == "unreadable_file"


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    assert refusal(tmp_path).problems[0].code == "unreadable_file"


def test_an_empty_file_holds_no_affirmations(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, b"\n\n"))[0] == []


def test_a_log_whose_first_line_is_not_a_message_is_still_a_fix_log(tmp_path: Path) -> None:
    path = write(tmp_path, b"session log started\n" + ack() + b"\n")
    results, summary = read_all(path)
    assert summary.file_format is FileFormat.FIX
    assert [type(r) for r in results] == [RejectedMessage, Affirmation]


@given(content=st.binary(max_size=300))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
def test_no_file_makes_the_reader_crash(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content)
    try:
        files = {r.source.file for r in read_affirmations(path)}
    except ProblemError as error:
        files = {p.source.file for p in error.problems}
    assert files <= {str(path)}
