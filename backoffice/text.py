"""Free text that every store holds the same way and every terminal shows as written.

One rule for every free-text field of every command (descriptions, references, owners,
comments, actors, names): printable characters only (tab allowed), valid Unicode, no NUL, and
at most a named number of characters. Control characters are refused at input because a
stored ESC or CR rewrites the screen of whoever lists it later (`ledger entries | less`).
"""

from __future__ import annotations

import re

from backoffice.errors import Problem, ProblemError, Source

# C0 controls except tab, DEL and the C1 controls (0x9b is a one-byte CSI on some terminals),
# and the Unicode line and paragraph separators, which split a line as LF does.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored and shown alike everywhere, or None when it can."""
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both stores alike.
        return "contains a NUL character"
    control = _CONTROL.search(value)
    if control is not None:
        return (
            f"contains the control character U+{ord(control.group()):04X} at position "
            f"{control.start() + 1}; only printable text and tabs are allowed"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (a lone surrogate)"
    return None


def free_text_problem(value: str, field: str, chars_max: int) -> Problem | None:
    """The one validation of a free-text field: `invalid_text` or `text_too_long`, naming it."""
    reason = text_problem(value)
    if reason is not None:
        return Problem("invalid_text", f"{field} {reason}", Source(field=field))
    if len(value) > chars_max:
        return Problem(
            "text_too_long", f"{field} is over {chars_max} characters", Source(field=field)
        )
    return None


# The limits of the free text people type into commands, by name (the store's columns hold them).
actor_chars_max = 200
owner_chars_max = 200
comment_chars_max = 2_000


def require_free_text(**fields: tuple[str | None, int]) -> None:
    """Refuse, with every problem named, any of `fields` (name=(value, chars_max)) that is not
    free text; a None value is absent and passes."""
    problems = [
        problem
        for name, (value, chars_max) in fields.items()
        if value is not None and (problem := free_text_problem(value, name, chars_max)) is not None
    ]
    if problems:
        raise ProblemError(*problems)
