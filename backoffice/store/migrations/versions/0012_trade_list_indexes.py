"""Indexes for the trade lists by client and by status (the console's and the API's filters),
each ending in the id so a keyset page is a range of the index, not a scan: one client's
trades among a million took 159 ms a page without it (bench/console.py).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_index("ix_trades_client", "trades", ["client_id", "id"])
    op.create_index("ix_trades_status", "trades", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_trades_status", "trades")
    op.drop_index("ix_trades_client", "trades")
