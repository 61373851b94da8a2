"""`backoffice recon ...`: statements in, matching, breaks and their resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from backoffice.cli.approvals import AWAITING_APPROVAL_EXIT, describe_decision
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
from backoffice.cli.output import Listing, print_json, say
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_default

recon_app = typer.Typer(
    help="Reconciliation: statements, matching, breaks, corrections.", no_args_is_help=True
)
resolve_app = typer.Typer(help="Resolve breaks: match by hand, or correct under maker-checker.")
recon_app.add_typer(resolve_app, name="resolve")


@recon_app.command("import")
@requires("recon.import")
def recon_import(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="camt.053, MT940/950, CSV; semt.002, MT535")],
    json: JsonOption = False,
) -> None:
    """Import bank statements and custodian holdings (format detected; all or nothing per
    file). A statement imported twice is recognised and not doubled. A file refused (invalid,
    unknown account, changed since its first import) goes to the quarantine with every
    reason (`recon quarantine`); the other files go on, and the exit code is 1."""
    from backoffice.recon.statement_file_service import import_statement_file

    context = cli_context(ctx)
    results: list[dict[str, Any]] = []
    refused = 0
    for file in files:
        imported = import_statement_file(context.store(), file, actor=context.actor)
        refused += 1 if imported.problems else 0
        if not json:
            for problem in imported.problems:
                say(f"quarantined: {problem.describe()}")
            if not imported.problems:
                say(_imported(imported.row))
        results.append(imported.row)
    if json:
        print_json(results)
    if refused:
        raise typer.Exit(1)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _imported(row: dict[str, Any]) -> str:
    """One file's import as a sentence for a person."""
    if "positions" in row:
        return (
            f"Imported {_plural(row['holdings_statements'], 'holdings statement')} "
            f"({_plural(row['positions'], 'position')}) from {row['file']}."
        )
    sentence = (
        f"Imported {_plural(row['statements'], 'statement')} "
        f"({_plural(row['lines'], 'line')}) from {row['file']}"
    )
    if row["existing"]:
        sentence += f"; {row['existing']} already imported"
    if row["balance_breaks"]:
        sentence += (
            f"; {_plural(len(row['balance_breaks']), 'balance break')} "
            "(the balances do not follow from the lines: recon breaks)"
        )
    return sentence + "."


@recon_app.command("quarantine")
@requires("recon.read", "read")
def recon_quarantine(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Statement and holdings files refused: file, every reason, and the text; oldest first,
    a page at a time."""
    from backoffice.ledger.queries import quarantined
    from backoffice.recon.statement_file_service import QUARANTINE_KIND

    page = quarantined(
        cli_context(ctx).store(), kinds=(QUARANTINE_KIND,), limit=limit, after=id_cursor(after)
    )
    rows: list[dict[str, Any]] = [
        {key: item[key] for key in ("id", "file", "problems", "raw")} for item in page.items
    ]
    if json:
        print_page_json(rows, page.next)
        return
    table = Listing("id", "file", "problems")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["file"],
            "; ".join(f"{p['code']}: {p['reason']}" for p in row["problems"]),
        )
    table.print()
    page_hint(len(rows), page.next, "quarantined")


@recon_app.command("statements")
@requires("recon.read", "read")
def recon_statements(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Imported bank statements with their balances and lines, oldest first, a page at a
    time."""
    from backoffice.recon.queries import statements_page

    page = statements_page(cli_context(ctx).store(), limit=limit, after=id_cursor(after))
    rows = page.items
    if json:
        print_page_json(rows, page.next)
        return
    table = Listing("statement_id", "account", "format", "currency", "opening", "closing", "lines")
    for row in rows:
        table.add_row(
            row["statement_id"], row["account"], row["format"], row["currency"],
            row["opening_balance"] or "none given", row["closing_balance"], str(len(row["lines"])),
        )  # fmt: skip
    table.print()
    page_hint(len(rows), page.next, "statements")


@recon_app.command("run")
@requires("recon.run")
def recon_run(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="reconcile up to this value date")],
    account: Annotated[str | None, typer.Option("--account", help="one ledger account")] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="YAML: matching rules, default and per account")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Match statements against the books (and custodian holdings against positions); what is
    left becomes breaks."""
    from backoffice.formats.recon_rules import read_recon_rules
    from backoffice.recon.run_service import reconcile

    context = cli_context(ctx)
    day = required_date(date, "--date")
    default, per_account = read_recon_rules(rules) if rules is not None else (None, None)
    result, positions = reconcile(
        context.store(),
        day,
        actor=context.actor,
        account=account,
        rules=default,
        account_rules=per_account,
    )
    breaks = result.breaks + positions
    if json:
        print_json({"matched": result.matched, "breaks": breaks, "closed": result.closed})
        return
    table = Listing("break_id", "type", "account", "amount", "value_date", "reference")
    for row in breaks:
        table.add_row(
            *(
                str(row[c] or "")
                for c in ("break_id", "type", "account", "amount", "value_date", "reference")
            )
        )
    table.print()
    say(f"{result.matched} matches, {len(breaks)} breaks, {result.closed} earlier breaks cleared")


@recon_app.command("breaks")
@requires("recon.read", "read")
def recon_breaks(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="open, investigating, resolved")
    ] = None,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Breaks with their type, age, owner, status and history, in the order they were
    filed, a page at a time."""
    from backoffice.recon.queries import breaks_page

    page = breaks_page(cli_context(ctx).store(), status=status, limit=limit, after=id_cursor(after))
    rows = page.items
    if json:
        print_page_json(rows, page.next)
        return
    columns = [
        "break_id",
        "type",
        "account",
        "amount",
        "value_date",
        "reference",
        "status",
        "owner",
        "age_days",
    ]
    table = Listing(*columns, amounts=("amount",))
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    table.print()
    page_hint(len(rows), page.next, "breaks")


@recon_app.command("break")
@requires("recon.break.update")
def recon_break(
    ctx: typer.Context,
    break_id: str,
    owner: Annotated[str | None, typer.Option("--owner", help="assign to")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open or investigating")] = None,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
) -> None:
    """Assign a break, move it to investigating, comment on it."""
    from backoffice.recon.break_service import update_break

    context = cli_context(ctx)
    update_break(
        context.store(), break_id, actor=context.actor, owner=owner, status=status, comment=comment
    )
    say(f"break {break_id} updated")


@resolve_app.command("match")
@requires("recon.match")
def resolve_match(ctx: typer.Context, statement_break: str, books_break: str) -> None:
    """Match a statement-side break with a books-side break by hand."""
    from backoffice.recon.break_service import manual_match

    context = cli_context(ctx)
    manual_match(context.store(), statement_break, books_break, actor=context.actor)
    say(f"{statement_break} and {books_break} matched by hand")


@resolve_app.command("propose")
@requires("recon.correction.propose")
def resolve_propose(
    ctx: typer.Context,
    break_id: str,
    posting: Annotated[list[str], typer.Option("--posting", help="ACCOUNT=AMOUNT (repeat)")],
    description: Annotated[str, typer.Option("--description")],
    json: JsonOption = False,
) -> None:
    """Propose a correcting ledger entry for a break: it waits for another person's approval
    (exit status 3, `awaiting approval N`)."""
    from backoffice.recon.correction_service import submit_correction

    postings = []
    for text in posting:
        account, equals, amount = text.rpartition("=")
        if not equals or not account:
            raise ProblemError(
                Problem("invalid_posting", f"--posting {text!r} is not ACCOUNT=AMOUNT")
            )
        postings.append((account, amount))
    context = cli_context(ctx)
    number, parked = submit_correction(
        context.store(), context.principal(), break_id, postings, description=description
    )
    if json:
        print_json({"correction_id": number, **parked.as_json()})
    else:
        say(
            f"Correction {number} proposed by {context.actor} for break {break_id}; another "
            f"person approves it (recon resolve approve {number}) or rejects it."
        )
        say(f"awaiting approval {parked.approval_id}")
    raise typer.Exit(AWAITING_APPROVAL_EXIT)


@resolve_app.command("approve")
@requires("approvals.decide")
def resolve_approve(ctx: typer.Context, correction_id: int) -> None:
    """Approve a proposed correction (a shortcut for `approvals approve`): once approved by
    as many people as its policy says, the entry is posted and the break resolved."""
    say(_decide_correction(ctx, correction_id, approve=True, reason=""))


@resolve_app.command("reject")
@requires("approvals.decide")
def resolve_reject(
    ctx: typer.Context,
    correction_id: int,
    reason: Annotated[str, typer.Option("--reason", help="why")] = "rejected",
) -> None:
    """Reject a proposed correction (a shortcut for `approvals reject`)."""
    say(_decide_correction(ctx, correction_id, approve=False, reason=reason))


def _decide_correction(
    ctx: typer.Context, correction_id: int, *, approve: bool, reason: str
) -> str:
    from backoffice.admin.approval_service import decide, waiting_for

    context = cli_context(ctx)
    store = context.store()
    with store.read() as connection:
        approval_id = waiting_for(connection, "recon.correction", f"correction {correction_id}")
    if approval_id is None:
        raise ProblemError(
            Problem(
                "unknown_correction",
                f"correction {correction_id} is not waiting for approval (unknown or decided; "
                "see `approvals list --status all`)",
            )
        )
    decision = decide(store, context.principal(), approval_id, approve=approve, reason=reason)
    return describe_decision(f"correction {correction_id}", decision)
