"""The books defend themselves: the database refuses changes to posted entries, and where
someone gets round it (dropping the triggers), `ledger verify` finds and names what changed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from books import (
    CLIENT_GUARDED,
    CLIENT_OPEN,
    FIRM_BANK,
    FIRM_HOUSE,
    ISIN,
    USD,
    count_entries,
    entries_by_key,
    load_books,
    stored_balances,
)

from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.rules import entry_hash
from backoffice.ledger.service import post_entries
from backoffice.ledger.verify import verify_ledger
from backoffice.store import schema
from backoffice.store.engine import Store, open_store

BACKOFFICE = str(Path(sys.executable).with_name("backoffice"))
DAY = dt.date(2026, 1, 2)


def postings(*pairs: tuple[str, str]) -> tuple[PostingRequest, ...]:
    return tuple(PostingRequest(account, amount) for account, amount in pairs)


BOOK = [
    EntryRequest(
        "deposit",
        DAY,
        description="client C2 pays in",
        postings=postings((FIRM_BANK[USD], "1000.00"), (CLIENT_GUARDED[USD], "-1000.00")),
    ),
    EntryRequest(
        "trade",
        DAY,
        description="client C1 buys 10 shares",
        postings=postings(
            (CLIENT_OPEN[USD], "1902.50"),
            (FIRM_HOUSE[USD], "-1902.50"),
            (FIRM_HOUSE[ISIN], "10"),
            (CLIENT_OPEN[ISIN], "-10"),
        ),
    ),
    EntryRequest(
        "hold",
        DAY,
        pending=True,
        postings=postings((CLIENT_GUARDED[USD], "250.00"), (FIRM_BANK[USD], "-250.00")),
    ),
    EntryRequest("hold/post", None, post_pending="hold"),
    EntryRequest(
        "fee",
        DAY,
        description="a fee charged in error",
        postings=postings((CLIENT_OPEN[USD], "5.00"), (FIRM_HOUSE[USD], "-5.00")),
    ),
    EntryRequest("fee/reverse", None, reverse="fee"),
    EntryRequest(
        "last",
        DAY,
        description="the newest entry",
        postings=postings((FIRM_HOUSE[USD], "1.00"), (CLIENT_OPEN[USD], "-1.00")),
    ),
]


@pytest.fixture
def store(store: Store) -> Store:
    """The conftest's fresh store (SQLite and PostgreSQL), with a few entries of every kind."""
    load_books(store)
    results = post_entries(store, BOOK, actor="test").results
    assert {r.outcome for r in results} == {EntryOutcome.CREATED}
    assert verify_ledger(store) == []
    return store


def execute(store: Store, *statements: str) -> None:
    """Run SQL behind the ledger's back, in one transaction."""
    with store.engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def entry_id(store: Store, key: str) -> int:
    with store.read() as connection:
        return int(
            connection.exec_driver_sql(
                f"SELECT id FROM journal_entries WHERE key = '{key}'"
            ).scalar_one()
        )


def drop_immutability(store: Store) -> None:
    """What someone with the database's password could do: drop the append-only triggers."""
    if store.dialect == "postgresql":
        execute(
            store,
            "DROP TRIGGER postings_refuse_change ON postings",
            "DROP TRIGGER journal_entries_refuse_change ON journal_entries",
        )
    else:
        execute(
            store,
            *(
                f"DROP TRIGGER {table}_refuse_{action}"
                for table in ("postings", "journal_entries")
                for action in ("update", "delete")
            ),
        )


def verify_command(store: Store) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKOFFICE, "--db", store.url, "ledger", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_verify_names(store: Store, *names: str) -> str:
    """`ledger verify` fails and names each of `names` in what it prints."""
    verified = verify_command(store)
    assert verified.returncode == 1, verified.stderr
    for name in names:
        assert name in verified.stderr, verified.stderr
    return verified.stderr


# Tampering behind the ledger's back -----------------------------------------------------------


def test_verify_passes_on_untouched_books(store: Store) -> None:
    verified = verify_command(store)
    assert verified.returncode == 0, verified.stderr


def test_a_changed_posting_amount_is_found_and_its_entry_named(store: Store) -> None:
    drop_immutability(store)
    deposit = entry_id(store, "deposit")
    execute(
        store,
        "UPDATE postings SET amount_minor = amount_minor + 1"
        f" WHERE entry_id = {deposit} AND line = 0",
    )
    output = assert_verify_names(store, f"entry {deposit} ('deposit')", repr(FIRM_BANK[USD]))
    assert "hash_mismatch" in output
    assert "entry_unbalanced" in output
    assert "balance_mismatch" in output


def test_a_changed_entry_that_still_balances_with_balances_in_step_is_found_by_its_hash(
    store: Store,
) -> None:
    drop_immutability(store)
    trade = entry_id(store, "trade")
    with store.engine.begin() as connection:
        lines = connection.exec_driver_sql(
            f"SELECT account_id, amount_minor FROM postings WHERE entry_id = {trade}"
        ).all()
        # Every posting of the trade doubled, and every balance moved by as much again.
        connection.exec_driver_sql(
            f"UPDATE postings SET amount_minor = amount_minor * 2 WHERE entry_id = {trade}"
        )
        for account_id, amount in lines:
            column = "debits_posted" if amount > 0 else "credits_posted"
            connection.exec_driver_sql(
                f"UPDATE accounts SET {column} = {column} + {abs(amount)} WHERE id = {account_id}"
            )
    output = assert_verify_names(store, f"entry {trade} ('trade')", "hash_mismatch")
    assert "entry_unbalanced" not in output
    assert "balance_mismatch" not in output


def test_a_changed_description_is_found_and_its_entry_named(store: Store) -> None:
    drop_immutability(store)
    execute(store, "UPDATE journal_entries SET description = 'nothing to see' WHERE key = 'trade'")
    output = assert_verify_names(store, f"entry {entry_id(store, 'trade')} ('trade')")
    assert "hash_mismatch" in output


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_link_to_the_next(
    store: Store,
) -> None:
    drop_immutability(store)
    fee = entry_id(store, "fee")
    e, p = schema.journal_entries, schema.postings
    with store.engine.begin() as connection:
        row = connection.execute(sa.select(e).where(e.c.id == fee)).one()
        lines = [
            tuple(line)
            for line in connection.execute(
                sa.select(p.c.account_id, p.c.asset_id, p.c.amount_minor)
                .where(p.c.entry_id == fee)
                .order_by(p.c.line)
            )
        ]
        content = [
            row.id, row.key, row.body_hash, row.kind, row.effective_date.isoformat(),
            row.booked_at_us, "a fee charged correctly", row.reference, row.actor, row.source,
            row.metadata_json, row.pending_id, row.reversal_of, row.expires_at_us,
        ]  # fmt: skip
        connection.execute(
            sa.update(e)
            .where(e.c.id == fee)
            .values(description=content[6], hash=entry_hash(row.prev_hash, content, lines))
        )
    output = assert_verify_names(store, f"entry {fee + 1} ('fee/reverse')", "chain_broken")
    assert f"entry {fee} ('fee')" not in output


def test_a_changed_account_balance_is_found_and_the_account_named(store: Store) -> None:
    execute(
        store,
        "UPDATE accounts SET debits_posted = debits_posted + 100,"
        f" credits_posted = credits_posted + 150 WHERE code = '{CLIENT_OPEN[USD]}'",
    )
    output = assert_verify_names(store, repr(CLIENT_OPEN[USD]))
    assert "balance_mismatch" in output
    assert "entry" not in output.replace("every entry", "")


def test_an_entry_deleted_from_the_chain_is_found(store: Store) -> None:
    drop_immutability(store)
    trade = entry_id(store, "trade")
    execute(
        store,
        f"DELETE FROM postings WHERE entry_id = {trade}",
        f"DELETE FROM journal_entries WHERE id = {trade}",
    )
    assert_verify_names(store, "chain_gap", f"expected entry {trade}", "balance_mismatch")


def test_the_newest_entry_deleted_with_its_balances_undone_is_found_by_the_chain_head(
    store: Store,
) -> None:
    drop_immutability(store)
    last = entry_id(store, "last")
    execute(
        store,
        f"DELETE FROM postings WHERE entry_id = {last}",
        f"DELETE FROM journal_entries WHERE id = {last}",
        f"UPDATE accounts SET debits_posted = debits_posted - 100 WHERE code = '{FIRM_HOUSE[USD]}'",
        "UPDATE accounts SET credits_posted = credits_posted - 100"
        f" WHERE code = '{CLIENT_OPEN[USD]}'",
    )
    output = assert_verify_names(store, "head_mismatch", f"entry {last}")
    assert "balance_mismatch" not in output


# The database's own refusals --------------------------------------------------------------


# (what, SQL with {trade} and {last} for entry ids, the databases that have the statement)
REFUSED_CHANGES = [
    ("update-description", "UPDATE journal_entries SET description = 'x' WHERE id = {trade}"),
    ("update-to-same", "UPDATE journal_entries SET effective_date = effective_date"),
    ("delete-entry", "DELETE FROM journal_entries WHERE id = {last}"),
    (
        "update-amount",
        "UPDATE postings SET amount_minor = amount_minor * 2 WHERE entry_id = {trade}",
    ),
    ("update-line", "UPDATE postings SET line = line + 10 WHERE entry_id = {trade}"),
    ("delete-postings", "DELETE FROM postings WHERE entry_id = {last}"),
    ("delete-all-postings", "DELETE FROM postings"),
    ("update-audit", "UPDATE audit_log SET actor = 'someone else'"),
    ("delete-audit", "DELETE FROM audit_log"),
    # An upsert onto a stored entry is an update.
    (
        "upsert",
        "INSERT INTO journal_entries SELECT * FROM journal_entries WHERE id = {trade}"
        " ON CONFLICT (id) DO UPDATE SET description = 'x'",
    ),
    ("truncate-postings", "TRUNCATE postings"),
    ("truncate-entries", "TRUNCATE journal_entries CASCADE"),
    ("truncate-audit", "TRUNCATE audit_log CASCADE"),
]


@pytest.mark.parametrize(
    "statement", [sql for _, sql in REFUSED_CHANGES], ids=[name for name, _ in REFUSED_CHANGES]
)
def test_the_database_refuses_to_change_or_delete_a_posted_entry(
    store: Store, statement: str
) -> None:
    if statement.startswith("TRUNCATE") and store.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    sql = statement.format(trade=entry_id(store, "trade"), last=entry_id(store, "last"))
    before = entries_by_key(store), stored_balances(store), count_entries(store)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        execute(store, sql)
    assert (entries_by_key(store), stored_balances(store), count_entries(store)) == before
    assert verify_ledger(store) == []


def insert_directly(
    store: Store, lines: list[tuple[str, int]], *, entry_first: bool = False
) -> None:
    """Insert an entry with `lines` (account, amount_minor) by SQL, postings first as the
    ledger does (or the entry first), in one transaction."""
    e, p, a = schema.journal_entries, schema.postings, schema.accounts
    with store.engine.begin() as connection:
        accounts = {
            row.code: (row.id, row.asset_id)
            for row in connection.execute(sa.select(a.c.code, a.c.id, a.c.asset_id))
        }
        new_id = int(connection.execute(sa.select(sa.func.max(e.c.id))).scalar_one()) + 1
        entry = {
            "id": new_id, "key": f"direct-{new_id}", "body_hash": "0" * 64, "kind": "standard",
            "effective_date": DAY, "booked_at_us": 0, "description": "inserted by SQL",
            "reference": None, "actor": "intruder", "source": "sql", "metadata_json": "{}",
            "pending_id": None, "reversal_of": None, "expires_at_us": None,
            "prev_hash": "0" * 64, "hash": "0" * 64,
        }  # fmt: skip
        rows = [
            {
                "entry_id": new_id,
                "line": line,
                "account_id": accounts[code][0],
                "asset_id": accounts[code][1],
                "amount_minor": amount,
            }
            for line, (code, amount) in enumerate(lines)
        ]
        if entry_first:
            connection.execute(sa.insert(e), [entry])
        for row in rows:
            connection.execute(sa.insert(p), [row])
        if not entry_first:
            connection.execute(sa.insert(e), [entry])


def test_a_balanced_entry_inserted_by_sql_is_accepted_by_the_database(store: Store) -> None:
    # The control for the refusals below: what they refuse is the imbalance, not the SQL.
    before = count_entries(store)
    insert_directly(store, [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[USD], -100)])
    assert count_entries(store) == before + 1


@pytest.mark.parametrize(
    "lines",
    [
        [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[USD], -99)],
        [(FIRM_HOUSE[USD], 100)],
        [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[USD], -100), (FIRM_HOUSE[ISIN], 5)],
        [
            (FIRM_HOUSE[USD], 100),
            (CLIENT_OPEN[USD], -100),
            (FIRM_HOUSE[ISIN], 5),
            (CLIENT_OPEN[ISIN], -4),
        ],
        # Sums to zero over both assets together, not per asset.
        [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[ISIN], -100)],
    ],
    ids=["short-by-one", "one-posting", "one-asset-left-over", "second-asset-short", "across"],
)
def test_an_unbalanced_entry_inserted_by_sql_is_refused_by_commit(
    store: Store, lines: list[tuple[str, int]]
) -> None:
    before = entries_by_key(store)
    with pytest.raises(sa.exc.DBAPIError, match=r"sum to zero|fewer than two"):
        insert_directly(store, lines)
    assert entries_by_key(store) == before


def test_an_entry_inserted_before_its_postings_is_refused(store: Store) -> None:
    before = entries_by_key(store)
    with pytest.raises(sa.exc.DBAPIError):
        insert_directly(store, [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[USD], -100)], entry_first=True)
    assert entries_by_key(store) == before


def add_postings(store: Store, entry: int, lines: list[tuple[str, int]]) -> None:
    p, a = schema.postings, schema.accounts
    with store.engine.begin() as connection:
        accounts = {
            row.code: (row.id, row.asset_id)
            for row in connection.execute(sa.select(a.c.code, a.c.id, a.c.asset_id))
        }
        connection.execute(
            sa.insert(p),
            [
                {
                    "entry_id": entry,
                    "line": 10 + index,
                    "account_id": accounts[code][0],
                    "asset_id": accounts[code][1],
                    "amount_minor": amount,
                }
                for index, (code, amount) in enumerate(lines)
            ],
        )


def test_a_posting_added_to_an_existing_entry_is_refused(store: Store) -> None:
    before = entries_by_key(store)
    # Even a pair that balances: an entry is whole once stored.
    with pytest.raises(sa.exc.DBAPIError, match="existing entry"):
        add_postings(
            store, entry_id(store, "trade"), [(FIRM_HOUSE[USD], 100), (CLIENT_OPEN[USD], -100)]
        )
    assert entries_by_key(store) == before


def test_sqlite_refuses_to_replace_a_posted_entry_by_insert_or_replace(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'books.db'}")
    try:
        load_books(store)
        post_entries(store, BOOK, actor="test")
        before = entries_by_key(store)
        with pytest.raises(sa.exc.DBAPIError):
            execute(
                store,
                "INSERT OR REPLACE INTO journal_entries SELECT id, key, body_hash, kind,"
                " effective_date, booked_at_us, 'rewritten', reference, actor, source,"
                " metadata_json, pending_id, reversal_of, expires_at_us, prev_hash, hash"
                " FROM journal_entries WHERE key = 'trade'",
            )
        assert entries_by_key(store) == before
    finally:
        store.dispose()
