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
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, invariant
from backoffice.store import schema

GENESIS_HASH = "0" * 64  # the hash before the first event
verify_chunk_events_max = 10_000


@dataclass(frozen=True, slots=True)
class AuditStamp:
    """Who acted and how, as the command layer knows it: stamped on every event it causes."""

    user_id: int | None
    authentication: str
    permission: str
    outcome: str = "ok"

    def fields(self) -> list[object]:
        return [self.user_id, self.authentication, self.permission, self.outcome]


@dataclass(slots=True)
class Acting:
    """The command being run on this thread (the command layer sets it): its stamp, and how
    many events it has appended, so a failure after its event is not recorded twice."""

    stamp: AuditStamp
    events: int = field(default=0)


acting: ContextVar[Acting | None] = ContextVar("backoffice_acting", default=None)
_HELD_AUDIT = "backoffice.held_audit"


@contextmanager
def held_audit(connection: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    """Inside: audit events appended on `connection` are collected, not written, for the
    enclosing command to write as its one event (a resubmission applies an import; an
    approval applies what it approves)."""
    invariant(_HELD_AUDIT not in connection.info, "audit events are already held")
    held: list[dict[str, Any]] = []
    connection.info[_HELD_AUDIT] = held
    try:
        yield held
    finally:
        # connection.info outlives the checkout (it belongs to the pooled connection).
        del connection.info[_HELD_AUDIT]


def event_hash(
    previous: str,
    event_id: int,
    at_us: int,
    actor: str,
    command: str,
    detail: str,
    stamp: list[object] | None = None,
) -> str:
    """SHA-256 of the previous hash and the event's fields, as a canonical JSON array. Events
    from before the command layer have no stamp and hash as they always did; a stamp added to
    one of them, or removed from a later one, changes its hash."""
    fields: list[object] = [previous, event_id, at_us, actor, command, detail]
    if stamp is not None and any(value is not None for value in stamp):
        fields.extend(stamp)
    return hashlib.sha256(orjson.dumps(fields)).hexdigest()


def append_event(
    connection: sa.Connection,
    at_us: int,
    actor: str,
    command: str,
    detail_json: str,
    stamp: AuditStamp | None = None,
) -> int:
    """Append one audit event and its link in the chain, in the caller's transaction. The
    stamp is the running command's unless one is given (a refusal names its own outcome).
    Inside `held_audit` the event is collected for the enclosing command instead."""
    held = connection.info.get(_HELD_AUDIT)
    if held is not None:
        held.append({"command": command, "detail": orjson.loads(detail_json)})
        return 0
    running = acting.get()
    if stamp is None and running is not None:
        stamp = running.stamp
    if running is not None:
        running.events += 1
    stamped: list[object] = stamp.fields() if stamp is not None else [None, None, None, None]
    head = schema.audit_head
    query = sa.select(head.c.event_id, head.c.hash).where(head.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()  # appends queue here, so ids follow the chain
    previous = connection.execute(query).one()
    event_id = int(
        connection.execute(
            sa.insert(schema.audit_log)
            .values(
                at_us=at_us,
                actor=actor,
                command=command,
                detail_json=detail_json,
                user_id=stamped[0],
                authentication=stamped[1],
                permission=stamped[2],
                outcome=stamped[3],
            )
            .returning(schema.audit_log.c.id)
        ).scalar_one()
    )
    digest = event_hash(previous.hash, event_id, at_us, actor, command, detail_json, stamped)
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
            previous,
            event.id,
            event.at_us,
            event.actor,
            event.command,
            event.detail_json,
            [event.user_id, event.authentication, event.permission, event.outcome],
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
