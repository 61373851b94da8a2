"""`audit export`: JSONL and a manifest that a reader verifies with nothing but hashlib."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from backoffice.store.engine import Store
from tests.cli_runner import Cli, staff


def recompute(event: dict[str, object]) -> str:
    """The hash recipe the manifest states, written from it alone."""
    fields = [event["previous_hash"], event["id"], event["at_us"], event["actor"],
              event["command"], event["detail_json"]]  # fmt: skip
    stamp = [event["user_id"], event["authentication"], event["permission"], event["outcome"]]
    if any(value is not None for value in stamp):
        fields += stamp
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(body).hexdigest()


def test_an_export_is_checkable_without_backoffice_and_is_itself_audited(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    tokens = staff(cli, alice="operations", carl="auditor")
    assert cli("users", "disable", "alice").status == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = tmp_path / "export"
    done = cli("audit", "export", "--from", today, "--to", today, "-o", str(out),
               token=tokens["carl"])  # fmt: skip
    assert done.status == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    lines = (out / "events.jsonl").read_bytes()
    (described,) = manifest["files"]
    assert described["sha256"] == hashlib.sha256(lines).hexdigest()
    events = [json.loads(line) for line in lines.splitlines()]
    assert manifest["count"] == len(events) >= 6
    assert (manifest["first_id"], manifest["last_id"]) == (events[0]["id"], events[-1]["id"])
    for before, event in zip([None, *events], events, strict=False):
        assert recompute(event) == event["hash"]
        if before is not None:
            assert event["previous_hash"] == before["hash"]
    assert manifest["chain_head"]["hash"] == events[-1]["hash"]
    listed = cli("audit", "list", "--permission", "audit.export", "--json", token=tokens["carl"])
    (recorded,) = listed.json()["items"]
    assert (recorded["actor"], recorded["outcome"]) == ("carl", "ok")


def test_operations_may_not_export_the_audit_trail(cli: Cli, tmp_path: Path) -> None:
    tokens = staff(cli, olga="operations")
    refused = cli("audit", "export", "--from", "2026-01-01", "--to", "2026-12-31",
                  "-o", str(tmp_path), token=tokens["olga"])  # fmt: skip
    assert refused.stderr == "error: forbidden: olga lacks audit.export\n"
