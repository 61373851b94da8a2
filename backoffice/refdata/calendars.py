"""Trading days, settlement days and settlement dates, per market and asset class.

A *trading day* is a session of the market's exchange (from `exchange-calendars`). A *settlement
day* is a trading day on which the settlement system's banks are open too (from `holidays`): the
Federal Reserve banks for US markets, TARGET for euro markets, the England and Wales bank holidays
for London. Columbus Day and Veterans Day are US trading days but not settlement days, so a trade
on the Friday before Columbus Day settles T+1 on the Tuesday.

The settlement cycle (T+n, counted in settlement days after the trade date) comes from a table of
rules per market and asset class, each effective from a trade date, so a trade settles under the
rule in force on its trade date.

Importing this module builds nothing: each market's days are computed on first use, for the fixed
range `calendar_first_day`..`calendar_last_day`, and kept for the life of the process.
Expected errors raise `ProblemError` with a stable code: `unknown_market`, `unknown_asset_class`,
`outside_calendar_range`, `not_a_trading_day`, `no_settlement_rule`,
`conflicting_settlement_rules`, `no_settlement_day_in_reach`, `invalid_settlement_rule`.
"""

from __future__ import annotations

import bisect
import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

from backoffice.errors import Problem, ProblemError, invariant

# Limits, by name. The calendars are built for this range only; a date outside it is refused
# rather than guessed (exchange-calendars' own default range moves with today's date).
calendar_first_day = date(2015, 1, 1)
calendar_last_day = date(2031, 12, 31)
# A settlement cycle longer than this is a configuration error, not a market practice.
settlement_days_max = 5
# The settlement date is never further than this from the trade date; a longer gap means the
# calendars are wrong (or the market shut for weeks) and needs a person, not a guess.
settlement_calendar_days_max = 14


class AssetClass(StrEnum):
    EQUITY = "equity"


class BankHolidayCalendar(StrEnum):
    """The days the settlement system's banks are closed."""

    FEDERAL_RESERVE = "federal_reserve"  # holidays.financial_holidays("XFED")
    TARGET = "target"  # holidays.financial_holidays("XECB"): the TARGET2 / T2 closing days
    ENGLAND_AND_WALES = "england_and_wales"  # holidays.UK(subdiv="ENG"): CREST follows them


@dataclass(frozen=True, slots=True)
class Market:
    """A market by its ISO 10383 MIC, the exchange calendar of its sessions and its banks."""

    mic: str
    exchange_calendar: str  # the name exchange-calendars knows it by
    bank_holidays: BankHolidayCalendar


def _markets(*markets: Market) -> Mapping[str, Market]:
    return MappingProxyType({market.mic: market for market in markets})


_FED = BankHolidayCalendar.FEDERAL_RESERVE
_TARGET = BankHolidayCalendar.TARGET
_ENGLAND = BankHolidayCalendar.ENGLAND_AND_WALES

# US venues all follow the NYSE holiday schedule (exchange-calendars makes XNAS, XASE, ARCX and
# BATS aliases of XNYS); Euronext venues and Borsa Italiana, BME and Xetra have their own.
MARKETS: Mapping[str, Market] = _markets(
    Market("XNYS", "XNYS", _FED),  # New York Stock Exchange
    Market("XNAS", "XNAS", _FED),  # Nasdaq
    Market("XASE", "XASE", _FED),  # NYSE American
    Market("ARCX", "ARCX", _FED),  # NYSE Arca
    Market("BATS", "BATS", _FED),  # Cboe BZX
    Market("XLON", "XLON", _ENGLAND),  # London Stock Exchange
    Market("XPAR", "XPAR", _TARGET),  # Euronext Paris
    Market("XAMS", "XAMS", _TARGET),  # Euronext Amsterdam
    Market("XBRU", "XBRU", _TARGET),  # Euronext Brussels
    Market("XLIS", "XLIS", _TARGET),  # Euronext Lisbon
    Market("XDUB", "XDUB", _TARGET),  # Euronext Dublin (settles in Euroclear Bank)
    Market("XMIL", "XMIL", _TARGET),  # Borsa Italiana (Euronext Milan)
    Market("XETR", "XETR", _TARGET),  # Xetra (Deutsche Börse)
    Market("XMAD", "XMAD", _TARGET),  # Bolsa de Madrid
)


@dataclass(frozen=True, slots=True)
class SettlementCycleRule:
    """Trades of `asset_class` on `market` dated on or after `effective_from` settle T+n.

    n = `settlement_days`, counted in settlement days after the trade date. Of the rules of a
    market and asset class, the one with the latest `effective_from` not after the trade date
    applies.
    """

    market: str
    asset_class: AssetClass
    effective_from: date
    settlement_days: int

    def __post_init__(self) -> None:
        if not 1 <= self.settlement_days <= settlement_days_max:
            raise ProblemError(
                Problem(
                    "invalid_settlement_rule",
                    f"{self.market} {self.asset_class} from {self.effective_from.isoformat()}: "
                    f"settlement days must be 1..{settlement_days_max}, "
                    f"not {self.settlement_days}",
                )
            )


_EQUITY = AssetClass.EQUITY
_US_MICS = tuple(mic for mic, market in MARKETS.items() if market.bank_holidays is _FED)
_EUROPEAN_MICS = tuple(mic for mic in MARKETS if mic not in _US_MICS)

DEFAULT_RULES: tuple[SettlementCycleRule, ...] = (
    # US: SEC Rule 15c6-1: T+3 from 1995-06-07, T+2 from 2017-09-05, T+1 from 2024-05-28.
    *(SettlementCycleRule(mic, _EQUITY, date(1995, 6, 7), 3) for mic in _US_MICS),
    *(SettlementCycleRule(mic, _EQUITY, date(2017, 9, 5), 2) for mic in _US_MICS),
    *(SettlementCycleRule(mic, _EQUITY, date(2024, 5, 28), 1) for mic in _US_MICS),
    # EU (CSDR) and UK: T+2 from 2014-10-06, T+1 from 2027-10-11.
    *(SettlementCycleRule(mic, _EQUITY, date(2014, 10, 6), 2) for mic in _EUROPEAN_MICS),
    *(SettlementCycleRule(mic, _EQUITY, date(2027, 10, 11), 1) for mic in _EUROPEAN_MICS),
)


@dataclass(frozen=True, slots=True)
class _MarketDays:
    trading_days: frozenset[date]
    settlement_days: tuple[date, ...]  # sorted, for bisect
    settlement_day_set: frozenset[date]


def _bank_holidays(calendar: BankHolidayCalendar) -> frozenset[date]:
    import holidays

    years = range(calendar_first_day.year, calendar_last_day.year + 1)
    if calendar is BankHolidayCalendar.FEDERAL_RESERVE:
        closed = holidays.financial_holidays("XFED", years=years)
    elif calendar is BankHolidayCalendar.TARGET:
        closed = holidays.financial_holidays("XECB", years=years)
    else:
        # holidays.UK(subdiv="ENG"), through the typed entry point (UK is a lazy attribute).
        closed = holidays.country_holidays("GB", subdiv="ENG", years=years)
    return frozenset(closed.keys())


def _sessions(exchange_calendar: str) -> frozenset[date]:
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange-calendars 4.13 reads Series.values, which pandas 3.1 deprecates; the warning
        # concerns its code, not ours, and would otherwise show on every first use. Narrow on
        # purpose: any other warning still shows.
        warnings.filterwarnings(
            "ignore",
            message=r"Series\.values returning an ndarray that drops timezone",
            category=DeprecationWarning,
        )
        calendar = exchange_calendars.get_calendar(
            exchange_calendar, start=calendar_first_day, end=calendar_last_day
        )
        return frozenset(session.date() for session in calendar.sessions)


@functools.cache
def _market_days(mic: str) -> _MarketDays:
    """Built once per market (a fraction of a second each) and kept; `MARKETS` bounds the cache."""
    market = MARKETS[mic]
    trading_days = _sessions(market.exchange_calendar)
    invariant(
        all(calendar_first_day <= day <= calendar_last_day for day in trading_days),
        f"{mic}: exchange-calendars returned sessions outside the range asked for",
    )
    settlement_days = tuple(sorted(trading_days - _bank_holidays(market.bank_holidays)))
    return _MarketDays(trading_days, settlement_days, frozenset(settlement_days))


def _market(mic: str) -> Market:
    market = MARKETS.get(mic)
    if market is None:
        raise ProblemError(Problem("unknown_market", f"no calendar for market {mic!r}"))
    return market


def _check_day(day: date) -> None:
    # A datetime is a date too, but never equal to one: it would silently miss every calendar.
    invariant(
        isinstance(day, date) and not isinstance(day, datetime), f"{day!r} is not a plain date"
    )
    if not calendar_first_day <= day <= calendar_last_day:
        raise ProblemError(
            Problem(
                "outside_calendar_range",
                f"{day.isoformat()} is outside the calendars' range "
                f"{calendar_first_day.isoformat()}..{calendar_last_day.isoformat()}",
            )
        )


def is_trading_day(market: str, day: date) -> bool:
    """Whether `day` is a session of `market`'s exchange."""
    _market(market)
    _check_day(day)
    return day in _market_days(market).trading_days


def is_settlement_day(market: str, day: date) -> bool:
    """Whether `day` is a trading day of `market` on which its settlement banks are open too."""
    _market(market)
    _check_day(day)
    return day in _market_days(market).settlement_day_set


def settlement_rule(
    market: str,
    trade_date: date,
    asset_class: AssetClass | str = AssetClass.EQUITY,
    rules: Sequence[SettlementCycleRule] = DEFAULT_RULES,
) -> SettlementCycleRule:
    """The rule in force for a trade of `asset_class` on `market` dated `trade_date`."""
    try:
        wanted_class = AssetClass(asset_class)
    except ValueError:
        raise ProblemError(
            Problem("unknown_asset_class", f"no asset class {asset_class!r}")
        ) from None
    in_force = [
        rule
        for rule in rules
        if rule.market == market
        and rule.asset_class is wanted_class
        and rule.effective_from <= trade_date
    ]
    if not in_force:
        raise ProblemError(
            Problem(
                "no_settlement_rule",
                f"no settlement rule for {wanted_class} on {market} "
                f"for a trade dated {trade_date.isoformat()}",
            )
        )
    latest = max(rule.effective_from for rule in in_force)
    candidates = {rule.settlement_days for rule in in_force if rule.effective_from == latest}
    if len(candidates) > 1:
        raise ProblemError(
            Problem(
                "conflicting_settlement_rules",
                f"{market} {wanted_class} from {latest.isoformat()}: rules say "
                + " and ".join(f"T+{days}" for days in sorted(candidates)),
            )
        )
    return next(rule for rule in in_force if rule.effective_from == latest)


def settlement_date(
    market: str,
    trade_date: date,
    asset_class: AssetClass | str = AssetClass.EQUITY,
    rules: Sequence[SettlementCycleRule] = DEFAULT_RULES,
) -> date:
    """The contractual settlement date of a trade: T+n in settlement days of `market`.

    The trade date must be a trading day of the market (it need not be a settlement day: a
    trade on Columbus Day settles on the next settlement day after it). The result is a
    settlement day, strictly after the trade date and at most `settlement_calendar_days_max`
    calendar days after it.
    """
    _market(market)
    _check_day(trade_date)
    days = _market_days(market)
    if trade_date not in days.trading_days:
        raise ProblemError(
            Problem(
                "not_a_trading_day",
                f"{trade_date.isoformat()} ({trade_date:%A}) is not a trading day of {market}",
            )
        )
    rule = settlement_rule(market, trade_date, asset_class, rules)
    position = bisect.bisect_right(days.settlement_days, trade_date) + rule.settlement_days - 1
    if position >= len(days.settlement_days):
        raise ProblemError(
            Problem(
                "outside_calendar_range",
                f"a {market} trade dated {trade_date.isoformat()} settles after "
                f"{calendar_last_day.isoformat()}, the end of the calendars' range",
            )
        )
    settles = days.settlement_days[position]
    if (settles - trade_date).days > settlement_calendar_days_max:
        raise ProblemError(
            Problem(
                "no_settlement_day_in_reach",
                f"T+{rule.settlement_days} for a {market} trade dated {trade_date.isoformat()} "
                f"falls on {settles.isoformat()}, more than {settlement_calendar_days_max} "
                "calendar days later",
            )
        )
    invariant(
        settles > trade_date and settles in days.settlement_day_set,
        f"{market}: settlement date {settles} for trade date {trade_date} breaks the calendar",
    )
    return settles
