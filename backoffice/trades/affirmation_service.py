"""Affirmation: the clients' answers to their confirmations (affirmed, rejected, received)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.service import quarantine_one
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.trades.allocation_service import PostTradeSummary, Refused, mirror_direct_trades
from backoffice.trades.model import Affirmation, AffirmationStatus
from backoffice.trades.service import TradeStatus, now_us

AFFIRM_KIND = "trades.affirm"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def affirm(store: Store, items: Iterable[Any], *, actor: str) -> PostTradeSummary:
    """Record clients' affirmations (and quarantine what cannot be applied)."""
    summary = PostTradeSummary()
    a = schema.allocations
    for item in items:
        summary.received += 1
        if not isinstance(item, Affirmation):
            quarantine_one(store, AFFIRM_KIND, item.source, item.raw, item.problems, actor=actor)
            summary.quarantined += 1
            summary.problems.extend(item.problems)
            continue
        try:
            with store.write() as connection:
                LedgerRepository(connection).lock_head()
                row = connection.execute(
                    sa.select(a.c.id, a.c.status, a.c.trade_id, a.c.affirmation_status).where(
                        a.c.confirm_id == item.confirm_id
                    )
                ).first()
                where = Source(item.source.file, item.source.line, "664 ConfirmID")
                if row is None:
                    raise Refused(
                        [
                            Problem(
                                "unknown_confirmation",
                                f"no confirmation {item.confirm_id!r}",
                                where,
                            )
                        ]
                    )
                if row.status == TradeStatus.CANCELLED:
                    raise Refused(
                        [
                            Problem(
                                "confirmation_cancelled",
                                f"confirmation {item.confirm_id!r} is cancelled",
                                where,
                            )
                        ]
                    )
                if (
                    row.status == TradeStatus.AFFIRMED
                    and item.status is not AffirmationStatus.AFFIRMED
                ):
                    raise Refused(
                        [
                            Problem(
                                "already_affirmed",
                                f"confirmation {item.confirm_id!r} is affirmed: a change needs a cancel and a new trade",
                                where,
                            )
                        ]
                    )
                if row.affirmation_status == item.status.value and (
                    row.status == TradeStatus.AFFIRMED
                    or item.status is not AffirmationStatus.AFFIRMED
                ):
                    summary.existing += 1
                    continue
                status = {
                    AffirmationStatus.AFFIRMED: TradeStatus.AFFIRMED,
                    AffirmationStatus.REJECTED: TradeStatus.REJECTED,
                    AffirmationStatus.RECEIVED: row.status,
                }[item.status]
                at = (item.at - _EPOCH) // dt.timedelta(microseconds=1) if item.at else now_us()
                connection.execute(
                    sa.update(a)
                    .where(a.c.id == row.id)
                    .values(
                        status=status,
                        affirmation_status=item.status.value,
                        affirmation_reason=item.reason,
                        affirmed_at_us=at,
                    )
                )
                if row.trade_id:
                    mirror_direct_trades(connection, [row.trade_id])
                LedgerRepository(connection).append_audit(
                    now_us(),
                    actor,
                    "trades.affirm",
                    orjson.dumps(
                        {"confirm_id": item.confirm_id, "status": item.status.value}
                    ).decode(),
                )
                summary.done += 1
        except Refused as refused:
            quarantine_one(store, AFFIRM_KIND, item.source, item.raw, refused.problems, actor=actor)
            summary.quarantined += 1
            summary.problems.extend(refused.problems)
    return summary


def one_affirmation(
    confirm_id: str, status: str, reason: str | None, *, source: Source
) -> Affirmation:
    """One affirmation given by its confirmation id (not read from a file), received now;
    `invalid_status` unless `status` is affirmed, rejected or received."""
    try:
        chosen = AffirmationStatus(status)
    except ValueError:
        raise ProblemError(
            Problem(
                "invalid_status",
                f"status must be affirmed, rejected or received, not {status!r}",
                Source(source.file, source.line, "status"),
            )
        ) from None
    raw = f"confirm_id={confirm_id} status={chosen.value}"
    return Affirmation(confirm_id, chosen, reason, dt.datetime.now(dt.UTC), source, raw)
