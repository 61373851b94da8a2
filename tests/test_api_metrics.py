"""`GET /metrics`: Prometheus text with requests by route template and status, latency,
commands by outcome and the approvals waiting; never a key, an account or a user as a label."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from backoffice.formats.refdata_file import parse_refdata
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from tests.test_api import api as api_fixture
from tests.test_api import entry, token

api = api_fixture  # the fixture, under the name the tests ask for


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_route_template_and_commands_by_outcome(
    api: TestClient, store: Store
) -> None:
    ops = token(store, "olga", "operations")
    auditor = token(store, "carl", "auditor")
    assert api.post("/api/v1/entries", json=entry("m-1"), headers=ops).status_code == 201
    assert api.post("/api/v1/entries", json=entry("m-1"), headers=ops).status_code == 200
    assert api.post("/api/v1/entries", json=entry("m-2"), headers=auditor).status_code == 403
    assert api.get("/api/v1/entries/m-1", headers=ops).status_code == 200
    seen = samples(api)
    posted = frozenset({("method", "POST"), ("route", "/api/v1/entries"), ("status", "201")})
    assert seen[("backoffice_http_requests_total", posted)] == 1
    again = frozenset({("method", "POST"), ("route", "/api/v1/entries"), ("status", "200")})
    assert seen[("backoffice_http_requests_total", again)] == 1
    one = frozenset({("method", "GET"), ("route", "/api/v1/entries/{key:path}"), ("status", "200")})
    assert seen[("backoffice_http_requests_total", one)] == 1
    assert not any("m-1" in str(labels) for _, labels in seen)  # the key is never a label
    ok = frozenset({("command", "ledger.post"), ("outcome", "ok")})
    refused = frozenset({("command", "ledger.post"), ("outcome", "forbidden")})
    assert (
        seen[("backoffice_commands_total", ok)],
        seen[("backoffice_commands_total", refused)],
    ) == (2, 1)
    timed = frozenset({("method", "POST"), ("route", "/api/v1/entries")})
    assert seen[("backoffice_http_request_duration_seconds_count", timed)] == 3


def test_metrics_show_the_approvals_waiting_and_unmatched_routes_as_one_series(
    api: TestClient, store: Store
) -> None:
    policy = "approval_policies:\n  - {permission: ledger.post, rule: always}\n"
    load_refdata(store, parse_refdata(policy, "p", csv_format=False), actor="test", source="p")
    ops = token(store, "olga", "operations")
    assert api.post("/api/v1/entries", json=entry("w-1"), headers=ops).status_code == 202
    assert api.get("/no/such/thing/42").status_code == 404
    assert api.get("/no/such/thing/43").status_code == 404
    seen = samples(api)
    assert seen[("backoffice_approvals_awaiting", frozenset())] == 1
    unmatched = frozenset({("method", "GET"), ("route", "unmatched"), ("status", "404")})
    assert seen[("backoffice_http_requests_total", unmatched)] == 2
