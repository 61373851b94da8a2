"""Approval policies: which approvable commands wait for a second person, and how many.

A policy names the maker's permission (`recon.correction.propose`, `refdata.change`, ...) and a
rule: `always`, `above` an amount per asset (`amounts: {USD: "1000000.00"}`), or `never`; and
how many distinct approvers it needs (`approvers`, default 1). For `refdata.change`,
`sections` limits it to changes of those sections (SSIs, fee rates, accounts...), for
`ledger.post` `sections: [client_accounts]` to entries touching client accounts; a change to
the policies themselves always waits while any reference-data policy is in force, so nobody
loosens four-eyes alone. Policies come from the reference-data file (`approval_policies:`)
and are judged by those in force before the load that changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Final

from backoffice.admin.permissions import APPROVAL_TWINS
from backoffice.errors import Problem

approvers_max = 5
REFDATA_SECTIONS: Final = (
    "assets",
    "parties",
    "accounts",
    "ssis",
    "fee_rates",
    "approval_policies",
)
# What `sections` may limit a policy to, by permission: reference-data sections, or for
# ledger posts the entries that touch client accounts.
SCOPES: Final[dict[str, tuple[str, ...]]] = {
    "refdata.change": REFDATA_SECTIONS,
    "ledger.post": ("client_accounts",),
}


class Rule(StrEnum):
    ALWAYS = "always"
    ABOVE = "above"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    permission: str
    rule: Rule
    approvers: int = 1
    sections: frozenset[str] = frozenset()
    amounts: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def code(self) -> str:  # a reference-data record is known by its code
        return self.permission

    def as_json(self) -> dict[str, object]:
        return {
            "permission": self.permission,
            "rule": self.rule.value,
            "approvers": self.approvers,
            "sections": sorted(self.sections),
            "amounts": {asset: str(amount) for asset, amount in sorted(self.amounts.items())},
        }


# Without a policy in force: corrections of breaks always wait for a second person (they were
# maker-checker before policies existed); everything else runs at once.
DEFAULT_POLICIES: Final[dict[str, ApprovalPolicy]] = {
    "recon.correction.propose": ApprovalPolicy("recon.correction.propose", Rule.ALWAYS),
}


def policy_problems(policy: ApprovalPolicy) -> list[Problem]:
    where = f"approval policy {policy.permission!r}"
    problems: list[Problem] = []
    if policy.permission not in APPROVAL_TWINS:
        problems.append(
            Problem(
                "invalid_policy",
                f"{where}: not an approvable permission ({', '.join(sorted(APPROVAL_TWINS))})",
            )
        )
    if not 1 <= policy.approvers <= approvers_max:
        problems.append(Problem("invalid_policy", f"{where}: approvers is 1 to {approvers_max}"))
    if policy.permission == "recon.correction.propose" and policy.rule is not Rule.ALWAYS:
        problems.append(
            Problem("invalid_policy", f"{where}: corrections always wait (set only approvers)")
        )
    if policy.rule is Rule.ABOVE and not policy.amounts:
        problems.append(Problem("invalid_policy", f"{where}: `above` needs amounts per asset"))
    if any(amount < 0 for amount in policy.amounts.values()):
        problems.append(Problem("invalid_policy", f"{where}: amounts are not negative"))
    allowed = SCOPES.get(policy.permission, ())
    if policy.sections - set(allowed):
        problems.append(
            Problem(
                "invalid_policy",
                f"{where}: sections may be {', '.join(allowed) or 'none'} for this permission",
            )
        )
    return problems


def waits(
    policy: ApprovalPolicy | None,
    *,
    sections_changed: frozenset[str] = frozenset(),
    amounts: Mapping[str, Decimal] | None = None,
) -> bool:
    """Whether a command with this effect waits for approval under `policy`."""
    if policy is None or policy.rule is Rule.NEVER:
        return False
    if policy.permission == "refdata.change":
        if "approval_policies" in sections_changed:
            return True
        if policy.sections and not policy.sections & sections_changed:
            return False
        if not sections_changed:
            return False
    if policy.rule is Rule.ALWAYS:
        return True
    moved = amounts or {}
    return any(
        abs(moved[asset]) > limit for asset, limit in policy.amounts.items() if asset in moved
    )
