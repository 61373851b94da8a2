"""Roles: named sets of permissions. Five are built in; a firm adds its own from a YAML file
(`roles load`). Segregation of duties is in the built-ins: the admin manages people but moves
no money, and whoever makes a change is not whoever approves it (approval_service).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from backoffice.admin.permissions import ALL_PERMISSIONS, APPROVAL_TWINS, READ_PERMISSIONS
from backoffice.errors import Problem

role_name_chars_max = 64
roles_per_user_max = 16
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    permissions: frozenset[str]
    description: str
    builtin: bool


_OPERATIONS = READ_PERMISSIONS | {
    "ledger.post", "ledger.reverse", "ledger.pending", "ledger.export",
    "trades.import", "trades.allocate", "trades.confirm", "trades.affirm",
    "settlement.net", "settlement.instruct", "settlement.status",
    "recon.import", "recon.run", "recon.break.update", "recon.match",
    "recon.correction.propose", "refdata.change",
}  # fmt: skip
_APPROVALS = frozenset(APPROVAL_TWINS.values()) - {"users.manage.approve"} | {"approvals.decide"}

BUILTIN_ROLES: Final[dict[str, Role]] = {
    role.name: role
    for role in (
        Role(
            "operations",
            frozenset(_OPERATIONS),
            "Capture, import, post, instruct, investigate breaks, propose corrections.",
            builtin=True,
        ),
        Role(
            "supervisor",
            frozenset(_OPERATIONS | _APPROVALS),
            "Operations, and approves what operations proposes (never their own).",
            builtin=True,
        ),
        Role(
            "compliance",
            READ_PERMISSIONS | {"audit.read", "audit.export", "ledger.export"},
            "Reads everything, the audit trail and its exports.",
            builtin=True,
        ),
        Role(
            "auditor",
            READ_PERMISSIONS | {"audit.read", "audit.export", "ledger.export"},
            "Read-only, with the audit trail and exports.",
            builtin=True,
        ),
        Role(
            "admin",
            frozenset(
                {"users.read", "users.manage", "users.manage.approve", "db.read", "db.upgrade"}
                | {"audit.read", "demo.run", "approvals.read", "approvals.decide"}
            ),
            "Users, roles and the schema only: moves no money and approves no money movement.",
            builtin=True,
        ),
    )
}
ADMIN_ROLE: Final = "admin"


def role_problems(name: str, permissions: frozenset[str]) -> list[Problem]:
    """Why a custom role cannot be defined as given (empty when it can)."""
    problems: list[Problem] = []
    if not _ROLE_NAME.fullmatch(name):
        problems.append(
            Problem(
                "invalid_role",
                f"role {name!r}: a role name is lower-case letters, digits, '-' and '_', "
                "starting with a letter",
            )
        )
    if name in BUILTIN_ROLES:
        problems.append(
            Problem("invalid_role", f"role {name!r}: a built-in role cannot be redefined")
        )
    unknown = sorted(permissions - ALL_PERMISSIONS)
    if unknown:
        problems.append(
            Problem(
                "unknown_permission", f"role {name!r}: no such permission: {', '.join(unknown)}"
            )
        )
    return problems


def permissions_of(role_names: frozenset[str], custom: Mapping[str, Role]) -> frozenset[str]:
    """The union of the roles' permissions; a role no longer defined gives nothing."""
    granted: set[str] = set()
    for name in role_names:
        role = BUILTIN_ROLES.get(name) or custom.get(name)
        if role is not None:
            granted |= role.permissions
    return frozenset(granted)
