"""`/api/v1` reference data: the sections as in force (now or as of), changes, history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from backoffice.api.app import DoorDep, RawBody, parked
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError

refdata_router = APIRouter(tags=["reference data"])


@refdata_router.get("/refdata/{section}")
def list_refdata(section: str, door: DoorDep, as_of: dt.datetime | None = None) -> list[Any]:
    """assets, parties, accounts, ssis, fee_rates or approval_policies; `as_of`: as in force."""
    from backoffice.refdata.change_service import snapshot
    from backoffice.refdata.history_service import in_force

    sections = ("assets", "parties", "accounts", "ssis", "fee_rates", "approval_policies")
    if section not in sections:
        raise ProblemError(Problem("invalid_argument", f"section is one of {', '.join(sections)}"))
    with door.command("refdata.list", "refdata.read", Access.READ):
        if as_of is None:
            return [r for (kind, _), r in sorted(snapshot(door.store).items()) if kind == section]
        moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
        return in_force(door.store, int(moment.timestamp() * 1_000_000)).get(section, [])


@refdata_router.post("/refdata")
def change_refdata(body: RawBody, door: DoorDep, format: str = "yaml") -> Response:
    """A reference-data file as the body (YAML, or CSV with `?format=csv`): loaded all or
    nothing with every record's before/after, or 202 when a policy makes it wait."""
    from backoffice.admin.approval_service import Parked
    from backoffice.refdata.change_service import change_refdata as change

    if format not in ("yaml", "csv"):
        raise ProblemError(Problem("invalid_argument", "format is yaml or csv"))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(Problem("not_utf8", "the body is not UTF-8 text")) from None
    with door.command("refdata.load", "refdata.change", Access.WRITE, {"format": format}) as who:
        done = change(door.store, who, text, source="api", csv_format=format == "csv")
    if isinstance(done, Parked):
        return parked(done)
    summary = done.summary
    return JSONResponse(
        {
            "created": summary.created,
            "changed": summary.changed,
            "unchanged": summary.unchanged,
            "changes": done.changes,
        }
    )


@refdata_router.get("/refdata/history/{code:path}")
def refdata_history(code: str, door: DoorDep) -> list[Any]:
    from backoffice.refdata.history_service import history

    with door.command("refdata.history", "refdata.read", Access.READ):
        return history(door.store, code)
