"""A standard set of reference data for ledger tests, and ways to read the books back.

Two assets (USD, scale 2; an ISIN, scale 0), a firm and two clients, and per asset a firm bank
account that may not go below zero, a house account and an unrestricted client account, and a
client account that may never go overdrawn.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from backoffice.formats.refdata_file import RefdataFile
from backoffice.refdata.model import (
    Account,
    AccountFlag,
    AccountType,
    Asset,
    AssetKind,
    Party,
    PartyKind,
)
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store

USD = "USD"
ISIN = "US0378331005"  # Apple Inc., a valid ISIN check digit
SCALES = {USD: 2, ISIN: 0}

FIRM_BANK = {USD: "firm/bank/USD", ISIN: f"firm/custody/{ISIN}"}
FIRM_HOUSE = {USD: "firm/house/USD", ISIN: f"firm/house/{ISIN}"}
CLIENT_OPEN = {USD: "client/C1/cash/USD", ISIN: f"client/C1/securities/{ISIN}"}
# What the firm holds at its bank or custodian, and client money and securities: never
# overdrawn (the bank by `credits_must_not_exceed_debits`, client C2 by
# `debits_must_not_exceed_credits`). The house and client C1 accounts have no limit.
CLIENT_GUARDED = {USD: "client/C2/cash/USD", ISIN: f"client/C2/securities/{ISIN}"}
DEBITS_LIMITED = frozenset(CLIENT_GUARDED.values())
CREDITS_LIMITED = frozenset(FIRM_BANK.values())

ACCOUNTS_BY_ASSET = {
    asset: (FIRM_BANK[asset], FIRM_HOUSE[asset], CLIENT_OPEN[asset], CLIENT_GUARDED[asset])
    for asset in (USD, ISIN)
}
ASSET_OF = {code: asset for asset, codes in ACCOUNTS_BY_ASSET.items() for code in codes}


def reference_data() -> RefdataFile:
    accounts: list[Account] = []
    for asset in (USD, ISIN):
        accounts += [
            Account(
                FIRM_BANK[asset],
                AccountType.ASSET,
                asset,
                "FIRM",
                flags=frozenset({AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS}),
            ),
            Account(FIRM_HOUSE[asset], AccountType.EQUITY, asset, "FIRM"),
            Account(CLIENT_OPEN[asset], AccountType.LIABILITY, asset, "C1"),
            Account(
                CLIENT_GUARDED[asset],
                AccountType.LIABILITY,
                asset,
                "C2",
                flags=frozenset({AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS}),
            ),
        ]
    return RefdataFile(
        assets=[
            Asset(USD, AssetKind.CURRENCY, SCALES[USD], "US dollar"),
            Asset(ISIN, AssetKind.SECURITY, SCALES[ISIN], "Apple Inc."),
        ],
        parties=[
            Party("FIRM", PartyKind.FIRM, "The firm"),
            Party("C1", PartyKind.CLIENT, "Ada Client"),
            Party("C2", PartyKind.CLIENT, "Grace Client"),
        ],
        accounts=accounts,
    )


def load_books(store: Store) -> None:
    """Load the standard reference data (idempotent: a second load changes nothing)."""
    load_refdata(store, reference_data(), actor="test", source="tests/books.py")


def stored_balances(store: Store) -> dict[str, tuple[int, int, int, int]]:
    """Every account's stored totals: (debits_posted, credits_posted, debits_pending,
    credits_pending)."""
    with store.read() as connection:
        rows = connection.exec_driver_sql(
            "SELECT code, debits_posted, credits_posted, debits_pending, credits_pending"
            " FROM accounts"
        ).all()
    return {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows}


def entries_by_key(store: Store) -> dict[str, dict[str, Any]]:
    """Every entry by key with what it means: kind, date, description, links (by key) and
    postings (by account code) — without ids, timestamps or hashes, which differ run to run."""
    with store.read() as connection:
        entries = connection.exec_driver_sql(
            "SELECT e.id, e.key, e.kind, e.effective_date, e.description, e.reference,"
            " e.metadata_json, p.key, r.key"
            " FROM journal_entries e"
            " LEFT JOIN journal_entries p ON p.id = e.pending_id"
            " LEFT JOIN journal_entries r ON r.id = e.reversal_of"
        ).all()
        postings = connection.exec_driver_sql(
            "SELECT p.entry_id, p.line, a.code, p.amount_minor"
            " FROM postings p JOIN accounts a ON a.id = p.account_id ORDER BY p.entry_id, p.line"
        ).all()
    lines: dict[int, list[tuple[str, int]]] = {}
    for entry_id, _, code, amount in postings:
        lines.setdefault(int(entry_id), []).append((code, int(amount)))
    return {
        row[1]: {
            "kind": row[2],
            "date": str(row[3]),
            "description": row[4],
            "reference": row[5],
            "metadata": row[6],
            "post_or_void_of": row[7],
            "reversal_of": row[8],
            "postings": lines.get(int(row[0]), []),
        }
        for row in entries
    }


def sums_by_account(store: Store) -> dict[str, tuple[int, int, int, int]]:
    """Every account's totals recomputed in SQL from the postings alone, independently of the
    ledger's own rules module."""
    with store.read() as connection:
        rows = connection.exec_driver_sql(
            "SELECT a.code, e.kind,"
            " COALESCE(SUM(CASE WHEN p.amount_minor > 0 THEN p.amount_minor ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN p.amount_minor < 0 THEN -p.amount_minor ELSE 0 END), 0)"
            " FROM postings p JOIN accounts a ON a.id = p.account_id"
            " JOIN journal_entries e ON e.id = p.entry_id GROUP BY a.code, e.kind"
        ).all()
        codes = [row[0] for row in connection.exec_driver_sql("SELECT code FROM accounts")]
    totals = {code: [0, 0, 0, 0] for code in codes}
    for code, kind, debits_text, credits_text in rows:
        total = totals[code]
        debits, credits = int(debits_text), int(credits_text)
        if kind == "pending":
            total[2] += debits
            total[3] += credits
        elif kind == "void_pending":
            total[2] -= debits
            total[3] -= credits
        elif kind == "post_pending":
            total[2] -= debits
            total[3] -= credits
            total[0] += debits
            total[1] += credits
        else:
            total[0] += debits
            total[1] += credits
    return {code: (t[0], t[1], t[2], t[3]) for code, t in totals.items()}


def count_entries(store: Store) -> int:
    with store.read() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM journal_entries")).scalar_one())


def breached_flags(balances: dict[str, tuple[int, int, int, int]]) -> list[str]:
    """The accounts whose totals break their balance flag, pending reservations counted."""
    breached = []
    for code, (debits, credits, debits_pending, credits_pending) in sorted(balances.items()):
        if code in DEBITS_LIMITED and debits + debits_pending > credits:
            breached.append(code)
        if code in CREDITS_LIMITED and credits + credits_pending > debits:
            breached.append(code)
    return breached
