"""Reconciliation through its service, on SQLite and PostgreSQL: statements in, runs, breaks,
their investigation and resolution (manual match, maker-checker correction), and positions.

Statements are built here as values; the file readers have tests of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from backoffice.errors import ProblemError, Source
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries
from backoffice.recon.break_service import manual_match, update_break
from backoffice.recon.correction_service import decide_correction, propose_correction
from backoffice.recon.model import (
    Holding,
    HoldingsStatement,
    MatchingRules,
    Statement,
    StatementFormat,
    StatementLine,
)
from backoffice.recon.position_service import import_holdings, reconcile_positions
from backoffice.recon.queries import list_breaks, list_statements
from backoffice.recon.run_service import run_recon
from backoffice.recon.statement_service import import_statements
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import (
    CLIENT_OPEN,
    FIRM_BANK,
    FIRM_HOUSE,
    ISIN,
    USD,
    entries_by_key,
    reference_data,
    stored_balances,
)

MONDAY = dt.date(2026, 11, 16)
TUESDAY = MONDAY + dt.timedelta(days=1)
WEDNESDAY = MONDAY + dt.timedelta(days=2)
IBAN = "DE89370400440532013000"
SAFEKEEPING = "SAFE-0042"
NOSTRO = FIRM_BANK[USD]
CUSTODY = FIRM_BANK[ISIN]
OTHER_ISIN = "US5949181045"  # Microsoft


@pytest.fixture
def books(store: Store) -> Store:
    """The standard books, the firm's USD bank account kept at IBAN and its securities at the
    custodian's SAFEKEEPING account."""
    refdata = reference_data()
    named = {NOSTRO: IBAN, CUSTODY: SAFEKEEPING}
    refdata.accounts = [
        dataclasses.replace(account, external_account=named.get(account.code))
        for account in refdata.accounts
    ]
    load_refdata(store, refdata, actor="test", source="tests/test_recon_service.py")
    return store


# --- Building statements and books ------------------------------------------------------------


def line(amount: str, value_date: dt.date, *references: str) -> StatementLine:
    return StatementLine(
        amount=amount,
        value_date=value_date,
        booking_date=value_date,
        references=references,
        description=f"line {references[0] if references else ''}",
        source=Source("statement.xml"),
        raw=f"<Ntry><Amt>{amount}</Amt></Ntry>",
    )


def statement(
    statement_id: str,
    opening: str,
    closing: str,
    *lines: StatementLine,
    day: dt.date = MONDAY,
    account: str = IBAN,
    currency: str = USD,
) -> Statement:
    return Statement(
        statement_id=statement_id,
        format=StatementFormat.CAMT053,
        account=account,
        currency=currency,
        opening_balance=opening,
        opening_date=day,
        closing_balance=closing,
        closing_date=day,
        lines=lines,
        source=Source(f"{statement_id}.xml"),
    )


def load(store: Store, *statements: Statement, actor: str = "ops") -> Any:
    return import_statements(store, statements, source_file="statement.xml", actor=actor)


def book(
    store: Store,
    key: str,
    amount: str,
    day: dt.date = MONDAY,
    reference: str | None = None,
    account: str = NOSTRO,
    other: str = CLIENT_OPEN[USD],
) -> None:
    """Money into (positive) or out of the bank account, against a client's cash."""
    negated = amount[1:] if amount.startswith("-") else f"-{amount}"
    request = EntryRequest(
        key=key,
        effective_date=day,
        description=key,
        reference=reference,
        postings=(PostingRequest(account, amount), PostingRequest(other, negated)),
    )
    (result,) = post_entries(store, [request], actor="test").results
    assert result.outcome is EntryOutcome.CREATED, result.problems


def problem_code(error: pytest.ExceptionInfo[ProblemError]) -> str:
    return error.value.problems[0].code


def by_type(result: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in result.breaks:
        found.setdefault(row["type"], []).append(row)
    return found


def break_named(store: Store, break_id: str) -> dict[str, Any]:
    (row,) = [row for row in list_breaks(store, today=WEDNESDAY) if row["break_id"] == break_id]
    return row


def read_rows(store: Store, table: sa.Table) -> list[Any]:
    with store.read() as connection:
        return list(connection.execute(sa.select(table)).all())


def count_rows(store: Store, table: sa.Table) -> int:
    with store.read() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def a_day_with_every_kind_of_break(store: Store) -> Any:
    """Monday's books against Monday's statement: one exact match, and a break of each type."""
    book(store, "receipt-1", "1000.00", reference="E2E-1")
    book(store, "receipt-2", "50.00", reference="E2E-2")  # the bank says 55.00
    book(store, "receipt-3", "20.00", reference="E2E-3")  # the bank has not seen it
    book(store, "receipt-4", "30.00", day=MONDAY, reference="E2E-4")  # the bank: Friday after
    load(
        store,
        statement(
            "STMT-1", "0.00", "2045.00",
            line("1000.00", MONDAY, "E2E-1", "ACSR-1"),
            line("55.00", MONDAY, "E2E-2"),
            line("-5.00", MONDAY, "FEE-NOV"),
            line("1000.00", MONDAY, "E2E-1", "ACSR-1"),
            line("30.00", MONDAY - dt.timedelta(days=4), "E2E-4"),
            line("-35.00", MONDAY, "CHQ-77"),
        ),
    )  # fmt: skip
    return run_recon(store, MONDAY, actor="ops")


# --- Statements in ----------------------------------------------------------------------------


def test_importing_a_statement_twice_is_recognised_and_not_doubled(books: Store) -> None:
    monday = statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"))
    first = load(books, monday)
    again = load(books, monday)
    assert (first.statements, first.lines, first.existing) == (1, 1, 0)
    assert (again.statements, again.lines, again.existing) == (0, 0, 1)
    (listed,) = list_statements(books)
    assert listed["statement_id"] == "STMT-1"
    assert listed["lines"] == [
        {
            "amount": "100.00",
            "value_date": MONDAY.isoformat(),
            "booking_date": MONDAY.isoformat(),
            "reference": "E2E-1",
            "references": ["E2E-1"],
            "description": "line E2E-1",
        }
    ]


def test_the_same_statement_id_with_other_contents_is_refused_and_nothing_stored(
    books: Store,
) -> None:
    load(books, statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1")))
    changed = statement("STMT-1", "0.00", "100.01", line("100.01", MONDAY, "E2E-1"))
    tuesday = statement("STMT-2", "100.00", "100.00", day=TUESDAY)
    with pytest.raises(ProblemError) as refused:
        load(books, tuesday, changed)
    assert problem_code(refused) == "statement_changed"
    assert [row["statement_id"] for row in list_statements(books)] == ["STMT-1"]


@pytest.mark.parametrize(("account", "currency"), [("GB29NWBK60161331926819", USD), (IBAN, "EUR")])
def test_a_statement_no_ledger_account_reconciles_is_refused(
    books: Store, account: str, currency: str
) -> None:
    with pytest.raises(ProblemError) as refused:
        load(books, statement("STMT-1", "0.00", "0.00", account=account, currency=currency))
    assert problem_code(refused) == "unknown_account"
    assert list_statements(books) == []


def test_an_opening_balance_unlike_the_previous_closing_raises_a_balance_break(
    books: Store,
) -> None:
    load(books, statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1")))
    result = load(books, statement("STMT-2", "90.00", "90.00", day=TUESDAY))
    (break_id,) = result.balance_breaks
    found = break_named(books, break_id)
    assert (found["type"], found["amount"], found["status"]) == (
        "balance_difference", "-10.00", "open",
    )  # fmt: skip


def test_a_statement_whose_lines_do_not_lead_from_opening_to_closing_raises_a_balance_break(
    books: Store,
) -> None:
    result = load(books, statement("STMT-1", "0.00", "150.00", line("100.00", MONDAY, "E2E-1")))
    (break_id,) = result.balance_breaks
    assert break_named(books, break_id)["amount"] == "50.00"
    ran = run_recon(books, MONDAY, actor="ops")
    assert [row["break_id"] for row in by_type(ran)["balance_difference"]] == [break_id]


def test_consecutive_statements_that_agree_raise_no_balance_break(books: Store) -> None:
    result = load(
        books,
        statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1")),
        statement("STMT-2", "100.00", "60.00", line("-40.00", TUESDAY, "E2E-2"), day=TUESDAY),
    )
    assert result.balance_breaks == []


# --- The run ----------------------------------------------------------------------------------


def test_a_run_matches_postings_by_their_entry_reference_and_types_what_is_left(
    books: Store,
) -> None:
    result = a_day_with_every_kind_of_break(books)
    assert result.matched == 1
    found = by_type(result)
    assert sorted(found) == [
        "amount_difference", "date_difference", "duplicate", "missing_in_books",
        "missing_in_statement",
    ]  # fmt: skip
    assert [(r["amount"], r["reference"]) for r in found["amount_difference"]] == [
        ("55.00", "E2E-2")
    ]
    assert [(r["amount"], r["reference"]) for r in found["missing_in_statement"]] == [
        ("20.00", "E2E-3")
    ]
    assert sorted((r["amount"], r["reference"]) for r in found["missing_in_books"]) == [
        ("-35.00", "CHQ-77"), ("-5.00", "FEE-NOV"),
    ]  # fmt: skip
    assert [(r["amount"], r["reference"]) for r in found["duplicate"]] == [("1000.00", "E2E-1")]
    assert [r["value_date"] for r in found["date_difference"]] == ["2026-11-12"]
    assert {r["account"] for r in result.breaks} == {NOSTRO}
    assert {row["status"] for row in list_breaks(books)} == {"open"}


def test_a_posting_without_a_reference_matches_by_its_entry_key(books: Store) -> None:
    book(books, "WIRE-20261116-9", "75.00")
    load(books, statement("STMT-1", "0.00", "75.00", line("75.00", MONDAY, "WIRE-20261116-9")))
    result = run_recon(books, MONDAY, actor="ops")
    assert (result.matched, result.breaks) == (1, [])


def test_a_second_run_of_the_same_day_matches_nothing_twice(books: Store) -> None:
    first = a_day_with_every_kind_of_break(books)
    again = run_recon(books, MONDAY, actor="ops")
    assert again.matched == 0
    assert [r["break_id"] for r in again.breaks] == [r["break_id"] for r in first.breaks]
    assert len(list_breaks(books)) == len(first.breaks)


def test_a_break_carried_to_a_later_run_keeps_its_id_and_ages(books: Store) -> None:
    load(books, statement("STMT-1", "0.00", "-5.00", line("-5.00", MONDAY, "FEE-NOV")))
    (monday,) = run_recon(books, MONDAY, actor="ops").breaks
    load(books, statement("STMT-2", "-5.00", "-5.00", day=TUESDAY))
    (tuesday,) = run_recon(books, TUESDAY, actor="ops").breaks
    assert tuesday["break_id"] == monday["break_id"]
    (listed,) = list_breaks(books, today=WEDNESDAY)
    assert (listed["opened_on"], listed["age_days"]) == (MONDAY.isoformat(), 2)


def test_a_later_statement_line_that_matches_a_books_break_clears_it(books: Store) -> None:
    book(books, "receipt-1", "250.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "0.00"))
    (missing,) = run_recon(books, MONDAY, actor="ops").breaks
    assert missing["type"] == "missing_in_statement"
    load(
        books, statement("STMT-2", "0.00", "250.00", line("250.00", TUESDAY, "E2E-1"), day=TUESDAY)
    )
    result = run_recon(books, TUESDAY, actor="ops")
    assert (result.matched, result.closed, result.breaks) == (1, 1, [])
    cleared = break_named(books, missing["break_id"])
    assert cleared["status"] == "resolved"
    assert "cleared" in cleared["resolution"]


def test_a_posting_dated_after_the_last_statement_is_not_yet_a_break(books: Store) -> None:
    book(books, "receipt-1", "250.00", day=TUESDAY, reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "0.00"))
    assert run_recon(books, TUESDAY, actor="ops").breaks == []
    assert list_breaks(books) == []


def test_statements_imported_out_of_order_are_still_checked_against_each_other(
    books: Store,
) -> None:
    monday = statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"))
    tuesday = statement("STMT-2", "90.00", "90.00", day=TUESDAY)
    result = load(books, tuesday, monday)
    assert [break_named(books, b)["amount"] for b in result.balance_breaks] == ["-10.00"]


def test_a_run_for_one_account_without_statements_is_refused(books: Store) -> None:
    with pytest.raises(ProblemError) as refused:
        run_recon(books, MONDAY, actor="ops", account=NOSTRO)
    assert problem_code(refused) == "unknown_account"


def test_a_books_break_later_seen_with_another_amount_is_not_left_open_twice(
    books: Store,
) -> None:
    book(books, "receipt-1", "250.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "0.00"))
    run_recon(books, MONDAY, actor="ops")
    load(
        books, statement("STMT-2", "0.00", "205.00", line("205.00", TUESDAY, "E2E-1"), day=TUESDAY)
    )
    run_recon(books, TUESDAY, actor="ops")
    open_breaks = [row["type"] for row in list_breaks(books) if row["status"] != "resolved"]
    assert open_breaks == ["amount_difference"]


# --- Investigating breaks ---------------------------------------------------------------------


def fee_break(store: Store) -> str:
    """A bank fee the books lack: a missing_in_books break. Its id."""
    book(store, "receipt-0", "100.00", reference="E2E-0")
    load(
        store,
        statement(
            "STMT-1", "0.00", "95.00",
            line("100.00", MONDAY, "E2E-0"), line("-5.00", MONDAY, "FEE-NOV"),
        ),
    )  # fmt: skip
    (found,) = run_recon(store, MONDAY, actor="ops").breaks
    assert found["type"] == "missing_in_books"
    return str(found["break_id"])


def test_owner_status_and_comments_of_a_break_are_kept_in_its_history(books: Store) -> None:
    break_id = fee_break(books)
    update_break(books, break_id, actor="alice", owner="bob")
    update_break(books, break_id, actor="bob", status="investigating", comment="asked the bank")
    found = break_named(books, break_id)
    assert (found["owner"], found["status"]) == ("bob", "investigating")
    assert [(e["kind"], e["actor"], e["text"]) for e in found["history"][1:]] == [
        ("assigned", "alice", "bob"),
        ("status", "bob", "investigating"),
        ("comment", "bob", "asked the bank"),
    ]
    assert found["history"][0]["kind"] == "opened"
    assert [row["break_id"] for row in list_breaks(books, status="investigating")] == [break_id]


def test_a_break_is_not_resolved_by_hand(books: Store) -> None:
    break_id = fee_break(books)
    with pytest.raises(ProblemError) as refused:
        update_break(books, break_id, actor="alice", owner="carol", status="resolved")
    assert problem_code(refused) == "invalid_status"
    assert break_named(books, break_id)["owner"] is None  # nothing of the call was kept


def test_a_resolved_break_refuses_updates(books: Store) -> None:
    break_id = fee_break(books)
    number = propose_correction(
        books, break_id, [(NOSTRO, "-5.00"), (FIRM_HOUSE[USD], "5.00")],
        description="bank fee November", actor="alice",
    )  # fmt: skip
    decide_correction(books, number, approve=True, actor="bob")
    with pytest.raises(ProblemError) as refused:
        update_break(books, break_id, actor="alice", comment="reopen?")
    assert problem_code(refused) == "break_resolved"


def test_a_manual_match_resolves_both_breaks_and_they_stay_matched(books: Store) -> None:
    book(books, "receipt-1", "250.00", reference="OUR-REF-1")
    load(books, statement("STMT-1", "0.00", "250.00", line("250.00", MONDAY, "THEIR-REF-9")))
    found = by_type(run_recon(books, MONDAY, actor="ops"))
    (in_statement,) = found["missing_in_books"]
    (in_books,) = found["missing_in_statement"]
    with pytest.raises(ProblemError) as wrong_way:
        manual_match(books, in_books["break_id"], in_statement["break_id"], actor="alice")
    assert problem_code(wrong_way) == "invalid_match"
    manual_match(books, in_statement["break_id"], in_books["break_id"], actor="alice")
    assert {row["status"] for row in list_breaks(books)} == {"resolved"}
    load(books, statement("STMT-2", "250.00", "250.00", day=TUESDAY))
    assert run_recon(books, TUESDAY, actor="ops").breaks == []
    with pytest.raises(ProblemError) as again:
        manual_match(books, in_statement["break_id"], in_books["break_id"], actor="alice")
    assert problem_code(again) == "break_resolved"


# --- Corrections under maker-checker ----------------------------------------------------------


def propose_fee(store: Store, break_id: str, actor: str = "alice") -> int:
    return propose_correction(
        store, break_id, [(NOSTRO, "-5.00"), (FIRM_HOUSE[USD], "5.00")],
        description="bank fee November", actor=actor,
    )  # fmt: skip


def test_the_proposer_of_a_correction_cannot_approve_it(books: Store) -> None:
    break_id = fee_break(books)
    number = propose_fee(books, break_id)
    before = stored_balances(books)
    with pytest.raises(ProblemError) as refused:
        decide_correction(books, number, approve=True, actor="alice")
    assert problem_code(refused) == "four_eyes"
    assert stored_balances(books) == before
    assert break_named(books, break_id)["status"] == "open"


def test_the_database_refuses_a_correction_approved_by_its_proposer(books: Store) -> None:
    number = propose_fee(books, fee_break(books))
    decisions = schema.correction_decisions
    with pytest.raises(sa.exc.IntegrityError, match="proposer"), books.write() as connection:
        connection.execute(
            sa.insert(decisions).values(
                correction_id=number, decision="approved", decided_by="alice", decided_at_us=1
            )
        )
    assert count_rows(books, decisions) == 0


def test_an_approved_correction_is_a_ledger_entry_linked_to_its_break(books: Store) -> None:
    break_id = fee_break(books)
    number = propose_fee(books, break_id)
    key = decide_correction(books, number, approve=True, actor="bob")
    assert key == f"recon:correction/{number}"
    entry = entries_by_key(books)[key]
    assert (entry["kind"], entry["reference"]) == ("standard", break_id)
    assert sorted(entry["postings"]) == [(NOSTRO, -500), (FIRM_HOUSE[USD], 500)]
    found = break_named(books, break_id)
    assert found["status"] == "resolved"
    assert key in found["resolution"]
    with pytest.raises(ProblemError) as twice:
        decide_correction(books, number, approve=True, actor="carol")
    assert problem_code(twice) == "correction_decided"


def test_an_approved_correction_is_reversed_like_any_ledger_entry(books: Store) -> None:
    number = propose_fee(books, fee_break(books))
    key = decide_correction(books, number, approve=True, actor="bob")
    assert key is not None
    # The reversal's own key is the user's (recon: keys are reserved), its target the correction.
    reversal = EntryRequest(
        key=f"undo/{key.removeprefix('recon:')}", effective_date=None, reverse=key
    )
    (result,) = post_entries(books, [reversal], actor="carol").results
    assert result.outcome is EntryOutcome.CREATED, result.problems
    bank = stored_balances(books)[NOSTRO]
    assert bank[0] - bank[1] == 10000  # the receipt alone: the fee and its reversal cancel


def test_a_rejected_correction_posts_nothing_and_leaves_the_break_open(books: Store) -> None:
    break_id = fee_break(books)
    number = propose_fee(books, break_id)
    entries = count_rows(books, schema.journal_entries)
    assert decide_correction(books, number, approve=False, actor="bob") is None
    assert count_rows(books, schema.journal_entries) == entries
    found = break_named(books, break_id)
    assert found["status"] == "open"
    assert found["history"][-1]["kind"] == "rejected"
    with pytest.raises(ProblemError) as late:
        decide_correction(books, number, approve=True, actor="carol")
    assert problem_code(late) == "correction_decided"


def test_a_correction_for_a_break_resolved_meanwhile_is_not_posted(books: Store) -> None:
    book(books, "receipt-1", "250.00", reference="OUR-REF-1")
    load(books, statement("STMT-1", "0.00", "250.00", line("250.00", MONDAY, "THEIR-REF-9")))
    found = by_type(run_recon(books, MONDAY, actor="ops"))
    (in_statement,) = found["missing_in_books"]
    (in_books,) = found["missing_in_statement"]
    number = propose_correction(
        books, in_statement["break_id"], [(NOSTRO, "250.00"), (CLIENT_OPEN[USD], "-250.00")],
        description="receipt the books lack", actor="alice",
    )  # fmt: skip
    manual_match(books, in_statement["break_id"], in_books["break_id"], actor="carol")
    entries = count_rows(books, schema.journal_entries)
    with pytest.raises(ProblemError) as refused:
        decide_correction(books, number, approve=True, actor="bob")
    assert problem_code(refused) == "break_resolved"
    assert count_rows(books, schema.journal_entries) == entries


def test_a_break_corrected_by_an_approved_entry_is_not_reported_again(books: Store) -> None:
    break_id = fee_break(books)
    decide_correction(books, propose_fee(books, break_id), approve=True, actor="bob")
    load(books, statement("STMT-2", "95.00", "95.00", day=TUESDAY))
    assert run_recon(books, TUESDAY, actor="ops").breaks == []


# --- Positions --------------------------------------------------------------------------------


def holdings(as_of: dt.date, *positions: tuple[str, str]) -> HoldingsStatement:
    return HoldingsStatement(
        statement_id=f"SEMT-{as_of:%Y%m%d}",
        format=StatementFormat.SEMT002,
        account=SAFEKEEPING,
        as_of=as_of,
        holdings=tuple(Holding(isin, quantity, Source("semt.xml")) for isin, quantity in positions),
        source=Source("semt.xml"),
    )


def buy_shares(store: Store, quantity: str) -> None:
    book(store, "delivery-1", quantity, account=CUSTODY, other=CLIENT_OPEN[ISIN])


def test_a_custodian_quantity_unlike_the_ledger_position_is_an_amount_difference(
    books: Store,
) -> None:
    buy_shares(books, "100")
    assert import_holdings(books, [holdings(MONDAY, (ISIN, "120"))], source_file="s", actor="ops")
    (found,) = reconcile_positions(books, MONDAY, actor="ops")
    assert {k: found[k] for k in ("type", "account", "amount", "reference")} == {
        "type": "amount_difference", "account": CUSTODY, "amount": "20", "reference": ISIN,
    }  # fmt: skip
    assert break_named(books, found["break_id"])["status"] == "open"


def test_a_custodian_quantity_equal_to_the_ledger_position_is_no_break(books: Store) -> None:
    buy_shares(books, "100")
    import_holdings(books, [holdings(MONDAY, (ISIN, "100"))], source_file="s", actor="ops")
    assert reconcile_positions(books, MONDAY, actor="ops") == []


def test_a_ledger_position_the_custodian_does_not_report_is_missing_in_the_statement(
    books: Store,
) -> None:
    buy_shares(books, "100")
    import_holdings(books, [holdings(MONDAY, (OTHER_ISIN, "7"))], source_file="s", actor="ops")
    found = [
        row for row in reconcile_positions(books, MONDAY, actor="ops") if row["reference"] == ISIN
    ]
    assert [(row["type"], row["amount"]) for row in found] == [("missing_in_statement", "-100")]


def test_a_custodian_position_no_ledger_account_holds_is_missing_in_the_books(
    books: Store,
) -> None:
    import_holdings(books, [holdings(MONDAY, (OTHER_ISIN, "7"))], source_file="s", actor="ops")
    found = reconcile_positions(books, MONDAY, actor="ops")
    assert [(row["type"], row["reference"]) for row in found] == [("missing_in_books", OTHER_ISIN)]


def test_a_position_break_carried_to_the_next_day_keeps_its_id_and_clears_when_agreed(
    books: Store,
) -> None:
    buy_shares(books, "100")
    import_holdings(books, [holdings(MONDAY, (ISIN, "120"))], source_file="s", actor="ops")
    (monday,) = reconcile_positions(books, MONDAY, actor="ops")
    import_holdings(books, [holdings(TUESDAY, (ISIN, "120"))], source_file="s", actor="ops")
    (tuesday,) = reconcile_positions(books, TUESDAY, actor="ops")
    assert tuesday["break_id"] == monday["break_id"]
    import_holdings(books, [holdings(WEDNESDAY, (ISIN, "100"))], source_file="s", actor="ops")
    assert reconcile_positions(books, WEDNESDAY, actor="ops") == []
    assert {row["status"] for row in list_breaks(books)} == {"resolved"}


def test_holdings_imported_twice_are_kept_once_and_a_changed_quantity_is_refused(
    books: Store,
) -> None:
    monday = holdings(MONDAY, (ISIN, "100"))
    assert import_holdings(books, [monday], source_file="s", actor="ops") == 1
    assert import_holdings(books, [monday], source_file="s", actor="ops") == 0
    with pytest.raises(ProblemError) as refused:
        import_holdings(books, [holdings(MONDAY, (ISIN, "101"))], source_file="s", actor="ops")
    assert problem_code(refused) == "holdings_changed"


# --- The command line -------------------------------------------------------------------------


def test_a_position_only_the_custodian_holds_is_listed_under_its_safekeeping_account(
    books: Store,
) -> None:
    import_holdings(books, [holdings(MONDAY, (OTHER_ISIN, "7"))], source_file="s", actor="ops")
    (found,) = reconcile_positions(books, MONDAY, actor="ops")
    listed = break_named(books, found["break_id"])
    assert (listed["account"], listed["amount"], listed["type"]) == (
        SAFEKEEPING, "7", "missing_in_books",
    )  # fmt: skip


def test_a_correction_that_would_leave_the_books_unlike_the_statement_is_refused(
    books: Store,
) -> None:
    break_id = fee_break(books)
    entries = count_rows(books, schema.journal_entries)
    corrections = count_rows(books, schema.corrections)
    # Refused when proposed (the same check approval runs, in a savepoint): nobody is asked
    # to approve a correction that cannot close its break.
    with pytest.raises(ProblemError) as refused:
        propose_correction(
            books, break_id, [(NOSTRO, "-50.00"), (FIRM_HOUSE[USD], "50.00")],
            description="a fee typed ten times too big", actor="alice",
        )  # fmt: skip
    assert problem_code(refused) == "correction_mismatch"
    assert count_rows(books, schema.journal_entries) == entries
    assert count_rows(books, schema.corrections) == corrections
    assert break_named(books, break_id)["status"] == "open"


def test_a_statement_imported_into_a_gap_clears_the_continuity_break_it_explains(
    books: Store,
) -> None:
    monday = statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"))
    tuesday = statement("STMT-2", "100.00", "150.00", line("50.00", TUESDAY, "E2E-2"), day=TUESDAY)
    wednesday = statement("STMT-3", "150.00", "150.00", day=WEDNESDAY)
    (gap,) = load(books, monday, wednesday).balance_breaks
    assert break_named(books, gap)["amount"] == "50.00"
    assert load(books, tuesday).balance_breaks == []
    assert break_named(books, gap)["status"] == "resolved"


def test_an_account_with_its_own_tolerance_matches_what_the_default_leaves_as_a_break(
    books: Store,
) -> None:
    book(books, "receipt-1", "100.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "99.98", line("99.98", MONDAY, "E2E-1")))
    loose = MatchingRules(amount_tolerance_minor=5)
    result = run_recon(books, MONDAY, actor="ops", account_rules={NOSTRO: loose})
    assert (result.matched, result.breaks) == (1, [])
    rules = {row.rule for row in read_rows(books, schema.recon_matches)}
    assert rules == {"tolerance"}


def test_the_default_rules_leave_a_small_amount_difference_as_a_break(books: Store) -> None:
    book(books, "receipt-1", "100.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "99.98", line("99.98", MONDAY, "E2E-1")))
    result = run_recon(books, MONDAY, actor="ops", account_rules={"someone/else": MatchingRules()})
    assert [row["type"] for row in result.breaks] == ["amount_difference"]


def test_a_duplicate_line_stays_a_duplicate_when_the_run_is_repeated(books: Store) -> None:
    book(books, "receipt-1", "250.00", reference="E2E-1")
    load(
        books,
        statement(
            "STMT-1", "0.00", "500.00",
            line("250.00", MONDAY, "E2E-1"), line("250.00", MONDAY, "E2E-1"),
        ),
    )  # fmt: skip
    first = run_recon(books, MONDAY, actor="ops").breaks
    again = run_recon(books, MONDAY, actor="ops").breaks
    assert [row["type"] for row in first] == [row["type"] for row in again] == ["duplicate"]
    assert [row["break_id"] for row in first] == [row["break_id"] for row in again]


# --- Regressions from review ------------------------------------------------------------------


def test_a_difference_break_retyped_by_a_later_match_takes_the_correction_it_now_needs(
    books: Store,
) -> None:
    book(books, "receipt-1", "250.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "205.00", line("205.00", MONDAY, "E2E-1")))
    (difference,) = run_recon(books, MONDAY, actor="ops").breaks
    load(
        books,
        statement("STMT-2", "205.00", "455.00", line("250.00", TUESDAY, "E2E-1"), day=TUESDAY),
    )
    (left,) = run_recon(books, TUESDAY, actor="ops").breaks
    assert (left["break_id"], left["type"]) == (difference["break_id"], "missing_in_books")
    number = propose_correction(
        books, left["break_id"], [(NOSTRO, "205.00"), (CLIENT_OPEN[USD], "-205.00")],
        description="receipt the books lack", actor="alice",
    )  # fmt: skip
    assert decide_correction(books, number, approve=True, actor="bob")
    assert run_recon(books, TUESDAY, actor="ops").breaks == []


def test_a_run_for_an_earlier_day_does_not_double_a_difference_found_later(books: Store) -> None:
    book(books, "receipt-1", "250.00", reference="E2E-1")
    load(books, statement("STMT-1", "0.00", "0.00"))
    load(
        books,
        statement("STMT-2", "0.00", "205.00", line("205.00", TUESDAY, "E2E-1"), day=TUESDAY),
    )
    (difference,) = run_recon(books, TUESDAY, actor="ops").breaks
    run_recon(books, MONDAY, actor="ops")
    still_open = [r["break_id"] for r in list_breaks(books) if r["status"] != "resolved"]
    assert still_open == [difference["break_id"]]
    number = propose_correction(
        books, difference["break_id"], [(NOSTRO, "-45.00"), (CLIENT_OPEN[USD], "45.00")],
        description="the receipt was 205.00", actor="alice",
    )  # fmt: skip
    decide_correction(books, number, approve=True, actor="bob")
    run_recon(books, TUESDAY, actor="ops")
    assert [r for r in list_breaks(books) if r["status"] != "resolved"] == []


def test_statements_of_one_day_imported_in_reverse_order_raise_no_balance_break(
    books: Store,
) -> None:
    first = statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"))
    second = statement("STMT-2", "100.00", "150.00", line("50.00", MONDAY, "E2E-2"))
    assert load(books, second, first).balance_breaks == []


def test_a_custodian_only_position_break_clears_when_the_custodian_holds_none(
    books: Store,
) -> None:
    import_holdings(books, [holdings(MONDAY, (OTHER_ISIN, "7"))], source_file="s", actor="ops")
    (found,) = reconcile_positions(books, MONDAY, actor="ops")
    import_holdings(books, [holdings(TUESDAY)], source_file="s", actor="ops")
    assert reconcile_positions(books, TUESDAY, actor="ops") == []
    assert break_named(books, found["break_id"])["status"] == "resolved"


def test_a_statement_sent_again_with_other_booking_dates_is_refused(books: Store) -> None:
    first = statement("STMT-1", "0.00", "100.00", line("100.00", MONDAY, "E2E-1"))
    changed = dataclasses.replace(first.lines[0], booking_date=TUESDAY, description="other")
    load(books, first)
    with pytest.raises(ProblemError) as refused:
        load(books, dataclasses.replace(first, lines=(changed,)))
    assert problem_code(refused) == "statement_changed"


def test_a_correction_whose_break_was_resolved_meanwhile_can_still_be_rejected(
    books: Store,
) -> None:
    book(books, "receipt-1", "250.00", reference="OUR-REF-1")
    load(books, statement("STMT-1", "0.00", "250.00", line("250.00", MONDAY, "THEIR-REF-9")))
    found = by_type(run_recon(books, MONDAY, actor="ops"))
    (in_statement,) = found["missing_in_books"]
    (in_books,) = found["missing_in_statement"]
    number = propose_correction(
        books, in_statement["break_id"], [(NOSTRO, "250.00"), (CLIENT_OPEN[USD], "-250.00")],
        description="receipt the books lack", actor="alice",
    )  # fmt: skip
    manual_match(books, in_statement["break_id"], in_books["break_id"], actor="carol")
    assert decide_correction(books, number, approve=False, actor="bob") is None


def test_positions_of_several_ledger_accounts_at_one_safekeeping_account_are_summed(
    store: Store,
) -> None:
    refdata = reference_data()
    named = {NOSTRO: IBAN, CUSTODY: SAFEKEEPING, FIRM_HOUSE[ISIN]: SAFEKEEPING}
    refdata.accounts = [
        dataclasses.replace(account, external_account=named.get(account.code))
        for account in refdata.accounts
    ]
    load_refdata(store, refdata, actor="test", source="tests/test_recon_service.py")
    book(store, "d1", "100", account=CUSTODY, other=CLIENT_OPEN[ISIN])
    book(store, "d2", "50", account=FIRM_HOUSE[ISIN], other=CLIENT_OPEN[ISIN])
    import_holdings(store, [holdings(MONDAY, (ISIN, "150"))], source_file="s", actor="ops")
    assert reconcile_positions(store, MONDAY, actor="ops") == []
