"""Trade bookings live under keys the ledger reserves: a caller of `ledger post` can neither
write one nor undo one, so the books keep tying out to the trades."""

from __future__ import annotations

import datetime as dt

from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.rules import check_request_shape
from backoffice.ledger.service import post_entries
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_HOUSE, USD, count_entries, load_books

DAY = dt.date(2026, 11, 24)


def _entry(key: str) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=DAY,
        postings=(
            PostingRequest(FIRM_HOUSE[USD], "10.00"),
            PostingRequest(CLIENT_OPEN[USD], "-10.00"),
        ),
    )


def test_an_entry_under_a_trade_booking_key_is_refused_as_reserved(store: Store) -> None:
    load_books(store)
    result = post_entries(store, [_entry("trades:trade/E1")], actor="test")
    assert result.results[0].outcome is EntryOutcome.FAILED
    assert [p.code for p in result.results[0].problems] == ["reserved_key"]
    assert count_entries(store) == 0


def test_a_reversal_of_a_trade_booking_by_hand_is_refused_as_reserved(store: Store) -> None:
    load_books(store)
    reversal = EntryRequest(key="undo", effective_date=DAY, reverse="trades:trade/E1")
    result = post_entries(store, [reversal], actor="test")
    assert result.results[0].outcome is EntryOutcome.FAILED
    assert "reserved_key" in [p.code for p in result.results[0].problems]


def test_an_ordinary_key_that_merely_mentions_trades_is_accepted(store: Store) -> None:
    load_books(store)
    result = post_entries(store, [_entry("trade/E1"), _entry("my-trades:1")], actor="test")
    assert [r.outcome for r in result.results] == [EntryOutcome.CREATED, EntryOutcome.CREATED]


def test_an_entry_under_a_recon_correction_key_is_refused_as_reserved(store: Store) -> None:
    # Were it accepted, approving correction 7 would find its key taken and fail.
    load_books(store)
    result = post_entries(store, [_entry("recon:correction/7")], actor="test")
    assert result.results[0].outcome is EntryOutcome.FAILED
    assert [p.code for p in result.results[0].problems] == ["reserved_key"]
    assert count_entries(store) == 0


def test_a_recon_correction_stays_reversible_by_hand(store: Store) -> None:
    # The README's promise: a correction is undone with `ledger reverse`, not refused.
    reversal = EntryRequest(key="undo", effective_date=DAY, reverse="recon:correction/7")
    problems = check_request_shape(reversal)
    assert "reserved_key" not in [p.code for p in problems]
