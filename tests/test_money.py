from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import Problem
from backoffice.money import amount_minor_max, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "scale", "minor"),
    [("1902.50", 2, 190250), ("-1902.5", 2, -190250), ("0", 2, 0), ("7", 0, 7), ("0.000001", 6, 1)],
)
def test_a_plain_decimal_string_becomes_exact_minor_units(
    text: str, scale: int, minor: int
) -> None:
    assert parse_amount(text, scale) == minor


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1902.5, "amount_not_a_string"),
        (10, "amount_not_a_string"),
        (None, "amount_not_a_string"),
        ("1e3", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("+5", "invalid_amount"),
        (" 5", "invalid_amount"),
        ("5.", "invalid_amount"),
        (".5", "invalid_amount"),
        ("1,000.00", "invalid_amount"),
        ("١٢", "invalid_amount"),
        ("1.005", "too_many_decimals"),
        ("1.000", "too_many_decimals"),
        ("9" * 39, "amount_out_of_range"),
        ("9" * 41, "invalid_amount"),
    ],
)
def test_anything_but_a_plain_decimal_within_scale_is_refused_with_a_named_code(
    value: object, code: str
) -> None:
    result = parse_amount(value, 2)
    assert isinstance(result, Problem)
    assert result.code == code


def test_the_limit_per_posting_is_accepted_and_one_more_is_not() -> None:
    assert parse_amount(str(amount_minor_max), 0) == amount_minor_max
    assert isinstance(parse_amount(str(amount_minor_max + 1), 0), Problem)


@given(st.integers(min_value=-amount_minor_max, max_value=amount_minor_max), st.integers(0, 12))
def test_formatting_then_parsing_gives_back_the_same_minor_units(minor: int, scale: int) -> None:
    assert parse_amount(format_amount(minor, scale), scale) == minor


@pytest.mark.parametrize(
    ("text", "scale", "minor"),
    [("1000.0", 0, 1000), ("1000.00", 0, 1000), ("18.150", 2, 1815), ("-0.000", 0, 0)],
)
def test_zeros_past_the_scale_are_exact_when_a_bank_writes_them(
    text: str, scale: int, minor: int
) -> None:
    # Banks pad to their own number of decimals: a JPY "1000,00", an EUR "18,150".
    assert parse_amount(text, scale, trailing_zeros=True) == minor


@pytest.mark.parametrize(("text", "scale"), [("1000.5", 0), ("18.151", 2), ("0.0001", 3)])
def test_a_non_zero_digit_past_the_scale_is_still_refused(text: str, scale: int) -> None:
    result = parse_amount(text, scale, trailing_zeros=True)
    assert isinstance(result, Problem)
    assert result.code == "too_many_decimals"
    assert f"{scale}" in result.reason


def test_zeros_past_the_scale_stay_refused_unless_asked_for() -> None:
    # The ledger's own postings keep the strict rule its fast path relies on.
    assert isinstance(parse_amount("1.000", 2), Problem)


@given(
    st.integers(min_value=-amount_minor_max, max_value=amount_minor_max),
    st.integers(0, 12),
    st.integers(1, 6),
)
def test_padding_an_amount_with_zeros_never_changes_its_minor_units(
    minor: int, scale: int, zeros: int
) -> None:
    text = format_amount(minor, scale)
    padded = text + ("" if "." in text else ".") + "0" * zeros
    assert parse_amount(padded, scale, trailing_zeros=True) == minor
