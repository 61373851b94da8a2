"""Reconciliation's values: statements from banks and custodians, matches and breaks.

Amounts and quantities stay plain decimal strings as read ("-1234.50": the sign is the
direction, positive for money or securities coming INTO the account), with the currency's or
the security's scale applied when they meet the books. Dates are the statement's own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from backoffice.errors import Source

postings_per_entry = 1000  # a book item's id is its entry's id x this + the posting's line


class StatementFormat(StrEnum):
    CAMT053 = "camt.053"
    MT940 = "mt940"
    MT950 = "mt950"
    CSV = "csv"
    SEMT002 = "semt.002"
    MT535 = "mt535"
    HOLDINGS_CSV = "holdings_csv"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked movement on a bank statement.

    `amount` is a plain decimal string, positive for a credit (money in), negative for a debit.
    `references` holds every reference the bank gave, most specific first: end-to-end id,
    account servicer reference, instruction id, remittance information (unstructured), the
    MT940 :61: reference for the account owner and for the servicer.
    """

    amount: str
    value_date: dt.date
    booking_date: dt.date | None
    references: tuple[str, ...]
    description: str
    source: Source
    raw: str


@dataclass(frozen=True, slots=True)
class Statement:
    """A bank statement: one account, one currency, opening and closing balances.

    `statement_id` is the bank's own identifier of the statement (camt.053 Stmt/Id, MT940
    :20:+:28C:), which banks do not keep unique (Rabobank repeats one :20: through a file);
    `sequence` its number where the bank gives one (camt.053 ElctrncSeqNb or LglSeqNb, MT940
    :28C:). `account` is the IBAN, account number or other id as the bank writes it, read at
    `account_source`. The balances are signed plain decimal strings (credit positive), with
    their dates; the opening balance and its date are None when the bank gave none (a camt.053
    holding only closing balances): the statement is still imported, its lines reconciled.
    """

    statement_id: str
    format: StatementFormat
    account: str
    currency: str
    opening_balance: str | None
    opening_date: dt.date | None
    closing_balance: str
    closing_date: dt.date
    lines: tuple[StatementLine, ...]
    source: Source
    created_at: dt.datetime | None = None
    sequence: str | None = None  # electronic sequence / statement number, where given
    account_source: Source | None = None  # where the account was read (:25:, <Acct>)


@dataclass(frozen=True, slots=True)
class Holding:
    """One security position on a custodian statement: ISIN and a plain decimal quantity."""

    isin: str
    quantity: str
    source: Source


@dataclass(frozen=True, slots=True)
class HoldingsStatement:
    """A custodian's statement of holdings (semt.002, MT535, CSV) for one safekeeping account
    as of one date."""

    statement_id: str
    format: StatementFormat
    account: str  # the safekeeping account
    as_of: dt.date
    holdings: tuple[Holding, ...]
    source: Source
    created_at: dt.datetime | None = None


class BreakType(StrEnum):
    MISSING_IN_BOOKS = "missing_in_books"
    MISSING_IN_STATEMENT = "missing_in_statement"
    AMOUNT_DIFFERENCE = "amount_difference"
    DATE_DIFFERENCE = "date_difference"
    DUPLICATE = "duplicate"
    BALANCE_DIFFERENCE = "balance_difference"


class BreakStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class MatchRule(StrEnum):
    EXACT = "exact"
    TOLERANCE = "tolerance"
    ONE_TO_MANY = "one_to_many"
    MANY_TO_ONE = "many_to_one"
    MANY_TO_MANY = "many_to_many"
    MANUAL = "manual"  # by a person (`recon resolve match`), never by the engine
    CORRECTION = "correction"  # a break's items with its approved correcting entry
    REVERSAL = "reversal"  # an unmatched entry with its unmatched reversal: no money moved


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """An account's matching rules, evaluated in order (exact first). Tolerances are in minor
    units (absolute) and in basis points of the amount (relative); whichever is larger applies.
    """

    amount_tolerance_minor: int = 0
    amount_tolerance_bps: int = 0
    date_tolerance_days: int = 2
    group_window_days: int = 3
    rules: tuple[MatchRule, ...] = field(
        default=(
            MatchRule.EXACT,
            MatchRule.TOLERANCE,
            MatchRule.ONE_TO_MANY,
            MatchRule.MANY_TO_ONE,
            MatchRule.MANY_TO_MANY,
        )
    )
