"""Settlement fails: the obligations not settled by their date, aged in settlement days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from backoffice.ledger.queries import (
    Page,
    bounded_limit,
    every_item,
    list_page_default,
    list_page_max,
    page_of,
)
from backoffice.money import format_amount
from backoffice.refdata import calendars
from backoffice.settlement.instruction_service import obligation_rows
from backoffice.settlement.model import Direction, age_bucket
from backoffice.settlement.penalties import is_close_out_candidate
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.trades.charges import US_MARKETS

LIVE_OBLIGATION = ("instructed", "matched", "unmatched", "pending", "failed", "partially_settled")


def fails(store: Store, as_of: dt.date) -> list[dict[str, Any]]:
    """Every fail as of `as_of`, page by page (`fails_page`): for the demo and small books."""
    return every_item(lambda after: fails_page(store, as_of, limit=list_page_max, after=after))


def fails_page(
    store: Store, as_of: dt.date, *, limit: int = list_page_default, after: int | None = None
) -> Page:
    """One page of the obligations not settled by their date, as of the end of `as_of`, in the
    order they were netted (keyset over the obligation row id): age in settlement days of
    their market, bucket, reason (the latest status), what is still due."""
    o = schema.obligations
    limit = bounded_limit(limit)
    # An exception was never instructed: past its date, it fails all the same.
    where = sa.and_(o.c.settlement_date < as_of, o.c.status.in_((*LIVE_OBLIGATION, "exception")))
    if after is not None:
        where = sa.and_(where, o.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(obligation_rows(connection, where, limit + 1), limit)
    return Page(_fails(rows, as_of), cursor)


def _fails(rows: Sequence[Any], as_of: dt.date) -> list[dict[str, Any]]:
    found = []
    for row in rows:
        age = _settlement_days_between(row.market, row.settlement_date, as_of)
        direction = Direction.RECEIVE if row.quantity_minor > 0 else Direction.DELIVER
        # US Regulation SHO Rule 204, for long sales (short sales are not told apart here).
        close_out = row.market in US_MARKETS and is_close_out_candidate(
            direction, age, short_sale=False
        )
        found.append(
            {
                "obligation_id": row.obligation_id,
                "counterparty": row.counterparty,
                "isin": row.isin,
                "market": row.market,
                "settlement_date": row.settlement_date.isoformat(),
                "age_days": age,
                "bucket": age_bucket(max(age, 1)).value,
                "direction": direction.value,
                "close_out_candidate": close_out,
                "status": row.status,
                "reason": row.reason,
                "quantity_due": format_amount(
                    row.quantity_minor - row.settled_quantity_minor, row.quantity_scale
                ),
                "cash_due": format_amount(
                    row.cash_minor - row.settled_cash_minor, row.currency_scale
                ),
                "currency": row.currency,
            }
        )
    return found


def _settlement_days_between(market: str, start: dt.date, end: dt.date) -> int:
    """Settlement days after `start` up to and including `end`."""
    days = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if day > calendars.calendar_last_day:
            break
        if calendars.is_settlement_day(market, day):
            days += 1
    return days
