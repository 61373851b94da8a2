"""The audit trail is a hash chain (store/audit_chain.py): `audit verify` names the first event
changed, removed or inserted behind Backoffice's back, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from backoffice.store.audit_chain import verify_chain
from backoffice.store.engine import Store, open_store
from tests.cli_runner import Cli, staff

REFDATA = """\
assets:   [{code: USD, kind: currency, scale: 2}]
parties:  [{code: C0001, kind: client, name: Ada Client}, {code: FIRM, kind: firm}]
accounts:
  - {code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001}
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
"""
ENTRY = (
    '{{"key": "{key}", "date": "2026-11-24", "postings": [{{"account": "firm/bank/USD", '
    '"amount": "1.00"}}, {{"account": "client/C0001/cash/USD", "amount": "-1.00"}}]}}\n'
)


def three_events(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "refdata.yaml").write_text(REFDATA)
    assert cli("refdata", "load", str(tmp_path / "refdata.yaml")).status == 0
    for key in ("e1", "e2"):
        path = tmp_path / f"{key}.jsonl"
        path.write_text(ENTRY.format(key=key))
        assert cli("ledger", "post", str(path)).status == 0


def behind_the_back(database_url: str, *statements: str) -> None:
    """What someone holding the database's password could do: drop the refusing triggers and
    rewrite the trail."""
    store = open_store(database_url)
    try:
        if store.dialect == "postgresql":
            drops = [
                "DROP TRIGGER audit_log_refuse_change ON audit_log",
                "DROP TRIGGER audit_chain_refuse_change ON audit_chain",
            ]
        else:
            drops = [
                f"DROP TRIGGER {table}_refuse_{action}"
                for table in ("audit_log", "audit_chain")
                for action in ("update", "delete")
            ]
        with store.engine.begin() as connection:
            for statement in (*drops, *statements):
                connection.exec_driver_sql(statement)
    finally:
        store.dispose()


def test_an_untouched_trail_verifies_with_every_event_counted(cli: Cli, tmp_path: Path) -> None:
    three_events(cli, tmp_path)
    verified = cli("audit", "verify")
    assert verified.status == 0, verified.stderr
    assert "3 events" in verified.stderr
    listed = cli("audit", "list", "--json").json()["items"]
    assert [event["command"] for event in listed] == ["refdata.load", "ledger.post", "ledger.post"]
    assert all(len(event["hash"]) == 64 for event in listed)


def test_a_changed_event_is_found_and_named(cli: Cli, tmp_path: Path, database_url: str) -> None:
    three_events(cli, tmp_path)
    behind_the_back(database_url, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    refused = cli("audit", "verify")
    assert refused.status == 1
    assert "chain_broken" in refused.stderr
    assert "audit event 2 " in refused.stderr


def test_an_event_removed_from_the_middle_is_found_at_the_next(
    cli: Cli, tmp_path: Path, database_url: str
) -> None:
    three_events(cli, tmp_path)
    behind_the_back(
        database_url,
        "DELETE FROM audit_chain WHERE event_id = 2",
        "DELETE FROM audit_log WHERE id = 2",
    )
    refused = cli("audit", "verify")
    assert refused.status == 1
    assert "audit event 3 " in refused.stderr


def test_the_newest_event_removed_is_found_by_the_head(
    cli: Cli, tmp_path: Path, database_url: str
) -> None:
    three_events(cli, tmp_path)
    behind_the_back(
        database_url,
        "DELETE FROM audit_chain WHERE event_id = 3",
        "DELETE FROM audit_log WHERE id = 3",
    )
    refused = cli("audit", "verify")
    assert refused.status == 1
    assert "head_mismatch" in refused.stderr


def test_an_event_inserted_by_sql_is_found(cli: Cli, tmp_path: Path, database_url: str) -> None:
    three_events(cli, tmp_path)
    store = open_store(database_url)
    try:
        with store.engine.begin() as connection:  # no trigger refuses an INSERT of an event
            connection.exec_driver_sql(
                "INSERT INTO audit_log (at_us, actor, command, detail_json) "
                "VALUES (1, 'supervisor', 'recon.approve', '{}')"
            )
    finally:
        store.dispose()
    refused = cli("audit", "verify")
    assert refused.status == 1
    assert "not in the chain" in refused.stderr


def test_the_chain_is_append_only_in_the_database(
    database_url: str, cli: Cli, tmp_path: Path
) -> None:
    three_events(cli, tmp_path)
    store = open_store(database_url)
    try:
        for statement in ("UPDATE audit_chain SET hash = 'x'", "DELETE FROM audit_chain"):
            with (
                pytest.raises(sa.exc.DatabaseError, match="append-only"),
                store.engine.begin() as connection,
            ):
                connection.exec_driver_sql(statement)
    finally:
        store.dispose()


def test_an_upgraded_database_chains_the_events_it_already_held(database_url: str) -> None:
    old = Store(database_url)
    try:
        config = old.alembic_config()
        with old.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with old.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO audit_log (at_us, actor, command, detail_json) VALUES "
                "(10, 'ops', 'ledger.post', '{}'), (20, 'ops', 'recon.run', '{\"a\": 1}')"
            )
    finally:
        old.dispose()
    store = open_store(database_url)
    try:
        with store.read() as connection:
            report = verify_chain(connection)
        assert (report.events, report.problems) == (2, ())
    finally:
        store.dispose()


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE audit_log SET outcome = 'ok' WHERE id = 2",  # a refusal passed off as allowed
        "UPDATE audit_log SET user_id = NULL, authentication = NULL, permission = NULL, "
        "outcome = NULL WHERE id = 2",  # the stamp removed: it hashes as an old event would
        "UPDATE audit_log SET permission = 'ledger.read' WHERE id = 2",
    ],
)
def test_who_acted_and_the_outcome_are_covered_by_the_chain(
    cli: Cli, tmp_path: Path, database_url: str, tampering: str
) -> None:
    three_events(cli, tmp_path)
    staff(cli, olga="operations")
    tokens = staff(cli, carl="auditor")
    assert cli("ledger", "balances", token=tokens["carl"]).status == 0
    refused = cli("ledger", "post", str(tmp_path / "e1.jsonl"), token=tokens["carl"])
    assert "forbidden" in refused.stderr
    forbidden = max(
        e["id"] for e in cli("audit", "list", "--json", token=tokens["carl"]).json()["items"]
    )
    behind_the_back(database_url, tampering.replace("id = 2", f"id = {forbidden}"))
    broken = cli("audit", "verify", token=tokens["carl"])
    assert broken.status == 1
    assert f"audit event {forbidden} " in broken.stderr
