"""Trade import throughput end to end, against simplefix merely parsing the same file.

The benchmark

1. writes a FIX 4.4 log of `--trades` execution reports (150=F, '|'-delimited, checksums and
   body lengths right) for `--clients` clients, `--securities` US securities on XNYS/XNAS and a
   few counterparties over the trading days of one week, generated once before any timing;
2. times the baseline: `simplefix.FixParser` parsing every line of the file into messages and
   reading each one's ExecID, in this process; and, as a stage of ours, `read_fix_log` alone
   (framing checks and field validation, no store);
3. times ours: `import_executions(store, read_fix_log(path))` into a fresh SQLite database
   with reference data loaded (parties and assets only: every ledger account is opened by the
   naming convention) — parse, frame checks, validation, enrichment (settlement date,
   commission, SEC fee and FINRA TAF), trade and allocation rows, ledger entries with their
   balances, hash chain and audit;
4. prints trades/s for both and the ratio, checks that every trade was captured and booked,
   and runs `verify_trades` and `verify_ledger` on small runs.

    .venv/bin/python -m bench.trades_import --trades 100000
    .venv/bin/python -m bench.trades_import                     # the issue's 1,000,000
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import simplefix
from stdnum import isin as stdnum_isin

from backoffice.formats.fix_log import read_fix_log
from backoffice.formats.refdata_file import RefdataFile
from backoffice.ledger.verify import verify_ledger
from backoffice.refdata.model import (
    Asset,
    AssetKind,
    CommissionTerms,
    Party,
    PartyKind,
)
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import open_store
from backoffice.trades.service import import_executions
from backoffice.trades.verify import verify_trades

TARGET_TRADES_PER_S = 20_000
TRADE_DATES = tuple(dt.date(2026, 11, day) for day in (16, 17, 18, 19, 20))
COUNTERPARTIES = ("GSCO", "MSCO", "JPMS", "NSCC")


def make_isin(number: int) -> str:
    body = f"US{number:09d}"
    return body + stdnum_isin.calc_check_digit(body)


def build_refdata(clients: int, securities: int) -> RefdataFile:
    refdata = RefdataFile()
    refdata.assets.append(Asset("USD", AssetKind.CURRENCY, 2))
    for n in range(securities):
        refdata.assets.append(
            Asset(
                make_isin(100_000 + n),
                AssetKind.SECURITY,
                0,
                f"Security {n}",
                market="XNYS" if n % 2 else "XNAS",
                currency="USD",
            )
        )
    refdata.parties.append(Party("FIRM", PartyKind.FIRM, "Bench Securities"))
    refdata.parties.extend(Party(code, PartyKind.COUNTERPARTY, code) for code in COUNTERPARTIES)
    for n in range(clients):
        terms = CommissionTerms("USD", "0.005", "0", "1.00") if n % 3 else None
        refdata.parties.append(
            Party(f"C{n:05d}", PartyKind.CLIENT, f"Client {n}", commission=terms)
        )
    return refdata


def write_fix_log(path: Path, trades: int, clients: int, securities: int, seed: int) -> None:
    rng = random.Random(seed)
    isins = [make_isin(100_000 + n) for n in range(securities)]
    with path.open("w") as out:
        for n in range(trades):
            day = TRADE_DATES[n * len(TRADE_DATES) // trades]
            message = simplefix.FixMessage()
            message.append_pair(8, "FIX.4.4")
            message.append_pair(35, "8")
            message.append_pair(17, f"X{n:09d}")
            message.append_pair(37, f"O{n // 3:09d}")
            message.append_pair(150, "F")
            message.append_pair(1, f"C{rng.randrange(clients):05d}")
            message.append_pair(48, isins[rng.randrange(securities)])
            message.append_pair(22, "4")
            message.append_pair(54, rng.choice("12"))
            message.append_pair(32, str(rng.randrange(1, 50) * 100))
            message.append_pair(31, f"{rng.randrange(1000, 50000) / 100:.2f}")
            message.append_pair(15, "USD")
            message.append_pair(75, day.strftime("%Y%m%d"))
            message.append_pair(30, "XNYS")
            message.append_pair(60, day.strftime("%Y%m%d") + "-15:30:00.000")
            message.append_pair(453, "1")
            message.append_pair(448, rng.choice(COUNTERPARTIES))
            message.append_pair(452, "17")
            out.write(message.encode().replace(b"\x01", b"|").decode() + "\n")


def parse_baseline(path: Path) -> tuple[float, int]:
    """simplefix alone: every line parsed into a message, its ExecID read."""
    started = time.perf_counter()
    count = 0
    with path.open("rb") as stream:
        for line in stream:
            parser = simplefix.FixParser()
            parser.append_buffer(line.rstrip(b"\n").replace(b"|", b"\x01"))
            message = parser.get_message()
            if message is not None and message.get(17) is not None:
                count += 1
    return time.perf_counter() - started, count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--securities", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tmpdir", type=Path)
    parser.add_argument("--profile", type=Path, help="write a cProfile of our import here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as workdir:
        log = Path(workdir) / "executions.fix"
        print(f"generating {args.trades:,} execution reports ...", file=sys.stderr)
        write_fix_log(log, args.trades, args.clients, args.securities, args.seed)
        store = open_store(f"sqlite:///{workdir}/bench.db")
        load_refdata(
            store, build_refdata(args.clients, args.securities), actor="bench", source="bench"
        )
        baseline_s, parsed = parse_baseline(log)
        started = time.perf_counter()
        read_only = sum(1 for _ in read_fix_log(log))
        read_s = time.perf_counter() - started
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        summary = import_executions(store, read_fix_log(log), actor="bench")
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        ours_s = time.perf_counter() - started
        problems = []
        if summary.captured != args.trades or parsed != args.trades:
            problems.append(
                f"captured {summary.captured} and parsed {parsed} of {args.trades}; "
                f"first problems: {[p.describe() for p in summary.problems[:3]]}"
            )
        if args.trades <= 200_000:
            problems.extend(p.describe() for p in verify_trades(store))
            problems.extend(p.describe() for p in verify_ledger(store))
        store.dispose()
    ours = args.trades / ours_s
    base = args.trades / baseline_s
    print(f"trades                         {args.trades:>12,}")
    print(f"simplefix parse only           {baseline_s:>10.2f} s {base:>12,.0f} trades/s")
    print(f"backoffice read only (a stage) {read_s:>10.2f} s {read_only / read_s:>12,.0f} trades/s")
    print(f"backoffice import end to end   {ours_s:>10.2f} s {ours:>12,.0f} trades/s")
    print(
        f"ratio ours / parse-only        {ours / base:>12.3f}  (parse-only is {ours_s / baseline_s:.1f}x faster)"
    )
    verdict = "met" if ours >= TARGET_TRADES_PER_S else "NOT met"
    print(f"target {TARGET_TRADES_PER_S:,} trades/s end to end: {verdict}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
