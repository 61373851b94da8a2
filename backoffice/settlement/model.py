"""Clearing and settlement's values: obligations, instructions, status advices, fails.

Everything is seen from the firm: a positive quantity means the firm receives securities, a
positive cash amount means the firm receives cash. Quantities and amounts are integers in the
asset's minor units inside the system, and plain decimal strings at the edges (messages).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from backoffice.errors import Source


class NettingMode(StrEnum):
    CCP = "ccp"  # CNS-style: per security and date against the CCP
    BILATERAL = "bilateral"  # per counterparty, security, date and currency


class Direction(StrEnum):
    """Which way the securities move, from the firm's side."""

    RECEIVE = "receive"
    DELIVER = "deliver"


class Payment(StrEnum):
    AGAINST_PAYMENT = "against_payment"  # DvP / RvP: sese.023 APMT, MT541 / MT543
    FREE = "free"  # FoP: sese.023 FREE, MT540 / MT542


class InstructionFunction(StrEnum):
    NEW = "new"  # sese.023 NEWM, MT :23G:NEWM
    CANCEL = "cancel"  # MT :23G:CANC; sese.023 CANC in its processing status


@dataclass(frozen=True, slots=True)
class SettlementParty:
    """Where and through whom one side settles: a party's standing settlement instruction."""

    party: str  # our party code
    place_of_settlement: str  # BIC of the CSD, e.g. DTCYUS33
    agent: str  # BIC of the settlement agent or custodian
    safekeeping_account: str


@dataclass(frozen=True, slots=True)
class SettlementInstruction:
    """One instruction to the firm's agent to settle one obligation.

    `reference` is unique and stable (the same obligation gives the same reference on every
    run), at most 16 characters so that it fits MT540-543 field 20C::SEME as well as sese.023
    TxId. `quantity` and `settlement_amount` are plain positive decimal strings; the amount is
    None for a free-of-payment instruction. `cash_direction_credit` tells whether the firm
    receives the amount (a delivery against payment) or pays it (a receipt against payment).
    """

    reference: str
    function: InstructionFunction
    obligation_id: str
    direction: Direction
    payment: Payment
    isin: str
    security_name: str
    quantity: str
    settlement_amount: str | None
    currency: str | None
    cash_direction_credit: bool
    trade_date: dt.date
    settlement_date: dt.date
    firm: SettlementParty
    counterparty: SettlementParty
    previous_reference: str | None = None  # for a cancellation: the instruction it cancels


class ObligationStatus(StrEnum):
    """Where an obligation stands: netted, instructed, then as the agent's statuses say."""

    OPEN = "open"  # netted, not yet instructed
    EXCEPTION = "exception"  # not instructable (no SSI): reported, not instructed
    NETTED_OUT = "netted_out"  # nets to nothing: no settlement
    INSTRUCTED = "instructed"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    PENDING = "pending"
    FAILED = "failed"
    PARTIALLY_SETTLED = "partially_settled"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class StatusKind(StrEnum):
    """What an inbound status or confirmation says about an instruction."""

    MATCHED = "matched"
    UNMATCHED = "unmatched"
    PENDING = "pending"
    FAILED = "failed"
    SETTLED = "settled"
    PARTIALLY_SETTLED = "partially_settled"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class StatusAdvice:
    """An inbound sese.024 / sese.025 / MT548 / MT544-547, as read.

    `message_id` is the sender's own reference of this message (idempotency); `reference` is
    our instruction's reference it answers. For a settlement confirmation, `settled_quantity`
    and `settled_amount` are plain decimal strings of what settled this time (a partial
    settlement settles less than instructed) and `settled_on` the effective settlement date.
    For debt whose face amortises (a mortgage pass-through), `settled_quantity` is the face
    amount and `amortised_value` the face times the pool factor, as the custodian gives it.
    """

    message_id: str
    reference: str
    status: StatusKind
    reason_code: str | None
    reason: str | None
    settled_quantity: str | None
    settled_amount: str | None
    currency: str | None
    settled_on: dt.date | None
    source: Source
    raw: str
    amortised_value: str | None = None


class FailAgeBucket(StrEnum):
    DAYS_1_TO_3 = "1-3"
    DAYS_4_TO_7 = "4-7"
    DAYS_8_TO_15 = "8-15"
    DAYS_16_TO_30 = "16-30"
    OVER_30 = "30+"


def age_bucket(business_days: int) -> FailAgeBucket:
    """The ageing bucket of a fail that is `business_days` (>= 1) past its settlement date."""
    if business_days <= 3:
        return FailAgeBucket.DAYS_1_TO_3
    if business_days <= 7:
        return FailAgeBucket.DAYS_4_TO_7
    if business_days <= 15:
        return FailAgeBucket.DAYS_8_TO_15
    if business_days <= 30:
        return FailAgeBucket.DAYS_16_TO_30
    return FailAgeBucket.OVER_30
