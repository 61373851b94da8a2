"""`/api/v1` reconciliation: statements in and listed, runs, the quarantine, breaks (one with
its item and match candidates, investigated by `PATCH`), matches by hand and corrections
proposed under maker-checker: each through the command and permission of its CLI command."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from backoffice.api.app import DoorDep, RawBody, parked
from backoffice.api.paging import Limit, id_cursor
from backoffice.api.problems import problem_response, status_of
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import bounded_limit

recon_router = APIRouter(tags=["reconciliation"])

# A file name as the caller knows it, for the problems and the quarantine: plain text only.
FileName = Annotated[
    str | None, Query(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]
uploaded_default_name = "request body"


@recon_router.post("/statements", status_code=201)
def post_statements(body: RawBody, door: DoorDep, filename: FileName = None) -> Response:
    """A statement or holdings file as the body (camt.053, MT940/950, statement CSV; semt.002,
    MT535, holdings CSV), detected as `recon import` detects them, all or nothing: 201 with
    what it stored, 200 when it was all imported before (`existing`, nothing doubled). A file
    refused is quarantined (`GET /recon/quarantine`) and answered with its problems, each
    naming its line and field: 409 `statement_changed`, 422 otherwise."""
    import tempfile
    from pathlib import Path

    from backoffice.recon.statement_file_service import import_statement_file

    name = filename or uploaded_default_name
    with tempfile.TemporaryDirectory(prefix="backoffice-api-") as folder:
        # The readers stream a file within their limits: the body is spooled.
        path = Path(folder) / "statement"
        path.write_bytes(body)
        with door.command("recon.import", "recon.import", Access.WRITE, {"file": name}) as who:
            if not body.strip():
                raise ProblemError(Problem("empty_file", f"{name} holds nothing to import"))
            imported = import_statement_file(door.store, path, actor=who.login, name=name)
    if imported.problems:
        status = status_of(imported.problems)
        # An account the file names is unknown: the file is refused, no URL is wrong.
        return problem_response(imported.problems, 422 if status == 404 else status)
    row = imported.row
    created = row.get("statements", 0) + row.get("positions", 0)
    return JSONResponse(row, status_code=201 if created else 200)


@recon_router.get("/statements")
def list_statements(door: DoorDep, limit: int = Limit, after: str | None = None) -> dict[str, Any]:
    """Imported bank statements with their balances and lines, oldest first."""
    from backoffice.recon.queries import statements_page

    with door.command("recon.statements", "recon.read", Access.READ):
        page = statements_page(door.store, limit=bounded_limit(limit), after=id_cursor(after))
    return {"items": page.items, "next": page.next}


@recon_router.get("/recon/quarantine")
def list_quarantine(door: DoorDep, limit: int = Limit, after: str | None = None) -> dict[str, Any]:
    """Statement and holdings files refused: file, every reason, and the text; oldest first."""
    from backoffice.ledger.queries import quarantined
    from backoffice.recon.statement_file_service import QUARANTINE_KIND

    with door.command("recon.quarantine", "recon.read", Access.READ):
        page = quarantined(
            door.store, kinds=(QUARANTINE_KIND,), limit=bounded_limit(limit),
            after=id_cursor(after),
        )  # fmt: skip
    items = [{key: item[key] for key in ("id", "file", "problems", "raw")} for item in page.items]
    return {"items": items, "next": page.next}


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: dt.date
    account: str | None = Field(default=None, min_length=1, max_length=200)
    # The rules file's document (`recon run --rules`), as JSON: `default` and `accounts`.
    rules: dict[str, Any] | None = None


@recon_router.post("/recon/runs")
def post_run(run: RunRequest, door: DoorDep) -> dict[str, Any]:
    """Match statements against the books (and custodian holdings against positions) up to
    `date`; what is left becomes breaks. Answers the run's summary, as `recon run --json`."""
    from backoffice.formats.recon_rules import recon_rules_of
    from backoffice.recon.run_service import reconcile

    request = {"date": run.date.isoformat(), "account": run.account, "rules": run.rules}
    with door.command("recon.run", "recon.run", Access.WRITE, request) as who:
        default, per_account = (
            recon_rules_of(run.rules, "rules") if run.rules is not None else (None, None)
        )
        result, positions = reconcile(
            door.store, run.date, actor=who.login, account=run.account, rules=default,
            account_rules=per_account,
        )  # fmt: skip
    return {"matched": result.matched, "breaks": result.breaks + positions, "closed": result.closed}


@recon_router.get("/breaks")
def list_breaks(
    door: DoorDep, status: str | None = None, limit: int = Limit, after: str | None = None
) -> dict[str, Any]:
    from backoffice.recon.queries import breaks_page

    with door.command("recon.breaks", "recon.read", Access.READ):
        page = breaks_page(
            door.store, status=status, limit=bounded_limit(limit), after=id_cursor(after)
        )
    return {"items": page.items, "next": page.next}


@recon_router.get("/breaks/{break_id}")
def one_break(break_id: str, door: DoorDep) -> dict[str, Any]:
    """One break as listed, with its statement line or books posting, and the open breaks on
    the other side of its account to match it with, the nearest in amount first."""
    from backoffice.recon.queries import break_detail

    with door.command("recon.breaks", "recon.read", Access.READ):
        return break_detail(door.store, break_id)


class BreakChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str | None = None
    status: str | None = None
    comment: str | None = None


@recon_router.patch("/breaks/{break_id}")
def change_break(break_id: str, change: BreakChange, door: DoorDep) -> dict[str, Any]:
    """Assign a break, move it to investigating (or back to open), comment on it."""
    from backoffice.recon.break_service import update_break

    request = change.model_dump(exclude_none=True) | {"break_id": break_id}
    with door.command("recon.break", "recon.break.update", Access.WRITE, request) as who:
        update_break(
            door.store, break_id, actor=who.login, owner=change.owner, status=change.status,
            comment=change.comment,
        )  # fmt: skip
    return {"break_id": break_id, "updated": True}


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    books_break: str = Field(min_length=1, max_length=40)


@recon_router.post("/breaks/{break_id}/match")
def match_break(break_id: str, match: MatchRequest, door: DoorDep) -> dict[str, Any]:
    """Match this statement-side break with a books-side break of the same account by hand
    (`recon resolve match`): both are resolved."""
    from backoffice.recon.break_service import manual_match

    request = {"statement_break": break_id, "books_break": match.books_break}
    with door.command("recon.resolve.match", "recon.match", Access.WRITE, request) as who:
        manual_match(door.store, break_id, match.books_break, actor=who.login)
    return request | {"matched": True}


@recon_router.get("/matches")
def list_matches(door: DoorDep, limit: int = Limit, after: str | None = None) -> dict[str, Any]:
    """Matches, oldest first, each with its rule, statement lines and books postings."""
    from backoffice.recon.queries import matches_page

    with door.command("recon.matches", "recon.read", Access.READ):
        page = matches_page(door.store, limit=bounded_limit(limit), after=id_cursor(after))
    return {"items": page.items, "next": page.next}


class CorrectionPosting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(min_length=1, max_length=200)
    amount: str = Field(min_length=1, max_length=40)  # a decimal string: never a float


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    postings: list[CorrectionPosting] = Field(min_length=2, max_length=100)
    description: str


@recon_router.post("/breaks/{break_id}/corrections", status_code=202)
def propose_correction(break_id: str, correction: CorrectionRequest, door: DoorDep) -> JSONResponse:
    """Propose a correcting entry for the break (`recon resolve propose`): it always waits
    for another person's approval (202, `Location: /api/v1/approvals/N`); once approved the
    entry is posted and the break resolved."""
    from backoffice.recon.correction_service import submit_correction

    postings = [(posting.account, posting.amount) for posting in correction.postings]
    request = {"break_id": break_id, "postings": [list(p) for p in postings],
               "description": correction.description}  # fmt: skip
    with door.command(
        "recon.resolve.propose", "recon.correction.propose", Access.WRITE, request
    ) as who:
        number, waiting = submit_correction(
            door.store, who, break_id, postings, description=correction.description
        )
    answer = parked(waiting)
    return JSONResponse(
        {"correction_id": number, **waiting.as_json()},
        status_code=answer.status_code,
        headers={"Location": answer.headers["location"]},
    )
