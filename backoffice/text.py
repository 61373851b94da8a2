"""Text that every store can hold the same way."""

from __future__ import annotations


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored alike on every database, or None when it can."""
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both stores alike.
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (a lone surrogate)"
    return None
