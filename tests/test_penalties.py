"""CSDR cash penalties on settlement fails, and US Regulation SHO close-out candidates.

Every worked example is computed by hand in its comment.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import InvariantViolation
from backoffice.settlement.model import Direction
from backoffice.settlement.penalties import (
    AgedFail,
    CentralBankRate,
    FailCause,
    FailingParty,
    PenaltyRateClass,
    SettlementFail,
    cash_penalty_minor,
    close_out_age,
    close_out_candidates,
    is_close_out_candidate,
    lack_of_cash_penalty_minor,
    monthly_penalties,
    penalty_days,
    securities_penalty_minor,
)

LIQUID = PenaltyRateClass.LIQUID_SHARES
SAP = "DE0007164600"
TOTAL = "FR0000120271"


def half_up(value: Fraction) -> int:
    """The reference rounding for non-negative values: halves go up."""
    return floor(value + Fraction(1, 2))


def target_days(first: date, last: date) -> list[date]:
    """Weekdays from `first` to `last`, without Good Friday and Easter Monday 2026 (TARGET)."""
    closed = {date(2026, 4, 3), date(2026, 4, 6)}
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


CALENDAR = target_days(date(2026, 1, 1), date(2026, 12, 31))


class Prices:
    """Reference prices by (ISIN, day), falling back to the latest earlier day."""

    def __init__(self, prices: dict[tuple[str, date], tuple[str, str]]) -> None:
        self.prices = prices

    def price_on(self, isin: str, day: date) -> tuple[str, str] | None:
        days = [d for (i, d) in self.prices if i == isin and d <= day]
        return self.prices[(isin, max(days))] if days else None


def fail(
    reference: str = "FAIL1",
    *,
    isin: str | None = SAP,
    cause: FailCause = FailCause.LACK_OF_SECURITIES,
    failing_party: FailingParty = FailingParty.FIRM,
    rate_class: PenaltyRateClass = LIQUID,
    settlement_date: date = date(2026, 3, 30),
    last_fail_day: date = date(2026, 4, 2),
    currency: str = "EUR",
    quantity: int = 1_000,
    quantity_scale: int = 0,
    cash: int = 0,
    quoted_in_percent: bool = False,
) -> SettlementFail:
    return SettlementFail(
        reference=reference,
        isin=isin,
        counterparty="BROKER-B",
        direction=Direction.DELIVER,
        cause=cause,
        failing_party=failing_party,
        rate_class=rate_class,
        settlement_date=settlement_date,
        last_fail_day=last_fail_day,
        currency=currency,
        currency_scale=2,
        failed_quantity_minor=quantity,
        quantity_scale=quantity_scale,
        failed_cash_minor=cash,
        quoted_in_percent=quoted_in_percent,
    )


# --- One day's penalty: worked examples -------------------------------------------------------


def test_a_fail_of_a_thousand_liquid_shares_at_fifty_euros_costs_five_euros_a_day() -> None:
    # 1 bp × 1,000 × 50.00 = 0.0001 × 50,000.00 = 5.00 EUR = 500 cents
    assert securities_penalty_minor(LIQUID, (5000, 2), 1_000, 0, 2) == 500


@pytest.mark.parametrize(
    ("rate_class", "basis_points", "penalty_minor"),
    [
        # each on 1,000 shares at 50.00 EUR = 50,000.00 EUR; 1 bp of it is 5.00 EUR
        (PenaltyRateClass.LIQUID_SHARES, (10, 1), 500),  # 1.0 bp → 5.00
        (PenaltyRateClass.ILLIQUID_SHARES, (5, 1), 250),  # 0.5 bp → 2.50
        (PenaltyRateClass.SME_GROWTH_MARKET, (25, 2), 125),  # 0.25 bp → 1.25
        (PenaltyRateClass.SOVEREIGN_DEBT, (10, 2), 50),  # 0.10 bp → 0.50
        (PenaltyRateClass.OTHER_DEBT, (20, 2), 100),  # 0.20 bp → 1.00
        (PenaltyRateClass.SME_DEBT, (15, 2), 75),  # 0.15 bp → 0.75
        (PenaltyRateClass.OTHER_INSTRUMENTS, (5, 1), 250),  # 0.5 bp → 2.50
    ],
)
def test_each_class_of_the_annex_has_its_rate_in_basis_points(
    rate_class: PenaltyRateClass, basis_points: tuple[int, int], penalty_minor: int
) -> None:
    assert rate_class.basis_points == basis_points
    assert securities_penalty_minor(rate_class, (5000, 2), 1_000, 0, 2) == penalty_minor


def test_the_annex_has_seven_classes_of_instrument() -> None:
    assert len(PenaltyRateClass) == 7


@pytest.mark.parametrize(
    ("price", "penalty_minor"),
    [
        ((5000, 2), 1),  # 1 bp × 50.00 = 0.005 EUR: a half cent goes up to 0.01
        ((4999, 2), 0),  # 1 bp × 49.99 = 0.004999 EUR: under a half cent, 0.00
        ((25000, 2), 3),  # 1 bp × 250.00 = 0.025 EUR: half up gives 0.03 (not banker's 0.02)
        ((14999, 2), 1),  # 1 bp × 149.99 = 0.014999 EUR → 0.01
    ],
)
def test_a_daily_penalty_rounds_half_up_to_the_cent(
    price: tuple[int, int], penalty_minor: int
) -> None:
    assert securities_penalty_minor(LIQUID, price, 1, 0, 2) == penalty_minor


def test_a_currency_without_minor_unit_rounds_to_the_unit() -> None:
    # 1 bp × 1,000 × 1,235 JPY = 123.5 JPY → 124; × 1,234 JPY = 123.4 JPY → 123
    assert securities_penalty_minor(LIQUID, (1235, 0), 1_000, 0, 0) == 124
    assert securities_penalty_minor(LIQUID, (1234, 0), 1_000, 0, 0) == 123


def test_a_fractional_quantity_is_valued_exactly() -> None:
    # 0.5 share (5 at scale 1) × 100.00 EUR × 1 bp = 0.005 EUR → 0.01
    assert securities_penalty_minor(LIQUID, (10000, 2), 5, 1, 2) == 1


def test_a_lack_of_cash_costs_a_days_interest_at_the_overnight_rate_on_the_cash() -> None:
    # 4.50 % a year on 1,000,000.00 EUR for one day of 365:
    # 1,000,000.00 × 0.045 / 365 = 123.2876... EUR → 123.29
    assert cash_penalty_minor((450, 2), 100_000_000) == 12_329


@pytest.mark.parametrize(
    ("cash_minor", "penalty_minor"),
    [
        # 3.65 % / 365 is exactly 0.0001 a day
        (5_000, 1),  # 50.00 × 0.0001 = 0.005 → 0.01
        (4_999, 0),  # 49.99 × 0.0001 = 0.004999 → 0.00
        (25_000, 3),  # 250.00 × 0.0001 = 0.025 → 0.03 (half up)
    ],
)
def test_a_lack_of_cash_penalty_rounds_half_up(cash_minor: int, penalty_minor: int) -> None:
    assert cash_penalty_minor((365, 2), cash_minor) == penalty_minor


@pytest.mark.parametrize("rate", [(-50, 2), (0, 0), (0, 4)])
def test_a_negative_or_zero_overnight_rate_is_floored_to_no_penalty(rate: tuple[int, int]) -> None:
    assert cash_penalty_minor(rate, 100_000_000) == 0
    assert lack_of_cash_penalty_minor(rate, (5000, 2), 1_000, 0, 2) == 0


def test_a_lack_of_cash_on_securities_is_charged_on_their_reference_value() -> None:
    # Article 3(2): the base is 1,000 × 50.00 = 50,000.00 EUR, not the instruction's cash.
    # 50,000.00 × 0.045 / 365 = 6.1643... EUR → 6.16
    assert lack_of_cash_penalty_minor((450, 2), (5000, 2), 1_000, 0, 2) == 616


@pytest.mark.parametrize(
    "call",
    [
        lambda: securities_penalty_minor(LIQUID, (5000, 2), -1, 0, 2),
        lambda: securities_penalty_minor(LIQUID, (-5000, 2), 1, 0, 2),
        lambda: securities_penalty_minor(LIQUID, (5000, 10), 1, 0, 2),
        lambda: securities_penalty_minor(LIQUID, (5000, 2), 1, 13, 2),
        lambda: securities_penalty_minor("liquid", (5000, 2), 1, 0, 2),  # type: ignore[arg-type]
        lambda: cash_penalty_minor((450, 2), -1),
        lambda: cash_penalty_minor((450, 10), 1),
    ],
)
def test_arguments_the_caller_should_have_checked_raise_an_invariant_violation(
    call: object,
) -> None:
    assert callable(call)
    with pytest.raises(InvariantViolation):
        call()


# --- One day's penalty: properties ------------------------------------------------------------

rate_classes = st.sampled_from(list(PenaltyRateClass))
prices = st.tuples(st.integers(min_value=0, max_value=10**12), st.integers(0, 9))
quantities = st.integers(min_value=0, max_value=10**12)
scales = st.integers(min_value=0, max_value=6)
annual_rates = st.tuples(st.integers(min_value=-(10**6), max_value=10**6), st.integers(0, 9))


@given(rate_classes, prices, quantities, scales, scales)
def test_a_securities_penalty_is_the_exact_product_rounded_once_half_up(
    rate_class: PenaltyRateClass,
    price: tuple[int, int],
    quantity: int,
    quantity_scale: int,
    currency_scale: int,
) -> None:
    rate = Fraction(rate_class.basis_points[0], 10 ** rate_class.basis_points[1]) / 10_000
    value = Fraction(price[0], 10 ** price[1]) * Fraction(quantity, 10**quantity_scale)
    expected = half_up(rate * value * 10**currency_scale)
    penalty = securities_penalty_minor(rate_class, price, quantity, quantity_scale, currency_scale)
    assert penalty == expected
    assert penalty >= 0


@given(rate_classes, prices, quantities, quantities, scales, scales)
def test_a_securities_penalty_is_linear_in_the_quantity_within_one_minor_unit(
    rate_class: PenaltyRateClass,
    price: tuple[int, int],
    first: int,
    second: int,
    quantity_scale: int,
    currency_scale: int,
) -> None:
    def penalty(quantity: int) -> int:
        return securities_penalty_minor(rate_class, price, quantity, quantity_scale, currency_scale)

    assert abs(penalty(first + second) - penalty(first) - penalty(second)) <= 1


@given(rate_classes, prices, scales, scales)
def test_nothing_failed_costs_nothing(
    rate_class: PenaltyRateClass, price: tuple[int, int], quantity_scale: int, currency_scale: int
) -> None:
    assert securities_penalty_minor(rate_class, price, 0, quantity_scale, currency_scale) == 0


@given(annual_rates, st.integers(min_value=0, max_value=10**15))
def test_a_cash_penalty_is_the_floored_rate_over_365_days_rounded_once_half_up(
    rate: tuple[int, int], cash_minor: int
) -> None:
    annual = max(Fraction(rate[0], 10 ** rate[1]), Fraction(0)) / 100
    penalty = cash_penalty_minor(rate, cash_minor)
    assert penalty == half_up(annual / 365 * cash_minor)
    assert penalty >= 0
    if rate[0] <= 0:
        assert penalty == 0


@given(annual_rates, prices, quantities, scales, scales)
def test_a_lack_of_cash_penalty_on_securities_is_never_negative_and_exact(
    rate: tuple[int, int],
    price: tuple[int, int],
    quantity: int,
    quantity_scale: int,
    currency_scale: int,
) -> None:
    annual = max(Fraction(rate[0], 10 ** rate[1]), Fraction(0)) / 100
    value = Fraction(price[0], 10 ** price[1]) * Fraction(quantity, 10**quantity_scale)
    penalty = lack_of_cash_penalty_minor(rate, price, quantity, quantity_scale, currency_scale)
    assert penalty == half_up(annual / 365 * value * 10**currency_scale)
    assert penalty >= 0


# --- Which days ---------------------------------------------------------------------------------


def test_a_fail_is_penalised_from_its_settlement_date_skipping_holidays() -> None:
    # Due Thursday 2 April 2026; Good Friday and Easter Monday are TARGET holidays.
    days = penalty_days(date(2026, 4, 2), date(2026, 4, 8), CALENDAR)
    assert days == [date(2026, 4, 2), date(2026, 4, 7), date(2026, 4, 8)]


def test_a_fail_settled_on_its_next_business_day_is_penalised_for_its_settlement_date_only() -> (
    None
):
    # Due Thursday 2 April, settled Tuesday 7 April: last unsettled at the end of 2 April.
    assert penalty_days(date(2026, 4, 2), date(2026, 4, 2), CALENDAR) == [date(2026, 4, 2)]


def test_an_instruction_settled_on_time_has_no_penalty_day() -> None:
    assert penalty_days(date(2026, 4, 2), date(2026, 4, 1), CALENDAR) == []


def test_a_settlement_date_on_a_holiday_starts_the_fail_on_the_next_business_day() -> None:
    assert penalty_days(date(2026, 4, 4), date(2026, 4, 7), CALENDAR) == [date(2026, 4, 7)]


def test_a_calendar_that_does_not_cover_the_fail_is_a_bug() -> None:
    with pytest.raises(InvariantViolation, match="does not cover"):
        penalty_days(date(2026, 12, 30), date(2027, 1, 5), CALENDAR)


def test_an_unsorted_calendar_is_a_bug() -> None:
    with pytest.raises(InvariantViolation, match="strictly increasing"):
        penalty_days(date(2026, 4, 2), date(2026, 4, 8), list(reversed(CALENDAR)))


def test_a_datetime_for_a_date_is_a_bug() -> None:
    with pytest.raises(InvariantViolation, match="must be a date"):
        penalty_days(datetime(2026, 4, 2), date(2026, 4, 8), CALENDAR)  # noqa: DTZ001


@given(
    st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(min_value=-5, max_value=60),
)
def test_penalty_days_are_exactly_the_business_days_of_the_fail(start: date, span: int) -> None:
    as_of = min(start + timedelta(days=span), date(2026, 12, 31))
    days = penalty_days(start, as_of, CALENDAR)
    assert days == [day for day in CALENDAR if start <= day <= as_of]


# --- A month of penalties ---------------------------------------------------------------------

PRICES = Prices(
    {
        (SAP, date(2026, 3, 30)): ("50.00", "EUR"),
        (SAP, date(2026, 3, 31)): ("52.00", "EUR"),
        (SAP, date(2026, 4, 1)): ("51.00", "EUR"),
        (SAP, date(2026, 4, 2)): ("49.99", "EUR"),
    }
)


def test_a_month_adds_the_fails_daily_penalties_at_each_days_reference_price() -> None:
    # Due Monday 30 March, 1,000 shares, 1 bp a day:
    # 30 March at 50.00: 5.00; 31 March at 52.00: 5.20 → March 10.20 EUR over 2 days.
    march = monthly_penalties([fail()], PRICES, date(2026, 3, 1), business_days=CALENDAR)
    assert march.problems == ()
    (line,) = march.lines
    assert (line.reference, line.isin, line.counterparty, line.currency) == (
        "FAIL1",
        SAP,
        "BROKER-B",
        "EUR",
    )
    assert line.days == 2
    assert line.amount_minor == 1_020
    assert [(day.day, day.reference_price, day.amount_minor) for day in line.daily] == [
        (date(2026, 3, 30), "50.00", 500),
        (date(2026, 3, 31), "52.00", 520),
    ]
    assert line.daily[0].rate == (10, 1)


def test_the_rest_of_the_fail_falls_in_the_next_month() -> None:
    # 1 April at 51.00: 5.10; 2 April at 49.99: 4.999 → 5.00 → April 10.10 EUR.
    # Any day of the month names it.
    april = monthly_penalties([fail()], PRICES, date(2026, 4, 17), business_days=CALENDAR)
    (line,) = april.lines
    assert (line.days, line.amount_minor) == (2, 1_010)


def test_a_day_without_its_own_price_uses_the_latest_earlier_one() -> None:
    # Only 30 March has a price: 31 March is valued at 50.00 too → 5.00 + 5.00.
    prices = Prices({(SAP, date(2026, 3, 30)): ("50.00", "EUR")})
    march = monthly_penalties([fail()], prices, date(2026, 3, 1), business_days=CALENDAR)
    (line,) = march.lines
    assert [day.reference_price for day in line.daily] == ["50.00", "50.00"]
    assert line.amount_minor == 1_000


def test_the_firm_pays_its_own_fails_and_receives_its_counterparties() -> None:
    mine = fail("MINE", failing_party=FailingParty.FIRM)
    theirs = fail("THEIRS", failing_party=FailingParty.COUNTERPARTY)
    march = monthly_penalties([theirs, mine], PRICES, date(2026, 3, 1), business_days=CALENDAR)
    assert [(line.reference, line.firm_amount_minor) for line in march.lines] == [
        ("MINE", -1_020),
        ("THEIRS", 1_020),
    ]


def test_a_fail_outside_the_month_has_no_line() -> None:
    settled = fail(last_fail_day=date(2026, 3, 31))
    assert (
        monthly_penalties([settled], PRICES, date(2026, 4, 1), business_days=CALENDAR).lines == ()
    )


def test_a_bond_quoted_in_percent_is_valued_on_its_nominal() -> None:
    # 1,000,000.00 EUR nominal of a sovereign bond at 99.50 %: 995,000.00 EUR;
    # 0.10 bp of it = 9.95 EUR a day.
    bond = fail(
        isin=TOTAL,
        rate_class=PenaltyRateClass.SOVEREIGN_DEBT,
        settlement_date=date(2026, 4, 1),
        last_fail_day=date(2026, 4, 1),
        quantity=100_000_000,
        quantity_scale=2,
        quoted_in_percent=True,
    )
    prices = Prices({(TOTAL, date(2026, 4, 1)): ("99.50", "EUR")})
    (line,) = monthly_penalties([bond], prices, date(2026, 4, 1), business_days=CALENDAR).lines
    assert line.amount_minor == 995


def test_a_lack_of_cash_uses_the_overnight_rate_in_force_each_day() -> None:
    # Hypothetical rates: 4.50 % from 1 January, 4.25 % from 2 April 2026.
    # 1,000 shares at 50.00 = 50,000.00 EUR; 1 April: × 0.045 / 365 = 6.164 → 6.16;
    # 2 April: × 0.0425 / 365 = 5.8219 → 5.82. April: 11.98 EUR.
    rates = [
        CentralBankRate("EUR", date(2026, 1, 1), (450, 2)),
        CentralBankRate("EUR", date(2026, 4, 2), (425, 2)),
    ]
    cash_fail = fail(
        cause=FailCause.LACK_OF_CASH,
        settlement_date=date(2026, 4, 1),
        last_fail_day=date(2026, 4, 2),
    )
    prices = Prices({(SAP, date(2026, 4, 1)): ("50.00", "EUR")})
    april = monthly_penalties(
        [cash_fail], prices, date(2026, 4, 1), business_days=CALENDAR, cash_rates=rates
    )
    (line,) = april.lines
    assert [(day.rate, day.amount_minor) for day in line.daily] == [
        ((450, 2), 616),
        ((425, 2), 582),
    ]
    assert line.amount_minor == 1_198


def test_a_payment_free_of_delivery_is_charged_on_its_cash() -> None:
    # 1,000,000.00 EUR at 4.50 %: 123.29 EUR a day, no reference price needed.
    payment = fail(
        isin=None,
        cause=FailCause.LACK_OF_CASH,
        settlement_date=date(2026, 4, 1),
        last_fail_day=date(2026, 4, 1),
        cash=100_000_000,
    )
    rates = [CentralBankRate("EUR", date(2026, 1, 1), (450, 2))]
    (line,) = monthly_penalties(
        [payment], Prices({}), date(2026, 4, 1), business_days=CALENDAR, cash_rates=rates
    ).lines
    assert (line.isin, line.amount_minor, line.daily[0].reference_price) == (None, 12_329, None)


def test_a_partly_settled_fail_is_charged_on_what_still_fails() -> None:
    # 1,000 shares failing from 30 March; 600 settle on 1 April, 400 fail on.
    # 1 April: 400 × 51.00 × 1 bp = 2.04; 2 April: 400 × 49.99 × 1 bp = 1.9996 → 2.00.
    before = fail(last_fail_day=date(2026, 3, 31))
    after = fail(settlement_date=date(2026, 4, 1), quantity=400)
    (line,) = monthly_penalties(
        [after, before], PRICES, date(2026, 4, 1), business_days=CALENDAR
    ).lines
    assert (line.days, line.amount_minor) == (2, 404)


def test_overlapping_stretches_of_one_fail_are_a_bug() -> None:
    with pytest.raises(InvariantViolation, match="overlap"):
        monthly_penalties(
            [fail(), fail(settlement_date=date(2026, 4, 1), quantity=400)],
            PRICES,
            date(2026, 4, 1),
            business_days=CALENDAR,
        )


@pytest.mark.parametrize(
    ("prices", "code"),
    [
        (Prices({}), "missing_reference_price"),
        (Prices({(SAP, date(2026, 3, 1)): ("50.00", "USD")}), "reference_price_currency_mismatch"),
        (Prices({(SAP, date(2026, 3, 1)): ("1e3", "EUR")}), "invalid_reference_price"),
    ],
)
def test_a_fail_that_cannot_be_priced_is_reported_and_not_charged_in_part(
    prices: Prices, code: str
) -> None:
    march = monthly_penalties([fail()], prices, date(2026, 3, 1), business_days=CALENDAR)
    assert march.lines == ()
    (problem,) = march.problems
    assert problem.code == code
    assert "FAIL1" in problem.reason
    assert "2026-03-30" in problem.reason
    assert "2 business day(s)" in problem.reason


def test_a_lack_of_cash_without_an_overnight_rate_is_reported() -> None:
    cash_fail = fail(cause=FailCause.LACK_OF_CASH)
    march = monthly_penalties([cash_fail], PRICES, date(2026, 3, 1), business_days=CALENDAR)
    assert [problem.code for problem in march.problems] == ["missing_cash_rate"]
    assert march.lines == ()


def test_one_unpriced_fail_does_not_stop_the_others() -> None:
    other = fail("OTHER", isin=TOTAL)
    march = monthly_penalties([fail(), other], PRICES, date(2026, 3, 1), business_days=CALENDAR)
    assert [line.reference for line in march.lines] == ["FAIL1"]
    assert [problem.code for problem in march.problems] == ["missing_reference_price"]


def test_an_instruction_without_securities_can_only_lack_cash() -> None:
    with pytest.raises(InvariantViolation, match="only lack cash"):
        fail(isin=None)


# --- US close-out (Regulation SHO Rule 204) ---------------------------------------------------


def test_a_short_sale_fail_must_be_closed_out_on_the_next_settlement_day() -> None:
    # Rule 204(a): by the open of the settlement day after the settlement date (T+2 at T+1).
    assert close_out_age(short_sale=True) == 1
    assert not is_close_out_candidate(Direction.DELIVER, 0, short_sale=True)
    assert is_close_out_candidate(Direction.DELIVER, 1, short_sale=True)


def test_a_long_sale_fail_must_be_closed_out_on_the_third_settlement_day() -> None:
    # Rule 204(a)(1): by the open of the third settlement day after it (T+4 at T+1).
    assert close_out_age(short_sale=False) == 3
    assert not is_close_out_candidate(Direction.DELIVER, 2, short_sale=False)
    assert is_close_out_candidate(Direction.DELIVER, 3, short_sale=False)
    assert is_close_out_candidate(Direction.DELIVER, 10, short_sale=False)


@pytest.mark.parametrize("short_sale", [True, False])
def test_a_fail_to_receive_is_never_the_firms_to_close_out(short_sale: bool) -> None:
    assert not is_close_out_candidate(Direction.RECEIVE, 30, short_sale=short_sale)


def test_a_negative_age_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        is_close_out_candidate(Direction.DELIVER, -1, short_sale=True)


def test_close_out_candidates_are_the_due_fails_oldest_first() -> None:
    fails = [
        AgedFail("LONG-2", Direction.DELIVER, 2, short_sale=False),
        AgedFail("SHORT-1", Direction.DELIVER, 1, short_sale=True),
        AgedFail("LONG-5", Direction.DELIVER, 5, short_sale=False),
        AgedFail("RECEIVE-9", Direction.RECEIVE, 9, short_sale=False),
    ]
    assert [aged.reference for aged in close_out_candidates(fails)] == ["LONG-5", "SHORT-1"]
