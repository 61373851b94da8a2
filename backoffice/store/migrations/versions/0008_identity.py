"""Users, roles, API tokens and four-eyes approvals (the command layer), and who acted and how
on every audit event from now on (user id, authentication, permission, outcome).

Users are never deleted (a trigger refuses it): the first user ends single-operator mode for
good, and every audit event's user id keeps naming someone.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSAL = "users are disabled, never deleted"


def upgrade() -> None:
    _audit_columns()
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True),
        sa.Column("login", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("os_user", sa.String(64), nullable=True, unique=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("disabled_at_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(64), primary_key=True),
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("permissions_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("changed_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=True),
        sa.Column("last_used_at_us", sa.BigInteger, nullable=True),
        sa.Column("revoked_at_us", sa.BigInteger, nullable=True),
    )
    _approvals()
    _refuse_user_delete()


def _audit_columns() -> None:
    op.add_column("audit_log", sa.Column("user_id", sa.BigInteger, nullable=True))
    op.add_column("audit_log", sa.Column("authentication", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("permission", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("outcome", sa.String(32), nullable=True))
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_permission", "audit_log", ["permission", "id"])
    op.create_index("ix_audit_log_at_us", "audit_log", ["at_us"])


def _approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", Id, primary_key=True),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("permission", sa.String(64), nullable=False),
        sa.Column("request_json", sa.Text, nullable=False),
        sa.Column("effect_json", sa.Text, nullable=False),
        sa.Column("maker_user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("approvers_required", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("decided_at_us", sa.BigInteger, nullable=True),
        sa.Column("result_json", sa.Text, nullable=True),
        sa.CheckConstraint("approvers_required >= 1", name="ck_approvals_approvers"),
    )
    op.create_index("ix_approvals_status", "approvals", ["status", "id"])
    op.create_table(
        "approval_decisions",
        sa.Column("approval_id", Id, sa.ForeignKey("approvals.id"), primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )


def _refuse_user_delete() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION backoffice_refuse_user_delete() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{REFUSAL}' "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER users_refuse_delete BEFORE DELETE ON users "
            "FOR EACH ROW EXECUTE FUNCTION backoffice_refuse_user_delete()"
        )
        op.execute(
            "CREATE TRIGGER users_refuse_truncate BEFORE TRUNCATE ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_refuse_user_delete()"
        )
    else:
        op.execute(
            "CREATE TRIGGER users_refuse_delete BEFORE DELETE ON users "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )
        op.execute(
            "CREATE TRIGGER users_refuse_replace BEFORE INSERT ON users "
            "WHEN EXISTS (SELECT 1 FROM users WHERE id = NEW.id OR login = NEW.login) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )
