"""`backoffice audit`: the audit trail, read a page at a time, and its hash chain verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backoffice.cli.options import (
    AfterOption,
    JsonOption,
    LimitOption,
    cli_context,
    id_cursor,
    optional_date,
    page_hint,
    print_page_json,
    required_date,
    requires,
)
from backoffice.cli.output import Listing, say
from backoffice.errors import ProblemError
from backoffice.ledger.queries import list_page_default

audit_app = typer.Typer(help="The audit trail: who did what, when.", no_args_is_help=True)


@audit_app.command("list")
@requires("audit.read", "read")
def audit_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="who acted (login)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="from this UTC day")] = None,
    until: Annotated[str | None, typer.Option("--until", help="to this UTC day, included")] = None,
    permission: Annotated[
        str | None, typer.Option("--permission", help="a permission code, e.g. ledger.post")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="ok, failed, forbidden, refused, awaiting_approval..."),
    ] = None,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Audit events, oldest first, a page at a time."""
    from backoffice.store.audit_queries import AuditFilter, audit_page

    where = AuditFilter(
        user, permission, outcome, optional_date(since, "--since"), optional_date(until, "--until")
    )
    page = audit_page(cli_context(ctx).store(), limit=limit, after=id_cursor(after), where=where)
    if json:
        print_page_json(page.items, page.next)
        return
    table = Listing("id", "at", "actor", "command", "permission", "outcome", "hash")
    for event in page.items:
        table.add_row(
            str(event["id"]), event["at"], event["actor"], event["command"],
            event["permission"] or "", event["outcome"] or "", (event["hash"] or "")[:16],
        )  # fmt: skip
    table.print()
    page_hint(len(page.items), page.next, "events")


@audit_app.command("verify")
@requires("audit.read", "read")
def audit_verify(ctx: typer.Context) -> None:
    """Recompute the audit trail's hash chain; exit 1 naming the first event changed, removed
    or inserted behind Backoffice's back."""
    from backoffice.store.audit_queries import verify_audit

    report = verify_audit(cli_context(ctx).store())
    if report.problems:
        raise ProblemError(*report.problems)
    say(f"audit verified: {report.events} events, chain head {report.head_hash[:16]}")


@audit_app.command("export")
@requires("audit.export", "audited-read")
def audit_export(
    ctx: typer.Context,
    from_day: Annotated[str, typer.Option("--from", help="first UTC day, included")],
    to_day: Annotated[str, typer.Option("--to", help="last UTC day, included")],
    output: Annotated[Path, typer.Option("-o", "--output", help="a directory to write to")],
) -> None:
    """The events of the period as JSONL with a manifest (count, first and last sequence,
    the chain head, SHA-256 of each file), checkable without Backoffice."""
    from backoffice.admin.audit_export_service import export_audit

    store = cli_context(ctx).store()
    since, until = required_date(from_day, "--from"), required_date(to_day, "--to")
    manifest = export_audit(store, since, until, output)
    say(
        f"{manifest['count']} events ({manifest['first_id']}..{manifest['last_id']}) written to "
        f"{output} with manifest.json"
    )
