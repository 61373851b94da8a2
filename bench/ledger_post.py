"""Ledger posting throughput, measured against the physical limit of each database.

For each database asked for, the benchmark

1. creates a fresh database (a SQLite file in a temporary directory; a PostgreSQL database of
   its own, dropped at the end) and loads reference data through `load_refdata`: a few
   currencies, a few ISIN securities and `--accounts` accounts;
2. times `post_entries(store, requests, actor=...)` on `--entries` entry requests of two to
   four postings (cash transfers and DvP settlements, decimal-string amounts), generated once
   before any timing;
3. times the physical limit: the same rows (read back from our tables, with the columns of
   ENTRY_COLUMNS and POSTING_COLUMNS) appended to plain tables of the same database with no
   constraint, index, trigger or check, in one transaction: `executemany` on the sqlite3
   driver with our PRAGMAs (WAL, synchronous=FULL), COPY through psycopg on PostgreSQL;
4. prints entries/s and postings/s for both, the ratio ours/raw and whether the targets are
   met, and checks that the ledger holds every entry (and runs `verify_ledger` on small runs).

    .venv/bin/python -m bench.ledger_post --entries 50000
    .venv/bin/python -m bench.ledger_post --databases sqlite --entries 200000 --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from backoffice.formats.refdata_file import RefdataFile
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries
from backoffice.ledger.verify import verify_ledger
from backoffice.money import format_amount
from backoffice.refdata.model import Account, AccountType, Asset, AssetKind, Party, PartyKind
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store, database_url, open_store
from backoffice.store.ledger_repository import ENTRY_COLUMNS, POSTING_COLUMNS

DATABASES = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACTOR = "bench"
COMMAND = "bench.ledger_post"

# (code, scale, weight): how often entries move each currency.
CURRENCIES = (("USD", 2, 5), ("EUR", 2, 3), ("GBP", 2, 1), ("JPY", 0, 1))
# (ISIN, scale, name); one security is held in fractional shares.
SECURITIES = (
    ("US0378331005", 0, "Apple Inc."),
    ("US5949181045", 0, "Microsoft Corp."),
    ("DE0007164600", 4, "SAP SE (fractional)"),
    ("GB0002634946", 0, "BAE Systems plc"),
)
ASSET_CODES = tuple(code for code, _, _ in CURRENCIES) + tuple(code for code, _, _ in SECURITIES)
SCALES = {code: scale for code, scale, _ in (*CURRENCIES, *SECURITIES)}
DVP_SHARE = 0.30  # the rest: cash transfers of 2 (60%), 3 (30%) or 4 (10%) postings

TARGET_RATIO = 0.5
TARGET_SQLITE_POSTINGS_PER_S = 100_000
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL")

# The plain tables of the raw baseline: our columns and types, without any constraint.
COLUMN_TYPES = {
    "id": "BIGINT",
    "key": "VARCHAR(200)",
    "body_hash": "VARCHAR(64)",
    "kind": "VARCHAR(16)",
    "effective_date": "DATE",
    "booked_at_us": "BIGINT",
    "description": "TEXT",
    "reference": "VARCHAR(200)",
    "actor": "VARCHAR(200)",
    "source": "TEXT",
    "metadata_json": "TEXT",
    "pending_id": "BIGINT",
    "reversal_of": "BIGINT",
    "expires_at_us": "BIGINT",
    "prev_hash": "VARCHAR(64)",
    "hash": "VARCHAR(64)",
    "entry_id": "BIGINT",
    "line": "INTEGER",
    "account_id": "BIGINT",
    "asset_id": "BIGINT",
    "amount_minor": "BIGINT",
}
RAW_TABLES = (
    ("raw_postings", "postings", "entry_id, line", POSTING_COLUMNS),
    ("raw_journal_entries", "journal_entries", "id", ENTRY_COLUMNS),
)

Rows = list[tuple[Any, ...]]


# Reference data and requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Book:
    refdata: RefdataFile
    # For each asset, the account code of every party that has an account in every asset.
    accounts: dict[str, list[str]]

    @property
    def parties(self) -> int:
        return len(self.accounts[ASSET_CODES[0]])


def build_refdata(account_count: int) -> Book:
    """Account i belongs to party i // len(assets) and holds asset i % len(assets)."""
    per_party = len(ASSET_CODES)
    if account_count < 4 * per_party:
        raise SystemExit(f"--accounts must be at least {4 * per_party} (4 full parties)")
    assets = [Asset(code, AssetKind.CURRENCY, scale, code) for code, scale, _ in CURRENCIES]
    assets += [Asset(code, AssetKind.SECURITY, scale, name) for code, scale, name in SECURITIES]
    party_count = -(-account_count // per_party)
    parties = [
        Party(f"C{p:07d}", PartyKind.CLIENT, f"Bench client {p}") for p in range(party_count)
    ]
    accounts: list[Account] = []
    by_asset: dict[str, list[str]] = {code: [] for code in ASSET_CODES}
    full_parties = account_count // per_party
    for index in range(account_count):
        party, asset = divmod(index, per_party)
        asset_code = ASSET_CODES[asset]
        kind = "cash" if asset < len(CURRENCIES) else "securities"
        code = f"client/C{party:07d}/{kind}/{asset_code}"
        accounts.append(
            Account(code, AccountType.LIABILITY, asset_code, f"C{party:07d}", name=code)
        )
        if party < full_parties:
            by_asset[asset_code].append(code)
    return Book(RefdataFile(assets=assets, parties=parties, accounts=accounts), by_asset)


def generate_requests(count: int, book: Book, seed: int) -> list[EntryRequest]:
    """Balanced entries: DvP settlements (cash + securities legs) and cash transfers."""
    rng = random.Random(seed)
    rand, randrange, sample = rng.random, rng.randrange, rng.sample
    parties = range(book.parties)
    currencies = [code for code, _, weight in CURRENCIES for _ in range(weight)]
    securities = [code for code, _, _ in SECURITIES]
    dates = [dt.date(2025, 1, 2) + dt.timedelta(days=day) for day in range(30)]

    def amount(minor: int, asset: str) -> str:
        return format_amount(minor, SCALES[asset])

    requests: list[EntryRequest] = []
    for index in range(count):
        currency = currencies[randrange(len(currencies))]
        cash = book.accounts[currency]
        roll = rand()
        reference = None
        if roll < DVP_SHARE:
            security = securities[randrange(len(securities))]
            held = book.accounts[security]
            buyer, seller = sample(parties, 2)
            price = randrange(100, 100_000_000)
            quantity = randrange(1, 100_000)
            postings: tuple[PostingRequest, ...] = (
                PostingRequest(cash[seller], amount(price, currency)),
                PostingRequest(cash[buyer], amount(-price, currency)),
                PostingRequest(held[buyer], amount(quantity, security)),
                PostingRequest(held[seller], amount(-quantity, security)),
            )
            description = f"DvP {security} against {currency}"
            reference = f"T{index:010d}"
        else:
            roll = (roll - DVP_SHARE) / (1 - DVP_SHARE)
            legs = 2 if roll < 0.6 else 3 if roll < 0.9 else 4
            chosen = sample(parties, legs)
            first = randrange(1, 10_000_000)
            second = randrange(1, 10_000_000)
            if legs == 2:
                moves = ((chosen[0], first), (chosen[1], -first))
            elif legs == 3:
                moves = ((chosen[0], first + second), (chosen[1], -first), (chosen[2], -second))
            else:
                moves = (
                    (chosen[0], first),
                    (chosen[1], second),
                    (chosen[2], -first),
                    (chosen[3], -second),
                )
            postings = tuple(PostingRequest(cash[p], amount(m, currency)) for p, m in moves)
            description = f"cash transfer {currency}"
        requests.append(
            EntryRequest(
                key=f"bench/{seed}/{index:010d}",
                effective_date=dates[index % len(dates)],
                description=description,
                postings=postings,
                reference=reference,
            )
        )
    return requests


# Measurements --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    seconds: float
    cpu_seconds: float
    entries: int
    postings: int

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds

    @property
    def postings_per_s(self) -> float:
        return self.postings / self.seconds


@contextmanager
def timed(label: str, entries: int, postings: int, into: list[Timing]) -> Iterator[None]:
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    yield
    into.append(
        Timing(
            label,
            time.perf_counter() - start,
            time.process_time() - cpu,
            entries,
            postings,
        )
    )


def progress_printer(total: int, label: str) -> Callable[[int], None]:
    done = 0
    step = max(total // 10, 1)
    next_report = step
    start = time.perf_counter()

    def report(count: int) -> None:
        nonlocal done, next_report
        done += count
        if done >= next_report or done >= total:
            elapsed = time.perf_counter() - start
            print(f"  {label}: {done:,}/{total:,} entries, {elapsed:.1f} s", file=sys.stderr)
            next_report = done + step

    return report


def post_ours(
    store: Store,
    requests: Sequence[EntryRequest],
    postings: int,
    timings: list[Timing],
    profile: Path | None,
) -> None:
    progress = progress_printer(len(requests), f"{store.dialect} post_entries")
    profiler = cProfile.Profile() if profile is not None else None
    with timed("ours: post_entries", len(requests), postings, timings):
        if profiler is not None:
            profiler.enable()
        result = post_entries(store, requests, actor=ACTOR, command=COMMAND, progress=progress)
        if profiler is not None:
            profiler.disable()
    outcomes = Counter(r.outcome for r in result.results)
    if outcomes[EntryOutcome.CREATED] != len(requests):
        failed = [r for r in result.results if r.outcome is not EntryOutcome.CREATED][:5]
        raise SystemExit(f"post_entries did not create every entry: {dict(outcomes)}; {failed}")
    if profiler is not None and profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        path = profile / f"post_entries_{store.dialect}.prof"
        profiler.dump_stats(path)
        print(f"  profile written to {path}", file=sys.stderr)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


def check_ledger(store: Store, entries: int, postings: int, verify_max: int) -> str:
    with store.read() as connection:
        stored_entries = connection.exec_driver_sql("SELECT count(*) FROM journal_entries").scalar()
        stored_postings = connection.exec_driver_sql("SELECT count(*) FROM postings").scalar()
    if (stored_entries, stored_postings) != (entries, postings):
        raise SystemExit(
            f"ledger holds {stored_entries} entries and {stored_postings} postings;"
            f" expected {entries} and {postings}"
        )
    verdict = f"holds {stored_entries:,} entries and {stored_postings:,} postings"
    if entries > verify_max:
        return f"{verdict}; verify_ledger skipped (N > {verify_max:,})"
    started = time.perf_counter()
    problems = verify_ledger(store)
    if problems:
        raise SystemExit(f"verify_ledger found {len(problems)} problems: {problems[:5]}")
    return f"{verdict}; verify_ledger: no problem ({time.perf_counter() - started:.1f} s)"


def read_rows(cursor: Any, table: str, order: str, columns: Sequence[str]) -> Rows:
    cursor.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
    return [tuple(row) for row in cursor.fetchall()]


def raw_table_sql(table: str, columns: Sequence[str]) -> str:
    return f"CREATE TABLE {table} ({', '.join(f'{c} {COLUMN_TYPES[c]}' for c in columns)})"


def raw_sqlite(path: Path, entries: int, postings: int, timings: list[Timing]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in SQLITE_PRAGMAS:
            connection.execute(pragma)
        cursor = connection.cursor()
        rows = {raw: read_rows(cursor, ours, order, cols) for raw, ours, order, cols in RAW_TABLES}
        for raw, _, _, columns in RAW_TABLES:
            connection.execute(raw_table_sql(raw, columns))
        with timed("raw: sqlite3 executemany", entries, postings, timings):
            connection.execute("BEGIN")
            for raw, _, _, columns in RAW_TABLES:
                marks = ", ".join("?" for _ in columns)
                connection.executemany(
                    f"INSERT INTO {raw} ({', '.join(columns)}) VALUES ({marks})", rows[raw]
                )
            connection.execute("COMMIT")
        del rows
        counted = [
            connection.execute(f"SELECT count(*) FROM {raw}").fetchone()[0]
            for raw, *_ in RAW_TABLES
        ]
    finally:
        connection.close()
    if counted != [postings, entries]:
        raise SystemExit(f"raw SQLite tables hold {counted}, expected {[postings, entries]}")


def raw_postgresql(conninfo: str, entries: int, postings: int, timings: list[Timing]) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        with connection.cursor() as cursor:
            rows = {
                raw: read_rows(cursor, ours, order, columns)
                for raw, ours, order, columns in RAW_TABLES
            }
        # The service hands dates to COPY as ISO text; do the same.
        date_at = ENTRY_COLUMNS.index("effective_date")
        rows["raw_journal_entries"] = [
            (*row[:date_at], row[date_at].isoformat(), *row[date_at + 1 :])
            for row in rows["raw_journal_entries"]
        ]
        for raw, _, _, columns in RAW_TABLES:
            connection.execute(raw_table_sql(raw, columns))
        with (
            timed("raw: psycopg COPY", entries, postings, timings),
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            for raw, _, _, columns in RAW_TABLES:
                with cursor.copy(f"COPY {raw} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows[raw]:
                        copy.write_row(row)
        del rows
        counted = [
            connection.execute(f"SELECT count(*) FROM {raw}").fetchone()[0]  # type: ignore[index]
            for raw, *_ in RAW_TABLES
        ]
    if counted != [postings, entries]:
        raise SystemExit(f"raw PostgreSQL tables hold {counted}, expected {[postings, entries]}")


# Databases -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """A fresh database: the store's URL, how to reach it raw, and how to describe it."""

    url: str
    raw: str  # the SQLite file, or the libpq conninfo
    settings: str


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[Target]:
    path = workdir / "bench_ledger.db"
    settings = f"SQLite {sqlite3.sqlite_version}, journal_mode=WAL, synchronous=FULL"
    yield Target(f"sqlite:///{path}", str(path), settings)


@contextmanager
def postgresql_database(admin_url: str) -> Iterator[Target]:
    url = sa.engine.make_url(database_url(admin_url))
    name = f"bench_ledger_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
            shown = [
                f"{setting}={connection.exec_driver_sql(f'SHOW {setting}').scalar()}"
                for setting in ("synchronous_commit", "fsync", "shared_buffers", "wal_level")
            ]
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        bench_url = url.set(database=name)
        conninfo = bench_url.set(drivername="postgresql").render_as_string(hide_password=False)
        yield Target(
            bench_url.render_as_string(hide_password=False),
            conninfo,
            f"PostgreSQL {version}, {', '.join(shown)}, database {name}",
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@dataclass(slots=True)
class Report:
    database: str
    settings: str
    accounts: int
    timings: list[Timing]
    ledger: str
    refdata_seconds: float
    load: tuple[float, float]  # 1-minute load average before and after: the machine is shared

    def print(self) -> None:
        ours, raw = self.timings
        ratio = ours.postings_per_s / raw.postings_per_s
        print()
        print(f"== {self.database}: {self.settings}")
        print(
            f"   {ours.entries:,} entries, {ours.postings:,} postings,"
            f" {self.accounts:,} accounts (refdata loaded in {self.refdata_seconds:.1f} s)"
        )
        print(
            f"   {'':28} {'seconds':>9} {'client CPU s':>13} {'entries/s':>11} {'postings/s':>11}"
        )
        for timing in self.timings:
            print(
                f"   {timing.label:28} {timing.seconds:9.2f} {timing.cpu_seconds:13.2f}"
                f" {timing.entries_per_s:11,.0f} {timing.postings_per_s:11,.0f}"
            )
        print(f"   {'ratio ours/raw':28} {'':9} {'':13} {ratio:11.3f} {ratio:11.3f}")
        print(f"   target ratio >= {TARGET_RATIO}: {met(ratio >= TARGET_RATIO)} ({ratio:.3f})")
        if self.database == "sqlite":
            print(
                f"   target >= {TARGET_SQLITE_POSTINGS_PER_S:,} postings/s on SQLite:"
                f" {met(ours.postings_per_s >= TARGET_SQLITE_POSTINGS_PER_S)}"
                f" ({ours.postings_per_s:,.0f})"
            )
        print(f"   ledger check: {self.ledger}")
        before, after = self.load
        print(
            f"   1-min load average before/after: {before:.2f}/{after:.2f}"
            f" on {os.cpu_count()} CPUs (other processes skew the figures)",
            flush=True,
        )


def met(condition: bool) -> str:
    return "MET" if condition else "NOT MET"


def run_database(
    database: str,
    target: Target,
    book: Book,
    requests: Sequence[EntryRequest],
    postings: int,
    args: argparse.Namespace,
) -> Report:
    print(f"[{database}] {target.settings}", file=sys.stderr)
    load_before = os.getloadavg()[0]
    store = open_store(target.url)
    try:
        started = time.perf_counter()
        load_refdata(store, book.refdata, actor=ACTOR, source="bench")
        refdata_seconds = time.perf_counter() - started
        timings: list[Timing] = []
        post_ours(store, requests, postings, timings, args.profile)
        ledger = check_ledger(store, len(requests), postings, args.verify_max)
    finally:
        store.dispose()
    print(f"[{database}] raw baseline", file=sys.stderr)
    if database == "sqlite":
        raw_sqlite(Path(target.raw), len(requests), postings, timings)
    else:
        raw_postgresql(target.raw, len(requests), postings, timings)
    return Report(
        database,
        target.settings,
        len(book.refdata.accounts),
        timings,
        ledger,
        refdata_seconds,
        (load_before, os.getloadavg()[0]),
    )


def database_context(
    database: str, args: argparse.Namespace, workdir: Path
) -> AbstractContextManager[Target]:
    if database == "sqlite":
        return sqlite_database(workdir)
    return postgresql_database(args.postgres_url)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to post")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts in the refdata")
    parser.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BACKOFFICE_BENCH_POSTGRES", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server URL; the benchmark creates and drops a database of its own",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--verify-max",
        type=int,
        default=100_000,
        help="run verify_ledger after posting when --entries is at most this (0: never)",
    )
    parser.add_argument(
        "--profile", type=Path, help="directory for a cProfile of post_entries per database"
    )
    parser.add_argument("--tmpdir", type=Path, help="where the SQLite file goes")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - set(DATABASES)
    if unknown or not args.databases:
        parser.error(f"--databases takes {', '.join(DATABASES)}; got {args.databases}")
    if args.entries < 1:
        parser.error("--entries must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    book = build_refdata(args.accounts)
    started = time.perf_counter()
    requests = generate_requests(args.entries, book, args.seed)
    postings = sum(len(r.postings) for r in requests)
    print(
        f"generated {len(requests):,} entries / {postings:,} postings"
        f" in {time.perf_counter() - started:.1f} s (not timed)",
        file=sys.stderr,
    )
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="bench_ledger_", dir=args.tmpdir) as workdir:
        for database in args.databases:
            with database_context(database, args, Path(workdir)) as target:
                report = run_database(database, target, book, requests, postings, args)
            report.print()
            reports.append(report)
    print()
    print("summary")
    for report in reports:
        ours, raw = report.timings
        ratio = ours.postings_per_s / raw.postings_per_s
        print(
            f"   {report.database:10} ours {ours.postings_per_s:11,.0f} postings/s"
            f"  raw {raw.postings_per_s:11,.0f} postings/s  ratio {ratio:.3f}"
            f" ({met(ratio >= TARGET_RATIO)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
