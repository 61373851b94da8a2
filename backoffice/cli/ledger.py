"""`backoffice ledger ...`: posting, balances, verification, pending entries, listings, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from backoffice.cli.options import (
    AfterOption,
    LimitOption,
    cli_context,
    id_cursor,
    optional_date,
    page_hint,
    print_page_json,
    requires,
)
from backoffice.cli.output import Listing, byte_progress, print_json, say
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_default

ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)


@ledger_app.command("post")
@requires("ledger.post")
def ledger_post(
    ctx: typer.Context,
    file: Path,
    json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Post the entries of a JSONL file. Exit status 0 only when no line failed; 3 when an
    approval policy makes the file wait for a second person."""
    from backoffice.admin.approval_service import Parked
    from backoffice.cli.approvals import AWAITING_APPROVAL_EXIT
    from backoffice.ledger.entry_approval_service import submit_entries

    context = cli_context(ctx)
    store = context.store()
    size = file.stat().st_size if file.exists() else 0
    with byte_progress(f"posting {file.name}", size) as advance:
        result = submit_entries(store, context.principal(), file, progress=advance)
    if isinstance(result, Parked):
        if json:
            print_json(result.as_json())
        say(f"{file}: an entry waits for approval; awaiting approval {result.approval_id}")
        raise typer.Exit(AWAITING_APPROVAL_EXIT)
    errors = [
        {
            "line": line,
            "key": key,
            "error": problem.describe(),
            "code": problem.code,
            "field": problem.source.field,
        }
        for line, key, problem in result.failures
    ]
    if json:
        print_json(
            {
                "created": result.created,
                "existing": result.existing,
                "failed": result.failed,
                "errors": errors,
            }
        )
    else:
        for error in errors:
            say(str(error["error"]))
        say(f"{file}: {result.created} created, {result.existing} existing, {result.failed} failed")
    if result.failed:
        raise typer.Exit(1)


@ledger_app.command("balances")
@requires("ledger.read", "read")
def ledger_balances(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="one account code")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, inclusive")] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Account balances (debit-positive), now or as of the end of a date."""
    from backoffice.ledger.reports import balances
    from backoffice.money import format_amount

    lines = balances(
        cli_context(ctx).store(), account=account, as_of=optional_date(as_of, "--as-of")
    )
    if json:
        print_json(
            [
                {
                    "account": line.account,
                    "asset": line.asset,
                    "balance": format_amount(line.balance.posted_minor, line.scale),
                }
                for line in lines
            ]
        )
        return
    table = Listing(
        "account", "asset", "balance", "debits", "credits", "pending",
        amounts=("balance", "debits", "credits", "pending"),
    )  # fmt: skip
    for line in lines:
        b, scale = line.balance, line.scale
        table.add_row(
            line.account,
            line.asset,
            format_amount(b.posted_minor, scale),
            format_amount(b.debits_posted, scale),
            format_amount(b.credits_posted, scale),
            format_amount(b.pending_minor, scale),
        )
    table.print()


@ledger_app.command("trial-balance")
@requires("ledger.read", "read")
def ledger_trial_balance(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, inclusive")] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Per asset: debit balances, credit balances and their net (always zero)."""
    from backoffice.ledger.reports import trial_balance

    lines = trial_balance(cli_context(ctx).store(), as_of=optional_date(as_of, "--as-of"))
    print_trial_balance(lines, json)


def print_trial_balance(lines: Any, json: bool) -> None:
    from backoffice.money import format_amount

    rows = [
        {
            "asset": line.asset,
            "debits": format_amount(line.debits_minor, line.scale),
            "credits": format_amount(line.credits_minor, line.scale),
            "net": format_amount(line.net_minor, line.scale),
        }
        for line in lines
    ]
    if json:
        print_json(rows)
        return
    table = Listing(
        "asset", "debits", "credits", "net", title="Trial balance",
        amounts=("debits", "credits", "net"),
    )  # fmt: skip
    for row in rows:
        table.add_row(row["asset"], row["debits"], row["credits"], row["net"])
    table.print()


@ledger_app.command("verify")
@requires("ledger.read", "read")
def ledger_verify(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Recompute every balance, zero sum and hash link from the postings; exit 1 if any is wrong."""
    from backoffice.ledger.verify import verify_ledger

    problems = verify_ledger(cli_context(ctx).store())
    if json:
        print_json(
            {
                "ok": not problems,
                "problems": [{"code": p.code, "reason": p.reason} for p in problems],
            }
        )
    else:
        for problem in problems:
            say(problem.describe())
        say(
            "ledger verified: every entry balances, the chain holds, every balance "
            "equals its postings"
            if not problems
            else f"{len(problems)} problems found"
        )
    if problems:
        raise typer.Exit(1)


def _resolution(
    ctx: typer.Context,
    key: str,
    date: str | None,
    *,
    reverse: str | None = None,
    post_pending: str | None = None,
    void_pending: str | None = None,
) -> None:
    from backoffice.admin.approval_service import Parked
    from backoffice.cli.approvals import AWAITING_APPROVAL_EXIT
    from backoffice.ledger.resolution_service import resolve_entry

    context = cli_context(ctx)
    result = resolve_entry(
        context.store(), context.principal(), key, optional_date(date, "--date"),
        reverse=reverse, post_pending=post_pending, void_pending=void_pending,
    )  # fmt: skip
    if isinstance(result, Parked):
        say(f"{key}: waits for approval; awaiting approval {result.approval_id}")
        raise typer.Exit(AWAITING_APPROVAL_EXIT)
    say(f"{key}: {result.outcome.value} (entry {result.entry_id})")


@ledger_app.command("reverse")
@requires("ledger.reverse")
def ledger_reverse(
    ctx: typer.Context,
    entry_key: Annotated[str, typer.Argument(help="key of the entry to reverse")],
    key: Annotated[str, typer.Option("--key", help="idempotency key of the reversal")],
    date: Annotated[
        str | None, typer.Option("--date", help="effective date; default the original's")
    ] = None,
) -> None:
    """Correct a posted entry by a reversal entry linked to it. Under a `ledger.reverse`
    approval policy it waits for a second person (exit status 3, `awaiting approval N`)."""
    _resolution(ctx, key, date, reverse=entry_key)


@ledger_app.command("post-pending")
@requires("ledger.pending")
def ledger_post_pending(
    ctx: typer.Context,
    pending_key: Annotated[str, typer.Argument(help="key of the pending entry")],
    key: Annotated[str, typer.Option("--key", help="idempotency key of the posting")],
    date: Annotated[
        str | None, typer.Option("--date", help="effective date; default the pending's")
    ] = None,
) -> None:
    """Post a pending (two-phase) entry."""
    _resolution(ctx, key, date, post_pending=pending_key)


@ledger_app.command("void-pending")
@requires("ledger.pending")
def ledger_void_pending(
    ctx: typer.Context,
    pending_key: Annotated[str, typer.Argument(help="key of the pending entry")],
    key: Annotated[str, typer.Option("--key", help="idempotency key of the void")],
) -> None:
    """Void a pending (two-phase) entry, releasing what it reserved."""
    _resolution(ctx, key, None, void_pending=pending_key)


@ledger_app.command("expire-pending")
@requires("ledger.pending")
def ledger_expire_pending(ctx: typer.Context) -> None:
    """Void every pending entry whose timeout has passed."""
    from backoffice.ledger.service import expire_pending

    context = cli_context(ctx)
    count = expire_pending(context.store(), actor=context.actor)
    say(f"{count} pending entries expired")


@ledger_app.command("quarantine")
@requires("ledger.read", "read")
def ledger_quarantine(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Input lines that were refused, with their raw text, file, line and reasons, oldest
    first, a page at a time."""
    from backoffice.ledger.queries import quarantined

    page = quarantined(cli_context(ctx).store(), limit=limit, after=id_cursor(after))
    if json:
        print_page_json(page.items, page.next)
        return
    table = Listing("id", "file", "line", "problems", "raw")
    for item in page.items:
        table.add_row(
            str(item["id"]),
            item["file"],
            str(item["line"]),
            "; ".join(f"{p['code']}: {p['reason']}" for p in item["problems"]),
            item["raw"],
        )
    table.print()
    page_hint(len(page.items), page.next, "quarantined")


@ledger_app.command("entries")
@requires("ledger.read", "read")
def ledger_entries(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The journal entries with their postings, newest first, a page at a time."""
    from backoffice.ledger.queries import recent_entries

    page = recent_entries(cli_context(ctx).store(), limit=limit, before=id_cursor(after))
    if json:
        print_page_json(page.items, page.next)
        return
    table = Listing("id", "key", "kind", "date", "description", "postings")
    for entry in page.items:
        table.add_row(
            str(entry["id"]),
            entry["key"],
            entry["kind"],
            entry["date"],
            entry["description"],
            [f"{p['account']} {p['amount']}" for p in entry["postings"]],
        )
    table.print()
    page_hint(len(page.items), page.next, "entries")


@ledger_app.command("export")
@requires("ledger.export", "audited-read")
def ledger_export(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="beancount, csv or parquet")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file; default stdout (text formats)")
    ] = None,
) -> None:
    """Export the posted entries as Beancount, CSV (one row per posting) or Parquet."""
    from backoffice.ledger.export import export_ledger

    if format not in ("beancount", "csv", "parquet"):
        raise ProblemError(
            Problem("invalid_argument", "--format must be beancount, csv or parquet")
        )
    if format == "parquet" and output is None:
        raise ProblemError(Problem("invalid_argument", "parquet needs -o FILE"))
    count = export_ledger(cli_context(ctx).store(), format, output)
    say(f"exported {count} entries" + (f" to {output}" if output else ""))
