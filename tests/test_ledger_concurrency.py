"""Several processes posting to the same accounts at once lose no update and never breach a
balance flag. On PostgreSQL writers take turns on the chain head's row lock; on SQLite they
queue on the database's write lock (BEGIN IMMEDIATE)."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from collections import Counter

import orjson
import pytest
from books import (
    CLIENT_GUARDED,
    FIRM_BANK,
    USD,
    breached_flags,
    count_entries,
    load_books,
    stored_balances,
    sums_by_account,
)

from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.rules import GENESIS_HASH
from backoffice.ledger.service import post_entries
from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import Store, open_store

pytestmark = pytest.mark.slow

WORKERS = 4
OPERATIONS_PER_WORKER = 60
OPENING_DEPOSIT_MINOR = 10_000
# Per operation: a withdrawal takes more than a deposit brings, so the client's money runs
# out early and from then on every withdrawal races the others for what deposits bring in.
AMOUNTS_MINOR = {"withdraw": 700, "deposit": 300, "hold": 500}
wait_seconds = 120
FLAG_CODES = frozenset({"debits_exceed_credits", "credits_exceed_debits"})

# One worker: open the store, say "ready", wait for "go", then post its plan one entry per
# transaction and print every outcome as JSON. A hold is a pending withdrawal that the worker
# then posts or voids by key.
WORKER = """
import datetime as dt, json, sys, time
from backoffice.ledger.model import EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries
from backoffice.store.engine import open_store

url, name, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client, bank = plan["client"], plan["bank"]
store = open_store(url, migrate=False)
print("ready", flush=True)
sys.stdin.readline()
day = dt.date(2026, 1, 2)
outcomes = {}

def post(request):
    (result,) = post_entries(store, [request], actor=name).results
    outcomes[request.key] = [result.outcome.value, [p.code for p in result.problems]]
    return result.outcome.value

for index, (operation, amount, settle) in enumerate(plan["operations"]):
    time.sleep(plan["pause_seconds"])
    key = f"{name}/{index}"
    withdrawal = (PostingRequest(client, amount), PostingRequest(bank, "-" + amount))
    deposit = (PostingRequest(bank, amount), PostingRequest(client, "-" + amount))
    if operation == "hold":
        held = post(EntryRequest(key, day, postings=withdrawal, pending=True))
        if held == "created":
            resolution = {"post_pending": key} if settle else {"void_pending": key}
            post(EntryRequest(key + "/settle", None, **resolution))
    else:
        post(EntryRequest(key, day, postings=withdrawal if operation == "withdraw" else deposit))
print(json.dumps(outcomes))
"""


def operations_of(worker: int) -> list[tuple[str, str, bool]]:
    """(operation, amount, settle) for each step of a worker: withdrawals, deposits and
    holds, the workers out of step with each other; a hold is posted or voided by turns."""
    cycle = ("withdraw", "deposit", "withdraw", "hold")
    operations = []
    for index in range(OPERATIONS_PER_WORKER):
        operation = cycle[(index + worker) % len(cycle)]
        minor = AMOUNTS_MINOR[operation]
        operations.append((operation, f"{minor // 100}.{minor % 100:02d}", index % 8 < 4))
    return operations


def plan_of(worker: int, url: str) -> dict[str, object]:
    return {
        "pause_seconds": pause_seconds(url),
        "client": CLIENT_GUARDED[USD],
        "bank": FIRM_BANK[USD],
        "operations": operations_of(worker),
    }


def pause_seconds(url: str) -> float:
    """SQLite's busy handler waits by sleeping, so a writer that begins its next transaction at
    once keeps the lock and the others run after it, one by one. A short pause between
    transactions lets the queued writers in, so that they do take turns."""
    return 0.005 if url.startswith("sqlite") else 0.0


def run_workers(url: str) -> dict[str, tuple[str, list[str]]]:
    """Start every worker, let them all go at once, and gather their outcomes by key."""
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                url,
                f"w{worker}",
                orjson.dumps(plan_of(worker, url)).decode(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.communicate()[1]
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outcomes: dict[str, tuple[str, list[str]]] = {}
        for worker in workers:
            output, errors = worker.communicate(timeout=wait_seconds)
            assert worker.returncode == 0, errors
            outcomes.update(orjson.loads(output.strip().splitlines()[-1]))
        return outcomes
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def expected_client_totals(
    outcomes: dict[str, tuple[str, list[str]]],
) -> tuple[int, int, int, int]:
    """The client account's totals from what the workers were told was created."""
    debits = credits = 0
    for worker in range(WORKERS):
        for index, (operation, _, settle) in enumerate(operations_of(worker)):
            key = f"w{worker}/{index}"
            if outcomes[key][0] != "created":
                continue
            if operation == "deposit":
                credits += AMOUNTS_MINOR["deposit"]
            elif operation == "withdraw":
                debits += AMOUNTS_MINOR["withdraw"]
            elif settle and outcomes[f"{key}/settle"][0] == "created":
                debits += AMOUNTS_MINOR["hold"]
    return (debits, credits + OPENING_DEPOSIT_MINOR, 0, 0)


def chain_links(store: Store) -> list[tuple[int, str, str, str]]:
    """(id, actor, prev_hash, hash) of every entry in chain order."""
    with store.read() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, actor, prev_hash, hash FROM journal_entries ORDER BY id"
        ).all()
    return [(int(row[0]), str(row[1]), str(row[2]), str(row[3])) for row in rows]


def test_concurrent_writers_lose_no_update_and_never_breach_a_balance_flag(
    database_url: str,
) -> None:
    store = open_store(database_url)
    try:
        load_books(store)
        opening = EntryRequest(
            "opening",
            dt.date(2026, 1, 2),
            postings=(
                PostingRequest(FIRM_BANK[USD], "100.00"),
                PostingRequest(CLIENT_GUARDED[USD], "-100.00"),
            ),
        )
        (opened,) = post_entries(store, [opening], actor="test").results
        assert opened.outcome is EntryOutcome.CREATED

        outcomes = run_workers(database_url)

        tally = Counter((outcome, frozenset(codes)) for outcome, codes in outcomes.values())
        # Every refusal was the flags of the client and the bank, and they were both hit and
        # passed many times.
        created: tuple[str, frozenset[str]] = ("created", frozenset())
        refused = ("failed", FLAG_CODES)
        assert set(tally) == {created, refused}, tally
        withdrawals = Counter(
            outcomes[f"w{worker}/{index}"][0]
            for worker in range(WORKERS)
            for index, (operation, _, _) in enumerate(operations_of(worker))
            if operation == "withdraw"
        )
        assert withdrawals["created"] > WORKERS
        assert withdrawals["failed"] > WORKERS

        balances = stored_balances(store)
        client = balances[CLIENT_GUARDED[USD]]
        assert client == expected_client_totals(outcomes)
        bank = balances[FIRM_BANK[USD]]
        assert bank == (client[1], client[0], client[3], client[2])
        assert breached_flags(balances) == []
        assert balances == sums_by_account(store)
        assert count_entries(store) == 1 + tally[created]
        assert verify_ledger(store) == []

        links = chain_links(store)
        assert [entry_id for entry_id, _, _, _ in links] == list(range(1, len(links) + 1))
        previous = GENESIS_HASH
        for _, _, prev_hash, entry_hash in links:
            assert prev_hash == previous
            previous = entry_hash
        # The writers did run at the same time: the chain goes back and forth between them.
        actors = [actor for _, actor, _, _ in links[1:]]
        switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
        assert switches > WORKERS * 4, switches
    finally:
        store.dispose()
