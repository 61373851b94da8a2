"""The ledger's rules, through the batch API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from backoffice.formats.refdata_file import read_refdata
from backoffice.ledger.model import EntryOutcome, EntryRequest, EntryResult, PostingRequest
from backoffice.ledger.reports import balances, trial_balance
from backoffice.ledger.service import expire_pending, post_entries
from backoffice.ledger.verify import verify_ledger
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store

DAY = dt.date(2026, 11, 24)
REFDATA = """
assets:
  - {code: USD, kind: currency, scale: 2}
  - {code: JPY, kind: currency}
  - {code: US0378331005, kind: security, scale: 0, name: Apple Inc}
parties:
  - {code: FIRM, kind: firm, name: The Firm}
  - {code: C0001, kind: client, name: Ada Client}
accounts:
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
  - {code: firm/capital/USD, type: equity, asset: USD, owner: FIRM}
  - {code: firm/bank/JPY, type: asset, asset: JPY, owner: FIRM}
  - {code: firm/capital/JPY, type: equity, asset: JPY, owner: FIRM}
  - {code: firm/custody/US0378331005, type: asset, asset: US0378331005, owner: FIRM}
  - {code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001,
     flags: [debits_must_not_exceed_credits]}
  - {code: client/C0001/securities/US0378331005, type: liability, asset: US0378331005,
     owner: C0001, flags: [debits_must_not_exceed_credits]}
"""


@pytest.fixture
def books(store: Store, tmp_path: Path) -> Store:
    path = tmp_path / "refdata.yaml"
    path.write_text(REFDATA)
    load_refdata(store, read_refdata(path), actor="test", source=str(path))
    return store


def entry(
    key: str, *postings: tuple[str, object], day: dt.date = DAY, **extra: object
) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=day,
        description=f"entry {key}",
        postings=tuple(PostingRequest(account, amount) for account, amount in postings),
        **extra,  # type: ignore[arg-type]
    )


def deposit(key: str, amount: str, day: dt.date = DAY) -> EntryRequest:
    return entry(key, ("firm/bank/USD", amount), ("client/C0001/cash/USD", f"-{amount}"), day=day)


def post(store: Store, *requests: EntryRequest) -> list[EntryResult]:
    return list(post_entries(store, list(requests), actor="test").results)


def balance_of(store: Store, account: str, as_of: dt.date | None = None) -> int:
    (line,) = balances(store, account=account, as_of=as_of)
    return line.balance.posted_minor


def codes(result: EntryResult) -> list[str]:
    return [problem.code for problem in result.problems]


def test_a_balanced_entry_is_created_and_moves_both_balances(books: Store) -> None:
    (result,) = post(books, deposit("d1", "1902.50"))
    assert result.outcome is EntryOutcome.CREATED
    assert balance_of(books, "firm/bank/USD") == 190250
    assert balance_of(books, "client/C0001/cash/USD") == -190250
    assert verify_ledger(books) == []


def test_posting_the_same_key_and_body_again_returns_the_original_entry(books: Store) -> None:
    (first,) = post(books, deposit("d1", "100.00"))
    (again,) = post(books, deposit("d1", "100.0"))
    assert again.outcome is EntryOutcome.EXISTING
    assert again.entry_id == first.entry_id
    assert balance_of(books, "firm/bank/USD") == 10000


def test_the_same_key_with_another_body_is_a_conflict_and_changes_nothing(books: Store) -> None:
    post(books, deposit("d1", "100.00"))
    (conflict,) = post(books, deposit("d1", "100.01"))
    assert conflict.outcome is EntryOutcome.FAILED
    assert codes(conflict) == ["key_conflict"]
    assert balance_of(books, "firm/bank/USD") == 10000


def test_a_key_repeated_inside_one_batch_is_created_once(books: Store) -> None:
    results = post(books, deposit("d1", "5.00"), deposit("d1", "5.00"), deposit("d1", "6.00"))
    assert [r.outcome for r in results] == [
        EntryOutcome.CREATED, EntryOutcome.EXISTING, EntryOutcome.FAILED,
    ]  # fmt: skip
    assert balance_of(books, "firm/bank/USD") == 500


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (entry("e", ("firm/bank/USD", "1.00")), "too_few_postings"),
        (
            entry("e", ("firm/bank/USD", "1.00"), ("client/C0001/cash/USD", "-0.99")),
            "entry_unbalanced",
        ),
        (entry("e", ("firm/bank/USD", "1.00"), ("nobody/USD", "-1.00")), "unknown_account"),
        (entry("e", ("firm/bank/USD", 1.0), ("firm/capital/USD", "-1.00")), "amount_not_a_string"),
        (entry("e", ("firm/bank/USD", "1e2"), ("firm/capital/USD", "-100")), "invalid_amount"),
        (
            entry("e", ("firm/bank/USD", "1.001"), ("firm/capital/USD", "-1.001")),
            "too_many_decimals",
        ),
        (entry("e", ("firm/bank/USD", "0"), ("firm/capital/USD", "0")), "zero_amount"),
        (entry("e", ("firm/bank/JPY", "1.5"), ("firm/capital/JPY", "-1.5")), "too_many_decimals"),
        (
            entry("e", ("firm/bank/USD", "1.00"), ("firm/custody/US0378331005", "-1")),
            "entry_unbalanced",
        ),
        (deposit("e", "1.00", day=None), "missing_field"),  # type: ignore[arg-type]
    ],
)
def test_bad_entries_are_refused_with_a_named_code_and_store_nothing(
    books: Store, request_: EntryRequest, code: str
) -> None:
    (result,) = post(books, request_)
    assert result.outcome is EntryOutcome.FAILED
    assert code in codes(result)
    assert all(line.balance.as_tuple() == (0, 0, 0, 0) for line in balances(books))


def test_each_asset_of_a_dvp_entry_sums_to_zero_on_its_own(books: Store) -> None:
    post(books, deposit("fund", "10000.00"))
    buy = entry(
        "buy",
        ("firm/custody/US0378331005", "10"),
        ("client/C0001/securities/US0378331005", "-10"),
        ("client/C0001/cash/USD", "2285.20"),
        ("firm/bank/USD", "-2285.20"),
    )
    (result,) = post(books, buy)
    assert result.outcome is EntryOutcome.CREATED
    assert balance_of(books, "client/C0001/securities/US0378331005") == -10
    assert {line.asset: line.net_minor for line in trial_balance(books)} == {
        "US0378331005": 0, "USD": 0, "JPY": 0,
    }  # fmt: skip


def test_a_flagged_account_refuses_an_overdraft_and_the_rest_of_the_batch_goes_on(
    books: Store,
) -> None:
    withdraw = entry("w", ("client/C0001/cash/USD", "150.00"), ("firm/bank/USD", "-150.00"))
    results = post(books, deposit("d", "100.00"), withdraw, deposit("d2", "1.00"))
    assert [r.outcome for r in results] == [
        EntryOutcome.CREATED, EntryOutcome.FAILED, EntryOutcome.CREATED,
    ]  # fmt: skip
    assert codes(results[1]) == ["debits_exceed_credits"]
    assert balance_of(books, "client/C0001/cash/USD") == -10100


def test_a_pending_entry_reserves_funds_until_posted_or_voided(books: Store) -> None:
    post(books, deposit("d", "100.00"))
    hold = entry(
        "hold", ("client/C0001/cash/USD", "80.00"), ("firm/bank/USD", "-80.00"), pending=True
    )
    second = entry(
        "hold2", ("client/C0001/cash/USD", "30.00"), ("firm/bank/USD", "-30.00"), pending=True
    )
    first, refused = post(books, hold, second)
    assert first.outcome is EntryOutcome.CREATED
    assert codes(refused) == ["debits_exceed_credits"]  # the reservation counts
    assert balance_of(books, "client/C0001/cash/USD") == -10000  # posted balance unchanged
    (posted,) = post(books, EntryRequest("hold/post", None, post_pending="hold"))
    assert posted.outcome is EntryOutcome.CREATED
    assert balance_of(books, "client/C0001/cash/USD") == -2000
    (again,) = post(books, EntryRequest("hold/void", None, void_pending="hold"))
    assert codes(again) == ["pending_already_resolved"]
    (line,) = balances(books, account="client/C0001/cash/USD")
    assert (line.balance.debits_pending, line.balance.credits_pending) == (0, 0)
    assert verify_ledger(books) == []


def test_voiding_a_pending_entry_releases_its_reservation(books: Store) -> None:
    post(books, deposit("d", "100.00"))
    hold = entry(
        "hold", ("client/C0001/cash/USD", "80.00"), ("firm/bank/USD", "-80.00"), pending=True
    )
    post(books, hold)
    (void,) = post(books, EntryRequest("hold/void", None, void_pending="hold"))
    assert void.outcome is EntryOutcome.CREATED
    (line,) = balances(books, account="client/C0001/cash/USD")
    assert line.balance.as_tuple() == (0, 10000, 0, 0)
    (posting,) = post(books, EntryRequest("hold/post", None, post_pending="hold"))
    assert codes(posting) == ["pending_already_resolved"]


def test_a_timed_out_pending_entry_cannot_be_posted_and_is_voided_by_expiry(books: Store) -> None:
    post(books, deposit("d", "100.00"))
    hold = entry(
        "hold", ("client/C0001/cash/USD", "80.00"), ("firm/bank/USD", "-80.00"),
        pending=True, timeout_seconds=60,
    )  # fmt: skip
    post_entries(books, [hold], actor="test", clock_us=lambda: 1_000_000_000_000)
    late = 1_000_000_000_000 + 61_000_000
    (refused,) = post_entries(
        books,
        [EntryRequest("hold/post", None, post_pending="hold")],
        actor="t",
        clock_us=lambda: late,
    ).results
    assert codes(refused) in (["pending_expired"], ["pending_already_resolved"])
    assert expire_pending(books, actor="test", clock_us=lambda: late) == 0  # already voided
    (line,) = balances(books, account="client/C0001/cash/USD")
    assert line.balance.as_tuple() == (0, 10000, 0, 0)
    assert verify_ledger(books) == []


def test_a_reversal_restores_every_balance_and_cannot_be_repeated(books: Store) -> None:
    post(books, deposit("d", "100.00"), deposit("oops", "25.00"))
    before = {b.account: b.balance.posted_minor for b in balances(books)}
    (reversal,) = post(books, EntryRequest("oops/rev", None, reverse="oops"))
    assert reversal.outcome is EntryOutcome.CREATED
    after = {b.account: b.balance.posted_minor for b in balances(books)}
    assert after["firm/bank/USD"] == before["firm/bank/USD"] - 2500
    assert after["client/C0001/cash/USD"] == before["client/C0001/cash/USD"] + 2500
    (again,) = post(books, EntryRequest("oops/rev2", None, reverse="oops"))
    assert codes(again) == ["already_reversed"]
    (replay,) = post(books, EntryRequest("oops/rev", None, reverse="oops"))
    assert replay.outcome is EntryOutcome.EXISTING


def test_a_pending_entry_is_voided_not_reversed(books: Store) -> None:
    post(books, deposit("d", "100.00"))
    post(
        books,
        entry("h", ("client/C0001/cash/USD", "1.00"), ("firm/bank/USD", "-1.00"), pending=True),
    )
    (result,) = post(books, EntryRequest("h/rev", None, reverse="h"))
    assert codes(result) == ["not_reversible"]
    (missing,) = post(books, EntryRequest("x/rev", None, reverse="nothing-here"))
    assert codes(missing) == ["entry_not_found"]


def test_balances_as_of_a_date_include_that_date_and_nothing_after(books: Store) -> None:
    post(
        books,
        deposit("d1", "10.00", day=dt.date(2026, 11, 20)),
        deposit("d2", "20.00", day=dt.date(2026, 11, 23)),
        deposit("d3", "40.00", day=dt.date(2026, 11, 24)),
    )
    assert balance_of(books, "firm/bank/USD", dt.date(2026, 11, 19)) == 0
    assert balance_of(books, "firm/bank/USD", dt.date(2026, 11, 20)) == 1000
    assert balance_of(books, "firm/bank/USD", dt.date(2026, 11, 23)) == 3000
    assert balance_of(books, "firm/bank/USD", dt.date(2026, 11, 24)) == 7000
    assert [line.net_minor for line in trial_balance(books, as_of=dt.date(2026, 11, 23))] == [
        0,
        0,
        0,
    ]


def test_a_closed_account_takes_no_postings(books: Store, tmp_path: Path) -> None:
    path = tmp_path / "close.yaml"
    path.write_text(
        "accounts: [{code: firm/bank/JPY, type: asset, asset: JPY, owner: FIRM, status: closed}]"
    )
    load_refdata(books, read_refdata(path), actor="test", source=str(path))
    (result,) = post(books, entry("j", ("firm/bank/JPY", "5"), ("firm/capital/JPY", "-5")))
    assert codes(result) == ["account_closed"]


def test_a_large_batch_spans_transactions_and_every_entry_is_counted(books: Store) -> None:
    requests = [deposit(f"d{n}", "1.00") for n in range(12_000)]
    result = post_entries(books, requests, actor="test")
    assert result.count(EntryOutcome.CREATED) == 12_000
    assert balance_of(books, "firm/bank/USD") == 1_200_000
    assert verify_ledger(books) == []


def test_posting_voids_timed_out_pending_entries_at_most_once_a_second_never_missing_one(
    books: Store,
) -> None:
    start = 1_000_000_000_000

    def at(us: int, *requests: EntryRequest) -> list[EntryResult]:
        return list(post_entries(books, requests, actor="t", clock_us=lambda: start + us).results)

    def pending_minor() -> int:
        (line,) = balances(books, account="client/C0001/cash/USD")
        return line.balance.pending_minor

    at(-500_000, deposit("d", "100.00"))  # looks for timed-out entries
    hold = entry(
        "hold", ("client/C0001/cash/USD", "80.00"), ("firm/bank/USD", "-80.00"),
        pending=True, timeout_seconds=1,
    )  # fmt: skip
    at(0, hold)  # under a second since the last look: does not look
    at(600_000, deposit("d2", "1.00"))  # looks; the hold has 0.4 s to run
    held = pending_minor()
    assert held != 0
    at(1_500_000, deposit("d3", "1.00"))  # timed out, but the last look was 0.9 s ago
    assert pending_minor() == held
    # Nor can anything resolve it meanwhile: the resolution checks the timeout itself.
    (refused,) = at(1_500_000, EntryRequest("hold/post", None, post_pending="hold"))
    assert codes(refused) == ["pending_expired"]
    at(1_600_001, deposit("d4", "1.00"))  # a second since the last look: voided
    assert pending_minor() == 0


def test_the_trial_balance_now_sums_the_running_totals_as_the_postings_would(books: Store) -> None:
    post(books, deposit("d1", "100.00"), deposit("d2", "25.50"))
    hold = entry(
        "hold", ("client/C0001/cash/USD", "10.00"), ("firm/bank/USD", "-10.00"), pending=True
    )
    post(books, hold)
    from_totals = trial_balance(books)
    from_postings = trial_balance(books, as_of=DAY + dt.timedelta(days=3650))
    assert from_totals == from_postings
    assert any(line.debits_minor > 0 for line in from_totals)
