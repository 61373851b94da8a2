"""Trading: what reference data gains for trading, trades, allocations and confirmations.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SIDES = "('buy', 'sell')"
TRADE_KINDS = "('trade', 'cancel', 'correct')"
TRADE_STATUSES = (
    "('booked', 'pending_allocation', 'allocated', 'confirmed', 'affirmed', 'rejected', "
    "'cancelled', 'corrected', 'cancel', 'settled')"
)
ALLOCATION_STATUSES = "('booked', 'confirmed', 'affirmed', 'rejected', 'cancelled', 'settled')"
AMOUNTS = ("gross_minor", "commission_minor", "sec_fee_minor", "finra_taf_minor")


def _money_columns() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in (*AMOUNTS, "net_minor")]


def _money_checks(table: str) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(f"{name} >= 0", name=f"ck_{table}_{name}") for name in AMOUNTS]


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("market", sa.String(4)))
        batch.add_column(sa.Column("currency", sa.String(3)))
        batch.add_column(sa.Column("asset_class", sa.String(16)))
    with op.batch_alter_table("parties") as batch:
        batch.add_column(
            sa.Column("allocates", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "commission_schedules",
        sa.Column("party_id", Id, sa.ForeignKey("parties.id"), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_share", sa.String(40), nullable=False),
        sa.Column("bps", sa.String(40), nullable=False),
        sa.Column("minimum", sa.String(40), nullable=False),
    )
    op.create_table(
        "ssis",
        sa.Column("id", Id, primary_key=True),
        sa.Column("party_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("market", sa.String(4), nullable=False),
        sa.Column("place_of_settlement", sa.String(11), nullable=False),
        sa.Column("agent", sa.String(11), nullable=False),
        sa.Column("safekeeping_account", sa.String(64), nullable=False),
        sa.UniqueConstraint("party_id", "market", name="uq_ssis_party_market"),
    )
    op.create_table(
        "fee_rates",
        sa.Column("id", Id, primary_key=True),
        sa.Column("fee", sa.String(16), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("maximum", sa.String(40)),
        sa.UniqueConstraint("fee", "effective_from", name="uq_fee_rates_fee_date"),
    )
    op.create_table(
        "trades",
        sa.Column("id", Id, primary_key=True),
        sa.Column("trade_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ref_trade_id", sa.String(64)),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("client_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("asset_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity_minor", sa.BigInteger, nullable=False),
        sa.Column("price", sa.String(40), nullable=False),
        sa.Column("currency_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("settlement_date", sa.Date, nullable=False),
        sa.Column("venue", sa.String(4), nullable=False),
        sa.Column("counterparty_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("transact_time_us", sa.BigInteger, nullable=False),
        *_money_columns(),
        sa.Column("block", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("alloc_id", sa.String(64)),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("captured_at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint(f"side IN {SIDES}", name="ck_trades_side"),
        sa.CheckConstraint(f"kind IN {TRADE_KINDS}", name="ck_trades_kind"),
        sa.CheckConstraint(f"status IN {TRADE_STATUSES}", name="ck_trades_status"),
        sa.CheckConstraint("quantity_minor > 0", name="ck_trades_quantity"),
        sa.CheckConstraint(
            "(kind = 'trade') = (ref_trade_id IS NULL)", name="ck_trades_ref_trade_id"
        ),
        *_money_checks("trades"),
    )
    op.create_index("ix_trades_trade_date", "trades", ["trade_date"])
    op.create_index("ix_trades_ref_trade_id", "trades", ["ref_trade_id"])
    op.create_table(
        "allocation_instructions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("alloc_id", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("exec_ids_json", sa.Text, nullable=False),
        sa.Column("average_price", sa.String(40), nullable=False),
        sa.Column("quantity_minor", sa.BigInteger, nullable=False),
        sa.Column("gross_minor", sa.BigInteger, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("status IN ('allocated', 'cancelled')", name="ck_alloc_status"),
    )
    op.create_table(
        "allocations",
        sa.Column("id", Id, primary_key=True),
        sa.Column("allocation_id", sa.String(80), nullable=False, unique=True),
        sa.Column("trade_id", sa.String(64)),
        sa.Column("alloc_id", sa.String(64)),
        sa.Column("client_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("asset_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("currency_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity_minor", sa.BigInteger, nullable=False),
        sa.Column("price", sa.String(40), nullable=False),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("settlement_date", sa.Date, nullable=False),
        *_money_columns(),
        sa.Column("entry_key", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confirm_id", sa.String(80), unique=True),
        sa.Column("confirmed_at_us", sa.BigInteger),
        sa.Column("affirmation_status", sa.String(16)),
        sa.Column("affirmation_reason", sa.Text),
        sa.Column("affirmed_at_us", sa.BigInteger),
        sa.CheckConstraint(f"side IN {SIDES}", name="ck_allocations_side"),
        sa.CheckConstraint(f"status IN {ALLOCATION_STATUSES}", name="ck_allocations_status"),
        sa.CheckConstraint("quantity_minor > 0", name="ck_allocations_quantity"),
        sa.CheckConstraint(
            "(trade_id IS NULL) <> (alloc_id IS NULL)", name="ck_allocations_one_origin"
        ),
        *_money_checks("allocations"),
    )
    op.create_index("ix_allocations_trade_id", "allocations", ["trade_id"])
    op.create_index("ix_allocations_alloc_id", "allocations", ["alloc_id"])
    op.create_index("ix_allocations_trade_date", "allocations", ["trade_date"])
