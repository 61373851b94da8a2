"""`backoffice trades ...`: capture, allocation, confirmation, affirmation, checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from backoffice.cli.options import (
    AfterOption,
    JsonOption,
    LimitOption,
    cli_context,
    id_cursor,
    page_hint,
    print_page_json,
    required_date,
    requires,
)
from backoffice.cli.output import Listing, print_json, say, stderr
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.executions import read_executions
from backoffice.ledger.queries import list_page_default

trades_app = typer.Typer(
    help="Trades: capture, allocation, confirmation, affirmation.", no_args_is_help=True
)


@contextmanager
def _message_progress(description: str, path: Path) -> Iterator[Any]:
    """A progress bar over the file's lines on a terminal; silent otherwise."""
    try:
        with path.open("rb") as stream:
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    except OSError:
        total = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal or total < 10_000,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda advance: progress.advance(task, advance)


def _print_problems(problems: list[Problem], limit: int = 20) -> None:
    for problem in problems[:limit]:
        say(f"quarantined: {problem.describe()}")
    if len(problems) > limit:
        say(f"... and {len(problems) - limit} more problems (trades quarantine)")


@trades_app.command("import")
@requires("trades.import")
def trades_import(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="FIX logs or trades CSV files")],
    json: JsonOption = False,
) -> None:
    """Capture executions from FIX logs and CSV files (format detected per file).

    Exit status 0 when every message was captured (or was already), 1 when any was
    quarantined (see `trades quarantine`)."""
    from backoffice.trades.service import import_executions

    context = cli_context(ctx)
    store = context.store()
    results = []
    quarantined = 0
    for file in files:
        with _message_progress(f"importing {file.name}", file) as advance:
            summary = import_executions(
                store, read_executions(file), actor=context.actor, progress=advance
            )
        quarantined += summary.quarantined
        result = {
            "file": str(file),
            "messages": summary.messages,
            "captured": summary.captured,
            "blocks": summary.blocks,
            "cancelled": summary.cancelled,
            "corrected": summary.corrected,
            "existing": summary.existing,
            "quarantined": summary.quarantined,
        }
        results.append(result)
        if not json:
            _print_problems(summary.problems)
            say(
                f"{file}: {summary.messages} messages: {summary.captured} captured "
                f"({summary.blocks} blocks awaiting allocation), {summary.cancelled} cancelled, "
                f"{summary.corrected} corrected, {summary.existing} already captured, "
                f"{summary.quarantined} quarantined",
            )
    if json:
        print_json(results)
    if quarantined:
        raise typer.Exit(1)


@trades_app.command("list")
@requires("trades.read", "read")
def trades_list(
    ctx: typer.Context,
    date: Annotated[str | None, typer.Option("--date", help="trade date YYYY-MM-DD")] = None,
    allocations: Annotated[
        bool, typer.Option("--allocations", help="list allocations instead of trades")
    ] = False,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Trades (all, or of one trade date), with their figures and status, oldest first, a
    page at a time."""
    from backoffice.trades.queries import allocations_page, trades_page

    day = required_date(date, "--date") if date is not None else None
    read = allocations_page if allocations else trades_page
    page = read(cli_context(ctx).store(), day, limit=limit, after=id_cursor(after))
    rows = page.items
    if json:
        print_page_json(rows, page.next)
        return
    if allocations:
        columns = ["allocation_id", "client", "side", "quantity", "isin", "price", "net_amount", "status", "confirm_id"]  # fmt: skip
    else:
        columns = ["trade_id", "account", "side", "quantity", "isin", "price", "trade_date", "settlement_date", "net_amount", "status"]  # fmt: skip
    table = Listing(*columns)
    for row in rows:
        table.add_row(*(str(row[c] if row[c] is not None else "") for c in columns))
    table.print()
    page_hint(len(rows), page.next, "allocations" if allocations else "trades")


@trades_app.command("quarantine")
@requires("trades.read", "read")
def trades_quarantine(
    ctx: typer.Context,
    all_items: Annotated[
        bool, typer.Option("--all", help="include items already resubmitted")
    ] = False,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Messages refused by import, allocation or affirmation: raw text, file, line, reasons;
    oldest first, a page at a time."""
    from backoffice.ledger.queries import quarantined
    from backoffice.trades.service import TRADE_QUARANTINE_KINDS

    page = quarantined(
        cli_context(ctx).store(), kinds=TRADE_QUARANTINE_KINDS, include_resolved=all_items,
        limit=limit, after=id_cursor(after),
    )  # fmt: skip
    if json:
        print_page_json(page.items, page.next)
        return
    table = Listing("id", "kind", "file", "line", "problems", "raw")
    for item in page.items:
        table.add_row(
            str(item["id"]),
            item["kind"].removeprefix("trades."),
            item["file"],
            str(item["line"]),
            "; ".join(f"{p['code']}: {p['reason']}" for p in item["problems"]),
            item["raw"],
        )
    table.print()
    page_hint(len(page.items), page.next, "quarantined")


@trades_app.command("resubmit")
@requires("trades.import")
def trades_resubmit(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="the quarantine id (trades quarantine)")],
    file: Annotated[Path, typer.Argument(help="a file holding the repaired message")],
) -> None:
    """Re-submit a repaired message for a quarantined one; the item is resolved once the
    repaired message goes through."""
    from backoffice.trades.resubmission_service import resubmit_file

    context = cli_context(ctx)
    outcome = resubmit_file(context.store(), item_id, file, actor=context.actor, by=str(file))
    if not outcome.resolved:
        _print_problems(outcome.problems)
        raise ProblemError(
            Problem(
                "resubmission_refused",
                f"{file} must hold exactly the one repaired message, and it must go through "
                f"now ({outcome.received} messages, {outcome.applied} applied); item {item_id} "
                "stays quarantined",
                Source(str(file)),
            )
        )
    say(f"item {item_id} resolved: {file} went through")


@trades_app.command("allocate")
@requires("trades.allocate")
def trades_allocate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="FIX AllocationInstruction (35=J) log or CSV")],
    json: JsonOption = False,
) -> None:
    """Allocate blocks to client accounts at the block's average price, and book them."""
    from backoffice.formats.allocations import read_allocations
    from backoffice.trades.allocation_service import allocate

    context = cli_context(ctx)
    result = allocate(context.store(), read_allocations(file), actor=context.actor)
    if json:
        print_json(
            {
                "instructions": result.received,
                "allocated": result.done,
                "existing": result.existing,
                "quarantined": result.quarantined,
                "problems": [p.describe() for p in result.problems],
            }
        )
    else:
        _print_problems(result.problems)
        say(
            f"{file}: {result.received} instructions: {result.done} applied, "
            f"{result.existing} already applied, {result.quarantined} quarantined"
        )
    if result.quarantined:
        raise typer.Exit(1)


@trades_app.command("confirm")
@requires("trades.confirm")
def trades_confirm(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="trade date YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("-o", "--output", help="directory for the documents")],
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="write PDFs too")] = True,
) -> None:
    """Confirm the day's allocations: a FIX Confirmation (35=AK) log and a client document
    (HTML and PDF) per allocation."""
    from backoffice.trades.confirmation_service import confirm, write_confirmations

    context = cli_context(ctx)
    day = required_date(date, "--date")
    details = confirm(context.store(), day, actor=context.actor)
    paths = write_confirmations(details, output, day, pdf=pdf)
    say(f"{len(details)} confirmations for {day}: {len(paths)} files in {output}")


@trades_app.command("affirm")
@requires("trades.affirm")
def trades_affirm(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="FIX ConfirmationAck (35=AU) log or CSV")
    ] = None,
    confirm_id: Annotated[str | None, typer.Option("--confirm-id")] = None,
    status: Annotated[str, typer.Option("--status", help="affirmed, rejected or received")] = (
        "affirmed"
    ),
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Record affirmations from a file, or one by its confirmation id."""
    from backoffice.trades.affirmation_service import affirm, one_affirmation

    context = cli_context(ctx)
    items: Any
    if file is not None:
        from backoffice.formats.affirmations import read_affirmations

        items = read_affirmations(file)
    elif confirm_id is not None:
        items = [one_affirmation(confirm_id, status, reason, source=Source("cli"))]
    else:
        raise ProblemError(Problem("missing_argument", "give a FILE or --confirm-id"))
    result = affirm(context.store(), items, actor=context.actor)
    _print_problems(result.problems)
    say(
        f"{result.received} affirmations: {result.done} recorded, {result.existing} already, "
        f"{result.quarantined} quarantined"
    )
    if result.quarantined:
        raise typer.Exit(1)


@trades_app.command("unaffirmed")
@requires("trades.read", "read")
def trades_unaffirmed(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="trade date YYYY-MM-DD")],
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """What is not affirmed by the end of trade date (SEC Rule 15c6-2), a page at a time."""
    from backoffice.trades.queries import unaffirmed_page

    day = required_date(date, "--date")
    page = unaffirmed_page(cli_context(ctx).store(), day, limit=limit, after=after)
    rows = page.items
    if json:
        print_page_json(rows, page.next)
        return
    columns = ["kind", "id", "confirm_id", "client", "side", "quantity", "isin", "status", "reason"]
    table = Listing(*columns)
    for row in rows:
        table.add_row(*(str(row[c] if row[c] is not None else "") for c in columns))
    table.print()
    page_hint(len(rows), page.next, f"not affirmed on {date}")


@trades_app.command("verify")
@requires("trades.read", "read")
def trades_verify(ctx: typer.Context) -> None:
    """Prove the books tie out to the trades; exit 1 naming every difference."""
    from backoffice.trades.verify import verify_trades

    problems = verify_trades(cli_context(ctx).store())
    if problems:
        raise ProblemError(*problems)
    say("trades verified: every allocation is booked exactly once, as its figures say")
