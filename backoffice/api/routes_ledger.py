"""`/api/v1` ledger resources: entries (post, list, one by key, reverse, post or void a pending
one), pending expiry, balances, the trial balance, verification, the quarantine, the export."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from backoffice.admin.approval_service import Parked
from backoffice.api.app import DoorDep, RawBody, parked
from backoffice.api.paging import Limit, id_cursor
from backoffice.api.problems import problem_response
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import bounded_limit, entry_by_key, recent_entries

ledger_router = APIRouter(tags=["ledger"])
api_entries_max = 1_000  # entries per request


@ledger_router.post("/entries", status_code=201)
def post_entries(
    body: RawBody,
    door: DoorDep,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Response:
    """One entry (its `key`, or the `Idempotency-Key` header, makes a retry safe: 201 created,
    200 the same entry again, 409 `key_conflict` the same key with another body) or
    `{"entries": [...]}` up to 1,000, as the entries file's lines."""
    from backoffice.ledger.entry_approval_service import submit_entries_data

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ProblemError(Problem("malformed_json", str(error))) from None
    single = not (isinstance(document, dict) and "entries" in document)
    entries = [document] if single else document["entries"]
    if not isinstance(entries, list) or not entries or len(entries) > api_entries_max:
        raise ProblemError(
            Problem("invalid_request", f"entries: a list of 1 to {api_entries_max} entries")
        )
    if (
        single
        and idempotency_key is not None
        and isinstance(document, dict)
        and document.setdefault("key", idempotency_key) != idempotency_key
    ):
        raise ProblemError(
            Problem("invalid_request", "the Idempotency-Key header and the entry's key differ")
        )
    data = b"".join(orjson.dumps(entry) + b"\n" for entry in entries)
    with door.command("ledger.post", "ledger.post", Access.WRITE, {"entries": len(entries)}) as who:
        result = submit_entries_data(door.store, who, data, "api")
    if isinstance(result, Parked):
        return parked(result)
    if result.failures:
        problems = [problem for _, _, problem in result.failures]
        if single:
            return problem_response(problems)
    if single:
        entry = entry_by_key(door.store, str(entries[0].get("key")))
        return JSONResponse(entry, status_code=201 if result.created else 200)
    return JSONResponse(
        {
            "created": result.created,
            "existing": result.existing,
            "failed": result.failed,
            "errors": [
                {"line": line, "key": key, "code": p.code, "reason": p.reason}
                for line, key, p in result.failures
            ],
        },
        status_code=201 if result.created else 200,
    )


@ledger_router.get("/entries")
def list_entries(
    door: DoorDep,
    limit: int = Limit,
    after: str | None = None,
) -> dict[str, Any]:
    """The newest entries first; `next` is the cursor for the page after."""
    cursor = id_cursor(after)
    with door.command("ledger.entries", "ledger.read", Access.READ):
        page = recent_entries(door.store, limit=bounded_limit(limit), before=cursor)
    return {"items": page.items, "next": page.next}


@ledger_router.get("/entries/{key:path}")
def one_entry(key: str, door: DoorDep) -> dict[str, Any]:
    with door.command("ledger.entries", "ledger.read", Access.READ):
        found = entry_by_key(door.store, key)
    if found is None:
        raise ProblemError(Problem("unknown_entry", f"no entry with key {key!r}"))
    return found


@ledger_router.get("/balances")
def account_balances(
    door: DoorDep, account: str | None = None, as_of: dt.date | None = None
) -> list[dict[str, Any]]:
    from backoffice.ledger.reports import balances
    from backoffice.money import format_amount

    with door.command("ledger.balances", "ledger.read", Access.READ):
        lines = balances(door.store, account=account, as_of=as_of)
    return [
        {
            "account": line.account,
            "asset": line.asset,
            "balance": format_amount(line.balance.posted_minor, line.scale),
            "pending": format_amount(line.balance.pending_minor, line.scale),
        }
        for line in lines
    ]


@ledger_router.get("/trial-balance")
def trial_balance_report(door: DoorDep, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    from backoffice.ledger.reports import trial_balance
    from backoffice.money import format_amount

    with door.command("ledger.trial-balance", "ledger.read", Access.READ):
        lines = trial_balance(door.store, as_of=as_of)
    return [
        {
            "asset": line.asset,
            "debits": format_amount(line.debits_minor, line.scale),
            "credits": format_amount(line.credits_minor, line.scale),
            "net": format_amount(line.net_minor, line.scale),
        }
        for line in lines
    ]


class ResolutionBody(BaseModel):
    """`ledger reverse` and `post-pending`'s options: the new entry's idempotency key and its
    effective date (default the target's)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields: 422
    key: str
    date: dt.date | None = None


class VoidBody(BaseModel):
    """`ledger void-pending`'s option: the void's idempotency key."""

    model_config = ConfigDict(extra="forbid")
    key: str


def _resolved(door: Any, name: str, permission: str, body: Any, **target: str) -> Response:
    """One entry resolving another by key: 201 created, 200 the same again (its key), 202
    when it waits for approval; the new entry as `GET /entries/{key}` gives it."""
    from backoffice.ledger.resolution_service import resolve_entry

    date: dt.date | None = getattr(body, "date", None)
    request = {"key": body.key, "date": date and date.isoformat(), **target}
    with door.command(name, permission, Access.WRITE, request) as who:
        result = resolve_entry(
            door.store, who, body.key, date, reverse=target.get("reverse"),
            post_pending=target.get("post_pending"), void_pending=target.get("void_pending"),
        )  # fmt: skip
    if isinstance(result, Parked):
        return parked(result)
    created = result.outcome.value == "created"
    return JSONResponse(
        entry_by_key(door.store, result.key),
        status_code=201 if created else 200,
        headers={"Location": f"/api/v1/entries/{result.key}"},
    )


@ledger_router.post("/entries/{entry_key:path}/reverse", status_code=201)
def reverse_entry(entry_key: str, body: ResolutionBody, door: DoorDep) -> Response:
    """`ledger reverse`: a reversal entry linked to the posted entry `entry_key`."""
    return _resolved(door, "ledger.reverse", "ledger.reverse", body, reverse=entry_key)


@ledger_router.post("/entries/{entry_key:path}/post", status_code=201)
def post_pending_entry(entry_key: str, body: ResolutionBody, door: DoorDep) -> Response:
    """`ledger post-pending`: post the pending (two-phase) entry `entry_key`."""
    return _resolved(door, "ledger.post-pending", "ledger.pending", body, post_pending=entry_key)


@ledger_router.post("/entries/{entry_key:path}/void", status_code=201)
def void_pending_entry(entry_key: str, body: VoidBody, door: DoorDep) -> Response:
    """`ledger void-pending`: void the pending entry `entry_key`, releasing what it reserved."""
    return _resolved(door, "ledger.void-pending", "ledger.pending", body, void_pending=entry_key)


@ledger_router.post("/pending/expire")
def expire_pending_entries(door: DoorDep) -> dict[str, int]:
    """`ledger expire-pending`: void every pending entry whose timeout has passed."""
    from backoffice.ledger.service import expire_pending

    with door.command("ledger.expire-pending", "ledger.pending", Access.WRITE) as who:
        return {"expired": expire_pending(door.store, actor=who.login)}


@ledger_router.post("/ledger/verify")
def verify(door: DoorDep) -> dict[str, Any]:
    """`ledger verify`: every balance, zero sum and hash link recomputed from the postings;
    `ok` false with the problems found when any is wrong."""
    from backoffice.ledger.verify import verify_ledger

    with door.command("ledger.verify", "ledger.read", Access.READ):
        problems = verify_ledger(door.store)
    return {
        "ok": not problems,
        "problems": [{"code": p.code, "reason": p.reason} for p in problems],
    }


@ledger_router.get("/ledger/quarantine")
def quarantine(door: DoorDep, limit: int = Limit, after: str | None = None) -> dict[str, Any]:
    """`ledger quarantine`: refused input lines with their raw text and reasons, oldest first."""
    from backoffice.ledger.queries import quarantined

    cursor = id_cursor(after)
    with door.command("ledger.quarantine", "ledger.read", Access.READ):
        page = quarantined(door.store, limit=bounded_limit(limit), after=cursor)
    return {"items": page.items, "next": page.next}


_EXPORT_MEDIA = {
    "beancount": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


@ledger_router.get("/ledger/export")
def export(door: DoorDep, format: str) -> Response:
    """`ledger export --format beancount|csv|parquet`: the posted entries as the CLI writes
    them, as a download (an audited read: the export is client data)."""
    from backoffice.api.downloads import download, download_folder
    from backoffice.ledger.export import export_ledger

    with download_folder() as folder:
        path = folder / f"ledger.{format if format in _EXPORT_MEDIA else 'out'}"
        with door.command(
            "ledger.export", "ledger.export", Access.AUDITED_READ, {"format": format}
        ):
            export_ledger(door.store, format, path)
        return download(folder, path, _EXPORT_MEDIA[format], path.name)
