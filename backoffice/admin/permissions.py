"""Permission codes: what a role may let a user do. Every command names one (the CLI's
`requires`, tests/test_permissions.py checks that each has one); a command that can wait for a
second person has an approval twin, the permission to approve it.
"""

from __future__ import annotations

from typing import Final

PERMISSIONS: Final[dict[str, str]] = {
    "approvals.decide": "Approve or reject waiting commands (each needs its approval twin too).",
    "approvals.read": "List and show commands waiting for approval, with their effect.",
    "audit.export": "Export the audit trail with its manifest.",
    "audit.read": "Read and verify the audit trail.",
    "db.read": "Read the schema revision.",
    "db.upgrade": "Migrate the database's schema.",
    "demo.run": "Build the demonstration database.",
    "ledger.export": "Export ledger entries (client data; the export is audited).",
    "ledger.pending": "Post, void or expire pending (two-phase) entries.",
    "ledger.post": "Post journal entries.",
    "ledger.post.approve": "Approve journal entries waiting for a second person.",
    "ledger.read": "Read balances, entries, the trial balance and the ledger's quarantine.",
    "ledger.reverse": "Reverse a posted entry.",
    "ledger.reverse.approve": "Approve a reversal waiting for a second person.",
    "recon.break.update": "Investigate breaks: owner, status, comment.",
    "recon.correction.approve": "Approve or reject a proposed correcting entry.",
    "recon.correction.propose": "Propose a correcting entry for a break.",
    "recon.import": "Import bank and custodian statements.",
    "recon.match": "Match a statement break to a books break by hand.",
    "recon.read": "Read statements, breaks and the reconciliation quarantine.",
    "recon.run": "Run reconciliation.",
    "refdata.change": "Change reference data (load a reference-data file).",
    "refdata.change.approve": "Approve a reference-data change waiting for a second person.",
    "refdata.read": "Read reference data and its history.",
    "settlement.instruct": "Generate settlement instructions.",
    "settlement.net": "Net trades into settlement obligations.",
    "settlement.read": "Read obligations, fails and penalties.",
    "settlement.status": "Apply settlement status messages.",
    "trades.affirm": "Record affirmations of confirmations.",
    "trades.allocate": "Allocate block trades.",
    "trades.confirm": "Generate confirmations.",
    "trades.import": "Capture executions (FIX logs, trade CSV) and resubmit repaired ones.",
    "trades.read": "Read trades, allocations, the unaffirmed list and the trades quarantine.",
    "users.manage": "Add and disable users, set their roles, issue and revoke tokens, load roles.",
    "users.manage.approve": "Approve a user or role change waiting for a second person.",
    "users.read": "List users, roles and approvals' makers.",
}

# An approvable command's permission, and the permission that approves it.
APPROVAL_TWINS: Final[dict[str, str]] = {
    "ledger.post": "ledger.post.approve",
    "ledger.reverse": "ledger.reverse.approve",
    "recon.correction.propose": "recon.correction.approve",
    "refdata.change": "refdata.change.approve",
    "users.manage": "users.manage.approve",
}

ALL_PERMISSIONS: Final[frozenset[str]] = frozenset(PERMISSIONS)
# The business reads: the audit trail and the users list are granted apart.
READ_PERMISSIONS: Final[frozenset[str]] = frozenset(
    code for code in PERMISSIONS if code.endswith(".read")
) - {"audit.read", "users.read"}
