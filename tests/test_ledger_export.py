"""Exporting the posted ledger: Beancount (checked by Beancount itself), CSV and Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from beancount import loader
from beancount.core import account as beancount_accounts
from beancount.core import data, realization
from hypothesis import example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from backoffice.cli.main import app
from backoffice.errors import ProblemError
from backoffice.formats.refdata_file import read_refdata
from backoffice.ledger import export
from backoffice.ledger.export import (
    CSV_COLUMNS,
    beancount_account,
    beancount_commodity,
    beancount_string,
    export_ledger,
)
from backoffice.ledger.model import POSTED_KINDS, EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.reports import balances
from backoffice.ledger.service import post_entries
from backoffice.money import format_amount
from backoffice.refdata.model import AccountType
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store

ISIN = "US0378331005"
DAY_1, DAY_2, DAY_3, DAY_4 = (dt.date(2026, 3, day) for day in (2, 3, 4, 5))
# Quotes, backslashes and a tab (a newline is refused at input; older data with one is
# escaped by beancount_string, tested on its own below).
TRICKY_DESCRIPTION = 'Deposit "wire" from C:\\bank\\in\ttabbed'

REFDATA = f"""
assets:
  - {{code: USD, kind: currency, scale: 2, name: US dollar}}
  - {{code: {ISIN}, kind: security, scale: 0, name: 'Apple Inc. "common"'}}
parties:
  - {{code: FIRM, kind: firm, name: The Firm}}
  - {{code: C0001, kind: client, name: Ada Client}}
accounts:
  - {{code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}}
  - {{code: firm/custody/{ISIN}, type: asset, asset: {ISIN}, owner: FIRM}}
  - {{code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001}}
  - {{code: client/C0001/securities/{ISIN}, type: liability, asset: {ISIN}, owner: C0001}}
  - {{code: firm/capital/USD, type: equity, asset: USD, owner: FIRM}}
  - {{code: firm/fees/USD, type: income, asset: USD, owner: FIRM}}
  - {{code: firm/bank-charges/USD, type: expense, asset: USD, owner: FIRM}}
  - {{code: firm/unused/USD, type: asset, asset: USD, owner: FIRM}}
"""

POSTED_KEYS = {
    "deposit", "delivery", "capital", "withdrawal-posted", "sale", "fee", "charges", "fee-reversed",
}  # fmt: skip
PENDING_ONLY_KEYS = {"withdrawal", "fee-hold", "fee-hold-voided"}
POSTED_POSTINGS = 18


def load(store: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "refdata.yaml"
    path.write_text(text, encoding="utf-8")
    load_refdata(store, read_refdata(path), actor="test", source=str(path))


def entry(key: str, day: dt.date, *postings: tuple[str, str], **options: object) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=day,
        postings=tuple(PostingRequest(account, amount) for account, amount in postings),
        **options,
    )


def post(store: Store, *requests: EntryRequest) -> None:
    results = post_entries(store, requests, actor="test").results
    assert [(r.key, r.outcome) for r in results] == [
        (request.key, EntryOutcome.CREATED) for request in requests
    ], [problem.describe() for r in results for problem in r.problems]


def book_four_days(store: Store, tmp_path: Path) -> None:
    """Two assets over four days: standard entries, a pending entry later posted, a pending
    entry voided, a reversal, a multi-asset entry."""
    load(store, tmp_path, REFDATA)
    client_cash, bank = "client/C0001/cash/USD", "firm/bank/USD"
    client_securities, custody = f"client/C0001/securities/{ISIN}", f"firm/custody/{ISIN}"
    post(
        store,
        entry("deposit", DAY_1, (bank, "1000.00"), (client_cash, "-1000"),
              description=TRICKY_DESCRIPTION),
        entry("delivery", DAY_1, (custody, "100"), (client_securities, "-100"),
              reference="SETTLE-1"),
        entry("capital", DAY_1, (bank, "500.00"), ("firm/capital/USD", "-500.00")),
    )  # fmt: skip
    post(
        store,
        entry("withdrawal", DAY_2, (client_cash, "250.00"), (bank, "-250.00"), pending=True),
        entry("fee-hold", DAY_2, (client_cash, "5.00"), ("firm/fees/USD", "-5.00"), pending=True),
    )
    post(
        store,
        EntryRequest(key="withdrawal-posted", effective_date=DAY_3, post_pending="withdrawal"),
        EntryRequest(key="fee-hold-voided", effective_date=None, void_pending="fee-hold"),
        entry("sale", DAY_3, (client_securities, "10"), (custody, "-10"),
              (client_cash, "-1902.50"), (bank, "1902.50"), reference="TRADE-7"),
        entry("fee", DAY_3, (client_cash, "1.25"), ("firm/fees/USD", "-1.25")),
        entry("charges", DAY_3, ("firm/bank-charges/USD", "0.40"), (bank, "-0.40")),
    )  # fmt: skip
    post(store, EntryRequest(key="fee-reversed", effective_date=DAY_4, reverse="fee"))


def bean_check(path: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "bean-check"
    return subprocess.run(
        [str(executable), str(path)], capture_output=True, text=True, check=False, timeout=120
    )


def assert_bean_check_passes(path: Path) -> None:
    completed = bean_check(path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""
    assert completed.stderr == ""


def load_beancount(path: Path) -> list[data.Directive]:
    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    return list(entries)


def assert_balances_equal_ours(store: Store, entries: list[data.Directive]) -> None:
    """Beancount's own final balance of every account, per commodity, equals ours."""
    names = {e.meta["code"]: e.account for e in entries if isinstance(e, data.Open)}
    commodities = {e.meta["code"]: e.currency for e in entries if isinstance(e, data.Commodity)}
    root = realization.realize(entries)
    ours = balances(store)
    assert set(names) == {line.account for line in ours}
    for line in ours:
        real = realization.get(root, names[line.account])
        theirs = Decimal(0)
        if real is not None:
            units = real.balance.get_currency_units(commodities[line.asset])
            theirs = units.number
            assert set(real.balance.currencies()) <= {commodities[line.asset]}
        assert theirs == Decimal(format_amount(line.balance.posted_minor, line.scale)), line


# Beancount ---------------------------------------------------------------------------------------


def posted_entries_in_store(store: Store) -> int:
    e = schema.journal_entries
    with store.read() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(e)
                .where(e.c.kind.in_([kind.value for kind in POSTED_KINDS]))
            ).scalar_one()
        )


@pytest.mark.slow
def test_the_beancount_export_passes_bean_check_and_holds_our_balances(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.beancount"

    assert export_ledger(store, "beancount", path) == len(POSTED_KEYS)

    assert_bean_check_passes(path)
    entries = load_beancount(path)
    assert_balances_equal_ours(store, entries)
    balance_assertions = [e for e in entries if isinstance(e, data.Balance)]
    assert balance_assertions
    assert {e.date for e in balance_assertions} == {
        day + dt.timedelta(days=1) for day in (DAY_1, DAY_3, DAY_4)
    }


@pytest.mark.slow
def test_every_posted_entry_is_one_transaction_and_pending_ones_are_left_out(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.beancount"
    export_ledger(store, "beancount", path)

    transactions = [e for e in load_beancount(path) if isinstance(e, data.Transaction)]

    keys = [t.meta["key"] for t in transactions]
    assert len(keys) == posted_entries_in_store(store) == len(POSTED_KEYS)
    assert set(keys) == POSTED_KEYS
    assert not set(keys) & PENDING_ONLY_KEYS
    by_key = {t.meta["key"]: t for t in transactions}
    assert by_key["withdrawal-posted"].meta["kind"] == "post_pending"
    assert by_key["withdrawal-posted"].date == DAY_3
    assert by_key["fee-reversed"].meta["kind"] == "reversal"
    assert by_key["fee-reversed"].meta["reversal_of"] == by_key["fee"].meta["entry_id"]
    assert by_key["sale"].meta["reference"] == "TRADE-7"
    assert {p.units.currency for p in by_key["sale"].postings} == {"USD", ISIN}
    ours = {"key", "entry_id", "kind", "reference", "pending_id", "reversal_of"}
    assert all(isinstance(value, str) for t in transactions for name, value in t.meta.items()
               if name in ours)  # fmt: skip
    assert {name for t in transactions for name in t.meta} >= ours


@pytest.mark.slow
def test_descriptions_with_quotes_backslashes_and_newlines_read_back_unchanged(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.beancount"
    export_ledger(store, "beancount", path)

    transactions = [e for e in load_beancount(path) if isinstance(e, data.Transaction)]

    (deposit,) = [t for t in transactions if t.meta["key"] == "deposit"]
    assert deposit.narration == TRICKY_DESCRIPTION
    # Escaped, so that each directive's header stays on one line of the file.
    written = path.read_text(encoding="utf-8")
    assert r'* "Deposit \"wire\" from C:\\bank\\in\ttabbed"' + "\n" in written
    commodities = {e.currency: e for e in load_beancount(path) if isinstance(e, data.Commodity)}
    assert commodities[ISIN].meta["name"] == 'Apple Inc. "common"'


@pytest.mark.slow
def test_every_account_opens_on_its_first_use_and_every_commodity_is_declared(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.beancount"
    export_ledger(store, "beancount", path)

    entries = load_beancount(path)

    opens = {e.meta["code"]: e for e in entries if isinstance(e, data.Open)}
    assert opens["client/C0001/cash/USD"].account == "Liabilities:Client:C0001:Cash:USD"
    assert opens["client/C0001/cash/USD"].date == DAY_1
    assert opens["client/C0001/cash/USD"].currencies == ["USD"]
    assert opens["firm/bank-charges/USD"].date == DAY_3
    assert opens["firm/bank-charges/USD"].account == "Expenses:Firm:Bank-charges:USD"
    assert opens["firm/unused/USD"].date == DAY_1  # never used: the export's first day
    declared = {e.currency for e in entries if isinstance(e, data.Commodity)}
    used = {
        p.units.currency for e in entries if isinstance(e, data.Transaction) for p in e.postings
    }
    assert declared == used == {"USD", ISIN}
    opened_on = {e.account: e.date for e in entries if isinstance(e, data.Open)}
    transactions = [e for e in entries if isinstance(e, data.Transaction)]
    assert all(opened_on[p.account] <= t.date for t in transactions for p in t.postings)


@pytest.mark.slow
def test_codes_that_need_mapping_still_make_a_valid_beancount_file(
    store: Store, tmp_path: Path
) -> None:
    # Asset codes the refdata loader would refuse, as an older loader or a hand fix could leave.
    with store.write() as connection:
        for code, scale in (("btc", 8), ("TRUE", 0)):
            connection.execute(
                sa.insert(schema.assets).values(code=code, kind="security", scale=scale, name=code)
            )
    load(
        store,
        tmp_path,
        """
assets:
  - {code: USD, kind: currency, scale: 2}
parties:
  - {code: FIRM, kind: firm}
accounts:
  - {code: firm/cash, type: asset, asset: USD, owner: FIRM}
  - {code: firm/cash/USD, type: asset, asset: USD, owner: FIRM}
  - {code: firm/Cash/USD, type: asset, asset: USD, owner: FIRM}
  - {code: firm/fx_gain.loss/USD, type: income, asset: USD, owner: FIRM}
  - {code: firm/wallet/btc, type: asset, asset: btc, owner: FIRM}
  - {code: firm/c1/_hold:x/btc, type: liability, asset: btc, owner: FIRM}
  - {code: firm/x/TRUE, type: asset, asset: 'TRUE', owner: FIRM}
  - {code: firm/y/TRUE, type: equity, asset: 'TRUE', owner: FIRM}
""",
    )
    gains = "firm/fx_gain.loss/USD"
    post(
        store,
        entry("one", DAY_1, ("firm/cash", "100.00"), ("firm/cash/USD", "50.00"), (gains, "-150")),
        entry("two", DAY_2, ("firm/Cash/USD", "7.00"), ("firm/cash/USD", "-2.00"), (gains, "-5")),
        entry("three", DAY_2, ("firm/wallet/btc", "0.12345678"), ("firm/c1/_hold:x/btc", "-0.12345678")),
        entry("four", DAY_3, ("firm/x/TRUE", "3"), ("firm/y/TRUE", "-3")),
    )  # fmt: skip
    path = tmp_path / "mapped.beancount"

    assert export_ledger(store, "beancount", path) == 4

    assert_bean_check_passes(path)
    entries = load_beancount(path)
    assert_balances_equal_ours(store, entries)
    opens = {e.meta["code"]: e.account for e in entries if isinstance(e, data.Open)}
    assert opens["firm/cash"] == "Assets:Firm:Cash"
    assert opens["firm/cash/USD"] == "Assets:Firm:Cash:USD"
    assert opens["firm/Cash/USD"] == "Assets:Firm:X-Cash:USD"
    assert opens["firm/c1/_hold:x/btc"] == "Liabilities:Firm:X-c1:X--5Fhold-3Ax:Btc"
    # The parent's assertion covers its sub-account, as Beancount counts it.
    parent = [e for e in entries if isinstance(e, data.Balance) and e.account == "Assets:Firm:Cash"]
    assert [(e.date, e.amount.number) for e in parent] == [(DAY_2, Decimal("150.00"))]
    header = path.read_text(encoding="utf-8").split("\n\n")[0]
    assert '"btc" -> X__62_74_63' in header
    assert '"TRUE" -> X_TRUE' in header


@pytest.mark.slow
def test_an_empty_ledger_exports_a_valid_chart_of_accounts(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, REFDATA)
    path = tmp_path / "empty.beancount"

    assert export_ledger(store, "beancount", path) == 0

    assert_bean_check_passes(path)
    entries = load_beancount(path)
    assert len([e for e in entries if isinstance(e, data.Open)]) == 8
    assert not [e for e in entries if isinstance(e, data.Transaction | data.Balance)]


# CSV and Parquet -------------------------------------------------------------------------------


def sums_by_account(rows: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in rows:
        sums[account] += amount
    return dict(sums)


def our_posted_balances(store: Store) -> dict[str, Decimal]:
    return {
        line.account: Decimal(format_amount(line.balance.posted_minor, line.scale))
        for line in balances(store)
        if line.balance.debits_posted or line.balance.credits_posted
    }


def test_the_csv_export_has_one_row_per_posting_of_posted_entries(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.csv"

    assert export_ledger(store, "csv", path) == len(POSTED_KEYS)

    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == POSTED_POSTINGS
    assert {row["key"] for row in rows} == POSTED_KEYS
    assert sums_by_account(
        [(row["account"], Decimal(row["amount"])) for row in rows]
    ) == our_posted_balances(store)
    sale = {row["account"]: row for row in rows if row["key"] == "sale"}
    assert sale["client/C0001/cash/USD"]["amount"] == "-1902.50"
    assert sale[f"firm/custody/{ISIN}"]["amount"] == "-10"
    assert sale[f"firm/custody/{ISIN}"]["asset"] == ISIN
    assert sale[f"firm/custody/{ISIN}"]["reference"] == "TRADE-7"
    assert sale[f"firm/custody/{ISIN}"]["effective_date"] == DAY_3.isoformat()
    (deposit, *_) = [row for row in rows if row["key"] == "deposit"]
    assert deposit["description"] == TRICKY_DESCRIPTION
    assert deposit["amount"] == "1000.00"


def test_the_csv_export_goes_to_stdout_without_an_output_file(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book_four_days(store, tmp_path)

    assert export_ledger(store, "csv", None) == len(POSTED_KEYS)

    lines = list(csv.reader(capsys.readouterr().out.splitlines(keepends=True)))
    assert tuple(lines[0]) == CSV_COLUMNS
    assert len(lines) == 1 + POSTED_POSTINGS


def test_the_parquet_export_keeps_exact_amounts_and_minor_units(
    store: Store, tmp_path: Path
) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "ledger.parquet"

    assert export_ledger(store, "parquet", path) == len(POSTED_KEYS)

    frame = pl.read_parquet(path)
    assert frame.columns == [*CSV_COLUMNS, "amount_minor", "scale"]
    assert frame.schema["amount"] == pl.String
    assert frame.schema["amount_minor"] == pl.Int64
    assert frame.schema["effective_date"] == pl.Date
    assert frame.height == POSTED_POSTINGS
    rows = frame.to_dicts()
    assert all(row["amount"] == format_amount(row["amount_minor"], row["scale"]) for row in rows)
    assert sums_by_account(
        [(row["account"], Decimal(row["amount"])) for row in rows]
    ) == our_posted_balances(store)
    assert {row["key"] for row in rows} == POSTED_KEYS


def test_exports_read_in_small_batches_give_the_same_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book_four_days(store, tmp_path)
    export_ledger(store, "csv", tmp_path / "whole.csv")
    export_ledger(store, "parquet", tmp_path / "whole.parquet")
    # Fetches that split entries, and several Parquet row groups.
    monkeypatch.setattr(export, "export_batch_rows", 3)
    monkeypatch.setattr(export, "parquet_rows_per_group_max", 5)

    assert export_ledger(store, "csv", tmp_path / "small.csv") == len(POSTED_KEYS)
    assert export_ledger(store, "parquet", tmp_path / "small.parquet") == len(POSTED_KEYS)

    small_csv = (tmp_path / "small.csv").read_text(encoding="utf-8")
    assert small_csv == (tmp_path / "whole.csv").read_text(encoding="utf-8")
    small = pl.read_parquet(tmp_path / "small.parquet")
    assert small.equals(pl.read_parquet(tmp_path / "whole.parquet"))
    assert pq.ParquetFile(tmp_path / "small.parquet").num_row_groups > 1


def test_an_empty_ledger_exports_empty_tables(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, REFDATA)

    assert export_ledger(store, "csv", tmp_path / "empty.csv") == 0
    assert export_ledger(store, "parquet", tmp_path / "empty.parquet") == 0

    assert (tmp_path / "empty.csv").read_text(encoding="utf-8").splitlines() == [
        ",".join(CSV_COLUMNS)
    ]
    frame = pl.read_parquet(tmp_path / "empty.parquet")
    assert frame.height == 0
    assert frame.columns == [*CSV_COLUMNS, "amount_minor", "scale"]


def test_an_unknown_format_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ProblemError) as raised:
        export_ledger(store, "xlsx", tmp_path / "ledger.xlsx")

    assert raised.value.problems[0].code == "invalid_argument"
    assert not (tmp_path / "ledger.xlsx").exists()


def test_an_output_in_a_missing_directory_is_refused_before_reading(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(ProblemError) as raised:
        export_ledger(store, "csv", tmp_path / "missing" / "ledger.csv")

    assert raised.value.problems[0].code == "output_directory_missing"


def test_the_cli_exports_to_a_file(store: Store, tmp_path: Path) -> None:
    book_four_days(store, tmp_path)
    path = tmp_path / "cli.beancount"

    result = CliRunner().invoke(
        app, ["--db", store.url, "ledger", "export", "--format", "beancount", "-o", str(path)]
    )

    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8").count(" * ") == len(POSTED_KEYS)
    assert not list(tmp_path.glob(".*.partial"))


# Names -------------------------------------------------------------------------------------------

segments = st.text(alphabet="abcxyzABCXYZ019_.:-é", max_size=6)
codes = st.lists(segments, min_size=1, max_size=4).map("/".join)


@given(st.sets(codes, min_size=1, max_size=20), st.sampled_from(list(AccountType)))
@example({"cash", "Cash", "c1", "C1", "x", "X", "a_b", "a-5Fb", "A-5Fb"}, AccountType.ASSET)
@example(
    {"ab", "x-ab", "2Dab", "x-2Dab", "X-ab", "a-b", "a--b", "x--5Fb", "-x"}, AccountType.INCOME
)
def test_account_names_are_valid_beancount_and_never_collide(
    account_codes: set[str], account_type: AccountType
) -> None:
    names = {beancount_account(account_type, code) for code in account_codes}

    assert len(names) == len(account_codes)
    for name in names:
        assert beancount_accounts.is_valid(name), name
        opened, errors, _ = loader.load_string(f"2026-01-01 open {name}\n")
        assert errors == []
        assert opened[0].account == name


@given(st.sets(st.text(alphabet="abAB09._-' X_é", min_size=1, max_size=6), max_size=20))
@example({"usd", "USD", "TRUE", "X_TRUE", "1A", "X_1A", "A.", "A", "a"})
def test_commodity_names_are_valid_beancount_and_never_collide(asset_codes: set[str]) -> None:
    names = {beancount_commodity(code) for code in asset_codes}

    assert len(names) == len(asset_codes)
    for name in names:
        declared, errors, _ = loader.load_string(f"2026-01-01 commodity {name}\n")
        assert errors == [], name
        assert declared[0].currency == name


def test_valid_commodity_codes_are_kept() -> None:
    assert [beancount_commodity(code) for code in ("USD", ISIN, "BRK.B", "V")] == [
        "USD",
        ISIN,
        "BRK.B",
        "V",
    ]


@given(st.text(max_size=40))
@example("line\n" * 70 + 'a "quote", a \\ backslash, a \r return, a \t tab, a \x00 nul')
def test_strings_read_back_exactly(text: str) -> None:
    parsed, errors, _ = loader.load_string(
        f"2026-01-01 open Assets:Cash\n2026-01-01 * {beancount_string(text)}\n"
        "  Assets:Cash  1 USD\n  Assets:Cash  -1 USD\n"
    )

    assert errors == []
    assert parsed[-1].narration == text
