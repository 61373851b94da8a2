"""What every command group shares: the context, `--json`, dates given as options, pages."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from backoffice.cli.output import print_json, say
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_max

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def cli_context(ctx: typer.Context) -> Any:
    """The root command's context (database, actor); `backoffice.cli.main.Context`."""
    from backoffice.cli.main import _context as context

    return context(ctx)


Command = TypeVar("Command", bound=Callable[..., Any])
_SECRET_OPTIONS = frozenset({"password", "token"})


def requires(
    permission: str, access: str = "write", *, migrate: bool = True
) -> Callable[[Command], Command]:
    """The command runs through the command layer under `permission`: as the authenticated
    user, refused when their roles lack it, audited (`backoffice.commands.invocation`).
    Put it under `@app.command(...)`; tests/test_permissions.py checks every command has it."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from backoffice.commands.invocation import Access, invoke

            ctx: Any = kwargs.get("ctx", args[0] if args else None)
            # typer passes its own (vendored) click's Context: known by what it does.
            if not hasattr(ctx, "find_root") or not hasattr(ctx, "info_name"):
                raise ProblemError(Problem("internal", "a command needs its typer.Context"))
            context = cli_context(ctx)
            name = _command_name(ctx)
            with invoke(
                context.store(migrate=migrate),
                context.principal(),
                name,
                permission,
                access=Access(access),
                request=_request(kwargs),
            ):
                return command(*args, **kwargs)

        run.permission = permission  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def _command_name(ctx: Any) -> str:
    """`ledger.post`: the command's words below the root, whatever the program is called,
    spelt as the services name their audit events."""
    words: list[str] = []
    while ctx.parent is not None:
        words.insert(0, str(ctx.info_name))
        ctx = ctx.parent
    return ".".join(words)


def _request(arguments: dict[str, Any]) -> dict[str, Any]:
    """The command's arguments as given, for its audit event (secrets never)."""
    return {
        name: _plain(value)
        for name, value in arguments.items()
        if name != "ctx" and value is not None and name not in _SECRET_OPTIONS
    }


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return value if isinstance(value, str | int | bool) else str(value)


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
