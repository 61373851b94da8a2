"""Resubmitting a repaired message for a quarantined one: the repaired message is applied and
the quarantined item resolved in ONE transaction, so a crash between the two leaves neither
(a trade captured with its item still open would be captured again by the next resubmission's
operator thinking it failed; an item resolved without its trade loses the trade)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.store import schema
from backoffice.store.audit_chain import held_audit
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.trades.service import now_us


@dataclass(frozen=True, slots=True)
class Resubmission:
    """What applying the repaired file did: messages read, applied, and why not."""

    received: int
    applied: int
    problems: list[Problem] = field(default_factory=list)
    resolved: bool = False


class _SharedTransaction(Store):
    """The store as the import, allocation and affirmation services see it during a
    resubmission: each transaction they open is a savepoint of the one outer transaction (a
    message they refuse rolls back to its savepoint, as it would have rolled back on its own)."""

    def __init__(self, store: Store, connection: sa.Connection) -> None:
        # Not Store.__init__: no second engine, the outer transaction's connection is used.
        self.url, self.engine, self.safe_url = store.url, store.engine, store.safe_url
        self.dialect = store.dialect
        self._connection = connection

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        with self._connection.begin_nested():
            yield self._connection

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._connection.begin_nested():
            yield self._connection


class _NotThrough(Exception):
    """The repaired file did not go through as one message: roll everything back."""

    def __init__(self, outcome: Resubmission) -> None:
        super().__init__("resubmission refused")
        self.outcome = outcome


def resubmit(
    store: Store, item_id: int, apply: Callable[[Store], Resubmission], *, actor: str, by: str
) -> Resubmission:
    """Apply the repaired message (`apply`, given the store to apply it through) and resolve
    quarantined item `item_id`, all or nothing. The file must hold exactly one message and it
    must go through now; otherwise nothing is kept (not even a new quarantine item for the
    repaired message) and the result, unresolved, says why."""
    q = schema.quarantine
    try:
        with store.write() as connection:
            resolved = connection.execute(sa.select(q.c.resolved).where(q.c.id == item_id)).scalar()
            if resolved:
                raise ProblemError(
                    Problem("already_resolved", f"item {item_id} is already resolved")
                )
            with held_audit(connection) as applied:
                outcome = apply(_SharedTransaction(store, connection))
            if outcome.received != 1 or outcome.applied != 1:
                raise _NotThrough(outcome)
            mark_resolved(connection, item_id, actor=actor, by=by, applied=applied)
    except _NotThrough as refused:
        return refused.outcome
    return Resubmission(outcome.received, outcome.applied, outcome.problems, resolved=True)


def resubmit_file(store: Store, item_id: int, path: Path, *, actor: str, by: str) -> Resubmission:
    """`resubmit` with the repaired message read from `path` by the reader of the item's kind
    (an execution, an allocation instruction or an affirmation). `unknown_quarantine_item`,
    `already_resolved` when there is nothing to resubmit."""
    from backoffice.formats.executions import read_executions
    from backoffice.trades.affirmation_service import affirm
    from backoffice.trades.allocation_service import allocate
    from backoffice.trades.service import import_executions, quarantine_item

    item = quarantine_item(store, item_id)
    if item.resolved:
        raise ProblemError(Problem("already_resolved", f"item {item_id} is already resolved"))

    def apply(through: Store) -> Resubmission:
        # The file must hold the repaired message and nothing else, and that message must now
        # go through: anything else (an unrelated message, one already captured) resolves
        # nothing.
        if item.kind == "trades.allocate":
            from backoffice.formats.allocations import read_allocations

            done = allocate(through, read_allocations(path), actor=actor)
            return Resubmission(done.received, done.done, list(done.problems))
        if item.kind == "trades.affirm":
            from backoffice.formats.affirmations import read_affirmations

            done = affirm(through, read_affirmations(path), actor=actor)
            return Resubmission(done.received, done.done, list(done.problems))
        summary = import_executions(through, read_executions(path), actor=actor)
        applied = summary.captured + summary.cancelled
        return Resubmission(summary.messages, applied, list(summary.problems))

    return resubmit(store, item_id, apply, actor=actor, by=by)


def mark_resolved(
    connection: sa.Connection,
    item_id: int,
    *,
    actor: str,
    by: str,
    applied: Sequence[dict[str, Any]] = (),
) -> None:
    """Resolve the item; the resubmission's one audit record names what it applied."""
    q = schema.quarantine
    connection.execute(sa.update(q).where(q.c.id == item_id).values(resolved=True))
    detail = {"quarantine_id": item_id, "resubmitted_as": by, "applied": list(applied)}
    LedgerRepository(connection).append_audit(
        now_us(), actor, "trades.resubmit", orjson.dumps(detail).decode()
    )
