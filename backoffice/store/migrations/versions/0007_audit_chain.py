"""The audit trail becomes a hash chain (store/audit_chain.py): `audit_chain` holds one hash per
event (append-only, as the events are) and `audit_head` the last one. Events already written
are chained here, in id order.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.store.audit_chain import GENESIS_HASH, event_hash

revision = "0007"
down_revision = "0006"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSAL = "audit_chain is append-only: the audit trail is added to, never rewritten"
chunk_events_max = 10_000


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("event_id", Id, sa.ForeignKey("audit_log.id"), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", Id, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
    )
    previous, last_id = _chain_existing_events(op.get_bind())
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, event_id, hash) VALUES (1, :event_id, :hash)"
        ).bindparams(event_id=last_id, hash=previous)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION backoffice_refuse_audit_chain_change() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{REFUSAL}' "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_refuse_change BEFORE UPDATE OR DELETE ON audit_chain "
            "FOR EACH ROW EXECUTE FUNCTION backoffice_refuse_audit_chain_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_refuse_truncate BEFORE TRUNCATE ON audit_chain "
            "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_refuse_audit_chain_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_chain_refuse_{action.lower()} BEFORE {action} ON "
                f"audit_chain BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
        op.execute(
            "CREATE TRIGGER audit_chain_refuse_replace BEFORE INSERT ON audit_chain "
            "WHEN EXISTS (SELECT 1 FROM audit_chain WHERE event_id = NEW.event_id) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )


def _chain_existing_events(connection: sa.Connection) -> tuple[str, int]:
    previous, last_id = GENESIS_HASH, 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, at_us, actor, command, detail_json FROM audit_log WHERE id > :after "
                "ORDER BY id LIMIT :limit"
            ).bindparams(after=last_id, limit=chunk_events_max)
        ).all()
        if not rows:
            return previous, last_id
        links = []
        for row in rows:
            previous = event_hash(
                previous, row.id, row.at_us, row.actor, row.command, row.detail_json
            )
            links.append({"event_id": row.id, "hash": previous})
            last_id = row.id
        connection.execute(
            sa.text("INSERT INTO audit_chain (event_id, hash) VALUES (:event_id, :hash)"), links
        )
