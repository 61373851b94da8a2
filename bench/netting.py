"""Netting throughput against a bare Polars group-by over the same frame, in the same run.

Generates `--trades` gross trades (default 10,000,000) over `--securities` securities (10,000),
`--participants` participants (500) and `--dates` settlement dates (3), once, before any
timing; then times

1. the baseline: a bare `group_by(participant, isin, settlement_date, currency)` summing
   quantity and cash (what any netting must at least do);
2. ours: `netting_service.net(frame, ccp)`: the same group-by plus the gross figures per
   obligation, deterministic numbering of the obligations, the link from every gross trade to
   its obligation, and the conservation checks (per security, per currency, every trade once);
3. ours in bilateral mode (counterparty in the key too).

It prints seconds, the ratio ours/baseline, and whether the targets (under 10 s on a 2-core
machine, ratio at most 3) are met.

    .venv/bin/python -m bench.netting --trades 1000000
    .venv/bin/python -m bench.netting                       # the issue's 10,000,000
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence

import numpy as np
import polars as pl

from backoffice.settlement.model import NettingMode
from backoffice.settlement.netting_service import net

TARGET_SECONDS = 10.0
TARGET_RATIO = 3.0


def generate(
    trades: int, securities: int, participants: int, dates: int, seed: int
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    isins = np.array([f"US{n:09d}0" for n in range(securities)])
    members = np.array([f"P{n:04d}" for n in range(participants)])
    first = dt.date(2026, 11, 25)
    days = [first + dt.timedelta(days=n) for n in range(dates)]
    side = rng.choice(np.array([1, -1], dtype=np.int64), trades)
    quantity = rng.integers(1, 100, trades, dtype=np.int64) * 100
    price_cents = rng.integers(1_000, 50_000, trades, dtype=np.int64)
    frame = pl.DataFrame(
        {
            "trade_id": pl.int_range(0, trades, eager=True).cast(pl.String),
            "participant": members[rng.integers(0, participants, trades)],
            "counterparty": members[rng.integers(0, participants, trades)],
            "isin": isins[rng.integers(0, securities, trades)],
            "settlement_date": pl.Series(days)[rng.integers(0, dates, trades)],
            "currency": np.full(trades, "USD"),
            "quantity_minor": side * quantity,
            "cash_minor": -side * quantity * price_cents,
        }
    )
    return frame.rechunk()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--securities", type=int, default=10_000)
    parser.add_argument("--participants", type=int, default=500)
    parser.add_argument("--dates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    frame = generate(args.trades, args.securities, args.participants, args.dates, args.seed)
    keys = ["participant", "isin", "settlement_date", "currency"]
    started = time.perf_counter()
    bare = frame.group_by(keys).agg(pl.col("quantity_minor").sum(), pl.col("cash_minor").sum())
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    ccp = net(frame, NettingMode.CCP)
    ccp_s = time.perf_counter() - started
    started = time.perf_counter()
    bilateral = net(frame, NettingMode.BILATERAL)
    bilateral_s = time.perf_counter() - started
    problems = []
    if ccp.obligations.height != bare.height:
        problems.append(f"ccp obligations {ccp.obligations.height} != groups {bare.height}")
    print(f"gross trades                     {frame.height:>12,}")
    print(f"bare Polars group-by             {baseline_s:>8.2f} s  {bare.height:>12,} groups")
    print(
        f"ours, ccp mode                   {ccp_s:>8.2f} s  {ccp.obligations.height:>12,} obligations  ratio {ccp_s / baseline_s:.2f}"
    )
    print(
        f"ours, bilateral mode             {bilateral_s:>8.2f} s  {bilateral.obligations.height:>12,} obligations  ratio {bilateral_s / baseline_s:.2f}"
    )
    met = ccp_s < TARGET_SECONDS and ccp_s / baseline_s <= TARGET_RATIO
    print(
        f"targets (< {TARGET_SECONDS:.0f} s, ratio <= {TARGET_RATIO:.0f}, ccp mode): {'met' if met else 'NOT met'}"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
