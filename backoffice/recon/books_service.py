"""What reconciliation reads from and writes to the books beside its own tables: the time its
records carry, a command's one audit record (in the ledger's audit trail, in the transaction of
the command's writes) and the scale of a ledger account's currency."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.store import schema
from backoffice.store.ledger_repository import LedgerRepository


def now_us() -> int:
    return time.time_ns() // 1000


def account_scales(connection: sa.Connection, account_ids: Sequence[int]) -> dict[int, int]:
    a, s = schema.accounts, schema.assets
    return {
        row.id: row.scale
        for row in connection.execute(
            sa.select(a.c.id, s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.id.in_(account_ids))
        )
    }


def record_audit(
    connection: sa.Connection, actor: str, command: str, detail: dict[str, Any]
) -> None:
    """The command's one audit record, in the transaction of its writes."""
    LedgerRepository(connection).append_audit(
        now_us(), actor, command, orjson.dumps(detail).decode()
    )
