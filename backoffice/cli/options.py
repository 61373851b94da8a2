"""What every command group shares: the context, `--json`, dates given as options."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from backoffice.errors import Problem, ProblemError

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def cli_context(ctx: typer.Context) -> Any:
    """The root command's context (database, actor); `backoffice.cli.main.Context`."""
    from backoffice.cli.main import _context as context

    return context(ctx)


def required_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            Problem("invalid_date", f"{option} {text!r} is not a YYYY-MM-DD date")
        ) from None
