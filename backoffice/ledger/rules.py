"""The ledger's rules as pure functions: no database, no I/O.

A posting amount is debit-positive: a positive amount debits the account, a negative one
credits it. Each entry's postings sum to zero per asset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import orjson

from backoffice.errors import Problem, Source
from backoffice.ledger.model import (
    Balance,
    EntryKind,
    EntryRequest,
    description_chars_max,
    key_chars_max,
    postings_per_entry_max,
    reference_chars_max,
)
from backoffice.money import (
    DECIMAL_PATTERN,
    POWERS_OF_TEN,
    amount_chars_max,
    amount_minor_max,
    format_amount,
    parse_amount,
)
from backoffice.refdata.model import AccountFlag
from backoffice.text import text_problem

GENESIS_HASH = "0" * 64
# The ledger names the voids it makes for timed-out pending entries `expire/<entry id>`.
RESERVED_KEY_PREFIX = "expire/"
# Keys the system's own services write under: the ledger's expiry voids, trade bookings
# (whose reversal must go through a trade cancel, so that the books keep tying out to the
# trades), settlements (booked from the CSD's confirmations) and reconciliation's approved
# corrections (`recon:correction/{id}`: an entry posted there first would block the approval).
# A caller of `ledger post` may use none of them.
RESERVED_KEY_PREFIXES = (RESERVED_KEY_PREFIX, "trades:", "settlement:", "recon:")
# Of those, the ones a caller may not reverse either: a correction is undone by `ledger
# reverse`, as any ordinary entry.
UNDONE_ELSEWHERE_PREFIXES = ("trades:", "settlement:")


class LedgerAccount(NamedTuple):
    """An account as the posting rules see it (a tuple: thousands are made per batch)."""

    id: int
    code: str
    asset_id: int
    asset_code: str
    scale: int
    is_open: bool
    flags: frozenset[AccountFlag]


def _plain(text: str | None) -> bool:
    # Printable ASCII (no tab, no control, no NUL) needs no closer look; anything else does.
    return text is None or (text.isascii() and text.isprintable())


def check_request_shape(request: EntryRequest, *, ledger_own: bool = False) -> list[Problem]:
    """What is wrong with a request before any account is looked up. `ledger_own` requests
    are the ledger's own (expiry voids) and may use the reserved key prefix."""
    key = request.key
    if (
        # The fast path: an ordinary new entry with plain text passes in a few comparisons.
        0 < len(key) <= key_chars_max
        and request.effective_date is not None
        and 2 <= len(request.postings) <= postings_per_entry_max
        and request.post_pending is None
        and request.void_pending is None
        and request.reverse is None
        and request.timeout_seconds is None
        and not key.startswith(RESERVED_KEY_PREFIXES)
        and _plain(key)
        and _plain(request.description)
        and _plain(request.reference)
        and len(request.description) <= description_chars_max
        and (request.reference is None or len(request.reference) <= reference_chars_max)
    ):
        return []
    return _shape_problems(request, ledger_own)


def _shape_problems(request: EntryRequest, ledger_own: bool) -> list[Problem]:
    problems: list[Problem] = []
    if not request.key or len(request.key) > key_chars_max:
        problems.append(
            Problem(
                "invalid_key", f"key must be 1..{key_chars_max} characters", Source(field="key")
            )
        )
    if request.key.startswith(RESERVED_KEY_PREFIXES) and not ledger_own:
        problems.append(
            Problem(
                "reserved_key",
                f"keys starting {' or '.join(map(repr, RESERVED_KEY_PREFIXES))} are the "
                "system's own",
                Source(field="key"),
            )
        )
    target = request.target_key
    if target is not None and target.startswith(UNDONE_ELSEWHERE_PREFIXES) and not ledger_own:
        problems.append(
            Problem(
                "reserved_key",
                f"{target!r} is booked by trading or settlement: undo it there",
                Source(field="target"),
            )
        )
    for name in ("key", "description", "reference"):
        value = getattr(request, name)
        reason = text_problem(value) if value is not None else None
        if reason is not None:
            problems.append(Problem("invalid_text", f"{name} {reason}", Source(field=name)))
    for name, limit in (("description", description_chars_max), ("reference", reference_chars_max)):
        value = getattr(request, name)
        if value is not None and len(value) > limit:
            problems.append(
                Problem("text_too_long", f"{name} is over {limit} characters", Source(field=name))
            )
    # `is not None`, not truthiness: an empty target must be refused, never skipped, or a
    # line naming both an empty post_pending and a void_pending would post what it voids.
    targets = [
        (name, value)
        for name, value in (
            ("post_pending", request.post_pending),
            ("void_pending", request.void_pending),
            ("reverse", request.reverse),
        )
        if value is not None
    ]
    for name, value in targets:
        if not value:
            problems.append(Problem("invalid_field", f"{name} names no entry", Source(field=name)))
    if request.timeout_seconds is not None and (targets or not request.pending):
        problems.append(
            Problem(
                "conflicting_fields",
                "timeout applies to pending entries only",
                Source(field="timeout_seconds"),
            )
        )
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
    return problems


def resolve_postings(
    request: EntryRequest, accounts: dict[str, LedgerAccount]
) -> list[tuple[LedgerAccount, int]] | list[Problem]:
    """Turn posting requests into (account, amount_minor), or every problem found.

    Whether an account is open is left to the caller: a replay of an entry stored before its
    account closed is still recognised as the same entry.
    """
    resolved: list[tuple[LedgerAccount, int]] = []
    for posting in request.postings:
        account = accounts.get(posting.account)
        text = posting.amount
        # The fast path, inline: a decimal string within the scale. Anything else is sorted out
        # with its reasons by `parse_amount` on the slow path.
        match = (
            DECIMAL_PATTERN.fullmatch(text)
            if type(text) is str and len(text) <= amount_chars_max
            else None
        )
        if account is None or match is None:
            break
        sign, whole, fraction = match.groups()
        scale = account.scale
        if fraction is None:
            amount = int(whole) * POWERS_OF_TEN[scale]
        elif len(fraction) <= scale:
            amount = int(whole + fraction) * POWERS_OF_TEN[scale - len(fraction)]
        else:
            break
        if amount == 0 or amount > amount_minor_max:
            break
        resolved.append((account, -amount if sign else amount))
    else:
        return resolved
    return _posting_problems(request, accounts)


def _posting_problems(request: EntryRequest, accounts: dict[str, LedgerAccount]) -> list[Problem]:
    """The slow path of `resolve_postings`: every problem, each naming its field."""
    problems: list[Problem] = []
    for index, posting in enumerate(request.postings):
        account = accounts.get(posting.account) if isinstance(posting.account, str) else None
        if account is None:
            problems.append(
                Problem(
                    "unknown_account",
                    f"no account {posting.account!r}",
                    Source(field=f"postings[{index}].account"),
                )
            )
            continue
        amount = parse_amount(posting.amount, account.scale)
        where = Source(field=f"postings[{index}].amount")
        if isinstance(amount, Problem):
            problems.append(Problem(amount.code, amount.reason, where))
        elif amount == 0:
            problems.append(Problem("zero_amount", "a posting moves a non-zero amount", where))
    return problems


def zero_sum_problems(postings: Sequence[tuple[LedgerAccount, int]]) -> list[Problem]:
    """Every asset's postings must sum to zero: nothing is created or destroyed."""
    # The common case, one asset: a plain sum says it.
    first_asset = postings[0][0].asset_id if postings else 0
    total = 0
    for account, amount in postings:
        if account.asset_id != first_asset:
            break
        total += amount
    else:
        if total == 0:
            return []
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
    if sign == 1 and kind is EntryKind.STANDARD:
        # The common case first: a posted movement.
        if amount > 0:
            balance.debits_posted += amount
        else:
            balance.credits_posted -= amount
        return
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
