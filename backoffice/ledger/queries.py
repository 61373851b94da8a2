"""Listing what the ledger holds: recent entries, the quarantine."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.money import format_amount
from backoffice.store import schema
from backoffice.store.engine import Store

quarantine_rows_max = 100_000


def recent_entries(store: Store, *, limit: int) -> list[dict[str, Any]]:
    e, p, a, s = schema.journal_entries, schema.postings, schema.accounts, schema.assets
    with store.read() as connection:
        entries = connection.execute(sa.select(e).order_by(e.c.id.desc()).limit(limit)).all()
        if not entries:
            return []
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
    return [
        {
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
            "postings": postings.get(entry.id, []),
        }
        for entry in entries
    ]


def quarantined(store: Store) -> list[dict[str, Any]]:
    q = schema.quarantine
    with store.read() as connection:
        rows = connection.execute(
            sa.select(q).where(q.c.resolved.is_(False)).order_by(q.c.id).limit(quarantine_rows_max)
        ).all()
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "file": row.file,
            "line": row.line,
            "raw": row.raw,
            "problems": orjson.loads(row.problems_json),
        }
        for row in rows
    ]
