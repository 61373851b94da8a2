"""Positions: custodian holdings stored, and reconciled as of a day against the ledger positions
of the accounts whose `external_account` is the safekeeping account, per ISIN; a difference is
a position break, carried over from day to day while it stays open."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.money import format_amount
from backoffice.recon.books_service import now_us, record_audit
from backoffice.recon.break_service import open_break, resolve_break
from backoffice.recon.model import BreakStatus, BreakType, HoldingsStatement
from backoffice.recon.statement_service import parsed_amount
from backoffice.store import schema
from backoffice.store.engine import Store


def import_holdings(
    store: Store, statements: Sequence[HoldingsStatement], *, source_file: str, actor: str
) -> int:
    """Store custodian holdings, all or nothing; a position given again with the same quantity
    is recognised, with another quantity refused."""
    h = schema.holdings
    stored = 0
    hs = schema.holdings_statements
    with store.write() as connection:
        for statement in statements:
            known = connection.execute(
                sa.select(hs.c.id).where(
                    hs.c.account == statement.account,
                    hs.c.as_of == statement.as_of,
                    hs.c.statement_id == statement.statement_id,
                )
            ).first()
            if known is None:
                connection.execute(
                    sa.insert(hs).values(
                        statement_id=statement.statement_id,
                        format=statement.format.value,
                        account=statement.account,
                        as_of=statement.as_of,
                        positions=len(statement.holdings),
                        source_file=source_file,
                    )
                )
            for holding in statement.holdings:
                found = connection.execute(
                    sa.select(h.c.quantity).where(
                        h.c.account == statement.account,
                        h.c.as_of == statement.as_of,
                        h.c.isin == holding.isin,
                    )
                ).first()
                if found is not None:
                    if found.quantity != holding.quantity:
                        raise ProblemError(
                            Problem(
                                "holdings_changed",
                                f"{statement.account} {holding.isin} on {statement.as_of} was "
                                f"{found.quantity}, now {holding.quantity}",
                                holding.source,
                            )
                        )
                    continue
                connection.execute(
                    sa.insert(h).values(
                        statement_id=statement.statement_id,
                        format=statement.format.value,
                        account=statement.account,
                        as_of=statement.as_of,
                        isin=holding.isin,
                        quantity=holding.quantity,
                        source_file=source_file,
                    )
                )
                stored += 1
        record_audit(connection, actor, "recon.import", {"file": source_file, "positions": stored})
    return stored


def reconcile_positions(
    store: Store, day: dt.date, *, actor: str, account: str | None = None
) -> list[dict[str, Any]]:
    """Custodian holdings as of `day` against the ledger positions of the accounts whose
    `external_account` is the safekeeping account, per ISIN: a difference is a break. With
    `account`, that ledger account's position alone."""
    h, a, s, p, je = (
        schema.holdings,
        schema.accounts,
        schema.assets,
        schema.postings,
        schema.journal_entries,
    )
    only = account
    found: list[dict[str, Any]] = []
    with store.write() as connection:
        positions = connection.execute(sa.select(h).where(h.c.as_of == day)).all()
        hs = schema.holdings_statements
        safekeeping = sorted(
            connection.execute(sa.select(hs.c.account).where(hs.c.as_of == day).distinct())
            .scalars()
            .all()
        )
        if not safekeeping:
            return []
        ledger = connection.execute(
            sa.select(a.c.id, a.c.code, a.c.external_account, s.c.code.label("isin"), s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.external_account.in_(safekeeping), s.c.kind == "security")
        ).all()
        if only is not None:
            ledger = [r for r in ledger if r.code == only]
            wanted = {(r.external_account, r.isin) for r in ledger}
            positions = [row for row in positions if (row.account, row.isin) in wanted]
        balances = {
            row.account_id: int(row.total or 0)
            for row in connection.execute(
                sa.select(p.c.account_id, sa.func.sum(p.c.amount_minor).label("total"))
                .join(je, je.c.id == p.c.entry_id)
                .where(
                    p.c.account_id.in_([r.id for r in ledger]),
                    je.c.effective_date <= day,
                    je.c.kind.in_(("standard", "reversal", "post_pending")),
                )
                .group_by(p.c.account_id)
            )
        }
        # Several ledger accounts may keep one position at the custodian (house and
        # clients' securities in one safekeeping account): the custodian's figure is compared
        # with their sum, and a break is filed under the first of them.
        by_position: dict[tuple[str, str], Any] = {}
        position_total: dict[tuple[str, str], int] = {}
        for r in sorted(ledger, key=lambda r: r.id):
            key = (r.external_account, r.isin)
            by_position.setdefault(key, r)
            position_total[key] = position_total.get(key, 0) + balances.get(r.id, 0)
        known_scales = {
            r.code: int(r.scale)
            for r in connection.execute(
                sa.select(s.c.code, s.c.scale).where(
                    s.c.code.in_(sorted({row.isin for row in positions}))
                )
            )
        }
        seen: set[tuple[str, str]] = set()
        for row in positions:
            seen.add((row.account, row.isin))
            held = by_position.get((row.account, row.isin))
            where = Source(row.source_file, field=row.isin)
            if held is None:
                # The custodian holds what no ledger account of that safekeeping account does.
                scale = known_scales.get(row.isin, _decimals(row.quantity))
                quantity = parsed_amount(row.quantity, scale, where)
                if quantity:
                    found.append(
                        _position_break(
                            connection, None, row.account, row.isin, scale, day, quantity,
                            BreakType.MISSING_IN_BOOKS, actor,
                        )
                    )  # fmt: skip
                else:
                    _clear_position(connection, None, row.account, row.isin, day, actor)
                continue
            quantity = parsed_amount(row.quantity, held.scale, where)
            difference = quantity - position_total[(row.account, row.isin)]
            if difference:
                found.append(
                    _position_break(
                        connection, held, row.account, row.isin, held.scale, day,
                        difference, BreakType.AMOUNT_DIFFERENCE, actor,
                    )
                )  # fmt: skip
            else:
                _clear_position(connection, held.id, row.account, row.isin, day, actor)
        for key, held in by_position.items():
            if key in seen:
                continue
            if position_total[key]:
                found.append(
                    _position_break(
                        connection, held, held.external_account, held.isin,
                        held.scale, day, -position_total[key],
                        BreakType.MISSING_IN_STATEMENT, actor,
                    )
                )  # fmt: skip
            else:
                _clear_position(connection, held.id, held.external_account, held.isin, day, actor)
        if only is None:
            # A position only the custodian held, and that it no longer reports, is settled.
            b = schema.breaks
            for gone in connection.execute(
                sa.select(b.c.external_account, b.c.reference).where(
                    b.c.side == "holdings",
                    b.c.account_id.is_(None),
                    b.c.status != BreakStatus.RESOLVED.value,
                    b.c.external_account.in_(safekeeping),
                )
            ).all():
                if (gone.external_account, gone.reference) not in seen:
                    _clear_position(
                        connection, None, gone.external_account, gone.reference, day, actor
                    )
    return found


def _decimals(quantity: str) -> int:
    """The scale a quantity is written in, for a security the reference data lacks."""
    _, _, fraction = quantity.strip().partition(".")
    return len(fraction.rstrip("0")) if fraction.isdigit() else 0


def _open_position_break(
    connection: sa.Connection, account_id: int | None, external_account: str, isin: str
) -> Any:
    b = schema.breaks
    return connection.execute(
        sa.select(b.c.break_id)
        .where(
            b.c.side == "holdings",
            b.c.reference == isin,
            b.c.status != BreakStatus.RESOLVED.value,
            b.c.account_id == account_id
            if account_id is not None
            else (b.c.account_id.is_(None) & (b.c.external_account == external_account)),
        )
        .order_by(b.c.id)
    ).scalar()


def _clear_position(
    connection: sa.Connection,
    account_id: int | None,
    external_account: str,
    isin: str,
    day: dt.date,
    actor: str,
) -> None:
    break_id = _open_position_break(connection, account_id, external_account, isin)
    if break_id is not None:
        resolve_break(
            connection, break_id, actor, f"cleared: custodian and books agree on {day}", now_us()
        )


def _position_break(
    connection: sa.Connection,
    account: Any,
    external_account: str,
    isin: str,
    scale: int,
    day: dt.date,
    difference: int,
    kind: BreakType,
    actor: str,
) -> dict[str, Any]:
    """A position break; one still open for the same position is carried over (same id,
    amount and type brought up to date) rather than a new one opened each day."""
    account_id = None if account is None else int(account.id)
    break_id = _open_position_break(connection, account_id, external_account, isin)
    if break_id is None:
        owner = (
            str(account_id)
            if account_id is not None
            else hashlib.sha256(external_account.encode()).hexdigest()[:8]
        )
        break_id = f"POS-{owner}-{isin}-{day:%Y%m%d}"
    open_break(
        connection, break_id, kind, account_id, "holdings", None, difference, day, isin, day,
        actor, f"custodian and books differ by {format_amount(difference, scale)} {isin} on {day}",
        external_account=external_account, scale=scale,
    )  # fmt: skip
    return {
        "break_id": break_id,
        "type": kind.value,
        "account": account.code if account is not None else external_account,
        "amount": format_amount(difference, scale),
        "value_date": day.isoformat(),
        "reference": isin,
    }
