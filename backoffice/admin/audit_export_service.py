"""`audit export` for every door: the events of a period of UTC days written into a directory
as `events.jsonl` and `manifest.json` (backoffice/formats/audit_export.py), checkable without
Backoffice. The API writes them into a temporary directory and answers them zipped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from backoffice.formats.audit_export import write_audit_export
from backoffice.store.audit_queries import AuditFilter, chain_head, exported_events
from backoffice.store.engine import Store


def export_audit(store: Store, since: dt.date, until: dt.date, directory: Path) -> dict[str, Any]:
    """Write the period's events (both days included) into `directory`; gives the manifest."""
    return write_audit_export(
        exported_events(store, AuditFilter(since=since, until=until)),
        directory,
        period={"from": str(since), "to": str(until)},
        head=chain_head(store),
    )
