"""Four-eyes approval as built: approvals name their maker's login and their target (a maker
may be the single operator, with no user id), approval policies, every version of each
reference-data record (`refdata history`, `refdata list --as-of`), and corrections proposed
before approvals existed parked as approvals, so one path decides them all.

The approvals tables of 0008 were never written by any release (nothing parked commands
before this revision), so they are made again rather than altered.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HISTORY = "refdata_versions is append-only: history is added to, never rewritten"


def upgrade() -> None:
    op.drop_table("approval_decisions")
    op.drop_index("ix_approvals_status", "approvals")
    op.drop_table("approvals")
    _approvals()
    op.create_table(
        "approval_policies",
        sa.Column("permission", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("sections_json", sa.Text, nullable=False),
        sa.Column("amounts_json", sa.Text, nullable=False),
        sa.Column("approvers", sa.Integer, nullable=False),
        sa.Column("changed_at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("approvers >= 1", name="ck_approval_policies_approvers"),
    )
    op.create_table(
        "refdata_versions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("section", sa.String(32), nullable=False),
        sa.Column("code", sa.String(200), nullable=False),
        sa.Column("before_json", sa.Text, nullable=True),
        sa.Column("record_json", sa.Text, nullable=True),
        sa.Column("changed_at_us", sa.BigInteger, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approval_id", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_refdata_versions_code", "refdata_versions", ["code", "id"])
    _refuse_history_change()
    _park_waiting_corrections(op.get_bind())


def _approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", Id, primary_key=True),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("permission", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("request_json", sa.Text, nullable=False),
        sa.Column("effect_json", sa.Text, nullable=False),
        sa.Column("maker_user_id", Id, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("maker_login", sa.String(200), nullable=False),
        sa.Column("approvers_required", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("decided_at_us", sa.BigInteger, nullable=True),
        sa.Column("result_json", sa.Text, nullable=True),
        sa.CheckConstraint("approvers_required >= 1", name="ck_approvals_approvers"),
    )
    op.create_index("ix_approvals_status", "approvals", ["status", "id"])
    op.create_index("ix_approvals_target", "approvals", ["command", "target"])
    op.create_table(
        "approval_decisions",
        sa.Column("approval_id", Id, sa.ForeignKey("approvals.id"), primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )


def _refuse_history_change() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION backoffice_refuse_refdata_history_change() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{HISTORY}' "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER refdata_versions_refuse_change BEFORE UPDATE OR DELETE ON "
            "refdata_versions FOR EACH ROW EXECUTE FUNCTION "
            "backoffice_refuse_refdata_history_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER refdata_versions_refuse_{action.lower()} BEFORE {action} ON "
                f"refdata_versions BEGIN SELECT RAISE(ABORT, '{HISTORY}'); END"
            )


def _park_waiting_corrections(connection: sa.Connection) -> None:
    """Each correction proposed and not yet decided becomes a waiting approval, its maker the
    login that proposed it (compared by login, as it was named then)."""
    rows = connection.execute(
        sa.text(
            "SELECT c.id, c.break_id, c.proposed_by, c.proposed_at_us, c.postings_json, "
            "c.description FROM corrections c LEFT JOIN correction_decisions d "
            "ON d.correction_id = c.id WHERE d.id IS NULL ORDER BY c.id"
        )
    ).all()
    for row in rows:
        postings = orjson.loads(row.postings_json)
        request = {
            "correction_id": row.id,
            "break_id": row.break_id,
            "postings": postings,
            "description": row.description,
        }
        effect = {"entry_key": f"recon:correction/{row.id}", "postings": postings}
        connection.execute(
            sa.text(
                "INSERT INTO approvals (command, permission, target, request_json, effect_json, "
                "maker_user_id, maker_login, approvers_required, status, created_at_us) VALUES "
                "('recon.correction', 'recon.correction.propose', :target, :request, :effect, "
                "NULL, :maker, 1, 'awaiting', :at)"
            ),
            {
                "target": f"correction {row.id}",
                "request": orjson.dumps(request).decode(),
                "effect": orjson.dumps(effect).decode(),
                "maker": row.proposed_by,
                "at": row.proposed_at_us,
            },
        )
