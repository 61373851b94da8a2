"""Reading reference data's history: every version of a record with who changed it, when and
who approved it, and what was in force at a moment (SEC 17a-4's "re-create every version").
Versions are kept from the command layer on; a record untouched since then has no version and
is taken as in force since before its history begins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.refdata.change_service import snapshot
from backoffice.store import schema
from backoffice.store.engine import Store

versions_listed_max = 10_000


def _at(at_us: int) -> str:
    return dt.datetime.fromtimestamp(at_us / 1_000_000, dt.UTC).isoformat(timespec="microseconds")


def history(store: Store, code: str) -> list[dict[str, Any]]:
    """Each version of the records with this code (in any section), oldest first."""
    v = schema.refdata_versions
    with store.read() as connection:
        rows = connection.execute(
            sa.select(v).where(v.c.code == code).order_by(v.c.id).limit(versions_listed_max)
        ).all()
    return [
        {
            "version": number,
            "section": row.section,
            "code": row.code,
            "changed_at": _at(row.changed_at_us),
            "changed_by": row.changed_by,
            "approved_by": row.approved_by,
            "approval_id": row.approval_id,
            "before": orjson.loads(row.before_json) if row.before_json else None,
            "record": orjson.loads(row.record_json) if row.record_json else None,
        }
        for number, row in enumerate(rows, start=1)
    ]


def in_force(store: Store, at_us: int) -> dict[str, list[Any]]:
    """Every record as it stood at `at_us`, by section: the last version on or before it; for
    a record whose first version is later, that version's `before` (absent if it was new)."""
    v = schema.refdata_versions
    found: dict[tuple[str, str], Any] = dict(snapshot(store))
    later: dict[tuple[str, str], Any] = {}
    with store.read() as connection:
        for row in connection.execute(sa.select(v).order_by(v.c.id)):
            key = (row.section, row.code)
            if row.changed_at_us <= at_us:
                later.pop(key, None)
                found[key] = orjson.loads(row.record_json) if row.record_json else None
            elif key not in later:
                later[key] = orjson.loads(row.before_json) if row.before_json else None
    found.update(later)
    sections: dict[str, list[Any]] = {}
    for (section, _), record in sorted(found.items()):
        if record is not None:
            sections.setdefault(section, []).append(record)
    return sections
