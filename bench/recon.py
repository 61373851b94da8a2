"""Reconciliation matching against a bare Polars join and against datacompy, in one run.

Generates `--items` (default 1,000,000) book items and as many statement lines for 20
accounts, with 1% breaks of every type (missing in books, missing in statement, amount
difference, date difference, duplicate) and some lines that only the tolerance and group
rules match, once, before any timing; then times

1. the baseline: a bare inner join of the two frames on the exact keys (account, reference,
   amount, value date);
2. datacompy's `PolarsCompare` of the same two frames on the same keys (what a generic
   comparison tool gives: rows in both, rows only in one);
3. ours: `match` (every rule) and `classify` (every break typed).

It prints seconds, ratios and whether the targets (under 10 s, faster than datacompy) are met.

    .venv/bin/python -m bench.recon --items 100000
    .venv/bin/python -m bench.recon                     # the issue's 1,000,000
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence

import numpy as np
import polars as pl

from backoffice.recon.matching_service import classify, match
from backoffice.recon.model import MatchingRules

TARGET_SECONDS = 10.0


def generate(items: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    first = dt.date(2026, 11, 2)
    ids = np.arange(items, dtype=np.int64)
    accounts = np.array([f"NOSTRO{n:02d}" for n in range(20)])[rng.integers(0, 20, items)]
    amounts = rng.integers(-10_000_000, 10_000_000, items, dtype=np.int64)
    amounts[amounts == 0] = 1
    days = rng.integers(0, 20, items)
    references = np.char.add("E2E", ids.astype(str))
    base_date = pl.Series("value_date", [first] * items).dt.offset_by(
        pl.Series(days).cast(pl.String) + "d"
    )
    books = pl.DataFrame(
        {
            "id": ids,
            "account": accounts,
            "amount_minor": amounts,
            "value_date": base_date,
            "reference": references,
        }
    )
    # 1% each: 0 missing in the statement, 1 an amount difference, 2 a date difference (breaks);
    # 3 the bank splits the payment in two (many-to-one), 4 the books split it (one-to-many),
    # 5 the amount one minor unit off, 6 the value date a day off (tolerance): matches.
    kind = rng.integers(0, 100, items)
    statement_amount = np.where(kind == 1, amounts + 137, np.where(kind == 5, amounts + 1, amounts))
    offsets = np.where(kind == 2, "9d", np.where(kind == 6, "1d", "0d"))
    statement = pl.DataFrame(
        {
            "id": ids + 10 * items,
            "account": accounts,
            "amount_minor": statement_amount,
            "value_date": base_date.dt.offset_by(pl.Series(offsets)),
            "refs": pl.Series(references).str.split(" "),  # one reference each
        }
    )
    halves = pl.col("amount_minor") // 2
    split_lines = statement.filter(pl.Series(kind == 3))
    statement = pl.concat(
        [
            statement.filter(pl.Series((kind != 0) & (kind != 3))),
            split_lines.with_columns(halves.alias("amount_minor")),
            split_lines.with_columns(
                pl.col("id") + 60 * items, (pl.col("amount_minor") - halves).alias("amount_minor")
            ),
        ]
    )
    split_books = books.filter(pl.Series(kind == 4))
    books = pl.concat(
        [
            books.filter(pl.Series(kind != 4)),
            split_books.with_columns(halves.alias("amount_minor")),
            split_books.with_columns(
                pl.col("id") + 50 * items, (pl.col("amount_minor") - halves).alias("amount_minor")
            ),
        ]
    ).sort("id")
    # 1%: lines the books lack (bank fees), and 1%: lines the bank sent twice.
    extra = max(items // 100, 1)
    fees = pl.DataFrame(
        {
            "id": np.arange(extra, dtype=np.int64) + 30 * items,
            "account": accounts[:extra],
            "amount_minor": -rng.integers(100, 5_000, extra, dtype=np.int64),
            "value_date": base_date[:extra],
            "refs": pl.Series([f"FEE{n}" for n in range(extra)]).str.split(" "),
        }
    )
    twice = statement.head(extra).with_columns(pl.col("id") + 40 * items)
    statement = pl.concat([statement, fees, twice]).sort("id").rechunk()
    return statement, books


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    statement, books = generate(args.items, args.seed)
    keys = ["account", "reference", "amount_minor", "value_date"]
    flat = statement.with_columns(pl.col("refs").list.first().alias("reference")).drop("refs")

    started = time.perf_counter()
    joined = flat.join(books, on=keys, how="inner")
    join_s = time.perf_counter() - started

    import datacompy

    started = time.perf_counter()
    compare = datacompy.PolarsCompare(
        flat.drop("id"), books.drop("id"), join_columns=keys, df1_name="statement", df2_name="books"
    )
    only_statement = compare.df1_unq_rows.height
    only_books = compare.df2_unq_rows.height
    datacompy_s = time.perf_counter() - started

    rules = MatchingRules(amount_tolerance_minor=2, date_tolerance_days=2)
    started = time.perf_counter()
    matched = match(statement, books, rules)
    breaks = classify(matched)
    ours_s = time.perf_counter() - started

    by_type = dict(breaks.group_by("type").len().sort("type").iter_rows())
    by_rule = dict(
        matched.pairs.filter(pl.col("side") == "statement")
        .group_by("rule")
        .len()
        .sort("rule")
        .iter_rows()
    )
    print(f"statement lines {statement.height:>12,}   book items {books.height:>12,}")
    print(f"bare Polars join on the exact keys  {join_s:>8.2f} s   {joined.height:>10,} pairs")
    print(
        f"datacompy PolarsCompare             {datacompy_s:>8.2f} s   {only_statement:>10,} only in statement, {only_books:,} only in books"
    )
    print(f"ours: match + classify              {ours_s:>8.2f} s   matched by rule {by_rule}")
    print(f"breaks by type {by_type}")
    print(
        f"ratio ours / bare join {ours_s / join_s:.2f}   ratio ours / datacompy {ours_s / datacompy_s:.2f}"
    )
    met = ours_s < TARGET_SECONDS and ours_s < datacompy_s
    print(
        f"targets (< {TARGET_SECONDS:.0f} s, faster than datacompy): {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
