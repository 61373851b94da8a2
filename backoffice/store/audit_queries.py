"""Reading the audit trail back, one bounded page at a time, and verifying its chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
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
from backoffice.store.audit_chain import GENESIS_HASH, ChainReport, verify_chain
from backoffice.store.engine import Store


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events: by whom (login), under which permission, with which outcome, and the UTC
    days from `since` to `until`, both included."""

    user: str | None = None
    permission: str | None = None
    outcome: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        log = schema.audit_log
        found: list[sa.ColumnElement[bool]] = []
        if self.user is not None:
            found.append(log.c.actor == self.user)
        if self.permission is not None:
            found.append(log.c.permission == self.permission)
        if self.outcome is not None:
            found.append(log.c.outcome == self.outcome)
        if self.since is not None:
            found.append(log.c.at_us >= day_start_us(self.since))
        if self.until is not None:
            found.append(log.c.at_us < day_start_us(self.until + dt.timedelta(days=1)))
        return found


def day_start_us(day: dt.date) -> int:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(start.timestamp()) * 1_000_000


def audit_page(
    store: Store,
    *,
    limit: int = list_page_default,
    after: int | None = None,
    where: AuditFilter = AuditFilter(),
) -> Page:
    """Audit events oldest first, with their chain hash (keyset over the event id)."""
    log, chain = schema.audit_log, schema.audit_chain
    limit = bounded_limit(limit)
    query = (
        sa.select(log, chain.c.hash)
        .outerjoin(chain, chain.c.event_id == log.c.id)
        .where(*where.conditions())
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
        "user_id": row.user_id,
        "authentication": row.authentication,
        "permission": row.permission,
        "outcome": row.outcome,
        "command": row.command,
        "detail": orjson.loads(row.detail_json),
        "hash": row.hash,
    }


def verify_audit(store: Store) -> ChainReport:
    with store.read() as connection:
        return verify_chain(connection)


export_chunk_events = 5_000


def exported_events(store: Store, where: AuditFilter) -> Iterator[dict[str, Any]]:
    """Every event the filter selects, oldest first, with what a reader needs to recompute
    its hash without Backoffice: the stored fields as they are hashed and the hash before it
    (`store/audit_chain.event_hash`). Read a bounded chunk at a time."""
    log, chain = schema.audit_log, schema.audit_chain
    before = schema.audit_chain.alias("before")
    previous = (
        sa.select(before.c.hash)
        .where(before.c.event_id < log.c.id)
        .order_by(before.c.event_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    after = 0
    while True:
        with store.read() as connection:
            rows = connection.execute(
                sa.select(log, chain.c.hash, previous.label("previous_hash"))
                .outerjoin(chain, chain.c.event_id == log.c.id)
                .where(log.c.id > after, *where.conditions())
                .order_by(log.c.id)
                .limit(export_chunk_events)
            ).all()
        if not rows:
            return
        for row in rows:
            yield _event(row) | {
                "at_us": row.at_us,
                "detail_json": row.detail_json,
                "previous_hash": row.previous_hash or GENESIS_HASH,
            }
        after = rows[-1].id


def chain_head(store: Store) -> dict[str, Any]:
    with store.read() as connection:
        head = connection.execute(sa.select(schema.audit_head)).one()
    return {"event_id": head.event_id, "hash": head.hash}
