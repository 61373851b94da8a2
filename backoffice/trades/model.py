"""Trade capture's values: executions as they arrive from the front office (FIX or a file).

Quantities and prices stay the decimal strings the venue sent until the security's scale is
known; they become integer minor units later, never floats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from backoffice.errors import Source


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class ExecutionKind(StrEnum):
    """What an execution does to the trade it names: a new trade, or a cancel/correct of one."""

    TRADE = "trade"
    CANCEL = "cancel"
    CORRECT = "correct"


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution (a fill, or the cancel/correct of one), as received.

    `ref_exec_id` names the execution a cancel or correct applies to (None for a trade).
    `quantity` and `price` are plain decimal strings exactly as received ("100", "228.5200").
    `counterparty` is the contra firm when the report names one, else None.
    `raw` is the message text as received, its field delimiter shown as '|'.
    """

    exec_id: str
    kind: ExecutionKind
    ref_exec_id: str | None
    order_id: str
    account: str
    isin: str
    side: Side
    quantity: str
    price: str
    currency: str
    trade_date: dt.date
    venue: str
    counterparty: str | None
    transact_time: dt.datetime  # timezone-aware, UTC
    source: Source
    raw: str


class AllocationAction(StrEnum):
    """FIX AllocTransType (71): 0 new, 2 cancel (a replace is a cancel and a new)."""

    NEW = "new"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """One client's share of a block: the client's party code and a plain decimal quantity."""

    account: str
    quantity: str
    source: Source


@dataclass(frozen=True, slots=True)
class AllocationInstruction:
    """How a block is split across client accounts (FIX AllocationInstruction 35=J, or CSV).

    The block is the set of executions named by `exec_ids` (FIX NoExecs/ExecID, or the CSV's
    `trade_id` column). `quantity` is the block total the sender states (FIX 53), or None when
    the sender does not state it (a CSV); the lines must add up to the block either way.
    """

    alloc_id: str
    action: AllocationAction
    exec_ids: tuple[str, ...]
    side: Side | None
    isin: str | None
    quantity: str | None
    trade_date: dt.date | None
    lines: tuple[AllocationLine, ...]
    source: Source
    raw: str


class AffirmationStatus(StrEnum):
    """FIX AffirmStatus (940): 1 received, 2 rejected (confirm rejected), 3 affirmed."""

    RECEIVED = "received"
    REJECTED = "rejected"
    AFFIRMED = "affirmed"


@dataclass(frozen=True, slots=True)
class Affirmation:
    """The client's answer to a confirmation (FIX ConfirmationAck 35=AU, a CSV, or the API)."""

    confirm_id: str
    status: AffirmationStatus
    reason: str | None
    at: dt.datetime | None  # timezone-aware, UTC; None when the sender gave no time
    source: Source
    raw: str


@dataclass(frozen=True, slots=True)
class ConfirmationDetails:
    """Every figure a client's confirmation shows, ready to print.

    Amounts and quantities are plain decimal strings at their asset's scale ("1234.50");
    `price` is the execution price, or a block's average price to `average_price_decimals`.
    `fees` is the sum of `sec_fee` and `finra_taf`. `net_amount` is what the client pays
    (a buy: gross + commission + fees) or receives (a sale: gross - commission - fees).
    """

    confirm_id: str
    trade_id: str
    allocation_id: str
    firm_code: str
    firm_name: str
    client_code: str
    client_name: str
    side: Side
    isin: str
    security_name: str
    quantity: str
    price: str
    currency: str
    trade_date: dt.date
    settlement_date: dt.date
    venue: str
    counterparty: str | None
    transact_time: dt.datetime
    gross_amount: str
    commission: str
    sec_fee: str
    finra_taf: str
    fees: str
    net_amount: str
    is_block_allocation: bool


average_price_decimals = 6
