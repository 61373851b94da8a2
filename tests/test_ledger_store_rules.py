"""Rules the database keeps whatever writes to it: accounts and assets of postings, orphans."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from books import load_books

from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import Store


def accounts(store: Store) -> dict[str, tuple[int, int]]:
    with store.read() as connection:
        rows = connection.exec_driver_sql("SELECT code, id, asset_id FROM accounts").all()
    return {code: (int(account_id), int(asset_id)) for code, account_id, asset_id in rows}


def insert_entry(store: Store, lines: list[tuple[int, int, int]], *, with_entry: bool) -> None:
    """Postings (and, if asked, their entry) written directly, as a careless script would."""
    with store.engine.begin() as connection:
        for line, (account_id, asset_id, amount) in enumerate(lines):
            connection.exec_driver_sql(
                "INSERT INTO postings (entry_id, line, account_id, asset_id, amount_minor)"
                f" VALUES (900, {line}, {account_id}, {asset_id}, {amount})"
            )
        if with_entry:
            connection.exec_driver_sql(
                "INSERT INTO journal_entries (id, key, body_hash, kind, effective_date,"
                " booked_at_us, description, actor, source, metadata_json, prev_hash, hash)"
                " VALUES (900, 'direct', 'x', 'standard', '2026-01-02', 0, '', 'sql', 'sql',"
                " '{}', 'x', 'x')"
            )


def test_a_posting_in_an_asset_its_account_does_not_hold_is_refused(store: Store) -> None:
    load_books(store)
    by_code = accounts(store)
    usd_account, usd = next(v for k, v in by_code.items() if k.endswith("USD"))
    other_account, other_asset = next(v for v in by_code.values() if v[1] != usd)
    with pytest.raises(sa.exc.DBAPIError):
        # Balanced per asset on paper, but the first posting claims the wrong asset.
        insert_entry(
            store,
            [(usd_account, other_asset, 5), (other_account, other_asset, -5)],
            with_entry=True,
        )


def test_a_posting_to_no_account_is_refused(store: Store) -> None:
    load_books(store)
    (account_id, asset_id) = next(iter(accounts(store).values()))
    with pytest.raises(sa.exc.DBAPIError):
        insert_entry(store, [(account_id, asset_id, 5), (999_999, asset_id, -5)], with_entry=True)


def test_verify_names_postings_that_belong_to_no_entry(store: Store) -> None:
    load_books(store)
    (account_id, asset_id) = next(iter(accounts(store).values()))
    if store.dialect == "sqlite":
        # SQLite's deferred foreign key refuses them at commit already.
        with pytest.raises(sa.exc.DBAPIError):
            insert_entry(store, [(account_id, asset_id, 5)], with_entry=False)
        return
    insert_entry(store, [(account_id, asset_id, 5)], with_entry=False)
    assert [p.code for p in verify_ledger(store)] == ["orphan_postings"]


def test_an_account_is_never_deleted_nor_moved_to_another_asset(store: Store) -> None:
    load_books(store)
    with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM accounts")
    with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE accounts SET asset_id = asset_id + 1")


@pytest.mark.parametrize("head", [950, 899], ids=["postings-below-the-head", "past-the-head"])
def test_moving_the_chain_head_over_postings_without_their_entry_is_refused_at_commit(
    store: Store, head: int
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite's deferred foreign key refuses them at commit already")
    load_books(store)
    (account_id, asset_id) = next(iter(accounts(store).values()))

    def move_head_over_an_orphan() -> None:
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO postings (entry_id, line, account_id, asset_id, amount_minor)"
                f" VALUES (900, 0, {account_id}, {asset_id}, 5)"
            )
            connection.exec_driver_sql(f"UPDATE ledger_head SET last_entry_id = {head}")

    with pytest.raises(sa.exc.DBAPIError, match="postings without their entry"):
        move_head_over_an_orphan()
