"""The console's server-side sessions and the failed logins that throttle password guessing.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("seen_at_us", sa.BigInteger, nullable=False),
        sa.Column("ended_at_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", Id, primary_key=True),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_login", "login_failures", ["login", "at_us"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_login", "login_failures")
    op.drop_table("login_failures")
    op.drop_table("web_sessions")
