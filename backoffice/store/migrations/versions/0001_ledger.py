"""Reference data and the double-entry ledger.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ENTRY_KINDS = "('standard', 'pending', 'post_pending', 'void_pending', 'reversal')"
APPEND_ONLY = ("journal_entries", "postings", "audit_log")


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", Id, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scale", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cusip", sa.String(9)),
        sa.CheckConstraint("kind IN ('currency', 'security')", name="ck_assets_kind"),
        sa.CheckConstraint("scale BETWEEN 0 AND 12", name="ck_assets_scale"),
    )
    op.create_table(
        "parties",
        sa.Column("id", Id, primary_key=True),
        sa.Column("code", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", Id, primary_key=True),
        sa.Column("code", sa.String(120), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("asset_id", Id, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("owner_id", Id, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("external_account", sa.String(64)),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean, nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean, nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False),
        sa.Column("credits_posted", sa.BigInteger, nullable=False),
        sa.Column("debits_pending", sa.BigInteger, nullable=False),
        sa.Column("credits_pending", sa.BigInteger, nullable=False),
        # Postings name (account, asset) so the database knows each posting's asset.
        sa.UniqueConstraint("id", "asset_id", name="uq_accounts_id_asset"),
        sa.CheckConstraint(
            "type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="ck_accounts_type"
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_accounts_status"),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0"
            " AND debits_pending >= 0 AND credits_pending >= 0",
            name="ck_accounts_totals_not_negative",
        ),
        # The balance flags, enforced by the database too: a bug or a race cannot breach them.
        sa.CheckConstraint(
            "NOT debits_must_not_exceed_credits"
            " OR debits_posted + debits_pending <= credits_posted",
            name="ck_accounts_debits_must_not_exceed_credits",
        ),
        sa.CheckConstraint(
            "NOT credits_must_not_exceed_debits"
            " OR credits_posted + credits_pending <= debits_posted",
            name="ck_accounts_credits_must_not_exceed_debits",
        ),
    )
    op.create_index("ix_accounts_external_account", "accounts", ["external_account"])
    op.create_table(
        "journal_entries",
        sa.Column("id", Id, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("effective_date", sa.Date, nullable=False),
        sa.Column("booked_at_us", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("metadata_json", sa.Text, nullable=False),
        # One resolution per pending entry and one reversal per entry, by unique links.
        sa.Column("pending_id", Id, sa.ForeignKey("journal_entries.id"), unique=True),
        sa.Column("reversal_of", Id, sa.ForeignKey("journal_entries.id"), unique=True),
        sa.Column("expires_at_us", sa.BigInteger),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint(f"kind IN {ENTRY_KINDS}", name="ck_journal_entries_kind"),
    )
    op.create_index("ix_journal_entries_reference", "journal_entries", ["reference"])
    op.create_index("ix_journal_entries_effective_date", "journal_entries", ["effective_date"])
    op.create_index(
        "ix_journal_entries_open_pending",
        "journal_entries",
        ["expires_at_us"],
        sqlite_where=sa.text("expires_at_us IS NOT NULL"),
        postgresql_where=sa.text("expires_at_us IS NOT NULL"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    # SQLite checks foreign keys in C at almost no cost. PostgreSQL checks each one with a row
    # trigger, a quarter of the posting time (measured): there the same rules are checked once
    # per statement by the set-based triggers below, and accounts can neither be deleted nor
    # change asset.
    posting_keys = (
        []
        if postgresql
        else [
            # Postings are written before their entry; the entry must exist by commit.
            sa.ForeignKeyConstraint(
                ["entry_id"],
                ["journal_entries.id"],
                name="fk_postings_entry",
                deferrable=True,
                initially="DEFERRED",
            ),
            sa.ForeignKeyConstraint(
                ["account_id", "asset_id"],
                ["accounts.id", "accounts.asset_id"],
                name="fk_postings_account_asset",
            ),
        ]
    )
    op.create_table(
        "postings",
        sa.Column("entry_id", Id, primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("asset_id", Id, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        *posting_keys,
        sa.CheckConstraint("amount_minor <> 0", name="ck_postings_amount_not_zero"),
    )
    op.create_index("ix_postings_account", "postings", ["account_id"])
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_entry_id", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ledger_head_single_row"),
    )
    op.execute(
        "INSERT INTO ledger_head (id, last_entry_id, last_hash) VALUES (1, 0, '" + "0" * 64 + "')"
    )
    op.create_table(
        "quarantine",
        sa.Column("id", Id, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("problems_json", sa.Text, nullable=False),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.UniqueConstraint("kind", "file", "line", "raw_sha256", name="uq_quarantine_item"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("detail_json", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_refuse_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: correct by reversal'); END"
            )
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless
    # recursive_triggers is on), so an insert that would replace a row is refused up front.
    op.execute(
        "CREATE TRIGGER accounts_refuse_delete BEFORE DELETE ON accounts "
        "BEGIN SELECT RAISE(ABORT, 'accounts are closed, never deleted, and keep their asset'); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER accounts_keep_asset BEFORE UPDATE OF id, asset_id ON accounts "
        "WHEN NEW.id <> OLD.id OR NEW.asset_id <> OLD.asset_id "
        "BEGIN SELECT RAISE(ABORT, 'accounts are closed, never deleted, and keep their asset'); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER audit_log_refuse_replace BEFORE INSERT ON audit_log "
        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: correct by reversal'); END"
    )
    op.execute(
        "CREATE TRIGGER postings_only_for_new_entries BEFORE INSERT ON postings "
        "WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id) "
        "BEGIN SELECT RAISE(ABORT, 'postings cannot be added to an existing entry'); END"
    )
    # One trigger per entry, not three: on SQLite each trigger program costs per row. The
    # postings are written before their entry, so they are there to be checked.
    op.execute(
        "CREATE TRIGGER journal_entries_checked BEFORE INSERT ON journal_entries BEGIN "
        "SELECT RAISE(ABORT, 'journal_entries is append-only: correct by reversal') "
        "WHERE EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.id) "
        "OR EXISTS (SELECT 1 FROM journal_entries WHERE key = NEW.key); "
        "SELECT RAISE(ABORT, 'entry has fewer than two postings') "
        "WHERE (SELECT count(*) FROM postings WHERE entry_id = NEW.id) < 2; "
        "SELECT RAISE(ABORT, 'entry postings do not sum to zero per asset') "
        "WHERE EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id "
        "GROUP BY asset_id HAVING sum(amount_minor) <> 0); "
        "END"
    )


def _postgresql_triggers() -> None:
    op.execute(
        "CREATE FUNCTION backoffice_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: correct by reversal', TG_TABLE_NAME "
        "USING ERRCODE = 'restrict_violation'; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION backoffice_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_refuse_change()"
        )
    # Set-based checks once per statement: a per-row trigger would cost a query per posting.
    op.execute(
        "CREATE FUNCTION backoffice_postings_only_for_new_entries() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM new_postings n CROSS JOIN LATERAL "
        "(SELECT 1 FROM journal_entries e WHERE e.id = n.entry_id LIMIT 1) stored) THEN "
        "RAISE EXCEPTION 'postings cannot be added to an existing entry' "
        "USING ERRCODE = 'check_violation'; END IF; "
        "IF EXISTS (SELECT 1 FROM new_postings n LEFT JOIN accounts a "
        "ON a.id = n.account_id AND a.asset_id = n.asset_id WHERE a.id IS NULL) THEN "
        "RAISE EXCEPTION 'a posting names no account of its asset' "
        "USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER postings_only_for_new_entries AFTER INSERT ON postings "
        "REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT "
        "EXECUTE FUNCTION backoffice_postings_only_for_new_entries()"
    )
    op.execute(
        "CREATE FUNCTION backoffice_entries_balanced() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        # LATERAL: look each new entry's postings up by the primary key, never scan them all.
        "IF EXISTS (SELECT 1 FROM new_entries e CROSS JOIN LATERAL "
        "(SELECT count(*) AS n FROM postings p WHERE p.entry_id = e.id) c WHERE c.n < 2) THEN "
        "RAISE EXCEPTION 'entry has fewer than two postings' USING ERRCODE = 'check_violation'; "
        "END IF; "
        "IF EXISTS (SELECT 1 FROM new_entries e CROSS JOIN LATERAL "
        "(SELECT 1 FROM postings p WHERE p.entry_id = e.id GROUP BY p.asset_id "
        "HAVING sum(p.amount_minor) <> 0) unbalanced) THEN "
        "RAISE EXCEPTION 'entry postings do not sum to zero per asset' "
        "USING ERRCODE = 'check_violation'; END IF; RETURN NULL; END $$"
    )
    # Every posting has its entry by commit (SQLite's deferred foreign key): checked when the
    # chain head moves, once per batch, for the postings past the old head. `ledger verify`
    # looks for orphan postings everywhere.
    op.execute(
        "CREATE FUNCTION backoffice_postings_have_entries() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM postings p WHERE p.entry_id > OLD.last_entry_id "
        "AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id)) THEN "
        "RAISE EXCEPTION 'postings without their entry' "
        "USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_head_postings_have_entries AFTER UPDATE ON ledger_head "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION backoffice_postings_have_entries()"
    )
    op.execute(
        "CREATE FUNCTION backoffice_accounts_keep_identity() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.asset_id <> OLD.asset_id THEN "
        "RAISE EXCEPTION 'accounts are closed, never deleted, and keep their asset' "
        "USING ERRCODE = 'restrict_violation'; END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER accounts_keep_identity BEFORE UPDATE OR DELETE ON accounts "
        "FOR EACH ROW EXECUTE FUNCTION backoffice_accounts_keep_identity()"
    )
    op.execute(
        "CREATE TRIGGER accounts_refuse_truncate BEFORE TRUNCATE ON accounts "
        "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
        "REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT "
        "EXECUTE FUNCTION backoffice_entries_balanced()"
    )
