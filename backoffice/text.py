"""Free text that every store holds the same way and every terminal shows as written.

One rule for every free-text field of every command (descriptions, references, owners,
comments, actors, names): printable characters only (tab allowed), valid Unicode, no NUL, and
at most a named number of characters. Control characters are refused at input because a
stored ESC or CR rewrites the screen of whoever lists it later (`ledger entries | less`).
"""

from __future__ import annotations

import re

from backoffice.errors import Problem, Source

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
