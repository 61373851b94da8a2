"""`backoffice settlement ...`: netting, instructions, status, fails, penalties."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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
    required_date,
    requires,
)
from backoffice.cli.output import Listing, print_json, say
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import list_page_default

settlement_app = typer.Typer(
    help="Clearing and settlement: netting, instructions, status, fails.", no_args_is_help=True
)


@settlement_app.command("net")
@requires("settlement.net")
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
    context = cli_context(ctx)
    result = net_obligations(
        context.store(), required_date(date, "--date"), chosen, actor=context.actor, ccp=ccp
    )
    if json:
        print_json(result.as_json())
        return
    columns = ["obligation_id", "counterparty", "isin", "currency", "quantity", "cash_amount", "status"]  # fmt: skip
    table = Listing(*columns, "trades")
    for row in result.obligations:
        table.add_row(*(str(row[c]) for c in columns), str(len(row["trade_ids"])))
    table.print()
    for row in result.obligations:
        if row["reason"]:
            say(f"{row['obligation_id']} {row['status']}: {row['reason']}")
    for currency, gross in result.gross_value.items():
        net_value = result.net_value.get(currency, "0")
        say(
            f"{currency}: {result.gross_count} trades worth {gross} net to "
            f"{result.net_count} obligations worth {net_value} "
            f"(netting efficiency {result.efficiency.get(currency, '-')}%)",
        )


@settlement_app.command("instruct")
@requires("settlement.instruct")
def settlement_instruct(
    ctx: typer.Context,
    date: Annotated[str, typer.Option("--date", help="settlement date YYYY-MM-DD")],
    format: Annotated[str, typer.Option("--format", help="sese023 or mt54x")] = "sese023",
    output: Annotated[Path, typer.Option("-o", "--output", help="directory for the files")] = Path(
        "instructions"
    ),
    sender_bic: Annotated[
        str, typer.Option("--sender-bic", help="the firm's BIC in the MT header")
    ] = "BKOFUS33XXX",
) -> None:
    """Instruct the date's open obligations (and cancel those whose trades were cancelled):
    ISO 20022 sese.023 documents or SWIFT MT540-543."""
    from backoffice.settlement.instruction_service import (
        instruct,
        instruction_format,
        write_instructions,
    )

    instruction_format(format)
    context = cli_context(ctx)
    day = required_date(date, "--date")
    result = instruct(context.store(), day, actor=context.actor)
    paths = write_instructions(result.all_of_date, output, day, format, sender_bic=sender_bic)
    for exception in result.exceptions:
        say(f"not instructed: {exception['obligation_id']}: {exception['reason']}")
    say(
        f"{len(result.new)} new instructions, {len(result.cancelled)} cancellations, "
        f"{len(result.exceptions)} exceptions; {len(paths)} files in {output}",
    )


@settlement_app.command("status")
@requires("settlement.status")
def settlement_status(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="sese.024/025 XML, MT548/544-547 FIN")],
    json: JsonOption = False,
) -> None:
    """Apply inbound statuses and settlement confirmations; settlement moves the ledger from
    pending to settled. Exit 1 when anything was quarantined."""
    from backoffice.formats.settlement_status import read_settlement_messages
    from backoffice.settlement.status_service import apply_statuses

    context = cli_context(ctx)
    results = []
    quarantined = 0
    for file in files:
        summary = apply_statuses(
            context.store(), read_settlement_messages(file), actor=context.actor
        )
        quarantined += summary.quarantined
        results.append(
            {
                "file": str(file),
                "received": summary.received,
                "applied": summary.applied,
                "settled": summary.settled,
                "existing": summary.existing,
                "quarantined": summary.quarantined,
            }
        )
        if not json:
            for problem in summary.problems:
                say(f"quarantined: {problem.describe()}")
            say(
                f"{file}: {summary.received} messages: {summary.applied} applied "
                f"({summary.settled} settled in full), {summary.existing} already applied, "
                f"{summary.quarantined} quarantined",
            )
    if json:
        print_json(results)
    if quarantined:
        raise typer.Exit(1)


@settlement_app.command("fails")
@requires("settlement.read", "read")
def settlement_fails(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="date YYYY-MM-DD")],
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Obligations not settled on their date: age in settlement days, bucket, reason; a page
    at a time."""
    from backoffice.settlement.fail_service import fails_page

    day = required_date(as_of, "--as-of")
    page = fails_page(cli_context(ctx).store(), day, limit=limit, after=id_cursor(after))
    rows = page.items
    if json:
        print_page_json(rows, page.next)
        return
    columns = ["obligation_id", "counterparty", "isin", "settlement_date", "age_days", "bucket", "direction", "quantity_due", "cash_due", "status", "reason"]  # fmt: skip
    table = Listing(*columns)
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    table.print()
    page_hint(len(rows), page.next, f"fails as of {as_of}")


@settlement_app.command("penalties")
@requires("settlement.read", "audited-read")
def settlement_penalties(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    prices: Annotated[Path, typer.Option("--prices", help="reference prices CSV")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the last day of an open fail; default today")
    ] = None,
    cash_rate: Annotated[
        list[str] | None,
        typer.Option(
            "--cash-rate",
            help="a central bank overnight rate CCY:YYYY-MM-DD:PERCENT (repeatable), "
            "added to the built-in ECB rates",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """CSDR cash penalties of the month's fails on EU markets, priced by the price file."""
    from backoffice.formats.prices_csv import read_prices
    from backoffice.settlement.penalties_service import (
        first_of_month,
        month_penalties,
        parse_cash_rate,
        penalties_json,
    )

    rates = [parse_cash_rate(text) for text in cash_rate or []]
    first = first_of_month(month)
    price_file = read_prices(prices)
    if price_file.problems:
        raise ProblemError(*price_file.problems)
    today = required_date(as_of, "--as-of") if as_of else dt.datetime.now(dt.UTC).date()
    report = month_penalties(
        cli_context(ctx).store(), first, price_file, today=today, cash_rates=rates
    )
    lines = penalties_json(report)
    if json:
        print_json(
            {"month": month, "lines": lines, "problems": [p.describe() for p in report.problems]}
        )
    else:
        columns = list(lines[0]) if lines else ["reference"]
        table = Listing(*columns)
        for line in lines:
            table.add_row(*(str(line[c]) for c in columns))
        table.print()
        for problem in report.problems:
            say(f"not priced: {problem.describe()}")
        say(f"{len(lines)} penalty lines for {month}")
    if report.problems:
        raise typer.Exit(1)


@settlement_app.command("quarantine")
@requires("settlement.read", "read")
def settlement_quarantine(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: JsonOption = False,
) -> None:
    """Inbound settlement messages refused: raw text, file, line, every reason; oldest first,
    a page at a time."""
    from backoffice.ledger.queries import quarantined

    page = quarantined(
        cli_context(ctx).store(), kinds=("settlement.status",), limit=limit,
        after=id_cursor(after),
    )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {key: item[key] for key in ("id", "file", "line", "problems", "raw")} for item in page.items
    ]
    if json:
        print_page_json(rows, page.next)
        return
    table = Listing("id", "file", "line", "problems")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["file"],
            str(row["line"]),
            "; ".join(f"{p['code']}: {p['reason']}" for p in row["problems"]),
        )
    table.print()
    page_hint(len(rows), page.next, "quarantined")
