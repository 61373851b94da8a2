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

__all__ = [
    "break_detail",
    "breaks_page",
    "list_breaks",
    "list_statements",
    "matches_page",
    "statements_page",
]


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
    b = schema.breaks
    today = today or dt.datetime.now(dt.UTC).date()
    limit = bounded_limit(limit)
    query = _breaks_query().order_by(b.c.id).limit(limit + 1)
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
        items = _break_items(connection, rows, today)
    return Page(items, cursor)


def _breaks_query() -> sa.Select[Any]:
    """Breaks with their account's code (or the custodian's account) and amount scale."""
    b, a, s = schema.breaks, schema.accounts, schema.assets
    return (
        sa.select(
            b,
            sa.func.coalesce(a.c.code, b.c.external_account).label("account"),
            sa.func.coalesce(s.c.scale, b.c.scale, 0).label("amount_scale"),
        )
        .outerjoin(a, a.c.id == b.c.account_id)
        .outerjoin(s, s.c.id == a.c.asset_id)
    )


def _break_items(
    connection: sa.Connection, rows: Sequence[Any], today: dt.date
) -> list[dict[str, Any]]:
    """The breaks as listed, with the history of these ones only."""
    events = _history(connection, [row.break_id for row in rows])
    # The entry of the other item: the one a books duplicate repeats, or the one a
    # difference on a statement line was found against.
    other_keys = _entry_keys(
        connection, [r.other_item_id for r in rows if r.other_item_id is not None]
    )
    return [
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


candidates_max = 20  # the open breaks offered to match a break with


def break_detail(store: Store, break_id: str, *, today: dt.date | None = None) -> dict[str, Any]:
    """One break as listed, with its item (the statement line, or the books posting) and the
    candidates to match it with by hand (`recon resolve match`): the open breaks on the other
    side of the same account, the nearest in amount first, at most `candidates_max`."""
    b = schema.breaks
    today = today or dt.datetime.now(dt.UTC).date()
    with store.read() as connection:
        row = connection.execute(_breaks_query().where(b.c.break_id == break_id)).first()
        if row is None:
            raise ProblemError(Problem("unknown_break", f"no break {break_id!r}"))
        [item] = _break_items(connection, [row], today)
        item_id = row.item_id
        line = _statement_lines(connection, [item_id]) if row.side == "statement" else {}
        posting = _book_items(connection, [item_id]) if row.side == "books" else {}
        candidates = _candidates(connection, row)
    return item | {
        "side": row.side,
        "statement_line": line.get(item_id) if item_id is not None else None,
        "posting": posting.get(item_id) if item_id is not None else None,
        "candidates": candidates,
    }


def _candidates(connection: sa.Connection, row: Any) -> list[dict[str, Any]]:
    b = schema.breaks
    other = {"statement": "books", "books": "statement"}.get(row.side)
    if other is None or row.account_id is None or row.status == BreakStatus.RESOLVED.value:
        return []
    query = (
        _breaks_query()
        .where(
            b.c.account_id == row.account_id,
            b.c.side == other,
            b.c.status != BreakStatus.RESOLVED.value,
            b.c.item_id.is_not(None),
        )
        .order_by(sa.func.abs(b.c.amount_minor - row.amount_minor), b.c.value_date, b.c.id)
        .limit(candidates_max)
    )
    found = connection.execute(query).all()
    items = (_book_items if other == "books" else _statement_lines)(
        connection, [r.item_id for r in found]
    )
    return [
        {
            "break_id": r.break_id,
            "type": r.type,
            "amount": format_amount(r.amount_minor, r.amount_scale),
            "value_date": r.value_date.isoformat(),
            "reference": r.reference,
            "side": r.side,
            "item": items.get(r.item_id),
        }
        for r in found
    ]


def _statement_lines(connection: sa.Connection, ids: Sequence[int | None]) -> dict[int, Any]:
    """statement line id -> the line as listed, with its statement and place in it."""
    sl, st = schema.statement_lines, schema.statements
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = (
        sa.select(sl, st.c.statement_id)
        .join(st, st.c.id == sl.c.statement_row)
        .where(sl.c.id.in_(wanted))
    )
    rows = connection.execute(query).all()
    scales = _scales(connection, [row.account_id for row in rows])
    return {
        row.id: {
            "statement_id": row.statement_id,
            "line_no": row.line_no,
            "amount": format_amount(row.amount_minor, scales[row.account_id]),
            "value_date": row.value_date.isoformat(),
            "booking_date": row.booking_date.isoformat() if row.booking_date else None,
            "references": orjson.loads(row.references_json),
            "description": row.description,
            "matched": row.matched,
        }
        for row in rows
    }


def _book_items(connection: sa.Connection, ids: Sequence[int | None]) -> dict[int, Any]:
    """book item id (entry id x postings_per_entry + line) -> its posting and entry."""
    p, je, a = schema.postings, schema.journal_entries, schema.accounts
    wanted = {i for i in ids if i is not None}
    entries = sorted({i // postings_per_entry for i in wanted})
    if not entries:
        return {}
    query = (
        sa.select(p, je.c.key, je.c.effective_date, je.c.reference, a.c.code)
        .join(je, je.c.id == p.c.entry_id)
        .join(a, a.c.id == p.c.account_id)
        .where(p.c.entry_id.in_(entries))
    )
    rows = [
        row
        for row in connection.execute(query)
        if row.entry_id * postings_per_entry + row.line in wanted
    ]
    scales = _scales(connection, [row.account_id for row in rows])
    return {
        row.entry_id * postings_per_entry + row.line: {
            "entry": row.key,
            "line": row.line,
            "account": row.code,
            "amount": format_amount(row.amount_minor, scales[row.account_id]),
            "effective_date": row.effective_date.isoformat(),
            "reference": row.reference,
        }
        for row in rows
    }


def matches_page(store: Store, *, limit: int = list_page_default, after: int | None = None) -> Page:
    """One page of matches (the engine's, by hand, by correction, of reversals), oldest
    first, each with its statement lines and books postings; `after`: a match number."""
    rm = schema.recon_matches
    limit = bounded_limit(limit)
    numbers = sa.select(rm.c.match_no).distinct().order_by(rm.c.match_no).limit(limit + 1)
    if after is not None:
        numbers = numbers.where(rm.c.match_no > after)
    with store.read() as connection:
        page, cursor = page_of(connection.execute(numbers).all(), limit, key="match_no")
        wanted = [row.match_no for row in page]
        rows = (
            connection.execute(
                sa.select(rm).where(rm.c.match_no.in_(wanted)).order_by(rm.c.match_no, rm.c.id)
            ).all()
            if wanted
            else []
        )
        lines = _statement_lines(connection, [r.item_id for r in rows if r.side == "statement"])
        books = _book_items(connection, [r.item_id for r in rows if r.side == "books"])
    matches: dict[int, dict[str, Any]] = {}
    for row in rows:
        match = matches.setdefault(
            row.match_no,
            {"match_no": row.match_no, "rule": row.rule, "matched_at_us": row.matched_at_us,
             "actor": row.actor, "statement_lines": [], "postings": []},
        )  # fmt: skip
        if row.side == "statement":
            match["statement_lines"].append(lines.get(row.item_id))
        else:
            match["postings"].append(books.get(row.item_id))
    return Page([matches[number] for number in wanted], cursor)
