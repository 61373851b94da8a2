"""The ledger's values: entry requests, stored entries, balances."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backoffice.errors import Problem, Source

postings_per_entry_max = 1000
key_chars_max = 200
description_chars_max = 1000
reference_chars_max = 200
metadata_bytes_max = 16_384
pending_timeout_seconds_max = 366 * 24 * 3600


class EntryKind(StrEnum):
    STANDARD = "standard"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    REVERSAL = "reversal"


# Which kinds move the posted balance, which reserve (pending), which release a reservation.
POSTED_KINDS = frozenset({EntryKind.STANDARD, EntryKind.REVERSAL, EntryKind.POST_PENDING})
RESOLVING_KINDS = frozenset({EntryKind.POST_PENDING, EntryKind.VOID_PENDING})


@dataclass(frozen=True, slots=True)
class PostingRequest:
    account: str
    amount: object  # a decimal string from the edge; anything else is refused with its reason


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """What a caller asks the ledger to do. One of three shapes:

    - a new entry: `postings` (two or more), optionally `pending` with a timeout;
    - the resolution of a pending entry: `post_pending` or `void_pending` = the pending's key;
    - a reversal: `reverse` = the key of the entry to reverse.
    """

    key: str
    effective_date: dt.date | None
    description: str = ""
    postings: tuple[PostingRequest, ...] = ()
    reference: str | None = None
    pending: bool = False
    timeout_seconds: int | None = None
    post_pending: str | None = None
    void_pending: str | None = None
    reverse: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Source = field(default_factory=Source)

    @property
    def kind(self) -> EntryKind:
        if self.post_pending is not None:
            return EntryKind.POST_PENDING
        if self.void_pending is not None:
            return EntryKind.VOID_PENDING
        if self.reverse is not None:
            return EntryKind.REVERSAL
        return EntryKind.PENDING if self.pending else EntryKind.STANDARD

    @property
    def target_key(self) -> str | None:
        return self.post_pending or self.void_pending or self.reverse


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    asset_id: int
    amount_minor: int  # positive = debit, negative = credit


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    key: str
    kind: EntryKind
    effective_date: dt.date
    booked_at_us: int
    description: str
    reference: str | None
    actor: str
    source: str
    metadata_json: str
    pending_id: int | None
    reversal_of: int | None
    expires_at_us: int | None
    postings: tuple[Posting, ...]
    body_hash: str
    prev_hash: str
    hash: str


class EntryOutcome(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EntryResult:
    key: str
    outcome: EntryOutcome
    entry_id: int | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    results: tuple[EntryResult, ...]

    def count(self, outcome: EntryOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


@dataclass(slots=True)
class Balance:
    """An account's running totals, all non-negative, as TigerBeetle keeps them."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def posted_minor(self) -> int:
        """Debit-positive posted balance."""
        return self.debits_posted - self.credits_posted

    @property
    def pending_minor(self) -> int:
        return self.debits_pending - self.credits_pending

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending)
