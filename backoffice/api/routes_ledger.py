"""`/api/v1` ledger resources: entries (post, list, one by key), balances, the trial balance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from backoffice.admin.approval_service import Parked
from backoffice.api.app import DoorDep, parked
from backoffice.api.paging import Limit, id_cursor
from backoffice.api.problems import problem_response
from backoffice.commands.invocation import Access
from backoffice.errors import Problem, ProblemError
from backoffice.ledger.queries import bounded_limit, entry_by_key, recent_entries

ledger_router = APIRouter(tags=["ledger"])
api_entries_max = 1_000  # entries per request


@ledger_router.post("/entries", status_code=201)
async def post_entries(
    request: Request,
    door: DoorDep,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Response:
    """One entry (its `key`, or the `Idempotency-Key` header, makes a retry safe: 201 created,
    200 the same entry again, 409 `key_conflict` the same key with another body) or
    `{"entries": [...]}` up to 1,000, as the entries file's lines."""
    from backoffice.ledger.entry_approval_service import submit_entries_data

    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise ProblemError(Problem("malformed_json", str(error))) from None
    single = not (isinstance(body, dict) and "entries" in body)
    entries = [body] if single else body["entries"]
    if not isinstance(entries, list) or not entries or len(entries) > api_entries_max:
        raise ProblemError(
            Problem("invalid_request", f"entries: a list of 1 to {api_entries_max} entries")
        )
    if (
        single
        and idempotency_key is not None
        and isinstance(body, dict)
        and body.setdefault("key", idempotency_key) != idempotency_key
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
