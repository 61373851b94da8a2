"""Properties of the ledger over arbitrary valid input, and a state machine of its commands.

These run on SQLite only, each example on a fresh copy of one migrated template file: the
properties are the posting rules (zero sums, balances, idempotency, reversals, flags), which the
service applies the same way on both databases, and a fresh file per example costs a file copy
where a PostgreSQL schema costs a migration. The storage-specific paths (COPY, statement
triggers, row locks) are exercised on both databases by test_ledger_crash, test_ledger_tamper
and test_ledger_concurrency.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from books import (
    ACCOUNTS_BY_ASSET,
    ASSET_OF,
    CLIENT_GUARDED,
    CLIENT_OPEN,
    CREDITS_LIMITED,
    DEBITS_LIMITED,
    FIRM_BANK,
    FIRM_HOUSE,
    ISIN,
    SCALES,
    USD,
    breached_flags,
    count_entries,
    entries_by_key,
    load_books,
    stored_balances,
    sums_by_account,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from backoffice.errors import Source
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.reports import trial_balance
from backoffice.ledger.service import expire_pending, post_entries
from backoffice.ledger.verify import verify_ledger
from backoffice.money import format_amount
from backoffice.store.engine import Store, open_store

FreshBooks = Callable[[], AbstractContextManager[Store]]
ledger_settings = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FIRST_DAY = dt.date(2026, 1, 2)
START_US = 1_767_323_045_000_000  # the state machine's clock starts here and moves by rule
_copies = itertools.count()


@pytest.fixture(scope="module")
def fresh_books(tmp_path_factory: pytest.TempPathFactory) -> FreshBooks:
    """A context manager giving a store with the standard books and no entries, fresh each
    time: a copy of a template SQLite file, so that hypothesis replays and shrinks every
    example from the same state."""
    folder = tmp_path_factory.mktemp("books")
    template = folder / "template.db"
    store = open_store(f"sqlite:///{template}")
    load_books(store)
    store.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not Path(f"{template}-wal").exists() or Path(f"{template}-wal").stat().st_size == 0

    @contextmanager
    def fresh() -> Iterator[Store]:
        path = folder / f"example-{next(_copies)}.db"
        shutil.copyfile(template, path)
        # The template is migrated: Store() skips the revision check of open_store().
        opened = Store(f"sqlite:///{path}")
        try:
            yield opened
        finally:
            opened.dispose()
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)

    return fresh


# Strategies -----------------------------------------------------------------------------------


STORABLE_CHARACTERS = st.characters(
    exclude_characters="\x00\u2028\u2029", exclude_categories=("Cs", "Cc")
)


@st.composite
def amount_text(draw: st.DrawFn, minor: int, scale: int) -> str:
    """`minor` as a decimal string, sometimes without its trailing zeros ("12.50" or "12.5"):
    the ledger must read both as the same amount."""
    text = format_amount(minor, scale)
    if scale and draw(st.booleans()):
        text = text.rstrip("0").rstrip(".")
    return text


@st.composite
def asset_postings(draw: st.DrawFn, asset: str) -> list[tuple[str, int]]:
    """Postings in one asset that sum to zero: one or two debits against one or two credits,
    between any accounts of that asset (the same account may appear on both sides)."""
    largest = 10_000_000 if SCALES[asset] else 10_000
    debits = draw(st.lists(st.integers(1, largest), min_size=1, max_size=2))
    total = sum(debits)
    credits = [total]
    if total >= 2 and draw(st.booleans()):
        cut = draw(st.integers(1, total - 1))
        credits = [cut, total - cut]
    accounts = st.sampled_from(ACCOUNTS_BY_ASSET[asset])
    postings = [(draw(accounts), amount) for amount in debits]
    postings += [(draw(accounts), -amount) for amount in credits]
    return draw(st.permutations(postings))


@st.composite
def entry_postings(draw: st.DrawFn) -> tuple[tuple[str, int], ...]:
    assets = draw(st.sampled_from([(USD,), (ISIN,), (USD, ISIN)]))
    return tuple(posting for asset in assets for posting in draw(asset_postings(asset)))


@st.composite
def posting_requests(draw: st.DrawFn, postings: tuple[tuple[str, int], ...]) -> tuple[Any, ...]:
    return tuple(
        PostingRequest(code, draw(amount_text(amount, SCALES[ASSET_OF[code]])))
        for code, amount in postings
    )


@st.composite
def entry_requests(draw: st.DrawFn, key: str) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=FIRST_DAY + dt.timedelta(days=draw(st.integers(0, 30))),
        # NUL, control characters and lone surrogates are refused as invalid_text; tested on their own below.
        description=draw(st.text(STORABLE_CHARACTERS, max_size=12)),
        postings=draw(posting_requests(draw(entry_postings()))),
        metadata=draw(st.dictionaries(st.sampled_from(["desk", "trader"]), st.text(max_size=5))),
    )


@st.composite
def batches(draw: st.DrawFn, prefix: str = "e") -> list[EntryRequest]:
    size = draw(st.integers(1, 12))
    return [draw(entry_requests(f"{prefix}{index}")) for index in range(size)]


FLAG_CODES = frozenset({"debits_exceed_credits", "credits_exceed_debits"})


# Checks -------------------------------------------------------------------------------------


def net_balances(store: Store) -> dict[str, tuple[int, int]]:
    """Per account (posted, pending), debit-positive: what a reversal must restore. (The debit
    and credit totals both grow: a reversal adds the opposite postings, it erases nothing.)"""
    return {
        code: (debits - credits, debits_pending - credits_pending)
        for code, (debits, credits, debits_pending, credits_pending) in stored_balances(
            store
        ).items()
    }


def assert_books_hold(store: Store) -> None:
    """Every check of the books that does not need a model."""
    assert verify_ledger(store) == []
    stored = stored_balances(store)
    assert stored == sums_by_account(store)
    assert breached_flags(stored) == []
    for entry in entries_by_key(store).values():
        per_asset: dict[str, int] = {}
        for code, amount in entry["postings"]:
            per_asset[ASSET_OF[code]] = per_asset.get(ASSET_OF[code], 0) + amount
        assert set(per_asset.values()) <= {0}, entry
    for line in trial_balance(store):
        assert line.net_minor == 0
    for asset, codes in ACCOUNTS_BY_ASSET.items():
        assert sum(stored[c][0] - stored[c][1] for c in codes) == 0, asset
        assert sum(stored[c][2] - stored[c][3] for c in codes) == 0, asset


# Properties of batches ----------------------------------------------------------------------


@ledger_settings
@given(batch=batches())
def test_every_stored_entry_sums_to_zero_and_every_balance_equals_its_postings(
    fresh_books: FreshBooks, batch: list[EntryRequest]
) -> None:
    with fresh_books() as store:
        results = post_entries(store, batch, actor="test").results
        for result in results:
            # Valid entries fail only on a balance flag (the bank and client C2 are limited).
            if result.outcome is EntryOutcome.FAILED:
                assert {p.code for p in result.problems} <= FLAG_CODES, result
        created = [r.key for r in results if r.outcome is EntryOutcome.CREATED]
        assert sorted(entries_by_key(store)) == sorted(created)
        assert_books_hold(store)


@ledger_settings
@given(batch=batches(), data=st.data())
def test_replaying_a_batch_changes_nothing(
    fresh_books: FreshBooks, batch: list[EntryRequest], data: st.DataObject
) -> None:
    with fresh_books() as store:
        _seed_limited_accounts(store)
        first = post_entries(store, batch, actor="test").results
        assert {r.outcome for r in first} == {EntryOutcome.CREATED}
        balances, entries = stored_balances(store), entries_by_key(store)
        # The same requests with amounts written another way ("12.5" for "12.50") where the
        # asset allows: the body hash is over minor units, so they are the same requests.
        rewritten = [
            replace(request, postings=data.draw(posting_requests(_minor_postings(request))))
            for request in batch
        ]
        for replay, originals in ((batch, first), (rewritten, first), (batch[::-1], first[::-1])):
            again = post_entries(store, replay, actor="test").results
            assert [(r.key, r.outcome, r.entry_id) for r in again] == [
                (r.key, EntryOutcome.EXISTING, r.entry_id) for r in originals
            ]
        assert stored_balances(store) == balances
        assert entries_by_key(store) == entries
        assert_books_hold(store)


@ledger_settings
@given(batch=batches(), one_by_one=st.booleans())
def test_reversing_entries_newest_first_restores_every_balance_exactly(
    fresh_books: FreshBooks, batch: list[EntryRequest], one_by_one: bool
) -> None:
    with fresh_books() as store:
        seed = _seed_limited_accounts(store)
        before = net_balances(store)
        results = post_entries(store, batch, actor="test").results
        created = [r.key for r in results if r.outcome is EntryOutcome.CREATED]
        reversals = [
            EntryRequest(key=f"reverse/{key}", effective_date=None, reverse=key)
            for key in reversed(created)
        ]
        if one_by_one:
            outcomes = [
                result.outcome
                for reversal in reversals
                for result in post_entries(store, [reversal], actor="test").results
            ]
        else:
            outcomes = [r.outcome for r in post_entries(store, reversals, actor="test").results]
        assert outcomes == [EntryOutcome.CREATED] * len(reversals)
        assert net_balances(store) == before
        assert count_entries(store) == len(seed) + 2 * len(created)
        assert_books_hold(store)


def _moves_anything(request: EntryRequest) -> bool:
    """Whether an entry changes some account's net balance (postings to one account that
    cancel out change nothing)."""
    net: dict[str, int] = {}
    for code, amount in _minor_postings(request):
        net[code] = net.get(code, 0) + amount
    return any(net.values())


def _seed_limited_accounts(store: Store) -> list[str]:
    """Fund the limited accounts (the bank by a debit, client C2 by a credit) beyond what any
    generated batch can move, so that no entry of it is refused on a balance flag."""
    seed = [
        EntryRequest(
            key=f"seed/{asset}",
            effective_date=FIRST_DAY,
            postings=(
                PostingRequest(FIRM_BANK[asset], format_amount(10**9, SCALES[asset])),
                PostingRequest(CLIENT_GUARDED[asset], format_amount(-(10**9), SCALES[asset])),
            ),
        )
        for asset in (USD, ISIN)
    ]
    results = post_entries(store, seed, actor="test").results
    assert {r.outcome for r in results} == {EntryOutcome.CREATED}
    return [r.key for r in results]


@ledger_settings
@given(batch=batches(), data=st.data())
def test_reversing_one_entry_restores_the_balances_from_before_it(
    fresh_books: FreshBooks, batch: list[EntryRequest], data: st.DataObject
) -> None:
    with fresh_books() as store:
        _seed_limited_accounts(store)
        post_entries(store, batch, actor="test")
        before = net_balances(store)
        last = data.draw(entry_requests("last"))
        (result,) = post_entries(store, [last], actor="test").results
        assert result.outcome is EntryOutcome.CREATED
        assert net_balances(store) != before or not _moves_anything(last)
        reversal = EntryRequest(key="reverse/last", effective_date=None, reverse="last")
        (reversed_result,) = post_entries(store, [reversal], actor="test").results
        assert reversed_result.outcome is EntryOutcome.CREATED
        assert net_balances(store) == before
        assert_books_hold(store)


# The state machine ----------------------------------------------------------------------------


@dataclass
class Booked:
    """An entry as the model expects the ledger to hold it."""

    entry_id: int
    kind: str
    postings: tuple[tuple[str, int], ...]
    request: EntryRequest
    expires_at_us: int | None = None
    resolved: bool = False
    reversed: bool = False


@dataclass
class Model:
    """The ledger as the test understands it, written without the package's rules module."""

    balances: dict[str, list[int]] = field(
        default_factory=lambda: {code: [0, 0, 0, 0] for code in ASSET_OF}
    )
    booked: dict[str, Booked] = field(default_factory=dict)
    last_id: int = 0
    now_us: int = START_US

    def copy(self) -> Model:
        return Model(
            {code: list(totals) for code, totals in self.balances.items()},
            {key: replace(booked) for key, booked in self.booked.items()},
            self.last_id,
            self.now_us,
        )

    def expire(self) -> int:
        """Void every pending entry whose timeout has passed, as each command does first."""
        expired = [
            (key, booked.entry_id)
            for key, booked in sorted(self.booked.items(), key=lambda item: item[1].entry_id)
            if booked.kind == "pending"
            and not booked.resolved
            and booked.expires_at_us is not None
            and booked.expires_at_us <= self.now_us
        ]
        outcomes = [
            self.decide(
                EntryRequest(
                    f"expire/{entry_id}", None, void_pending=key, source=Source(field="timeout")
                )
            )[0]
            for key, entry_id in expired
        ]
        return outcomes.count(EntryOutcome.CREATED)

    def decide(self, request: EntryRequest) -> tuple[EntryOutcome, set[str], int | None]:
        """What the ledger must answer to `request`, applying it to the model if created."""
        kind = _kind(request)
        if request.key.startswith("expire/") and request.source.field != "timeout":
            # Only the ledger's own expiry voids (made by `expire`, marked here) use the prefix.
            return EntryOutcome.FAILED, {"reserved_key"}, None
        if request.key in self.booked:
            booked = self.booked[request.key]
            if _meaning(booked.request) == _meaning(request):
                return EntryOutcome.EXISTING, set(), booked.entry_id
            return EntryOutcome.FAILED, {"key_conflict"}, None
        target = self.booked.get(request.target_key or "")
        if request.target_key is not None:
            if target is None:
                return EntryOutcome.FAILED, {"entry_not_found"}, None
            if kind == "reversal":
                if target.kind not in ("standard", "post_pending"):
                    return EntryOutcome.FAILED, {"not_reversible"}, None
                if target.reversed:
                    return EntryOutcome.FAILED, {"already_reversed"}, None
                postings = tuple((code, -amount) for code, amount in target.postings)
            else:
                if target.kind != "pending":
                    return EntryOutcome.FAILED, {"not_pending"}, None
                if target.resolved:
                    return EntryOutcome.FAILED, {"pending_already_resolved"}, None
                if (
                    kind == "post_pending"
                    and target.expires_at_us is not None
                    and self.now_us >= target.expires_at_us
                ):
                    return EntryOutcome.FAILED, {"pending_expired"}, None
                postings = target.postings
        else:
            postings = _minor_postings(request)
        trial = {code: list(self.balances[code]) for code, _ in postings}
        for code, amount in postings:
            debit, credit = max(amount, 0), max(-amount, 0)
            totals = trial[code]
            if kind == "pending":
                totals[2] += debit
                totals[3] += credit
            elif kind in ("post_pending", "void_pending"):
                totals[2] -= debit
                totals[3] -= credit
                if kind == "post_pending":
                    totals[0] += debit
                    totals[1] += credit
            else:
                totals[0] += debit
                totals[1] += credit
        breaches = set()
        for code, (debits, credits, debits_pending, credits_pending) in trial.items():
            if code in DEBITS_LIMITED and debits + debits_pending > credits:
                breaches.add("debits_exceed_credits")
            if code in CREDITS_LIMITED and credits + credits_pending > debits:
                breaches.add("credits_exceed_debits")
        if breaches:
            return EntryOutcome.FAILED, breaches, None
        self.balances.update(trial)
        self.last_id += 1
        expires_at_us = (
            self.now_us + request.timeout_seconds * 1_000_000
            if request.timeout_seconds is not None
            else None
        )
        self.booked[request.key] = Booked(self.last_id, kind, postings, request, expires_at_us)
        if target is not None:
            if kind == "reversal":
                target.reversed = True
            else:
                target.resolved = True
        return EntryOutcome.CREATED, set(), self.last_id


def _kind(request: EntryRequest) -> str:
    if request.post_pending is not None:
        return "post_pending"
    if request.void_pending is not None:
        return "void_pending"
    if request.reverse is not None:
        return "reversal"
    return "pending" if request.pending else "standard"


def _minor_postings(request: EntryRequest) -> tuple[tuple[str, int], ...]:
    postings = []
    for posting in request.postings:
        scale = SCALES[ASSET_OF[posting.account]]
        whole, _, fraction = str(posting.amount).lstrip("-").partition(".")
        minor = int(whole) * 10**scale + int(fraction.ljust(scale, "0") or "0")
        postings.append((posting.account, -minor if str(posting.amount)[0] == "-" else minor))
    return tuple(postings)


def _meaning(request: EntryRequest) -> tuple[object, ...]:
    return (
        _kind(request),
        request.target_key,
        request.effective_date,
        request.description,
        request.metadata,
        request.timeout_seconds,
        _minor_postings(request),
    )


class LedgerMachine(RuleBasedStateMachine):
    """Post, post pending, post or void a pending entry, reverse, replay and reuse keys, alone
    or several in one batch, in any order; after every step the books must hold and equal the
    model."""

    def __init__(self, fresh_books: FreshBooks) -> None:
        super().__init__()
        self.model = Model()
        self.submitted: list[EntryRequest] = []
        self.keys = itertools.count()
        self.books = fresh_books()
        self.store: Store = self.books.__enter__()
        # Some money and securities in the limited accounts, a few entries' worth: enough for
        # most entries to pass, little enough for the flags to refuse some.
        self.submit(
            [
                EntryRequest(
                    key=f"fund/{asset}",
                    effective_date=FIRST_DAY,
                    postings=(
                        PostingRequest(FIRM_BANK[asset], format_amount(funds, SCALES[asset])),
                        PostingRequest(CLIENT_GUARDED[asset], format_amount(-funds, SCALES[asset])),
                    ),
                )
                for asset, funds in ((USD, 30_000_000), (ISIN, 30_000))
            ]
        )

    def teardown(self) -> None:
        self.books.__exit__(None, None, None)

    # Building requests: `model` and `known` are what the request may refer to, so that a
    # request late in a batch may name an entry made earlier in the same batch.

    def new_key(self) -> str:
        return f"k{next(self.keys)}"

    def entry(self, data: st.DataObject, *, pending: bool) -> EntryRequest:
        request = data.draw(entry_requests(self.new_key()))
        return EntryRequest(
            key=request.key,
            effective_date=request.effective_date,
            description=request.description,
            postings=request.postings,
            pending=pending,
            timeout_seconds=data.draw(st.sampled_from([None, 10, 60])) if pending else None,
        )

    def resolution(
        self, data: st.DataObject, how: str, model: Model, known: list[EntryRequest]
    ) -> EntryRequest:
        kinds = ("standard", "post_pending") if how == "reverse" else ("pending",)
        fitting = sorted(key for key, b in model.booked.items() if b.kind in kinds)
        live = [
            key for key in fitting if not (model.booked[key].resolved or model.booked[key].reversed)
        ]
        anything = sorted({r.key for r in known} | {"no-such-key"})
        # Mostly an entry that may be posted, voided or reversed now; sometimes one that was
        # already, or any key at all.
        choice = data.draw(st.integers(0, 9))
        if live and choice >= 3:
            target = data.draw(st.sampled_from(live))
        elif fitting and choice >= 1:
            target = data.draw(st.sampled_from(fitting))
        else:
            target = data.draw(st.sampled_from(anything))
        key = self.new_key()
        if how == "reverse":
            return EntryRequest(key=key, effective_date=None, reverse=target)
        if how == "void_pending":
            return EntryRequest(key=key, effective_date=None, void_pending=target)
        date = data.draw(st.none() | st.just(FIRST_DAY + dt.timedelta(days=40)))
        return EntryRequest(key=key, effective_date=date, post_pending=target)

    def clock_us(self) -> int:
        return self.model.now_us

    def submit(self, requests: list[EntryRequest]) -> None:
        self.model.expire()
        expected = [self.model.decide(request) for request in requests]
        results = post_entries(self.store, requests, actor="test", clock_us=self.clock_us).results
        self.submitted.extend(requests)
        for request, result, (outcome, codes, entry_id) in zip(
            requests, results, expected, strict=True
        ):
            assert result.key == request.key
            got = (result.outcome, {p.code for p in result.problems}, result.entry_id)
            assert got == (outcome, codes, entry_id), request

    # Rules

    @rule(data=st.data())
    def post(self, data: st.DataObject) -> None:
        self.submit([self.entry(data, pending=False)])

    @rule(data=st.data())
    def post_a_pending_entry(self, data: st.DataObject) -> None:
        self.submit([self.entry(data, pending=True)])

    @rule(data=st.data())
    def post_pending(self, data: st.DataObject) -> None:
        self.submit([self.resolution(data, "post_pending", self.model, self.submitted)])

    @rule(data=st.data())
    def void_pending(self, data: st.DataObject) -> None:
        self.submit([self.resolution(data, "void_pending", self.model, self.submitted)])

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        self.submit([self.resolution(data, "reverse", self.model, self.submitted)])

    @precondition(lambda self: bool(self.submitted))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        self.submit([data.draw(st.sampled_from(self.submitted))])

    @precondition(lambda self: bool(self.model.booked))
    @rule(data=st.data())
    def reuse_a_key_for_another_entry(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.booked)))
        other = data.draw(entry_requests(key))
        self.submit(
            [
                EntryRequest(
                    key=key,
                    effective_date=other.effective_date,
                    description=f"another entry {self.new_key()}",
                    postings=other.postings,
                )
            ]
        )

    @rule(data=st.data())
    def post_several_in_one_batch(self, data: st.DataObject) -> None:
        planned = self.model.copy()
        planned.expire()
        requests: list[EntryRequest] = []
        for _ in range(data.draw(st.integers(2, 5))):
            known = self.submitted + requests
            how = data.draw(st.sampled_from(BATCH_COMMANDS))
            if how in ("post", "pending"):
                request = self.entry(data, pending=how == "pending")
            elif how == "replay":
                request = (
                    data.draw(st.sampled_from(known)) if known else self.entry(data, pending=False)
                )
            else:
                request = self.resolution(data, how, planned, known)
            planned.decide(request)
            requests.append(request)
        self.submit(requests)

    @rule(seconds=st.sampled_from([5, 30, 90]))
    def time_passes(self, seconds: int) -> None:
        self.model.now_us += seconds * 1_000_000

    @rule()
    def expire_pending_entries(self) -> None:
        expected = self.model.expire()
        assert expire_pending(self.store, actor="test", clock_us=self.clock_us) == expected

    # Invariants

    @invariant()
    def books_equal_the_model_and_hold(self) -> None:
        stored = stored_balances(self.store)
        assert stored == {code: tuple(totals) for code, totals in self.model.balances.items()}
        assert breached_flags(stored) == []
        assert count_entries(self.store) == self.model.last_id
        assert_books_hold(self.store)


BATCH_COMMANDS = ("post", "pending", "post_pending", "void_pending", "reverse", "replay")


def test_any_sequence_of_ledger_commands_keeps_the_books_whole(fresh_books: FreshBooks) -> None:
    run_state_machine_as_test(
        lambda: LedgerMachine(fresh_books),  # type: ignore[arg-type]  # any factory will do
        settings=settings(ledger_settings, max_examples=40, stateful_step_count=30),
    )


# Input the database cannot hold ---------------------------------------------------------------


def test_a_description_with_a_nul_character_is_stored_or_refused_but_never_crashes(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    store = open_store(database_url)
    try:
        load_books(store)
        postings = (
            PostingRequest(FIRM_BANK[USD], "1.00"),
            PostingRequest(CLIENT_OPEN[USD], "-1.00"),
        )
        batch = [
            EntryRequest("good", FIRST_DAY, description="fine", postings=postings),
            EntryRequest("nul", FIRST_DAY, description="a\x00b", postings=postings),
        ]
        good, nul = post_entries(store, batch, actor="test").results
        assert good.outcome is EntryOutcome.CREATED
        if nul.outcome is EntryOutcome.CREATED:
            assert entries_by_key(store)["nul"]["description"] == "a\x00b"
        else:
            assert nul.outcome is EntryOutcome.FAILED
            assert nul.problems
        assert verify_ledger(store) == []
    finally:
        store.dispose()


# Expiry -------------------------------------------------------------------------------------


def test_every_timed_out_pending_entry_is_voided_whatever_its_key(
    fresh_books: FreshBooks,
) -> None:
    with fresh_books() as store:
        prefix = "settlement/2026-01-02/" + "x" * 172
        postings = (
            PostingRequest(FIRM_HOUSE[USD], "1.00"),
            PostingRequest(CLIENT_OPEN[USD], "-1.00"),
        )
        pendings = [
            EntryRequest(
                f"{prefix}-{suffix}",
                FIRST_DAY,
                postings=postings,
                pending=True,
                timeout_seconds=10,
            )
            for suffix in ("a", "b")
        ]
        results = post_entries(store, pendings, actor="test", clock_us=lambda: START_US).results
        assert {r.outcome for r in results} == {EntryOutcome.CREATED}

        def later() -> int:
            return START_US + 11_000_000

        assert expire_pending(store, actor="test", clock_us=later) == 2
        assert stored_balances(store)[FIRM_HOUSE[USD]][2:] == (0, 0)
