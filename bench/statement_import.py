"""Peak memory and throughput of `recon import` of a bank statement CSV, against Python's csv
module merely reading the same file, in one run.

The benchmark

1. writes a statement CSV of `--lines` lines (default 1,000,000, the file's row limit
   `statement_csv.rows_per_file_max`, less the balance rows) over `--statements` statements of
   one euro account, their rows interleaved as a bank's export of several days may be, the
   balances right, generated once before any measurement;
2. measures the baseline in a fresh subprocess: `csv.reader` reading every row of the file;
3. measures ours in a fresh subprocess: `backoffice recon import` of the file into a fresh
   SQLite database with the account loaded (read, validated, stored, balances checked);
4. prints for both the seconds, lines/s and peak RSS (GNU time's maximum resident set size),
   and the ratios.

    .venv/bin/python -m bench.statement_import --lines 100000
    .venv/bin/python -m bench.statement_import                     # the issue's 1,000,000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from backoffice.formats.refdata_file import RefdataFile
from backoffice.formats.statement_csv import rows_per_file_max
from backoffice.refdata.model import Account, AccountType, Asset, AssetKind, Party, PartyKind
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import open_store

IBAN = "DE89370400440532013000"  # the account of Deutsche Bank's statement examples
FIRST_DAY = dt.date(2026, 11, 2)
HEADER = ("record", "statement_id", "account", "currency", "value_date", "booking_date",
          "amount", "reference", "description")  # fmt: skip


def write_statement_csv(path: Path, lines: int, statements: int, seed: int) -> None:
    """Statements of one day each, their line rows interleaved round-robin (a bank's export
    of several days sorted by time of booking), each opening at the previous closing."""
    rng = random.Random(seed)
    amounts = [rng.randrange(-500_000, 500_000) or 1 for _ in range(lines)]
    totals = [0] * statements
    for n, amount in enumerate(amounts):
        totals[n % statements] += amount

    def money(minor: int) -> str:
        sign = "-" if minor < 0 else ""
        return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"

    def day(number: int) -> str:
        return (FIRST_DAY + dt.timedelta(days=number)).isoformat()

    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        balance = 1_000_000_00
        closings = []
        for number in range(statements):
            writer.writerow(("opening", f"STMT{number:04d}", IBAN, "EUR", day(number), "",
                             money(balance), "", ""))  # fmt: skip
            balance += totals[number]
            closings.append(balance)
        for n, amount in enumerate(amounts):
            number = n % statements
            writer.writerow(("line", f"STMT{number:04d}", IBAN, "EUR", day(number), day(number),
                             money(amount), f"E2E{n:09d}", f"SEPA credit transfer {n}"))  # fmt: skip
        for number, closing in enumerate(closings):
            writer.writerow(("closing", f"STMT{number:04d}", IBAN, "EUR", day(number), "",
                             money(closing), "", ""))  # fmt: skip


def prepare_store(url: str) -> None:
    refdata = RefdataFile()
    refdata.assets.append(Asset("EUR", AssetKind.CURRENCY, 2, "Euro"))
    refdata.parties.append(Party("FIRM", PartyKind.FIRM, "Bench Bank Client"))
    refdata.accounts.append(
        Account("firm/bank/EUR", AccountType.ASSET, "EUR", "FIRM", external_account=IBAN)
    )
    store = open_store(url)
    load_refdata(store, refdata, actor="bench", source="bench/statement_import.py")
    store.dispose()


BASELINE = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as stream:
    rows = sum(1 for _ in csv.reader(stream))
print(rows)
"""

OURS = """
import sys
from backoffice.cli.main import run
sys.argv = ["backoffice", "--db", sys.argv[1], "--actor", "bench", "recon", "import", "--json",
            sys.argv[2]]
run()
"""


def measured(arguments: Sequence[str], directory: str) -> tuple[float, int, str]:
    """(seconds, peak RSS in bytes, stdout) of a fresh Python running `arguments`, its peak
    read by GNU time: a forked child's own `ru_maxrss` would count the parent's pages."""
    report = Path(directory) / "rss.txt"
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), sys.executable, "-c", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{arguments[0][:40]!r}... failed: {done.stdout} {done.stderr}")
    return seconds, int(report.read_text().split()[-1]) * 1024, done.stdout  # kilobytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=rows_per_file_max - 2 * 20)
    parser.add_argument("--statements", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "statement.csv"
        write_statement_csv(path, args.lines, args.statements, args.seed)
        url = f"sqlite:///{directory}/bench.db"
        prepare_store(url)
        base_s, base_rss, rows = measured([BASELINE, str(path)], directory)
        ours_s, ours_rss, output = measured([OURS, url, str(path)], directory)
        size_mb = path.stat().st_size / 1e6
    mb = 1024 * 1024
    print(f"statement CSV: {args.lines:,} lines, {args.statements} statements, {size_mb:.0f} MB")
    print(f"{'':34}{'seconds':>10}{'lines/s':>12}{'peak RSS':>12}")
    print(f"{'baseline: csv.reader reading it':34}{base_s:>10.2f}{args.lines / base_s:>12,.0f}"
          f"{base_rss / mb:>9,.0f} MB")  # fmt: skip
    print(f"{'ours: recon import (SQLite)':34}{ours_s:>10.2f}{args.lines / ours_s:>12,.0f}"
          f"{ours_rss / mb:>9,.0f} MB")  # fmt: skip
    print(f"ratio ours / baseline: time {ours_s / base_s:.1f}, peak RSS {ours_rss / base_rss:.1f}")
    print(f"csv rows read {int(rows):,}; recon import: {output.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
