"""Statements: an opening balance the bank may not give (a camt.053 holding only closing
balances), and an identity beyond the bank's statement id, which banks reuse (Rabobank writes
one :20: in every statement of a file): account, currency, statement number, dates and opening
balance, hashed into `identity_hash` and unique per ledger account. Statements stored before keep a
null identity and are recognised by their statement id and closing date, as they were.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KEPT_LINES = "statement_lines_0005"
_LINE_COLUMNS = (
    "id, statement_row, line_no, account_id, amount_minor, value_date, booking_date, "
    "references_json, description, source_line, raw, matched"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it, and with foreign keys on (they cannot be turned
        # off inside the migration's transaction) dropping the old copy would orphan the lines
        # that refer to it: the lines step aside and come back after.
        op.execute(f"CREATE TABLE {_KEPT_LINES} AS SELECT {_LINE_COLUMNS} FROM statement_lines")
        op.drop_index("ix_statement_lines_account", "statement_lines")
        op.drop_table("statement_lines")
    with op.batch_alter_table("statements") as batch:
        batch.alter_column("opening_balance_minor", existing_type=sa.BigInteger, nullable=True)
        batch.alter_column("opening_date", existing_type=sa.Date, nullable=True)
        batch.add_column(sa.Column("sequence", sa.String(80)))
        batch.add_column(sa.Column("identity_hash", sa.String(64)))
        batch.drop_constraint("uq_statements_account_id", type_="unique")
        batch.create_unique_constraint("uq_statements_identity", ["account_id", "identity_hash"])
    # Statements stored before are looked up by their statement id.
    op.create_index("ix_statements_account_statement", "statements", ["account_id", "statement_id"])
    if sqlite:
        _restore_lines()


def _restore_lines() -> None:
    """statement_lines exactly as 0004 made it, with its rows back."""
    op.create_table(
        "statement_lines",
        sa.Column("id", Id, primary_key=True),
        sa.Column("statement_row", Id, sa.ForeignKey("statements.id"), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("value_date", sa.Date, nullable=False),
        sa.Column("booking_date", sa.Date),
        sa.Column("references_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source_line", sa.Integer),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("matched", sa.Boolean, nullable=False),
    )
    op.create_index("ix_statement_lines_account", "statement_lines", ["account_id", "matched"])
    op.execute(
        f"INSERT INTO statement_lines ({_LINE_COLUMNS}) SELECT {_LINE_COLUMNS} FROM {_KEPT_LINES}"
    )
    op.drop_table(_KEPT_LINES)
