"""`backoffice approvals`: commands waiting for a second person, and their decision."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backoffice.cli.options import (
    AfterOption,
    JsonOption,
    LimitOption,
    cli_context,
    id_cursor,
    page_hint,
    print_page_json,
    requires,
)
from backoffice.cli.output import Listing, print_json, say
from backoffice.ledger.queries import list_page_default

approvals_app = typer.Typer(
    help="Four-eyes approval: commands waiting for a second person.", no_args_is_help=True
)
result_chars_shown = 300  # `approvals show --json` gives all of it
AWAITING_APPROVAL_EXIT = 3  # a command parked for approval: not a failure, not done either


def describe_decision(what: str, decision: Any) -> str:
    status = decision.status.value
    if status == "awaiting":
        return (
            f"{what}: approval {decision.approval_id} recorded ({decision.approvals} of "
            f"{decision.approvers_required}); it waits for another approver"
        )
    import orjson

    result = orjson.dumps(decision.result).decode() if decision.result else ""
    shown = f": {result[:result_chars_shown]}" if result else ""
    return f"{what}: approval {decision.approval_id} {status}{shown}"


@approvals_app.command("list")
@requires("approvals.read", "read")
def approvals_list(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="the ones I made")] = False,
    for_me: Annotated[bool, typer.Option("--for-me", help="the ones I may decide")] = False,
    status: Annotated[
        str, typer.Option("--status", help="awaiting, approved, rejected or all")
    ] = "awaiting",
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Approvals oldest first (waiting ones unless --status says otherwise)."""
    from backoffice.admin.approval_service import approvals_page

    context = cli_context(ctx)
    page = approvals_page(
        context.store(),
        context.principal(),
        status=None if status == "all" else status,
        mine=mine,
        for_me=for_me,
        limit=limit,
        after=id_cursor(after),
    )
    if json:
        print_page_json(page.items, page.next)
        return
    table = Listing("approval", "command", "target", "maker", "status", "approvals")
    for item in page.items:
        given = sum(1 for d in item["decisions"] if d["decision"] == "approve")
        table.add_row(
            str(item["approval_id"]), item["command"], item["target"], item["maker"],
            item["status"], f"{given}/{item['approvers_required']}",
        )  # fmt: skip
    table.print()
    page_hint(len(page.items), page.next, "approvals")


@approvals_app.command("show")
@requires("approvals.read", "read")
def approvals_show(ctx: typer.Context, approval_id: int, json: JsonOption = False) -> None:
    """One approval: the request as the maker gave it, the maker, its effect, the decisions."""
    from backoffice.admin.approval_service import show_approval

    found = show_approval(cli_context(ctx).store(), approval_id)
    if json:
        print_json(found)
        return
    import orjson

    for name in ("approval_id", "command", "target", "status", "maker", "approvers_required"):
        say(f"{name}: {found[name]}")
    for decision in found["decisions"]:
        say(f"decision: {decision['user']} {decision['decision']} {decision['reason']}")
    for part in ("request", "effect", "result"):
        if found[part] is not None:
            say(f"{part}:")
            for line in orjson.dumps(found[part], option=orjson.OPT_INDENT_2).decode().splitlines():
                say(f"  {line}")


@approvals_app.command("approve")
@requires("approvals.decide")
def approvals_approve(
    ctx: typer.Context,
    approval_id: int,
    reason: Annotated[str, typer.Option("--reason", help="a note for the record")] = "",
    json: JsonOption = False,
) -> None:
    """Approve a waiting command. The last approval its policy needs runs it, re-validated
    against the state now; if that fails it says why and the command still waits."""
    _decide(ctx, approval_id, approve=True, reason=reason, json=json)


@approvals_app.command("reject")
@requires("approvals.decide")
def approvals_reject(
    ctx: typer.Context,
    approval_id: int,
    reason: Annotated[str, typer.Option("--reason", help="why (required)")],
    json: JsonOption = False,
) -> None:
    """Reject a waiting command: nothing of it is stored."""
    _decide(ctx, approval_id, approve=False, reason=reason, json=json)


def _decide(
    ctx: typer.Context, approval_id: int, *, approve: bool, reason: str, json: bool
) -> None:
    from backoffice.admin.approval_service import decide

    context = cli_context(ctx)
    decision = decide(
        context.store(), context.principal(), approval_id, approve=approve, reason=reason
    )
    if json:
        print_json(
            {
                "approval_id": decision.approval_id,
                "status": decision.status.value,
                "approvals": decision.approvals,
                "approvers_required": decision.approvers_required,
                "result": decision.result,
            }
        )
        return
    say(describe_decision(f"approval {approval_id}", decision))
