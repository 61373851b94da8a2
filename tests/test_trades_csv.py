"""Reading trades from a CSV file (backoffice.formats.trades_csv)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats import trades_csv
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.trades_csv import REQUIRED_COLUMNS, CsvSummary, read_trades_csv
from backoffice.trades.model import Execution, ExecutionKind, Side

APPLE = "US0378331005"
HEADER = ",".join(REQUIRED_COLUMNS)
TRADE: dict[str, str] = {
    "trade_id": "T-1", "account": "C0001", "isin": APPLE, "side": "BUY", "quantity": "100",
    "price": "228.5200", "currency": "USD", "trade_date": "2026-11-24", "venue": "XNAS",
    "counterparty": "GSCO",
}  # fmt: skip


def trade(**changes: str) -> dict[str, str]:
    return {**TRADE, **changes}


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    """A CSV file's text: the header, then the rows, as the csv module writes them."""
    columns = columns if columns is not None else list(rows[0] if rows else TRADE)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_csv(tmp_path: Path, content: str | bytes, name: str = "trades.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(path: Path) -> tuple[list[Execution | RejectedMessage], CsvSummary]:
    summary = CsvSummary()
    return list(read_trades_csv(path, summary)), summary


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


def problems_of(rejected: RejectedMessage) -> list[tuple[str, str | None]]:
    return [(p.code, p.source.field) for p in rejected.problems]


def refusal(path: Path) -> tuple[str, int | None]:
    """The code and line of the one problem `read_trades_csv` raises at once for the file."""
    with pytest.raises(ProblemError) as raised:
        read_trades_csv(path)  # raises on the call itself, before any row is asked for
    [problem] = raised.value.problems
    assert problem.source.file == str(path)
    return problem.code, problem.source.line


# -- Rows that are trades ----------------------------------------------------------------------


def test_a_trade_row_is_read_with_every_field(tmp_path: Path) -> None:
    path = write_csv(tmp_path, csv_text([trade()]))
    execution = only_execution(path)
    assert execution.exec_id == "T-1"
    assert execution.kind is ExecutionKind.TRADE
    assert execution.ref_exec_id is None
    assert execution.account == "C0001"
    assert execution.isin == APPLE
    assert execution.side is Side.BUY
    assert execution.currency == "USD"
    assert execution.trade_date == dt.date(2026, 11, 24)
    assert execution.venue == "XNAS"
    assert execution.counterparty == "GSCO"
    assert execution.source.file == str(path)
    assert execution.source.line == 2
    assert execution.raw == "T-1,C0001,US0378331005,BUY,100,228.5200,USD,2026-11-24,XNAS,GSCO"


def test_quantities_and_prices_are_kept_exactly_as_written(tmp_path: Path) -> None:
    execution = only_execution(write_csv(tmp_path, csv_text([trade(quantity="100.000")])))
    assert (execution.quantity, execution.price) == ("100.000", "228.5200")


def test_the_order_id_defaults_to_the_trade_id_and_the_time_to_midnight_utc(
    tmp_path: Path,
) -> None:
    execution = only_execution(write_csv(tmp_path, csv_text([trade()])))
    assert execution.order_id == "T-1"
    assert execution.transact_time == dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2026-11-24T14:30:00.123Z", dt.datetime(2026, 11, 24, 14, 30, 0, 123000, tzinfo=dt.UTC)),
        ("2026-11-24T09:30:00-05:00", dt.datetime(2026, 11, 24, 14, 30, tzinfo=dt.UTC)),
        ("2026-11-25T00:30:00+01:00", dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC)),
    ],
)
def test_a_transact_time_with_an_offset_is_read_in_utc(
    tmp_path: Path, written: str, utc: dt.datetime
) -> None:
    row = trade(order_id="ORD-7", transact_time=written)
    execution = only_execution(write_csv(tmp_path, csv_text([row])))
    assert execution.transact_time == utc
    assert execution.order_id == "ORD-7"


def test_columns_may_come_in_any_order_and_case_with_extra_columns_ignored(
    tmp_path: Path,
) -> None:
    text = (
        "Venue, PRICE ,Notes,Trade_Date,CURRENCY,Quantity,Side,ISIN,Account,Trade_ID,Counterparty\n"
        "XNAS,228.52,called in by phone,2026-11-24,USD,100,sell,US0378331005,C0001,T-9,GSCO\n"
    )
    execution = only_execution(write_csv(tmp_path, text))
    assert (execution.exec_id, execution.side, execution.price) == ("T-9", Side.SELL, "228.52")


@pytest.mark.parametrize("side", ["buy", "Sell", "SELL", "bUy"])
def test_the_side_is_read_whatever_its_case(tmp_path: Path, side: str) -> None:
    execution = only_execution(write_csv(tmp_path, csv_text([trade(side=side)])))
    assert execution.side is Side(side.lower())


@pytest.mark.parametrize("kind", [ExecutionKind.CANCEL, ExecutionKind.CORRECT])
def test_a_cancel_or_correct_names_the_trade_it_applies_to(
    tmp_path: Path, kind: ExecutionKind
) -> None:
    row = trade(trade_id="T-2", kind=kind.value.upper(), ref_trade_id="T-1")
    execution = only_execution(write_csv(tmp_path, csv_text([row])))
    assert (execution.kind, execution.exec_id, execution.ref_exec_id) == (kind, "T-2", "T-1")


def test_a_cancel_without_ref_trade_id_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(
        write_csv(tmp_path, csv_text([trade(kind="cancel", ref_trade_id="")]))
    )
    assert problems_of(rejected) == [("missing_field", "ref_trade_id")]


def test_a_trade_row_naming_an_earlier_trade_is_rejected_rather_than_booked_twice(
    tmp_path: Path,
) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(ref_trade_id="T-0")])))
    assert problems_of(rejected) == [("invalid_field", "ref_trade_id")]


def test_an_unknown_kind_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(kind="amend")])))
    assert problems_of(rejected) == [("invalid_field", "kind")]


def test_quoted_fields_holding_commas_and_quotes_are_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path, csv_text([trade(counterparty='Goldman, Sachs & Co. "GS"')]))
    assert only_execution(path).counterparty == 'Goldman, Sachs & Co. "GS"'


def test_a_crlf_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    text = "\ufeff" + csv_text([trade(), trade(trade_id="T-2")]).replace("\n", "\r\n")
    results, summary = read_all(write_csv(tmp_path, text))
    assert [r.exec_id for r in results if isinstance(r, Execution)] == ["T-1", "T-2"]
    assert results[1].raw.endswith("GSCO")
    assert summary.lines == 3


# -- Rows that are rejected --------------------------------------------------------------------


def test_every_problem_of_a_row_is_reported_at_once_naming_each_column(tmp_path: Path) -> None:
    row = trade(
        price="1E2", trade_date="2026-13-01", currency="", isin="US0378331006", venue="NASDAQ",
        side="short", counterparty="",
    )  # fmt: skip
    rejected = only_rejection(write_csv(tmp_path, csv_text([row])))
    assert sorted(problems_of(rejected)) == [
        ("invalid_field", "isin"),
        ("invalid_field", "price"),
        ("invalid_field", "trade_date"),
        ("invalid_field", "venue"),
        ("missing_field", "counterparty"),
        ("missing_field", "currency"),
        ("unsupported_side", "side"),
    ]
    assert {p.source.line for p in rejected.problems} == {2}
    assert rejected.raw.startswith("T-1,C0001,US0378331006,short,")


@pytest.mark.parametrize("quantity", ["1e2", "-100", "+100", "1,000", ".5", "0", "0.000", "ten"])
def test_a_quantity_that_is_not_a_plain_positive_decimal_is_rejected(
    tmp_path: Path, quantity: str
) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(quantity=quantity)])))
    assert problems_of(rejected) == [("invalid_field", "quantity")]


def test_a_price_of_zero_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(price="0.00")])))
    assert problems_of(rejected) == [("invalid_field", "price")]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("isin", "us0378331005"),
        ("currency", "usd"),
        ("currency", "US"),
        ("venue", "XNA"),
        ("trade_date", "24/11/2026"),
        ("trade_date", "20261124"),
        ("transact_time", "2026-11-24T14:30:00"),
        ("transact_time", "yesterday"),
    ],
)
def test_a_badly_formed_value_is_rejected_naming_its_column(
    tmp_path: Path, column: str, value: str
) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(**{column: value})])))
    assert problems_of(rejected) == [("invalid_field", column)]


def test_a_value_longer_than_the_limit_is_rejected(tmp_path: Path) -> None:
    rejected = only_rejection(write_csv(tmp_path, csv_text([trade(account="C" * 65)])))
    assert problems_of(rejected) == [("invalid_field", "account")]


def test_a_row_with_the_wrong_number_of_fields_is_rejected_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    text = (
        csv_text([trade()])
        + "T-2,C0001,US0378331005,BUY,100\n"
        + csv_text([trade()])[len(HEADER) + 1 :]
    )
    results, summary = read_all(write_csv(tmp_path, text))
    assert [type(r) for r in results] == [Execution, RejectedMessage, Execution]
    rejected = results[1]
    assert isinstance(rejected, RejectedMessage)
    assert problems_of(rejected) == [("wrong_column_count", None)]
    assert "5 fields but the header 10 columns" in rejected.problems[0].reason
    assert (rejected.source.line, results[2].source.line) == (3, 4)
    assert (summary.executions, summary.rejected) == (2, 1)


def test_a_truncated_last_row_ending_inside_a_quote_is_rejected(tmp_path: Path) -> None:
    text = csv_text([trade()]) + 'T-2,C0001,US0378331005,BUY,100,228.52,USD,2026-11-24,XNAS,"Goldm'
    results, _ = read_all(write_csv(tmp_path, text))
    assert isinstance(results[0], Execution)
    assert isinstance(results[1], RejectedMessage)
    assert problems_of(results[1]) == [("truncated_row", None)]
    assert results[1].source.line == 3


def test_a_quoted_field_spanning_lines_is_refused_and_line_numbers_stay_physical(
    tmp_path: Path,
) -> None:
    text = csv_text([trade(counterparty="Goldman\nSachs"), trade(trade_id="T-2")])
    results, summary = read_all(write_csv(tmp_path, text))
    assert [r.source.line for r in results] == [2, 3, 4]
    assert isinstance(results[0], RejectedMessage)
    assert problems_of(results[0]) == [("unclosed_quote", None)]
    assert isinstance(results[1], RejectedMessage)  # 'Sachs"': the rest of the broken row
    assert isinstance(results[2], Execution)
    assert results[2].exec_id == "T-2"
    assert summary.lines == 4


def test_text_after_a_closing_quote_is_rejected_as_a_malformed_row(tmp_path: Path) -> None:
    text = HEADER + '\nT-1,C0001,US0378331005,BUY,100,228.52,USD,2026-11-24,XNAS,"GS"CO\n'
    rejected = only_rejection(write_csv(tmp_path, text))
    assert problems_of(rejected) == [("malformed_row", None)]


def test_blank_lines_and_empty_spreadsheet_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = csv_text([trade(), trade(trade_id="T-2")]).splitlines()
    text = "\n" + rows[0] + "\n\n" + rows[1] + "\n   \n,,,,,,,,,\n" + rows[2] + "\n\n"
    results, summary = read_all(write_csv(tmp_path, text))
    assert [(r.exec_id, r.source.line) for r in results if isinstance(r, Execution)] == [
        ("T-1", 4),
        ("T-2", 7),
    ]
    assert (summary.lines, summary.blank_lines, summary.executions) == (8, 5, 2)


def test_a_line_with_control_characters_past_the_first_bytes_is_rejected_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trades_csv, "sniff_bytes_max", 100)
    rows = csv_text([trade(), trade(trade_id="T-2")]).splitlines()
    text = "\n".join([rows[0], rows[1].replace("GSCO", "GS\x07CO"), rows[2]]) + "\n"
    results, _ = read_all(write_csv(tmp_path, text))
    assert isinstance(results[0], RejectedMessage)
    assert problems_of(results[0]) == [("binary_line", None)]
    assert "\\x07" in results[0].raw
    assert isinstance(results[1], Execution)


def test_a_non_utf8_line_past_the_first_bytes_is_rejected_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trades_csv, "sniff_bytes_max", 200)
    good = csv_text([trade()] * 3)
    latin1 = csv_text([trade(counterparty="Société Générale")]).splitlines()[1]
    path = write_csv(tmp_path, good.encode() + latin1.encode("latin-1") + b"\n")
    results, _ = read_all(path)
    assert [type(r) for r in results] == [Execution, Execution, Execution, RejectedMessage]
    assert isinstance(results[3], RejectedMessage)
    assert problems_of(results[3]) == [("not_utf8", None)]
    assert results[3].source.line == 5


def test_a_line_over_the_limit_is_rejected_and_reading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trades_csv, "line_bytes_max", 120)
    text = csv_text([trade(counterparty="G" * 200), trade(trade_id="T-2")])
    results, _ = read_all(write_csv(tmp_path, text))
    assert isinstance(results[0], RejectedMessage)
    assert problems_of(results[0]) == [("line_too_long", None)]
    assert isinstance(results[1], Execution)
    assert results[1].source.line == 3


def test_a_file_over_the_row_limit_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trades_csv, "rows_per_file_max", 2)
    path = write_csv(tmp_path, csv_text([trade(trade_id=f"T-{n}") for n in range(3)]))
    with pytest.raises(ProblemError) as raised:
        read_all(path)
    assert [(p.code, p.source.line) for p in raised.value.problems] == [("too_many_rows", 4)]


# -- Files that are refused at once ------------------------------------------------------------


def test_a_header_without_a_required_column_is_refused_naming_it(tmp_path: Path) -> None:
    columns = [c for c in REQUIRED_COLUMNS if c not in {"price", "venue"}]
    path = write_csv(tmp_path, ",".join(columns) + "\n")
    assert refusal(path) == ("missing_column", 1)
    with pytest.raises(ProblemError, match="price, venue"):
        read_trades_csv(path)


def test_a_file_without_a_header_line_is_refused(tmp_path: Path) -> None:
    text = csv_text([trade()]).splitlines()[1] + "\n"
    assert refusal(write_csv(tmp_path, text)) == ("missing_header", 1)


def test_a_header_repeating_a_column_is_refused(tmp_path: Path) -> None:
    assert refusal(write_csv(tmp_path, HEADER + ",Price\n")) == ("duplicate_column", 1)


@pytest.mark.parametrize(("delimiter", "named"), [(";", "semicolon"), ("\t", "tab")])
def test_a_file_with_another_delimiter_is_refused_saying_which(
    tmp_path: Path, delimiter: str, named: str
) -> None:
    text = csv_text([trade()]).replace(",", delimiter)
    path = write_csv(tmp_path, text)
    assert refusal(path) == ("wrong_delimiter", 1)
    with pytest.raises(ProblemError, match=named):
        read_trades_csv(path)


@pytest.mark.parametrize(
    "content",
    [
        '{"trade_id": "T-1", "price": "228.52"}\n',
        "8=FIX.4.4|9=5|35=0|10=000|\n",
        "<trades><trade id='T-1'/></trades>\n",
        "just some notes\n",
    ],
    ids=["json", "fix", "xml", "prose"],
)
def test_a_text_file_that_is_not_a_csv_is_refused(tmp_path: Path, content: str) -> None:
    assert refusal(write_csv(tmp_path, content)) == ("not_a_csv", 1)


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"], ids=["empty", "blank"])
def test_an_empty_file_is_refused_since_a_header_is_required(
    tmp_path: Path, content: bytes
) -> None:
    assert refusal(write_csv(tmp_path, content)) == ("empty_file", None)


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 50, "image.png")
    assert refusal(path) == ("binary_file", 2)


def test_a_file_with_nul_bytes_after_a_good_header_is_refused_as_binary(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER.encode() + b"\n\x00\x00\x00\x00\n")
    assert refusal(path) == ("binary_file", 2)


def test_a_latin1_file_is_refused_as_not_utf8(tmp_path: Path) -> None:
    text = csv_text([trade(counterparty="Société Générale")])
    assert refusal(write_csv(tmp_path, text.encode("latin-1"))) == ("not_utf8", 2)


def test_a_utf16_file_is_refused_as_not_utf8(tmp_path: Path) -> None:
    assert refusal(write_csv(tmp_path, csv_text([trade()]).encode("utf-16"))) == ("not_utf8", 1)


def test_a_missing_file_is_refused_with_a_problem(tmp_path: Path) -> None:
    assert refusal(tmp_path / "absent.csv") == ("unreadable_file", None)


def test_a_header_over_the_line_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trades_csv, "line_bytes_max", 50)
    assert refusal(write_csv(tmp_path, csv_text([trade()]))) == ("line_too_long", 1)


# -- Properties --------------------------------------------------------------------------------

printable_line = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff"),
    max_size=200,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=printable_line)
def test_any_printable_row_is_an_execution_or_a_rejection_never_a_crash(
    tmp_path: Path, line: str
) -> None:
    results, summary = read_all(write_csv(tmp_path, HEADER + "\n" + line + "\n"))
    assert summary.lines == 2
    assert len(results) + summary.blank_lines == 1
    for result in results:
        assert result.source.line == 2
        if isinstance(result, RejectedMessage):
            assert result.problems
            assert all(p.source.line == 2 for p in result.problems)
            columns = {*REQUIRED_COLUMNS, None}
            assert all(p.source.field in columns for p in result.problems)


values = st.one_of(
    st.sampled_from(["", "0", "1e2", "BUY", "sell", "XNAS", "USD", "2026-11-24", APPLE, "T-1"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.fixed_dictionaries(dict.fromkeys(REQUIRED_COLUMNS, values)))
@example(row=dict.fromkeys(REQUIRED_COLUMNS, "") | {"counterparty": ","})
def test_a_row_is_accepted_exactly_when_no_column_has_a_problem(
    tmp_path: Path, row: dict[str, str]
) -> None:
    results, _ = read_all(write_csv(tmp_path, csv_text([row], columns=list(REQUIRED_COLUMNS))))
    # Empty fields only: a spreadsheet's empty row. A quoted "," is a value, not a separator.
    if all(not value.strip() for value in row.values()):
        assert results == []
        return
    [result] = results
    if isinstance(result, Execution):
        assert result.quantity == row["quantity"].strip()
        assert result.exec_id == row["trade_id"].strip()
    else:
        assert {p.source.field for p in result.problems} <= set(REQUIRED_COLUMNS)
