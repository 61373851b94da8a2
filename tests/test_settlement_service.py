"""Clearing and settlement on the store: trades net into obligations, obligations become
instructions, statuses and confirmations settle them in the ledger, the rest are fails and
pay penalties (backoffice.settlement.service, instruction_service, status_service, fail_service,
penalties_service).

Every figure is seen from the firm: a client's buy is a purchase from the street (+ quantity,
- cash), a client's sale the opposite.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from backoffice.errors import ProblemError
from backoffice.formats.prices_csv import read_prices
from backoffice.formats.sese023 import validate_sese023
from backoffice.ledger.verify import verify_ledger
from backoffice.refdata import calendars
from backoffice.settlement.fail_service import fails
from backoffice.settlement.instruction_service import instruct, write_instructions
from backoffice.settlement.model import InstructionFunction, NettingMode, StatusKind
from backoffice.settlement.penalties import FailCause, FailingParty
from backoffice.settlement.penalties_service import month_penalties
from backoffice.settlement.service import NetResult, net_obligations
from backoffice.settlement.status_service import apply_statuses
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.trades.verify import verify_trades
from tests.settling import (
    MICROSOFT,
    SETTLES,
    advice,
    by_counterparty_and_isin,
    import_trades,
    instructions,
    load_settlement_desk,
    obligations,
    settlement_quarantine,
    trade,
)
from tests.trading import APPLE, TOTAL, balance_of, entry_keys, postings_of

BILATERAL, CCP = NettingMode.BILATERAL, NettingMode.CCP
SETTLED, PARTIAL = StatusKind.SETTLED, StatusKind.PARTIALLY_SETTLED


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    load_settlement_desk(store, tmp_path)
    return store


def import_five_trades(store: Store, tmp_path: Path) -> None:
    """Buys and sells of two securities with two counterparties, all settling on SETTLES."""
    import_trades(
        store,
        tmp_path,
        trade("E1", account="C1", quantity="100", price="10.00", counterparty="GS"),
        trade("E2", account="C2", side="SELL", quantity="40", price="10.50", counterparty="GS"),
        trade("E3", account="C3", quantity="30", price="10.20", counterparty="MS"),
        trade("E4", account="C1", isin=MICROSOFT, side="SELL", quantity="50", price="20.00"),
        trade("E5", account="C2", isin=MICROSOFT, quantity="20", price="21.00", counterparty="MS"),
    )


def net(store: Store, mode: NettingMode = BILATERAL, **options: Any) -> NetResult:
    return net_obligations(store, SETTLES, mode, actor="test", **options)


def figures(result: NetResult) -> dict[tuple[str, str], tuple[str, str, list[str]]]:
    """(counterparty, isin) -> (quantity, cash_amount, trade_ids) of the report's obligations."""
    return {
        (row["counterparty"], row["isin"]): (row["quantity"], row["cash_amount"], row["trade_ids"])
        for row in result.obligations
    }


def live_trade_links(store: Store) -> list[str]:
    """The trade ids of every obligation that is not cancelled, one entry per link."""
    return sorted(
        trade_id
        for row in obligations(store).values()
        if row["status"] != "cancelled"
        for trade_id in row["trade_ids"]
    )


def assert_books_hold(store: Store) -> None:
    assert verify_ledger(store) == []
    assert verify_trades(store) == []


# --- Netting ----------------------------------------------------------------------------------


def test_bilateral_netting_gives_one_obligation_per_counterparty_and_security_from_the_firms_side(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    result = net(desk)
    # By hand, per counterparty and security (firm's side: a client buy is +quantity, -cash):
    #   GS Apple:     E1 +100 -1000.00, E2 -40 +420.00       ->  +60  -580.00
    #   MS Apple:     E3 +30 -306.00                         ->  +30  -306.00
    #   GS Microsoft: E4 -50 +1000.00                        ->  -50 +1000.00
    #   MS Microsoft: E5 +20 -420.00                         ->  +20  -420.00
    assert figures(result) == {
        ("GS", APPLE): ("60", "-580.00", ["E1", "E2"]),
        ("MS", APPLE): ("30", "-306.00", ["E3"]),
        ("GS", MICROSOFT): ("-50", "1000.00", ["E4"]),
        ("MS", MICROSOFT): ("20", "-420.00", ["E5"]),
    }
    # Gross: 1000 + 420 + 306 + 1000 + 420; net: 580 + 306 + 1000 + 420.
    assert (result.gross_count, result.gross_value) == (5, {"USD": "3146.00"})
    assert (result.net_count, result.net_value) == (4, {"USD": "2306.00"})
    assert {row["status"] for row in result.obligations} == {"open"}
    # The store holds what the report says, in minor units, each linked to its gross trades.
    stored = by_counterparty_and_isin(obligations(desk))
    assert {key: (row["quantity_minor"], row["cash_minor"]) for key, row in stored.items()} == {
        ("GS", APPLE): (60, -58_000),
        ("MS", APPLE): (30, -30_600),
        ("GS", MICROSOFT): (-50, 100_000),
        ("MS", MICROSOFT): (20, -42_000),
    }
    assert stored["GS", APPLE]["trade_ids"] == ["E1", "E2"]
    assert stored["GS", APPLE]["trade_count"] == 2
    assert {row["obligation_id"] for row in result.obligations} == set(obligations(desk))


def test_ccp_netting_faces_the_ccp_with_one_obligation_per_security_carrying_its_net_cash(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    result = net(desk, CCP)
    # Against NSCC: Apple +100 -40 +30 = +90 for -1000 + 420 - 306 = -886.00;
    # Microsoft -50 +20 = -30 for +1000 - 420 = +580.00.
    assert figures(result) == {
        ("NSCC", APPLE): ("90", "-886.00", ["E1", "E2", "E3"]),
        ("NSCC", MICROSOFT): ("-30", "580.00", ["E4", "E5"]),
    }
    assert (result.gross_count, result.gross_value) == (5, {"USD": "3146.00"})
    assert (result.net_count, result.net_value) == (2, {"USD": "1466.00"})
    assert result.net_cash == {"USD": "-306.00"}  # -886 + 580: the one money figure
    assert {row["mode"] for row in obligations(desk).values()} == {"ccp"}


def test_ccp_netting_needs_exactly_one_ccp_party_or_the_one_chosen(
    desk: Store, tmp_path: Path
) -> None:
    load_settlement_desk(
        desk,
        tmp_path,
        extra="parties:\n  - {code: LCH, kind: ccp, name: Another Clearing House}\n",
    )
    import_five_trades(desk, tmp_path)
    with pytest.raises(ProblemError) as two:
        net(desk, CCP)
    assert [p.code for p in two.value.problems] == ["choose_ccp"]
    assert "(found NSCC, LCH)" in two.value.problems[0].reason
    with pytest.raises(ProblemError) as not_a_ccp:
        net(desk, CCP, ccp="GS")
    assert [p.code for p in not_a_ccp.value.problems] == ["unknown_ccp"]
    assert obligations(desk) == {}  # a refused netting stores nothing
    chosen = net(desk, CCP, ccp="NSCC")
    assert {row["counterparty"] for row in chosen.obligations} == {"NSCC"}


def test_netting_the_same_trades_again_gives_the_same_obligation_ids(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    first = net(desk)
    again = net(desk)
    assert again.obligations == first.obligations
    assert sorted(obligations(desk)) == sorted(row["obligation_id"] for row in first.obligations)


def test_netting_again_in_the_other_mode_replaces_the_obligations_not_yet_instructed(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    bilateral = {row["obligation_id"] for row in net(desk).obligations}
    ccp = {row["obligation_id"] for row in net(desk, CCP).obligations}
    assert set(obligations(desk)) == ccp
    assert live_trade_links(desk) == ["E1", "E2", "E3", "E4", "E5"]  # each trade once
    assert {row["obligation_id"] for row in net(desk).obligations} == bilateral
    assert set(obligations(desk)) == bilateral
    assert live_trade_links(desk) == ["E1", "E2", "E3", "E4", "E5"]


def test_an_instructed_obligation_keeps_its_trades_when_the_date_is_netted_again(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    net(desk)
    instruct(desk, SETTLES, actor="test")
    again = net(desk, CCP)  # nothing left to net: every trade is instructed
    assert (again.gross_count, again.obligations) == (0, [])
    assert {row["mode"] for row in obligations(desk).values()} == {"bilateral"}
    assert live_trade_links(desk) == ["E1", "E2", "E3", "E4", "E5"]


def test_an_obligation_whose_counterparty_has_no_ssi_is_an_exception_and_is_not_instructed(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(
        desk,
        tmp_path,
        trade("E1", quantity="100", counterparty="GS"),
        trade("E2", quantity="10", counterparty="JPM"),
    )
    result = net(desk)
    rows = {row["counterparty"]: row for row in result.obligations}
    assert (rows["JPM"]["status"], rows["JPM"]["reason"]) == ("exception", "no SSI for JPM on XNYS")
    assert (rows["GS"]["status"], rows["GS"]["reason"]) == ("open", None)
    instructed = instruct(desk, SETTLES, actor="test")
    assert [i.reference for i in instructed.new] == [rows["GS"]["obligation_id"]]
    assert instructed.exceptions == [
        {
            "obligation_id": rows["JPM"]["obligation_id"],
            "status": "exception",
            "reason": "no SSI for JPM on XNYS",
        }
    ]
    assert [row["reference"] for row in instructions(desk)] == [rows["GS"]["obligation_id"]]


def test_a_security_bought_and_sold_in_equal_quantity_at_different_prices_is_a_cash_only_exception(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(
        desk,
        tmp_path,
        trade("E1", account="C1", quantity="100", price="10.00"),
        trade("E2", account="C2", side="SELL", quantity="100", price="10.10"),
    )
    (row,) = net(desk).obligations
    # +100 -1000.00 and -100 +1010.00: no securities move, the firm receives 10.00.
    assert (row["quantity"], row["cash_amount"], row["status"]) == ("0", "10.00", "exception")
    assert "no securities but some cash" in row["reason"]
    assert instruct(desk, SETTLES, actor="test").new == []


def test_cancelled_trades_are_not_netted_and_corrected_ones_net_at_their_correction(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(
        desk,
        tmp_path,
        trade("E1", quantity="100"),
        trade("E2", quantity="40"),
        trade("E3", quantity="5"),
        trade("X2", exec_type="H", ref="E2", quantity="40"),
        trade("G3", exec_type="G", ref="E3", quantity="7"),
    )
    result = net(desk)
    assert figures(result) == {("GS", APPLE): ("107", "-1070.00", ["E1", "G3"])}
    assert result.gross_count == 2


# --- Instructions -----------------------------------------------------------------------------


def test_instructing_makes_each_open_obligation_an_instruction_referenced_by_its_obligation_id(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    ids = sorted(row["obligation_id"] for row in net(desk).obligations)
    result = instruct(desk, SETTLES, actor="test")
    assert sorted(i.reference for i in result.new) == ids
    assert all(i.reference == i.obligation_id and len(i.reference) == 16 for i in result.new)
    assert {i.function for i in result.new} == {InstructionFunction.NEW}
    assert {row["status"] for row in obligations(desk).values()} == {"instructed"}
    stored = instructions(desk)
    assert sorted(row["reference"] for row in stored) == ids
    assert {(row["function"], row["previous_reference"]) for row in stored} == {("new", None)}
    # The instruction reads the obligation: GS Apple is a receipt of 60 paying 580.00.
    gs_apple = by_counterparty_and_isin(obligations(desk))["GS", APPLE]["obligation_id"]
    (receipt,) = [i for i in result.new if i.reference == gs_apple]
    assert (receipt.direction.value, receipt.payment.value) == ("receive", "against_payment")
    assert (receipt.quantity, receipt.settlement_amount, receipt.currency) == (
        "60",
        "580.00",
        "USD",
    )
    assert not receipt.cash_direction_credit
    assert (receipt.firm.agent, receipt.counterparty.agent) == ("CITIUS33", "GOLDUS33")


def test_instructing_again_creates_no_duplicates_and_writes_identical_files(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    net(desk)
    first = instruct(desk, SETTLES, actor="test")
    second = instruct(desk, SETTLES, actor="test")
    assert (len(first.new), second.new, second.cancelled) == (4, [], [])
    assert len(instructions(desk)) == 4
    assert second.all_of_date == first.all_of_date
    for fmt in ("sese023", "mt54x"):
        once = write_instructions(
            first.all_of_date, tmp_path / fmt / "1", SETTLES, fmt, sender_bic="BKOFUS33XXX"
        )
        twice = write_instructions(
            second.all_of_date, tmp_path / fmt / "2", SETTLES, fmt, sender_bic="BKOFUS33XXX"
        )
        assert [p.name for p in once] == [p.name for p in twice]
        assert [p.read_bytes() for p in once] == [p.read_bytes() for p in twice]
    documents = sorted((tmp_path / "sese023" / "1").iterdir())
    assert sorted(p.stem for p in documents) == sorted(i.reference for i in first.new)
    for document in documents:
        assert validate_sese023(document.read_bytes()) == []
    (fin,) = (tmp_path / "mt54x" / "1").iterdir()
    assert fin.name == "instructions-2026-01-16.fin"
    text = fin.read_bytes().decode()
    assert text.count("{1:") == 4
    for instruction in first.new:
        assert text.count(f":20C::SEME//{instruction.reference}\r\n") == 1
    # Three receipts against payment (MT541) and one delivery against payment (MT543).
    assert (text.count("{2:I541"), text.count("{2:I543")) == (3, 1)


def test_a_trade_cancelled_after_instruction_cancels_the_instruction_and_its_live_trades_net_again(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    net(desk)
    instruct(desk, SETTLES, actor="test")
    old = by_counterparty_and_isin(obligations(desk))["GS", APPLE]["obligation_id"]
    import_trades(
        desk,
        tmp_path,
        trade(
            "X2", exec_type="H", ref="E2", account="C2", side="SELL", quantity="40", price="10.50"
        ),
    )
    result = instruct(desk, SETTLES, actor="test")
    assert result.new == []
    (cancel,) = result.cancelled
    assert (cancel.reference, cancel.previous_reference) == ("CX" + old[2:], old)
    assert cancel.function is InstructionFunction.CANCEL
    assert obligations(desk)[old]["status"] == "cancelled"
    written = write_instructions(
        result.all_of_date, tmp_path / "out", SETTLES, "mt54x", sender_bic="BKOFUS33XXX"
    )
    fin = written[0].read_bytes().decode()
    assert fin.count("{1:") == 5  # four new instructions and the cancellation
    cancellation = next(m for m in fin.split("$") if f":20C::SEME//CX{old[2:]}" in m)
    assert ":23G:CANC" in cancellation
    assert f":20C::PREV//{old}" in cancellation
    # sese.023 cannot cancel: the cancellation goes beside the documents as MT54x.
    written = write_instructions(
        result.all_of_date, tmp_path / "xml", SETTLES, "sese023", sender_bic="BKOFUS33XXX"
    )
    assert "cancellations-2026-01-16.fin" in [p.name for p in written]
    # E1 is still live: it nets again into a new obligation, with another id, and goes out.
    again = net(desk)
    assert figures(again) == {("GS", APPLE): ("100", "-1000.00", ["E1"])}
    (new_id,) = [row["obligation_id"] for row in again.obligations]
    assert new_id != old
    assert live_trade_links(desk) == ["E1", "E3", "E4", "E5"]
    assert [i.reference for i in instruct(desk, SETTLES, actor="test").new] == [new_id]
    # and instructing again cancels nothing twice.
    assert instruct(desk, SETTLES, actor="test").cancelled == []


def test_a_trade_cancelled_after_its_obligation_failed_still_cancels_the_instruction(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"), trade("E2", quantity="40"))
    (row,) = net(desk).obligations
    instruct(desk, SETTLES, actor="test")
    apply_statuses(
        desk, [advice("M1", row["obligation_id"], StatusKind.FAILED, reason_code="LACK")], actor="t"
    )
    import_trades(desk, tmp_path, trade("X2", exec_type="H", ref="E2", quantity="40"))
    # The CSD still tries to settle a failing instruction: it must be cancelled too.
    result = instruct(desk, SETTLES, actor="test")
    assert [c.previous_reference for c in result.cancelled] == [row["obligation_id"]]


# --- Status and settlement --------------------------------------------------------------------


def test_matched_pending_and_failed_statuses_update_the_obligation_with_their_reason(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"))
    (row,) = net(desk).obligations
    reference = row["obligation_id"]
    instruct(desk, SETTLES, actor="test")

    def status_after(*advices: Any) -> tuple[str, str | None]:
        summary = apply_statuses(desk, advices, actor="test")
        assert (summary.applied, summary.quarantined) == (len(advices), 0)
        stored = obligations(desk)[reference]
        return stored["status"], stored["reason"]

    assert status_after(advice("M1", reference, StatusKind.MATCHED)) == ("matched", None)
    assert status_after(
        advice(
            "M2", reference, StatusKind.PENDING, reason_code="LACK", reason="awaiting securities"
        )
    ) == ("pending", "LACK awaiting securities")
    assert status_after(advice("M3", reference, StatusKind.FAILED, reason_code="MONY")) == (
        "failed",
        "MONY",
    )
    assert [k for k in entry_keys(desk) if k.startswith("settlement:")] == []  # no money moved


def test_settling_every_obligation_moves_pending_into_depository_and_nostro_under_the_message_key(
    desk: Store, tmp_path: Path
) -> None:
    import_five_trades(desk, tmp_path)
    net(desk)
    instruct(desk, SETTLES, actor="test")
    rows = by_counterparty_and_isin(obligations(desk))
    summary = apply_statuses(
        desk,
        [
            advice("M1", rows["GS", APPLE]["obligation_id"], SETTLED, quantity="60"),
            advice("M2", rows["MS", APPLE]["obligation_id"], SETTLED),  # no quantity: all of it
            advice("M3", rows["GS", MICROSOFT]["obligation_id"], SETTLED, quantity="50"),
            advice("M4", rows["MS", MICROSOFT]["obligation_id"], SETTLED, quantity="20"),
        ],
        actor="test",
    )
    assert (summary.applied, summary.settled, summary.quarantined) == (4, 4, 0)
    assert postings_of(desk, "settlement:M1") == {
        f"firm/depository/{APPLE}": 60,
        f"firm/settlement/pending/{APPLE}": -60,
        "firm/nostro/USD": -58_000,
        "firm/settlement/pending/USD": 58_000,
    }
    assert postings_of(desk, "settlement:M3") == {  # a delivery against payment
        f"firm/depository/{MICROSOFT}": -50,
        f"firm/settlement/pending/{MICROSOFT}": 50,
        "firm/nostro/USD": 100_000,
        "firm/settlement/pending/USD": -100_000,
    }
    balances = balance_of(desk)
    for asset in (APPLE, MICROSOFT, "USD"):
        assert balances[f"firm/settlement/pending/{asset}"] == 0
    assert balances[f"firm/depository/{APPLE}"] == 90  # +100 -40 +30
    assert balances[f"firm/depository/{MICROSOFT}"] == -30  # -50 +20
    assert balances["firm/nostro/USD"] == -30_600  # -580 -306 +1000 -420
    assert {row["status"] for row in obligations(desk).values()} == {"settled"}
    with desk.read() as connection:
        statuses: dict[str, str] = dict(
            connection.exec_driver_sql("SELECT trade_id, status FROM trades").all()
        )
    assert statuses == dict.fromkeys(["E1", "E2", "E3", "E4", "E5"], "settled")
    assert fails(desk, dt.date(2026, 1, 30)) == []
    assert_books_hold(desk)


def test_a_partial_settlement_moves_its_share_of_the_cash_rounded_half_up_and_the_last_the_rest(
    desk: Store, tmp_path: Path
) -> None:
    # 100 at 12.3457: the firm pays 1,234.57 for 100 shares.
    import_trades(desk, tmp_path, trade("E1", quantity="100", price="12.3457"))
    (row,) = net(desk).obligations
    reference = row["obligation_id"]
    instruct(desk, SETTLES, actor="test")

    def settle(message_id: str, status: StatusKind, quantity: str) -> dict[str, int]:
        summary = apply_statuses(
            desk, [advice(message_id, reference, status, quantity=quantity)], actor="test"
        )
        assert (summary.applied, summary.quarantined) == (1, 0)
        return postings_of(desk, f"settlement:{message_id}")

    # 40 of 100: 123,457 x 40 / 100 = 49,382.8 cents -> 49,383.
    assert settle("P1", PARTIAL, "40")["firm/nostro/USD"] == -49_383
    stored = obligations(desk)[reference]
    assert (stored["status"], stored["settled_quantity_minor"], stored["settled_cash_minor"]) == (
        "partially_settled",
        40,
        -49_383,
    )
    # 50 of 100: 61,728.5 cents, half up -> 61,729 (half to even would give 61,728).
    assert settle("P2", PARTIAL, "50")["firm/nostro/USD"] == -61_729
    # The last 10 take the rest: 123,457 - 49,383 - 61,729 = 12,345 (pro rata: 12,345.7).
    last = settle("P3", SETTLED, "10")
    assert last == {
        f"firm/depository/{APPLE}": 10,
        f"firm/settlement/pending/{APPLE}": -10,
        "firm/nostro/USD": -12_345,
        "firm/settlement/pending/USD": 12_345,
    }
    stored = obligations(desk)[reference]
    assert (stored["status"], stored["settled_quantity_minor"], stored["settled_cash_minor"]) == (
        "settled",
        100,
        -123_457,
    )
    balances = balance_of(desk)
    assert balances[f"firm/settlement/pending/{APPLE}"] == 0
    assert balances["firm/settlement/pending/USD"] == 0
    assert balances["firm/nostro/USD"] == -123_457
    assert_books_hold(desk)


def test_replaying_a_confirmation_with_the_same_message_id_changes_nothing(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"))
    (row,) = net(desk).obligations
    instruct(desk, SETTLES, actor="test")
    confirmation = advice("P1", row["obligation_id"], PARTIAL, quantity="40")
    apply_statuses(desk, [confirmation], actor="test")
    before = (balance_of(desk), entry_keys(desk), obligations(desk))
    summary = apply_statuses(desk, [confirmation, confirmation], actor="test")
    assert (summary.received, summary.existing, summary.applied, summary.quarantined) == (
        2,
        2,
        0,
        0,
    )
    assert (balance_of(desk), entry_keys(desk), obligations(desk)) == before
    assert settlement_quarantine(desk) == []


def test_a_status_for_a_reference_that_is_not_ours_is_quarantined_with_the_reason(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"))
    net(desk)
    instruct(desk, SETTLES, actor="test")
    summary = apply_statuses(
        desk, [advice("M1", "OBNOTOURS0000000", SETTLED, quantity="100")], actor="test"
    )
    assert (summary.applied, summary.quarantined) == (0, 1)
    assert [p.code for p in summary.problems] == ["unknown_instruction"]
    (item,) = settlement_quarantine(desk)
    (problem,) = orjson.loads(item["problems_json"])
    assert problem["code"] == "unknown_instruction"
    assert "OBNOTOURS0000000" in problem["reason"]
    assert (item["file"], item["line"], item["raw"]) == (
        "statuses.fin",
        1,
        "M1 OBNOTOURS0000000 settled",
    )
    assert [k for k in entry_keys(desk) if k.startswith("settlement:")] == []


def test_a_confirmation_settling_more_than_is_due_is_quarantined_and_books_nothing(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"))
    (row,) = net(desk).obligations
    reference = row["obligation_id"]
    instruct(desk, SETTLES, actor="test")
    too_much = apply_statuses(desk, [advice("M1", reference, SETTLED, quantity="101")], actor="t")
    assert [p.code for p in too_much.problems] == ["settles_more_than_due"]
    apply_statuses(desk, [advice("M2", reference, PARTIAL, quantity="40")], actor="test")
    still_too_much = apply_statuses(
        desk, [advice("M3", reference, SETTLED, quantity="61")], actor="test"
    )
    assert [p.code for p in still_too_much.problems] == ["settles_more_than_due"]
    assert len(settlement_quarantine(desk)) == 2
    assert [k for k in entry_keys(desk) if k.startswith("settlement:")] == ["settlement:M2"]
    assert obligations(desk)[reference]["settled_quantity_minor"] == 40
    # A message that names a settled obligation is quarantined too, not applied again.
    apply_statuses(desk, [advice("M4", reference, SETTLED, quantity="60")], actor="test")
    late = apply_statuses(desk, [advice("M5", reference, StatusKind.FAILED)], actor="test")
    assert [p.code for p in late.problems] == ["obligation_closed"]
    assert obligations(desk)[reference]["status"] == "settled"
    assert_books_hold(desk)


# --- Fails ------------------------------------------------------------------------------------


def settlement_days_after(market: str, start: dt.date, end: dt.date) -> int:
    return sum(
        calendars.is_settlement_day(market, start + dt.timedelta(days=n))
        for n in range(1, (end - start).days + 1)
    )


def test_unsettled_obligations_are_fails_aged_in_settlement_days_of_their_market(
    desk: Store, tmp_path: Path
) -> None:
    # Traded Tuesday 2026-11-24, due Wednesday 2026-11-25 (T+1 on XNYS).
    due = dt.date(2026, 11, 25)
    import_trades(
        desk,
        tmp_path,
        trade("E1", trade_date="2026-11-24", quantity="100", price="10.00"),
        trade("E2", trade_date="2026-11-24", isin=MICROSOFT, side="SELL", quantity="50"),
        trade("E3", trade_date="2026-11-24", counterparty="MS", quantity="5"),
    )
    net_obligations(desk, due, BILATERAL, actor="test")
    instruct(desk, due, actor="test")
    rows = by_counterparty_and_isin(obligations(desk))
    apple, microsoft = rows["GS", APPLE]["obligation_id"], rows["GS", MICROSOFT]["obligation_id"]
    apply_statuses(
        desk,
        [
            advice("M1", apple, StatusKind.FAILED, reason_code="LACK", reason="no securities"),
            advice("M2", microsoft, PARTIAL, quantity="20", settled_on=due),
            advice("M3", rows["MS", APPLE]["obligation_id"], SETTLED, settled_on=due),
        ],
        actor="test",
    )
    assert fails(desk, due) == []  # not a fail on its own date
    # Thursday 2026-11-26 is Thanksgiving: Friday 27 and Monday 30 are the two settlement days.
    as_of = dt.date(2026, 11, 30)
    assert settlement_days_after("XNYS", due, as_of) == 2
    found = {row["obligation_id"]: row for row in fails(desk, as_of)}
    assert set(found) == {apple, microsoft}  # the settled one is no fail
    assert found[apple] == {
        "obligation_id": apple,
        "counterparty": "GS",
        "isin": APPLE,
        "market": "XNYS",
        "settlement_date": "2026-11-25",
        "age_days": 2,
        "bucket": "1-3",
        "direction": "receive",
        "close_out_candidate": False,  # a fail to receive is not the firm's to close out
        "status": "failed",
        "reason": "LACK no securities",
        "quantity_due": "100",
        "cash_due": "-1000.00",
        "currency": "USD",
    }
    # 50 to deliver for 500.00, 20 delivered for 200.00: 30 and 300.00 still due.
    assert (found[microsoft]["direction"], found[microsoft]["status"]) == (
        "deliver",
        "partially_settled",
    )
    assert (found[microsoft]["quantity_due"], found[microsoft]["cash_due"]) == (
        "-30",
        "300.00",
    )  # the firm delivers: negative, as everywhere
    assert found[microsoft]["close_out_candidate"] is False  # a long sale: 3 settlement days
    later = dt.date(2026, 12, 8)
    age = settlement_days_after("XNYS", due, later)
    assert age == 8  # Nov 27, 30, Dec 1, 2, 3, 4, 7, 8
    aged = {row["obligation_id"]: row for row in fails(desk, later)}
    assert (aged[apple]["age_days"], aged[apple]["bucket"]) == (8, "8-15")
    assert (aged[apple]["close_out_candidate"], aged[microsoft]["close_out_candidate"]) == (
        False,
        True,
    )


# --- Penalties --------------------------------------------------------------------------------


def write_prices(path: Path, *rows: str) -> Path:
    path.write_text("isin,date,price,currency\n" + "".join(row + "\n" for row in rows))
    return path


def failing_on_xpar(store: Store, tmp_path: Path) -> tuple[str, str]:
    """A delivery of 333 TotalEnergies due Wed 2026-03-04 and a receipt of 200 due Thu 03-05,
    both with GS, instructed and never settled: (delivery id, receipt id)."""
    import_trades(
        store,
        tmp_path,
        trade("S1", isin=TOTAL, currency="EUR", venue="XPAR", trade_date="2026-03-02",
              account="C2", side="SELL", quantity="333", price="50.00"),
        trade("B1", isin=TOTAL, currency="EUR", venue="XPAR", trade_date="2026-03-03",
              account="C1", quantity="200", price="50.00"),
    )  # fmt: skip
    ids = []
    for due in (dt.date(2026, 3, 4), dt.date(2026, 3, 5)):
        (row,) = net_obligations(store, due, BILATERAL, actor="test").obligations
        assert row["status"] == "open"
        instruct(store, due, actor="test")
        ids.append(row["obligation_id"])
    return ids[0], ids[1]


def test_fails_on_xpar_pay_one_basis_point_of_the_reference_value_a_day_by_the_failing_side(
    desk: Store, tmp_path: Path
) -> None:
    delivery, receipt = failing_on_xpar(desk, tmp_path)
    prices = read_prices(
        write_prices(
            tmp_path / "prices.csv",
            f"{TOTAL},2026-03-04,50.00,EUR",
            f"{TOTAL},2026-03-06,52.10,EUR",
        )
    )
    report = month_penalties(desk, dt.date(2026, 3, 1), prices, today=dt.date(2026, 3, 10))
    assert report.problems == ()
    lines = {line.reference: line for line in report.lines}
    # The firm fails to deliver 333 (lack of securities: the firm pays), business days
    # Wed 4 to Tue 10 March:
    #   4, 5 March at 50.00: 333 x 50.00 = 16,650.00 x 1 bp = 1.665 -> 1.67 a day
    #   6, 9, 10 March at 52.10 (the latest price): 17,349.30 x 1 bp = 1.73493 -> 1.73 a day
    #   2 x 1.67 + 3 x 1.73 = 8.53
    late = lines[delivery]
    assert (late.cause, late.failing_party) == (FailCause.LACK_OF_SECURITIES, FailingParty.FIRM)
    assert [(day.day.day, day.amount_minor) for day in late.daily] == [
        (4, 167), (5, 167), (6, 173), (9, 173), (10, 173),
    ]  # fmt: skip
    assert (late.days, late.amount_minor, late.firm_amount_minor) == (5, 853, -853)
    # GS fails to deliver 200 to the firm (the counterparty pays the firm), 5 to 10 March:
    #   5 March: 200 x 50.00 = 10,000.00 x 1 bp = 1.00; then 10,420.00 x 1 bp = 1.042 -> 1.04
    #   1.00 + 3 x 1.04 = 4.12
    owed = lines[receipt]
    assert (owed.cause, owed.failing_party) == (
        FailCause.LACK_OF_SECURITIES,
        FailingParty.COUNTERPARTY,
    )
    assert (owed.days, owed.amount_minor, owed.firm_amount_minor) == (4, 412, 412)
    assert (owed.counterparty, owed.currency, owed.isin) == ("GS", "EUR", TOTAL)


def test_a_fail_settled_late_is_charged_up_to_the_day_before_it_settled(
    desk: Store, tmp_path: Path
) -> None:
    delivery, _ = failing_on_xpar(desk, tmp_path)
    apply_statuses(
        desk, [advice("M1", delivery, SETTLED, settled_on=dt.date(2026, 3, 9))], actor="test"
    )
    prices = read_prices(write_prices(tmp_path / "prices.csv", f"{TOTAL},2026-03-02,50.00,EUR"))
    report = month_penalties(desk, dt.date(2026, 3, 1), prices, today=dt.date(2026, 3, 31))
    lines = {line.reference: line for line in report.lines}
    # 4, 5 and 6 March at 1.67; settled on Monday 9 March, which is not charged.
    assert (lines[delivery].days, lines[delivery].amount_minor) == (3, 501)


def test_a_fail_for_lack_of_cash_is_the_paying_sides_fail(desk: Store, tmp_path: Path) -> None:
    _, receipt = failing_on_xpar(desk, tmp_path)
    apply_statuses(desk, [advice("M1", receipt, StatusKind.FAILED, reason_code="MONY")], actor="t")
    prices = read_prices(write_prices(tmp_path / "prices.csv", f"{TOTAL},2026-03-02,50.00,EUR"))
    report = month_penalties(desk, dt.date(2026, 3, 1), prices, today=dt.date(2026, 3, 10))
    # The firm receives the shares and pays the cash: lacking cash, the firm is the failing side.
    lines = {line.reference: line for line in report.lines}
    assert receipt in lines, report.problems
    assert (lines[receipt].cause, lines[receipt].failing_party) == (
        FailCause.LACK_OF_CASH,
        FailingParty.FIRM,
    )


def audit_commands(store: Store) -> list[str]:
    with store.read() as connection:
        rows = connection.execute(
            sa.select(schema.audit_log.c.command).order_by(schema.audit_log.c.id)
        )
        return [row.command for row in rows]


def test_every_applied_status_message_leaves_one_audit_record_and_a_settlement_holds_its_posting(
    desk: Store, tmp_path: Path
) -> None:
    import_trades(desk, tmp_path, trade("E1", quantity="100"))
    (row,) = net(desk).obligations
    reference = row["obligation_id"]
    instruct(desk, SETTLES, actor="test")
    before = len(audit_commands(desk))
    matched = advice("M1", reference, StatusKind.MATCHED)
    settled = advice("M2", reference, SETTLED)  # no quantity: all of it
    apply_statuses(desk, [matched, settled], actor="test")
    assert audit_commands(desk)[before:] == ["settlement.status", "settlement.status"]
    apply_statuses(desk, [matched], actor="test")  # known already: nothing written, no record
    assert len(audit_commands(desk)) == before + 2


def test_a_month_without_fails_is_an_empty_penalty_report_not_a_crash(
    desk: Store, tmp_path: Path
) -> None:
    # Found by a hostile run: no fail means no market to take business days from.
    prices = read_prices(write_prices(tmp_path / "prices.csv", ""))
    report = month_penalties(desk, dt.date(2026, 3, 1), prices, today=dt.date(2026, 3, 31))
    assert (report.lines, report.problems) == ((), ())
