"""The audit trail verified and exported over the API, as `backoffice audit verify` and
`audit export`: the export is the CLI's two files, zipped, checkable without Backoffice."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from backoffice.admin.audit_export_service import export_audit
from backoffice.api.app import create_app
from backoffice.store.engine import Store
from tests.test_api import last_event, token
from tests.test_audit_chain import behind_the_back

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def api(store: Store) -> TestClient:
    token(store, "admin", "admin")
    return TestClient(create_app(store))


def period(days_before: int = 1, days_after: int = 1) -> str:
    since, until = TODAY - dt.timedelta(days_before), TODAY + dt.timedelta(days_after)
    return f"from={since}&to={until}"


def test_an_untouched_trail_verifies_and_a_changed_event_is_named(
    api: TestClient, store: Store, database_url: str
) -> None:
    auditor = token(store, "carl", "auditor")
    verified = api.post("/api/v1/audit/verify", headers=auditor)
    assert verified.status_code == 200
    body = verified.json()
    assert (body["ok"], body["events"], body["problems"]) == (True, 4, [])
    assert len(body["head_hash"]) == 64
    behind_the_back(database_url, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    broken = api.post("/api/v1/audit/verify", headers=auditor).json()
    assert broken["ok"] is False
    assert broken["problems"][0]["code"] == "chain_broken"
    assert "audit event 2 " in broken["problems"][0]["reason"]


def test_verifying_the_trail_needs_audit_read(api: TestClient, store: Store) -> None:
    ops = token(store, "olga", "operations")
    refused = api.post("/api/v1/audit/verify", headers=ops)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "forbidden: olga lacks audit.read"


def test_the_export_is_a_zip_of_the_cli_files_that_checks_and_is_itself_audited(
    api: TestClient, store: Store, tmp_path: Path
) -> None:
    auditor = token(store, "carl", "auditor")
    answer = api.get(f"/api/v1/audit/export?{period()}", headers=auditor)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert ".zip" in answer.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert sorted(archive.namelist()) == ["events.jsonl", "manifest.json"]
    manifest = orjson.loads(archive.read("manifest.json"))
    events = archive.read("events.jsonl")
    assert manifest["count"] == len(events.splitlines()) == 4
    assert manifest["files"][0]["sha256"] == hashlib.sha256(events).hexdigest()
    cli = export_audit(store, TODAY - dt.timedelta(1), TODAY + dt.timedelta(1), tmp_path / "cli")
    assert (tmp_path / "cli" / "events.jsonl").read_bytes().startswith(events)
    assert cli["first_id"] == manifest["first_id"]
    event = last_event(store)
    assert (event.command, event.actor, event.outcome) == ("audit.export", "carl", "ok")
    assert orjson.loads(event.detail_json)["request"] == {
        "from": str(TODAY - dt.timedelta(1)), "to": str(TODAY + dt.timedelta(1)),
    }  # fmt: skip


def test_a_period_with_no_events_exports_an_empty_trail(api: TestClient, store: Store) -> None:
    auditor = token(store, "carl", "auditor")
    answer = api.get("/api/v1/audit/export?from=2001-01-01&to=2001-01-31", headers=auditor)
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert orjson.loads(archive.read("manifest.json"))["count"] == 0
    assert archive.read("events.jsonl") == b""


def test_the_export_needs_audit_export_and_both_days(api: TestClient, store: Store) -> None:
    ops = token(store, "olga", "operations")
    refused = api.get(f"/api/v1/audit/export?{period()}", headers=ops)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "forbidden: olga lacks audit.export"
    auditor = token(store, "carl", "auditor")
    assert api.get("/api/v1/audit/export?from=2026-01-01", headers=auditor).status_code == 422
    bad = api.get("/api/v1/audit/export?from=yesterday&to=2026-01-01", headers=auditor)
    assert bad.status_code == 422
