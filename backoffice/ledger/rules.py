"""The ledger's rules as pure functions: no database, no I/O.

A posting amount is debit-positive: a positive amount debits the account, a negative one
credits it. Each entry's postings sum to zero per asset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from backoffice.errors import Problem, Source
from backoffice.ledger.model import (
    Balance,
    EntryKind,
    EntryRequest,
    key_chars_max,
    postings_per_entry_max,
)
from backoffice.money import format_amount, parse_amount
from backoffice.refdata.model import AccountFlag
from backoffice.text import text_problem

GENESIS_HASH = "0" * 64
# The ledger names the voids it makes for timed-out pending entries `expire/<entry id>`.
RESERVED_KEY_PREFIX = "expire/"


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    """An account as the posting rules see it."""

    id: int
    code: str
    asset_id: int
    asset_code: str
    scale: int
    is_open: bool
    flags: frozenset[AccountFlag]


def check_request_shape(request: EntryRequest) -> list[Problem]:
    """What is wrong with a request before any account is looked up."""
    problems: list[Problem] = []
    if not request.key or len(request.key) > key_chars_max:
        problems.append(
            Problem(
                "invalid_key", f"key must be 1..{key_chars_max} characters", Source(field="key")
            )
        )
    if request.key.startswith(RESERVED_KEY_PREFIX) and request.source.field != "timeout":
        problems.append(
            Problem(
                "reserved_key",
                f"keys starting {RESERVED_KEY_PREFIX!r} are the ledger's own",
                Source(field="key"),
            )
        )
    for name in ("key", "description", "reference"):
        value = getattr(request, name)
        reason = text_problem(value) if value is not None else None
        if reason is not None:
            problems.append(Problem("invalid_text", f"{name} {reason}", Source(field=name)))
    targets = [t for t in (request.post_pending, request.void_pending, request.reverse) if t]
    if len(targets) > 1:
        problems.append(
            Problem(
                "conflicting_fields",
                "only one of post_pending, void_pending, reverse may be given",
            )
        )
    if targets:
        if request.postings:
            problems.append(
                Problem(
                    "conflicting_fields",
                    "postings come from the entry that is posted, voided or reversed",
                    Source(field="postings"),
                )
            )
        if request.pending:
            problems.append(
                Problem("conflicting_fields", "a resolution or reversal cannot itself be pending")
            )
        return problems
    if request.effective_date is None:
        problems.append(Problem("missing_field", "date is required", Source(field="date")))
    if len(request.postings) < 2:
        problems.append(
            Problem(
                "too_few_postings",
                f"an entry needs at least two postings, got {len(request.postings)}",
                Source(field="postings"),
            )
        )
    elif len(request.postings) > postings_per_entry_max:
        problems.append(
            Problem(
                "too_many_postings",
                f"an entry has at most {postings_per_entry_max} postings",
                Source(field="postings"),
            )
        )
    if request.timeout_seconds is not None and not request.pending:
        problems.append(
            Problem(
                "conflicting_fields",
                "timeout applies to pending entries only",
                Source(field="timeout_seconds"),
            )
        )
    return problems


def resolve_postings(
    request: EntryRequest, accounts: dict[str, LedgerAccount]
) -> list[tuple[LedgerAccount, int]] | list[Problem]:
    """Turn posting requests into (account, amount_minor), or every problem found."""
    resolved: list[tuple[LedgerAccount, int]] = []
    problems: list[Problem] = []
    for index, posting in enumerate(request.postings):
        where = Source(field=f"postings[{index}].account")
        account = accounts.get(posting.account)
        if account is None:
            problems.append(Problem("unknown_account", f"no account {posting.account!r}", where))
            continue
        if not account.is_open:
            problems.append(Problem("account_closed", f"account {account.code!r} is closed", where))
            continue
        amount = parse_amount(posting.amount, account.scale)
        if isinstance(amount, Problem):
            problems.append(
                Problem(amount.code, amount.reason, Source(field=f"postings[{index}].amount"))
            )
            continue
        if amount == 0:
            problems.append(
                Problem(
                    "zero_amount",
                    "a posting moves a non-zero amount",
                    Source(field=f"postings[{index}].amount"),
                )
            )
            continue
        resolved.append((account, amount))
    if problems:
        return problems
    return resolved


def zero_sum_problems(postings: Sequence[tuple[LedgerAccount, int]]) -> list[Problem]:
    """Every asset's postings must sum to zero: nothing is created or destroyed."""
    totals: dict[str, tuple[int, int]] = {}
    for account, amount in postings:
        total, scale = totals.get(account.asset_code, (0, account.scale))
        totals[account.asset_code] = (total + amount, scale)
    return [
        Problem(
            "entry_unbalanced",
            f"postings in {asset} sum to {format_amount(total, scale)}, not zero",
            Source(field="postings"),
        )
        for asset, (total, scale) in sorted(totals.items())
        if total != 0
    ]


def canonical_json(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def body_hash(request: EntryRequest, postings: Iterable[tuple[str, int]]) -> str:
    """A hash of what the request asks for, so a retried key can be told from a reused one.

    Amounts are hashed in minor units, so "10.5" and "10.50" are the same request.
    """
    body = [
        request.kind.value,
        request.effective_date.isoformat() if request.effective_date else None,
        request.description,
        request.reference,
        request.timeout_seconds,
        request.target_key,
        request.metadata,
        [[code, amount] for code, amount in postings],
    ]
    return hashlib.sha256(canonical_json(body)).hexdigest()


def entry_hash(
    prev_hash: str,
    content: Sequence[object],
    postings: Sequence[tuple[int, int, int]],
) -> str:
    """The chain link: a hash over the previous entry's hash, this entry and its postings."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(orjson.dumps([*content, postings]))
    return digest.hexdigest()


def apply_posting(balance: Balance, amount: int, kind: EntryKind, sign: int = 1) -> None:
    """Move `balance` by one posting of an entry of `kind` (`sign` -1 undoes it)."""
    debit = amount if amount > 0 else 0
    credit = -amount if amount < 0 else 0
    debit *= sign
    credit *= sign
    if kind is EntryKind.PENDING:
        balance.debits_pending += debit
        balance.credits_pending += credit
    elif kind is EntryKind.POST_PENDING:
        balance.debits_pending -= debit
        balance.credits_pending -= credit
        balance.debits_posted += debit
        balance.credits_posted += credit
    elif kind is EntryKind.VOID_PENDING:
        balance.debits_pending -= debit
        balance.credits_pending -= credit
    else:
        balance.debits_posted += debit
        balance.credits_posted += credit


def flag_problem(account: LedgerAccount, balance: Balance) -> Problem | None:
    """The breach of an account's balance flag, if any, counting pending reservations."""
    if (
        AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS in account.flags
        and balance.debits_posted + balance.debits_pending > balance.credits_posted
    ):
        return Problem(
            "debits_exceed_credits",
            f"account {account.code!r} would have debits exceeding credits",
        )
    if (
        AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS in account.flags
        and balance.credits_posted + balance.credits_pending > balance.debits_posted
    ):
        return Problem(
            "credits_exceed_debits",
            f"account {account.code!r} would have credits exceeding debits",
        )
    return None
