"""One entry resolved by key, for every door (`ledger reverse`, `post-pending`, `void-pending`
and their API routes): the reversal, posting or void of an entry already booked, created once
under its own idempotency key, or a refusal with the ledger's reasons.

A reversal waits for a second person under a `ledger.reverse` approval policy (`always`, or
`above` an amount moved per asset): it is parked with its request and the postings it would
make, and posted as the maker's when approved, against the state at that moment. A retry of a
reversal already made, or one already waiting, is not parked twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from backoffice.admin.approval_policy import waits
from backoffice.admin.approval_policy_service import policy_for
from backoffice.admin.approval_service import Parked, park, waiting_for
from backoffice.admin.identity import Principal
from backoffice.errors import ProblemError
from backoffice.ledger.model import EntryOutcome, EntryRequest, EntryResult
from backoffice.ledger.queries import entry_by_key
from backoffice.ledger.service import post_entries
from backoffice.store.engine import Store

REVERSE_PERMISSION = "ledger.reverse"


def resolve_entry(
    store: Store,
    maker: Principal,
    key: str,
    date: dt.date | None,
    *,
    reverse: str | None = None,
    post_pending: str | None = None,
    void_pending: str | None = None,
) -> EntryResult | Parked:
    """The entry `key` reversing, posting or voiding the one named: created, or existing when
    asked again; parked when a reversal must wait; `ProblemError` with the ledger's reasons."""
    request = EntryRequest(
        key=key, effective_date=date, reverse=reverse, post_pending=post_pending,
        void_pending=void_pending,
    )  # fmt: skip
    if reverse is not None:
        parked = _park_if_waits(store, maker, request, reverse)
        if parked is not None:
            return parked
    return _post_one(store, request, maker.login)


def _post_one(store: Store, request: EntryRequest, actor: str) -> EntryResult:
    (result,) = post_entries(store, [request], actor=actor).results
    if result.outcome is EntryOutcome.FAILED:
        raise ProblemError(*result.problems)
    return result


def _park_if_waits(
    store: Store, maker: Principal, request: EntryRequest, reverse: str
) -> Parked | None:
    target = f"entry {reverse}"
    original = entry_by_key(store, reverse)
    if original is None or entry_by_key(store, request.key) is not None:
        return None  # the ledger refuses it, or finds the reversal made: nothing to approve
    moved: dict[str, Decimal] = {}
    for posting in original["postings"]:
        amount = Decimal(posting["amount"])
        if amount > 0:
            moved[posting["asset"]] = moved.get(posting["asset"], Decimal(0)) + amount
    with store.unit_of_work() as connection:
        policy = policy_for(connection, REVERSE_PERMISSION)
        if policy is None or not waits(policy, amounts=moved):
            return None
        waiting = waiting_for(connection, REVERSE_PERMISSION, target)
        if waiting is not None:
            return Parked(waiting, policy.approvers)
        effect = {
            "reverses": reverse,
            "postings": [
                {"account": p["account"], "amount": _negated(p["amount"])}
                for p in original["postings"]
            ],
        }
        return park(
            connection, maker, command=REVERSE_PERMISSION, permission=REVERSE_PERMISSION,
            target=target, request=_request_json(request), effect=effect,
            approvers=policy.approvers,
        )  # fmt: skip


def _negated(amount: str) -> str:
    return amount[1:] if amount.startswith("-") else f"-{amount}"


def _request_json(request: EntryRequest) -> dict[str, Any]:
    date = request.effective_date
    return {"key": request.key, "reverse": request.reverse, "date": date and date.isoformat()}


def apply_approved_reversal(
    store: Store,
    request: dict[str, Any],
    *,
    maker: str,
    approver: str,
    approval_id: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    """What approving a `ledger.reverse` runs: the reversal posted as the maker's."""
    date = request.get("date")
    result = _post_one(
        store,
        EntryRequest(
            key=str(request["key"]),
            effective_date=dt.date.fromisoformat(date) if date else None,
            reverse=str(request["reverse"]),
        ),
        maker,
    )
    return {"key": result.key, "outcome": result.outcome.value, "entry_id": result.entry_id}
