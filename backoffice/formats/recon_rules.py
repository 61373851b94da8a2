"""Matching rules per account, from a YAML file (`recon run --rules FILE`):

    default:                      # every account not named below (optional)
      amount_tolerance_minor: 0   # absolute, in the account's minor units
      amount_tolerance_bps: 0     # relative, in basis points of the amount; the larger applies
      date_tolerance_days: 2
      group_window_days: 3
      rules: [exact, tolerance, one_to_many, many_to_one, many_to_many]   # in this order
    accounts:
      firm/bank/EUR:              # a ledger account code
        amount_tolerance_minor: 100
        rules: [exact, tolerance]

A key left out keeps the default's value. Every problem (unknown key or rule, a negative or
non-integer figure, a limit passed) names the file and the field (`accounts.CODE.key`) and
refuses the whole file: matching with a rule set nobody meant is worse than not matching.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.yaml_document import load_yaml, without_lines
from backoffice.recon.model import MatchingRules, MatchRule

rules_file_bytes_max = 1_048_576
accounts_max = 10_000
# Limits a rule may not pass: wider than these is no longer matching but guessing.
tolerance_bps_max = 10_000
tolerance_days_max = 31
group_window_days_max = 31
integer_keys = {
    "amount_tolerance_minor": None,
    "amount_tolerance_bps": tolerance_bps_max,
    "date_tolerance_days": tolerance_days_max,
    "group_window_days": group_window_days_max,
}
engine_rules = tuple(
    r for r in MatchRule if r not in (MatchRule.MANUAL, MatchRule.CORRECTION, MatchRule.REVERSAL)
)


def _rules(
    data: Any, base: MatchingRules, where: str, source: str, problems: list[Problem]
) -> MatchingRules:
    if data is None:
        return base
    if not isinstance(data, dict):
        problems.append(
            Problem("invalid_field", "a mapping of rule settings", Source(source, field=where))
        )
        return base
    changes: dict[str, Any] = {}
    for key, value in data.items():
        field = f"{where}.{key}"
        if key in integer_keys:
            limit = integer_keys[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(
                    Problem(
                        "invalid_field",
                        f"a whole number >= 0, not {value!r}",
                        Source(source, field=field),
                    )
                )
            elif limit is not None and value > limit:
                problems.append(
                    Problem(
                        "limit_exceeded",
                        f"at most {limit}, not {value}",
                        Source(source, field=field),
                    )
                )
            else:
                changes[key] = value
        elif key == "rules":
            names = value if isinstance(value, list) else None
            known = {r.value: r for r in engine_rules}
            if (
                not names
                or any(not isinstance(n, str) or n not in known for n in names)
                or len(set(names)) != len(names)
            ):
                problems.append(
                    Problem(
                        "invalid_field",
                        f"a list of distinct rules among {', '.join(known)}, not {value!r}",
                        Source(source, field=field),
                    )
                )
            else:
                changes["rules"] = tuple(known[n] for n in names)
        else:
            problems.append(
                Problem("unknown_field", f"no setting {key!r}", Source(source, field=field))
            )
    return dataclasses.replace(base, **changes)


def read_recon_rules(path: Path) -> tuple[MatchingRules, dict[str, MatchingRules]]:
    """(default rules, rules per ledger account code)."""
    source = str(path)
    text = decode_text(read_content(path, rules_file_bytes_max), source, latin1_fallback=False)
    return recon_rules_of(without_lines(load_yaml(text, source)), source)


def recon_rules_of(data: Any, source: str) -> tuple[MatchingRules, dict[str, MatchingRules]]:
    """The rules of a document already read (the file's YAML, or the API's JSON body), its
    problems naming `source`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProblemError(
            Problem(
                "malformed_file",
                "the file is a mapping with `default` and `accounts`",
                Source(source),
            )
        )
    problems: list[Problem] = []
    for key in data:
        if key not in ("default", "accounts"):
            problems.append(
                Problem("unknown_field", f"no section {key!r}", Source(source, field=str(key)))
            )
    default = _rules(data.get("default"), MatchingRules(), "default", source, problems)
    accounts: dict[str, MatchingRules] = {}
    named = data.get("accounts") or {}
    if not isinstance(named, dict):
        problems.append(
            Problem("invalid_field", "a mapping of account codes", Source(source, field="accounts"))
        )
        named = {}
    if len(named) > accounts_max:
        problems.append(
            Problem(
                "limit_exceeded",
                f"at most {accounts_max} accounts",
                Source(source, field="accounts"),
            )
        )
    for code, settings in named.items():
        accounts[str(code)] = _rules(settings, default, f"accounts.{code}", source, problems)
    if problems:
        raise ProblemError(*problems)
    return default, accounts
