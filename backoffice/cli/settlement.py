"""`backoffice settlement ...`: netting, instructions, status, fails, penalties."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from backoffice.cli.output import print_json, stderr, stdout
from backoffice.errors import Problem, ProblemError

settlement_app = typer.Typer(
    help="Clearing and settlement: netting, instructions, status, fails.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _context(ctx: typer.Context) -> Any:
    from backoffice.cli.main import _context as context

    return context(ctx)


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            Problem("invalid_date", f"{option} {text!r} is not a YYYY-MM-DD date")
        ) from None


@settlement_app.command("net")
def settlement_net(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="settlement date YYYY-MM-DD")],
    mode: Annotated[str, typer.Option("--mode", help="ccp or bilateral")] = "bilateral",
    ccp: Annotated[str | None, typer.Option("--ccp", help="the CCP's party code")] = None,
    json: JsonOption = False,
) -> None:
    """Net the day's booked street trades into settlement obligations, and store them."""
    from backoffice.settlement.model import NettingMode
    from backoffice.settlement.service import net_obligations

    try:
        chosen = NettingMode(mode)
    except ValueError:
        raise ProblemError(
            Problem("invalid_mode", f"--mode must be ccp or bilateral, not {mode!r}")
        ) from None
    context = _context(ctx)
    result = net_obligations(
        context.store(), _day(date, "--date"), chosen, actor=context.actor, ccp=ccp
    )
    if json:
        print_json(result.as_json())
        return
    columns = ["obligation_id", "counterparty", "isin", "currency", "quantity", "cash_amount", "status"]  # fmt: skip
    table = Table(*columns, "trades")
    for row in result.obligations:
        table.add_row(*(str(row[c]) for c in columns), str(len(row["trade_ids"])))
    stdout.print(table)
    for row in result.obligations:
        if row["reason"]:
            stderr.print(
                f"{row['obligation_id']} {row['status']}: {row['reason']}", highlight=False
            )
    for currency, gross in result.gross_value.items():
        net_value = result.net_value.get(currency, "0")
        stderr.print(
            f"{currency}: {result.gross_count} trades worth {gross} net to "
            f"{result.net_count} obligations worth {net_value}",
            highlight=False,
        )
