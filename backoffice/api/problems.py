"""Expected errors as RFC 9457 problem details (`application/problem+json`): the stable code
ends `type` and is given as `code`; input problems list `errors: [{line, field, code, reason}]`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse

from backoffice.errors import Problem

PROBLEM_TYPE = "https://backoffice.dev/problems/"
MEDIA_TYPE = "application/problem+json"
_STATUS: dict[str, int] = {
    "unauthenticated": 401,
    "invalid_token": 401,
    "login_refused": 401,
    "login_throttled": 429,
    "forbidden": 403,
    "entry_not_found": 404,  # a reversal or resolution names no entry
    "four_eyes": 403,
    "key_conflict": 409,
    "user_exists": 409,
    "approval_decided": 409,
    "approval_stale": 409,
    "already_resolved": 409,  # the state moved on: a resubmission, a break already resolved
    "already_reversed": 409,
    "statement_changed": 409,  # a statement imported before, under its identity, differs now
    "holdings_changed": 409,
    "payload_too_large": 413,
}
_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests"}  # fmt: skip


def status_of(problems: Sequence[Problem]) -> int:
    """The HTTP status of a refusal: by its first problem's code (`unknown_*`: 404)."""
    code = problems[0].code
    if code in _STATUS:
        return _STATUS[code]
    return 404 if code.startswith("unknown_") and len(problems) == 1 else 422


def problem_response(problems: Sequence[Problem], status: int | None = None) -> JSONResponse:
    status = status or status_of(problems)
    first = problems[0]
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + first.code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": first.code,
        "detail": first.describe(),
        "errors": [
            {
                "line": problem.source.line,
                "field": problem.source.field,
                "code": problem.code,
                "reason": problem.reason,
            }
            for problem in problems
        ],
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)
