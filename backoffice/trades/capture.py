"""Validation and enrichment of an execution against reference data: pure, no store.

An execution becomes a `CapturedTrade` (every figure in exact minor units, settlement date
set) or a list of every problem found. Rules:

- the instrument is a security in reference data (its ISIN check digit was checked on read);
- the account is a client's party code, or the code of an account a client owns;
- the currency is a currency in reference data and, when the security names its trading
  currency, that one;
- the market is the security's `market`, else the venue; the trade date must be one of its
  trading days; the settlement date is T+n settlement days by the market's rules;
- the counterparty is a party of kind counterparty, ccp, custodian or bank;
- quantity has no more decimals than the security's scale; price is a plain positive decimal;
- gross = quantity x price rounded half up to the currency's minor unit; the client's
  commission schedule applies to trades in its currency (other currencies pay none); SEC fee
  and FINRA TAF apply to sales on US markets, each rounded up to the cent, TAF capped.

A block (the account's party `allocates`) is captured with its gross only: commission and fees
are charged per allocation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.money import amount_minor_max, parse_amount
from backoffice.refdata import calendars
from backoffice.trades.charges import (
    CommissionSchedule,
    FeeSchedule,
    commission_minor,
    gross_minor,
    parse_price,
    regulatory_fees_minor,
)
from backoffice.trades.model import Execution, Side

COUNTERPARTY_KINDS = frozenset({"counterparty", "ccp", "custodian", "bank"})


@dataclass(frozen=True, slots=True)
class Security:
    asset_id: int
    isin: str
    name: str
    scale: int
    market: str | None
    currency: str | None
    asset_class: str


@dataclass(frozen=True, slots=True)
class Client:
    party_id: int
    code: str
    name: str
    allocates: bool
    commission: CommissionSchedule | None


@dataclass(frozen=True, slots=True)
class Currency:
    asset_id: int
    code: str
    scale: int


@dataclass(slots=True)
class TradingRefdata:
    """What capture reads of reference data, loaded once per import."""

    securities: dict[str, Security]
    currencies: dict[str, Currency]
    clients: dict[str, Client]
    client_of_account: dict[str, str]  # account code -> its client's party code
    parties: dict[str, tuple[int, str]]  # party code -> (id, kind)
    fees: FeeSchedule
    firm_code: str | None
    firm_name: str

    def client(self, account: str) -> Client | None:
        code = self.client_of_account.get(account, account)
        return self.clients.get(code)


@dataclass(frozen=True, slots=True)
class CapturedTrade:
    execution: Execution
    client: Client
    security: Security
    currency: Currency
    counterparty_id: int
    market: str
    quantity_minor: int
    settlement_date: dt.date
    gross_minor: int
    commission_minor: int
    sec_fee_minor: int
    finra_taf_minor: int

    @property
    def block(self) -> bool:
        return self.client.allocates

    @property
    def fees_minor(self) -> int:
        return self.sec_fee_minor + self.finra_taf_minor

    @property
    def net_minor(self) -> int:
        charges = self.commission_minor + self.fees_minor
        if self.execution.side is Side.BUY:
            return self.gross_minor + charges
        return self.gross_minor - charges


SettlementDates = Callable[[str, dt.date, str], dt.date]


def cached_settlement_dates() -> SettlementDates:
    """`calendars.settlement_date`, remembered per (market, date, class): a million trades
    fall on a handful of dates."""
    known: dict[tuple[str, dt.date, str], dt.date] = {}

    def settlement_date(market: str, trade_date: dt.date, asset_class: str) -> dt.date:
        key = (market, trade_date, asset_class)
        found = known.get(key)
        if found is None:
            found = known[key] = calendars.settlement_date(market, trade_date, asset_class)
        return found

    return settlement_date


def capture(
    execution: Execution, refdata: TradingRefdata, settlement_date: SettlementDates
) -> CapturedTrade | list[Problem]:
    """The execution validated and enriched, or every reason it cannot be."""
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, field: str) -> None:
        problems.append(
            Problem(code, reason, Source(execution.source.file, execution.source.line, field))
        )

    security = refdata.securities.get(execution.isin)
    if security is None:
        bad("unknown_instrument", f"no security {execution.isin!r} in reference data", "isin")
    client = refdata.client(execution.account)
    if client is None:
        bad(
            "unknown_account",
            f"{execution.account!r} is neither a client nor a client's account",
            "account",
        )
    currency = refdata.currencies.get(execution.currency)
    if currency is None:
        bad("unknown_currency", f"no currency {execution.currency!r} in reference data", "currency")
    elif security is not None and security.currency not in (None, execution.currency):
        bad(
            "currency_mismatch",
            f"{execution.isin} trades in {security.currency}, not {execution.currency}",
            "currency",
        )
    counterparty_id = 0
    if execution.counterparty is None:
        bad("missing_counterparty", "the execution names no counterparty", "counterparty")
    else:
        party = refdata.parties.get(execution.counterparty)
        if party is None:
            bad(
                "unknown_counterparty",
                f"no party {execution.counterparty!r} in reference data",
                "counterparty",
            )
        elif party[1] not in COUNTERPARTY_KINDS:
            bad(
                "not_a_counterparty",
                f"{execution.counterparty!r} is a {party[1]}, not a counterparty",
                "counterparty",
            )
        else:
            counterparty_id = party[0]
    price = parse_price(execution.price)
    if price is None:
        bad("invalid_price", f"price {execution.price!r} is not a plain positive decimal", "price")
    market = (security.market if security is not None else None) or execution.venue
    settles: dt.date | None = None
    if market not in calendars.MARKETS:
        bad("unknown_market", f"no calendar for market {market!r}", "venue")
    elif security is not None:
        try:
            settles = settlement_date(market, execution.trade_date, security.asset_class)
        except ProblemError as error:
            for problem in error.problems:
                bad(problem.code, problem.reason, "trade_date")
    quantity = 0
    if security is not None:
        parsed = parse_amount(execution.quantity, security.scale)
        if isinstance(parsed, Problem):
            bad("invalid_quantity", f"quantity: {parsed.reason}", "quantity")
        elif parsed <= 0:
            bad("invalid_quantity", "quantity must be greater than zero", "quantity")
        else:
            quantity = parsed
    if (
        problems
        or security is None
        or client is None
        or currency is None
        or price is None
        or settles is None
    ):
        return problems
    gross = gross_minor(quantity, security.scale, price[0], price[1], currency.scale)
    if not 0 < gross <= amount_minor_max:
        bad(
            "invalid_amount",
            f"gross amount is out of range 0 < gross <= {amount_minor_max} minor units",
            "price",
        )
        return problems
    commission = sec_fee = finra_taf = 0
    if not client.allocates:
        commission, sec_fee, finra_taf = charges(
            client,
            security,
            currency,
            execution.side,
            market,
            execution.trade_date,
            quantity,
            gross,
            refdata.fees,
        )
    return CapturedTrade(
        execution=execution,
        client=client,
        security=security,
        currency=currency,
        counterparty_id=counterparty_id,
        market=market,
        quantity_minor=quantity,
        settlement_date=settles,
        gross_minor=gross,
        commission_minor=commission,
        sec_fee_minor=sec_fee,
        finra_taf_minor=finra_taf,
    )


def charges(
    client: Client,
    security: Security,
    currency: Currency,
    side: Side,
    market: str,
    trade_date: dt.date,
    quantity_minor: int,
    gross: int,
    fees: FeeSchedule,
) -> tuple[int, int, int]:
    """(commission, SEC fee, FINRA TAF) in minor units for one client's trade or allocation."""
    schedule = client.commission
    if schedule is not None and schedule.currency != currency.code:
        schedule = None  # a schedule applies to trades in its own currency only
    commission = commission_minor(schedule, quantity_minor, security.scale, gross, currency.scale)
    sec_fee, finra_taf = regulatory_fees_minor(
        fees,
        side,
        market,
        trade_date,
        quantity_minor,
        security.scale,
        gross,
        currency.code,
        currency.scale,
    )
    return commission, sec_fee, finra_taf
