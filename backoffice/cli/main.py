"""`backoffice`: the console script.

Global options come before the command: `backoffice --db URL ledger post FILE`. Every command
prints an expected error as one clear line on stderr and exits non-zero, never a traceback;
with `--json` only JSON goes to stdout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from backoffice.admin.identity import Principal
from backoffice.cli.options import requires
from backoffice.cli.output import Listing, print_json, say, stdout
from backoffice.errors import InvariantViolation, Problem, ProblemError
from backoffice.store.engine import Store, one_line, open_store
from backoffice.text import actor_chars_max, require_free_text

token_file_bytes_max = 4_096

app = typer.Typer(
    help="Backoffice: trade capture, settlement, books and records, reconciliation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)
refdata_app = typer.Typer(help="Reference data: assets, parties, accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(refdata_app, name="refdata")


class Context:
    """The root command's options: the database, and the credential commands run with."""

    def __init__(self, db: str | None, token_file: Path | None) -> None:
        self.db = db
        self.token_file = token_file
        self._store: Store | None = None
        self._principal: Principal | None = None

    def store(self, *, migrate: bool = True) -> Store:
        if self._store is None:
            self._store = open_store(self.db, migrate=migrate)
        return self._store

    def principal(self) -> Principal:
        """Who this command runs as (backoffice.admin.identity_service.authenticate)."""
        if self._principal is None:
            from backoffice.admin.identity_service import authenticate

            store = self.store()
            os_user = _os_user()
            # The OS login comes from $LOGNAME/$USER, which whoever runs the command sets: it
            # is checked as text before it can name anyone in the audit trail.
            require_free_text(os_user=(os_user, actor_chars_max))
            self._principal = authenticate(
                store, token=self._token(), os_user=os_user, local=store.local
            )
        return self._principal

    @property
    def actor(self) -> str:
        return self.principal().login

    def _token(self) -> str | None:
        if self.token_file is not None:
            from backoffice.formats.file_text import read_content

            return (
                read_content(self.token_file, token_file_bytes_max)
                .decode("ascii", "replace")
                .strip()
            )
        return os.environ.get("BACKOFFICE_TOKEN") or None


def _context(ctx: typer.Context) -> Context:
    value = ctx.find_root().obj
    if not isinstance(value, Context):
        raise ProblemError(Problem("internal", "no CLI context"))
    return value


def _os_user() -> str:
    """The OS login of this process, from the kernel's user id: not $LOGNAME or $USER, which
    whoever runs the command sets (PostgreSQL's peer authentication asks the kernel too)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
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
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="a file holding your API token; default $BACKOFFICE_TOKEN, or the user bound "
            "to your OS login",
        ),
    ] = None,
) -> None:
    ctx.obj = Context(db, token_file)


# db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
@requires("db.upgrade", migrate=False)
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema or bring it to the newest migration."""
    store = _context(ctx).store(migrate=False)
    store.upgrade()
    say(f"schema at revision {store.current_revision()} ({store.safe_url})")


@db_app.command("current")
@requires("db.read", "read", migrate=False)
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    store = _context(ctx).store(migrate=False)
    stdout.print(f"current {store.current_revision()} head {store.head_revision()}")


# refdata --------------------------------------------------------------------------------------


@refdata_app.command("load")
@requires("refdata.change")
def refdata_load(
    ctx: typer.Context,
    file: Path,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Load reference data from a YAML or CSV file (all or nothing). Under an approval policy
    the change waits for a second person (exit status 3, `awaiting approval N`)."""
    from backoffice.admin.approval_service import Parked
    from backoffice.cli.approvals import AWAITING_APPROVAL_EXIT
    from backoffice.formats.refdata_file import read_refdata_text
    from backoffice.refdata.change_service import change_refdata

    context = _context(ctx)
    text = read_refdata_text(file)
    if not isinstance(text, str):
        raise ProblemError(*text.problems)
    done = change_refdata(
        context.store(),
        context.principal(),
        text,
        source=str(file),
        csv_format=file.suffix.lower() == ".csv",
    )
    if isinstance(done, Parked):
        if json:
            print_json(done.as_json())
        say(f"{file}: the change waits for approval; awaiting approval {done.approval_id}")
        raise typer.Exit(AWAITING_APPROVAL_EXIT)
    summary = done.summary
    if json:
        print_json(
            {
                "created": summary.created,
                "changed": summary.changed,
                "unchanged": summary.unchanged,
                "changes": done.changes,
            }
        )
        return
    say(
        f"{file}: {summary.created} created, {summary.changed} changed, "
        f"{summary.unchanged} unchanged"
    )


@refdata_app.command("list")
@requires("refdata.read", "read")
def refdata_list(
    ctx: typer.Context,
    section: Annotated[
        str, typer.Argument(help="assets, parties, accounts, ssis, fee_rates or approval_policies")
    ] = "accounts",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="what was in force at this UTC time (ISO 8601)"),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List reference data, now or as it stood at a moment."""
    from backoffice.refdata.change_service import snapshot
    from backoffice.refdata.history_service import in_force

    store = _context(ctx).store()
    if as_of is None:
        everything: dict[str, list[Any]] = {}
        for (kind, _), record in sorted(snapshot(store).items()):
            everything.setdefault(kind, []).append(record)
    else:
        everything = in_force(store, _timestamp_us(as_of))
    if section not in SECTION_NAMES:
        raise ProblemError(
            Problem("invalid_argument", f"section must be one of {', '.join(SECTION_NAMES)}")
        )
    records = everything.get(section, [])
    if json:
        print_json(records)
        return
    table = Listing(*(records[0].keys() if records else ["(none)"]))
    for record in records:
        table.add_row(*(_cell(v) for v in record.values()))
    table.print()


SECTION_NAMES = ("assets", "parties", "accounts", "ssis", "fee_rates", "approval_policies")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        import orjson

        return orjson.dumps(value).decode()
    return "" if value is None else str(value)


def _timestamp_us(text: str) -> int:
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            Problem("invalid_argument", f"--as-of {text!r} is not an ISO 8601 date or time")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)


@refdata_app.command("history")
@requires("refdata.read", "read")
def refdata_history(
    ctx: typer.Context,
    code: str,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every version of a record: who changed it, when, and who approved it."""
    from backoffice.refdata.history_service import history

    versions = history(_context(ctx).store(), code)
    if json:
        print_json(versions)
        return
    table = Listing("version", "section", "changed_at", "changed_by", "approved_by", "record")
    for item in versions:
        table.add_row(
            str(item["version"]), item["section"], item["changed_at"], item["changed_by"],
            item["approved_by"] or "", _cell(item["record"]) if item["record"] else "(removed)",
        )  # fmt: skip
    table.print()
    if not versions:
        say(f"{code}: no version recorded (unchanged since before reference-data history began)")


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
        say=say,
    )
    from backoffice.cli.ledger import print_trial_balance

    print_trial_balance(report.trial_balance, json=False)
    if report.problems:
        for problem in report.problems:
            say(problem.describe())
        raise typer.Exit(1)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="processes (PostgreSQL)")] = 1,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs). Each request runs as the
    user of its bearer token; the server itself holds no one's permissions."""
    import uvicorn

    context = _context(ctx)
    store = context.store()
    if store.dialect == "sqlite" and workers > 1:
        say("SQLite has one writer: writes queue on it; serving with one worker process")
        workers = 1
    os.environ["BACKOFFICE_DB"] = store.url
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        import tempfile

        # Each worker counts in files here; /metrics adds up every worker's counts.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="backoffice-metrics-")
    say(f"serving {store.safe_url} on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "backoffice.api.server:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def _register_subcommands() -> None:
    from backoffice.cli.approvals import approvals_app
    from backoffice.cli.audit import audit_app
    from backoffice.cli.ledger import ledger_app
    from backoffice.cli.recon import recon_app
    from backoffice.cli.settlement import settlement_app
    from backoffice.cli.trades import trades_app
    from backoffice.cli.users import roles_app, users_app

    app.add_typer(ledger_app, name="ledger")
    app.add_typer(trades_app, name="trades")
    app.add_typer(settlement_app, name="settlement")
    app.add_typer(recon_app, name="recon")
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(roles_app, name="roles")


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
    except sa.exc.DBAPIError as error:
        # The database's own reason, never SQLAlchemy's rendering of it: that carries the SQL
        # statement and its parameters, which are no business of the person at the terminal.
        reason = f"{error.orig.__class__.__name__}: {one_line(error.orig)}"
        say(f"error: database_refused: {reason}")
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
