"""Listing what the ledger holds: recent entries, the quarantine, a page at a time.

Every listing reads one bounded page by keyset pagination over the table's id (unique, NOT
NULL, ordered): `after` is the last id of the page before, never an OFFSET, so a page costs the
same however deep it is, and memory stays bounded whatever the table's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.money import format_amount
from backoffice.store import schema
from backoffice.store.engine import Store

list_page_max = 1000  # rows of one page of any listing
list_page_default = 100


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; `next` is the cursor (`--after`) of the page after, if any."""

    items: list[Any]
    next: str | None


def page_of(rows: Sequence[Any], limit: int, key: str = "id") -> tuple[Sequence[Any], str | None]:
    """The first `limit` of `rows` (read as limit + 1), and the cursor after them when more
    exist."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], str(getattr(rows[limit - 1], key))


def bounded_limit(limit: int) -> int:
    """A page's size: at least one row, at most `list_page_max`."""
    return max(1, min(limit, list_page_max))


def every_item(read: Callable[[int | None], Page]) -> list[Any]:
    """Every item of a listing keyed by id, read a full page at a time (`read(after)`): for
    the demo, tests and small books; the CLI lists one page."""
    items: list[Any] = []
    after: int | None = None
    while True:
        page = read(after)
        items += page.items
        if page.next is None:
            return items
        after = int(page.next)


def recent_entries(
    store: Store, *, limit: int = list_page_default, before: int | None = None
) -> Page:
    """The newest entries first, with their postings; `before`: only entries older than that
    entry id (the `next` cursor of the page before)."""
    e, p, a, s = schema.journal_entries, schema.postings, schema.accounts, schema.assets
    limit = bounded_limit(limit)
    query = sa.select(e).order_by(e.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(e.c.id < before)
    with store.read() as connection:
        entries, cursor = page_of(connection.execute(query).all(), limit)
        if not entries:
            return Page([], None)
        lines = connection.execute(
            sa.select(p.c.entry_id, a.c.code, s.c.code.label("asset"), s.c.scale, p.c.amount_minor)
            .join(a, a.c.id == p.c.account_id)
            .join(s, s.c.id == p.c.asset_id)
            .where(p.c.entry_id.between(entries[-1].id, entries[0].id))
            .order_by(p.c.entry_id, p.c.line)
        ).all()
    postings: dict[int, list[dict[str, str]]] = {}
    for line in lines:
        postings.setdefault(line.entry_id, []).append(
            {
                "account": line.code,
                "asset": line.asset,
                "amount": format_amount(line.amount_minor, line.scale),
            }
        )
    return Page([_entry(entry, postings.get(entry.id, [])) for entry in entries], cursor)


def entry_by_key(store: Store, key: str) -> dict[str, Any] | None:
    """One entry by its key, with its postings; None when there is none."""
    e, p, a, s = schema.journal_entries, schema.postings, schema.accounts, schema.assets
    with store.read() as connection:
        entry = connection.execute(sa.select(e).where(e.c.key == key)).first()
        if entry is None:
            return None
        lines = connection.execute(
            sa.select(a.c.code, s.c.code.label("asset"), s.c.scale, p.c.amount_minor)
            .join(a, a.c.id == p.c.account_id)
            .join(s, s.c.id == p.c.asset_id)
            .where(p.c.entry_id == entry.id)
            .order_by(p.c.line)
        ).all()
    postings = [
        {"account": r.code, "asset": r.asset, "amount": format_amount(r.amount_minor, r.scale)}
        for r in lines
    ]
    return _entry(entry, postings)


def _entry(entry: Any, postings: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": entry.id,
        "key": entry.key,
        "kind": entry.kind,
        "date": entry.effective_date.isoformat(),
        "description": entry.description,
        "reference": entry.reference,
        "actor": entry.actor,
        "source": entry.source,
        "pending_id": entry.pending_id,
        "reversal_of": entry.reversal_of,
        "metadata": orjson.loads(entry.metadata_json),
        "hash": entry.hash,
        "postings": postings,
    }


def quarantined(
    store: Store,
    *,
    kinds: tuple[str, ...] | None = None,
    include_resolved: bool = False,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """Refused input, oldest first: of `kinds` (every kind when None), unresolved unless
    `include_resolved`, after the item id `after`."""
    q = schema.quarantine
    limit = bounded_limit(limit)
    query = sa.select(q).order_by(q.c.id).limit(limit + 1)
    if kinds is not None:
        query = query.where(q.c.kind.in_(kinds))
    if not include_resolved:
        query = query.where(q.c.resolved.is_(False))
    if after is not None:
        query = query.where(q.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
    items = [
        {
            "id": row.id,
            "kind": row.kind,
            "file": row.file,
            "line": row.line,
            "raw": row.raw,
            "problems": orjson.loads(row.problems_json),
            "resolved": bool(row.resolved),
        }
        for row in rows
    ]
    return Page(items, cursor)
