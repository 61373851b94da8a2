from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.refdata.calendars import (
    DEFAULT_RULES,
    MARKETS,
    AssetClass,
    SettlementCycleRule,
    is_settlement_day,
    is_trading_day,
    settlement_date,
    settlement_rule,
)


def problem_code(error: pytest.ExceptionInfo[ProblemError]) -> str:
    (problem,) = error.value.problems
    return problem.code


def test_a_us_trade_on_the_friday_before_columbus_day_settles_on_tuesday() -> None:
    columbus_day = date(2026, 10, 12)
    assert is_trading_day("XNYS", columbus_day)
    assert not is_settlement_day("XNYS", columbus_day)
    assert settlement_date("XNYS", date(2026, 10, 9)) == date(2026, 10, 13)


def test_a_us_trade_on_columbus_day_itself_settles_the_next_day() -> None:
    assert settlement_date("XNYS", date(2026, 10, 12)) == date(2026, 10, 13)


def test_a_us_trade_the_day_before_veterans_day_settles_the_day_after_it() -> None:
    veterans_day = date(2026, 11, 11)
    assert is_trading_day("XNAS", veterans_day)
    assert not is_settlement_day("XNAS", veterans_day)
    assert settlement_date("XNAS", date(2026, 11, 10)) == date(2026, 11, 12)


def test_us_trades_settle_t_plus_2_before_2024_05_28_and_t_plus_1_from_it() -> None:
    # Friday 24 May 2024 (T+2 over Memorial Day) and Tuesday 28 May (T+1) both settle on 29 May.
    assert settlement_date("XNYS", date(2024, 5, 24)) == date(2024, 5, 29)
    assert settlement_date("XNYS", date(2024, 5, 28)) == date(2024, 5, 29)
    assert settlement_rule("XNYS", date(2024, 5, 24)).settlement_days == 2
    assert settlement_rule("XNYS", date(2024, 5, 28)).settlement_days == 1


def test_us_trades_settle_t_plus_3_before_2017_09_05() -> None:
    # Friday 1 September 2017 (T+3 over Labor Day) and Tuesday 5 September (T+2) both settle
    # on 7 September.
    assert settlement_date("XNYS", date(2017, 9, 1)) == date(2017, 9, 7)
    assert settlement_date("XNYS", date(2017, 9, 5)) == date(2017, 9, 7)
    assert settlement_date("XNYS", date(2016, 3, 1)) == date(2016, 3, 4)


def test_a_uk_trade_before_a_bank_holiday_settles_after_it() -> None:
    # Friday 28 August 2026, then the late summer bank holiday on Monday 31 August.
    assert not is_settlement_day("XLON", date(2026, 8, 31))
    assert settlement_date("XLON", date(2026, 8, 28)) == date(2026, 9, 2)


def test_a_euro_trade_over_easter_skips_good_friday_and_easter_monday() -> None:
    assert settlement_date("XETR", date(2026, 4, 2)) == date(2026, 4, 8)
    assert settlement_date("XPAR", date(2026, 4, 30)) == date(2026, 5, 5)


def test_a_euro_trade_skips_a_target_holiday_even_when_the_exchange_is_open() -> None:
    # Euronext Dublin traded on 1 May 2018; TARGET, and so settlement, was closed.
    may_day = date(2018, 5, 1)
    assert is_trading_day("XDUB", may_day)
    assert not is_settlement_day("XDUB", may_day)
    assert settlement_date("XDUB", date(2018, 4, 30)) == date(2018, 5, 3)


def test_eu_and_uk_trades_settle_t_plus_1_from_2027_10_11() -> None:
    # Friday 8 October 2027 (T+2) and Monday 11 October (T+1) both settle on 12 October.
    for market in ("XPAR", "XETR", "XLON"):
        assert settlement_date(market, date(2027, 10, 8)) == date(2027, 10, 12)
        assert settlement_date(market, date(2027, 10, 11)) == date(2027, 10, 12)
        assert settlement_date(market, date(2027, 10, 12)) == date(2027, 10, 13)


def test_a_weekend_trade_date_is_refused_as_not_a_trading_day() -> None:
    with pytest.raises(ProblemError) as error:
        settlement_date("XNYS", date(2026, 10, 10))
    assert problem_code(error) == "not_a_trading_day"


def test_an_exchange_holiday_is_refused_as_a_trade_date() -> None:
    with pytest.raises(ProblemError) as error:
        settlement_date("XLON", date(2026, 12, 25))
    assert problem_code(error) == "not_a_trading_day"


@pytest.mark.parametrize("market", ["XXXX", "xnys", ""])
def test_an_unknown_market_is_refused(market: str) -> None:
    with pytest.raises(ProblemError) as error:
        settlement_date(market, date(2026, 10, 9))
    assert problem_code(error) == "unknown_market"
    with pytest.raises(ProblemError) as error:
        is_trading_day(market, date(2026, 10, 9))
    assert problem_code(error) == "unknown_market"


def test_an_unknown_asset_class_is_refused() -> None:
    with pytest.raises(ProblemError) as error:
        settlement_date("XNYS", date(2026, 10, 9), asset_class="commodity")
    assert problem_code(error) == "unknown_asset_class"


def test_a_market_without_a_rule_is_refused_with_no_settlement_rule() -> None:
    rules = tuple(rule for rule in DEFAULT_RULES if rule.market != "XMAD")
    with pytest.raises(ProblemError) as error:
        settlement_date("XMAD", date(2026, 10, 9), rules=rules)
    assert problem_code(error) == "no_settlement_rule"


def test_a_trade_before_the_first_rule_is_refused_with_no_settlement_rule() -> None:
    rules = (SettlementCycleRule("XNYS", AssetClass.EQUITY, date(2024, 5, 28), 1),)
    with pytest.raises(ProblemError) as error:
        settlement_date("XNYS", date(2024, 5, 24), rules=rules)
    assert problem_code(error) == "no_settlement_rule"


def test_configured_rules_replace_the_defaults() -> None:
    rules = (SettlementCycleRule("XNYS", AssetClass.EQUITY, date(2015, 1, 1), 3),)
    assert settlement_date("XNYS", date(2026, 10, 9), rules=rules) == date(2026, 10, 15)


def test_two_rules_for_the_same_day_that_disagree_are_refused() -> None:
    rules = (
        SettlementCycleRule("XNYS", AssetClass.EQUITY, date(2024, 5, 28), 1),
        SettlementCycleRule("XNYS", AssetClass.EQUITY, date(2024, 5, 28), 2),
    )
    with pytest.raises(ProblemError) as error:
        settlement_date("XNYS", date(2026, 10, 9), rules=rules)
    assert problem_code(error) == "conflicting_settlement_rules"


@pytest.mark.parametrize("days", [0, -1, 6])
def test_a_settlement_cycle_out_of_bounds_is_refused(days: int) -> None:
    with pytest.raises(ProblemError) as error:
        SettlementCycleRule("XNYS", AssetClass.EQUITY, date(2024, 5, 28), days)
    assert problem_code(error) == "invalid_settlement_rule"


@pytest.mark.parametrize("day", [date(2014, 12, 31), date(2032, 1, 2)])
def test_a_date_outside_the_calendars_range_is_refused(day: date) -> None:
    with pytest.raises(ProblemError) as error:
        is_trading_day("XNYS", day)
    assert problem_code(error) == "outside_calendar_range"


def test_a_trade_whose_settlement_falls_past_the_calendars_end_is_refused() -> None:
    with pytest.raises(ProblemError) as error:
        settlement_date("XNYS", date(2031, 12, 31))
    assert problem_code(error) == "outside_calendar_range"


def test_dates_from_2015_to_2030_are_covered() -> None:
    assert settlement_date("XNYS", date(2015, 1, 2)) == date(2015, 1, 7)
    assert settlement_date("XPAR", date(2030, 12, 31)) == date(2031, 1, 2)


def test_importing_the_module_builds_no_calendar() -> None:
    code = (
        "import sys, backoffice.refdata.calendars;"
        "print(sorted(m for m in ('exchange_calendars', 'holidays', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# Settlement is T+1..T+3 counted in settlement days; the longest run of closed days between
# 2015 and 2030 (Christmas to New Year, Easter) keeps any settlement within ten calendar days.
settlement_calendar_days_expected_max = 10


@given(
    market=st.sampled_from(sorted(MARKETS)),
    trade_date=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
)
def test_the_settlement_date_is_a_settlement_day_soon_after_the_trade_date(
    market: str, trade_date: date
) -> None:
    assume(is_trading_day(market, trade_date))
    settles = settlement_date(market, trade_date)
    assert is_settlement_day(market, settles)
    assert (
        trade_date < settles <= trade_date + timedelta(days=settlement_calendar_days_expected_max)
    )
    rule = settlement_rule(market, trade_date)
    between = [trade_date + timedelta(days=n) for n in range(1, (settles - trade_date).days + 1)]
    assert sum(is_settlement_day(market, day) for day in between) == rule.settlement_days
