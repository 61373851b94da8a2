"""A `ledger post` killed with SIGKILL halfway through a large file loses at most the
transaction in flight, leaves books that verify, and the same command run again finishes the
job: the books end exactly as after a run that was never interrupted."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from books import (
    CLIENT_GUARDED,
    CLIENT_OPEN,
    FIRM_BANK,
    FIRM_HOUSE,
    ISIN,
    USD,
    count_entries,
    entries_by_key,
    load_books,
    stored_balances,
)

from backoffice.ledger.queries import quarantined
from backoffice.ledger.reports import trial_balance
from backoffice.ledger.service import batch_entries_max
from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import open_store

pytestmark = pytest.mark.slow

LINES = 60_000
BACKOFFICE = str(Path(sys.executable).with_name("backoffice"))
wait_seconds_max = 120


def entry_line(number: int) -> dict[str, object]:
    """Line `number` of the file: transfers, deposits, a trade in two assets, pending entries
    that are posted or voided a few lines later, and reversals, some of an entry in an earlier
    transaction. No line breaks a balance flag, so every line is created."""
    key = f"e{number}"
    day = f"2026-01-{number % 28 + 1:02d}"
    cents = f"{number % 997 + 1}.{number % 100:02d}"
    shares = str(number % 89 + 1)

    def entry(*postings: tuple[str, str], **fields: object) -> dict[str, object]:
        return {
            "key": key,
            "date": day,
            "description": f"line {number}",
            "postings": [{"account": a, "amount": m} for a, m in postings],
            **fields,
        }

    def negative(amount: str) -> str:
        return f"-{amount}"

    kind = number % 10
    if kind == 0:
        return entry((FIRM_HOUSE[USD], negative(cents)), (CLIENT_OPEN[USD], cents), pending=True)
    if kind == 1:
        return entry(
            (FIRM_HOUSE[ISIN], negative(shares)), (CLIENT_OPEN[ISIN], shares), pending=True
        )
    if kind == 2:
        return entry((FIRM_BANK[USD], cents), (CLIENT_GUARDED[USD], negative(cents)))
    if kind == 3:
        return {"key": key, "post_pending": f"e{number - 3}"}
    if kind == 4 and number % 1000 == 4 and number > batch_entries_max:
        # A reversal of an entry committed in the previous transaction, dated on its day (a
        # correction may not be dated before what it corrects).
        target = number - batch_entries_max + 5
        return {"key": key, "reverse": f"e{target}", "date": f"2026-01-{target % 28 + 1:02d}"}
    if kind == 5:
        return entry(
            (CLIENT_OPEN[USD], negative(cents)),
            (FIRM_HOUSE[USD], cents),
            (FIRM_HOUSE[ISIN], negative(shares)),
            (CLIENT_OPEN[ISIN], shares),
            reference=f"trade-{number}",
            metadata={"desk": "equities", "line": number},
        )
    if kind == 6:
        return {"key": key, "void_pending": f"e{number - 5}"}
    if kind == 8:
        return {"key": key, "reverse": f"e{number - 1}"}
    if kind == 9:
        return entry((FIRM_BANK[ISIN], shares), (CLIENT_GUARDED[ISIN], negative(shares)))
    return entry((FIRM_HOUSE[USD], cents), (CLIENT_OPEN[USD], negative(cents)))


@pytest.fixture(scope="module")
def entries_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "entries.jsonl"
    with path.open("wb") as stream:
        for number in range(LINES):
            stream.write(orjson.dumps(entry_line(number)) + b"\n")
    return path


@pytest.fixture
def reference_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database of the same kind, for the run that is never interrupted."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    found = re.fullmatch(r"(.*)([?&])options=-csearch_path%3D(\w+)", database_url)
    assert found is not None, database_url
    server, separator, schema = found.groups()
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}_reference")
    try:
        yield f"{server}{separator}options=-csearch_path%3D{schema}_reference"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema}_reference CASCADE")
        admin.dispose()


def post_command(url: str, path: Path) -> list[str]:
    return [BACKOFFICE, "--db", url, "ledger", "post", str(path)]


def test_a_post_killed_midway_verifies_and_the_same_command_finishes_the_job(
    database_url: str, reference_url: str, entries_file: Path
) -> None:
    for url in (database_url, reference_url):
        books = open_store(url)
        load_books(books)
        books.dispose()
    # The uninterrupted run, in parallel with the rest of the test.
    reference = subprocess.Popen(
        post_command(reference_url, entries_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = open_store(database_url)
    try:
        victim = subprocess.Popen(
            post_command(database_url, entries_file),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + wait_seconds_max
        while count_entries(store) == 0:
            assert victim.poll() is None, victim.communicate()[1]
            assert time.monotonic() < deadline, "no transaction committed in time"
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait(wait_seconds_max)
        assert victim.returncode == -signal.SIGKILL
        committed = count_entries(store)
        assert 0 < committed < LINES
        # Whole transactions or nothing: the one in flight left no trace.
        assert committed % batch_entries_max == 0

        verified = subprocess.run(
            [BACKOFFICE, "--db", database_url, "ledger", "verify"],
            capture_output=True,
            text=True,
            timeout=wait_seconds_max,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr

        again = subprocess.run(
            post_command(database_url, entries_file),
            capture_output=True,
            text=True,
            timeout=wait_seconds_max,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert f"{LINES - committed} created, {committed} existing, 0 failed" in again.stderr

        _, reference_errors = reference.communicate(timeout=wait_seconds_max)
        assert reference.returncode == 0, reference_errors
        assert f"{LINES} created, 0 existing, 0 failed" in reference_errors

        uninterrupted = open_store(reference_url)
        try:
            assert count_entries(store) == LINES
            assert entries_by_key(store) == entries_by_key(uninterrupted)
            assert stored_balances(store) == stored_balances(uninterrupted)
            assert trial_balance(store) == trial_balance(uninterrupted)
            assert verify_ledger(store) == []
            assert quarantined(store).items == []
        finally:
            uninterrupted.dispose()
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
        store.dispose()
