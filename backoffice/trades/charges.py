"""A trade's figures: gross amount, commission, US regulatory fees, net amount, block splits.

Pure and exact. Prices and rates are decimals held as `(mantissa, decimals)` pairs of ints
("228.5225" is `(2285225, 4)`); amounts are ints in the currency's minor unit; quantities are
ints in the security's minor unit with their scale (`quantity_minor / 10**quantity_scale`
shares). Every figure is one exact rational on ints, rounded once, the way its rule says: no
float and no `Decimal` in these functions, which run once per trade for millions of trades.

Bad reference data (a commission schedule, a fee rate) is an expected error: `parse` returns
`Problem`s with a stable code. Arguments that the caller should already have checked (a negative
quantity, a scale out of range) are bugs and raise `InvariantViolation`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from backoffice.errors import InvariantViolation, Problem, ProblemError, Source, invariant
from backoffice.money import format_amount, parse_amount, scale_max
from backoffice.trades.model import Side

decimal_chars_max = 32
price_decimals_max = 9
rate_decimals_max = 9
commission_bps_max = 10_000  # 100% of gross; a schedule beyond that is a typing error
fee_rates_max = 1_000
allocations_per_block_max = 10_000
executions_per_block_max = 100_000

# 10**n by table lookup; large enough for every exponent the functions below can form
# (at most scale_max + two decimals_max + 6, plus scale_max).
_POWERS: tuple[int, ...] = tuple(10**n for n in range(48))

_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")


def _parse_unsigned_decimal(text: str, decimals_max: int) -> tuple[int, int] | None:
    """`digits[.digits]` (ASCII, at most `decimals_max` decimals) to (mantissa, decimals)."""
    if type(text) is not str or len(text) > decimal_chars_max or not text.isascii():
        return None
    whole, dot, fraction = text.partition(".")
    if not whole.isdigit():
        return None
    if not dot:
        return int(whole), 0
    if not fraction.isdigit() or len(fraction) > decimals_max:
        return None
    return int(whole + fraction), len(fraction)


def _check_decimal(value: object, decimals_max: int, name: str) -> None:
    invariant(
        type(value) is tuple
        and len(value) == 2
        and type(value[0]) is int
        and type(value[1]) is int
        and value[0] >= 0
        and 0 <= value[1] <= decimals_max,
        f"{name} must be (mantissa >= 0, 0 <= decimals <= {decimals_max}), got {value!r}",
    )


# --- Prices and gross -------------------------------------------------------------------------


def parse_price(text: str) -> tuple[int, int] | None:
    """A plain positive decimal ("228.5225", "10") as (mantissa, decimals), else None.

    Plain means ASCII `digits[.digits]`: no sign, exponent, spaces or separators, at most
    `price_decimals_max` (9) decimals. Trailing zeros are kept: "228.5200" is (2285200, 4).
    """
    parsed = _parse_unsigned_decimal(text, price_decimals_max)
    if parsed is None or parsed[0] == 0:
        return None
    return parsed


def gross_minor(
    quantity_minor: int,
    quantity_scale: int,
    price_mantissa: int,
    price_decimals: int,
    currency_scale: int,
) -> int:
    """Quantity × price in the currency's minor units, rounded half up (exact otherwise).

    `quantity_minor / 10**quantity_scale` shares at `price_mantissa / 10**price_decimals`.
    """
    if not (
        quantity_minor >= 0
        and price_mantissa >= 0
        and 0 <= quantity_scale <= scale_max
        and 0 <= price_decimals <= price_decimals_max
        and 0 <= currency_scale <= scale_max
    ):
        raise InvariantViolation(
            "gross_minor needs non-negative quantity and price and scales in range, got "
            f"{(quantity_minor, quantity_scale, price_mantissa, price_decimals, currency_scale)}"
        )
    product = quantity_minor * price_mantissa
    exponent = quantity_scale + price_decimals - currency_scale
    if exponent <= 0:
        return product * _POWERS[-exponent]
    divisor = _POWERS[exponent]
    # divisor is an even power of ten, so adding half of it and flooring rounds half up.
    return (product + (divisor >> 1)) // divisor


# --- Commission -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """A client's commission: a rate per share plus basis points of gross, with a minimum.

    `per_share` is (mantissa, decimals) in currency units per share ("0.005" → (5, 3));
    `bps` is basis points of gross, possibly fractional ("2.5" → (25, 1));
    `minimum_minor` is the minimum ticket in the currency's minor units (at the scale given
    to `parse`, which must be the trade currency's scale).
    """

    per_share: tuple[int, int]
    bps: tuple[int, int]
    minimum_minor: int
    currency: str

    def __post_init__(self) -> None:
        _check_decimal(self.per_share, rate_decimals_max, "per_share")
        _check_decimal(self.bps, rate_decimals_max, "bps")
        invariant(
            type(self.minimum_minor) is int and self.minimum_minor >= 0,
            f"minimum_minor must be an int >= 0, got {self.minimum_minor!r}",
        )
        invariant(
            type(self.currency) is str and _CURRENCY_PATTERN.fullmatch(self.currency) is not None,
            f"currency must be an ISO 4217 code, got {self.currency!r}",
        )

    @classmethod
    def parse(
        cls,
        currency: str,
        currency_scale: int,
        per_share: str = "0.005",
        bps: str = "0",
        minimum: str = "1.00",
    ) -> CommissionSchedule | list[Problem]:
        """A schedule from decimal strings, or one `invalid_commission` problem per bad field.

        Each problem's `source.field` names the field: currency, per_share, bps or minimum.
        """
        invariant(0 <= currency_scale <= scale_max, f"currency scale {currency_scale} out of range")
        problems: list[Problem] = []

        def refuse(field: str, reason: str) -> None:
            problems.append(Problem("invalid_commission", reason, Source(field=field)))

        if type(currency) is not str or _CURRENCY_PATTERN.fullmatch(currency) is None:
            refuse("currency", f"currency {currency!r} is not a three-letter ISO 4217 code")
        per_share_value = _parse_unsigned_decimal(per_share, rate_decimals_max)
        if per_share_value is None:
            refuse(
                "per_share",
                f"per-share rate {per_share!r} is not a plain decimal digits[.digits] "
                f"with at most {rate_decimals_max} decimals",
            )
        bps_value = _parse_unsigned_decimal(bps, rate_decimals_max)
        if bps_value is None:
            refuse(
                "bps",
                f"basis points {bps!r} is not a plain decimal digits[.digits] "
                f"with at most {rate_decimals_max} decimals",
            )
        elif bps_value[0] > commission_bps_max * _POWERS[bps_value[1]]:
            refuse("bps", f"basis points {bps!r} exceed {commission_bps_max} (100% of gross)")
        minimum_value = parse_amount(minimum, currency_scale)
        if isinstance(minimum_value, Problem):
            refuse("minimum", minimum_value.reason)
        elif minimum_value < 0:
            refuse("minimum", f"minimum {minimum!r} is negative")
        if (
            problems
            or per_share_value is None
            or bps_value is None
            or isinstance(minimum_value, Problem)
        ):
            invariant(len(problems) > 0, "a refused commission schedule names its problem")
            return problems
        return cls(per_share_value, bps_value, minimum_value, currency)


def commission_minor(
    schedule: CommissionSchedule | None,
    quantity_minor: int,
    quantity_scale: int,
    gross_minor: int,
    currency_scale: int,
) -> int:
    """The commission on a trade, in the currency's minor units.

    No schedule: 0. Otherwise max(variable, minimum) where
    variable = per_share × shares + bps / 10_000 × gross, computed exactly and rounded half up
    to the minor unit once (not each part separately). The schedule's currency must be the
    trade's currency; the caller checks it.
    """
    if schedule is None:
        return 0
    if not (
        quantity_minor >= 0
        and gross_minor >= 0
        and 0 <= quantity_scale <= scale_max
        and 0 <= currency_scale <= scale_max
    ):
        raise InvariantViolation(
            "commission_minor needs non-negative quantity and gross and scales in range, got "
            f"{(quantity_minor, quantity_scale, gross_minor, currency_scale)}"
        )
    per_share_mantissa, per_share_decimals = schedule.per_share
    bps_mantissa, bps_decimals = schedule.bps
    # per-share part = quantity_minor × per_share_mantissa / 10**per_share_exponent (minor units)
    # bps part       = gross_minor × bps_mantissa / 10**bps_exponent (1 bp = 1/10_000)
    # Both over the common denominator 10**exponent, then rounded once.
    per_share_exponent = quantity_scale + per_share_decimals - currency_scale
    bps_exponent = bps_decimals + 4
    exponent = max(per_share_exponent, bps_exponent)  # at least 4: the divisor is even
    numerator = (
        quantity_minor * per_share_mantissa * _POWERS[exponent - per_share_exponent]
        + gross_minor * bps_mantissa * _POWERS[exponent - bps_exponent]
    )
    divisor = _POWERS[exponent]
    variable = (numerator + (divisor >> 1)) // divisor
    minimum = schedule.minimum_minor
    return variable if variable > minimum else minimum


# --- US regulatory fees -----------------------------------------------------------------------

# The US venues Backoffice routes to (ISO 10383 MICs): NYSE, Nasdaq, NYSE American, NYSE Arca,
# Cboe BZX. Add a MIC here when a US venue is added to the reference data.
US_MARKETS: frozenset[str] = frozenset({"XNYS", "XNAS", "XASE", "ARCX", "BATS"})
regulatory_fee_currency = "USD"
regulatory_fee_currency_scale = 2  # ISO 4217: USD has cents


class RegulatoryFee(StrEnum):
    """A US fee on sales that the broker passes through to the client."""

    SEC_FEE = "sec_fee"  # Securities Exchange Act of 1934, Section 31
    FINRA_TAF = "finra_taf"  # FINRA Trading Activity Fee, covered equity securities


@dataclass(frozen=True, slots=True)
class FeeRate:
    """One published rate of a regulatory fee, in force from `effective_from` on.

    `rate` is (mantissa, decimals): for the SEC fee, dollars per million dollars of sale
    proceeds ("27.80" → (2780, 2)); for the FINRA TAF, dollars per share ("0.000166").
    `maximum_minor` caps the fee per trade, in cents (the TAF's cap), or None for no cap.
    """

    fee: RegulatoryFee
    effective_from: dt.date
    rate: tuple[int, int]
    maximum_minor: int | None

    def __post_init__(self) -> None:
        invariant(isinstance(self.fee, RegulatoryFee), f"unknown fee {self.fee!r}")
        # A datetime is a date too, but cannot be compared with one: refuse it here.
        invariant(
            type(self.effective_from) is dt.date,
            f"effective_from must be a date, got {self.effective_from!r}",
        )
        _check_decimal(self.rate, rate_decimals_max, "rate")
        invariant(
            self.maximum_minor is None
            or (type(self.maximum_minor) is int and self.maximum_minor >= 0),
            f"maximum_minor must be None or an int >= 0, got {self.maximum_minor!r}",
        )

    @classmethod
    def parse(
        cls, fee: str, effective_from: str, rate: str, maximum: str | None
    ) -> FeeRate | list[Problem]:
        """A rate from reference-data strings, or one `invalid_fee_rate` problem per bad field.

        `fee` is "sec_fee" or "finra_taf"; `effective_from` is an ISO date "YYYY-MM-DD";
        `rate` a plain decimal; `maximum` a dollar amount with at most 2 decimals, or None.
        Each problem's `source.field` names the field.
        """
        problems: list[Problem] = []

        def refuse(field: str, reason: str) -> None:
            problems.append(Problem("invalid_fee_rate", reason, Source(field=field)))

        fee_value: RegulatoryFee | None = None
        try:
            fee_value = RegulatoryFee(fee)
        except ValueError:
            known = ", ".join(member.value for member in RegulatoryFee)
            refuse("fee", f"fee {fee!r} is not one of {known}")
        date_value: dt.date | None = None
        if type(effective_from) is str and _DATE_PATTERN.fullmatch(effective_from):
            try:
                date_value = dt.date.fromisoformat(effective_from)
            except ValueError:
                date_value = None
        if date_value is None:
            refuse("effective_from", f"effective date {effective_from!r} is not a YYYY-MM-DD date")
        rate_value = _parse_unsigned_decimal(rate, rate_decimals_max)
        if rate_value is None:
            refuse(
                "rate",
                f"rate {rate!r} is not a plain decimal digits[.digits] "
                f"with at most {rate_decimals_max} decimals",
            )
        maximum_value: int | None = None
        if maximum is not None:
            parsed_maximum = parse_amount(maximum, regulatory_fee_currency_scale)
            if isinstance(parsed_maximum, Problem):
                refuse("maximum", parsed_maximum.reason)
            elif parsed_maximum < 0:
                refuse("maximum", f"maximum {maximum!r} is negative")
            else:
                maximum_value = parsed_maximum
        if problems or fee_value is None or date_value is None or rate_value is None:
            invariant(len(problems) > 0, "a refused fee rate names its problem")
            return problems
        return cls(fee_value, date_value, rate_value, maximum_value)


# Published rates, as (fee, effective from, rate, maximum per trade):
# - SEC Section 31 fee, dollars per million of sale proceeds: SEC fee rate advisories under
#   Section 31 of the Securities Exchange Act of 1934 (sec.gov, "Section 31 Fees"): $8.00 from
#   2023-02-27, $27.80 from 2024-05-22, $0.00 from 2025-05-14.
# - FINRA Trading Activity Fee on sales of covered equity securities, dollars per share with a
#   maximum per trade: FINRA By-Laws, Schedule A, Section 1: $0.000130 (max $6.49) from
#   2022-01-01, $0.000145 (max $7.27) from 2023-01-01, $0.000166 (max $8.30) from 2024-01-01.
DEFAULT_FEE_RATES: tuple[FeeRate, ...] = (
    FeeRate(RegulatoryFee.SEC_FEE, dt.date(2023, 2, 27), (800, 2), None),
    FeeRate(RegulatoryFee.SEC_FEE, dt.date(2024, 5, 22), (2780, 2), None),
    FeeRate(RegulatoryFee.SEC_FEE, dt.date(2025, 5, 14), (0, 2), None),
    FeeRate(RegulatoryFee.FINRA_TAF, dt.date(2022, 1, 1), (130, 6), 649),
    FeeRate(RegulatoryFee.FINRA_TAF, dt.date(2023, 1, 1), (145, 6), 727),
    FeeRate(RegulatoryFee.FINRA_TAF, dt.date(2024, 1, 1), (166, 6), 830),
)


class FeeSchedule:
    """The regulatory fee rates in force over time, looked up by fee and trade date.

    Built from any order of rates; two rates of one fee taking effect on the same date are
    refused with a `ProblemError` carrying one `duplicate_fee_rate` problem per clash.
    """

    __slots__ = ("_by_fee", "_sec_dates", "_sec_rates", "_taf_dates", "_taf_rates", "rates")

    def __init__(self, rates: Iterable[FeeRate]) -> None:
        ordered = sorted(rates, key=lambda rate: (rate.fee.value, rate.effective_from))
        if len(ordered) > fee_rates_max:
            raise ProblemError(
                Problem("too_many_fee_rates", f"more than {fee_rates_max} fee rates")
            )
        problems = [
            Problem(
                "duplicate_fee_rate",
                f"two {later.fee.value} rates take effect on {later.effective_from.isoformat()}",
                Source(field="effective_from"),
            )
            for earlier, later in itertools.pairwise(ordered)
            if earlier.fee is later.fee and earlier.effective_from == later.effective_from
        ]
        if problems:
            raise ProblemError(*problems)
        self.rates: tuple[FeeRate, ...] = tuple(ordered)
        self._by_fee: dict[RegulatoryFee, tuple[tuple[dt.date, ...], tuple[FeeRate, ...]]] = {}
        for fee in RegulatoryFee:
            of_fee = tuple(rate for rate in ordered if rate.fee is fee)
            self._by_fee[fee] = (tuple(rate.effective_from for rate in of_fee), of_fee)
        # regulatory_fees_minor reads these directly: an enum-keyed dict lookup hashes in Python.
        self._sec_dates, self._sec_rates = self._by_fee[RegulatoryFee.SEC_FEE]
        self._taf_dates, self._taf_rates = self._by_fee[RegulatoryFee.FINRA_TAF]

    def rate_on(self, fee: RegulatoryFee, date: dt.date) -> FeeRate | None:
        """The rate of `fee` in force on `date`: the latest one effective on or before it.

        None when `date` is before the fee's first known rate.
        """
        dates, rates = self._by_fee[fee]
        position = bisect.bisect_right(dates, date)
        return rates[position - 1] if position else None

    def __repr__(self) -> str:
        return f"FeeSchedule({list(self.rates)!r})"


_NO_FEES = (0, 0)
# Module-level copies: reading a member off an enum class is slower than a global.
_BUY = Side.BUY
_SELL = Side.SELL


def regulatory_fees_minor(
    schedule: FeeSchedule,
    side: Side,
    market: str,
    trade_date: dt.date,
    quantity_minor: int,
    quantity_scale: int,
    gross_minor: int,
    currency: str,
    currency_scale: int,
) -> tuple[int, int]:
    """(SEC fee, FINRA TAF) on a trade, in cents.

    Both are zero for a buy, a market outside `US_MARKETS` or a currency other than USD.
    On a US sale, with the rates in force on `trade_date`:
    - SEC fee = gross × rate / 1,000,000, rounded up to the cent;
    - TAF = shares × rate (on the exact, possibly fractional, quantity), rounded up to the
      cent, then capped at the rate's maximum.
    Rounding up is how brokers pass these fees through. A sale dated before a fee's first
    known rate pays 0 of that fee: the schedule cannot tell what it was.
    """
    if side != _SELL or market not in US_MARKETS or currency != regulatory_fee_currency:
        return _NO_FEES
    if not (
        currency_scale == regulatory_fee_currency_scale
        and quantity_minor >= 0
        and gross_minor >= 0
        and 0 <= quantity_scale <= scale_max
    ):
        raise InvariantViolation(
            "regulatory_fees_minor needs USD at scale 2, non-negative quantity and gross, got "
            f"{(quantity_minor, quantity_scale, gross_minor, currency_scale)}"
        )
    sec_fee = 0
    position = bisect.bisect_right(schedule._sec_dates, trade_date)
    if position:
        sec_rate = schedule._sec_rates[position - 1]
        rate_mantissa, rate_decimals = sec_rate.rate
        # cents × (dollars per million) / 10**rate_decimals / 10**6, ceiling by negated floor.
        sec_fee = -((-gross_minor * rate_mantissa) // _POWERS[rate_decimals + 6])
        maximum = sec_rate.maximum_minor
        if maximum is not None and sec_fee > maximum:
            sec_fee = maximum
    finra_taf = 0
    position = bisect.bisect_right(schedule._taf_dates, trade_date)
    if position:
        taf_rate = schedule._taf_rates[position - 1]
        rate_mantissa, rate_decimals = taf_rate.rate
        # quantity_minor / 10**quantity_scale shares × rate dollars × 10**currency_scale cents.
        exponent = quantity_scale + rate_decimals - currency_scale
        product = quantity_minor * rate_mantissa
        if exponent <= 0:
            finra_taf = product * _POWERS[-exponent]
        else:
            finra_taf = -((-product) // _POWERS[exponent])
        maximum = taf_rate.maximum_minor
        if maximum is not None and finra_taf > maximum:
            finra_taf = maximum
    return sec_fee, finra_taf


# --- Net amount -------------------------------------------------------------------------------


def net_minor(side: Side, gross_minor: int, commission_minor: int, fees_minor: int) -> int:
    """What the client pays on a buy (gross + commission + fees) or receives on a sale
    (gross - commission - fees), in minor units.

    A tiny sale can net below zero (the minimum commission exceeds the proceeds); the result
    is then negative, and the caller decides what to do with it.
    """
    if not (gross_minor >= 0 and commission_minor >= 0 and fees_minor >= 0):
        raise InvariantViolation(
            "net_minor needs non-negative amounts, got "
            f"{(gross_minor, commission_minor, fees_minor)}"
        )
    if side == _BUY:
        return gross_minor + commission_minor + fees_minor
    if side == _SELL:
        return gross_minor - commission_minor - fees_minor
    raise InvariantViolation(f"unknown side {side!r}")


# --- Block allocation -------------------------------------------------------------------------


def split_gross_minor(block_gross_minor: int, quantities_minor: Sequence[int]) -> list[int]:
    """Each allocation's share of a block's gross, pro rata by quantity, summing exactly.

    Largest remainder method: each allocation first gets the floor of its exact share
    (gross × quantity / total quantity); the minor units left over go one each to the
    allocations with the largest remainders, ties to the earlier allocation. Each share
    differs from the exact pro-rata share by less than one minor unit.
    """
    # Checks as plain `if`s: invariant(...) would format its message on every call.
    count = len(quantities_minor)
    if not 0 < count <= allocations_per_block_max:
        raise InvariantViolation(
            f"a block splits into 1 to {allocations_per_block_max} allocations, got {count}"
        )
    total = sum(quantities_minor)
    if block_gross_minor < 0 or total <= 0 or min(quantities_minor) < 0:
        raise InvariantViolation(
            f"cannot split a gross of {block_gross_minor} by quantities {list(quantities_minor)}"
        )
    if count == 1:
        return [block_gross_minor]
    shares: list[int] = []
    remainders: list[int] = []
    for quantity in quantities_minor:
        share, remainder = divmod(block_gross_minor * quantity, total)
        shares.append(share)
        remainders.append(remainder)
    # Each remainder is below `total`, so fewer units are left over than there are allocations.
    leftover = block_gross_minor - sum(shares)
    if leftover:
        # sorted() is stable, also with reverse=True: equal remainders keep allocation order.
        by_remainder = sorted(range(count), key=remainders.__getitem__, reverse=True)
        for index in by_remainder[:leftover]:
            shares[index] += 1
    if sum(shares) != block_gross_minor:
        raise InvariantViolation(f"split {shares} does not sum to {block_gross_minor}")
    return shares


def average_price_text(
    quantities_minor: Sequence[int],
    quantity_scale: int,
    prices: Sequence[tuple[int, int]],
    decimals: int,
) -> str:
    """The volume-weighted average price of a block's executions, as a plain decimal string.

    Σ quantity × price / Σ quantity, exact, then rounded half up to `decimals` decimals
    ("228.512345", no exponent). `prices` are (mantissa, decimals) pairs, one per execution.
    The quantity scale cancels out of the ratio; it is checked, not used.
    """
    count = len(quantities_minor)
    if not (
        0 < count <= executions_per_block_max
        and len(prices) == count
        and 0 <= quantity_scale <= scale_max
        and 0 <= decimals <= scale_max
    ):
        raise InvariantViolation(
            f"need 1 to {executions_per_block_max} executions with one price each and scales "
            f"in range, got {count} quantities, {len(prices)} prices, "
            f"quantity scale {quantity_scale}, {decimals} decimals"
        )
    common_decimals = max(price_decimals for _, price_decimals in prices)
    numerator = 0  # Σ quantity_minor × price in units of 10**-common_decimals
    total = 0
    for quantity, (price_mantissa, price_decimals) in zip(quantities_minor, prices, strict=True):
        if quantity < 0 or price_mantissa < 0 or not 0 <= price_decimals <= price_decimals_max:
            raise InvariantViolation(
                f"execution of {quantity} at {(price_mantissa, price_decimals)} out of range"
            )
        numerator += quantity * price_mantissa * _POWERS[common_decimals - price_decimals]
        total += quantity
    if total <= 0:
        raise InvariantViolation("the executions' quantities sum to zero")
    exponent = decimals - common_decimals
    if exponent >= 0:
        numerator *= _POWERS[exponent]
        denominator = total
    else:
        denominator = total * _POWERS[-exponent]
    # Half up for any denominator: floor(n / d + 1/2) = floor((2n + d) / 2d).
    rounded = (2 * numerator + denominator) // (2 * denominator)
    return format_amount(rounded, decimals)
