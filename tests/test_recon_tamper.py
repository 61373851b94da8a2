"""Reconciliation's history defends itself as the ledger does: the database refuses to change
or delete a break's events, a proposed correction or its decision (SQLite and PostgreSQL), and
a database made before this rule keeps its corrections' decisions when upgraded."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from backoffice.recon.correction_service import decide_correction, propose_correction
from backoffice.recon.queries import list_breaks
from backoffice.store import schema
from backoffice.store.engine import Store, open_store
from tests.books import CLIENT_OPEN, USD
from tests.test_recon_service import NOSTRO, books, fee_break  # noqa: F401  (`books`: fixture

HISTORY = (schema.break_events, schema.corrections, schema.correction_decisions)


@pytest.fixture
def decided(books: Store) -> Store:  # noqa: F811
    """A fee break with its history, one correction rejected and one still proposed."""
    break_id = fee_break(books)
    postings = [(NOSTRO, "-5.00"), (CLIENT_OPEN[USD], "5.00")]
    first = propose_correction(books, break_id, postings, description="fee", actor="alice")
    decide_correction(books, first, approve=False, actor="bob")
    propose_correction(books, break_id, postings, description="fee again", actor="alice")
    return books


def history(store: Store) -> list[list[Any]]:
    with store.read() as connection:
        return [
            [tuple(row) for row in connection.execute(sa.select(t).order_by(t.c.id))]
            for t in HISTORY
        ]


REFUSED_CHANGES = [
    ("update-event", "UPDATE break_events SET text = 'nothing happened'"),
    ("delete-event", "DELETE FROM break_events"),
    ("update-correction", "UPDATE corrections SET proposed_by = 'carol'"),
    ("delete-correction", "DELETE FROM corrections WHERE description = 'fee again'"),
    ("update-decision", "UPDATE correction_decisions SET decision = 'approved'"),
    ("delete-decision", "DELETE FROM correction_decisions"),
    ("truncate-events", "TRUNCATE break_events"),
    ("truncate-corrections", "TRUNCATE corrections CASCADE"),
    ("truncate-decisions", "TRUNCATE correction_decisions"),
    ("replace-event", "INSERT OR REPLACE INTO break_events SELECT * FROM break_events"),
    ("replace-decision", "INSERT OR REPLACE INTO correction_decisions SELECT * FROM correction_decisions"),
]  # fmt: skip


@pytest.mark.parametrize(
    "statement", [sql for _, sql in REFUSED_CHANGES], ids=[name for name, _ in REFUSED_CHANGES]
)
def test_the_database_refuses_to_rewrite_reconciliation_history(
    decided: Store, statement: str
) -> None:
    if statement.startswith("TRUNCATE") and decided.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    if statement.startswith("INSERT OR REPLACE") and decided.dialect != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    before = history(decided)
    assert all(before)  # every table has rows to refuse changing
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), decided.engine.begin() as c:
        c.exec_driver_sql(statement)
    assert history(decided) == before


def test_a_decided_correction_cannot_be_decided_again_even_by_sql(decided: Store) -> None:
    d = schema.correction_decisions
    with pytest.raises(sa.exc.IntegrityError), decided.write() as connection:
        connection.execute(
            sa.insert(d).values(
                correction_id=1, decision="approved", decided_by="carol", decided_at_us=1
            )
        )


def test_an_upgraded_database_keeps_its_corrections_and_their_decisions(
    database_url: str,
) -> None:
    old = Store(database_url)
    try:
        config = old.alembic_config()
        with old.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        with old.engine.begin() as connection:
            # As 0004's code wrote them (ids from the table's own sequence).
            connection.exec_driver_sql(
                "INSERT INTO corrections (break_id, proposed_by, proposed_at_us, "
                "postings_json, description, status, approved_by, decided_at_us, entry_key) "
                "VALUES ('BRK-S1', 'alice', 10, '[]', 'fee', 'approved', 'bob', 20, "
                "'recon:correction/1'), ('BRK-S1', 'alice', 30, '[]', 'fee', 'rejected', "
                "'carol', 40, NULL), ('BRK-S2', 'alice', 50, '[]', 'fee', 'proposed', NULL, "
                "NULL, NULL)"
            )
    finally:
        old.dispose()
    store = open_store(database_url)
    try:
        d = schema.correction_decisions
        with store.read() as connection:
            decisions = connection.execute(
                sa.select(d.c.correction_id, d.c.decision, d.c.decided_by, d.c.entry_key).order_by(
                    d.c.correction_id
                )
            ).all()
            proposals = connection.execute(
                sa.select(schema.corrections.c.id).order_by(schema.corrections.c.id)
            ).scalars()
            assert list(proposals) == [1, 2, 3]
        assert [tuple(row) for row in decisions] == [
            (1, "approved", "bob", "recon:correction/1"),
            (2, "rejected", "carol", None),
        ]
        # A new proposal takes a fresh id (PostgreSQL's sequence carried on).
        with store.write() as connection:
            new_id = connection.execute(
                sa.insert(schema.corrections)
                .values(
                    break_id="BRK-S2", proposed_by="dave", proposed_at_us=60,
                    postings_json="[]", description="x",
                )
                .returning(schema.corrections.c.id)
            ).scalar_one()  # fmt: skip
        assert new_id == 4
        assert list_breaks(store) == []
    finally:
        store.dispose()
