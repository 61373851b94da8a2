"""Client confirmations out: FIX 4.4 Confirmation (35=AK), HTML and PDF
(backoffice.formats.confirmations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplefix
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats import confirmations
from backoffice.formats.confirmations import (
    confirmation_html,
    confirmation_pdf,
    fix_confirmation,
    fix_confirmations_log,
    write_confirmation_documents,
)
from backoffice.formats.fix_log import FixLogSummary, read_fix_log
from backoffice.trades.model import ConfirmationDetails, Side

SOH = b"\x01"
SENDING_TIME = dt.datetime(2026, 11, 24, 22, 0, 0, 987654, tzinfo=dt.UTC)

SALE = ConfirmationDetails(
    confirm_id="CONF-2026-0001",
    trade_id="T-1",
    allocation_id="ALLOC-7",
    firm_code="BRKR",
    firm_name="Example Securities LLC",
    client_code="C0001",
    client_name="Ada Client",
    side=Side.SELL,
    isin="US0378331005",
    security_name="Apple Inc.",
    quantity="1000",
    price="228.52",
    currency="USD",
    trade_date=dt.date(2026, 11, 24),
    settlement_date=dt.date(2026, 11, 25),
    venue="XNAS",
    counterparty="CONTRA",
    transact_time=dt.datetime(2026, 11, 24, 14, 30, 0, 123456, tzinfo=dt.UTC),
    gross_amount="228520.00",
    commission="10.00",
    sec_fee="6.33",
    finra_taf="0.17",
    fees="6.50",
    net_amount="228503.50",
    is_block_allocation=False,
)
BUY = dataclasses.replace(
    SALE,
    confirm_id="CONF-2026-0002",
    side=Side.BUY,
    sec_fee="0.00",
    finra_taf="0.00",
    fees="0.00",
    net_amount="228530.00",
)


def confirm(**changes: Any) -> ConfirmationDetails:
    """SALE with `changes`."""
    return dataclasses.replace(SALE, **changes)


def encode(details: ConfirmationDetails, seq_num: int = 1) -> bytes:
    return fix_confirmation(
        details, sender="BRKR", target="CLIENT-MW", seq_num=seq_num, sending_time=SENDING_TIME
    )


def parse(wire: bytes) -> simplefix.FixMessage:
    parser = simplefix.FixParser()
    parser.append_buffer(wire)
    message = parser.get_message()
    assert message is not None
    assert parser.get_buffer() == b""
    return message


def pairs(wire: bytes) -> list[tuple[int, str]]:
    return [(int(tag), value.decode()) for tag, value in parse(wire).pairs]


def values(wire: bytes, tag: int) -> list[str]:
    return [value for t, value in pairs(wire) if t == tag]


def only(wire: bytes, tag: int) -> str:
    found = values(wire, tag)
    assert len(found) == 1, (tag, found)
    return found[0]


def read_back(tmp_path: Path, log: bytes) -> FixLogSummary:
    """Read a log with the execution-report reader: its framing checks run on every line."""
    path = tmp_path / "confirmations.log"
    path.write_bytes(log)
    summary = FixLogSummary()
    results = list(read_fix_log(path, summary))
    assert results == []  # no rejected message: BeginString, BodyLength and CheckSum are right
    return summary


# --- FIX --------------------------------------------------------------------------------------


def test_a_confirmation_is_one_fix_44_message_with_a_right_body_length_and_checksum(
    tmp_path: Path,
) -> None:
    wire = encode(SALE)
    assert wire.startswith(b"8=FIX.4.4\x019=")
    assert wire.endswith(SOH)
    assert pairs(wire)[2] == (35, "AK")
    trailer_at = wire.rindex(b"\x0110=") + 1
    body_start = wire.index(b"35=")
    assert int(only(wire, 9)) == trailer_at - body_start
    assert only(wire, 10) == f"{sum(wire[:trailer_at]) % 256:03d}"
    summary = read_back(tmp_path, wire + b"\n")
    assert summary.other_messages == {"AK": 1}


def test_a_confirmation_carries_every_figure_under_its_fix_tag() -> None:
    wire = encode(SALE)
    expected = {
        49: "BRKR", 56: "CLIENT-MW", 34: "1", 52: "20261124-22:00:00.987",
        664: "CONF-2026-0001", 666: "0", 773: "2", 665: "4", 70: "ALLOC-7",
        75: "20261124", 60: "20261124-14:30:00.123", 48: "US0378331005", 22: "4",
        54: "2", 80: "1000", 79: "C0001", 6: "228.52", 15: "USD", 381: "228520.00",
        118: "228503.50", 64: "20261125", 30: "XNAS", 12: "10.00", 13: "3",
    }  # fmt: skip
    assert {tag: only(wire, tag) for tag in expected} == expected


def test_the_firm_is_the_executing_firm_and_the_client_the_client_id_party() -> None:
    fields = pairs(encode(SALE))
    start = fields.index((453, "2"))
    assert fields[start + 1 : start + 7] == [
        (448, "BRKR"), (447, "D"), (452, "1"), (448, "C0001"), (447, "D"), (452, "3"),
    ]  # fmt: skip


def test_the_sec_fee_and_finra_taf_are_regulatory_misc_fees() -> None:
    fields = pairs(encode(SALE))
    start = fields.index((136, "2"))
    assert fields[start + 1 : start + 7] == [
        (137, "6.33"), (138, "USD"), (139, "1"), (137, "0.17"), (138, "USD"), (139, "1"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sec_fee", "finra_taf", "expected"),
    [("0.00", "0.00", []), ("6.33", "0", ["6.33"]), ("0", "0.17", ["0.17"])],
)
def test_a_fee_of_zero_is_left_out_of_the_misc_fees(
    sec_fee: str, finra_taf: str, expected: list[str]
) -> None:
    wire = encode(confirm(sec_fee=sec_fee, finra_taf=finra_taf))
    assert values(wire, 137) == expected
    assert values(wire, 136) == ([str(len(expected))] if expected else [])


def test_a_buy_is_side_1_and_a_sale_side_2() -> None:
    assert only(encode(BUY), 54) == "1"
    assert only(encode(SALE), 54) == "2"


def test_times_are_sent_in_utc_to_the_millisecond() -> None:
    new_york = dt.timezone(dt.timedelta(hours=-5))
    wire = fix_confirmation(
        confirm(transact_time=dt.datetime(2026, 11, 24, 9, 30, 0, 999999, tzinfo=new_york)),
        sender="BRKR",
        target="CLIENT-MW",
        seq_num=7,
        sending_time=dt.datetime(2026, 11, 24, 19, 0, tzinfo=new_york),
    )
    assert only(wire, 60) == "20261124-14:30:00.999"
    assert only(wire, 52) == "20261125-00:00:00.000"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"client_code": "C\x010001"}, "448 PartyID"),
        ({"confirm_id": ""}, "664 ConfirmID"),
        ({"allocation_id": "A" * 65}, "70 AllocID"),
        ({"venue": "Bourse é"}, "30 LastMkt"),
        ({"quantity": "1,000"}, "80 AllocQty"),
        ({"net_amount": "-1.00"}, "118 NetMoney"),
        ({"sec_fee": "1e3"}, "137 MiscFeeAmt"),
    ],
)
def test_a_value_fix_cannot_carry_is_refused_naming_its_tag(
    changes: dict[str, str], field: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        encode(confirm(**changes))
    problem = raised.value.problems[0]
    assert problem.code == "invalid_fix_field"
    assert problem.source.field == field
    assert "CONF-2026-0001" in problem.reason or changes.get("confirm_id") == ""


def test_a_log_holds_one_message_a_line_numbered_from_the_first_sequence_number(
    tmp_path: Path,
) -> None:
    log = fix_confirmations_log(
        [SALE, BUY], sender="BRKR", target="CLIENT-MW", first_seq_num=41, sending_time=SENDING_TIME
    )
    lines = log.split(b"\n")
    assert lines[-1] == b""
    assert [only(line, 34) for line in lines[:-1]] == ["41", "42"]
    assert [only(line, 664) for line in lines[:-1]] == ["CONF-2026-0001", "CONF-2026-0002"]
    assert read_back(tmp_path, log).other_messages == {"AK": 2}


def test_a_log_reports_every_bad_confirmation_and_returns_nothing() -> None:
    with pytest.raises(ProblemError) as raised:
        fix_confirmations_log(
            [confirm(quantity="x"), SALE, confirm(currency="")],
            sender="BRKR",
            target="CLIENT-MW",
            sending_time=SENDING_TIME,
        )
    assert [p.source.field for p in raised.value.problems] == ["80 AllocQty", "15 Currency"]


def test_an_empty_log_is_empty() -> None:
    assert fix_confirmations_log([], sender="B", target="C", sending_time=SENDING_TIME) == b""


decimals = st.decimals(min_value=0, max_value=Decimal("1e12"), places=2).map(str)
codes = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./= "), min_size=1)


@given(
    confirm_id=codes.filter(str.strip),
    client_code=codes.filter(str.strip),
    quantity=decimals,
    gross=decimals,
    sec_fee=decimals,
    side=st.sampled_from(Side),
)
def test_any_confirmation_reads_back_with_its_figures_and_a_right_frame(
    confirm_id: str, client_code: str, quantity: str, gross: str, sec_fee: str, side: Side
) -> None:
    details = confirm(
        confirm_id=confirm_id[:64],
        client_code=client_code[:64],
        quantity=quantity,
        gross_amount=gross,
        sec_fee=sec_fee,
        side=side,
    )
    wire = encode(details)
    trailer_at = wire.rindex(b"\x0110=") + 1
    assert int(only(wire, 9)) == trailer_at - wire.index(b"35=")
    assert only(wire, 10) == f"{sum(wire[:trailer_at]) % 256:03d}"
    assert only(wire, 664) == details.confirm_id
    assert only(wire, 79) == details.client_code
    assert only(wire, 80) == quantity
    assert only(wire, 381) == gross
    assert values(wire, 137) == [v for v in (sec_fee, "0.17") if Decimal(v) != 0]


# --- HTML -------------------------------------------------------------------------------------


def test_the_html_shows_every_figure_with_its_currency() -> None:
    html = confirmation_html(SALE)
    for text in (
        "Example Securities LLC", "BRKR", "Ada Client", "C0001", "2026-11-24", "2026-11-25",
        "Apple Inc.", "US0378331005", "1,000", "228.52 USD", "XNAS", "228,520.00 USD",
        "10.00 USD", "6.33 USD", "0.17 USD", "6.50 USD", "228,503.50 USD", "CONF-2026-0001",
        "SEC fee", "FINRA", "Commission", "Total fees",
    ):  # fmt: skip
        assert text in html, text


def test_a_sale_says_you_sold_and_the_total_you_receive() -> None:
    html = confirmation_html(SALE)
    assert "You sold" in html
    assert "Total you receive" in html
    assert "You bought" not in html
    assert "Total you pay" not in html


def test_a_buy_says_you_bought_and_the_total_you_pay() -> None:
    html = confirmation_html(BUY)
    assert "You bought" in html
    assert "Total you pay" in html
    assert "228,530.00 USD" in html


def test_a_block_allocation_shows_and_explains_the_average_price() -> None:
    html = confirmation_html(confirm(is_block_allocation=True, price="228.517342"))
    assert "Average price" in html
    assert "average price of the block" in html
    assert "228.517342 USD" in html
    assert "Average price" not in confirmation_html(SALE)


def test_the_html_says_it_is_a_rule_10b_10_confirmation_unless_told_not_to() -> None:
    assert "SEC Rule 10b-10" in confirmation_html(SALE)
    assert "10b-10" not in confirmation_html(SALE, sec_rule_10b10=False)


def test_a_hostile_client_name_is_escaped() -> None:
    html = confirmation_html(
        confirm(client_name='<script>alert("x")</script>', security_name="A & B <i>")
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "A &amp; B &lt;i&gt;" in html


@pytest.mark.slow
def test_importing_the_module_does_not_load_weasyprint() -> None:
    code = "import sys, backoffice.formats.confirmations; print('weasyprint' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False"


# --- Documents --------------------------------------------------------------------------------


def test_documents_are_written_as_confirm_id_html_and_nothing_else(tmp_path: Path) -> None:
    paths = write_confirmation_documents([SALE, BUY], tmp_path, pdf=False)
    assert paths == [tmp_path / "CONF-2026-0001.html", tmp_path / "CONF-2026-0002.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    assert paths[0].read_text(encoding="utf-8") == confirmation_html(SALE)


def test_writing_again_replaces_a_document(tmp_path: Path) -> None:
    (tmp_path / "CONF-2026-0001.html").write_text("old")
    write_confirmation_documents([SALE], tmp_path, pdf=False)
    assert "Ada Client" in (tmp_path / "CONF-2026-0001.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "confirm_id", ["../escape", "a/b", "a\\b", ".hidden", "..", "", "two words", "x" * 129, "é"]
)
def test_a_confirm_id_that_is_not_a_safe_file_name_is_refused_before_any_file_is_written(
    tmp_path: Path, confirm_id: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        write_confirmation_documents([SALE, confirm(confirm_id=confirm_id)], tmp_path, pdf=False)
    assert [p.code for p in raised.value.problems] == ["unsafe_file_name"]
    assert raised.value.problems[0].source.field == "confirm_id"
    assert list(tmp_path.iterdir()) == []


def test_two_confirmations_with_one_id_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ProblemError) as raised:
        write_confirmation_documents([SALE, BUY, SALE], tmp_path, pdf=False)
    assert [p.code for p in raised.value.problems] == ["duplicate_confirm_id"]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_an_unwritable_file_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(ProblemError) as raised:
        write_confirmation_documents([SALE], tmp_path / "missing", pdf=False)
    assert raised.value.problems[0].code == "unwritable_file"
    assert list(tmp_path.iterdir()) == []


# --- PDF (a cold WeasyPrint start takes over a second) ----------------------------------------


# This machine's Pango lacks HarfBuzz-Subset; WeasyPrint still embeds fonts without it.
WEASYPRINT_HARFBUZZ_WARNING = "ignore:HarfBuzz-Subset:DeprecationWarning"


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("confirmations")
    return write_confirmation_documents([SALE], directory, pdf=True)


@pytest.mark.slow
@pytest.mark.filterwarnings(WEASYPRINT_HARFBUZZ_WARNING)
def test_the_pdf_is_written_next_to_the_html(documents: list[Path]) -> None:
    assert [p.name for p in documents] == ["CONF-2026-0001.html", "CONF-2026-0001.pdf"]
    assert sorted(p.name for p in documents[0].parent.iterdir()) == [p.name for p in documents]


@pytest.mark.slow
@pytest.mark.filterwarnings(WEASYPRINT_HARFBUZZ_WARNING)
def test_the_pdf_is_a_pdf_showing_the_net_amount(documents: list[Path]) -> None:
    pdf = documents[1].read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return  # poppler-utils is not installed: the text cannot be checked here
    text = subprocess.run(
        [pdftotext, "-layout", str(documents[1]), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "228,503.50 USD" in text
    assert "Total you receive" in text


@pytest.mark.slow
@pytest.mark.filterwarnings(WEASYPRINT_HARFBUZZ_WARNING)
def test_a_pdf_is_rendered_from_the_confirmation_alone() -> None:
    assert confirmation_pdf(BUY).startswith(b"%PDF-")


def test_fix_tag_labels_name_the_tag() -> None:
    assert confirmations.tag_label(664) == "664 ConfirmID"
    assert confirmations.tag_label(9999) == "9999"
