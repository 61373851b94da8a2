"""Reading the audit trail back, one bounded page at a time, and verifying its chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.ledger.queries import (
    Page,
    bounded_limit,
    list_page_default,
    page_of,
)
from backoffice.store import schema
from backoffice.store.audit_chain import ChainReport, verify_chain
from backoffice.store.engine import Store


def audit_page(store: Store, *, limit: int = list_page_default, after: int | None = None) -> Page:
    """Audit events oldest first, with their chain hash (keyset over the event id)."""
    log, chain = schema.audit_log, schema.audit_chain
    limit = bounded_limit(limit)
    query = (
        sa.select(log, chain.c.hash)
        .outerjoin(chain, chain.c.event_id == log.c.id)
        .order_by(log.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(log.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
    return Page([_event(row) for row in rows], cursor)


def _event(row: Any) -> dict[str, Any]:
    at = dt.datetime.fromtimestamp(row.at_us / 1_000_000, dt.UTC)
    return {
        "id": row.id,
        "at": at.isoformat(timespec="microseconds"),
        "actor": row.actor,
        "command": row.command,
        "detail": orjson.loads(row.detail_json),
        "hash": row.hash,
    }


def verify_audit(store: Store) -> ChainReport:
    with store.read() as connection:
        return verify_chain(connection)
