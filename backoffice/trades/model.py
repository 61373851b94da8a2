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
