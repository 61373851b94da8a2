"""Reading trades and allocations back, with amounts as decimal strings, a bounded page at a
time (keyset over the id, never OFFSET; backoffice/ledger/queries.py `Page`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.queries import (
    Page,
    bounded_limit,
    every_item,
    list_page_default,
    list_page_max,
    page_of,
)
from backoffice.money import format_amount
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.trades.service import TradeStatus

TRADE_STATUSES = tuple(
    value for name, value in vars(TradeStatus).items() if name.isupper() and name != "CANCEL"
)


def list_trades(store: Store, trade_date: dt.date | None = None) -> list[dict[str, Any]]:
    """Every trade (not the cancel messages themselves), oldest first; of `trade_date` when
    given. `status` is the trade's (README "Trade statuses")."""
    return every_item(
        lambda after: trades_page(store, trade_date, limit=list_page_max, after=after)
    )


def trades_page(
    store: Store,
    trade_date: dt.date | None = None,
    *,
    client: str | None = None,
    status: str | None = None,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """One page of `list_trades`, after the trade row id `after`, of one client's trades or
    of those in one status when asked."""
    limit = bounded_limit(limit)
    query = _trades_query(trade_date).limit(limit + 1)
    if status is not None:
        if status not in TRADE_STATUSES:
            raise ProblemError(
                Problem("invalid_status", f"status is one of {', '.join(TRADE_STATUSES)}")
            )
        query = query.where(schema.trades.c.status == status)
    if client is not None:
        query = query.where(schema.parties.c.code == client)
    if after is not None:
        query = query.where(schema.trades.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
    return Page([_trade(row) for row in rows], cursor)


def _trades_query(trade_date: dt.date | None, *, cancels: bool = False) -> Any:
    t, s, p = schema.trades, schema.assets, schema.parties
    c, cp = schema.assets.alias("ccy"), schema.parties.alias("cp")
    query = (
        sa.select(
            t,
            s.c.code.label("isin"),
            s.c.scale.label("quantity_scale"),
            c.c.code.label("currency"),
            c.c.scale.label("currency_scale"),
            p.c.code.label("client"),
            cp.c.code.label("counterparty"),
        )
        .join(s, s.c.id == t.c.asset_id)
        .join(c, c.c.id == t.c.currency_id)
        .join(p, p.c.id == t.c.client_id)
        .join(cp, cp.c.id == t.c.counterparty_id)
        .order_by(t.c.id)
    )
    if not cancels:
        query = query.where(t.c.kind != "cancel")
    if trade_date is not None:
        query = query.where(t.c.trade_date == trade_date)
    return query


def _trade(row: Any) -> dict[str, Any]:
    money = row.currency_scale
    return {
        "trade_id": row.trade_id,
        "account": row.account,
        "client": row.client,
        "isin": row.isin,
        "side": row.side.upper(),
        "quantity": format_amount(row.quantity_minor, row.quantity_scale),
        "price": row.price,
        "currency": row.currency,
        "trade_date": row.trade_date.isoformat(),
        "settlement_date": row.settlement_date.isoformat(),
        "venue": row.venue,
        "counterparty": row.counterparty,
        "gross_amount": format_amount(row.gross_minor, money),
        "commission": format_amount(row.commission_minor, money),
        "sec_fee": format_amount(row.sec_fee_minor, money),
        "finra_taf": format_amount(row.finra_taf_minor, money),
        "fees": format_amount(row.sec_fee_minor + row.finra_taf_minor, money),
        "net_amount": format_amount(row.net_minor, money),
        "status": row.status,
        "kind": row.kind,
        "ref_trade_id": row.ref_trade_id,
        "block": bool(row.block),
        "alloc_id": row.alloc_id,
    }


def list_allocations(store: Store, trade_date: dt.date | None = None) -> list[dict[str, Any]]:
    """Every allocation, oldest first; of `trade_date` when given."""
    return every_item(
        lambda after: allocations_page(store, trade_date, limit=list_page_max, after=after)
    )


def allocations_page(
    store: Store,
    trade_date: dt.date | None = None,
    *,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """One page of `list_allocations`, after the allocation row id `after`."""
    limit = bounded_limit(limit)
    query = _allocations_query(trade_date).limit(limit + 1)
    if after is not None:
        query = query.where(schema.allocations.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
    return Page([_allocation(row) for row in rows], cursor)


def _allocations_query(trade_date: dt.date | None) -> Any:
    a, s, p, c = schema.allocations, schema.assets, schema.parties, schema.assets.alias("ccy")
    query = (
        sa.select(
            a,
            s.c.code.label("isin"),
            s.c.scale.label("quantity_scale"),
            c.c.code.label("currency"),
            c.c.scale.label("currency_scale"),
            p.c.code.label("client"),
        )
        .join(s, s.c.id == a.c.asset_id)
        .join(c, c.c.id == a.c.currency_id)
        .join(p, p.c.id == a.c.client_id)
        .order_by(a.c.id)
    )
    if trade_date is not None:
        query = query.where(a.c.trade_date == trade_date)
    return query


def _allocation(row: Any) -> dict[str, Any]:
    return {
        "allocation_id": row.allocation_id,
        "trade_id": row.trade_id,
        "alloc_id": row.alloc_id,
        "client": row.client,
        "isin": row.isin,
        "side": row.side.upper(),
        "quantity": format_amount(row.quantity_minor, row.quantity_scale),
        "price": row.price,
        "currency": row.currency,
        "trade_date": row.trade_date.isoformat(),
        "settlement_date": row.settlement_date.isoformat(),
        "gross_amount": format_amount(row.gross_minor, row.currency_scale),
        "commission": format_amount(row.commission_minor, row.currency_scale),
        "fees": format_amount(row.sec_fee_minor + row.finra_taf_minor, row.currency_scale),
        "net_amount": format_amount(row.net_minor, row.currency_scale),
        "status": row.status,
        "confirm_id": row.confirm_id,
        "affirmation_status": row.affirmation_status,
    }


def unaffirmed(store: Store, trade_date: dt.date) -> list[dict[str, Any]]:
    """Everything `unaffirmed_page` lists for `trade_date`, page by page (demo, small books)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = unaffirmed_page(store, trade_date, limit=list_page_max, after=after)
        found += page.items
        if page.next is None:
            return found
        after = page.next


def unaffirmed_page(
    store: Store, trade_date: dt.date, *, limit: int = list_page_default, after: str | None = None
) -> Page:
    """What is not affirmed at the end of `trade_date` (SEC Rule 15c6-2), one page: allocations
    not yet affirmed, then blocks not even allocated, each by row id (keyset). The cursor is
    `a<id>` (an allocation) or `b<id>` (a block)."""
    limit = bounded_limit(limit)
    kind, after_id = _unaffirmed_cursor(after)
    a, t, p, s = schema.allocations, schema.trades, schema.parties, schema.assets
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    with store.read() as connection:
        if kind == "a":
            query = (
                sa.select(a, p.c.code.label("client"), s.c.code.label("isin"), s.c.scale)
                .join(p, p.c.id == a.c.client_id)
                .join(s, s.c.id == a.c.asset_id)
                .where(
                    a.c.trade_date == trade_date,
                    a.c.status.in_(("booked", "confirmed", "rejected")),
                    a.c.id > after_id,
                )
                .order_by(a.c.id)
                .limit(limit + 1)
            )
            rows, next_id = page_of(connection.execute(query).all(), limit)
            found += [_unaffirmed_allocation(row) for row in rows]
            if next_id is not None:
                return Page(found, f"a{next_id}")
            after_id = 0
        query = (
            sa.select(t, p.c.code.label("client"), s.c.code.label("isin"), s.c.scale)
            .join(p, p.c.id == t.c.client_id)
            .join(s, s.c.id == t.c.asset_id)
            .where(
                t.c.trade_date == trade_date,
                t.c.status == TradeStatus.PENDING_ALLOCATION,
                t.c.id > after_id,
            )
            .order_by(t.c.id)
            .limit(limit - len(found) + 1)
        )
        if len(found) < limit:
            rows, next_id = page_of(connection.execute(query).all(), limit - len(found))
            found += [_unaffirmed_block(row) for row in rows]
            cursor = None if next_id is None else f"b{next_id}"
        else:
            # The page is full of allocations: blocks follow if there are any.
            more = connection.execute(query.limit(1)).first() is not None
            cursor = "b0" if more else None
    return Page(found, cursor)


def _unaffirmed_cursor(after: str | None) -> tuple[str, int]:
    if after is None:
        return "a", 0
    if len(after) < 2 or after[0] not in "ab" or not after[1:].isdigit():
        raise ProblemError(
            Problem("invalid_argument", f"--after {after!r} is not a cursor a listing printed")
        )
    return after[0], int(after[1:])


def _unaffirmed_allocation(row: Any) -> dict[str, Any]:
    return {
        "kind": "allocation",
        "id": row.allocation_id,
        "confirm_id": row.confirm_id,
        "client": row.client,
        "isin": row.isin,
        "side": row.side.upper(),
        "quantity": format_amount(row.quantity_minor, row.scale),
        "status": row.status,
        "reason": row.affirmation_reason,
    }


def _unaffirmed_block(row: Any) -> dict[str, Any]:
    return {
        "kind": "block",
        "id": row.trade_id,
        "confirm_id": None,
        "client": row.client,
        "isin": row.isin,
        "side": row.side.upper(),
        "quantity": format_amount(row.quantity_minor, row.scale),
        "status": row.status,
        "reason": "not allocated",
    }


def trade_detail(store: Store, trade_id: str) -> dict[str, Any]:
    """One trade (a cancel or correction message too) with the raw message it came in as and
    its booking: each allocation that books it, with the ledger entries under the allocation's
    key and its reversal's (`booking`: entry and postings, as `ledger entries` shows them).
    `unknown_trade` when there is none."""
    from backoffice.ledger.queries import entry_by_key
    from backoffice.trades.service import cancel_key

    t, a = schema.trades, schema.allocations
    with store.read() as connection:
        row = connection.execute(
            _trades_query(None, cancels=True).where(t.c.trade_id == trade_id)
        ).first()
        if row is None:
            raise ProblemError(
                Problem("unknown_trade", f"no trade {trade_id!r}", Source(field="trade_id"))
            )
        books = sa.or_(a.c.trade_id == trade_id, a.c.alloc_id == row.alloc_id)
        allocations = connection.execute(
            _allocations_query(None).where(books if row.alloc_id else a.c.trade_id == trade_id)
        ).all()
    booking = []
    for allocation in allocations:
        keys = (allocation.entry_key, cancel_key(allocation.entry_key))
        entries = [entry for key in keys if (entry := entry_by_key(store, key)) is not None]
        booking.append({**_allocation(allocation), "entry_key": allocation.entry_key,
                        "entries": entries})  # fmt: skip
    source = {"file": row.source_file, "line": row.source_line}
    return {**_trade(row), "raw": row.raw, "source": source, "booking": booking}
