"""Four-eyes approval: a command its policy says must wait is validated, its effect computed,
and parked with its request (`park`); nothing of its effect is stored. Other people approve
or reject it (`decide`): never its maker, never one person twice, each holding the approval
twin of the maker's permission, people compared by user id. The last approval re-runs the
command against the state at that moment, in the approval's own transaction: it may fail,
and says why (the approval then still waits). The result and the approvers are kept with it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson
import sqlalchemy as sa

from backoffice.admin.identity import Principal
from backoffice.admin.permissions import APPROVAL_TWINS
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import Page, bounded_limit, list_page_default, page_of
from backoffice.store import schema
from backoffice.store.audit_chain import AuditStamp, append_event, held_audit
from backoffice.store.engine import Store
from backoffice.text import comment_chars_max, require_free_text

# What approving (or rejecting) runs, by command: "module:function", imported when needed so
# the admin domain does not import every other one. Each takes (store, request, maker=,
# approver=, approval_id=, effect=: what the approvers were shown) and gives its result as
# JSON values.
APPLIERS: Final[dict[str, str]] = {
    "recon.correction": "backoffice.recon.correction_service:apply_approved_correction",
    "refdata.change": "backoffice.refdata.change_service:apply_approved_change",
    "ledger.post": "backoffice.ledger.entry_approval_service:apply_approved_entries",
    "ledger.reverse": "backoffice.ledger.resolution_service:apply_approved_reversal",
}
REJECTERS: Final[dict[str, str]] = {
    "recon.correction": "backoffice.recon.correction_service:apply_rejected_correction",
}


class ApprovalStatus(StrEnum):
    AWAITING = "awaiting"
    APPROVED = "approved"
    REJECTED = "rejected"


def now_us() -> int:
    return time.time_ns() // 1_000


def stamp(principal: Principal, permission: str, outcome: str) -> AuditStamp:
    return AuditStamp(principal.user_id, principal.describe_authentication(), permission, outcome)


@dataclass(frozen=True, slots=True)
class Parked:
    approval_id: int
    approvers_required: int

    def as_json(self) -> dict[str, Any]:
        return {"status": "awaiting_approval", "approval_id": self.approval_id}


def park(
    connection: sa.Connection,
    maker: Principal,
    *,
    command: str,
    permission: str,
    target: str,
    request: Mapping[str, Any],
    effect: Mapping[str, Any],
    approvers: int,
) -> Parked:
    """Store the command to wait for approval, with its one audit event (awaiting_approval)."""
    at = now_us()
    approval_id = int(
        connection.execute(
            sa.insert(schema.approvals)
            .values(
                command=command,
                permission=permission,
                target=target,
                request_json=orjson.dumps(request).decode(),
                effect_json=orjson.dumps(effect).decode(),
                maker_user_id=maker.user_id,
                maker_login=maker.login,
                approvers_required=approvers,
                status=ApprovalStatus.AWAITING.value,
                created_at_us=at,
            )
            .returning(schema.approvals.c.id)
        ).scalar_one()
    )
    detail = {"approval_id": approval_id, "target": target, "request": request, "effect": effect}
    append_event(
        connection,
        at,
        maker.login,
        command,
        orjson.dumps(detail).decode(),
        stamp(maker, permission, "awaiting_approval"),
    )
    return Parked(approval_id, approvers)


@dataclass(frozen=True, slots=True)
class Decision:
    approval_id: int
    status: ApprovalStatus
    approvals: int
    approvers_required: int
    result: Any


def decide(
    store: Store, principal: Principal, approval_id: int, *, approve: bool, reason: str
) -> Decision:
    """Approve or reject a waiting command (see the module's doc), in one transaction with
    its one audit event; what the approved command itself records is folded into it."""
    require_free_text(reason=(reason, comment_chars_max))
    if not approve and not reason.strip():
        raise ProblemError(Problem("reason_required", "a rejection says why (--reason)"))
    with store.unit_of_work() as connection:
        row = _waiting(connection, approval_id)
        twin = APPROVAL_TWINS[row.permission]
        _check_checker(connection, principal, row, twin)
        at = now_us()
        connection.execute(
            sa.insert(schema.approval_decisions).values(
                approval_id=approval_id,
                user_id=principal.user_id,
                decision="approve" if approve else "reject",
                reason=reason,
                at_us=at,
            )
        )
        given = _approvals_given(connection, approval_id)
        required = _approvers_required(connection, row)
        status, result = ApprovalStatus.AWAITING, None
        request = orjson.loads(row.request_json)
        with held_audit(connection) as folded:
            if not approve:
                status = ApprovalStatus.REJECTED
                rejecter = REJECTERS.get(row.command)
                if rejecter is not None:
                    result = _function(rejecter)(
                        store,
                        request,
                        maker=row.maker_login,
                        approver=principal.login,
                        approval_id=approval_id,
                        effect=orjson.loads(row.effect_json),
                    )
            elif given >= required:
                status = ApprovalStatus.APPROVED
                result = _function(APPLIERS[row.command])(
                    store,
                    request,
                    maker=row.maker_login,
                    approver=principal.login,
                    approval_id=approval_id,
                    effect=orjson.loads(row.effect_json),
                )
        if status is not ApprovalStatus.AWAITING:
            connection.execute(
                sa.update(schema.approvals)
                .where(schema.approvals.c.id == approval_id)
                .values(
                    status=status.value,
                    decided_at_us=at,
                    result_json=orjson.dumps(result).decode(),
                )
            )
        outcome = {
            ApprovalStatus.APPROVED: "approved",
            ApprovalStatus.REJECTED: "rejected",
            ApprovalStatus.AWAITING: "approval_recorded",
        }[status]
        detail = {
            "approval_id": approval_id,
            "command": row.command,
            "target": row.target,
            "maker": row.maker_login,
            "approvals": given,
            "approvers_required": required,
            "reason": reason,
            "result": result,
            "applied": folded,
        }
        append_event(
            connection,
            at,
            principal.login,
            f"approvals.{'approve' if approve else 'reject'}",
            orjson.dumps(detail).decode(),
            stamp(principal, twin, outcome),
        )
    return Decision(approval_id, status, given, required, result)


def _waiting(connection: sa.Connection, approval_id: int) -> Any:
    a = schema.approvals
    query = sa.select(a).where(a.c.id == approval_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()  # two approvers at once take turns
    row = connection.execute(query).first()
    if row is None:
        raise ProblemError(Problem("unknown_approval", f"no approval {approval_id}"))
    if row.status != ApprovalStatus.AWAITING.value:
        raise ProblemError(
            Problem("approval_decided", f"approval {approval_id} is already {row.status}")
        )
    return row


def _check_checker(connection: sa.Connection, principal: Principal, row: Any, twin: str) -> None:
    if not principal.may(twin):
        raise ProblemError(Problem("forbidden", f"{principal.login} lacks {twin}"))
    if principal.user_id is None:
        raise ProblemError(
            Problem(
                "four_eyes",
                "approving needs a second person with a user of their own: this database has "
                "no users yet (backoffice users add)",
            )
        )
    if principal.user_id == row.maker_user_id or (
        row.maker_user_id is None and _same_person(connection, principal, row.maker_login)
    ):
        raise ProblemError(
            Problem(
                "four_eyes",
                f"{principal.login} made approval {row.id}: another person must decide it",
            )
        )
    d = schema.approval_decisions
    already = connection.execute(
        sa.select(d.c.decision).where(d.c.approval_id == row.id, d.c.user_id == principal.user_id)
    ).first()
    if already is not None:
        raise ProblemError(
            Problem(
                "four_eyes",
                f"{principal.login} has already approved {row.id}: it needs "
                f"{row.approvers_required} different people",
            )
        )


def _approvers_required(connection: sa.Connection, row: Any) -> int:
    """As many as when it was parked, or as the policy now says if that is more: a policy
    tightened meanwhile applies to what still waits; loosening it does not."""
    from backoffice.admin.approval_policy_service import policy_for

    policy = policy_for(connection, row.permission)
    now = policy.approvers if policy is not None and policy.rule.value != "never" else 1
    return max(int(row.approvers_required), now)


def _same_person(connection: sa.Connection, principal: Principal, maker_login: str) -> bool:
    """A maker without a user id (the single operator, by OS login; a correction proposed
    before users existed, by the login it gave) is the approver when that name is the
    approver's login or the OS login the approver is bound to."""
    if principal.login == maker_login:
        return True
    u = schema.users
    bound = connection.execute(sa.select(u.c.os_user).where(u.c.id == principal.user_id)).scalar()
    return bound is not None and bound == maker_login


def _approvals_given(connection: sa.Connection, approval_id: int) -> int:
    d = schema.approval_decisions
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(
                d.c.approval_id == approval_id, d.c.decision == "approve"
            )
        ).scalar_one()
    )


def _function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


def waiting_for(connection: sa.Connection, command: str, target: str) -> int | None:
    """The waiting approval of a command on a target (a correction's, say), if any."""
    a = schema.approvals
    found = connection.execute(
        sa.select(a.c.id).where(
            a.c.command == command,
            a.c.target == target,
            a.c.status == ApprovalStatus.AWAITING.value,
        )
    ).scalar()
    return None if found is None else int(found)


# Reading -------------------------------------------------------------------------------------


def approval_view(row: Any, decisions: list[Any]) -> dict[str, Any]:
    return {
        "approval_id": row.id,
        "command": row.command,
        "permission": row.permission,
        "approval_permission": APPROVAL_TWINS.get(row.permission),
        "target": row.target,
        "status": row.status,
        "maker": row.maker_login,
        "created_at_us": row.created_at_us,
        "approvers_required": row.approvers_required,
        "decisions": [
            {"user": d.login, "decision": d.decision, "reason": d.reason, "at_us": d.at_us}
            for d in decisions
        ],
        "request": orjson.loads(row.request_json),
        "effect": orjson.loads(row.effect_json),
        "result": orjson.loads(row.result_json) if row.result_json else None,
    }


def approvals_page(
    store: Store,
    principal: Principal,
    *,
    status: str | None = ApprovalStatus.AWAITING.value,
    mine: bool = False,
    for_me: bool = False,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """Approvals oldest first: `mine` those I made; `for_me` those I may decide (I hold the
    approval permission, did not make it and have not decided it)."""
    a, d = schema.approvals, schema.approval_decisions
    limit = bounded_limit(limit)
    query = sa.select(a).order_by(a.c.id).limit(limit + 1)
    if status is not None:
        query = query.where(a.c.status == status)
    if after is not None:
        query = query.where(a.c.id > after)
    if mine:
        query = query.where(a.c.maker_login == principal.login)
    if for_me:
        mayed = [p for p, twin in APPROVAL_TWINS.items() if principal.may(twin)]
        query = query.where(
            a.c.permission.in_(mayed),
            a.c.maker_user_id.is_distinct_from(principal.user_id),
            ~sa.exists().where(d.c.approval_id == a.c.id, d.c.user_id == principal.user_id),
        )
    with store.read() as connection:
        rows, cursor = page_of(connection.execute(query).all(), limit)
        decisions = _decisions(connection, [row.id for row in rows])
    return Page([approval_view(row, decisions.get(row.id, [])) for row in rows], cursor)


def show_approval(store: Store, approval_id: int) -> dict[str, Any]:
    with store.read() as connection:
        row = connection.execute(
            sa.select(schema.approvals).where(schema.approvals.c.id == approval_id)
        ).first()
        if row is None:
            raise ProblemError(Problem("unknown_approval", f"no approval {approval_id}"))
        return approval_view(row, _decisions(connection, [approval_id]).get(approval_id, []))


def _decisions(connection: sa.Connection, ids: list[int]) -> dict[int, list[Any]]:
    d, u = schema.approval_decisions, schema.users
    found: dict[int, list[Any]] = {}
    for row in connection.execute(
        sa.select(d, u.c.login)
        .join(u, u.c.id == d.c.user_id)
        .where(d.c.approval_id.in_(ids))
        .order_by(d.c.at_us)
    ):
        found.setdefault(row.approval_id, []).append(row)
    return found


def awaiting_count(store: Store, count_max: int) -> int:
    """How many approvals wait (at most `count_max`: a gauge, never a scan of history)."""
    waiting = (
        sa.select(schema.approvals.c.id)
        .where(schema.approvals.c.status == ApprovalStatus.AWAITING.value)
        .limit(count_max)
        .subquery()
    )
    with store.read() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(waiting)).scalar_one())
