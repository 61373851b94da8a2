"""Reconciliation's history is append-only, as the ledger is: the database refuses UPDATE and
DELETE on `break_events`, `corrections` and the new `correction_decisions`. A correction's
decision (approved or rejected) was an UPDATE of its row; it is now a row of its own, one per
correction (a unique key: decided once), and the status is derived (no decision: proposed).
Maker-checker stays the database's too: a trigger refuses a decision by the proposer.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("break_events", "corrections", "correction_decisions")
REFUSAL = "is append-only: history is added to, never rewritten"
FOUR_EYES = "correction decided by its proposer: another person must decide it"


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        _drop_decision_columns_postgresql_first()
    else:
        # SQLite cannot drop columns a CHECK names: the table is made again without them.
        op.execute("ALTER TABLE corrections RENAME TO corrections_0004")
        _corrections_table()
        op.execute(
            "INSERT INTO corrections (id, break_id, proposed_by, proposed_at_us, postings_json, "
            "description) SELECT id, break_id, proposed_by, proposed_at_us, postings_json, "
            "description FROM corrections_0004"
        )
    op.create_table(
        "correction_decisions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("correction_id", Id, sa.ForeignKey("corrections.id"), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at_us", sa.BigInteger, nullable=False),
        sa.Column("entry_key", sa.String(200)),  # the posted entry of an approval
        sa.UniqueConstraint("correction_id", name="uq_correction_decisions_correction"),
        sa.CheckConstraint(
            "decision IN ('approved', 'rejected')", name="ck_correction_decisions_decision"
        ),
    )
    source = "corrections_0004" if not postgresql else "corrections_decided_0004"
    op.execute(
        "INSERT INTO correction_decisions (correction_id, decision, decided_by, decided_at_us, "
        f"entry_key) SELECT id, status, approved_by, coalesce(decided_at_us, 0), entry_key "
        f"FROM {source} WHERE status <> 'proposed'"
    )
    if postgresql:
        op.execute("DROP TABLE corrections_decided_0004")
        _postgresql_triggers()
    else:
        op.execute("DROP TABLE corrections_0004")
        _sqlite_triggers()


def _corrections_table() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", Id, primary_key=True),
        sa.Column("break_id", sa.String(40), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at_us", sa.BigInteger, nullable=False),
        sa.Column("postings_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
    )


def _drop_decision_columns_postgresql_first() -> None:
    """PostgreSQL drops the columns in place (keeping the id sequence); their decisions are
    kept aside for the new table first."""
    op.execute(
        "CREATE TABLE corrections_decided_0004 AS SELECT id, status, approved_by, "
        "decided_at_us, entry_key FROM corrections"
    )
    for column in ("status", "approved_by", "decided_at_us", "entry_key"):
        op.execute(f"ALTER TABLE corrections DROP COLUMN {column}")  # its CHECKs go with it


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_refuse_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} {REFUSAL}'); END"
            )
        # INSERT OR REPLACE deletes the old row without firing DELETE triggers.
        op.execute(
            f"CREATE TRIGGER {table}_refuse_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{table} {REFUSAL}'); END"
        )
    op.execute(
        "CREATE TRIGGER correction_decisions_four_eyes BEFORE INSERT ON correction_decisions "
        "WHEN NEW.decided_by = (SELECT proposed_by FROM corrections WHERE id = NEW.correction_id) "
        f"BEGIN SELECT RAISE(ABORT, '{FOUR_EYES}'); END"
    )


def _postgresql_triggers() -> None:
    op.execute(
        "CREATE FUNCTION backoffice_refuse_history_change() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% {REFUSAL}', TG_TABLE_NAME "
        "USING ERRCODE = 'restrict_violation'; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION backoffice_refuse_history_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_refuse_history_change()"
        )
    op.execute(
        "CREATE FUNCTION backoffice_correction_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.decided_by = (SELECT proposed_by FROM corrections "
        f"WHERE id = NEW.correction_id) THEN RAISE EXCEPTION '{FOUR_EYES}' "
        "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER correction_decisions_four_eyes BEFORE INSERT ON correction_decisions "
        "FOR EACH ROW EXECUTE FUNCTION backoffice_correction_four_eyes()"
    )
