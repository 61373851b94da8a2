"""`ledger export`: the posted entries as Beancount, CSV (one row per posting) or Parquet.

Only posted movements are exported: `standard`, `post_pending` and `reversal` entries. A
`pending` entry only reserves and a `void_pending` only releases a reservation; neither moves a
posted balance, so neither appears. Entries come in effective-date order (then entry id, then
posting line) from one streamed query, `export_batch_rows` rows at a time (a server-side cursor
on PostgreSQL), inside one read transaction that is a snapshot on PostgreSQL too: the export
holds a few numbers per account, never the ledger.

Beancount output (checked by `bean-check` in the tests):

- every account gets an `open` directive on the day of its first posted use (accounts never
  used: the earliest day of the export, or `undated_open_date` when nothing is posted), limited
  to its asset's commodity and carrying our code as `code` metadata;
- every asset gets a `commodity` directive on the day its first account opens;
- every posted entry becomes exactly one `*` transaction with `key`, `entry_id`, `kind` (and
  `reference`, `pending_id`, `reversal_of` when set) as metadata strings;
- after each day with activity, each account touched that day gets a `balance` assertion dated
  the next day (Beancount checks a balance at the start of its date). Beancount sums a parent
  account's sub-accounts into its assertion, so the asserted amount is that subtree's, and the
  assertion is exact (`~ 0`): Beancount's inferred tolerance would let a cent pass.

How our codes become Beancount names is written at the top of the output (`_header`) and in
`beancount_account` and `beancount_commodity`: both are pure, deterministic and injective.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, invariant
from backoffice.ledger.model import POSTED_KINDS
from backoffice.money import format_amount
from backoffice.refdata.model import AccountStatus, AccountType
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import as_date

export_formats = ("beancount", "csv", "parquet")
# Posting rows fetched from the database at a time.
export_batch_rows = 10_000
# Rows per Parquet row group: what the Parquet export holds in memory at most.
parquet_rows_per_group_max = 50_000
# The date of `open` and `commodity` directives when no entry at all is posted.
undated_open_date = dt.date(1970, 1, 1)

CSV_COLUMNS = (
    "entry_id", "key", "kind", "effective_date", "account", "asset", "amount",
    "description", "reference",
)  # fmt: skip
PARQUET_EXTRA_COLUMNS = ("amount_minor", "scale")

BEANCOUNT_ROOTS = {
    AccountType.ASSET: "Assets",
    AccountType.LIABILITY: "Liabilities",
    AccountType.EQUITY: "Equity",
    AccountType.INCOME: "Income",
    AccountType.EXPENSE: "Expenses",
}

# Letters, digits and hyphens, starting with a lowercase letter and with another one after it:
# capitalising the first letter gives a name with a lowercase letter in it, which no segment
# kept as it is (`_KEPT_SEGMENT`) has, and that does not start with `X-` (hence no `x-`), as
# every escaped segment does.
_CAPITALISED_SEGMENT = re.compile(r"(?!x-)[a-z][A-Z0-9\-]*[a-z][A-Za-z0-9\-]*")
_KEPT_SEGMENT = re.compile(r"[A-Z0-9]+")
_SEGMENT_KEPT_CHARACTER = re.compile(r"[A-Za-z0-9]")
_ESCAPED_SEGMENT_PREFIX = "X-"

# Beancount's currency syntax (its lexer): TRUE, FALSE and NULL lex as keywords instead.
_COMMODITY = re.compile(r"[A-Z](?:[A-Z0-9'._\-]*[A-Z0-9])?")
_COMMODITY_KEYWORDS = frozenset({"TRUE", "FALSE", "NULL"})
_COMMODITY_KEPT_CHARACTER = re.compile(r"[A-Z0-9]")
_ESCAPED_COMMODITY_PREFIX = "X_"

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def export_ledger(store: Store, format: str, output: Path | None) -> int:
    """Write every posted entry to `output` (stdout when None; text formats only) as
    `beancount`, `csv` or `parquet`, and return how many entries were exported.

    A file is written beside `output` and renamed onto it at the end, so a failed export never
    leaves half a file under the name asked for.
    """
    if format not in export_formats:
        raise ProblemError(
            Problem("invalid_argument", f"format must be one of {', '.join(export_formats)}")
        )
    if format == "parquet" and output is None:
        raise ProblemError(Problem("invalid_argument", "parquet output needs a file"))
    if output is not None and not output.parent.is_dir():
        raise ProblemError(
            Problem("output_directory_missing", f"no directory {str(output.parent)!r} to write in")
        )
    if output is not None and output.is_dir():
        # Caught here, before the write beside it, which would fail naming its temporary file.
        raise ProblemError(
            Problem("output_is_directory", f"{str(output)!r} is a directory: give a file name")
        )
    with store.read() as connection:
        _read_one_snapshot(connection)
        if format == "parquet" and output is not None:
            with _replaced_on_success(output) as partial:
                return _write_parquet(connection, partial)
        with _text_stream(output) as stream:
            if format == "csv":
                return _write_csv(connection, stream)
            return _write_beancount(connection, stream)


# Names -----------------------------------------------------------------------------------------


def beancount_account(account_type: AccountType, code: str) -> str:
    """The Beancount account for one of ours: the root named by its type, then one component
    per `/`-separated segment of its code (see `_account_component`).

    Injective: the root is fixed by the type, components contain no `:`, and each segment maps
    to a distinct component, so two codes give the same name only when they are equal.
    """
    components = [_account_component(segment) for segment in code.split("/")]
    return ":".join([BEANCOUNT_ROOTS[account_type], *components])


def _account_component(segment: str) -> str:
    """A component `[A-Z0-9][A-Za-z0-9-]*`, from three disjoint classes:

    - `cash`, `bank-charges`, `cashUsd` (letters, digits and hyphens, a lowercase letter first
      but not `x-`, another lowercase letter after it): the first letter capitalised;
    - `USD`, `C0001`, `2026` (uppercase letters and digits only): kept as it is;
    - anything else (`bank_1`, `x`, `Cash`, `.hold`, `x-ray`): `X-` then the segment, each
      character other than a letter or a digit written as `-` and two hex digits per UTF-8
      byte, so that every `-` after the prefix starts an escape.

    The first class always has a lowercase letter and never starts with `X-`; the second has
    no lowercase letter and no `-`; the third always starts with `X-`.
    """
    if _CAPITALISED_SEGMENT.fullmatch(segment):
        return segment[0].upper() + segment[1:]
    if _KEPT_SEGMENT.fullmatch(segment):
        return segment
    return _ESCAPED_SEGMENT_PREFIX + _escape(segment, _SEGMENT_KEPT_CHARACTER, "-")


def beancount_commodity(asset_code: str) -> str:
    """The Beancount commodity for an asset code: the code itself when it is a valid commodity
    (ISO 4217 codes and ISINs always are) that does not start with `X_`; otherwise `X_` then the
    code, each character other than an uppercase letter or a digit written as `_` and two hex
    digits per UTF-8 byte (`usd` -> `X__75_73_64`, `BRK b` -> `X_BRK_20_62`).

    Injective: kept codes never start with `X_` and mapped ones always do; the escape is
    decoded unambiguously since `_` is never kept.
    """
    invariant(asset_code != "", "an asset has a code")
    if (
        _COMMODITY.fullmatch(asset_code)
        and asset_code not in _COMMODITY_KEYWORDS
        and not asset_code.startswith(_ESCAPED_COMMODITY_PREFIX)
    ):
        return asset_code
    return _ESCAPED_COMMODITY_PREFIX + _escape(asset_code, _COMMODITY_KEPT_CHARACTER, "_")


def _escape(text: str, kept: re.Pattern[str], marker: str) -> str:
    return "".join(
        character
        if kept.fullmatch(character)
        else "".join(f"{marker}{byte:02X}" for byte in character.encode())
        for character in text
    )


def beancount_string(text: str) -> str:
    """A Beancount string literal that reads back as `text` exactly."""
    return '"' + text.translate(_STRING_ESCAPES) + '"'


# Reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Asset:
    code: str
    scale: int
    name: str
    commodity: str


@dataclass(frozen=True, slots=True)
class _Account:
    code: str
    type: AccountType
    asset_id: int
    name: str
    closed: bool
    beancount: str


@dataclass(frozen=True, slots=True)
class _Posting:
    account_id: int
    asset_id: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    key: str
    kind: str
    effective_date: dt.date
    description: str
    reference: str | None
    pending_id: int | None
    reversal_of: int | None
    postings: tuple[_Posting, ...]


def _read_one_snapshot(connection: sa.Connection) -> None:
    """Make every query of the export see the same committed state. SQLite's read transaction
    already does; PostgreSQL's default (read committed) takes a new snapshot per statement, so
    an account created mid-export could show up in an entry but not in the accounts read."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _assets(connection: sa.Connection) -> dict[int, _Asset]:
    s = schema.assets
    assets = {
        int(row.id): _Asset(row.code, int(row.scale), row.name, beancount_commodity(row.code))
        for row in connection.execute(sa.select(s.c.id, s.c.code, s.c.scale, s.c.name))
    }
    commodities = {asset.commodity for asset in assets.values()}
    invariant(len(commodities) == len(assets), "two assets map to one Beancount commodity")
    return assets


def _accounts(connection: sa.Connection) -> dict[int, _Account]:
    a = schema.accounts
    accounts: dict[int, _Account] = {}
    for row in connection.execute(
        sa.select(a.c.id, a.c.code, a.c.type, a.c.asset_id, a.c.name, a.c.status)
    ):
        invariant(
            row.type in {member.value for member in AccountType},
            f"account {row.code!r} has an unknown type {row.type!r}",
        )
        account_type = AccountType(row.type)
        accounts[int(row.id)] = _Account(
            code=row.code,
            type=account_type,
            asset_id=int(row.asset_id),
            name=row.name,
            closed=row.status == AccountStatus.CLOSED.value,
            beancount=beancount_account(account_type, row.code),
        )
    names = {account.beancount for account in accounts.values()}
    invariant(len(names) == len(accounts), "two accounts map to one Beancount account")
    return accounts


def _posted_kinds() -> list[str]:
    return sorted(kind.value for kind in POSTED_KINDS)


def _first_use_dates(connection: sa.Connection) -> dict[int, dt.date]:
    """Each account's earliest posted effective date; accounts never posted to are absent."""
    e, p = schema.journal_entries, schema.postings
    query = (
        sa.select(p.c.account_id, sa.func.min(e.c.effective_date))
        .join(e, e.c.id == p.c.entry_id)
        .where(e.c.kind.in_(_posted_kinds()))
        .group_by(p.c.account_id)
    )
    return {int(account_id): as_date(first) for account_id, first in connection.execute(query)}


def _posted_entries(connection: sa.Connection) -> Iterator[_Entry]:
    """Every posted entry with its postings, in (effective date, id) order.

    One query, its rows (a posting each) streamed `export_batch_rows` at a time. Pages of
    `effective_date, id > last` would need an index on both columns to stay linear; with the
    effective-date index alone, PostgreSQL rereads a whole day for each page of a busy one.
    """
    e, p = schema.journal_entries, schema.postings
    query = (
        sa.select(
            e.c.id,
            e.c.key,
            e.c.kind,
            e.c.effective_date,
            e.c.description,
            e.c.reference,
            e.c.pending_id,
            e.c.reversal_of,
            p.c.account_id,
            p.c.asset_id,
            p.c.amount_minor,
        )
        .join(p, p.c.entry_id == e.c.id)
        .where(e.c.kind.in_(_posted_kinds()))
        .order_by(e.c.effective_date, e.c.id, p.c.line)
        .execution_options(yield_per=export_batch_rows)
    )
    for _, group in groupby(connection.execute(query), key=lambda row: row.id):
        lines = list(group)
        first = lines[0]
        yield _Entry(
            id=int(first.id),
            key=first.key,
            kind=first.kind,
            effective_date=as_date(first.effective_date),
            description=first.description,
            reference=first.reference,
            pending_id=first.pending_id,
            reversal_of=first.reversal_of,
            postings=tuple(
                _Posting(int(line.account_id), int(line.asset_id), int(line.amount_minor))
                for line in lines
            ),
        )


# Writing ----------------------------------------------------------------------------------------


@contextmanager
def _replaced_on_success(output: Path) -> Iterator[Path]:
    partial = output.with_name(f".{output.name}.partial")
    try:
        yield partial
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _text_stream(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with (
        _replaced_on_success(output) as partial,
        partial.open("w", encoding="utf-8", newline="") as stream,
    ):
        yield stream


def _write_csv(connection: sa.Connection, stream: TextIO) -> int:
    assets = _assets(connection)
    accounts = _accounts(connection)
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for entry in _posted_entries(connection):
        for posting in entry.postings:
            asset = assets[posting.asset_id]
            writer.writerow(
                (
                    entry.id,
                    entry.key,
                    entry.kind,
                    entry.effective_date.isoformat(),
                    accounts[posting.account_id].code,
                    asset.code,
                    format_amount(posting.amount_minor, asset.scale),
                    entry.description,
                    "" if entry.reference is None else entry.reference,
                )
            )
        count += 1
    return count


def _write_parquet(connection: sa.Connection, path: Path) -> int:
    """The CSV's columns (amount as exact decimal text, the date as a date, reference null
    when absent), then `amount_minor` (int64) and the asset's `scale` (int32), written a row
    group of at most `parquet_rows_per_group_max` rows at a time."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    types: dict[str, Any] = {
        "entry_id": pa.int64(),
        "key": pa.string(),
        "kind": pa.string(),
        "effective_date": pa.date32(),
        "account": pa.string(),
        "asset": pa.string(),
        "amount": pa.string(),
        "description": pa.string(),
        "reference": pa.string(),
        "amount_minor": pa.int64(),
        "scale": pa.int32(),
    }
    invariant(
        tuple(types) == CSV_COLUMNS + PARQUET_EXTRA_COLUMNS, "parquet columns follow the CSV's"
    )
    arrow_schema = pa.schema(list(types.items()))
    assets = _assets(connection)
    accounts = _accounts(connection)
    columns: dict[str, list[object]] = {name: [] for name in types}
    count = 0
    with pq.ParquetWriter(str(path), arrow_schema) as writer:
        for entry in _posted_entries(connection):
            for posting in entry.postings:
                asset = assets[posting.asset_id]
                for name, value in (
                    ("entry_id", entry.id),
                    ("key", entry.key),
                    ("kind", entry.kind),
                    ("effective_date", entry.effective_date),
                    ("account", accounts[posting.account_id].code),
                    ("asset", asset.code),
                    ("amount", format_amount(posting.amount_minor, asset.scale)),
                    ("description", entry.description),
                    ("reference", entry.reference),
                    ("amount_minor", posting.amount_minor),
                    ("scale", asset.scale),
                ):
                    columns[name].append(value)
            count += 1
            if len(columns["entry_id"]) >= parquet_rows_per_group_max:
                writer.write_table(pa.Table.from_pydict(columns, schema=arrow_schema))
                columns = {name: [] for name in types}
        if columns["entry_id"]:
            writer.write_table(pa.Table.from_pydict(columns, schema=arrow_schema))
    return count


def _write_beancount(connection: sa.Connection, stream: TextIO) -> int:
    assets = _assets(connection)
    accounts = _accounts(connection)
    first_use = _first_use_dates(connection)
    earliest = min(first_use.values(), default=undated_open_date)
    opened = {account_id: first_use.get(account_id, earliest) for account_id in accounts}
    commodity_dates: dict[int, dt.date] = {}
    for account_id, account in accounts.items():
        opened_on = opened[account_id]
        commodity_dates[account.asset_id] = min(
            opened_on, commodity_dates.get(account.asset_id, opened_on)
        )

    stream.write(_header(assets))
    for asset_id, asset in sorted(
        assets.items(), key=lambda item: (commodity_dates.get(item[0], earliest), item[1].commodity)
    ):
        lines = [f"{commodity_dates.get(asset_id, earliest)} commodity {asset.commodity}"]
        lines.append(f"  code: {beancount_string(asset.code)}")
        if asset.name:
            lines.append(f"  name: {beancount_string(asset.name)}")
        stream.write("\n".join(lines) + "\n\n")
    for account_id, account in sorted(
        accounts.items(), key=lambda item: (opened[item[0]], item[1].beancount)
    ):
        commodity = assets[account.asset_id].commodity
        lines = [f"{opened[account_id]} open {account.beancount} {commodity}"]
        lines.append(f"  code: {beancount_string(account.code)}")
        if account.name:
            lines.append(f"  name: {beancount_string(account.name)}")
        if account.closed:
            lines.append('  status: "closed"')
        stream.write("\n".join(lines) + "\n\n")

    # An assertion on a Beancount account covers its sub-accounts: each posting moves the
    # running total of its account and of every ancestor account holding the same asset.
    by_name = {account.beancount: account_id for account_id, account in accounts.items()}
    covering: dict[int, tuple[int, ...]] = {}
    for account_id, account in accounts.items():
        parts = account.beancount.split(":")
        ancestors = (by_name.get(":".join(parts[:length])) for length in range(2, len(parts)))
        covering[account_id] = (
            account_id,
            *(
                ancestor
                for ancestor in ancestors
                if ancestor is not None and accounts[ancestor].asset_id == account.asset_id
            ),
        )
    subtree_minor: dict[int, int] = defaultdict(int)
    touched: set[int] = set()
    day: dt.date | None = None
    count = 0
    for entry in _posted_entries(connection):
        if day is not None and entry.effective_date != day:
            _write_assertions(stream, day, touched, accounts, assets, subtree_minor)
            touched.clear()
        day = entry.effective_date
        stream.write(_transaction(entry, accounts, assets))
        for posting in entry.postings:
            for account_id in covering[posting.account_id]:
                subtree_minor[account_id] += posting.amount_minor
            touched.add(posting.account_id)
        count += 1
    if day is not None:
        _write_assertions(stream, day, touched, accounts, assets, subtree_minor)
    return count


def _transaction(entry: _Entry, accounts: dict[int, _Account], assets: dict[int, _Asset]) -> str:
    lines = [f"{entry.effective_date} * {beancount_string(entry.description)}"]
    metadata: list[tuple[str, object]] = [
        ("key", entry.key),
        ("entry_id", entry.id),
        ("kind", entry.kind),
        ("reference", entry.reference),
        ("pending_id", entry.pending_id),
        ("reversal_of", entry.reversal_of),
    ]
    lines.extend(
        f"  {name}: {beancount_string(str(value))}" for name, value in metadata if value is not None
    )
    for posting in entry.postings:
        asset = assets[posting.asset_id]
        amount = format_amount(posting.amount_minor, asset.scale)
        lines.append(f"  {accounts[posting.account_id].beancount}  {amount} {asset.commodity}")
    return "\n".join(lines) + "\n\n"


def _write_assertions(
    stream: TextIO,
    day: dt.date,
    touched: set[int],
    accounts: dict[int, _Account],
    assets: dict[int, _Asset],
    subtree_minor: dict[int, int],
) -> None:
    invariant(day < dt.date.max, "an effective date before the last representable day")
    checked_on = day + dt.timedelta(days=1)
    for account_id in sorted(touched, key=lambda account_id: accounts[account_id].beancount):
        account = accounts[account_id]
        asset = assets[account.asset_id]
        amount = format_amount(subtree_minor[account_id], asset.scale)
        stream.write(f"{checked_on} balance {account.beancount}  {amount} ~ 0 {asset.commodity}\n")
    stream.write("\n")


def _header(assets: dict[int, _Asset]) -> str:
    mapped = sorted(
        (asset.code, asset.commodity) for asset in assets.values() if asset.code != asset.commodity
    )
    lines = [
        "Backoffice ledger export: the posted entries (standard, post_pending, reversal), one",
        "transaction each; pending and void_pending entries move no posted balance and are left",
        "out. Amounts are exact. After each day with activity, every account touched gets an",
        "exact balance assertion dated the next day, covering its sub-accounts as Beancount does.",
        "",
        "Accounts: our type gives the root (asset Assets, liability Liabilities, equity Equity,",
        "income Income, expense Expenses); each /-separated segment of our code one component:",
        "  - letters, digits and hyphens starting with a lowercase letter (but not x-) with",
        "    another lowercase letter after it: the first letter capitalised (cash -> Cash,",
        "    bank-charges -> Bank-charges);",
        "  - uppercase letters and digits only: kept (USD, C0001);",
        "  - anything else: X- then the segment, each character other than a letter or digit",
        "    as - and two hex digits per UTF-8 byte (bank_1 -> X-bank-5F1, Cash -> X-Cash,",
        "    x-ray -> X-x-2Dray).",
        "  e.g. client/C0001/cash/USD of type liability -> Liabilities:Client:C0001:Cash:USD.",
        "  Each open directive carries our code as `code` metadata.",
        "",
        "Commodities: an asset code that is a valid Beancount commodity (not starting X_) is kept;",
        "any other becomes X_ then the code, each character other than an uppercase letter or",
        "digit as _ and two hex digits per UTF-8 byte (usd -> X__75_73_64).",
    ]
    if mapped:
        lines.append("Asset codes mapped in this file:")
        lines.extend(f"  {beancount_string(code)} -> {commodity}" for code, commodity in mapped)
    else:
        lines.append("No asset code in this file needed mapping.")
    return "".join(f"; {line}\n" if line else ";\n" for line in lines) + "\n"
