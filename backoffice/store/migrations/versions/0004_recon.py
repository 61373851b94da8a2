"""Reconciliation: statements and their lines, holdings, matches, breaks and their history,
corrections under maker-checker.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BREAK_TYPES = (
    "('missing_in_books', 'missing_in_statement', 'amount_difference', 'date_difference', "
    "'duplicate', 'balance_difference')"
)


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", Id, primary_key=True),
        sa.Column("statement_id", sa.String(80), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opening_balance_minor", sa.BigInteger, nullable=False),
        sa.Column("opening_date", sa.Date, nullable=False),
        sa.Column("closing_balance_minor", sa.BigInteger, nullable=False),
        sa.Column("closing_date", sa.Date, nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("imported_at_us", sa.BigInteger, nullable=False),
        # A statement imported twice is recognised, not doubled.
        sa.UniqueConstraint("account", "statement_id", name="uq_statements_account_id"),
    )
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
    op.create_table(
        "holdings",
        sa.Column("id", Id, primary_key=True),
        sa.Column("statement_id", sa.String(80), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("isin", sa.String(12), nullable=False),
        sa.Column("quantity", sa.String(40), nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.UniqueConstraint("account", "as_of", "isin", name="uq_holdings_position"),
    )
    # Every holdings statement, even one listing nothing: "the custodian holds nothing" is news.
    op.create_table(
        "holdings_statements",
        sa.Column("id", Id, primary_key=True),
        sa.Column("statement_id", sa.String(80), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("positions", sa.Integer, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.UniqueConstraint(
            "account", "as_of", "statement_id", name="uq_holdings_statements_statement"
        ),
    )
    op.create_table(
        "recon_matches",
        sa.Column("id", Id, primary_key=True),
        sa.Column("match_no", sa.BigInteger, nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("side", sa.String(9), nullable=False),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("matched_at_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.UniqueConstraint("side", "item_id", name="uq_recon_matches_item"),
    )
    op.create_table(
        "breaks",
        sa.Column("id", Id, primary_key=True),
        sa.Column("break_id", sa.String(40), nullable=False, unique=True),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("account_id", Id),  # null: a custodian position no ledger account holds
        sa.Column("external_account", sa.String(64)),  # the statement's account then
        sa.Column("scale", sa.SmallInteger),  # the amount's scale when there is no ledger account
        sa.Column("side", sa.String(9), nullable=False),
        sa.Column("item_id", Id),
        sa.Column("other_item_id", Id),  # the books item a difference break was found against
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("value_date", sa.Date, nullable=False),
        sa.Column("reference", sa.String(140)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("resolved_at_us", sa.BigInteger),
        sa.Column("resolution", sa.Text),
        sa.CheckConstraint(f"type IN {BREAK_TYPES}", name="ck_breaks_type"),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'resolved')", name="ck_breaks_status"
        ),
    )
    op.create_index("ix_breaks_status", "breaks", ["status"])
    # A run closes the breaks of the items it matched: looked up by item, thousands at a time.
    op.create_index("ix_breaks_item", "breaks", ["side", "item_id"])
    op.create_table(
        "break_events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("break_id", sa.String(40), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_break_events_break", "break_events", ["break_id"])
    op.create_table(
        "corrections",
        sa.Column("id", Id, primary_key=True),
        sa.Column("break_id", sa.String(40), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at_us", sa.BigInteger, nullable=False),
        sa.Column("postings_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("decided_at_us", sa.BigInteger),
        sa.Column("entry_key", sa.String(200)),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'rejected')", name="ck_corrections_status"
        ),
        # Maker-checker, by the database too: whoever proposed cannot approve.
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> proposed_by", name="ck_corrections_four_eyes"
        ),
    )
