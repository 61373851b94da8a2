"""Keyset pages over the API: a page size within the named maximum and an opaque cursor."""

from __future__ import annotations

from fastapi import Query

from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_default

Limit = Query(default=list_page_default, ge=1)


def id_cursor(after: str | None) -> int | None:
    """The cursor of a list ordered by a numeric id (as the `next` of the page before)."""
    if after is None:
        return None
    if not after.isdigit():
        raise ProblemError(Problem("invalid_cursor", f"after={after!r} is not a cursor of ours"))
    return int(after)
