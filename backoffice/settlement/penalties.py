"""Settlement fails: EU CSDR cash penalties and US Regulation SHO close-out candidates.

Pure and exact, in the manner of `backoffice.trades.charges`: prices and rates are decimals held
as `(mantissa, decimals)` pairs of ints ("50.00" is `(5000, 2)`), amounts are ints in the
currency's minor unit, quantities ints in the security's minor unit with their scale. Each daily
penalty is one exact rational on ints rounded once, half up, to the currency's minor unit, as
CSDs compute and report penalties per business day; a month's amount is the sum of its days.

CSDR (Regulation (EU) No 909/2014, Article 7(2)) and Commission Delegated Regulation (EU)
2017/389:

- Articles 2 and 3(1) and the annex: a fail due to a lack of securities costs, per business day,
  the annex rate of the instrument's class × the reference price × the failed quantity.
- Annex point 8, lack of cash: the rate is "the official interest rate for overnight credit
  charged by the central bank issuing the settlement currency, with a floor of 0" (for the euro,
  the ECB's marginal lending facility rate). That rate is published as an annual percentage and
  the Regulation names no day count. We apply it per business day as annual rate / 365 (ACT/365
  fixed, one day's interest for each day of the fail), the convention of the T2S penalty
  mechanism and the ECSDA penalties framework as we understand them; `days_per_year` holds it.
- Article 3(2): the reference price × failed quantity is the base for a lack of cash too, not
  the cash amount of the instruction. Only an instruction that moves no securities (a payment
  free of delivery) has its cash amount as the base (ESMA Q&A on CSDR, cash penalties:
  calculation, answer (f)).

Which days: a penalty accrues for every business day of the settlement system's calendar (T2S
for the euro) at whose end the instruction has still not settled, from the intended settlement
date itself up to the day before the actual settlement date (a fail on its intended date is
penalised for that date; the day it settles is not). `penalty_days` returns those days up to a
last failed day the caller gives: the day before settlement, or the as-of date of an open fail.
Late-matching fail penalties (an instruction matched after its intended date, penalised back to
that date) are out of scope here: they need the matching date.

The rates are those of the annex as adopted (they are kept in `ANNEX_RATE_BASIS_POINTS`, one
place to change when the Commission amends the annex).

Bad inputs that the caller should have checked (a negative quantity, a scale out of range, an
unsorted calendar) are bugs and raise `InvariantViolation`. A missing or unusable reference price
or central bank rate is an expected error: `monthly_penalties` reports it as a `Problem`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from backoffice.error_codes import ErrorCode
from backoffice.errors import InvariantViolation, Problem, invariant
from backoffice.money import scale_max
from backoffice.settlement.model import Direction
from backoffice.trades.charges import parse_price, price_decimals_max

rate_decimals_max = 9
days_per_year = 365  # the lack-of-cash day count: annual rate / 365 per day (see above)
fails_per_report_max = 1_000_000
fail_days_max = 20_000  # about 80 years of business days: a longer fail is a bad date

# 10**n by table lookup, for every exponent the functions below form.
_POWERS: tuple[int, ...] = tuple(10**n for n in range(64))


class PenaltyRateClass(StrEnum):
    """An instrument's row in the annex to Delegated Regulation 2017/389 (points 1 to 7).

    Point 8, a fail due to a lack of cash, is not a class of instrument: it is
    `FailCause.LACK_OF_CASH`, charged at the central bank's overnight credit rate.
    """

    LIQUID_SHARES = "liquid_shares"  # 1: shares with a liquid market (MiFIR 2(1)(17)(b))
    ILLIQUID_SHARES = "illiquid_shares"  # 2: shares without a liquid market
    SME_GROWTH_MARKET = "sme_growth_market"  # 3: instruments on SME growth markets, not debt
    SOVEREIGN_DEBT = "sovereign_debt"  # 4: debt of sovereigns, central banks, MDBs, EFSF/ESM
    OTHER_DEBT = "other_debt"  # 5: other debt instruments
    SME_DEBT = "sme_debt"  # 6: debt instruments traded on SME growth markets
    OTHER_INSTRUMENTS = "other_instruments"  # 7: all other financial instruments

    @property
    def basis_points(self) -> tuple[int, int]:
        """The annex rate per business day in basis points, as (mantissa, decimals)."""
        return ANNEX_RATE_BASIS_POINTS[self]


ANNEX_RATE_BASIS_POINTS: dict[PenaltyRateClass, tuple[int, int]] = {
    PenaltyRateClass.LIQUID_SHARES: (10, 1),  # 1.0 bp
    PenaltyRateClass.ILLIQUID_SHARES: (5, 1),  # 0.5 bp
    PenaltyRateClass.SME_GROWTH_MARKET: (25, 2),  # 0.25 bp
    PenaltyRateClass.SOVEREIGN_DEBT: (10, 2),  # 0.10 bp
    PenaltyRateClass.OTHER_DEBT: (20, 2),  # 0.20 bp
    PenaltyRateClass.SME_DEBT: (15, 2),  # 0.15 bp
    PenaltyRateClass.OTHER_INSTRUMENTS: (5, 1),  # 0.5 bp
}


class FailCause(StrEnum):
    """Why an instruction failed, which decides the penalty rate (annex points 1-7 or 8)."""

    LACK_OF_SECURITIES = "lack_of_securities"  # the deliverer failed: the instrument's rate
    LACK_OF_CASH = "lack_of_cash"  # the payer failed: the central bank's overnight rate


class FailingParty(StrEnum):
    """Who caused the fail, and so pays the penalty; the other side receives it."""

    FIRM = "firm"
    COUNTERPARTY = "counterparty"


# --- One day's penalty ------------------------------------------------------------------------


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (both >= 0, denominator > 0) rounded to an int, halves up."""
    return (2 * numerator + denominator) // (2 * denominator)


def _check_decimal(value: object, decimals_max: int, name: str, *, signed: bool = False) -> None:
    invariant(
        type(value) is tuple
        and len(value) == 2
        and type(value[0]) is int
        and type(value[1]) is int
        and (signed or value[0] >= 0)
        and 0 <= value[1] <= decimals_max,
        f"{name} must be (mantissa{'' if signed else ' >= 0'}, 0 <= decimals <= "
        f"{decimals_max}), got {value!r}",
    )


def _check_valuation(
    reference_price: tuple[int, int],
    failed_quantity_minor: int,
    quantity_scale: int,
    currency_scale: int,
) -> None:
    _check_decimal(reference_price, price_decimals_max, "reference_price")
    invariant(
        type(failed_quantity_minor) is int
        and failed_quantity_minor >= 0
        and type(quantity_scale) is int
        and 0 <= quantity_scale <= scale_max
        and type(currency_scale) is int
        and 0 <= currency_scale <= scale_max,
        "a penalty needs a failed quantity >= 0 and scales in 0.."
        f"{scale_max}, got {(failed_quantity_minor, quantity_scale, currency_scale)}",
    )


def securities_penalty_minor(
    rate_class: PenaltyRateClass,
    reference_price: tuple[int, int],
    failed_quantity_minor: int,
    quantity_scale: int,
    currency_scale: int,
) -> int:
    """One business day's penalty for a lack of securities, in the currency's minor units.

    rate (basis points of the annex) × reference price × failed quantity, where the quantity is
    `failed_quantity_minor / 10**quantity_scale` and the price `(mantissa, decimals)` in currency
    units per unit of quantity; rounded once, half up, to the minor unit. Never negative.
    """
    invariant(isinstance(rate_class, PenaltyRateClass), f"unknown rate class {rate_class!r}")
    _check_valuation(reference_price, failed_quantity_minor, quantity_scale, currency_scale)
    rate_mantissa, rate_decimals = rate_class.basis_points
    return _rate_times_value(
        rate_mantissa,
        _POWERS[rate_decimals + 4],  # basis points: 1 bp = 1 / 10_000
        reference_price,
        failed_quantity_minor,
        quantity_scale,
        currency_scale,
    )


def _rate_times_value(
    rate_numerator: int,
    rate_denominator: int,
    reference_price: tuple[int, int],
    quantity_minor: int,
    quantity_scale: int,
    currency_scale: int,
) -> int:
    """rate × price × quantity in the currency's minor units, rounded once, half up.

    The rate is `rate_numerator / rate_denominator`; the value is
    `price_mantissa / 10**price_decimals × quantity_minor / 10**quantity_scale` currency units.
    """
    price_mantissa, price_decimals = reference_price
    numerator = rate_numerator * price_mantissa * quantity_minor * _POWERS[currency_scale]
    denominator = rate_denominator * _POWERS[price_decimals + quantity_scale]
    return _half_up(numerator, denominator)


def _floored_rate(annual_rate_percent: tuple[int, int]) -> int:
    _check_decimal(annual_rate_percent, rate_decimals_max, "annual_rate_percent", signed=True)
    mantissa = annual_rate_percent[0]
    return mantissa if mantissa > 0 else 0  # annex point 8: "with a floor of 0"


def cash_penalty_minor(annual_rate_percent: tuple[int, int], failed_cash_minor: int) -> int:
    """One business day's lack-of-cash penalty on a cash base, in the same minor units.

    max(rate, 0) / 100 / 365 × `failed_cash_minor`, rounded once, half up. `annual_rate_percent`
    is the central bank's overnight credit rate as published ("4.50" % → (450, 2)); it may be
    negative, and then the penalty is 0. The base is the cash amount only for an instruction
    that moves no securities; otherwise use `lack_of_cash_penalty_minor` (Article 3(2)).
    """
    rate_mantissa = _floored_rate(annual_rate_percent)
    invariant(
        type(failed_cash_minor) is int and failed_cash_minor >= 0,
        f"failed_cash_minor must be an int >= 0, got {failed_cash_minor!r}",
    )
    denominator = _POWERS[annual_rate_percent[1] + 2] * days_per_year
    return _half_up(rate_mantissa * failed_cash_minor, denominator)


def lack_of_cash_penalty_minor(
    annual_rate_percent: tuple[int, int],
    reference_price: tuple[int, int],
    failed_quantity_minor: int,
    quantity_scale: int,
    currency_scale: int,
) -> int:
    """One business day's lack-of-cash penalty on a securities instruction (Article 3(2)).

    max(rate, 0) / 100 / 365 × reference price × failed quantity, rounded once, half up, to the
    currency's minor unit: the base is the securities at the reference price, not the cash.
    """
    rate_mantissa = _floored_rate(annual_rate_percent)
    _check_valuation(reference_price, failed_quantity_minor, quantity_scale, currency_scale)
    return _rate_times_value(
        rate_mantissa,
        _POWERS[annual_rate_percent[1] + 2] * days_per_year,  # percent per year, per day
        reference_price,
        failed_quantity_minor,
        quantity_scale,
        currency_scale,
    )


# --- Which days ---------------------------------------------------------------------------------


def _check_day(value: object, name: str) -> None:
    # A datetime is a date too, but cannot be compared with one: refuse it here.
    invariant(type(value) is dt.date, f"{name} must be a date, got {value!r}")


def _check_calendar(business_days: Sequence[dt.date]) -> None:
    invariant(len(business_days) > 0, "the business day calendar is empty")
    for day in business_days:
        _check_day(day, "a business day")
    invariant(
        all(a < b for a, b in itertools.pairwise(business_days)),
        "the business days must be strictly increasing",
    )


def penalty_days(
    settlement_date: dt.date, as_of: dt.date, business_days: Sequence[dt.date]
) -> list[dt.date]:
    """Every business day of a fail: from the intended settlement date up to and including
    `as_of`, the last day at whose end the instruction was still unsettled.

    `as_of` is the day before the actual settlement date for a fail that has settled, or the
    report's as-of date for an open fail. Empty when `as_of` is before the settlement date.
    A settlement date that is not a business day starts the fail on the next business day.
    `business_days` is the settlement system's calendar, strictly increasing, and must reach
    from the settlement date to `as_of` (a calendar that stops short is a bug).
    """
    _check_day(settlement_date, "settlement_date")
    _check_day(as_of, "as_of")
    _check_calendar(business_days)
    return _days_between(settlement_date, as_of, business_days)


def _days_between(first: dt.date, last: dt.date, business_days: Sequence[dt.date]) -> list[dt.date]:
    if last < first:
        return []
    invariant(
        business_days[0] <= first and last <= business_days[-1],
        f"the business day calendar ({business_days[0]} to {business_days[-1]}) does not "
        f"cover {first} to {last}",
    )
    start = bisect.bisect_left(business_days, first)
    end = bisect.bisect_right(business_days, last)
    days = list(business_days[start:end])
    invariant(len(days) <= fail_days_max, f"a fail of more than {fail_days_max} business days")
    return days


# --- A month of penalties ---------------------------------------------------------------------


class ReferencePrices(Protocol):
    """Reference prices by ISIN and day, as `backoffice.formats.prices_csv.PriceFile` gives."""

    def price_on(self, isin: str, day: dt.date) -> tuple[str, str] | None:
        """(plain decimal price text, ISO 4217 currency) to use for `day`, or None."""
        ...


@dataclass(frozen=True, slots=True)
class CentralBankRate:
    """A central bank's overnight credit rate for a currency, in force from `effective_from`.

    `annual_rate_percent` as published, (mantissa, decimals), possibly negative: "4.50" %
    is (450, 2). For the euro, the ECB's marginal lending facility rate.
    """

    currency: str
    effective_from: dt.date
    annual_rate_percent: tuple[int, int]

    def __post_init__(self) -> None:
        _check_day(self.effective_from, "effective_from")
        _check_decimal(
            self.annual_rate_percent, rate_decimals_max, "annual_rate_percent", signed=True
        )


@dataclass(frozen=True, slots=True)
class SettlementFail:
    """One failed instruction over one stretch of days at a constant failed quantity.

    `last_fail_day` is the last day at whose end it was still unsettled (see `penalty_days`).
    After a partial settlement, give a second `SettlementFail` with the same reference from the
    partial settlement date on, with the quantity still failing: the month's line adds both.
    `isin` None is an instruction that moves no securities (a payment free of delivery): its
    penalty is on `failed_cash_minor`. Otherwise the base is the reference price × the failed
    quantity, whatever the cause; `quoted_in_percent` says that the reference price is a
    percentage of the nominal quantity (a bond), so the base is price / 100 × nominal.
    `direction` is which way the securities move seen from the firm.
    """

    reference: str
    isin: str | None
    counterparty: str
    direction: Direction
    cause: FailCause
    failing_party: FailingParty
    rate_class: PenaltyRateClass
    settlement_date: dt.date
    last_fail_day: dt.date
    currency: str
    currency_scale: int
    failed_quantity_minor: int = 0
    quantity_scale: int = 0
    failed_cash_minor: int = 0
    quoted_in_percent: bool = False

    def __post_init__(self) -> None:
        _check_day(self.settlement_date, "settlement_date")
        _check_day(self.last_fail_day, "last_fail_day")
        invariant(
            isinstance(self.rate_class, PenaltyRateClass)
            and isinstance(self.cause, FailCause)
            and isinstance(self.failing_party, FailingParty)
            and isinstance(self.direction, Direction),
            f"fail {self.reference!r}: unknown rate class, cause, failing party or direction",
        )
        invariant(
            type(self.currency) is str
            and len(self.currency) == 3
            and self.currency.isascii()
            and self.currency.isupper(),
            f"fail {self.reference!r}: currency must be an ISO 4217 code, got {self.currency!r}",
        )
        invariant(
            0 <= self.currency_scale <= scale_max and 0 <= self.quantity_scale <= scale_max,
            f"fail {self.reference!r}: scales must be in 0..{scale_max}",
        )
        invariant(
            self.failed_quantity_minor >= 0 and self.failed_cash_minor >= 0,
            f"fail {self.reference!r}: failed quantity and cash must be >= 0",
        )
        invariant(
            self.isin is not None or self.cause is FailCause.LACK_OF_CASH,
            f"fail {self.reference!r}: an instruction without securities can only lack cash",
        )


@dataclass(frozen=True, slots=True)
class PenaltyDay:
    """One business day's penalty of a fail.

    `reference_price` is the price text used (None for an instruction without securities);
    `rate` is in basis points for a lack of securities and the annual percentage, before the
    floor at 0, for a lack of cash.
    """

    day: dt.date
    reference_price: str | None
    rate: tuple[int, int]
    amount_minor: int


@dataclass(frozen=True, slots=True)
class PenaltyLine:
    """A fail's penalties over one calendar month.

    `amount_minor` (>= 0) is what the failing party pays, the sum of `daily`; `days` counts
    them. `firm_amount_minor` is the same seen from the firm: positive when the firm receives
    it (the counterparty failed), negative when the firm pays.
    """

    reference: str
    isin: str | None
    counterparty: str
    currency: str
    cause: FailCause
    failing_party: FailingParty
    days: int
    amount_minor: int
    daily: tuple[PenaltyDay, ...]

    @property
    def firm_amount_minor(self) -> int:
        if self.failing_party is FailingParty.FIRM:
            return -self.amount_minor
        return self.amount_minor


@dataclass(frozen=True, slots=True)
class MonthlyPenalties:
    """A month's penalty lines, by reference, and the fails that could not be priced.

    A fail with a problem on any of its days has no line at all (a month is never charged in
    part); its problems name the fail and the first day concerned.
    """

    lines: tuple[PenaltyLine, ...]
    problems: tuple[Problem, ...]


def _month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def monthly_penalties(
    fails: Iterable[SettlementFail],
    prices: ReferencePrices,
    month: dt.date,
    *,
    business_days: Sequence[dt.date],
    cash_rates: Iterable[CentralBankRate] = (),
) -> MonthlyPenalties:
    """Every fail's penalties for the calendar month holding `month`, one line per reference.

    Each business day of the fail (`penalty_days`) inside the month is charged at the reference
    price `prices` gives for that day and, for a lack of cash, at the central bank rate of the
    fail's currency in force that day. Expected errors, each a `Problem` naming the fail:
    `missing_reference_price`, `invalid_reference_price` (not a plain positive decimal),
    `reference_price_currency_mismatch` (the price is in another currency than the fail) and
    `missing_cash_rate`. Stretches of one reference must agree on everything but their days,
    quantities and cash, and must not overlap: otherwise a day would be charged twice (a bug).
    """
    _check_day(month, "month")
    fails = list(fails)
    if not fails:
        # No fail, nothing charged: and no market whose business days could be given.
        return MonthlyPenalties((), ())
    _check_calendar(business_days)
    first, last = _month_bounds(month)
    rates = _rate_table(cash_rates)
    by_reference: dict[str, list[SettlementFail]] = {}
    for count, fail in enumerate(fails, start=1):
        invariant(count <= fails_per_report_max, f"more than {fails_per_report_max} fails")
        by_reference.setdefault(fail.reference, []).append(fail)
    lines: list[PenaltyLine] = []
    problems: list[Problem] = []
    for reference in sorted(by_reference):
        stretches = sorted(by_reference[reference], key=lambda fail: fail.settlement_date)
        _check_stretches(stretches)
        daily: list[PenaltyDay] = []
        fail_problems: list[Problem] = []
        for fail in stretches:
            start = max(fail.settlement_date, first)
            end = min(fail.last_fail_day, last)
            if end < start:
                continue
            for day in _days_between(start, end, business_days):
                priced = _penalty_day(fail, day, prices, rates)
                if isinstance(priced, Problem):
                    fail_problems.append(priced)
                else:
                    daily.append(priced)
        if fail_problems:
            problems.extend(_first_per_code(fail_problems))
        elif daily:
            head = stretches[0]
            lines.append(
                PenaltyLine(
                    reference=reference,
                    isin=head.isin,
                    counterparty=head.counterparty,
                    currency=head.currency,
                    cause=head.cause,
                    failing_party=head.failing_party,
                    days=len(daily),
                    amount_minor=sum(day.amount_minor for day in daily),
                    daily=tuple(daily),
                )
            )
    return MonthlyPenalties(tuple(lines), tuple(problems))


def _check_stretches(stretches: list[SettlementFail]) -> None:
    head = stretches[0]
    for previous, fail in itertools.pairwise(stretches):
        invariant(
            (fail.isin, fail.counterparty, fail.currency, fail.currency_scale, fail.cause)
            == (head.isin, head.counterparty, head.currency, head.currency_scale, head.cause)
            and (fail.failing_party, fail.rate_class, fail.direction, fail.quoted_in_percent)
            == (head.failing_party, head.rate_class, head.direction, head.quoted_in_percent),
            f"fail {fail.reference!r}: its stretches disagree on what failed",
        )
        invariant(
            previous.last_fail_day < fail.settlement_date,
            f"fail {fail.reference!r}: its stretches overlap on {fail.settlement_date}",
        )


def _first_per_code(problems: list[Problem]) -> list[Problem]:
    counts: dict[ErrorCode, int] = {}
    first: dict[ErrorCode, Problem] = {}
    for problem in problems:
        counts[problem.code] = counts.get(problem.code, 0) + 1
        first.setdefault(problem.code, problem)
    return [
        Problem(code, f"{problem.reason} ({counts[code]} business day(s) in all)", problem.source)
        for code, problem in first.items()
    ]


def _rate_table(
    cash_rates: Iterable[CentralBankRate],
) -> dict[str, tuple[list[dt.date], list[tuple[int, int]]]]:
    by_currency: dict[str, dict[dt.date, tuple[int, int]]] = {}
    for rate in cash_rates:
        known = by_currency.setdefault(rate.currency, {})
        invariant(
            known.get(rate.effective_from, rate.annual_rate_percent) == rate.annual_rate_percent,
            f"two {rate.currency} rates from {rate.effective_from}",
        )
        known[rate.effective_from] = rate.annual_rate_percent
    return {
        currency: (sorted(rates), [rates[day] for day in sorted(rates)])
        for currency, rates in by_currency.items()
    }


def _cash_rate_on(
    rates: dict[str, tuple[list[dt.date], list[tuple[int, int]]]], currency: str, day: dt.date
) -> tuple[int, int] | None:
    table = rates.get(currency)
    if table is None:
        return None
    days, values = table
    index = bisect.bisect_right(days, day) - 1
    return values[index] if index >= 0 else None


def _penalty_day(
    fail: SettlementFail,
    day: dt.date,
    prices: ReferencePrices,
    rates: dict[str, tuple[list[dt.date], list[tuple[int, int]]]],
) -> PenaltyDay | Problem:
    def problem(code: ErrorCode, reason: str) -> Problem:
        return Problem(code, f"fail {fail.reference!r} on {day}: {reason}")

    cash_rate: tuple[int, int] | None = None
    if fail.cause is FailCause.LACK_OF_CASH:
        cash_rate = _cash_rate_on(rates, fail.currency, day)
        if cash_rate is None:
            return problem(
                "missing_cash_rate", f"no central bank overnight rate for {fail.currency}"
            )
    if fail.isin is None:
        if cash_rate is None:
            raise InvariantViolation(f"fail {fail.reference!r}: no securities, yet not cash")
        amount = cash_penalty_minor(cash_rate, fail.failed_cash_minor)
        return PenaltyDay(day, None, cash_rate, amount)
    quoted = prices.price_on(fail.isin, day)
    if quoted is None:
        return problem("missing_reference_price", f"no reference price for {fail.isin}")
    price_text, price_currency = quoted
    price = parse_price(price_text)
    if price is None:
        return problem(
            "invalid_reference_price",
            f"reference price {price_text!r} of {fail.isin} is not a plain positive decimal",
        )
    if price_currency != fail.currency:
        return problem(
            "reference_price_currency_mismatch",
            f"the reference price of {fail.isin} is in {price_currency}, the fail in "
            f"{fail.currency}",
        )
    # A price in percent of nominal divides the value by 100: two more decimals of quantity.
    # The fail's fields were checked when it was made, the price by `parse_price`.
    quantity_scale = fail.quantity_scale + (2 if fail.quoted_in_percent else 0)
    if cash_rate is not None:
        rate = cash_rate
        rate_numerator = _floored_rate(cash_rate)
        rate_denominator = _POWERS[cash_rate[1] + 2] * days_per_year
    else:
        rate = fail.rate_class.basis_points
        rate_numerator, rate_denominator = rate[0], _POWERS[rate[1] + 4]
    amount = _rate_times_value(
        rate_numerator,
        rate_denominator,
        price,
        fail.failed_quantity_minor,
        quantity_scale,
        fail.currency_scale,
    )
    return PenaltyDay(day, price_text, rate, amount)


# --- US close-out (Regulation SHO Rule 204) ---------------------------------------------------

short_sale_close_out_age = 1  # Rule 204(a): the settlement day after the settlement date
long_sale_close_out_age = 3  # Rule 204(a)(1): the third consecutive settlement day after it


def close_out_age(*, short_sale: bool) -> int:
    """The age, in settlement days after the settlement date, at whose market open a fail to
    deliver must have been closed out under 17 CFR 242.204 (Regulation SHO Rule 204).

    Rule 204(a): a fail to deliver from a short sale is closed out (by purchasing or borrowing
    the securities) no later than the beginning of regular trading hours on the settlement day
    following the settlement date: age 1, T+2 in the T+1 cycle. Rule 204(a)(1): a fail from a
    long sale (and, under 204(a)(3), from bona fide market making) by the beginning of trading
    on the third consecutive settlement day after the settlement date: age 3, T+4 in the T+1
    cycle. Rule 144 sales (35 calendar days, 204(a)(2)) are out of scope here.
    """
    return short_sale_close_out_age if short_sale else long_sale_close_out_age


def is_close_out_candidate(
    direction: Direction, age_settlement_days: int, *, short_sale: bool
) -> bool:
    """Whether a fail must be closed out now under Rule 204 (see `close_out_age`).

    `age_settlement_days` counts settlement days (not calendar or trading days) since the
    settlement date: 0 on the settlement date, 1 on the next settlement day. Only a fail to
    deliver (the firm owes the securities) is subject to Rule 204; a fail to receive is the
    counterparty's to close out (the firm may buy in under its clearing agency's rules).
    """
    invariant(isinstance(direction, Direction), f"unknown direction {direction!r}")
    invariant(
        type(age_settlement_days) is int and age_settlement_days >= 0,
        f"a fail's age must be an int >= 0, got {age_settlement_days!r}",
    )
    if direction is not Direction.DELIVER:
        return False
    return age_settlement_days >= close_out_age(short_sale=short_sale)


@dataclass(frozen=True, slots=True)
class AgedFail:
    """A US fail as the close-out check needs it: which way, how old, short or long sale."""

    reference: str
    direction: Direction
    age_settlement_days: int
    short_sale: bool


def close_out_candidates(fails: Iterable[AgedFail]) -> list[AgedFail]:
    """The fails that must be closed out now under Rule 204, oldest first, then by reference."""
    due = [
        fail
        for fail in fails
        if is_close_out_candidate(
            fail.direction, fail.age_settlement_days, short_sale=fail.short_sale
        )
    ]
    return sorted(due, key=lambda fail: (-fail.age_settlement_days, fail.reference))
