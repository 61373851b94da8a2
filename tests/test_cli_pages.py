"""Every listing reads one bounded page: `--limit` (default 100, at most `list_page_max`),
`--after CURSOR` for the next page, keyset over the id (never OFFSET), a hint with the cursor
when more exist, and `next` in the JSON."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from backoffice.ledger.model import EntryRequest, PostingRequest
from backoffice.ledger.queries import list_page_max
from backoffice.ledger.service import post_entries
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_BANK, USD, load_books
from tests.cli_runner import Cli
from tests.trading import execution, import_log, load_desk, write_log

QUARANTINED = 5_000


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL of every statement any engine runs meanwhile. SQLite's dialect writes every
    LIMIT as `LIMIT ? OFFSET ?`: an offset of 0 is shown as none."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.rstrip().endswith("OFFSET ?") and parameters[-1] == 0:
            statement = statement.rstrip().removesuffix("OFFSET ?")
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


def quarantine(store: Store, kind: str, count: int) -> None:
    """`count` refused lines of `kind`, as the importers store them."""
    rows = [
        {
            "kind": kind, "file": "day.log", "line": n, "raw_sha256": f"{n:064x}",
            "raw": f"line {n}", "problems_json": '[{"code": "x", "reason": "y"}]',
            "received_at_us": n, "resolved": False,
        }
        for n in range(1, count + 1)
    ]  # fmt: skip
    with store.write() as connection:
        connection.execute(sa.insert(schema.quarantine), rows)


def file_breaks(store: Store, count: int) -> None:
    rows = [
        {
            "break_id": f"BRK-{n:05d}", "type": "missing_in_books", "side": "statement",
            "external_account": "DE89370400440532013000", "scale": 2, "amount_minor": n,
            "value_date": dt.date(2026, 11, 16), "status": "open",
            "opened_on": dt.date(2026, 11, 16),
        }
        for n in range(1, count + 1)
    ]  # fmt: skip
    with store.write() as connection:
        connection.execute(sa.insert(schema.breaks), rows)


def post_deposits(store: Store, count: int) -> None:
    load_books(store)
    requests = [
        EntryRequest(
            key=f"dep-{n}", effective_date=dt.date(2026, 11, 16), description="deposit",
            postings=(PostingRequest(FIRM_BANK[USD], "1.00"),
                      PostingRequest(CLIENT_OPEN[USD], "-1.00")),
        )
        for n in range(count)
    ]  # fmt: skip
    post_entries(store, requests, actor="test")


def capture_trades(store: Store, count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        load_desk(store, Path(directory))
        log = write_log(Path(directory) / "day.log", [execution(f"E{n}") for n in range(count)])
        assert import_log(store, log).captured == count


Setup = Callable[[Store], None]
LISTINGS: dict[str, tuple[tuple[str, ...], Setup, int, str]] = {
    # command, rows, how many, the key each JSON item is known by
    "ledger quarantine": (
        ("ledger", "quarantine"), lambda s: quarantine(s, "ledger.post", QUARANTINED),
        QUARANTINED, "id",
    ),
    "trades quarantine": (
        ("trades", "quarantine"), lambda s: quarantine(s, "trades.import", QUARANTINED),
        QUARANTINED, "id",
    ),
    "recon quarantine": (
        ("recon", "quarantine"), lambda s: quarantine(s, "recon.import", 30), 30, "id",
    ),
    "settlement quarantine": (
        ("settlement", "quarantine"), lambda s: quarantine(s, "settlement.status", 30), 30, "id",
    ),
    "recon breaks": (("recon", "breaks"), lambda s: file_breaks(s, 1_200), 1_200, "break_id"),
    "ledger entries": (("ledger", "entries"), lambda s: post_deposits(s, 25), 25, "key"),
    "trades list": (("trades", "list"), lambda s: capture_trades(s, 25), 25, "trade_id"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_a_listing_prints_one_page_and_its_cursor_leads_to_the_next(
    name: str, store: Store, cli: Cli, statements: list[str]
) -> None:
    command, setup, total, key = LISTINGS[name]
    setup(store)
    statements.clear()
    shown = cli(*command, "--limit", "10")
    assert shown.status == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 1 + 10  # the header and ten rows
    first = cli(*command, "--limit", "10", "--json").json()
    assert len(first["items"]) == 10
    assert f"more with --after {first['next']}" in shown.stderr
    listed = [item[key] for item in first["items"]]
    cursor = first["next"]
    while cursor is not None:
        page = cli(*command, "--limit", "400", "--after", cursor, "--json").json()
        assert len(page["items"]) <= 400
        listed += [item[key] for item in page["items"]]
        cursor = page["next"]
    assert len(listed) == len(set(listed)) == total
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    table = {"ledger entries": "journal_entries", "trades list": "trades"}.get(
        name, name.split()[1]
    )
    paged = [s for s in reads if f"FROM {table}" in s.replace('"', "")]
    assert paged
    assert all("LIMIT" in s.upper() and "OFFSET" not in s.upper() for s in paged), paged


def test_the_default_page_is_a_hundred_and_no_page_is_larger_than_the_named_limit(
    store: Store, cli: Cli
) -> None:
    quarantine(store, "ledger.post", 150)
    page = cli("ledger", "quarantine", "--json").json()
    assert (len(page["items"]), page["next"]) == (100, str(page["items"][-1]["id"]))
    last = cli("ledger", "quarantine", "--after", page["next"], "--json").json()
    assert (len(last["items"]), last["next"]) == (50, None)
    too_many = cli("ledger", "quarantine", "--limit", str(list_page_max + 1))
    assert too_many.status == 2
    assert "--limit" in too_many.stderr
    assert cli("ledger", "quarantine", "--after", "x").stderr.startswith("error: invalid_argument")
