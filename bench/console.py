"""The console's pages over HTTP on loopback, on a database of a million trades.

For each database asked for, the benchmark fills a fresh database with `--trades` executions
(`--clients` clients, `--securities` securities, the trade bench's FIX log captured and booked
through `import_executions` in chunks of `--chunk` lines, so memory stays bounded), starts
`backoffice serve` as its own process, logs in through the login form as an operations user
and times, `--requests` times each, one client after the other: Today, the trades list (its
first page, a page deep in the list, a client's trades, a status filter), one trade, the breaks
queue, the trial balance, an entry and the audit trail. It prints p50/p95/p99 per page and
whether each is under the target p95 of 200 ms.

    .venv/bin/python -m bench.console --trades 1000000
    .venv/bin/python -m bench.console --trades 100000 --databases sqlite
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from backoffice.admin.identity_service import add_user, set_new_password
from backoffice.formats.fix_log import read_fix_log
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import open_store
from backoffice.trades.service import import_executions
from bench.api import served
from bench.ledger_post import DEFAULT_POSTGRES_URL, Target, database_context
from bench.trades_import import build_refdata, write_fix_log

DATABASES = ("sqlite", "postgresql")
TARGET_P95_S = 0.200
PASSWORD = "bench password of the console"


def fill(
    target: Target, trades: int, clients: int, securities: int, chunk: int, work: Path
) -> float:
    """The reference data, two users, and the trades captured a chunk of lines at a time."""
    store = open_store(target.url)
    load_refdata(store, build_refdata(clients, securities), actor="bench", source="bench")
    login = pwd.getpwuid(os.getuid()).pw_name
    add_user(store, "admin", name="Admin", roles=["admin"], os_user=login, actor=login)
    add_user(
        store, "ops", name="Ops", roles=["operations", "compliance"], os_user=None, actor="admin"
    )
    set_new_password(store, "ops", PASSWORD, actor="admin")
    log = work / "executions.fix"
    write_fix_log(log, trades, clients, securities, seed=11)
    started = time.perf_counter()
    with log.open() as lines:
        part, number = work / "part.fix", 0
        while True:
            block = [line for _, line in zip(range(chunk), lines, strict=False)]
            if not block:
                break
            part.write_text("".join(block))
            import_executions(store, read_fix_log(part), actor="ops")
            number += len(block)
            print(f"   captured {number:,} trades", file=sys.stderr, flush=True)
    store.engine.dispose()
    return time.perf_counter() - started


def logged_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    answer = client.post("/login", data={"csrf": csrf.group(1), "login": "ops",
                                         "password": PASSWORD})  # fmt: skip
    assert answer.status_code == 303, answer.text
    return client


def pages(client: httpx.Client, trades: int, clients: int) -> dict[str, str]:
    deep = client.get("/trades").text  # a cursor deep in the list: the id of a late trade
    cursor = str(max(1, trades * 9 // 10))
    entry = re.search(r'href="/books/entries/([^"]+)"', client.get("/trades/X000000007").text)
    assert deep
    assert entry is not None
    rng = random.Random(3)
    return {
        "Today": "/",
        "trades, first page": "/trades",
        "trades, 90% deep": f"/trades?after={cursor}",
        "trades of one client": f"/trades?client=C{rng.randrange(clients):05d}",
        "trades by status": "/trades?status=booked",
        "one trade": f"/trades/X{trades // 2:09d}",
        "breaks queue": "/breaks",
        "trial balance": "/books",
        "one entry": f"/books/entries/{entry.group(1)}",
        "audit trail": "/audit",
    }


def time_pages(
    base: str, trades: int, clients: int, requests: int
) -> list[tuple[str, list[float]]]:
    client = logged_in(base)
    found = []
    for name, path in pages(client, trades, clients).items():
        seconds = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(path)
            seconds.append(time.perf_counter() - started)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        found.append((name, sorted(seconds)))
    client.close()
    return found


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(database: str, target: Target, fill_s: float, timings: list[tuple[str, list[float]]],
           args: argparse.Namespace) -> bool:  # fmt: skip
    print(f"\n== {database}: {target.settings}")
    print(f"   {args.trades:,} trades for {args.clients:,} clients and {args.securities:,}"
          f" securities, captured and booked in {fill_s:.0f} s; {args.requests} requests a page")  # fmt: skip
    print(f"   {'page':24} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  target p95 < 200 ms")
    ok = True
    for name, ordered in timings:
        p95 = quantile(ordered, 0.95)
        ok = ok and p95 < TARGET_P95_S
        print(f"   {name:24} {quantile(ordered, 0.5) * 1e3:8.1f} {p95 * 1e3:8.1f}"
              f" {quantile(ordered, 0.99) * 1e3:8.1f}  {'met' if p95 < TARGET_P95_S else 'NOT met'}")  # fmt: skip
    return ok


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--securities", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=50_000, help="lines captured at a time")
    parser.add_argument("--requests", type=int, default=50, help="requests a page")
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=list(DATABASES))
    parser.add_argument("--postgres-url", default=os.environ.get("BACKOFFICE_BENCH_POSTGRES",
                                                                 DEFAULT_POSTGRES_URL))  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        work = Path(folder)
        for database in args.databases:
            with database_context(database, args, work) as target:
                fill_s = fill(target, args.trades, args.clients, args.securities, args.chunk, work)
                workers = 1 if database == "sqlite" else 2
                with served(target.url, workers, work / f"serve-{database}.log") as base:
                    timings = time_pages(base, args.trades, args.clients, args.requests)
                ok = report(database, target, fill_s, timings, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
