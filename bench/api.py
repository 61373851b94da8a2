"""The REST API under load, on loopback, with the server as its own process.

For each database asked for, the benchmark

1. creates a fresh database (a SQLite file; a PostgreSQL database of its own, dropped at the
   end), loads reference data (`--accounts` client accounts, the trade bench's securities and
   clients), captures `--trades` executions in-process so the trade pages have something to
   show, and makes three users through the command layer: an admin, a writer (operations) and
   a reader (auditor), each with a token;
2. starts `backoffice serve` (one worker on SQLite, `--pg-workers` on PostgreSQL) and runs,
   for `--seconds` each, two phases: 8 writers posting entries of 2-4 postings, each entry its
   own request (`POST /api/v1/entries`), then batches of 1,000 (`{"entries": [...]}`), while
   8 readers page through balances of random accounts and the trade list (`next` links);
3. retries: `--retry-keys` entries, each sent by 8 clients at once with the same key and body
   (every answer must be 201 or 200, exactly one entry per key), then once with another body
   under the same key (409 `key_conflict`, and nothing changed);
4. stops the server and posts fresh entries through the same command in-process (`invoke` +
   `submit_entries_data`, one request per entry and then 1,000 per request, as the API does);
5. prints requests/s, p50, p95 and p99 per kind of request, entries/s through the API against
   the same entries in-process (the ratio), the targets, the client's CPU (it shares the
   machine with the server) and the load average.

    .venv/bin/python -m bench.api --seconds 60
    .venv/bin/python -m bench.api --databases postgresql --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from backoffice.admin.identity_service import add_user, authenticate, issue_token
from backoffice.commands.invocation import Access, invoke
from backoffice.formats.fix_log import read_fix_log
from backoffice.ledger.entry_approval_service import submit_entries_data
from backoffice.ledger.model import EntryRequest
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store, open_store
from backoffice.trades.service import import_executions
from bench.ledger_post import (
    DEFAULT_POSTGRES_URL,
    Book,
    Target,
    database_context,
    generate_requests,
)
from bench.ledger_post import build_refdata as ledger_refdata
from bench.trades_import import build_refdata as trades_refdata
from bench.trades_import import write_fix_log

DATABASES = ("sqlite", "postgresql")
BACKOFFICE = str(Path(sys.executable).with_name("backoffice"))
WRITERS = 8
READERS = 8
BATCH = 1_000  # entries per request in the batch phase (the API's own maximum)
BLOCK = 1_000  # entries generated at a time for the single-entry phase
TARGET_SINGLE_P95_S = 0.050  # on PostgreSQL at 8 clients
TARGET_BATCH_RATIO = 0.5
TRADE_CLIENTS = 200
TRADE_SECURITIES = 50


# Entries as the API takes them ----------------------------------------------------------------


def entry_document(request: EntryRequest) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key": request.key,
        "date": request.effective_date.isoformat() if request.effective_date else None,
        "description": request.description,
        "postings": [{"account": p.account, "amount": str(p.amount)} for p in request.postings],
    }
    if request.reference is not None:
        document["reference"] = request.reference
    return document


class EntrySource:
    """Fresh entries on demand, generated a block at a time (never a million held at once)."""

    def __init__(self, book: Book, seed: int) -> None:
        self.book = book
        self.seed = seed
        self.blocks = 0
        self.waiting: list[dict[str, Any]] = []

    def take(self, count: int) -> list[dict[str, Any]]:
        while len(self.waiting) < count:
            self.blocks += 1
            block = generate_requests(BLOCK, self.book, self.seed * 1_000_003 + self.blocks)
            self.waiting.extend(entry_document(request) for request in block)
        taken, self.waiting = self.waiting[:count], self.waiting[count:]
        return taken


# Figures ------------------------------------------------------------------------------------


@dataclass
class Kind:
    """The requests of one kind in one phase: latencies, statuses, entries created."""

    label: str
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    entries: int = 0  # entries created by these requests

    def add(self, seconds: float, status: int, entries: int = 0) -> None:
        self.seconds.append(seconds)
        self.statuses[status] += 1
        self.entries += entries

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Phase:
    name: str
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    kinds: dict[str, Kind] = field(default_factory=dict)

    def kind(self, label: str) -> Kind:
        return self.kinds.setdefault(label, Kind(label))


# The load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    writer: dict[str, str]
    reader: dict[str, str]


async def timed_request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.request(method, url, **kwargs)
    return time.perf_counter() - started, response


async def writer(
    client: httpx.AsyncClient, phase: Phase, source: EntrySource, per_request: int, until: float
) -> None:
    kind = phase.kind("POST /entries" + (" (1 entry)" if per_request == 1 else f" ({BATCH})"))
    while time.perf_counter() < until:
        documents = source.take(per_request)
        body = documents[0] if per_request == 1 else {"entries": documents}
        seconds, answer = await timed_request(
            client, "POST", "/api/v1/entries", content=orjson.dumps(body)
        )
        if per_request == 1:
            created = 1 if answer.status_code == 201 else 0
        else:
            created = int(answer.json()["created"]) if answer.status_code in (200, 201) else 0
        kind.add(seconds, answer.status_code, created)


async def reader(
    client: httpx.AsyncClient, phase: Phase, accounts: Sequence[str], seed: int, until: float
) -> None:
    rng = random.Random(seed)
    balances, trades = phase.kind("GET /balances"), phase.kind("GET /trades")
    cursor: str | None = None
    while time.perf_counter() < until:
        account = accounts[rng.randrange(len(accounts))]
        seconds, answer = await timed_request(
            client, "GET", "/api/v1/balances", params={"account": account}
        )
        balances.add(seconds, answer.status_code)
        params = {"limit": "50"} | ({"after": cursor} if cursor else {})
        seconds, answer = await timed_request(client, "GET", "/api/v1/trades", params=params)
        trades.add(seconds, answer.status_code)
        cursor = answer.json().get("next") if answer.status_code == 200 else None


async def load_phase(
    base: str, tokens: Tokens, name: str, source: EntrySource, per_request: int,
    accounts: Sequence[str], seconds: float,
) -> Phase:  # fmt: skip
    phase = Phase(name)
    limits = httpx.Limits(max_connections=WRITERS + READERS)
    async with (
        httpx.AsyncClient(base_url=base, headers=tokens.writer, limits=limits, timeout=120) as w,
        httpx.AsyncClient(base_url=base, headers=tokens.reader, limits=limits, timeout=120) as r,
    ):
        started, cpu = time.perf_counter(), time.process_time()
        until = started + seconds
        await asyncio.gather(
            *(writer(w, phase, source, per_request, until) for _ in range(WRITERS)),
            *(reader(r, phase, accounts, seed, until) for seed in range(READERS)),
        )
        phase.wall_s = time.perf_counter() - started
        phase.client_cpu_s = time.process_time() - cpu
    return phase


@dataclass
class Retries:
    keys: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    conflicts: Counter[int] = field(default_factory=Counter)
    entries_per_key: Counter[int] = field(default_factory=Counter)


async def retry_phase(base: str, tokens: Tokens, source: EntrySource, keys: int) -> Retries:
    found = Retries(keys=keys)
    async with httpx.AsyncClient(base_url=base, headers=tokens.writer, timeout=120) as client:
        for document in source.take(keys):
            body = orjson.dumps(document)
            answers = await asyncio.gather(
                *(client.post("/api/v1/entries", content=body) for _ in range(WRITERS))
            )
            found.statuses.update(answer.status_code for answer in answers)
            other = dict(document, description="the same key, another body")
            conflict = await client.post("/api/v1/entries", content=orjson.dumps(other))
            found.conflicts[conflict.status_code] += 1
    return found


# The server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(url: str, workers: int, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [BACKOFFICE, "--db", url, "serve", "--port", str(port), "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"the server did not start: see {log}")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


# Setting up and the in-process baseline -------------------------------------------------------


def prepare(store: Store, book: Book, trades: int, workdir: Path) -> Tokens:
    refdata = book.refdata
    extra = trades_refdata(TRADE_CLIENTS, TRADE_SECURITIES)
    refdata.assets.extend(asset for asset in extra.assets if asset.code != "USD")
    refdata.parties.extend(extra.parties)
    load_refdata(store, refdata, actor="bench", source="bench/api.py")
    login = pwd.getpwuid(os.getuid()).pw_name
    add_user(store, "admin", name="Bench admin", roles=["admin"], os_user=login, actor=login)
    add_user(
        store, "writer", name="Bench writer", roles=["operations"], os_user=None, actor="admin"
    )
    add_user(store, "reader", name="Bench reader", roles=["auditor"], os_user=None, actor="admin")
    if trades:
        log = workdir / "executions.fix"
        write_fix_log(log, trades, TRADE_CLIENTS, TRADE_SECURITIES, seed=7)
        import_executions(store, read_fix_log(log), actor="writer")

    def bearer(who: str) -> dict[str, str]:
        token = issue_token(store, who, expires_days=1, actor="admin").token
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    return Tokens(bearer("writer"), bearer("reader"))


def in_process(store: Store, tokens: Tokens, source: EntrySource, entries: int, per: int) -> Kind:
    """The same command the API runs, called directly: `invoke` + `submit_entries_data`."""
    token = tokens.writer["Authorization"].removeprefix("Bearer ")
    principal = authenticate(store, token=token, os_user="bench", local=False)
    kind = Kind(f"in-process ({per} per call)")
    for _ in range(max(1, entries // per)):
        data = b"".join(orjson.dumps(document) + b"\n" for document in source.take(per))
        started = time.perf_counter()
        with invoke(store, principal, "ledger.post", "ledger.post", access=Access.WRITE):
            result = submit_entries_data(store, principal, data, "bench")
        kind.add(time.perf_counter() - started, 201, getattr(result, "created", 0))
    return kind


def stored_entries(store: Store) -> int:
    with store.read() as connection:
        count = sa.select(sa.func.count()).select_from(schema.journal_entries)
        return int(connection.execute(count).scalar_one())


# The report ---------------------------------------------------------------------------------


def met(condition: bool) -> str:
    return "met" if condition else "NOT met"


def print_phase(phase: Phase) -> None:
    print(f"   -- {phase.name}: {phase.wall_s:.1f} s, client CPU {phase.client_cpu_s:.1f} s")
    print(f"   {'':26} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
          f" {'entries/s':>10}  statuses")  # fmt: skip
    for kind in phase.kinds.values():
        statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(kind.statuses.items()))
        print(
            f"   {kind.label:26} {len(kind.seconds):9,} {len(kind.seconds) / phase.wall_s:8,.0f}"
            f" {kind.quantile(0.5) * 1e3:8.1f} {kind.quantile(0.95) * 1e3:8.1f}"
            f" {kind.quantile(0.99) * 1e3:8.1f} {kind.entries / phase.wall_s:10,.0f}  {statuses}"
        )


def print_inprocess(single: Kind, batch: Kind, phases: Sequence[Phase]) -> tuple[float, float]:
    ratios = []
    for kind, phase in zip((single, batch), phases, strict=True):
        rate = kind.entries / sum(kind.seconds)
        api_rate = sum(k.entries for k in phase.kinds.values()) / phase.wall_s
        ratios.append(api_rate / rate)
        print(
            f"   {kind.label:26} {kind.entries:9,} entries {rate:10,.0f} entries/s;"
            f" through the API {api_rate:10,.0f}/s: ratio API/in-process {ratios[-1]:.3f}"
        )
    return ratios[0], ratios[1]


def print_retries(retries: Retries) -> bool:
    statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(retries.statuses.items()))
    conflicts = ", ".join(f"{code}: {n:,}" for code, n in sorted(retries.conflicts.items()))
    ok = (
        set(retries.statuses) <= {200, 201}
        and retries.statuses[201] == retries.keys
        and retries.conflicts == Counter({409: retries.keys})
    )
    print(f"   retries: {retries.keys:,} keys x {WRITERS} concurrent identical requests:"
          f" {statuses}; another body under each key: {conflicts}")  # fmt: skip
    print(f"   exactly one entry per key, no error but 409s: {met(ok)}")
    return ok


def run_database(database: str, target: Target, args: argparse.Namespace, workdir: Path) -> bool:
    store = open_store(target.url)
    book = ledger_refdata(args.accounts)
    started = time.perf_counter()
    tokens = prepare(store, book, args.trades, workdir)
    setup_s = time.perf_counter() - started
    accounts = [code for codes in book.accounts.values() for code in codes]
    initial = stored_entries(store)
    workers = 1 if database == "sqlite" else args.pg_workers
    load = os.getloadavg()[0]
    with served(target.url, workers, workdir / f"serve-{database}.log") as base:
        single = asyncio.run(
            load_phase(base, tokens, "single entries", EntrySource(book, 1), 1, accounts,
                       args.seconds)
        )  # fmt: skip
        batch = asyncio.run(
            load_phase(base, tokens, f"batches of {BATCH}", EntrySource(book, 2), BATCH,
                       accounts, args.seconds)
        )  # fmt: skip
        retries = asyncio.run(retry_phase(base, tokens, EntrySource(book, 3), args.retry_keys))
    through_api = stored_entries(store) - initial
    alone = in_process(store, tokens, EntrySource(book, 4), args.inprocess_singles, 1)
    batched = in_process(
        store, tokens, EntrySource(book, 5), min(args.inprocess_max, batch_entries(batch)), BATCH
    )
    created = batch_entries(single) + batch_entries(batch) + retries.keys
    in_process_stored = stored_entries(store) - initial - through_api
    print()
    print(f"== {database}: {target.settings}; {workers} server worker(s)")
    print(f"   {args.accounts:,} accounts, {args.trades:,} trades captured first;"
          f" set up in {setup_s:.1f} s; {WRITERS} writers and {READERS} readers")  # fmt: skip
    print_phase(single)
    print_phase(batch)
    ratio_single, ratio_batch = print_inprocess(alone, batched, (single, batch))
    retries_ok = print_retries(retries)
    p95 = single.kinds["POST /entries (1 entry)"].quantile(0.95)
    if database == "postgresql":
        print(f"   target single-entry POST p95 < {TARGET_SINGLE_P95_S * 1e3:.0f} ms:"
              f" {met(p95 < TARGET_SINGLE_P95_S)} ({p95 * 1e3:.1f} ms)")  # fmt: skip
    print(f"   target batch path >= {TARGET_BATCH_RATIO}x in-process:"
          f" {met(ratio_batch >= TARGET_BATCH_RATIO)} ({ratio_batch:.3f});"
          f" single entries {ratio_single:.3f}x")  # fmt: skip
    books_ok = through_api == created and in_process_stored == alone.entries + batched.entries
    print(f"   entries stored through the API {through_api:,} = created by the answers"
          f" {created:,}; in-process {in_process_stored:,}: {met(books_ok)}")  # fmt: skip
    print(f"   1-min load average before/after: {load:.2f}/{os.getloadavg()[0]:.2f}"
          f" on {os.cpu_count()} CPUs (client and server share them)", flush=True)  # fmt: skip
    store.engine.dispose()
    return retries_ok and books_ok


def batch_entries(phase: Phase) -> int:
    return sum(kind.entries for kind in phase.kinds.values())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each load phase")
    parser.add_argument("--accounts", type=int, default=2_000, help="client accounts")
    parser.add_argument("--trades", type=int, default=5_000, help="trades captured first")
    parser.add_argument("--retry-keys", type=int, default=100, help="keys retried 8x at once")
    parser.add_argument("--inprocess-singles", type=int, default=2_000)
    parser.add_argument("--inprocess-max", type=int, default=200_000, help="batched, at most")
    parser.add_argument("--pg-workers", type=int, default=2, help="server processes on PG")
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=list(DATABASES))
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BACKOFFICE_BENCH_POSTGRES", DEFAULT_POSTGRES_URL),
        help="an administrative URL: the benchmark creates and drops a database of its own",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        workdir = Path(folder)
        for database in args.databases:
            with database_context(database, args, workdir) as target:
                ok = run_database(database, target, args, workdir) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
