"""Exact amounts: integers in an asset's minor unit inside, decimal strings at the edges.

Input amounts are plain decimal strings `-?digits[.digits]`. A JSON number, exponent notation,
NaN, Infinity, a leading `+`, spaces or more decimals than the asset's scale are refused: a
float has already lost the exact value, and a silent rounding would make the books wrong.
Zeros past the scale are exact; a reader of files written by others (a bank's JPY "1000,00",
EUR "18,150") accepts them with `trailing_zeros=True`. The ledger's postings do not: their
fast path counts decimals and leaves anything longer to this function to name the problem.
"""

from __future__ import annotations

import re

from backoffice.errors import Problem

amount_chars_max = 40
# A posting is bounded well inside a signed 64-bit integer; an account's running totals are
# checked separately before each write (SQLite would silently turn an overflow into a float).
amount_minor_max = 10**15
scale_max = 12

DECIMAL_PATTERN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
POWERS_OF_TEN = tuple(10**scale for scale in range(scale_max + 1))


def parse_amount(text: object, scale: int, *, trailing_zeros: bool = False) -> int | Problem:
    """Parse a decimal string into an integer count of minor units of an asset of `scale`.

    `trailing_zeros`: decimals past the scale are accepted when they are all zeros (exact);
    a non-zero one is `too_many_decimals` either way.
    """
    if type(text) is not str:
        kind = "JSON number" if isinstance(text, int | float) else type(text).__name__
        return Problem("amount_not_a_string", f"amount must be a decimal string, got a {kind}")
    if len(text) > amount_chars_max:
        return Problem("invalid_amount", f"amount is longer than {amount_chars_max} characters")
    match = DECIMAL_PATTERN.fullmatch(text)
    if match is None:
        return Problem(
            "invalid_amount", f"amount {text!r} is not a plain decimal -?digits[.digits]"
        )
    sign, whole, fraction = match.groups()
    if fraction is not None and trailing_zeros and len(fraction) > scale:
        if fraction[scale:].strip("0"):
            return Problem(
                "too_many_decimals",
                f"amount {text!r} has a non-zero decimal past the asset's {scale}",
            )
        fraction = fraction[:scale] or None
    minor: int
    if fraction is None:
        minor = int(whole) * POWERS_OF_TEN[scale]
    elif len(fraction) > scale:
        return Problem(
            "too_many_decimals",
            f"amount {text!r} has {len(fraction)} decimals; the asset allows {scale}",
        )
    else:
        minor = int(whole + fraction) * POWERS_OF_TEN[scale - len(fraction)]
    if minor > amount_minor_max:
        return Problem("amount_out_of_range", f"amount {text!r} exceeds the limit per posting")
    return -minor if sign else minor


def format_amount(minor: int, scale: int) -> str:
    """Format minor units as a plain decimal string with exactly `scale` decimals."""
    if scale == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**scale)
    return f"{sign}{whole}.{fraction:0{scale}d}"


def plain_number(integer: str, fraction: str | None) -> str:
    """Digits as a plain decimal string with a dot and no leading zeros: ("0100", "") -> "100"."""
    whole = integer.lstrip("0") or "0"
    return f"{whole}.{fraction}" if fraction else whole


def is_zero(number: str) -> bool:
    """Whether a plain decimal string ("0.00", "000") is zero."""
    return not number.replace(".", "").strip("0")
