"""SQL for the ledger. The service decides; this module only reads and writes rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from backoffice.ledger.model import Balance, EntryKind
from backoffice.ledger.rules import LedgerAccount
from backoffice.refdata.model import AccountFlag
from backoffice.store import schema
from backoffice.store.audit_chain import append_event
from backoffice.store.bulk import append_rows, placeholder, select_in

# Account flags by the two boolean columns that store them.
_FLAGS = {
    (debits, credits): frozenset(
        flag
        for flag, on in (
            (AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS, debits),
            (AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS, credits),
        )
        if on
    )
    for debits in (False, True)
    for credits in (False, True)
}
ENTRY_COLUMNS = (
    "id", "key", "body_hash", "kind", "effective_date", "booked_at_us", "description",
    "reference", "actor", "source", "metadata_json", "pending_id", "reversal_of",
    "expires_at_us", "prev_hash", "hash",
)  # fmt: skip
POSTING_COLUMNS = ("entry_id", "line", "account_id", "asset_id", "amount_minor")


@dataclass(frozen=True, slots=True)
class StoredTarget:
    """An entry that a request posts, voids or reverses, with what the rules need of it."""

    id: int
    key: str
    kind: EntryKind
    effective_date: dt.date
    expires_at_us: int | None
    resolved_by: int | None
    reversed_by: int | None
    postings: tuple[tuple[int, int, int], ...]  # (account_id, asset_id, amount_minor)


def as_date(value: object) -> dt.date:
    """SQLite hands back dates as ISO text through the raw driver; PostgreSQL as dates."""
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class LedgerRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self.mark = placeholder(connection)

    def lock_head(self) -> tuple[int, str]:
        """The chain head. On PostgreSQL the row lock makes ledger writers take turns, which
        the hash chain needs; SQLite's BEGIN IMMEDIATE already did."""
        return self.read_head(lock=self.postgresql)

    def read_head(self, *, lock: bool = False) -> tuple[int, str]:
        row = self.connection.exec_driver_sql(
            "SELECT last_entry_id, last_hash FROM ledger_head WHERE id = 1"
            + (" FOR UPDATE" if lock else "")
        ).one()
        return int(row[0]), str(row[1])

    def move_head(self, last_entry_id: int, last_hash: str) -> None:
        self.connection.exec_driver_sql(
            f"UPDATE ledger_head SET last_entry_id = {self.mark}, last_hash = {self.mark} "
            "WHERE id = 1",
            (last_entry_id, last_hash),
        )

    def existing_keys(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        if self.postgresql:
            # A join on unnest uses the key index; `key = ANY(...)` is planned as a scan.
            rows = self.connection.exec_driver_sql(
                "SELECT j.key, j.id, j.body_hash FROM unnest(%s::text[]) AS k(key)"
                " JOIN journal_entries j ON j.key = k.key",
                (list(dict.fromkeys(keys)),),
            ).all()
            return {row[0]: (int(row[1]), str(row[2])) for row in rows}
        rows = select_in(
            self.connection,
            "SELECT key, id, body_hash FROM journal_entries WHERE {where}",
            "key",
            keys,
        )
        return {row[0]: (int(row[1]), str(row[2])) for row in rows}

    def targets(self, keys: Sequence[str]) -> dict[str, StoredTarget]:
        rows = select_in(
            self.connection,
            "SELECT e.id, e.key, e.kind, e.effective_date, e.expires_at_us,"
            " (SELECT r.id FROM journal_entries r WHERE r.pending_id = e.id),"
            " (SELECT r.id FROM journal_entries r WHERE r.reversal_of = e.id)"
            " FROM journal_entries e WHERE {where}",
            "e.key",
            keys,
        )
        postings: dict[int, list[tuple[int, int, int]]] = {}
        for entry_id, account_id, asset_id, amount in select_in(
            self.connection,
            "SELECT entry_id, account_id, asset_id, amount_minor FROM postings WHERE {where}"
            " ORDER BY entry_id, line",
            "entry_id",
            [row[0] for row in rows],
        ):
            postings.setdefault(int(entry_id), []).append(
                (int(account_id), int(asset_id), int(amount))
            )
        return {
            row[1]: StoredTarget(
                id=int(row[0]),
                key=row[1],
                kind=EntryKind(row[2]),
                effective_date=as_date(row[3]),
                expires_at_us=row[4],
                resolved_by=row[5],
                reversed_by=row[6],
                postings=tuple(postings.get(int(row[0]), ())),
            )
            for row in rows
        }

    def accounts_for_update(
        self, codes: Sequence[str], ids: Sequence[int]
    ) -> dict[int, tuple[LedgerAccount, Balance]]:
        """The accounts a batch touches, with their balances, locked in id order on PostgreSQL
        so that concurrent writers never deadlock and never lose an update."""
        select = (
            "SELECT a.id, a.code, a.asset_id, s.code, s.scale, a.status,"
            " a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,"
            " a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending"
            " FROM accounts a JOIN assets s ON s.id = a.asset_id WHERE {where}"
        )
        if self.postgresql:
            select += " ORDER BY a.id FOR UPDATE OF a"
        found: dict[int, tuple[LedgerAccount, Balance]] = {}
        rows = [
            *select_in(self.connection, select, "a.code", codes),
            *select_in(self.connection, select, "a.id", ids),
        ]
        for row in rows:
            account = LedgerAccount(
                row[0], row[1], row[2], row[3], row[4], row[5] == "open", _FLAGS[row[6], row[7]]
            )
            found[account.id] = (account, Balance(row[8], row[9], row[10], row[11]))
        return found

    def balances_of(self, ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
        rows = select_in(
            self.connection,
            "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending"
            " FROM accounts WHERE {where}",
            "id",
            ids,
        )
        return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}

    def append(
        self,
        entries: Sequence[Sequence[Any]],
        postings: Sequence[Sequence[Any]],
        deltas: dict[int, tuple[int, int, int, int]],
    ) -> None:
        # Postings before their entry: the entry's insert trigger checks that they balance.
        append_rows(self.connection, "postings", POSTING_COLUMNS, postings)
        append_rows(self.connection, "journal_entries", ENTRY_COLUMNS, entries)
        m = self.mark
        updates = [(*delta, account_id) for account_id, delta in sorted(deltas.items())]
        if updates and self.postgresql:
            # One statement for every account (already locked in id order by this transaction).
            self.connection.exec_driver_sql(
                "UPDATE accounts a SET debits_posted = a.debits_posted + d.dp,"
                " credits_posted = a.credits_posted + d.cp,"
                " debits_pending = a.debits_pending + d.dq,"
                " credits_pending = a.credits_pending + d.cq"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
                " %s::bigint[]) AS d(id, dp, cp, dq, cq) WHERE a.id = d.id",
                tuple([row[k] for row in updates] for k in (4, 0, 1, 2, 3)),
            )
        elif updates:
            self.connection.exec_driver_sql(
                f"UPDATE accounts SET debits_posted = debits_posted + {m},"
                f" credits_posted = credits_posted + {m},"
                f" debits_pending = debits_pending + {m},"
                f" credits_pending = credits_pending + {m} WHERE id = {m}",
                updates,
            )

    def expired_pending(self, now_us: int) -> list[tuple[int, str]]:
        """(id, key) of every pending entry past its timeout and not yet posted or voided."""
        rows = self.connection.exec_driver_sql(
            "SELECT e.id, e.key FROM journal_entries e WHERE e.expires_at_us IS NOT NULL"
            " AND e.kind = 'pending'"
            f" AND e.expires_at_us <= {self.mark}"
            " AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.pending_id = e.id)"
            " ORDER BY e.id",
            (now_us,),
        ).all()
        return [(int(row[0]), str(row[1])) for row in rows]

    def append_audit(self, at_us: int, actor: str, command: str, detail_json: str) -> None:
        append_event(self.connection, at_us, actor, command, detail_json)

    def quarantine(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.postgresql:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(schema.quarantine).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(schema.quarantine).on_conflict_do_nothing()
        self.connection.execute(statement, list(rows))

    def iter_entries(self, batch_entries: int) -> Iterator[Sequence[Any]]:
        """Every entry in chain order with its postings, a bounded batch at a time."""
        e = schema.journal_entries
        last = 0
        while True:
            entries = self.connection.execute(
                sa.select(e).where(e.c.id > last).order_by(e.c.id).limit(batch_entries)
            ).all()
            if not entries:
                return
            yield entries
            last = entries[-1].id

    def postings_between(self, first_id: int, last_id: int) -> list[Any]:
        p = schema.postings
        return list(
            self.connection.execute(
                sa.select(p.c.entry_id, p.c.account_id, p.c.asset_id, p.c.amount_minor)
                .where(p.c.entry_id.between(first_id, last_id))
                .order_by(p.c.entry_id, p.c.line)
            ).all()
        )
