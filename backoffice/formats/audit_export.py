"""An audit-trail export a reader checks without Backoffice: `events.jsonl` (one event per
line, with the fields its hash covers and the hash before it) and `manifest.json` (count, first
and last sequence number, the period, the chain head at export time, the SHA-256 and size of
each file, and how an event's hash is computed).

To verify: for each line, SHA-256 of the compact JSON array
`[previous_hash, id, at_us, actor, command, detail_json]`, with
`user_id, authentication, permission, outcome` appended when any of them is set, must equal
`hash`; each line's `previous_hash` is the line before's `hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

FORMAT = "backoffice-audit-export/1"
HASH_RECIPE = (
    "sha256(json([previous_hash, id, at_us, actor, command, detail_json] + "
    "([user_id, authentication, permission, outcome] if any is not null)))"
    ", JSON compact, UTF-8"
)


def write_audit_export(
    events: Iterable[dict[str, Any]], directory: Path, *, period: dict[str, str], head: Any
) -> dict[str, Any]:
    """Write the two files; gives the manifest. The events file is written first and the
    manifest last, so a manifest is only there for a complete export."""
    directory.mkdir(parents=True, exist_ok=True)
    events_path = directory / "events.jsonl"
    digest = hashlib.sha256()
    count, first, last, size = 0, None, None, 0
    with events_path.open("wb") as out:
        for event in events:
            line = orjson.dumps(event) + b"\n"
            out.write(line)
            digest.update(line)
            size += len(line)
            count += 1
            first = event["id"] if first is None else first
            last = event["id"]
    manifest = {
        "format": FORMAT,
        "period": period,
        "count": count,
        "first_id": first,
        "last_id": last,
        "chain_head": head,
        "hash_recipe": HASH_RECIPE,
        "files": [{"name": events_path.name, "sha256": digest.hexdigest(), "bytes": size}],
    }
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest
