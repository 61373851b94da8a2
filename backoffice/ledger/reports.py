"""Reading the books: balances (now or as of a date) and the trial balance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, invariant
from backoffice.ledger.model import Balance, EntryKind
from backoffice.ledger.rules import apply_posting
from backoffice.store import schema
from backoffice.store.engine import Store


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account: str
    asset: str
    scale: int
    balance: Balance


@dataclass(frozen=True, slots=True)
class TrialBalanceLine:
    """Per asset: the sum of debit balances, the sum of credit balances (positive), their net."""

    asset: str
    scale: int
    debits_minor: int
    credits_minor: int

    @property
    def net_minor(self) -> int:
        return self.debits_minor - self.credits_minor


def balances(
    store: Store, *, account: str | None = None, as_of: dt.date | None = None
) -> list[AccountBalance]:
    """Every account's balance (or one account's), now or as of the end of `as_of`."""
    a, s = schema.accounts, schema.assets
    query = (
        sa.select(
            a.c.id,
            a.c.code,
            s.c.code.label("asset"),
            s.c.scale,
            a.c.debits_posted,
            a.c.credits_posted,
            a.c.debits_pending,
            a.c.credits_pending,
        )
        .join(s, s.c.id == a.c.asset_id)
        .order_by(a.c.code)
    )
    if account is not None:
        query = query.where(a.c.code == account)
    with store.read() as connection:
        rows = connection.execute(query).all()
        if account is not None and not rows:
            raise ProblemError(Problem("unknown_account", f"no account {account!r}"))
        if as_of is None:
            return [
                AccountBalance(
                    r.code,
                    r.asset,
                    r.scale,
                    Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending),
                )
                for r in rows
            ]
        folded = _balances_as_of(connection, as_of, rows[0].id if account is not None else None)
    return [AccountBalance(r.code, r.asset, r.scale, folded.get(r.id, Balance())) for r in rows]


def _balances_as_of(
    connection: sa.Connection, as_of: dt.date, account_id: int | None
) -> dict[int, Balance]:
    p, e = schema.postings, schema.journal_entries
    debit = sa.func.sum(sa.case((p.c.amount_minor > 0, p.c.amount_minor), else_=0))
    credit = sa.func.sum(sa.case((p.c.amount_minor < 0, -p.c.amount_minor), else_=0))
    query = (
        sa.select(p.c.account_id, e.c.kind, debit, credit)
        .join(e, e.c.id == p.c.entry_id)
        .where(e.c.effective_date <= as_of)
        .group_by(p.c.account_id, e.c.kind)
    )
    if account_id is not None:
        query = query.where(p.c.account_id == account_id)
    folded: dict[int, Balance] = {}
    for account_id_row, kind, debits, credits in connection.execute(query):
        balance = folded.setdefault(account_id_row, Balance())
        apply_posting(balance, int(debits), EntryKind(kind))
        apply_posting(balance, -int(credits), EntryKind(kind))
    return folded


def trial_balance(store: Store, *, as_of: dt.date | None = None) -> list[TrialBalanceLine]:
    """Per asset, debit balances against credit balances. The net is zero, always: each entry
    sums to zero per asset, so the books as a whole do too."""
    if as_of is None:
        result = _trial_balance_now(store)
    else:
        result = _trial_balance_of(balances(store, as_of=as_of))
    for total_line in result:
        invariant(
            total_line.net_minor == 0,
            f"trial balance in {total_line.asset} nets to {total_line.net_minor}",
        )
    return result


def _trial_balance_now(store: Store) -> list[TrialBalanceLine]:
    """From the accounts' running totals, summed by the database: one pass over the accounts,
    no account read into Python (a firm has hundreds of thousands)."""
    a, s = schema.accounts, schema.assets
    net = a.c.debits_posted - a.c.credits_posted
    query = (
        sa.select(
            s.c.code,
            s.c.scale,
            sa.func.sum(sa.case((net > 0, net), else_=0)),
            sa.func.sum(sa.case((net < 0, -net), else_=0)),
        )
        .join(s, s.c.id == a.c.asset_id)
        .group_by(s.c.code, s.c.scale)
    )
    with store.read() as connection:
        rows = connection.execute(query).all()
    return [TrialBalanceLine(code, scale, int(debits), int(credits))
            for code, scale, debits, credits in sorted(rows)]  # fmt: skip


def _trial_balance_of(lines: list[AccountBalance]) -> list[TrialBalanceLine]:
    totals: dict[str, list[int]] = {}
    scales: dict[str, int] = {}
    for line in lines:
        total = totals.setdefault(line.asset, [0, 0])
        scales[line.asset] = line.scale
        posted = line.balance.posted_minor
        if posted > 0:
            total[0] += posted
        else:
            total[1] -= posted
    return [
        TrialBalanceLine(asset, scales[asset], debits, credits)
        for asset, (debits, credits) in sorted(totals.items())
    ]
