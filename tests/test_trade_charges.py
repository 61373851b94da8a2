"""Gross, commission, US regulatory fees, net amount and block splits of a trade."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import InvariantViolation, Problem, ProblemError
from backoffice.trades.charges import (
    DEFAULT_FEE_RATES,
    US_MARKETS,
    CommissionSchedule,
    FeeRate,
    FeeSchedule,
    RegulatoryFee,
    average_price_text,
    commission_minor,
    gross_minor,
    net_minor,
    parse_price,
    regulatory_fees_minor,
    split_gross_minor,
)
from backoffice.trades.model import Side

DEFAULT_SCHEDULE = FeeSchedule(DEFAULT_FEE_RATES)
SEC_FEE = RegulatoryFee.SEC_FEE
FINRA_TAF = RegulatoryFee.FINRA_TAF

quantity_scales = st.integers(min_value=0, max_value=6)
currency_scales = st.integers(min_value=0, max_value=4)
price_decimals = st.integers(min_value=0, max_value=9)
quantities = st.integers(min_value=0, max_value=10**12)
mantissas = st.integers(min_value=1, max_value=10**12)
trade_dates = st.dates(min_value=date(2021, 1, 1), max_value=date(2026, 12, 31))


def half_up(value: Fraction) -> int:
    """The reference rounding for non-negative values: halves go up."""
    return floor(value + Fraction(1, 2))


def decimal_of(mantissa: int, decimals: int) -> Fraction:
    return Fraction(mantissa, 10**decimals)


def schedule(per_share: str = "0.005", bps: str = "0", minimum: str = "1.00") -> CommissionSchedule:
    parsed = CommissionSchedule.parse("USD", 2, per_share=per_share, bps=bps, minimum=minimum)
    assert isinstance(parsed, CommissionSchedule)
    return parsed


def us_sale(
    trade_date: date, quantity_minor: int, gross: int, quantity_scale: int = 0
) -> tuple[int, int]:
    return regulatory_fees_minor(
        DEFAULT_SCHEDULE,
        Side.SELL,
        "XNYS",
        trade_date,
        quantity_minor,
        quantity_scale,
        gross,
        "USD",
        2,
    )


def problem_fields(problems: object) -> list[tuple[str, str | None]]:
    assert isinstance(problems, list)
    return [(problem.code, problem.source.field) for problem in problems]


# --- Prices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("228.5225", (2285225, 4)),
        ("10", (10, 0)),
        ("228.5200", (2285200, 4)),
        ("0.000000001", (1, 9)),
        ("007.5", (75, 1)),
    ],
)
def test_a_plain_positive_decimal_becomes_a_mantissa_and_its_decimals(
    text: str, price: tuple[int, int]
) -> None:
    assert parse_price(text) == price


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.000",
        "-1",
        "+1",
        "1e3",
        "NaN",
        "Infinity",
        " 1",
        "1 ",
        "1.",
        ".5",
        "1.2.3",
        "1,000.00",
        "١٢",
        "1.0000000001",
        "",
        "9" * 33,
    ],
)
def test_anything_but_a_plain_positive_decimal_with_at_most_nine_decimals_is_no_price(
    text: str,
) -> None:
    assert parse_price(text) is None


@given(mantissa=mantissas, decimals=price_decimals)
def test_a_price_written_out_reads_back_as_the_same_value(mantissa: int, decimals: int) -> None:
    text = f"{Decimal(mantissa).scaleb(-decimals):f}"
    parsed = parse_price(text)
    assert parsed is not None
    assert decimal_of(*parsed) == decimal_of(mantissa, decimals)


# --- Gross ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "quantity_scale", "price", "currency_scale", "gross"),
    [
        # 100 × 228.5225 = 22,852.25 exactly → 2,285,225 cents.
        (100, 0, (2285225, 4), 2, 2285225),
        # 3 × 0.335 = 1.005 → half up to 1.01.
        (3, 0, (335, 3), 2, 101),
        # 1.5 shares (15 at scale 1) × 10.01 = 15.015 → half up to 15.02.
        (15, 1, (1001, 2), 2, 1502),
        # 3 × 0.3349 = 1.0047 → 1.00 (below the half).
        (3, 0, (3349, 4), 2, 100),
        # 7 × 100.5 = 703.5 yen (scale 0) → 704.
        (7, 0, (1005, 1), 0, 704),
        # 2 × 10 = 20.000 at a 3-decimal currency: no rounding, scaled up.
        (2, 0, (10, 0), 3, 20000),
    ],
)
def test_gross_is_quantity_times_price_rounded_half_up_to_the_minor_unit(
    quantity: int, quantity_scale: int, price: tuple[int, int], currency_scale: int, gross: int
) -> None:
    assert gross_minor(quantity, quantity_scale, *price, currency_scale) == gross


@given(
    quantity=quantities,
    quantity_scale=quantity_scales,
    mantissa=mantissas,
    decimals=price_decimals,
    currency_scale=currency_scales,
)
def test_gross_equals_a_decimal_reference_computed_exactly_and_rounded_half_up(
    quantity: int, quantity_scale: int, mantissa: int, decimals: int, currency_scale: int
) -> None:
    with localcontext() as context:
        context.prec = 200
        exact = Decimal(quantity).scaleb(-quantity_scale) * Decimal(mantissa).scaleb(-decimals)
        expected = int(exact.scaleb(currency_scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert gross_minor(quantity, quantity_scale, mantissa, decimals, currency_scale) == expected


def test_a_negative_quantity_or_an_out_of_range_scale_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        gross_minor(-1, 0, 100, 2, 2)
    with pytest.raises(InvariantViolation):
        gross_minor(1, -1, 100, 2, 2)
    with pytest.raises(InvariantViolation):
        gross_minor(1, 0, 100, 10, 2)


# --- Commission -------------------------------------------------------------------------------


def test_a_schedule_parses_from_decimal_strings_with_the_documented_defaults() -> None:
    assert CommissionSchedule.parse("USD", 2) == CommissionSchedule((5, 3), (0, 0), 100, "USD")
    assert CommissionSchedule.parse(
        "EUR", 2, per_share="0", bps="2.5", minimum="12.50"
    ) == CommissionSchedule((0, 0), (25, 1), 1250, "EUR")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"per_share": "-0.005"}, "per_share"),
        ({"per_share": "5e-3"}, "per_share"),
        ({"per_share": "0.0000000001"}, "per_share"),
        ({"bps": "x"}, "bps"),
        ({"bps": "10000.5"}, "bps"),
        ({"minimum": "1.005"}, "minimum"),
        ({"minimum": "-1.00"}, "minimum"),
        ({"minimum": "one"}, "minimum"),
    ],
)
def test_a_bad_schedule_field_is_an_invalid_commission_problem_naming_the_field(
    arguments: dict[str, str], field: str
) -> None:
    currency = arguments.pop("currency", "USD")
    parsed = CommissionSchedule.parse(currency, 2, **arguments)
    assert problem_fields(parsed) == [("invalid_commission", field)]


def test_every_bad_schedule_field_is_reported_at_once() -> None:
    parsed = CommissionSchedule.parse("usd", 2, per_share="x", bps="-1", minimum="1.005")
    assert problem_fields(parsed) == [
        ("invalid_commission", "currency"),
        ("invalid_commission", "per_share"),
        ("invalid_commission", "bps"),
        ("invalid_commission", "minimum"),
    ]


def test_a_schedule_built_directly_with_a_negative_rate_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        CommissionSchedule((-5, 3), (0, 0), 100, "USD")


def test_a_trade_without_a_schedule_pays_no_commission() -> None:
    assert commission_minor(None, 1000, 0, 5_000_000, 2) == 0


def test_commission_is_per_share_plus_basis_points_of_gross() -> None:
    # 1,000 shares at 50.00: 1,000 × 0.005 = 5.00, plus 2.5 bp of 50,000.00 = 12.50 → 17.50.
    assert commission_minor(schedule(bps="2.5"), 1000, 0, 5_000_000, 2) == 1750


def test_a_small_trade_pays_the_minimum_ticket() -> None:
    # 10 shares × 0.005 = 0.05, below the 1.00 minimum.
    assert commission_minor(schedule(), 10, 0, 50_000, 2) == 100


def test_the_variable_commission_is_rounded_once_not_part_by_part() -> None:
    # 1 share × 0.004 = 0.4 cent, and 10 bp of 4.00 = 0.4 cent: 0.8 cent → 1 cent.
    # Rounding each part first would give 0 + 0 = 0.
    assert commission_minor(schedule(per_share="0.004", bps="10", minimum="0"), 1, 0, 400, 2) == 1


def test_half_a_cent_of_commission_rounds_up() -> None:
    # 1 share × 0.005 = 0.5 cent → 1 cent; 1 share × 0.0049 = 0.49 cent → 0.
    assert commission_minor(schedule(minimum="0"), 1, 0, 100, 2) == 1
    assert commission_minor(schedule(per_share="0.0049", minimum="0"), 1, 0, 100, 2) == 0


def test_commission_on_fractional_shares_counts_the_exact_quantity() -> None:
    # 2.5 shares (25 at scale 1) × 0.02 = 0.05.
    assert commission_minor(schedule(per_share="0.02", minimum="0"), 25, 1, 100, 2) == 5


@given(
    per_share=st.tuples(st.integers(0, 10**6), st.integers(0, 9)),
    bps=st.tuples(st.integers(0, 10**5), st.integers(0, 9)),
    minimum=st.integers(0, 10**6),
    quantity=quantities,
    quantity_scale=quantity_scales,
    gross=st.integers(0, 10**15),
    currency_scale=currency_scales,
)
def test_commission_is_never_below_the_minimum_and_matches_the_exact_rule(
    per_share: tuple[int, int],
    bps: tuple[int, int],
    minimum: int,
    quantity: int,
    quantity_scale: int,
    gross: int,
    currency_scale: int,
) -> None:
    rule = CommissionSchedule(per_share, bps, minimum, "USD")
    commission = commission_minor(rule, quantity, quantity_scale, gross, currency_scale)
    variable = (
        decimal_of(*per_share) * decimal_of(quantity, quantity_scale) * 10**currency_scale
        + decimal_of(*bps) / 10_000 * gross
    )
    assert commission >= minimum
    assert commission == max(half_up(variable), minimum)


# --- US regulatory fees -----------------------------------------------------------------------


def test_a_sale_on_a_us_market_pays_the_sec_fee_and_the_taf_rounded_up_to_the_cent() -> None:
    # 1,000 shares at 50.00 on 2024-06-03 (rates of 2024-05-22 and 2024-01-01):
    # SEC fee = 50,000 × 27.80 / 1,000,000 = 1.39 → 139 cents;
    # TAF = 1,000 × 0.000166 = 0.166 → rounded up to 17 cents.
    gross = gross_minor(1000, 0, 5000, 2, 2)
    assert gross == 5_000_000
    assert us_sale(date(2024, 6, 3), 1000, gross) == (139, 17)


def test_the_sec_fee_rate_changes_on_its_effective_date() -> None:
    # The day before 2024-05-22: 50,000 × 8.00 / 1,000,000 = 0.40; that day: 1.39.
    assert us_sale(date(2024, 5, 21), 1000, 5_000_000)[0] == 40
    assert us_sale(date(2024, 5, 22), 1000, 5_000_000)[0] == 139


def test_no_sec_fee_is_due_from_may_2025_when_the_rate_is_zero() -> None:
    # 2025-05-14: $0.00 per million; the TAF is still 0.000166 × 1,000 = 0.166 → 17 cents.
    assert us_sale(date(2025, 5, 13), 1000, 5_000_000) == (139, 17)
    assert us_sale(date(2025, 5, 14), 1000, 5_000_000) == (0, 17)


def test_a_fee_that_comes_to_whole_cents_is_not_rounded_up_further() -> None:
    # $1,000,000 of proceeds at 27.80 per million = 27.80 exactly.
    assert us_sale(date(2024, 6, 3), 1, 100_000_000)[0] == 2780
    # 10,000 shares × 0.000130 (2022) = 1.30 exactly.
    assert us_sale(date(2022, 6, 1), 10_000, 100_000)[1] == 130


def test_the_taf_is_capped_at_its_maximum_per_trade() -> None:
    # 100,000 shares × 0.000166 = 16.60, above the 8.30 cap (2024);
    # 100,000 × 0.000145 = 14.50, above the 7.27 cap (2023).
    assert us_sale(date(2024, 6, 3), 100_000, 500_000_000)[1] == 830
    assert us_sale(date(2023, 6, 1), 100_000, 500_000_000)[1] == 727
    # 50,000 × 0.000166 = 8.30: exactly at the cap.
    assert us_sale(date(2024, 6, 3), 50_000, 250_000_000)[1] == 830


def test_a_sale_of_a_fraction_of_a_share_pays_at_least_a_cent_of_each_fee() -> None:
    # 0.5 share (5 at scale 1) at 100.00 on 2024-06-03: gross 50.00;
    # SEC fee = 50 × 27.80 / 1,000,000 = 0.00139 → 1 cent; TAF = 0.5 × 0.000166 → 1 cent.
    assert us_sale(date(2024, 6, 3), 5, 5000, quantity_scale=1) == (1, 1)


def test_a_sale_before_a_fees_first_known_rate_pays_none_of_that_fee() -> None:
    # 2023-02-26 is before the first SEC rate (2023-02-27); the TAF of 2023-01-01 applies:
    # 1,000 × 0.000145 = 0.145 → 15 cents. From 2023-02-27: 50,000 × 8.00 / 1,000,000 = 0.40.
    # Before 2022-01-01, neither fee is known.
    assert us_sale(date(2023, 2, 26), 1000, 5_000_000) == (0, 15)
    assert us_sale(date(2023, 2, 27), 1000, 5_000_000) == (40, 15)
    assert us_sale(date(2021, 12, 31), 1000, 5_000_000) == (0, 0)


@pytest.mark.parametrize(
    ("side", "market", "currency"),
    [
        (Side.BUY, "XNYS", "USD"),
        (Side.SELL, "XLON", "USD"),
        (Side.SELL, "XPAR", "EUR"),
        (Side.SELL, "XNAS", "EUR"),
    ],
)
def test_buys_non_us_markets_and_non_dollar_trades_pay_no_regulatory_fee(
    side: Side, market: str, currency: str
) -> None:
    fees = regulatory_fees_minor(
        DEFAULT_SCHEDULE, side, market, date(2024, 6, 3), 1000, 0, 5_000_000, currency, 2
    )
    assert fees == (0, 0)


def test_every_us_market_charges_the_fees_on_a_sale() -> None:
    assert sorted(US_MARKETS) == ["ARCX", "BATS", "XASE", "XNAS", "XNYS"]
    for market in US_MARKETS:
        fees = regulatory_fees_minor(
            DEFAULT_SCHEDULE, Side.SELL, market, date(2024, 6, 3), 1000, 0, 5_000_000, "USD", 2
        )
        assert fees == (139, 17)


def test_a_dollar_trade_at_a_scale_other_than_cents_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        regulatory_fees_minor(
            DEFAULT_SCHEDULE, Side.SELL, "XNYS", date(2024, 6, 3), 1000, 0, 5_000_000, "USD", 3
        )


@given(
    market=st.sampled_from([*sorted(US_MARKETS), "XLON"]),
    trade_date=trade_dates,
    quantity=quantities,
    quantity_scale=quantity_scales,
    gross=st.integers(0, 10**15),
)
def test_a_buy_never_pays_a_regulatory_fee(
    market: str, trade_date: date, quantity: int, quantity_scale: int, gross: int
) -> None:
    fees = regulatory_fees_minor(
        DEFAULT_SCHEDULE, Side.BUY, market, trade_date, quantity, quantity_scale, gross, "USD", 2
    )
    assert fees == (0, 0)


@given(
    trade_date=trade_dates,
    quantity=quantities,
    quantity_scale=quantity_scales,
    gross=st.integers(0, 10**15),
)
def test_a_us_sale_pays_each_fee_rounded_up_and_never_a_taf_above_its_cap(
    trade_date: date, quantity: int, quantity_scale: int, gross: int
) -> None:
    sec_fee, finra_taf = us_sale(trade_date, quantity, gross, quantity_scale)
    sec_rate = DEFAULT_SCHEDULE.rate_on(SEC_FEE, trade_date)
    taf_rate = DEFAULT_SCHEDULE.rate_on(FINRA_TAF, trade_date)
    expected_sec = 0 if sec_rate is None else ceil(decimal_of(*sec_rate.rate) * gross / 10**6)
    assert sec_fee == expected_sec
    if taf_rate is None:
        assert finra_taf == 0
    else:
        assert taf_rate.maximum_minor is not None
        shares = decimal_of(quantity, quantity_scale)
        expected_taf = ceil(decimal_of(*taf_rate.rate) * shares * 100)
        assert finra_taf == min(expected_taf, taf_rate.maximum_minor)
        assert finra_taf <= taf_rate.maximum_minor


# --- Fee rates and their schedule -------------------------------------------------------------


def test_the_default_rates_are_the_published_ones_read_from_their_strings() -> None:
    published = [
        ("sec_fee", "2023-02-27", "8.00", None),
        ("sec_fee", "2024-05-22", "27.80", None),
        ("sec_fee", "2025-05-14", "0.00", None),
        ("finra_taf", "2022-01-01", "0.000130", "6.49"),
        ("finra_taf", "2023-01-01", "0.000145", "7.27"),
        ("finra_taf", "2024-01-01", "0.000166", "8.30"),
    ]
    parsed = [FeeRate.parse(*row) for row in published]
    assert parsed == list(DEFAULT_FEE_RATES)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("sec", "2024-05-22", "27.80", None), "fee"),
        (("sec_fee", "2024-5-22", "27.80", None), "effective_from"),
        (("sec_fee", "20240522", "27.80", None), "effective_from"),
        (("sec_fee", "2024-02-30", "27.80", None), "effective_from"),
        (("sec_fee", "2024-05-22", "-27.80", None), "rate"),
        (("sec_fee", "2024-05-22", "2.78e1", None), "rate"),
        (("finra_taf", "2024-01-01", "0.000166", "8.305"), "maximum"),
        (("finra_taf", "2024-01-01", "0.000166", "-8.30"), "maximum"),
    ],
)
def test_a_bad_fee_rate_field_is_an_invalid_fee_rate_problem_naming_the_field(
    row: tuple[str, str, str, str | None], field: str
) -> None:
    assert problem_fields(FeeRate.parse(*row)) == [("invalid_fee_rate", field)]


def test_two_rates_of_one_fee_on_the_same_date_are_refused() -> None:
    clash = FeeRate(SEC_FEE, date(2024, 5, 22), (2790, 2), None)
    with pytest.raises(ProblemError) as error:
        FeeSchedule([*DEFAULT_FEE_RATES, clash])
    assert [problem.code for problem in error.value.problems] == ["duplicate_fee_rate"]


def test_two_fees_may_change_on_the_same_date() -> None:
    rates = [
        FeeRate(SEC_FEE, date(2024, 1, 1), (800, 2), None),
        FeeRate(FINRA_TAF, date(2024, 1, 1), (166, 6), 830),
    ]
    fee_schedule = FeeSchedule(rates)
    assert fee_schedule.rate_on(SEC_FEE, date(2024, 1, 1)) == rates[0]
    assert fee_schedule.rate_on(FINRA_TAF, date(2024, 1, 1)) == rates[1]


def test_a_fee_rate_with_a_datetime_for_its_date_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        FeeRate(SEC_FEE, datetime(2024, 5, 22), (2780, 2), None)  # noqa: DTZ001


@pytest.mark.parametrize("index", range(len(DEFAULT_FEE_RATES)))
def test_a_rate_applies_from_its_effective_date_and_not_the_day_before(index: int) -> None:
    rate = DEFAULT_FEE_RATES[index]
    earlier = [
        other
        for other in DEFAULT_FEE_RATES
        if other.fee is rate.fee and other.effective_from < rate.effective_from
    ]
    previous = earlier[-1] if earlier else None
    assert DEFAULT_SCHEDULE.rate_on(rate.fee, rate.effective_from - timedelta(days=1)) == previous
    assert DEFAULT_SCHEDULE.rate_on(rate.fee, rate.effective_from) == rate


@given(
    effective_dates=st.lists(trade_dates, min_size=1, max_size=8, unique=True),
    day=trade_dates,
    reversed_input=st.booleans(),
)
def test_the_rate_on_a_day_is_the_latest_effective_on_or_before_it(
    effective_dates: list[date], day: date, reversed_input: bool
) -> None:
    rates = [
        FeeRate(FINRA_TAF, effective, (index, 6), None)
        for index, effective in enumerate(effective_dates)
    ]
    fee_schedule = FeeSchedule(reversed(rates) if reversed_input else rates)
    in_force = [rate for rate in rates if rate.effective_from <= day]
    expected = max(in_force, key=lambda rate: rate.effective_from) if in_force else None
    assert fee_schedule.rate_on(FINRA_TAF, day) == expected
    assert fee_schedule.rate_on(SEC_FEE, day) is None
    for rate in rates:
        assert fee_schedule.rate_on(FINRA_TAF, rate.effective_from) == rate
        before = fee_schedule.rate_on(FINRA_TAF, rate.effective_from - timedelta(days=1))
        assert before != rate


# --- Net amount -------------------------------------------------------------------------------


def test_a_buyer_pays_gross_plus_commission_and_fees() -> None:
    # 50,000.00 + 17.50 + 0 = 50,017.50.
    assert net_minor(Side.BUY, 5_000_000, 1750, 0) == 5_001_750


def test_a_seller_receives_gross_less_commission_and_fees() -> None:
    # 50,000.00 - 17.50 - (1.39 + 0.17) = 49,980.94.
    assert net_minor(Side.SELL, 5_000_000, 1750, 156) == 4_998_094


def test_a_tiny_sale_can_net_below_zero_and_the_caller_decides() -> None:
    # 1 share at 0.50, a 1.00 minimum commission and 2 cents of fees: 0.50 - 1.00 - 0.02.
    assert net_minor(Side.SELL, 50, 100, 2) == -52


def test_a_negative_commission_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        net_minor(Side.BUY, 100, -1, 0)


# --- Block allocation -------------------------------------------------------------------------


def test_a_cent_left_over_between_equal_allocations_goes_to_the_first() -> None:
    # 1.00 over three equal allocations: 0.3333… each; floors 33 + 33 + 33 = 99, one cent left,
    # equal remainders: the earliest allocation gets it.
    assert split_gross_minor(100, [1, 1, 1]) == [34, 33, 33]


def test_the_cents_left_over_go_to_the_largest_remainders() -> None:
    # 10.00 by 1 : 2 : 4 (total 7): 142.857…, 285.714…, 571.428…; floors sum to 998;
    # remainders 1000·1 mod 7 = 6, 2000 mod 7 = 5, 4000 mod 7 = 3: the first two get a cent.
    assert split_gross_minor(1000, [1, 2, 4]) == [143, 286, 571]


def test_a_single_allocation_gets_the_whole_block_and_a_zero_quantity_gets_nothing() -> None:
    assert split_gross_minor(123_457, [500]) == [123_457]
    assert split_gross_minor(1001, [0, 3, 3]) == [0, 501, 500]


def test_a_split_without_allocations_or_with_no_quantity_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        split_gross_minor(100, [])
    with pytest.raises(InvariantViolation):
        split_gross_minor(100, [0, 0])
    with pytest.raises(InvariantViolation):
        split_gross_minor(100, [2, -1])


@given(
    block_gross=st.integers(0, 10**15),
    allocations=st.lists(st.integers(0, 10**9), min_size=1, max_size=40).filter(any),
)
def test_a_split_sums_to_the_block_and_each_share_is_within_a_unit_of_pro_rata(
    block_gross: int, allocations: list[int]
) -> None:
    shares = split_gross_minor(block_gross, allocations)
    total = sum(allocations)
    assert sum(shares) == block_gross
    for share, quantity in zip(shares, allocations, strict=True):
        assert abs(share - Fraction(block_gross * quantity, total)) < 1


def test_the_average_price_is_weighted_by_quantity() -> None:
    # 100 @ 100.00 and 200 @ 10.05: (10,000 + 2,010) / 300 = 40.0333… → 40.033333.
    assert average_price_text([100, 200], 0, [(10000, 2), (1005, 2)], 6) == "40.033333"


def test_the_average_price_is_rounded_half_up_and_never_written_with_an_exponent() -> None:
    # 1 @ 1.00 and 1 @ 1.01: 1.005 → 1.01 at 2 decimals, 1 at none.
    assert average_price_text([1, 1], 0, [(100, 2), (101, 2)], 2) == "1.01"
    assert average_price_text([1, 1], 0, [(100, 2), (101, 2)], 0) == "1"
    assert average_price_text([5], 0, [(1, 9)], 6) == "0.000000"
    assert average_price_text([5], 0, [(10, 0)], 6) == "10.000000"


@given(
    executions=st.lists(
        st.tuples(st.integers(1, 10**9), mantissas, price_decimals), min_size=1, max_size=30
    ),
    quantity_scale=quantity_scales,
    decimals=st.integers(0, 9),
)
def test_the_average_price_matches_an_exact_reference_rounded_half_up(
    executions: list[tuple[int, int, int]], quantity_scale: int, decimals: int
) -> None:
    quantities_minor = [quantity for quantity, _, _ in executions]
    prices = [(mantissa, scale) for _, mantissa, scale in executions]
    text = average_price_text(quantities_minor, quantity_scale, prices, decimals)
    exact = sum(
        quantity * decimal_of(mantissa, scale) for quantity, mantissa, scale in executions
    ) / sum(quantities_minor)
    assert "e" not in text.lower()
    assert Fraction(Decimal(text)) == Fraction(half_up(exact * 10**decimals), 10**decimals)
    assert (len(text.partition(".")[2])) == decimals


def test_problems_carry_their_field_for_the_caller_to_add_the_file_and_line() -> None:
    parsed = FeeRate.parse("sec_fee", "2024-05-22", "x", None)
    assert isinstance(parsed, list)
    (problem,) = parsed
    assert isinstance(problem, Problem)
    assert problem.describe().startswith("field 'rate': invalid_fee_rate: ")
