"""Clearing and settlement: obligations and their trades, instructions, inbound messages.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OBLIGATION_STATUSES = (
    "('open', 'exception', 'netted_out', 'instructed', 'matched', 'unmatched', 'pending', "
    "'failed', 'partially_settled', 'settled', 'cancelled')"
)


def upgrade() -> None:
    op.create_table(
        "obligations",
        sa.Column("id", Id, primary_key=True),
        sa.Column("obligation_id", sa.String(16), nullable=False, unique=True),
        sa.Column("mode", sa.String(9), nullable=False),
        sa.Column("counterparty_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("asset_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("currency_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("market", sa.String(4), nullable=False),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("settlement_date", sa.Date, nullable=False),
        sa.Column("quantity_minor", sa.BigInteger, nullable=False),
        sa.Column("cash_minor", sa.BigInteger, nullable=False),
        sa.Column("trade_count", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("settled_quantity_minor", sa.BigInteger, nullable=False),
        sa.Column("settled_cash_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("mode IN ('ccp', 'bilateral')", name="ck_obligations_mode"),
        sa.CheckConstraint(f"status IN {OBLIGATION_STATUSES}", name="ck_obligations_status"),
        sa.CheckConstraint("trade_count > 0", name="ck_obligations_trade_count"),
        # What settled never exceeds what is due, in size or in sign.
        sa.CheckConstraint(
            "abs(settled_quantity_minor) <= abs(quantity_minor) AND ("
            "(quantity_minor >= 0 AND settled_quantity_minor >= 0) "
            "OR (quantity_minor <= 0 AND settled_quantity_minor <= 0))",
            name="ck_obligations_settled_quantity",
        ),
    )
    op.create_index("ix_obligations_settlement_date", "obligations", ["settlement_date"])
    op.create_table(
        "obligation_trades",
        sa.Column("obligation_id", sa.String(16), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("obligation_id", "trade_id", name="pk_obligation_trades"),
    )
    op.create_index("ix_obligation_trades_trade_id", "obligation_trades", ["trade_id"])
    op.create_table(
        "settlement_instructions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("obligation_id", sa.String(16), nullable=False),
        sa.Column("function", sa.String(8), nullable=False),
        sa.Column("previous_reference", sa.String(16)),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("function IN ('new', 'cancel')", name="ck_instructions_function"),
    )
    op.create_index("ix_instructions_obligation", "settlement_instructions", ["obligation_id"])
    op.create_table(
        "settlement_messages",
        sa.Column("id", Id, primary_key=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("reference", sa.String(35), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(16)),
        sa.Column("reason", sa.Text),
        sa.Column("settled_quantity_minor", sa.BigInteger),
        sa.Column("settled_cash_minor", sa.BigInteger),
        sa.Column("settled_on", sa.Date),
        sa.Column("entry_key", sa.String(200)),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_settlement_messages_reference", "settlement_messages", ["reference"])
