"""Reading breaks and statements back, one bounded page at a time (keyset over the id, never
OFFSET), with the history or lines of the page's rows only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import (
    Page,
    bounded_limit,
    every_item,
    list_page_default,
    list_page_max,
    page_of,
)
from backoffice.money import format_amount
from backoffice.recon.model import BreakStatus, postings_per_entry
from backoffice.store import schema
from backoffice.store.engine import Store

__all__ = ["breaks_page", "list_breaks", "list_statements", "statements_page"]


def list_breaks(
    store: Store, *, status: str | None = None, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """Every break (status `status`), page by page: for tests and small books; the CLI lists
    one page (`breaks_page`)."""
    return every_item(
        lambda after: breaks_page(
            store, status=status, today=today, limit=list_page_max, after=after
        )
    )


def breaks_page(
    store: Store,
    *,
    status: str | None = None,
    today: dt.date | None = None,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """One page of breaks in the order they were filed, with their history; `after`: the
    cursor (`next`) of the page before, the id of its last break (keyset, never OFFSET)."""
    b, a, s = schema.breaks, schema.accounts, schema.assets
    today = today or dt.datetime.now(dt.UTC).date()
    limit = bounded_limit(limit)
    query = (
        sa.select(
            b,
            sa.func.coalesce(a.c.code, b.c.external_account).label("account"),
            sa.func.coalesce(s.c.scale, b.c.scale, 0).label("amount_scale"),
        )
        .outerjoin(a, a.c.id == b.c.account_id)
        .outerjoin(s, s.c.id == a.c.asset_id)
        .order_by(b.c.id)
        .limit(limit + 1)
    )
    if status is not None:
        if status not in {s.value for s in BreakStatus}:
            raise ProblemError(
                Problem(
                    "invalid_status",
                    f"status must be open, investigating or resolved, not {status!r}",
                )
            )
        query = query.where(b.c.status == status)
    if after is not None:
        query = query.where(b.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
        events = _history(connection, [row.break_id for row in rows])
        # The entry of the other item: the one a books duplicate repeats, or the one a
        # difference on a statement line was found against.
        other_keys = _entry_keys(
            connection, [r.other_item_id for r in rows if r.other_item_id is not None]
        )
    items = [
        {
            "break_id": row.break_id,
            "type": row.type,
            "account": row.account,
            "amount": format_amount(row.amount_minor, row.amount_scale),
            "value_date": row.value_date.isoformat(),
            "reference": row.reference,
            "status": row.status,
            "owner": row.owner,
            "opened_on": row.opened_on.isoformat(),
            "age_days": (today - row.opened_on).days,
            "resolution": row.resolution,
            "other_entry": None
            if row.other_item_id is None
            else other_keys.get(row.other_item_id // postings_per_entry),
            "history": events.get(row.break_id, []),
        }
        for row in rows
    ]
    return Page(items, cursor)


def _entry_keys(connection: sa.Connection, item_ids: Sequence[int]) -> dict[int, str]:
    """entry id -> key, for the entries of one page's book items."""
    je = schema.journal_entries
    entry_ids = sorted({int(i) // postings_per_entry for i in item_ids})
    if not entry_ids:
        return {}
    query = sa.select(je.c.id, je.c.key).where(je.c.id.in_(entry_ids))
    return {int(row.id): row.key for row in connection.execute(query)}


def _history(connection: sa.Connection, break_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The events of these breaks only (one page's), oldest first."""
    e = schema.break_events
    events: dict[str, list[dict[str, Any]]] = {}
    if not break_ids:
        return events
    query = sa.select(e).where(e.c.break_id.in_(list(break_ids))).order_by(e.c.id)
    for event in connection.execute(query):
        events.setdefault(event.break_id, []).append(
            {"at_us": event.at_us, "actor": event.actor, "kind": event.kind, "text": event.text}
        )
    return events


def list_statements(store: Store) -> list[dict[str, Any]]:
    """Every imported statement with its lines, page by page: for tests and small books; the
    CLI lists one page (`statements_page`)."""
    return every_item(lambda after: statements_page(store, limit=list_page_max, after=after))


def statements_page(
    store: Store, *, limit: int = list_page_default, after: int | None = None
) -> Page:
    """One page of imported bank statements, oldest first, each with its lines."""
    st, sl = schema.statements, schema.statement_lines
    limit = bounded_limit(limit)
    query = sa.select(st).order_by(st.c.id).limit(limit + 1)
    if after is not None:
        query = query.where(st.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
        lines: dict[int, list[Any]] = {}
        if rows:
            of_page = sl.c.statement_row.in_([row.id for row in rows])
            for line in connection.execute(
                sa.select(sl).where(of_page).order_by(sl.c.statement_row, sl.c.line_no)
            ):
                lines.setdefault(line.statement_row, []).append(line)
        scales = _scales(connection, [row.account_id for row in rows])
    return Page(
        [_statement(row, lines.get(row.id, []), scales[row.account_id]) for row in rows], cursor
    )


def _statement(row: Any, lines: list[Any], scale: int) -> dict[str, Any]:
    return {
        "statement_id": row.statement_id,
        "account": row.account,
        "format": row.format,
        "currency": row.currency,
        "opening_balance": (
            None  # the bank gave none (a camt.053 with only CLBD/CLAV/ITBD)
            if row.opening_balance_minor is None
            else format_amount(row.opening_balance_minor, scale)
        ),
        "closing_balance": format_amount(row.closing_balance_minor, scale),
        "lines": [
            {
                "amount": format_amount(line.amount_minor, scale),
                "value_date": line.value_date.isoformat(),
                "booking_date": line.booking_date.isoformat() if line.booking_date else None,
                "reference": (orjson.loads(line.references_json) or [None])[0],
                "references": orjson.loads(line.references_json),
                "description": line.description,
            }
            for line in lines
        ],
    }


def _scales(connection: sa.Connection, account_ids: Sequence[int]) -> dict[int, int]:
    a, s = schema.accounts, schema.assets
    if not account_ids:
        return {}
    query = (
        sa.select(a.c.id, s.c.scale)
        .join(s, s.c.id == a.c.asset_id)
        .where(a.c.id.in_(list(set(account_ids))))
    )
    return {row.id: row.scale for row in connection.execute(query)}
