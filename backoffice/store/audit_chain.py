"""The audit trail's hash chain: each event's hash covers the event and the hash before it, so
an event changed, removed or inserted behind Backoffice's back is found by `audit verify`.

The event rows (`audit_log`) stay as they were; the chain is beside them (`audit_chain`, one
hash per event, append-only) with its head (`audit_head`, one row, the lock that orders
appends on PostgreSQL). The hash's input is fixed forever: changing it would break every chain
already written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem
from backoffice.store import schema

GENESIS_HASH = "0" * 64  # the hash before the first event
verify_chunk_events_max = 10_000


def event_hash(
    previous: str, event_id: int, at_us: int, actor: str, command: str, detail: str
) -> str:
    """SHA-256 of the previous hash and the event's fields, as a canonical JSON array."""
    body = orjson.dumps([previous, event_id, at_us, actor, command, detail])
    return hashlib.sha256(body).hexdigest()


def append_event(
    connection: sa.Connection, at_us: int, actor: str, command: str, detail_json: str
) -> int:
    """Append one audit event and its link in the chain, in the caller's transaction."""
    head = schema.audit_head
    query = sa.select(head.c.event_id, head.c.hash).where(head.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()  # appends queue here, so ids follow the chain
    previous = connection.execute(query).one()
    event_id = int(
        connection.execute(
            sa.insert(schema.audit_log)
            .values(at_us=at_us, actor=actor, command=command, detail_json=detail_json)
            .returning(schema.audit_log.c.id)
        ).scalar_one()
    )
    digest = event_hash(previous.hash, event_id, at_us, actor, command, detail_json)
    connection.execute(sa.insert(schema.audit_chain).values(event_id=event_id, hash=digest))
    connection.execute(sa.update(head).where(head.c.id == 1).values(event_id=event_id, hash=digest))
    return event_id


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    head_hash: str
    problems: tuple[Problem, ...]


def verify_chain(connection: sa.Connection) -> ChainReport:
    """Recompute the chain over every event in id order, a chunk at a time; name the first
    event changed, removed or inserted, and a head that is not the last event's."""
    previous, count, last_id = GENESIS_HASH, 0, 0
    for event in _events(connection):
        count += 1
        expected = event_hash(
            previous, event.id, event.at_us, event.actor, event.command, event.detail_json
        )
        if event.hash is None:
            return _broken(
                count, f"audit event {event.id} is not in the chain: inserted outside Backoffice"
            )
        if event.hash != expected:
            return _broken(
                count,
                f"audit event {event.id} does not hash to its link: it was changed, or the "
                "event before it was changed or removed",
            )
        previous, last_id = expected, event.id
    head = connection.execute(
        sa.select(schema.audit_head.c.event_id, schema.audit_head.c.hash)
    ).one()
    if (head.event_id, head.hash) != (last_id, previous):
        return ChainReport(
            count,
            previous,
            (
                Problem(
                    "head_mismatch",
                    f"the audit chain's head names event {head.event_id} but the last event is "
                    f"{last_id}: events at the end were removed",
                ),
            ),
        )
    return ChainReport(count, previous, ())


def _broken(count: int, reason: str) -> ChainReport:
    return ChainReport(count, "", (Problem("chain_broken", reason),))


def _events(connection: sa.Connection) -> Iterator[Any]:
    log, chain = schema.audit_log, schema.audit_chain
    after = 0
    while True:
        rows = connection.execute(
            sa.select(log, chain.c.hash)
            .outerjoin(chain, chain.c.event_id == log.c.id)
            .where(log.c.id > after)
            .order_by(log.c.id)
            .limit(verify_chunk_events_max)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
