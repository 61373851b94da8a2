"""One bank statement or custodian holdings file imported, its format detected, all or
nothing: for `recon import` and `POST /api/v1/statements` alike. A file refused (invalid,
an unknown account, a statement changed since its first import) goes to the quarantine with
every reason and its text, and its problems are given back, naming the file as the caller
knows it (the API spools a body to a temporary file its caller never sees)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.statements import quarantined_text, read_statement_file
from backoffice.store.engine import Store

QUARANTINE_KIND = "recon.import"


@dataclass(frozen=True, slots=True)
class FileImport:
    """What the file gave (`recon import --json`'s row for it) and, when refused, why."""

    row: dict[str, Any]
    problems: tuple[Problem, ...] = ()


def import_statement_file(
    store: Store, path: Path, *, actor: str, name: str | None = None
) -> FileImport:
    """Import the file at `path`, known to the caller as `name` (the path by default)."""
    from backoffice.ledger.service import quarantine_one

    name = name if name is not None else str(path)
    try:
        return FileImport(_imported(store, path, name, actor))
    except ProblemError as error:
        problems = tuple(_named(problem, path, name) for problem in error.problems)
    quarantine_one(
        store, QUARANTINE_KIND, Source(name), quarantined_text(path, name), problems, actor=actor
    )
    return FileImport(
        {
            "file": name,
            "quarantined": True,
            "problems": [
                {"code": p.code, "reason": p.reason, "where": p.source.describe()} for p in problems
            ],
        },
        problems,
    )


def _imported(store: Store, path: Path, name: str, actor: str) -> dict[str, Any]:
    from backoffice.recon.position_service import import_holdings
    from backoffice.recon.statement_import_service import import_statement_stream
    from backoffice.recon.statement_service import import_statements

    kind, statements = read_statement_file(path)
    if kind == "holdings":
        count = import_holdings(store, statements, source_file=name, actor=actor)
        return {"file": name, "holdings_statements": len(statements), "positions": count}
    if kind == "bank_csv":
        [scanned] = statements
        result = import_statement_stream(
            store, scanned.statements, scanned.lines, source_file=name, actor=actor
        )
    else:
        result = import_statements(store, statements, source_file=name, actor=actor)
    return {
        "file": name,
        "statements": result.statements,
        "lines": result.lines,
        "existing": result.existing,
        "balance_breaks": result.balance_breaks,
    }


def _named(problem: Problem, path: Path, name: str) -> Problem:
    """The problem as of the file `name`: where it names no file, or the spooled `path`."""
    if problem.source.file is not None and problem.source.file != str(path):
        return problem
    return Problem(
        problem.code, problem.reason, Source(name, problem.source.line, problem.source.field)
    )
