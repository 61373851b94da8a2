"""The command `refdata.change`: load a reference-data file as one change, with every record's
before and after in its one audit event. When the approval policy in force says so (a
change to SSIs, fee rates, accounts or the policies themselves, say) the change is computed
in a savepoint that is rolled back, and parked with its before/after for a second person;
approving it loads the same text again against the state at that moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.admin.approval_policy import waits
from backoffice.admin.approval_policy_service import policies_in_force, policy_for
from backoffice.admin.approval_service import Parked, park
from backoffice.admin.identity import Principal
from backoffice.errors import Problem, ProblemError
from backoffice.formats.refdata_file import parse_refdata
from backoffice.refdata.service import LoadSummary, list_refdata, load_refdata
from backoffice.store import schema
from backoffice.store.audit_chain import append_event, held_audit
from backoffice.store.engine import Store

PERMISSION = "refdata.change"


@dataclass(frozen=True, slots=True)
class Change:
    summary: LoadSummary
    changes: list[dict[str, Any]]


def snapshot(store: Store) -> dict[tuple[str, str], Any]:
    """Every reference-data record as JSON values, by (section, code)."""
    found: dict[tuple[str, str], Any] = {}
    for section, records in list_refdata(store).items():
        for record in records:
            found[(section, record.code)] = _plain(record)
    with store.read() as connection:
        for code, policy in policies_in_force(connection).items():
            found[("approval_policies", code)] = policy.as_json()
    return found


def _plain(record: Any) -> Any:
    if isinstance(record, Enum):
        return record.value
    if hasattr(record, "__slots__") and not isinstance(record, str | int | bool):
        return {name: _plain(getattr(record, name)) for name in record.__slots__}
    if isinstance(record, frozenset | set | tuple | list):
        return sorted(_plain(item) for item in record)
    if hasattr(record, "value") and not isinstance(record, str | int | bool):
        return record.value
    return record if record is None or isinstance(record, str | int | bool) else str(record)


def differences(
    before: dict[tuple[str, str], Any], after: dict[tuple[str, str], Any]
) -> list[dict[str, Any]]:
    return [
        {"section": section, "code": code, "before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        for section, code in [key]
        if before.get(key) != after.get(key)
    ]


def _load(store: Store, text: str, source: str, csv_format: bool, actor: str) -> Change:
    """Load the text inside the caller's unit of work; its before/after."""
    refdata = parse_refdata(text, source, csv_format=csv_format)
    before = snapshot(store)
    summary = load_refdata(store, refdata, actor=actor, source=source)
    return Change(summary, differences(before, snapshot(store)))


def change_refdata(
    store: Store, maker: Principal, text: str, *, source: str, csv_format: bool
) -> Change | Parked:
    """Run the change, or park it when the policy in force before it says it waits."""
    request = {"source": source, "format": "csv" if csv_format else "yaml", "text": text}
    with store.unit_of_work() as connection:
        policy = policy_for(connection, PERMISSION)
        policies_guarded = _policies_guarded(connection)  # as in force before this change
        savepoint = connection.begin_nested()
        try:
            with held_audit(connection):
                change = _load(store, text, source, csv_format, maker.login)
        except ProblemError:
            savepoint.rollback()
            raise
        sections = frozenset(item["section"] for item in change.changes)
        guarded = "approval_policies" in sections and policies_guarded
        if guarded or (waits(policy, sections_changed=sections) and policy is not None):
            savepoint.rollback()  # nothing of the change is stored while it waits
            return park(
                connection,
                maker,
                command=PERMISSION,
                permission=PERMISSION,
                target=f"refdata {source}",
                request=request,
                effect=_effect(change),
                approvers=policy.approvers if policy is not None else 1,
            )
        savepoint.commit()
        record_versions(connection, change.changes, maker.login)
        _audit(connection, maker.login, source, change)
    return change


def record_versions(
    connection: sa.Connection,
    changes: list[dict[str, Any]],
    changed_by: str,
    *,
    approved_by: str | None = None,
    approval_id: int | None = None,
) -> None:
    """One version per record changed, in the change's transaction (`refdata history`)."""
    if not changes:
        return
    at = time.time_ns() // 1_000
    connection.execute(
        sa.insert(schema.refdata_versions),
        [
            {
                "section": item["section"],
                "code": item["code"],
                "before_json": _json(item["before"]),
                "record_json": _json(item["after"]),
                "changed_at_us": at,
                "changed_by": changed_by,
                "approved_by": approved_by,
                "approval_id": approval_id,
            }
            for item in changes
        ],
    )


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _policies_guarded(connection: sa.Connection) -> bool:
    """Whether a change to the policies must wait: once any loaded policy makes something
    wait, nobody changes the policies alone (loosening four-eyes is four-eyes too). The first
    policies a database is given apply at once."""
    p = schema.approval_policies
    return (
        connection.execute(sa.select(p.c.permission).where(p.c.rule != "never").limit(1)).first()
        is not None
    )


def _codes(changes: list[dict[str, Any]]) -> str:
    shown = [f"{item['section']} {item['code']}" for item in changes[:10]]
    return ", ".join(shown) + (" ..." if len(changes) > 10 else "") if shown else "nothing"


def _effect(change: Change) -> dict[str, Any]:
    s = change.summary
    return {
        "created": s.created,
        "changed": s.changed,
        "unchanged": s.unchanged,
        "changes": change.changes,
    }


def _audit(connection: sa.Connection, actor: str, source: str, change: Change) -> None:
    detail = {"source": source, **_effect(change)}
    append_event(
        connection, time.time_ns() // 1_000, actor, "refdata.load", orjson.dumps(detail).decode()
    )


def apply_approved_change(
    store: Store,
    request: dict[str, Any],
    *,
    maker: str,
    approver: str,
    approval_id: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    """What approving a `refdata.change` runs (admin/approval_service): the same text loaded
    against the state now, its before/after the result."""
    change = _load(store, request["text"], request["source"], request["format"] == "csv", maker)
    if change.changes != effect["changes"]:
        # Approving applies what the approvers were shown, or nothing: a record changed since
        # (by another change) would otherwise be silently put back.
        raise ProblemError(
            Problem(
                "approval_stale",
                "the reference data changed since this was parked: loading it now would change "
                f"{_codes(change.changes)} where the approvers were shown "
                f"{_codes(effect['changes'])}; reject it and propose it again",
            )
        )
    with store.write() as connection:
        record_versions(
            connection, change.changes, maker, approved_by=approver, approval_id=approval_id
        )
    return _effect(change)
