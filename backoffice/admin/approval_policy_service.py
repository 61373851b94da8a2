"""Approval policies in the store: the ones in force, and loading them from a reference-data
file (`approval_policies:`, as part of `refdata load`, all or nothing with the rest)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

import orjson
import sqlalchemy as sa

from backoffice.admin.approval_policy import (
    DEFAULT_POLICIES,
    ApprovalPolicy,
    Rule,
    policy_problems,
)
from backoffice.errors import Problem, Source
from backoffice.store import schema


def policies_in_force(connection: sa.Connection) -> dict[str, ApprovalPolicy]:
    """Every policy: the loaded ones over the defaults."""
    found = dict(DEFAULT_POLICIES)
    for row in connection.execute(sa.select(schema.approval_policies)):
        found[row.permission] = ApprovalPolicy(
            row.permission,
            Rule(row.rule),
            row.approvers,
            frozenset(orjson.loads(row.sections_json)),
            {asset: Decimal(amount) for asset, amount in orjson.loads(row.amounts_json).items()},
        )
    return found


def policy_for(connection: sa.Connection, permission: str) -> ApprovalPolicy | None:
    return policies_in_force(connection).get(permission)


def load_policies(
    connection: sa.Connection,
    policies: Sequence[ApprovalPolicy],
    where: dict[str, Source],
    problems: list[Problem],
) -> tuple[int, int, int]:
    """Create or replace the given policies; gives (created, changed, unchanged). Problems are
    added to `problems` (the caller refuses the whole file then)."""
    created = changed = unchanged = 0
    p = schema.approval_policies
    stored = {row.permission for row in connection.execute(sa.select(p.c.permission))}
    existing = policies_in_force(connection)
    for policy in policies:
        found = policy_problems(policy)
        problems.extend(found_problem.with_source(where[policy.code]) for found_problem in found)
        if found:
            continue
        values = {
            "rule": policy.rule.value,
            "approvers": policy.approvers,
            "sections_json": orjson.dumps(sorted(policy.sections)).decode(),
            "amounts_json": orjson.dumps(policy.as_json()["amounts"]).decode(),
            "changed_at_us": time.time_ns() // 1_000,
        }
        if existing.get(policy.permission) == policy and policy.permission in stored:
            unchanged += 1
        elif policy.permission in stored:
            connection.execute(
                sa.update(p).where(p.c.permission == policy.permission).values(**values)
            )
            changed += 1
        else:
            connection.execute(sa.insert(p).values(permission=policy.permission, **values))
            created += 1
    return created, changed, unchanged
