"""One command run by one principal: the permission check, the audit stamp and the record of a
refusal or a failure. Entry points call `invoke` around the service call; the service writes
the command's one audit event in the same transaction as its effect, and that event carries
the stamp (user id, how they authenticated, the permission, the outcome) set here.

- A principal without the permission is refused with `forbidden: LOGIN lacks PERMISSION`,
  recorded in its own transaction, and nothing runs.
- A writing command that fails with expected errors before writing its event gets an event
  with outcome `failed` and the problems' codes (its effect was rolled back).
- A read that exports or reports client data (`AUDITED_READ`), and a write whose service
  wrote no event (nothing changed, or the schema migrated), get an event of their own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import orjson

from backoffice.admin.identity import Principal
from backoffice.errors import Problem, ProblemError
from backoffice.store.audit_chain import Acting, AuditStamp, acting, append_event
from backoffice.store.engine import Store

problems_recorded_max = 20


class Access(StrEnum):
    WRITE = "write"
    READ = "read"  # not recorded when allowed: listings and balances
    AUDITED_READ = "audited-read"  # exports and reports of client data


def _now_us() -> int:
    return time.time_ns() // 1_000


def record(
    store: Store,
    principal: Principal,
    command: str,
    permission: str,
    outcome: str,
    detail: Mapping[str, Any],
) -> None:
    """One audit event in its own transaction (a refusal, a failure, an audited read)."""
    stamp = AuditStamp(principal.user_id, principal.describe_authentication(), permission, outcome)
    with store.write() as connection:
        append_event(
            connection, _now_us(), principal.login, command, orjson.dumps(detail).decode(), stamp
        )


def authorize(store: Store, principal: Principal, command: str, permission: str) -> None:
    if principal.may(permission):
        return
    record(store, principal, command, permission, "forbidden", {"reason": "permission missing"})
    raise ProblemError(Problem("forbidden", f"{principal.login} lacks {permission}"))


@contextmanager
def invoke(
    store: Store,
    principal: Principal,
    command: str,
    permission: str,
    *,
    access: Access,
    request: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Run the body as `command` by `principal` under `permission` (see the module's doc)."""
    authorize(store, principal, command, permission)
    running = Acting(AuditStamp(principal.user_id, principal.describe_authentication(), permission))
    reset = acting.set(running)
    try:
        yield
    except ProblemError as error:
        acting.reset(reset)
        if access is Access.WRITE and running.events == 0:
            problems = [
                {"code": problem.code, "reason": problem.reason}
                for problem in error.problems[:problems_recorded_max]
            ]
            detail = {"request": dict(request or {}), "problems": problems}
            refused = all(problem.code == "forbidden" for problem in error.problems)
            outcome = "forbidden" if refused else "failed"
            record(store, principal, command, permission, outcome, detail)
        raise
    except BaseException:
        acting.reset(reset)
        raise
    acting.reset(reset)
    if access is not Access.READ and running.events == 0:
        # The layer, not each service, guarantees every write and audited read its one event.
        record(store, principal, command, permission, "ok", {"request": dict(request or {})})
