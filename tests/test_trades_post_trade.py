"""After capture, on the store: blocks allocated at their average price, confirmations,
affirmations and what is still not affirmed (backoffice.trades: allocation_service,
confirmation_service and affirmation_service)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice.formats.affirmations import read_affirmations
from backoffice.formats.allocations import read_allocations
from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import Store
from backoffice.trades.affirmation_service import affirm
from backoffice.trades.allocation_service import PostTradeSummary, allocate
from backoffice.trades.confirmation_service import confirm
from backoffice.trades.queries import list_allocations, list_trades, unaffirmed
from backoffice.trades.service import quarantined
from backoffice.trades.verify import verify_trades
from tests.trading import (
    APPLE,
    allocation_instruction,
    allocation_key,
    balance_of,
    confirmation_ack,
    day,
    entry_keys,
    execution,
    import_log,
    load_desk,
    postings_of,
    reversal_key,
    snapshot,
    trade_key,
    write_log,
)

TRADE_DATE = day("2026-01-15")
BLOCK = ("B1", "B2", "B3")
EVEN_SPLIT = (("C1", "100"), ("C2", "100"), ("C3", "100"))
CSV_HEADER = "alloc_id,trade_id,account,quantity,action\n"


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    """The desk with a block for IM: 100 shares each at 10.01, 10.02 and 10.04 (gross
    1001.00 + 1002.00 + 1004.00 = 3007.00, average 10.0233333...), and a direct trade E1."""
    load_desk(store, tmp_path)
    log = write_log(
        tmp_path / "executions.log",
        [
            execution("B1", account="IM", price="10.01"),
            execution("B2", account="IM", price="10.02"),
            execution("B3", account="IM", price="10.04"),
            execution("E1", account="C1", quantity="100", price="10.00"),
        ],
    )
    summary = import_log(store, log)
    assert (summary.captured, summary.blocks) == (4, 3)
    return store


def allocation_csv(tmp_path: Path, rows: str, name: str = "allocations.csv") -> Path:
    path = tmp_path / name
    path.write_text(CSV_HEADER + rows)
    return path


def even_split_csv(tmp_path: Path, alloc_id: str = "A1") -> Path:
    trade_ids = ";".join(BLOCK)
    return allocation_csv(
        tmp_path,
        "".join(
            f"{alloc_id},{trade_ids},{account},{quantity},new\n" for account, quantity in EVEN_SPLIT
        ),
        name=f"{alloc_id}.csv",
    )


def allocate_file(store: Store, path: Path) -> PostTradeSummary:
    return allocate(store, read_allocations(path), actor="test")


def statuses(store: Store) -> dict[str, str]:
    return {trade["trade_id"]: trade["status"] for trade in list_trades(store)}


def assert_books_hold(store: Store) -> None:
    assert verify_ledger(store) == []
    assert verify_trades(store) == []


# The even split of the block: 300,700 cents / 3 = 100,233.33...; the one cent left over goes to
# the first line (ties go to the earlier line). Commission per client: C1 0.01 a share = 1.00,
# so its 5.00 minimum; C2 10 bp of 1,002.33 = 1.00233 -> 1.00 (its minimum too); C3 none.
EVEN_FIGURES = {
    "A1/1": ("C1", "100", "10.023333", "1002.34", "5.00", "1007.34"),
    "A1/2": ("C2", "100", "10.023333", "1002.33", "1.00", "1003.33"),
    "A1/3": ("C3", "100", "10.023333", "1002.33", "0.00", "1002.33"),
}


def block_allocations(store: Store) -> dict[str, tuple[str, ...]]:
    return {
        a["allocation_id"]: (
            a["client"], a["quantity"], a["price"], a["gross_amount"], a["commission"],
            a["net_amount"],
        )
        for a in list_allocations(store)
        if a["alloc_id"] is not None and a["status"] != "cancelled"
    }  # fmt: skip


# --- Blocks and allocation --------------------------------------------------------------------


def test_block_executions_are_captured_but_not_booked_until_allocated(desk: Store) -> None:
    assert entry_keys(desk) == [trade_key("E1")]
    assert statuses(desk) == {
        "B1": "pending_allocation",
        "B2": "pending_allocation",
        "B3": "pending_allocation",
        "E1": "booked",
    }
    block = {t["trade_id"]: t for t in list_trades(desk)}["B1"]
    assert (block["gross_amount"], block["commission"], block["fees"]) == (
        "1001.00",
        "0.00",
        "0.00",
    )
    assert_books_hold(desk)


def test_a_csv_allocation_splits_the_block_at_its_average_price_summing_exactly_to_it(
    desk: Store, tmp_path: Path
) -> None:
    summary = allocate_file(desk, even_split_csv(tmp_path))
    assert (summary.done, summary.quarantined) == (1, 0)
    assert block_allocations(desk) == EVEN_FIGURES
    assert sum(int(a[3].replace(".", "")) for a in EVEN_FIGURES.values()) == 300_700
    assert postings_of(desk, allocation_key("A1/1")) == {
        f"client/C1/securities/{APPLE}": -100,
        f"firm/settlement/pending/{APPLE}": 100,
        "client/C1/cash/USD": 100_734,
        "firm/settlement/pending/USD": -100_234,
        "firm/income/commission/USD": -500,
    }
    # The street side of the block books exactly the executions' gross, 3,007.00.
    street = sum(
        postings_of(desk, allocation_key(f"A1/{n}"))["firm/settlement/pending/USD"]
        for n in (1, 2, 3)
    )
    assert street == -300_700
    assert statuses(desk) == {
        "B1": "allocated",
        "B2": "allocated",
        "B3": "allocated",
        "E1": "booked",
    }
    assert {t["alloc_id"] for t in list_trades(desk) if t["block"]} == {"A1"}
    assert_books_hold(desk)


def test_allocating_the_same_instruction_twice_changes_nothing(desk: Store, tmp_path: Path) -> None:
    path = even_split_csv(tmp_path)
    allocate_file(desk, path)
    before = snapshot(desk)
    again = allocate_file(desk, path)
    assert (again.done, again.existing, again.quarantined) == (0, 1, 0)
    assert snapshot(desk) == before


def test_a_fix_allocation_instruction_splits_the_block_the_same_way(
    desk: Store, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "alloc.log", [allocation_instruction("A1", BLOCK, EVEN_SPLIT)])
    summary = allocate_file(desk, log)
    assert (summary.done, summary.quarantined) == (1, 0)
    assert block_allocations(desk) == EVEN_FIGURES
    assert_books_hold(desk)


def test_an_allocation_cancel_reverses_every_allocation_and_the_block_can_be_allocated_again(
    desk: Store, tmp_path: Path
) -> None:
    allocate_file(
        desk, write_log(tmp_path / "a1.log", [allocation_instruction("A1", BLOCK, EVEN_SPLIT)])
    )
    cancel = write_log(
        tmp_path / "cancel.log", [allocation_instruction("A1", BLOCK, EVEN_SPLIT, cancel=True)]
    )
    summary = allocate_file(desk, cancel)
    assert summary.done == 1
    for n in (1, 2, 3):
        assert postings_of(desk, reversal_key(allocation_key(f"A1/{n}"))) == {
            account: -amount
            for account, amount in postings_of(desk, allocation_key(f"A1/{n}")).items()
        }
    assert set(balance_of(desk)) >= {"client/C3/cash/USD"}
    assert balance_of(desk)["client/C3/cash/USD"] == 0
    assert {a["status"] for a in list_allocations(desk) if a["alloc_id"] == "A1"} == {"cancelled"}
    assert {statuses(desk)[b] for b in BLOCK} == {"pending_allocation"}
    assert_books_hold(desk)
    # Cancelling again changes nothing; a new AllocID allocates the block anew.
    assert allocate_file(desk, cancel).existing == 1
    uneven = (("C1", "200"), ("C2", "100"))
    again = allocate_file(
        desk, write_log(tmp_path / "a2.log", [allocation_instruction("A2", BLOCK, uneven)])
    )
    assert again.done == 1
    # 300,700 x 2/3 = 200,466.67 and x 1/3 = 100,233.33: the cent goes to the larger remainder.
    assert {k: v[3] for k, v in block_allocations(desk).items()} == {
        "A2/1": "2004.67",
        "A2/2": "1002.33",
    }
    assert {statuses(desk)[b] for b in BLOCK} == {"allocated"}
    assert_books_hold(desk)


def test_a_cancelled_alloc_id_sent_again_is_not_taken_for_applied(
    desk: Store, tmp_path: Path
) -> None:
    path = even_split_csv(tmp_path)
    allocate_file(desk, path)
    allocate_file(desk, allocation_csv(tmp_path, "A1,,,,cancel\n", name="cancel.csv"))
    summary = allocate_file(desk, path)
    # Either it allocates the block again or it is refused; not "already applied".
    assert summary.existing == 0
    assert summary.done == 1 or summary.quarantined == 1


def test_allocations_that_do_not_add_up_or_that_the_ledger_refuses_are_quarantined_whole(
    desk: Store, tmp_path: Path
) -> None:
    trade_ids = ";".join(BLOCK)
    path = allocation_csv(
        tmp_path,
        f"A1,{trade_ids},C1,100,new\n"
        f"A1,{trade_ids},C2,100,new\n"
        f"A1,{trade_ids},C3,50,new\n"  # 250 of a block of 300
        f"A2,{trade_ids},C1,200,new\n"
        f"A2,{trade_ids},POOR,100,new\n",  # POOR has no funds: the ledger refuses its buy
    )
    before = snapshot(desk)
    summary = allocate_file(desk, path)
    assert (summary.done, summary.quarantined) == (0, 2)
    items = quarantined(desk)
    assert [(item.kind, item.file, item.line) for item in items] == [
        ("trades.allocate", str(path), 2),
        ("trades.allocate", str(path), 5),
    ]
    assert [[p["code"] for p in item.problems] for item in items] == [
        ["quantities_do_not_add_up"],
        ["debits_exceed_credits"],
    ]
    assert "250" in items[0].problems[0]["reason"]
    assert "300" in items[0].problems[0]["reason"]
    assert f"A1,{trade_ids},C3,50,new" in items[0].raw
    assert snapshot(desk) == before  # nothing partial: not even C1's line of A2
    assert_books_hold(desk)


def test_a_cancel_of_an_allocated_block_execution_is_quarantined_until_the_allocation_is_cancelled(
    desk: Store, tmp_path: Path
) -> None:
    allocate_file(desk, even_split_csv(tmp_path))
    cancel = write_log(
        tmp_path / "cancel.log", [execution("X1", exec_type="H", ref="B1", account="IM")]
    )
    summary = import_log(desk, cancel)
    assert (summary.cancelled, summary.quarantined) == (0, 1)
    assert [[p["code"] for p in item.problems] for item in quarantined(desk)] == [
        ["block_allocated"]
    ]
    assert statuses(desk)["B1"] == "allocated"
    # Once the allocation is cancelled, the same message goes through.
    allocate_file(desk, allocation_csv(tmp_path, "A1,,,,cancel\n", name="cancel.csv"))
    assert import_log(desk, cancel).cancelled == 1
    assert statuses(desk)["B1"] == "cancelled"
    # What is left of the block (B2, B3) can be allocated: 200 shares, 2,006.00.
    rest = allocation_csv(tmp_path, "A2,B2;B3,C1,200,new\n", name="a2.csv")
    assert allocate_file(desk, rest).done == 1
    assert block_allocations(desk)["A2/1"][3] == "2006.00"
    assert_books_hold(desk)


def test_a_block_sale_charges_fees_per_allocation(store: Store, tmp_path: Path) -> None:
    load_desk(store, tmp_path)
    log = write_log(
        tmp_path / "e.log",
        [
            execution(
                "S1",
                account="IM",
                side="SELL",
                quantity="1500",
                price="45.67",
                trade_date="2024-06-03",
            ),
            execution(
                "S2",
                account="IM",
                side="SELL",
                quantity="1500",
                price="45.67",
                trade_date="2024-06-03",
            ),
        ],
    )
    import_log(store, log)
    instruction = allocation_instruction(
        "A1", ("S1", "S2"), (("C1", "2000"), ("C3", "1000")), side="SELL", trade_date="2024-06-03"
    )
    assert allocate_file(store, write_log(tmp_path / "a.log", [instruction])).done == 1
    # Block gross 3000 x 45.67 = 137,010.00, split 91,340.00 / 45,670.00.
    # C1: commission 2000 x 0.01 = 20.00; SEC fee 91,340.00 x 27.80 / 1e6 = 2.539252 -> 2.54;
    #     TAF 2000 x 0.000166 = 0.332 -> 0.34; net 91,340.00 - 20.00 - 2.88 = 91,317.12.
    # C3: no commission; SEC fee 45,670.00 x 27.80 / 1e6 = 1.269626 -> 1.27;
    #     TAF 1000 x 0.000166 = 0.166 -> 0.17; net 45,670.00 - 1.44 = 45,668.56.
    figures = {
        a["allocation_id"]: (a["gross_amount"], a["commission"], a["fees"], a["net_amount"])
        for a in list_allocations(store)
    }
    assert figures == {
        "A1/1": ("91340.00", "20.00", "2.88", "91317.12"),
        "A1/2": ("45670.00", "0.00", "1.44", "45668.56"),
    }
    assert postings_of(store, allocation_key("A1/1"))["firm/income/sec-fee/USD"] == -254
    assert postings_of(store, allocation_key("A1/2"))["firm/income/finra-taf/USD"] == -17
    assert_books_hold(store)


def test_a_block_cannot_be_allocated_to_the_block_account_itself(
    desk: Store, tmp_path: Path
) -> None:
    path = allocation_csv(tmp_path, f"A1,{';'.join(BLOCK)},IM,300,new\n")
    assert allocate_file(desk, path).quarantined == 1


def test_an_allocation_whose_gross_was_changed_in_the_database_no_longer_ties_out(
    desk: Store, tmp_path: Path
) -> None:
    allocate_file(desk, even_split_csv(tmp_path))
    with desk.write() as connection:
        connection.execute(
            sa.text(
                "UPDATE allocations SET gross_minor = gross_minor - 1 WHERE allocation_id = 'A1/1'"
            )
        )
    codes = {p.code for p in verify_trades(desk)}
    assert {"booking_differs", "allocation_does_not_add_up"} <= codes


# --- Confirmation and affirmation -------------------------------------------------------------


def test_confirming_a_day_confirms_each_allocation_once_and_keeps_its_id(
    desk: Store, tmp_path: Path
) -> None:
    allocate_file(desk, even_split_csv(tmp_path))
    first = confirm(desk, TRADE_DATE, actor="test")
    assert sorted(d.allocation_id for d in first) == ["A1/1", "A1/2", "A1/3", "E1"]
    assert len({d.confirm_id for d in first}) == 4
    direct = next(d for d in first if d.allocation_id == "E1")
    assert (direct.venue, direct.counterparty, direct.net_amount) == ("XNYS", "GS", "1005.00")
    assert not direct.is_block_allocation
    block = next(d for d in first if d.allocation_id == "A1/1")
    assert (block.price, block.gross_amount, block.net_amount) == (
        "10.023333",
        "1002.34",
        "1007.34",
    )
    assert block.is_block_allocation
    assert statuses(desk)["E1"] == "confirmed"
    # Again, and after a new trade: the old ids stay, the new trade gets its own.
    ids = {d.allocation_id: d.confirm_id for d in first}
    import_log(desk, write_log(tmp_path / "late.log", [execution("E2", account="C3")]))
    second = confirm(desk, TRADE_DATE, actor="test")
    assert {d.allocation_id: d.confirm_id for d in second if d.allocation_id != "E2"} == ids
    assert next(d for d in second if d.allocation_id == "E2").confirm_id not in ids.values()
    assert confirm(desk, day("2026-01-16"), actor="test") == []
    assert_books_hold(desk)


def confirm_ids(store: Store) -> dict[str, str]:
    return {d.allocation_id: d.confirm_id for d in confirm(store, TRADE_DATE, actor="test")}


def test_affirmations_from_a_csv_and_a_fix_log_set_the_statuses(
    desk: Store, tmp_path: Path
) -> None:
    allocate_file(desk, even_split_csv(tmp_path))
    ids = confirm_ids(desk)
    csv = tmp_path / "affirmations.csv"
    csv.write_text(
        "confirm_id,status,reason\n"
        f"{ids['E1']},affirmed,\n"
        f"{ids['A1/1']},rejected,wrong account\n"
        "CNF-NOPE,affirmed,\n"
    )
    summary = affirm(desk, read_affirmations(csv), actor="test")
    assert (summary.done, summary.quarantined) == (2, 1)
    log = write_log(
        tmp_path / "acks.log",
        [confirmation_ack(ids["A1/2"], "3"), confirmation_ack(ids["A1/3"], "1")],
    )
    assert affirm(desk, read_affirmations(log), actor="test").done == 2
    by_id = {a["allocation_id"]: a for a in list_allocations(desk)}
    assert {k: (v["status"], v["affirmation_status"]) for k, v in by_id.items()} == {
        "E1": ("affirmed", "affirmed"),
        "A1/1": ("rejected", "rejected"),
        "A1/2": ("affirmed", "affirmed"),
        "A1/3": ("confirmed", "received"),
    }
    assert statuses(desk)["E1"] == "affirmed"
    (item,) = quarantined(desk)
    assert (item.kind, item.file, item.line) == ("trades.affirm", str(csv), 4)
    assert [p["code"] for p in item.problems] == ["unknown_confirmation"]
    # The same answers again change nothing.
    assert affirm(desk, read_affirmations(log), actor="test").existing == 2
    assert_books_hold(desk)


def test_unaffirmed_lists_exactly_what_is_not_affirmed_including_unallocated_blocks(
    desk: Store, tmp_path: Path
) -> None:
    import_log(
        desk,
        write_log(
            tmp_path / "more.log",
            [
                execution("E2", account="C2"),
                execution("E3", account="C3"),
                execution("E9", account="C3", trade_date="2026-01-16"),  # another day
            ],
        ),
    )
    ids = confirm_ids(desk)  # E1, E2 and E3 confirmed; the block is not allocated
    import_log(desk, write_log(tmp_path / "late.log", [execution("E4", account="C1")]))  # booked
    csv = tmp_path / "affirmations.csv"
    csv.write_text(f"confirm_id,status,reason\n{ids['E1']},affirmed,\n{ids['E2']},rejected,no\n")
    affirm(desk, read_affirmations(csv), actor="test")
    open_items = unaffirmed(desk, TRADE_DATE)
    assert [(row["kind"], row["id"], row["status"]) for row in open_items] == [
        ("allocation", "E2", "rejected"),
        ("allocation", "E3", "confirmed"),
        ("allocation", "E4", "booked"),
        ("block", "B1", "pending_allocation"),
        ("block", "B2", "pending_allocation"),
        ("block", "B3", "pending_allocation"),
    ]
    assert open_items[0]["reason"] == "no"
    assert open_items[3]["reason"] == "not allocated"
    # Allocated and affirmed, the block leaves the list.
    allocate_file(desk, even_split_csv(tmp_path))
    ids = confirm_ids(desk)
    acks = [confirmation_ack(ids[f"A1/{n}"], "3") for n in (1, 2, 3)]
    affirm(desk, read_affirmations(write_log(tmp_path / "acks.log", acks)), actor="test")
    assert [row["id"] for row in unaffirmed(desk, TRADE_DATE)] == ["E2", "E3", "E4"]


def test_a_cancelled_trade_leaves_the_unaffirmed_list_and_cannot_be_affirmed(
    desk: Store, tmp_path: Path
) -> None:
    ids = confirm_ids(desk)
    import_log(desk, write_log(tmp_path / "x.log", [execution("X1", exec_type="H", ref="E1")]))
    assert "E1" not in [row["id"] for row in unaffirmed(desk, TRADE_DATE)]
    assert ids["E1"] not in {d.confirm_id for d in confirm(desk, TRADE_DATE, actor="test")}
    log = write_log(tmp_path / "acks.log", [confirmation_ack(ids["E1"], "3")])
    summary = affirm(desk, read_affirmations(log), actor="test")
    assert summary.quarantined == 1
    assert [p["code"] for p in quarantined(desk)[0].problems] == ["confirmation_cancelled"]
    assert statuses(desk)["E1"] == "cancelled"
    assert_books_hold(desk)
