"""`backoffice`: the console script.

Global options come before the command: `backoffice --db URL ledger post FILE`. Every command
prints an expected error as one clear line on stderr and exits non-zero, never a traceback;
with `--json` only JSON goes to stdout.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from backoffice.cli.options import AfterOption, LimitOption, id_cursor, page_hint, print_page_json
from backoffice.cli.output import Listing, byte_progress, print_json, say, stdout
from backoffice.errors import InvariantViolation, Problem, ProblemError
from backoffice.ledger.queries import list_page_default
from backoffice.store.engine import Store, one_line, open_store

app = typer.Typer(
    help="Backoffice: trade capture, settlement, books and records, reconciliation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)
refdata_app = typer.Typer(help="Reference data: assets, parties, accounts.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(refdata_app, name="refdata")
app.add_typer(ledger_app, name="ledger")


class Context:
    def __init__(self, db: str | None, actor: str) -> None:
        self.db = db
        self.actor = actor
        self._store: Store | None = None

    def store(self, *, migrate: bool = True) -> Store:
        if self._store is None:
            self._store = open_store(self.db, migrate=migrate)
        return self._store


def _context(ctx: typer.Context) -> Context:
    value = ctx.find_root().obj
    if not isinstance(value, Context):
        raise ProblemError(Problem("internal", "no CLI context"))
    return value


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="SQLAlchemy URL; default $BACKOFFICE_DB or sqlite:///backoffice.db"
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who is acting; default $BACKOFFICE_ACTOR or the OS user"),
    ] = None,
) -> None:
    ctx.obj = Context(db, actor or os.environ.get("BACKOFFICE_ACTOR") or _default_actor())


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            Problem("invalid_date", f"{option} {text!r} is not a YYYY-MM-DD date")
        ) from None


# db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema or bring it to the newest migration."""
    store = _context(ctx).store(migrate=False)
    store.upgrade()
    say(f"schema at revision {store.current_revision()} ({store.safe_url})")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    store = _context(ctx).store(migrate=False)
    stdout.print(f"current {store.current_revision()} head {store.head_revision()}")


# refdata --------------------------------------------------------------------------------------


@refdata_app.command("load")
def refdata_load(ctx: typer.Context, file: Path) -> None:
    """Load assets, parties and accounts from a YAML or CSV file (all or nothing)."""
    from backoffice.formats.refdata_file import read_refdata
    from backoffice.refdata.service import load_refdata

    context = _context(ctx)
    summary = load_refdata(
        context.store(), read_refdata(file), actor=context.actor, source=str(file)
    )
    say(
        f"{file}: {summary.created} created, {summary.changed} changed, "
        f"{summary.unchanged} unchanged"
    )


@refdata_app.command("list")
def refdata_list(
    ctx: typer.Context,
    section: Annotated[str, typer.Argument(help="assets, parties or accounts")] = "accounts",
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List assets, parties or accounts."""
    from backoffice.refdata.service import list_refdata

    everything = list_refdata(_context(ctx).store())
    if section not in everything:
        raise ProblemError(
            Problem("invalid_argument", "section must be assets, parties or accounts")
        )
    records = [_record(item) for item in everything[section]]
    if json:
        print_json(records)
        return
    table = Listing(*(records[0].keys() if records else ["(none)"]))
    for record in records:
        table.add_row(
            *(
                ", ".join(v) if isinstance(v, list) else "" if v is None else str(v)
                for v in record.values()
            )
        )
    table.print()


def _record(item: Any) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in item.__slots__:
        value = getattr(item, name)
        if isinstance(value, frozenset):
            value = sorted(str(v) for v in value)
        elif hasattr(value, "value"):
            value = value.value
        record[name] = value
    return record


# ledger ---------------------------------------------------------------------------------------


@ledger_app.command("post")
def ledger_post(
    ctx: typer.Context,
    file: Path,
    json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Post the entries of a JSONL file. Exit status 0 only when no line failed."""
    from backoffice.ledger.service import post_file

    context = _context(ctx)
    store = context.store()
    size = file.stat().st_size if file.exists() else 0
    with byte_progress(f"posting {file.name}", size) as advance:
        result = post_file(store, file, actor=context.actor, progress=advance)
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
def ledger_balances(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="one account code")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, inclusive")] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Account balances (debit-positive), now or as of the end of a date."""
    from backoffice.ledger.reports import balances
    from backoffice.money import format_amount

    lines = balances(_context(ctx).store(), account=account, as_of=_date(as_of, "--as-of"))
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
def ledger_trial_balance(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, inclusive")] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Per asset: debit balances, credit balances and their net (always zero)."""
    from backoffice.ledger.reports import trial_balance

    lines = trial_balance(_context(ctx).store(), as_of=_date(as_of, "--as-of"))
    _print_trial_balance(lines, json)


def _print_trial_balance(lines: Any, json: bool) -> None:
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
def ledger_verify(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Recompute every balance, zero sum and hash link from the postings; exit 1 if any is wrong."""
    from backoffice.ledger.verify import verify_ledger

    problems = verify_ledger(_context(ctx).store())
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


def _resolution(ctx: typer.Context, key: str, date: str | None, **target: str) -> None:
    from backoffice.ledger.model import EntryOutcome, EntryRequest
    from backoffice.ledger.service import post_entries

    context = _context(ctx)
    request = EntryRequest(key=key, effective_date=_date(date, "--date"), **target)  # type: ignore[arg-type]
    (result,) = post_entries(context.store(), [request], actor=context.actor).results
    if result.outcome is EntryOutcome.FAILED:
        raise ProblemError(*result.problems)
    say(f"{key}: {result.outcome.value} (entry {result.entry_id})")


@ledger_app.command("reverse")
def ledger_reverse(
    ctx: typer.Context,
    entry_key: Annotated[str, typer.Argument(help="key of the entry to reverse")],
    key: Annotated[str, typer.Option("--key", help="idempotency key of the reversal")],
    date: Annotated[
        str | None, typer.Option("--date", help="effective date; default the original's")
    ] = None,
) -> None:
    """Correct a posted entry by a reversal entry linked to it."""
    _resolution(ctx, key, date, reverse=entry_key)


@ledger_app.command("post-pending")
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
def ledger_void_pending(
    ctx: typer.Context,
    pending_key: Annotated[str, typer.Argument(help="key of the pending entry")],
    key: Annotated[str, typer.Option("--key", help="idempotency key of the void")],
) -> None:
    """Void a pending (two-phase) entry, releasing what it reserved."""
    _resolution(ctx, key, None, void_pending=pending_key)


@ledger_app.command("expire-pending")
def ledger_expire_pending(ctx: typer.Context) -> None:
    """Void every pending entry whose timeout has passed."""
    from backoffice.ledger.service import expire_pending

    context = _context(ctx)
    count = expire_pending(context.store(), actor=context.actor)
    say(f"{count} pending entries expired")


@ledger_app.command("quarantine")
def ledger_quarantine(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Input lines that were refused, with their raw text, file, line and reasons, oldest
    first, a page at a time."""
    from backoffice.ledger.queries import quarantined

    page = quarantined(_context(ctx).store(), limit=limit, after=id_cursor(after))
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
def ledger_entries(
    ctx: typer.Context,
    limit: LimitOption = list_page_default,
    after: AfterOption = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The journal entries with their postings, newest first, a page at a time."""
    from backoffice.ledger.queries import recent_entries

    page = recent_entries(_context(ctx).store(), limit=limit, before=id_cursor(after))
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
    count = export_ledger(_context(ctx).store(), format, output)
    say(f"exported {count} entries" + (f" to {output}" if output else ""))


@app.command("demo")
def demo(
    ctx: typer.Context,
    entries: Annotated[int, typer.Option("--entries", help="how many entries of activity")] = 3000,
    seed: Annotated[
        int, typer.Option("--seed", help="random seed; the same seed gives the same day")
    ] = 7,
) -> None:
    """A fresh database with realistic reference data and a day of activity, verified."""
    from backoffice.demo import run_demo

    context = _context(ctx)
    report = run_demo(
        context.db,
        entries=entries,
        seed=seed,
        actor=context.actor,
        say=say,
    )
    _print_trial_balance(report.trial_balance, json=False)
    if report.problems:
        for problem in report.problems:
            say(problem.describe())
        raise typer.Exit(1)


def _register_subcommands() -> None:
    from backoffice.cli.recon import recon_app
    from backoffice.cli.settlement import settlement_app
    from backoffice.cli.trades import trades_app

    app.add_typer(trades_app, name="trades")
    app.add_typer(settlement_app, name="settlement")
    app.add_typer(recon_app, name="recon")


_register_subcommands()


def run() -> None:
    """The console script: expected errors are one line and a non-zero exit, never a traceback."""
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        if isinstance(code, int) and code:
            sys.exit(code)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except ProblemError as error:
        for problem in error.problems:
            say(f"error: {problem.describe()}")
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say("aborted")
        sys.exit(130)
    except InvariantViolation as error:
        say(f"invariant violated (a bug; nothing was committed): {error}")
        sys.exit(70)
    except sa.exc.OperationalError as error:
        say(f"error: database_unavailable: {one_line(error.orig)}")
        sys.exit(1)
    except OSError as error:
        say(f"error: {error.__class__.__name__}: {one_line(error)}")
        sys.exit(1)
    except Exception as error:  # click's usage errors and anything unforeseen: one line
        if isinstance(error, typer.TyperException) and hasattr(error, "format_message"):
            # A usage error (unknown option, bad value): one line too, as every error here.
            say(f"error: usage: {one_line(error.format_message())}")
            sys.exit(getattr(error, "exit_code", 2))
        say(f"internal error: {error.__class__.__name__}: {one_line(error)}")
        sys.exit(1)


if __name__ == "__main__":
    run()
