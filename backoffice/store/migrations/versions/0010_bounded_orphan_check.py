"""The commit-time check that every new posting has its entry (PostgreSQL) looks only at the
postings between the chain head's old and new entry ids.

As first written it looked at every posting past the old head: a range open to the right,
which PostgreSQL plans as a scan of the whole postings table when its statistics are missing
or stale (right after a bulk load) or when the plan is a cached generic one. That scan ran on
every commit that moved the head: 7 ms per single-entry post at 100,000 entries, growing with
the ledger (measured with bench/api.py). Closed on both sides the range is an index range;
a posting past the head (which the open range also caught) is found by the largest posting
entry id, one step down the primary key's index.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"

_FUNCTION = (
    "CREATE OR REPLACE FUNCTION backoffice_postings_have_entries() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF EXISTS (SELECT 1 FROM postings p WHERE p.entry_id > OLD.last_entry_id "
    "{upper}"
    "AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id)) {beyond}THEN "
    "RAISE EXCEPTION 'postings without their entry' "
    "USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NULL; END $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            _FUNCTION.format(
                upper="AND p.entry_id <= NEW.last_entry_id ",
                # At commit the head is final, though it moved twice in the transaction.
                beyond="OR (SELECT max(entry_id) FROM postings) > "
                "(SELECT last_entry_id FROM ledger_head WHERE id = 1) ",
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION.format(upper="", beyond=""))
