"""Breaks and their workflow: a break is opened (or, known already, brought up to date or
reopened), each change in its history (`break_events`), and resolved by a run, a match or a
correction. By hand: assigned, moved to investigating, commented (`update_break`), or a
statement-side break matched with a books-side break of the same account (`manual_match`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.recon.books_service import now_us, record_audit
from backoffice.recon.model import BreakStatus, BreakType
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.text import actor_chars_max, comment_chars_max, owner_chars_max, require_free_text


def open_break(
    connection: sa.Connection,
    break_id: str,
    kind: BreakType,
    account_id: int | None,
    side: str,
    item_id: int | None,
    amount_minor: int,
    value_date: dt.date,
    reference: str | None,
    day: dt.date,
    actor: str,
    text: str,
    *,
    other_item_id: int | None = None,
    external_account: str | None = None,
    scale: int | None = None,
) -> None:
    """Open a break; a break already known is brought up to date instead (type, amount, the
    item it was found against), each change in its history. A resolved break found again is
    reopened: its item is unmatched after all (a books item whose break a difference on the
    statement side had taken over, when that line later matched something else)."""
    b = schema.breaks
    found = connection.execute(
        sa.select(b.c.status, b.c.type, b.c.amount_minor, b.c.other_item_id).where(
            b.c.break_id == break_id
        )
    ).first()
    if found is not None:
        changes: dict[str, Any] = {}
        if found.status == BreakStatus.RESOLVED.value:
            changes.update(status=BreakStatus.OPEN.value, resolved_at_us=None, resolution=None)
            record_break_event(connection, break_id, actor, "reopened", text)
        if found.type != kind.value:
            changes["type"] = kind.value
            record_break_event(
                connection, break_id, actor, "retyped", f"{found.type} -> {kind.value}"
            )
        if found.amount_minor != amount_minor:
            changes.update(amount_minor=amount_minor, value_date=value_date)
            record_break_event(connection, break_id, actor, "changed", f"now {text}")
        if found.other_item_id != other_item_id:
            changes["other_item_id"] = other_item_id
        if changes:
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(**changes))
        return
    connection.execute(
        sa.insert(b).values(
            break_id=break_id,
            type=kind.value,
            account_id=account_id,
            external_account=external_account,
            scale=scale,
            side=side,
            item_id=item_id,
            other_item_id=other_item_id,
            amount_minor=amount_minor,
            value_date=value_date,
            reference=(reference or "")[:140] or None,
            status=BreakStatus.OPEN.value,
            owner=None,
            opened_on=day,
        )
    )
    record_break_event(connection, break_id, actor, "opened", text)


def record_break_event(
    connection: sa.Connection, break_id: str, actor: str, kind: str, text: str
) -> None:
    """One change in a break's history."""
    connection.execute(
        sa.insert(schema.break_events).values(
            break_id=break_id, at_us=now_us(), actor=actor, kind=kind, text=text
        )
    )


def resolve_break(
    connection: sa.Connection, break_id: str, actor: str, resolution: str, at: int
) -> None:
    b = schema.breaks
    connection.execute(
        sa.update(b)
        .where(b.c.break_id == break_id)
        .values(status="resolved", resolved_at_us=at, resolution=resolution)
    )
    record_break_event(connection, break_id, actor, "resolved", resolution)


def stored_break(connection: sa.Connection, break_id: str) -> Any:
    """The break's row; a break id not filed is `unknown_break`."""
    row = connection.execute(
        sa.select(schema.breaks).where(schema.breaks.c.break_id == break_id)
    ).first()
    if row is None:
        raise ProblemError(Problem("unknown_break", f"no break {break_id!r}"))
    return row


def update_break(
    store: Store,
    break_id: str,
    *,
    actor: str,
    owner: str | None = None,
    status: str | None = None,
    comment: str | None = None,
) -> None:
    """Assign, move to investigating (or back to open), comment: each change in the history."""
    require_free_text(
        actor=(actor, actor_chars_max),
        owner=(owner, owner_chars_max),
        comment=(comment, comment_chars_max),
    )
    b = schema.breaks
    with store.write() as connection:
        row = stored_break(connection, break_id)
        if row.status == "resolved":
            raise ProblemError(Problem("break_resolved", f"break {break_id} is resolved"))
        if owner is not None:
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(owner=owner))
            record_break_event(connection, break_id, actor, "assigned", owner)
        if status is not None:
            if status not in ("open", "investigating"):
                raise ProblemError(
                    Problem(
                        "invalid_status",
                        "a break is resolved by a match or a correction, not by hand",
                    )
                )
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(status=status))
            record_break_event(connection, break_id, actor, "status", status)
        if comment:
            record_break_event(connection, break_id, actor, "comment", comment)
        changes = {"owner": owner, "status": status, "comment": comment}
        record_audit(connection, actor, "recon.break", {"break_id": break_id} | changes)


def manual_match(store: Store, statement_break: str, books_break: str, *, actor: str) -> None:
    """Match a statement-side break with a books-side break of the same account by hand."""
    require_free_text(actor=(actor, actor_chars_max))
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        left, right = (
            stored_break(connection, statement_break),
            stored_break(connection, books_break),
        )
        if (
            (left.side, right.side) != ("statement", "books")
            or left.item_id is None
            or right.item_id is None
        ):
            raise ProblemError(
                Problem("invalid_match", "give a statement-side break, then a books-side break")
            )
        if left.account_id != right.account_id:
            raise ProblemError(Problem("invalid_match", "the two breaks are on different accounts"))
        if "resolved" in (left.status, right.status):
            raise ProblemError(Problem("break_resolved", "one of the breaks is already resolved"))
        at = now_us()
        rm = schema.recon_matches
        number = (
            connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(rm.c.match_no), -1))
            ).scalar_one()
            + 1
        )
        connection.execute(
            sa.insert(rm),
            [
                {
                    "match_no": number,
                    "rule": "manual",
                    "side": side,
                    "item_id": item,
                    "matched_at_us": at,
                    "actor": actor,
                }
                for side, item in (("statement", left.item_id), ("books", right.item_id))
            ],
        )
        connection.execute(
            sa.update(schema.statement_lines)
            .where(schema.statement_lines.c.id == left.item_id)
            .values(matched=True)
        )
        for break_id, other in ((statement_break, books_break), (books_break, statement_break)):
            resolve_break(connection, break_id, actor, f"matched by hand with {other}", at)
        record_audit(
            connection, actor, "recon.match",
            {"match_no": number, "statement_break": statement_break, "books_break": books_break},
        )  # fmt: skip
