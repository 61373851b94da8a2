"""What every command group shares: the context, `--json`, dates given as options, pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from backoffice.cli.output import print_json, say
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_max

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def cli_context(ctx: typer.Context) -> Any:
    """The root command's context (database, actor); `backoffice.cli.main.Context`."""
    from backoffice.cli.main import _context as context

    return context(ctx)


def optional_date(text: str | None, option: str) -> dt.date | None:
    return None if text is None else required_date(text, option)


def required_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            Problem("invalid_date", f"{option} {text!r} is not a YYYY-MM-DD date")
        ) from None


# Listings: one bounded page at a time (backoffice/ledger/queries.py `Page`).
LimitOption = Annotated[
    int,
    typer.Option(
        "--limit", min=1, max=list_page_max, help=f"at most this many (<= {list_page_max})"
    ),
]
AfterOption = Annotated[
    str | None, typer.Option("--after", help="the cursor a page before printed, for the next page")
]


def id_cursor(text: str | None) -> int | None:
    """`--after` of a listing keyed by id: the id of the last item of the page before."""
    if text is None:
        return None
    if not text.isdigit():
        raise ProblemError(
            Problem("invalid_argument", f"--after {text!r} is not a cursor a listing printed")
        )
    return int(text)


def print_page_json(items: list[Any], next_cursor: str | None) -> None:
    """A page as JSON: `{"items": [...], "next": the cursor of the next page, or null}`."""
    print_json({"items": items, "next": next_cursor})


def page_hint(count: int, next_cursor: str | None, noun: str) -> None:
    """After the table: how many were shown, and how to see the next page."""
    more = f"; more with --after {next_cursor}" if next_cursor is not None else ""
    say(f"{count} {noun}{more}")
