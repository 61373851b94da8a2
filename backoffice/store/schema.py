"""The tables as the running code sees them. Alembic migrations (in `migrations/`) create them.

Money columns are BIGINT minor units. Journal entries and postings are append-only: the
database refuses UPDATE and DELETE on them (triggers made by the migrations); so are the audit
log and reconciliation's history (break events, corrections and their decisions).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite makes an INTEGER PRIMARY KEY the rowid (fast); PostgreSQL wants BIGINT.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scale", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cusip", sa.String(9)),
    sa.Column("market", sa.String(4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("asset_class", sa.String(16)),
)

parties = sa.Table(
    "parties",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("code", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("allocates", sa.Boolean, nullable=False, server_default=sa.false()),
)

accounts = sa.Table(
    "accounts",
    metadata,
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
)

journal_entries = sa.Table(
    "journal_entries",
    metadata,
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
    sa.Column("pending_id", Id, unique=True),
    sa.Column("reversal_of", Id, unique=True),
    sa.Column("expires_at_us", sa.BigInteger),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

postings = sa.Table(
    "postings",
    metadata,
    sa.Column("entry_id", Id, primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("asset_id", Id, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
)

ledger_head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("last_entry_id", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("problems_json", sa.Text, nullable=False),
    sa.Column("received_at_us", sa.BigInteger, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("command", sa.String(64), nullable=False),
    sa.Column("detail_json", sa.Text, nullable=False),
    # Who acted and how, from the command layer (NULL on events written before it existed).
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("authentication", sa.String(64), nullable=True),
    sa.Column("permission", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Index("ix_audit_log_actor", "actor", "id"),
    sa.Index("ix_audit_log_permission", "permission", "id"),
    sa.Index("ix_audit_log_at_us", "at_us"),
)

# The audit trail's hash chain (store/audit_chain.py): one hash per event, append-only, and
# its head, one row.
audit_chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("event_id", Id, sa.ForeignKey("audit_log.id"), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", Id, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
)

# Identity (admin/identity_service.py). Users are never deleted, only disabled: the first
# user ends single-operator mode for good.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("login", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("os_user", sa.String(64), nullable=True, unique=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("disabled_at_us", sa.BigInteger, nullable=True),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(64), primary_key=True),
)

# Custom roles (the built-in ones are code: admin/roles.py).
roles = sa.Table(
    "roles",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("permissions_json", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("changed_at_us", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("expires_at_us", sa.BigInteger, nullable=True),
    sa.Column("last_used_at_us", sa.BigInteger, nullable=True),
    sa.Column("revoked_at_us", sa.BigInteger, nullable=True),
)

# The console's sessions (admin/session_service.py): the cookie's value is kept only as its
# SHA-256; a session ends at logout, after its idle or its absolute timeout.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("seen_at_us", sa.BigInteger, nullable=False),
    sa.Column("ended_at_us", sa.BigInteger, nullable=True),
)

# Failed console logins, per login, to throttle guessing (the audit trail records each too).
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("login", sa.String(64), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Index("ix_login_failures_login", "login", "at_us"),
)

# Four-eyes approval (admin/approval_service.py): a command parked with its request and the
# effect it would have, and each person's decision (one per person: the primary key).
approvals = sa.Table(
    "approvals",
    metadata,
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
    sa.Index("ix_approvals_status", "status", "id"),
    sa.Index("ix_approvals_target", "command", "target"),
)

# Every version of a reference-data record, written with the change (refdata/change_service):
# who changed it, when, who approved it. record_json NULL: not a record any more.
refdata_versions = sa.Table(
    "refdata_versions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("section", sa.String(32), nullable=False),
    sa.Column("code", sa.String(200), nullable=False),
    sa.Column("before_json", sa.Text, nullable=True),
    sa.Column("record_json", sa.Text, nullable=True),
    sa.Column("changed_at_us", sa.BigInteger, nullable=False),
    sa.Column("changed_by", sa.String(200), nullable=False),
    sa.Column("approved_by", sa.String(200), nullable=True),
    sa.Column("approval_id", sa.BigInteger, nullable=True),
    sa.Index("ix_refdata_versions_code", "code", "id"),
)

# Which approvable commands wait for a second person (from the refdata file's
# `approval_policies:`; admin/approval_policy.py). No row: the built-in default.
approval_policies = sa.Table(
    "approval_policies",
    metadata,
    sa.Column("permission", sa.String(64), primary_key=True),
    sa.Column("rule", sa.String(16), nullable=False),
    sa.Column("sections_json", sa.Text, nullable=False),
    sa.Column("amounts_json", sa.Text, nullable=False),
    sa.Column("approvers", sa.Integer, nullable=False),
    sa.Column("changed_at_us", sa.BigInteger, nullable=False),
    sa.CheckConstraint("approvers >= 1", name="ck_approval_policies_approvers"),
)

approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("approval_id", Id, sa.ForeignKey("approvals.id"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)

commission_schedules = sa.Table(
    "commission_schedules",
    metadata,
    sa.Column("party_id", Id, primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("per_share", sa.String(40), nullable=False),
    sa.Column("bps", sa.String(40), nullable=False),
    sa.Column("minimum", sa.String(40), nullable=False),
)

ssis = sa.Table(
    "ssis",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("party_id", Id, nullable=False),
    sa.Column("market", sa.String(4), nullable=False),
    sa.Column("place_of_settlement", sa.String(11), nullable=False),
    sa.Column("agent", sa.String(11), nullable=False),
    sa.Column("safekeeping_account", sa.String(64), nullable=False),
)

fee_rates = sa.Table(
    "fee_rates",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("fee", sa.String(16), nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("rate", sa.String(40), nullable=False),
    sa.Column("maximum", sa.String(40)),
)


def _money() -> list[sa.Column[int]]:
    names = ("gross_minor", "commission_minor", "sec_fee_minor", "finra_taf_minor", "net_minor")
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


trades = sa.Table(
    "trades",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("trade_id", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("ref_trade_id", sa.String(64)),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("account", sa.String(120), nullable=False),
    sa.Column("client_id", Id, nullable=False),
    sa.Column("asset_id", Id, nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity_minor", sa.BigInteger, nullable=False),
    sa.Column("price", sa.String(40), nullable=False),
    sa.Column("currency_id", Id, nullable=False),
    sa.Column("trade_date", sa.Date, nullable=False),
    sa.Column("settlement_date", sa.Date, nullable=False),
    sa.Column("venue", sa.String(4), nullable=False),
    sa.Column("counterparty_id", Id, nullable=False),
    sa.Column("transact_time_us", sa.BigInteger, nullable=False),
    *_money(),
    sa.Column("block", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("alloc_id", sa.String(64)),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("source_line", sa.Integer, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("captured_at_us", sa.BigInteger, nullable=False),
)

allocation_instructions = sa.Table(
    "allocation_instructions",
    metadata,
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
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("allocation_id", sa.String(80), nullable=False, unique=True),
    sa.Column("trade_id", sa.String(64)),
    sa.Column("alloc_id", sa.String(64)),
    sa.Column("client_id", Id, nullable=False),
    sa.Column("asset_id", Id, nullable=False),
    sa.Column("currency_id", Id, nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity_minor", sa.BigInteger, nullable=False),
    sa.Column("price", sa.String(40), nullable=False),
    sa.Column("trade_date", sa.Date, nullable=False),
    sa.Column("settlement_date", sa.Date, nullable=False),
    *_money(),
    sa.Column("entry_key", sa.String(200), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("confirm_id", sa.String(80), unique=True),
    sa.Column("confirmed_at_us", sa.BigInteger),
    sa.Column("affirmation_status", sa.String(16)),
    sa.Column("affirmation_reason", sa.Text),
    sa.Column("affirmed_at_us", sa.BigInteger),
)

obligations = sa.Table(
    "obligations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("obligation_id", sa.String(16), nullable=False, unique=True),
    sa.Column("mode", sa.String(9), nullable=False),
    sa.Column("counterparty_id", Id, nullable=False),
    sa.Column("asset_id", Id, nullable=False),
    sa.Column("currency_id", Id, nullable=False),
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
)

obligation_trades = sa.Table(
    "obligation_trades",
    metadata,
    sa.Column("obligation_id", sa.String(16), primary_key=True),
    sa.Column("trade_id", sa.String(64), primary_key=True),
)

settlement_instructions = sa.Table(
    "settlement_instructions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("obligation_id", sa.String(16), nullable=False),
    sa.Column("function", sa.String(8), nullable=False),
    sa.Column("previous_reference", sa.String(16)),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
)

settlement_messages = sa.Table(
    "settlement_messages",
    metadata,
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

statements = sa.Table(
    "statements",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("statement_id", sa.String(80), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("opening_balance_minor", sa.BigInteger),  # null: the bank gave no opening
    sa.Column("opening_date", sa.Date),
    sa.Column("closing_balance_minor", sa.BigInteger, nullable=False),
    sa.Column("closing_date", sa.Date, nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("imported_at_us", sa.BigInteger, nullable=False),
    sa.Column("sequence", sa.String(80)),  # the bank's statement number, where it gave one
    # Unique per ledger account: a statement is known by it, not by its statement_id, which banks
    # reuse. Null for statements stored before migration 0005.
    sa.Column("identity_hash", sa.String(64)),
)

statement_lines = sa.Table(
    "statement_lines",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("statement_row", Id, nullable=False),
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

holdings = sa.Table(
    "holdings",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("statement_id", sa.String(80), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("isin", sa.String(12), nullable=False),
    sa.Column("quantity", sa.String(40), nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),
)

holdings_statements = sa.Table(
    "holdings_statements",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("statement_id", sa.String(80), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("positions", sa.Integer, nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),
)

recon_matches = sa.Table(
    "recon_matches",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("match_no", sa.BigInteger, nullable=False),
    sa.Column("rule", sa.String(16), nullable=False),
    sa.Column("side", sa.String(9), nullable=False),
    sa.Column("item_id", Id, nullable=False),
    sa.Column("matched_at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)

breaks = sa.Table(
    "breaks",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("break_id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(24), nullable=False),
    sa.Column("account_id", Id),  # null: a custodian position no ledger account holds
    sa.Column("external_account", sa.String(64)),  # the statement's account, for such a break
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
)

break_events = sa.Table(
    "break_events",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("break_id", sa.String(40), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("break_id", sa.String(40), nullable=False),
    sa.Column("proposed_by", sa.String(200), nullable=False),
    sa.Column("proposed_at_us", sa.BigInteger, nullable=False),
    sa.Column("postings_json", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
)

# A correction's decision, one at most (a unique key): its status is derived from it (none:
# proposed). Break events, corrections and decisions are append-only like the ledger.
correction_decisions = sa.Table(
    "correction_decisions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("correction_id", Id, nullable=False, unique=True),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=False),
    sa.Column("decided_at_us", sa.BigInteger, nullable=False),
    sa.Column("entry_key", sa.String(200)),
)
