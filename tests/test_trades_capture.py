"""Trade capture end to end on the store: executions in, trades and their bookings out, every
refusal quarantined (backoffice.trades.service.import_executions)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries, post_in_transaction
from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import Store
from backoffice.trades import service
from backoffice.trades.queries import list_allocations, list_trades
from backoffice.trades.service import quarantined
from backoffice.trades.verify import verify_trades
from tests.trading import (
    APPLE,
    BAE,
    MICROSOFT,
    TOTAL,
    balance_of,
    day,
    entry_keys,
    execution,
    heartbeat,
    import_log,
    load_desk,
    postings_of,
    reversal_key,
    snapshot,
    table_rows,
    trade_key,
    write_log,
)

FEE_RATES = """
fee_rates:
  - {fee: sec_fee, effective_from: "2026-01-01", rate: "10.00"}
  - {fee: finra_taf, effective_from: "2024-01-01", rate: "0.000200", maximum: "9.00"}
"""


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    load_desk(store, tmp_path)
    return store


def trades_by_id(store: Store) -> dict[str, dict[str, object]]:
    return {trade["trade_id"]: trade for trade in list_trades(store)}


def codes_of_quarantine(store: Store) -> list[list[str]]:
    return [[problem["code"] for problem in item.problems] for item in quarantined(store)]


def assert_books_hold(store: Store) -> None:
    assert verify_ledger(store) == []
    assert verify_trades(store) == []


# --- Capture and booking ----------------------------------------------------------------------


def test_a_fix_log_of_trades_is_captured_and_booked_by_the_naming_convention_to_the_cent(
    desk: Store, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "day.log",
        [
            heartbeat(),  # session messages are mixed in and skipped
            # C1 buys 1000 at 10.00: gross 10,000.00; 0.01 a share = 10.00 (> 5.00 minimum).
            execution("E1", account="C1", quantity="1000", price="10.00"),
            # C2 sells 500 at 20.00: gross 10,000.00; 10 bp = 10.00; no SEC fee in 2026 (the
            # rate is 0 from 2025-05-14); TAF 500 x 0.000166 = 0.083, rounded up to 0.09.
            execution("E2", account="C2", side="SELL", quantity="500", price="20.00"),
        ],
    )
    summary = import_log(desk, log)
    assert (summary.messages, summary.captured, summary.quarantined) == (2, 2, 0)
    assert postings_of(desk, trade_key("E1")) == {
        f"client/C1/securities/{APPLE}": -1000,
        f"firm/settlement/pending/{APPLE}": 1000,
        "client/C1/cash/USD": 1_001_000,  # the client owes 10,010.00
        "firm/settlement/pending/USD": -1_000_000,  # the firm owes the street 10,000.00
        "firm/income/commission/USD": -1_000,
    }
    assert postings_of(desk, trade_key("E2")) == {
        f"client/C2/securities/{APPLE}": 500,
        f"firm/settlement/pending/{APPLE}": -500,
        "client/C2/cash/USD": -998_991,  # the client receives 9,989.91
        "firm/settlement/pending/USD": 1_000_000,
        "firm/income/commission/USD": -1_000,
        "firm/income/finra-taf/USD": -9,
    }
    trades = trades_by_id(desk)
    assert {k: trades["E2"][k] for k in ("gross_amount", "commission", "fees", "net_amount")} == {
        "gross_amount": "10000.00",
        "commission": "10.00",
        "fees": "0.09",
        "net_amount": "9989.91",
    }
    assert trades["E1"]["settlement_date"] == "2026-01-16"
    assert trades["E1"]["status"] == "booked"
    assert_books_hold(desk)
    # Every trade keeps its raw message (delimiter shown as '|'), its file and its line.
    first = table_rows(desk, "trades")[0]
    assert first["raw"] == execution("E1", quantity="1000").replace(b"\x01", b"|").decode()
    assert (first["source_file"], first["source_line"]) == (str(log), 2)
    # The convention opened the accounts, each with its type and owner.
    with desk.read() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT a.code, a.type, p.code FROM accounts a JOIN parties p ON p.id = a.owner_id"
            )
        ).all()
    accounts = {code: (kind, owner) for code, kind, owner in rows}
    assert accounts["client/C1/cash/USD"] == ("liability", "C1")
    assert accounts[f"client/C1/securities/{APPLE}"] == ("liability", "C1")
    assert accounts["firm/settlement/pending/USD"] == ("asset", "FIRM")
    assert accounts["firm/income/finra-taf/USD"] == ("income", "FIRM")


# --- Idempotency ------------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(desk: Store, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "day.log",
        [
            execution("E1", quantity="1000"),
            execution("E2", account="C2", side="SELL", quantity="500", price="20.00"),
            execution("E3", account="C3"),
            execution("X3", exec_type="H", ref="E3", account="C3"),
            execution("G2", exec_type="G", ref="E2", account="C2", side="SELL", quantity="400"),
            execution("B1", account="IM"),
            execution("E4", account="NOBODY"),
        ],
    )
    first = import_log(desk, log)
    assert (first.captured, first.cancelled, first.corrected, first.blocks) == (5, 1, 1, 1)
    assert first.quarantined == 1
    before = snapshot(desk)
    second = import_log(desk, log)
    assert (second.captured, second.cancelled, second.corrected, second.existing) == (0, 0, 0, 6)
    assert snapshot(desk) == before
    assert len(quarantined(desk)) == 1  # the bad message is not quarantined twice
    assert_books_hold(desk)


def test_the_same_exec_id_with_other_content_is_quarantined_as_a_duplicate_trade_id(
    desk: Store, tmp_path: Path
) -> None:
    first = write_log(
        tmp_path / "first.log",
        [execution("E1", quantity="1000"), execution("E1", quantity="999")],  # in one file
    )
    import_log(desk, first)
    before = snapshot(desk)
    second = write_log(tmp_path / "second.log", [execution("E1", quantity="998")])  # in another
    summary = import_log(desk, second)
    assert (summary.captured, summary.existing, summary.quarantined) == (0, 0, 1)
    items = quarantined(desk)
    assert [(item.file, item.line) for item in items] == [(str(first), 2), (str(second), 1)]
    assert codes_of_quarantine(desk) == [["duplicate_trade_id"], ["duplicate_trade_id"]]
    assert snapshot(desk) == before
    assert trades_by_id(desk)["E1"]["quantity"] == "1000"


def test_the_same_execution_resent_in_a_later_session_is_already_captured(
    desk: Store, tmp_path: Path
) -> None:
    import_log(desk, write_log(tmp_path / "first.log", [execution("E1")]))
    resent = execution("E1", sequence=4711, sent_at="18:00:00.000")
    summary = import_log(desk, write_log(tmp_path / "resent.log", [resent]))
    assert (summary.existing, summary.quarantined) == (1, 0)


# --- Cancels and corrections ------------------------------------------------------------------


def test_a_cancel_reverses_the_booking(desk: Store, tmp_path: Path) -> None:
    import_log(desk, write_log(tmp_path / "a.log", [execution("E1", quantity="1000")]))
    summary = import_log(
        desk, write_log(tmp_path / "b.log", [execution("X1", exec_type="H", ref="E1")])
    )
    assert summary.cancelled == 1
    assert entry_keys(desk) == [trade_key("E1"), reversal_key(trade_key("E1"))]
    assert postings_of(desk, reversal_key(trade_key("E1"))) == {
        account: -amount for account, amount in postings_of(desk, trade_key("E1")).items()
    }
    assert set(balance_of(desk).values()) == {0}
    trades = trades_by_id(desk)
    assert list(trades) == ["E1"]  # the cancel message itself is not a trade
    assert trades["E1"]["status"] == "cancelled"
    assert_books_hold(desk)


def test_a_correction_reverses_and_rebooks_with_the_new_figures(
    desk: Store, tmp_path: Path
) -> None:
    import_log(desk, write_log(tmp_path / "a.log", [execution("E1", quantity="1000")]))
    correction = execution("G1", exec_type="G", ref="E1", quantity="2000", price="10.50")
    summary = import_log(desk, write_log(tmp_path / "b.log", [correction]))
    assert (summary.corrected, summary.captured) == (1, 1)
    assert entry_keys(desk) == [trade_key("E1"), reversal_key(trade_key("E1")), trade_key("G1")]
    # 2000 at 10.50: gross 21,000.00, commission 20.00, the client pays 21,020.00.
    assert postings_of(desk, trade_key("G1")) == {
        f"client/C1/securities/{APPLE}": -2000,
        f"firm/settlement/pending/{APPLE}": 2000,
        "client/C1/cash/USD": 2_102_000,
        "firm/settlement/pending/USD": -2_100_000,
        "firm/income/commission/USD": -2_000,
    }
    balances = balance_of(desk)
    assert balances["client/C1/cash/USD"] == 2_102_000  # only the corrected figures remain
    assert balances[f"client/C1/securities/{APPLE}"] == -2000
    trades = trades_by_id(desk)
    assert (trades["E1"]["status"], trades["G1"]["status"]) == ("corrected", "booked")
    assert trades["G1"]["ref_trade_id"] == "E1"
    # A cancel of the correction takes the trade out of the books altogether.
    import_log(desk, write_log(tmp_path / "c.log", [execution("X1", exec_type="H", ref="G1")]))
    assert set(balance_of(desk).values()) == {0}
    assert_books_hold(desk)


def test_cancels_and_corrections_that_name_no_live_trade_of_the_client_are_quarantined(
    desk: Store, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "a.log",
        [
            execution("E1", quantity="1000"),
            execution("X0", exec_type="H", ref="NOPE"),  # 2: no such trade
            execution("G1", exec_type="G", ref="E1", quantity="2000"),
            execution("G2", exec_type="G", ref="E1", quantity="3000"),  # 4: E1 was corrected
            execution("G3", exec_type="G", ref="G1", account="C2"),  # 5: another client
            execution("E2"),
            execution("X2", exec_type="H", ref="E2"),
            execution("X3", exec_type="H", ref="E2"),  # 8: E2 is cancelled
            execution("X4", exec_type="H", ref="X2"),  # 9: X2 is a cancel, not a trade
        ],
    )
    summary = import_log(desk, log)
    assert (summary.captured, summary.corrected, summary.cancelled) == (3, 1, 1)
    assert [(item.line, [p["code"] for p in item.problems]) for item in quarantined(desk)] == [
        (2, ["unknown_trade"]),
        (4, ["trade_not_live"]),
        (5, ["correction_changes_client"]),
        (8, ["trade_not_live"]),
        (9, ["unknown_trade"]),
    ]
    balances = balance_of(desk)
    assert balances[f"client/C1/securities/{APPLE}"] == -2000  # G1 only
    assert "client/C2/cash/USD" not in balances
    assert_books_hold(desk)


# --- Validation and the quarantine ------------------------------------------------------------

BAD = [
    (execution("E1", isin=MICROSOFT), [("unknown_instrument", "isin")]),
    (execution("E2", account="NOBODY"), [("unknown_account", "account")]),
    (execution("E3", counterparty="NOBODY"), [("unknown_counterparty", "counterparty")]),
    (execution("E4", counterparty="C2"), [("not_a_counterparty", "counterparty")]),
    (execution("E5", counterparty=None), [("missing_counterparty", "counterparty")]),
    (execution("E6", trade_date="2026-01-17"), [("not_a_trading_day", "trade_date")]),  # Sat
    (execution("E7", trade_date="2026-01-19"), [("not_a_trading_day", "trade_date")]),  # MLK
    (execution("E8", currency="EUR"), [("currency_mismatch", "currency")]),
    (execution("E9", quantity="10.5"), [("invalid_quantity", "quantity")]),
    (
        execution("E10", isin=MICROSOFT, account="NOBODY", counterparty=None),
        [
            ("unknown_instrument", "isin"),
            ("unknown_account", "account"),
            ("missing_counterparty", "counterparty"),
        ],
    ),
    (execution("E11").replace(b"\x0110=", b"\x0110=9"), [("bad_checksum", "10 CheckSum")]),
]


def test_every_invalid_execution_is_quarantined_with_file_line_codes_and_raw_and_not_booked(
    desk: Store, tmp_path: Path
) -> None:
    messages = [heartbeat(), execution("OK1"), *(message for message, _ in BAD), execution("OK2")]
    log = write_log(tmp_path / "bad.log", messages)
    summary = import_log(desk, log)
    assert (summary.captured, summary.quarantined) == (2, len(BAD))
    items = quarantined(desk)
    assert [item.kind for item in items] == ["trades.import"] * len(BAD)
    assert [(item.file, item.line) for item in items] == [
        (str(log), line) for line in range(3, 3 + len(BAD))
    ]
    for item, (message, expected) in zip(items, BAD, strict=True):
        assert sorted((p["code"], p["field"]) for p in item.problems) == sorted(expected)
        assert item.raw == message.replace(b"\x01", b"|").decode()  # kept as received
    # The good messages around them went through; nothing of the bad ones was stored.
    assert list(trades_by_id(desk)) == ["OK1", "OK2"]
    assert entry_keys(desk) == [trade_key("OK1"), trade_key("OK2")]
    assert_books_hold(desk)


# --- Settlement dates -------------------------------------------------------------------------


def test_the_settlement_date_counts_settlement_days_of_the_market(
    desk: Store, tmp_path: Path
) -> None:
    def london(exec_id: str, trade_date: str) -> bytes:
        return execution(exec_id, isin=BAE, currency="GBP", venue="XLON", trade_date=trade_date)

    def paris(exec_id: str, trade_date: str) -> bytes:
        return execution(exec_id, isin=TOTAL, currency="EUR", venue="XPAR", trade_date=trade_date)

    log = write_log(
        tmp_path / "a.log",
        [
            # Columbus Day (Monday 2026-10-12) is a NYSE session but the Fed is shut: a Friday
            # trade settles T+1 on Tuesday.
            execution("US", trade_date="2026-10-09"),
            # London in 2026 is T+2: Thursday 2026-03-12 settles Monday 2026-03-16.
            london("LON", "2026-03-12"),
            # Paris moves to T+1 on 2027-10-11; a trade the Friday before is still T+2.
            paris("PAR", "2027-10-11"),
            paris("PAR0", "2027-10-08"),
        ],
    )
    import_log(desk, log)
    expected = {"US": "2026-10-13", "LON": "2026-03-16", "PAR": "2027-10-12", "PAR0": "2027-10-12"}
    assert {t["trade_id"]: t["settlement_date"] for t in list_trades(desk)} == expected
    allocations = list_allocations(desk)
    assert {a["trade_id"]: a["settlement_date"] for a in allocations} == expected


# --- Commission and fees ----------------------------------------------------------------------


def test_commission_follows_each_clients_schedule(desk: Store, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "a.log",
        [
            # C1, 0.01 a share, minimum 5.00: 100 shares = 1.00, so the minimum applies.
            execution("E1", account="C1", quantity="100", price="10.00"),
            # C1: 1234 shares = 12.34.
            execution("E2", account="C1", quantity="1234", price="10.00"),
            # C2, 10 bp, minimum 1.00: 333 x 12.345 = 4,110.885 -> gross 4,110.89;
            # 10 bp = 4.11089 -> 4.11.
            execution("E3", account="C2", quantity="333", price="12.345"),
            # C2: 10 bp of 50.00 is 0.05: the 1.00 minimum applies.
            execution("E4", account="C2", quantity="5", price="10.00"),
            # C3 has no schedule: no commission.
            execution("E5", account="C3", quantity="1000", price="10.00"),
            # C1's schedule is in USD: a GBP trade pays none.
            execution("E6", isin=BAE, currency="GBP", venue="XLON", trade_date="2026-03-12"),
        ],
    )
    import_log(desk, log)
    trades = trades_by_id(desk)
    assert {
        tid: (t["gross_amount"], t["commission"], t["net_amount"]) for tid, t in trades.items()
    } == {
        "E1": ("1000.00", "5.00", "1005.00"),
        "E2": ("12340.00", "12.34", "12352.34"),
        "E3": ("4110.89", "4.11", "4115.00"),
        "E4": ("50.00", "1.00", "51.00"),
        "E5": ("10000.00", "0.00", "10000.00"),
        "E6": ("1000.00", "0.00", "1000.00"),
    }
    assert "firm/income/commission/GBP" not in balance_of(desk)
    assert_books_hold(desk)


def test_sec_fee_and_finra_taf_are_charged_on_us_sales_only(desk: Store, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "a.log",
        [
            # Sale of 3000 at 45.67 on 2024-06-03: gross 137,010.00;
            # commission 3000 x 0.01 = 30.00;
            # SEC fee 137,010.00 x 27.80 / 1,000,000 = 3.808878 -> rounded up 3.81;
            # TAF 3000 x 0.000166 = 0.498 -> rounded up 0.50;
            # net 137,010.00 - 30.00 - 3.81 - 0.50 = 136,975.69.
            execution("S1", side="SELL", quantity="3000", price="45.67", trade_date="2024-06-03"),
            # The same buy pays no fee: 137,010.00 + 30.00.
            execution("B1", side="BUY", quantity="3000", price="45.67", trade_date="2024-06-03"),
            # Sale of 100,000 at 1.00: SEC fee 100,000.00 x 27.80 / 1e6 = 2.78;
            # TAF 100,000 x 0.000166 = 16.60, capped at 8.30; commission 1,000.00;
            # net 100,000.00 - 1,000.00 - 2.78 - 8.30 = 98,988.92.
            execution("S2", side="SELL", quantity="100000", price="1.00", trade_date="2024-06-03"),
            # A London sale pays no US fee.
            execution(
                "S3", side="SELL", isin=BAE, currency="GBP", venue="XLON", trade_date="2024-06-03"
            ),
        ],
    )
    import_log(desk, log)
    trades = trades_by_id(desk)
    figures = {
        tid: (t["commission"], t["sec_fee"], t["finra_taf"], t["net_amount"])
        for tid, t in trades.items()
    }
    assert figures == {
        "S1": ("30.00", "3.81", "0.50", "136975.69"),
        "B1": ("30.00", "0.00", "0.00", "137040.00"),
        "S2": ("1000.00", "2.78", "8.30", "98988.92"),
        "S3": ("0.00", "0.00", "0.00", "1000.00"),
    }
    assert postings_of(desk, trade_key("S1")) == {
        f"client/C1/securities/{APPLE}": 3000,
        f"firm/settlement/pending/{APPLE}": -3000,
        "client/C1/cash/USD": -13_697_569,
        "firm/settlement/pending/USD": 13_701_000,
        "firm/income/commission/USD": -3_000,
        "firm/income/sec-fee/USD": -381,
        "firm/income/finra-taf/USD": -50,
    }
    assert trades["S1"]["settlement_date"] == "2024-06-04"
    assert_books_hold(desk)


def test_fee_rates_in_reference_data_add_to_and_replace_the_published_ones(
    store: Store, tmp_path: Path
) -> None:
    load_desk(store, tmp_path, FEE_RATES)
    log = write_log(
        tmp_path / "a.log",
        [
            # A new SEC rate of 10.00 per million from 2026: 10,000.00 x 10 / 1e6 = 0.10.
            execution("S1", account="C3", side="SELL", quantity="500", price="20.00"),
            # The 2024 TAF replaced by 0.000200 a share: 3000 x 0.0002 = 0.60 (not 0.50);
            # the SEC rate of 27.80 still applies: 3.81.
            execution(
                "S2",
                account="C3",
                side="SELL",
                quantity="3000",
                price="45.67",
                trade_date="2024-06-03",
            ),
            # ...capped at the new 9.00 maximum: 100,000 x 0.0002 = 20.00 -> 9.00.
            execution(
                "S3",
                account="C3",
                side="SELL",
                quantity="100000",
                price="1.00",
                trade_date="2024-06-03",
            ),
        ],
    )
    import_log(store, log)
    trades = trades_by_id(store)
    assert {tid: (t["sec_fee"], t["finra_taf"]) for tid, t in trades.items()} == {
        "S1": ("0.10", "0.10"),  # TAF 500 x 0.0002 = 0.10
        "S2": ("3.81", "0.60"),
        "S3": ("2.78", "9.00"),
    }
    assert_books_hold(store)


# --- When the ledger refuses ------------------------------------------------------------------


def test_a_buy_the_ledger_refuses_is_quarantined_and_the_rest_of_the_file_is_captured(
    desk: Store, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "a.log",
        [
            execution("E1", quantity="1000"),
            execution("P1", account="POOR"),  # POOR's cash may not be debited: no funds
            execution("E2", account="C2", side="SELL", quantity="500", price="20.00"),
            execution("X1", exec_type="H", ref="E1", quantity="1000"),
        ],
    )
    summary = import_log(desk, log)
    assert (summary.messages, summary.captured, summary.cancelled) == (4, 2, 1)
    assert summary.quarantined == 1
    (item,) = quarantined(desk)
    assert (item.file, item.line) == (str(log), 2)
    assert [p["code"] for p in item.problems] == ["debits_exceed_credits"]
    assert "client/POOR/cash/USD" in item.problems[0]["reason"]
    assert item.raw == execution("P1", account="POOR").replace(b"\x01", b"|").decode()
    # Nothing partial: no trade, no allocation, no entry and no account opened for P1.
    assert list(trades_by_id(desk)) == ["E1", "E2"]
    assert all(row["trade_id"] != "P1" for row in table_rows(desk, "allocations"))
    assert entry_keys(desk) == [trade_key("E1"), trade_key("E2"), reversal_key(trade_key("E1"))]
    balances = balance_of(desk)
    assert balances["client/POOR/cash/USD"] == 0
    assert "client/POOR/securities/" + APPLE not in balances
    assert_books_hold(desk)


def test_chunks_split_anywhere_give_the_same_books(
    desk: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two messages a transaction: cancels and corrections land in a later chunk than their
    # trades, and the refused buy shares its chunk with a cancel.
    monkeypatch.setattr(service, "chunk_messages", 2)
    log = write_log(
        tmp_path / "a.log",
        [
            execution("E1", quantity="1000"),
            execution("E2", quantity="500"),
            execution("P1", account="POOR"),
            execution("X1", exec_type="H", ref="E1"),
            execution("G2", exec_type="G", ref="E2", quantity="400"),
            execution("E3", account="C3"),
        ],
    )
    summary = import_log(desk, log)
    assert (summary.messages, summary.captured, summary.cancelled, summary.corrected) == (
        6,
        4,
        1,
        1,
    )
    assert [(item.line, [p["code"] for p in item.problems]) for item in quarantined(desk)] == [
        (3, ["debits_exceed_credits"])
    ]
    assert entry_keys(desk) == [
        trade_key("E1"),
        trade_key("E2"),
        reversal_key(trade_key("E1")),
        reversal_key(trade_key("E2")),
        trade_key("G2"),
        trade_key("E3"),
    ]
    assert {t["trade_id"]: t["status"] for t in list_trades(desk)} == {
        "E1": "cancelled",
        "E2": "corrected",
        "G2": "booked",
        "E3": "booked",
    }
    assert balance_of(desk)[f"client/C1/securities/{APPLE}"] == -400
    assert_books_hold(desk)


def test_a_refused_buy_goes_through_once_the_client_has_funds(desk: Store, tmp_path: Path) -> None:
    message = execution("P1", account="POOR")  # 100 at 10.00, no schedule: 1,000.00
    import_log(desk, write_log(tmp_path / "a.log", [message]))
    assert codes_of_quarantine(desk) == [["debits_exceed_credits"]]
    funding = EntryRequest(
        key="deposit/POOR",
        effective_date=day("2026-01-14"),
        postings=(
            PostingRequest("firm/bank/USD", "1000.00"),
            PostingRequest("client/POOR/cash/USD", "-1000.00"),
        ),
    )
    post_entries(desk, [funding], actor="test")
    summary = import_log(desk, write_log(tmp_path / "b.log", [message]))
    assert summary.captured == 1
    assert balance_of(desk)["client/POOR/cash/USD"] == 0


# --- The books tie out to the trades ----------------------------------------------------------


def test_a_stray_entry_under_a_trading_key_is_an_orphan_booking(
    desk: Store, tmp_path: Path
) -> None:
    import_log(desk, write_log(tmp_path / "a.log", [execution("E1", quantity="1000")]))
    stray = EntryRequest(
        key=trade_key("XYZ"),
        effective_date=day("2026-01-15"),
        postings=(
            PostingRequest("firm/settlement/pending/USD", "1.00"),
            PostingRequest("firm/income/commission/USD", "-1.00"),
        ),
    )
    # Through the ledger's in-transaction door, as a service with a bug would book it.
    with desk.write() as connection:
        (result,) = post_in_transaction(
            connection, [stray], actor="test", command="test", booked_at_us=1
        )
    assert result.outcome is EntryOutcome.CREATED
    assert verify_ledger(desk) == []  # the ledger itself is sound...
    problems = verify_trades(desk)  # ...but it books no trade
    orphans = [p for p in problems if p.code == "orphan_booking"]
    assert len(orphans) == 1
    assert trade_key("XYZ") in orphans[0].reason
    # Its postings are also reported as not expected; nothing else is.
    assert {p.code for p in problems} <= {"orphan_booking", "booking_differs"}
    assert all(trade_key("XYZ") in p.reason for p in problems)


def test_ledger_post_can_neither_book_under_a_trading_key_nor_reverse_a_trade(
    desk: Store, tmp_path: Path
) -> None:
    import_log(desk, write_log(tmp_path / "a.log", [execution("E1", quantity="1000")]))
    before = snapshot(desk)
    stray = EntryRequest(
        key=trade_key("XYZ"),
        effective_date=day("2026-01-15"),
        postings=(
            PostingRequest("firm/settlement/pending/USD", "1.00"),
            PostingRequest("firm/income/commission/USD", "-1.00"),
        ),
    )
    reversal = EntryRequest(
        key="undo-E1", effective_date=day("2026-01-15"), reverse=trade_key("E1")
    )
    results = post_entries(desk, [stray, reversal], actor="test").results
    assert [r.outcome for r in results] == [EntryOutcome.FAILED, EntryOutcome.FAILED]
    assert [[p.code for p in r.problems] for r in results] == [["reserved_key"], ["reserved_key"]]
    assert snapshot(desk) == before
    assert verify_trades(desk) == []


def test_a_trade_whose_figures_were_changed_in_the_database_no_longer_ties_out(
    desk: Store, tmp_path: Path
) -> None:
    import_log(desk, write_log(tmp_path / "a.log", [execution("E1", quantity="1000")]))
    with desk.write() as connection:
        connection.execute(
            sa.text("UPDATE allocations SET gross_minor = gross_minor + 1 WHERE trade_id = 'E1'")
        )
    codes = {p.code for p in verify_trades(desk)}
    assert "booking_differs" in codes
