"""Reading trades and allocations back, with amounts as decimal strings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from backoffice.money import format_amount
from backoffice.store import schema
from backoffice.store.engine import Store


def list_trades(store: Store, trade_date: dt.date | None = None) -> list[dict[str, Any]]:
    """Every trade (not the cancel messages themselves), oldest first; of `trade_date` when
    given. `status` is the trade's (README "Trade statuses")."""
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
        .where(t.c.kind != "cancel")
        .order_by(t.c.id)
    )
    if trade_date is not None:
        query = query.where(t.c.trade_date == trade_date)
    with store.read() as connection:
        return [_trade(row) for row in connection.execute(query)]


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
    with store.read() as connection:
        rows = connection.execute(query).all()
    return [
        {
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
        for row in rows
    ]
