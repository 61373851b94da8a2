"""Corrections: a correcting ledger entry for a break, proposed by one user and approved by
another (maker-checker: the proposer cannot approve, checked here and by the database). The
correction is an ordinary ledger entry (reversible by `ledger reverse`) under the key
`recon:correction/{id}`, its reference the break id; approved, it is matched with the break's
items (rule `correction`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.admin.approval_policy_service import policy_for
from backoffice.admin.approval_service import Parked, park
from backoffice.admin.identity import Principal
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.model import (
    EntryOutcome,
    EntryRequest,
    PostingRequest,
    description_chars_max,
)
from backoffice.ledger.service import post_in_transaction
from backoffice.money import format_amount
from backoffice.recon.books_service import account_scales, now_us, record_audit
from backoffice.recon.break_service import record_break_event, resolve_break, stored_break
from backoffice.recon.model import BreakStatus, postings_per_entry
from backoffice.store import schema
from backoffice.store.audit_chain import held_audit
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.text import actor_chars_max, require_free_text


def propose_correction(
    store: Store,
    break_id: str,
    postings: Sequence[tuple[str, str]],
    *,
    description: str,
    actor: str,
) -> int:
    """A correcting entry for a break, waiting for a second person's approval."""
    require_free_text(
        actor=(actor, actor_chars_max), description=(description, description_chars_max)
    )
    if len(postings) < 2:
        raise ProblemError(
            Problem("invalid_correction", "a correction has two or more postings (ACCOUNT=AMOUNT)")
        )
    with store.write() as connection:
        row = stored_break(connection, break_id)
        if row.status == "resolved":
            raise ProblemError(Problem("break_resolved", f"break {break_id} is resolved"))
        _check_as_posted(connection, row, postings, description, actor)
        correction_id = connection.execute(
            sa.insert(schema.corrections)
            .values(
                break_id=break_id,
                proposed_by=actor,
                proposed_at_us=now_us(),
                postings_json=orjson.dumps([[a, amount] for a, amount in postings]).decode(),
                description=description,
            )
            .returning(schema.corrections.c.id)
        ).scalar_one()
        record_break_event(
            connection, break_id, actor, "proposed", f"correction {correction_id}: {description}"
        )
        record_audit(
            connection, actor, "recon.propose",
            {"correction_id": correction_id, "break_id": break_id},
        )  # fmt: skip
    return int(correction_id)


def _check_as_posted(
    connection: sa.Connection, found: Any, postings: Sequence[tuple[str, str]],
    description: str, actor: str,
) -> None:  # fmt: skip
    """Refuse now what approval would refuse (an unknown account, too many decimals, postings
    that do not balance, a correction that would not close the break): the entry is posted
    and matched in a savepoint, then rolled back, so the very rules of approval decide and a
    supervisor is never asked to approve what cannot be done."""
    request = EntryRequest(
        key="recon:correction/proposed",
        effective_date=max(found.value_date, dt.datetime.now(dt.UTC).date()),
        description=description,
        reference=found.break_id,
        postings=tuple(PostingRequest(account, amount) for account, amount in postings),
    )
    trial = connection.begin_nested()
    try:
        at = now_us()
        (result,) = post_in_transaction(
            connection, [request], actor=actor, command="recon.propose", booked_at_us=at,
            audit=False,
        )  # fmt: skip
        if result.outcome is EntryOutcome.FAILED:
            raise ProblemError(*result.problems)
        # And that, posted, it would close the break (`correction_mismatch` otherwise).
        _match_correction(connection, found, request.key, actor, at)
    finally:
        trial.rollback()


def submit_correction(
    store: Store,
    maker: Principal,
    break_id: str,
    postings: Sequence[tuple[str, str]],
    *,
    description: str,
) -> tuple[int, Parked]:
    """The command `recon.correction`: propose a correcting entry and park it for approval
    (corrections always wait: the policy sets only how many approvers), in one transaction
    and one audit event. Gives the correction's number and the approval."""
    with store.unit_of_work() as connection:
        with held_audit(connection):
            correction_id = propose_correction(
                store, break_id, postings, description=description, actor=maker.login
            )
        policy = policy_for(connection, "recon.correction.propose")
        request = {
            "correction_id": correction_id,
            "break_id": break_id,
            "postings": [[account, amount] for account, amount in postings],
            "description": description,
        }
        parked = park(
            connection,
            maker,
            command="recon.correction",
            permission="recon.correction.propose",
            target=f"correction {correction_id}",
            request=request,
            effect={
                "entry_key": f"recon:correction/{correction_id}",
                "postings": request["postings"],
            },
            approvers=policy.approvers if policy is not None else 1,
        )
    return correction_id, parked


def apply_approved_correction(
    store: Store,
    request: dict[str, Any],
    *,
    maker: str,
    approver: str,
    approval_id: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    """What approving a `recon.correction` runs (admin/approval_service): post and resolve."""
    with store.write() as connection:
        key = settle_correction(
            connection, int(request["correction_id"]), approve=True, actor=approver
        )
    return {"entry_key": key, "proposed_by": maker}


def apply_rejected_correction(
    store: Store,
    request: dict[str, Any],
    *,
    maker: str,
    approver: str,
    approval_id: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    with store.write() as connection:
        settle_correction(connection, int(request["correction_id"]), approve=False, actor=approver)
    return {"rejected": int(request["correction_id"]), "proposed_by": maker}


def decide_correction(store: Store, correction_id: int, *, approve: bool, actor: str) -> str | None:
    """Approve (post the entry, resolve the break) or reject a proposed correction, in one
    transaction (`settle_correction`)."""
    require_free_text(actor=(actor, actor_chars_max))
    with store.write() as connection:
        return settle_correction(connection, correction_id, approve=approve, actor=actor)


def settle_correction(
    connection: sa.Connection, correction_id: int, *, approve: bool, actor: str
) -> str | None:
    """Approve or reject a proposed correction in the caller's transaction. The proposer
    cannot decide their own proposal; a break resolved meanwhile takes no correction. An approved correction of a break with items must make the books
    agree with the statement for them: its postings to the reconciled account plus the book
    items must sum to the statement items. They are then matched together (rule
    `correction`), so the break is not found again."""
    c, d = schema.corrections, schema.correction_decisions
    LedgerRepository(connection).lock_head()
    row = connection.execute(
        sa.select(c, d.c.decision)
        .outerjoin(d, d.c.correction_id == c.c.id)
        .where(c.c.id == correction_id)
    ).first()
    if row is None:
        raise ProblemError(Problem("unknown_correction", f"no correction {correction_id}"))
    if row.decision is not None:
        raise ProblemError(
            Problem("correction_decided", f"correction {correction_id} is already {row.decision}")
        )
    if row.proposed_by == actor:
        raise ProblemError(
            Problem(
                "four_eyes",
                f"{actor} proposed correction {correction_id}: another person must decide it",
            )
        )
    found = stored_break(connection, row.break_id)
    if approve and found.status == BreakStatus.RESOLVED.value:
        raise ProblemError(
            Problem(
                "break_resolved",
                f"break {row.break_id} was resolved meanwhile ({found.resolution}): "
                f"correction {correction_id} is not needed",
            )
        )
    at = now_us()
    if not approve:
        connection.execute(
            sa.insert(d).values(
                correction_id=correction_id, decision="rejected", decided_by=actor,
                decided_at_us=at,
            )
        )  # fmt: skip
        record_break_event(
            connection, row.break_id, actor, "rejected", f"correction {correction_id}"
        )
        record_audit(
            connection, actor, "recon.reject",
            {"correction_id": correction_id, "break_id": row.break_id},
        )  # fmt: skip
        return None
    key = f"recon:correction/{correction_id}"
    request = EntryRequest(
        key=key,
        effective_date=max(found.value_date, dt.datetime.now(dt.UTC).date()),
        description=row.description,
        reference=row.break_id,
        postings=tuple(
            PostingRequest(account, amount) for account, amount in orjson.loads(row.postings_json)
        ),
        metadata={
            "break_id": row.break_id,
            "correction_id": correction_id,
            "proposed_by": row.proposed_by,
        },
    )
    (result,) = post_in_transaction(
        connection, [request], actor=actor, command="recon.correct", booked_at_us=at
    )
    if result.outcome is EntryOutcome.FAILED:
        raise ProblemError(*result.problems)
    _match_correction(connection, found, key, actor, at)
    connection.execute(
        sa.insert(d).values(
            correction_id=correction_id, decision="approved", decided_by=actor,
            decided_at_us=at, entry_key=key,
        )
    )  # fmt: skip
    resolve_break(
        connection,
        row.break_id,
        actor,
        f"corrected by ledger entry {key} (proposed by {row.proposed_by})",
        at,
    )
    return key


def _resolve_breaks_of(
    connection: sa.Connection,
    items: Sequence[tuple[str, int]],
    resolved_with: str,
    actor: str,
    at: int,
) -> None:
    """Resolve the open breaks of items just matched, but the one being resolved itself: a
    books item a difference break was found against may have a break of its own (from a run
    of an earlier day)."""
    b = schema.breaks
    for side in ("statement", "books"):
        ids = [item for item_side, item in items if item_side == side]
        if not ids:
            continue
        for break_id in connection.execute(
            sa.select(b.c.break_id).where(
                b.c.side == side,
                b.c.item_id.in_(ids),
                b.c.status != BreakStatus.RESOLVED.value,
                b.c.break_id != resolved_with,
            )
        ).scalars():
            resolve_break(connection, break_id, actor, f"matched with {resolved_with}", at)


def _match_correction(connection: sa.Connection, found: Any, key: str, actor: str, at: int) -> None:
    """Match a corrected break's items with the correction's postings to its account."""
    if found.item_id is None or found.account_id is None:
        return  # a balance or position break: nothing itemised to match
    p, je, sl = schema.postings, schema.journal_entries, schema.statement_lines
    item = p.c.entry_id * postings_per_entry + p.c.line
    corrections = connection.execute(
        sa.select(item.label("id"), p.c.amount_minor)
        .join(je, je.c.id == p.c.entry_id)
        .where(je.c.key == key, p.c.account_id == found.account_id)
    ).all()
    statement_ids = [found.item_id] if found.side == "statement" else []
    book_ids = [found.item_id] if found.side == "books" else []
    if found.other_item_id is not None:
        book_ids.append(found.other_item_id)
    rm = schema.recon_matches
    taken = {
        (r.side, r.item_id)
        for r in connection.execute(
            sa.select(rm.c.side, rm.c.item_id).where(rm.c.item_id.in_(statement_ids + book_ids))
        )
    }
    statement_ids = [i for i in statement_ids if ("statement", i) not in taken]
    book_ids = [i for i in book_ids if ("books", i) not in taken]
    statement_total = sum(
        connection.execute(sa.select(sl.c.amount_minor).where(sl.c.id.in_(statement_ids))).scalars()
    )
    book_total = sum(
        int(r.amount_minor)
        for r in connection.execute(
            sa.select(p.c.amount_minor).join(je, je.c.id == p.c.entry_id).where(item.in_(book_ids))
        )
    )
    booked = sum(int(r.amount_minor) for r in corrections)
    scale = account_scales(connection, [found.account_id])[found.account_id]
    if book_total + booked != statement_total:
        raise ProblemError(
            Problem(
                "correction_mismatch",
                f"break {found.break_id}: the statement shows "
                f"{format_amount(statement_total, scale)}, the books "
                f"{format_amount(book_total, scale)}; the correction books "
                f"{format_amount(booked, scale)} to the account, so they would still differ by "
                f"{format_amount(statement_total - book_total - booked, scale)}",
            )
        )
    number = (
        connection.execute(sa.select(sa.func.coalesce(sa.func.max(rm.c.match_no), -1))).scalar_one()
        + 1
    )
    items = [("statement", i) for i in statement_ids] + [("books", i) for i in book_ids]
    _resolve_breaks_of(connection, items, found.break_id, actor, at)
    items += [("books", int(r.id)) for r in corrections]
    connection.execute(
        sa.insert(rm),
        [
            {"match_no": number, "rule": "correction", "side": side, "item_id": item_id,
             "matched_at_us": at, "actor": actor}
            for side, item_id in items
        ],
    )  # fmt: skip
    if statement_ids:
        connection.execute(sa.update(sl).where(sl.c.id.in_(statement_ids)).values(matched=True))
