"""The REST API, in process (httpx through FastAPI's TestClient): bearer tokens, problem
details, idempotent entries (201/200/409), 202 for a command that waits, the audit event of
every request, and keyset pages."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backoffice.admin.identity_service import add_user, issue_token
from backoffice.api.app import create_app
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_BANK, USD, reference_data


@pytest.fixture
def api(store: Store) -> TestClient:
    load_refdata(store, reference_data(), actor="test", source="tests/test_api.py")
    add_user(store, "admin", name="Admin", roles=["admin"], os_user="nobody-here", actor="test")
    return TestClient(create_app(store))


def token(store: Store, login: str, *roles: str) -> dict[str, str]:
    add_user(store, login, name=login.title(), roles=list(roles), os_user=None, actor="admin")
    issued = issue_token(store, login, expires_days=None, actor="admin")
    return {"Authorization": f"Bearer {issued.token}"}


def entry(key: str, amount: str = "10.00") -> dict[str, Any]:
    return {
        "key": key, "date": "2026-11-16", "description": "deposit",
        "postings": [{"account": FIRM_BANK[USD], "amount": amount},
                     {"account": CLIENT_OPEN[USD], "amount": f"-{amount}"}],
    }  # fmt: skip


def last_event(store: Store) -> Any:
    with store.read() as connection:
        return connection.execute(
            sa.select(schema.audit_log).order_by(schema.audit_log.c.id.desc()).limit(1)
        ).one()


def test_no_token_is_401_and_a_bad_one_401_audited_both_as_problem_details(
    api: TestClient, store: Store
) -> None:
    missing = api.get("/api/v1/balances")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "unauthenticated"
    assert missing.json()["type"].endswith("/unauthenticated")
    bad = api.get("/api/v1/balances", headers={"Authorization": "Bearer bo_nope"})
    assert bad.status_code == 401
    assert (last_event(store).command, last_event(store).outcome) == ("authenticate", "refused")


def test_a_permission_missing_is_403_and_audited(api: TestClient, store: Store) -> None:
    auditor = token(store, "carl", "auditor")
    refused = api.post("/api/v1/entries", json=entry("e-1"), headers=auditor)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "forbidden: carl lacks ledger.post"
    assert (last_event(store).actor, last_event(store).outcome) == ("carl", "forbidden")


def test_an_entry_is_201_then_200_with_the_original_and_409_for_the_key_with_another_body(
    api: TestClient, store: Store
) -> None:
    ops = token(store, "olga", "operations")
    created = api.post("/api/v1/entries", json=entry("e-1"), headers=ops)
    assert created.status_code == 201, created.text
    again = api.post("/api/v1/entries", json=entry("e-1"), headers=ops)
    assert again.status_code == 200
    assert again.json() == created.json()
    conflict = api.post("/api/v1/entries", json=entry("e-1", "99.00"), headers=ops)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "key_conflict"
    event = last_event(store)
    assert (event.actor, event.permission) == ("olga", "ledger.post")


def test_the_idempotency_key_header_keys_an_entry_that_has_none(
    api: TestClient, store: Store
) -> None:
    ops = token(store, "olga", "operations")
    body = entry("x")
    del body["key"]
    first = api.post("/api/v1/entries", json=body, headers={**ops, "Idempotency-Key": "idem-7"})
    assert first.status_code == 201
    assert first.json()["key"] == "idem-7"
    fetched = api.get("/api/v1/entries/idem-7", headers=ops)
    assert fetched.json()["postings"][0]["amount"] == "10.00"


def test_bad_input_is_422_with_each_error_and_never_a_500(api: TestClient, store: Store) -> None:
    ops = token(store, "olga", "operations")
    broken = api.post("/api/v1/entries", content=b"{not json", headers=ops)
    assert broken.status_code == 422
    assert broken.json()["code"] == "malformed_json"
    unbalanced = api.post(
        "/api/v1/entries", json=entry("e-2") | {"postings": entry("e-2")["postings"][:1]},
        headers=ops,
    )  # fmt: skip
    assert unbalanced.status_code == 422
    assert unbalanced.json()["errors"][0]["code"]
    unknown = api.post("/api/v1/approvals/1/reject", json={"reason": "x", "extra": 1},
                       headers=token(store, "sam", "supervisor"))  # fmt: skip
    assert unknown.status_code == 422


def test_a_body_over_the_limit_is_413(api: TestClient, store: Store, monkeypatch: Any) -> None:
    ops = token(store, "olga", "operations")
    monkeypatch.setattr("backoffice.api.app.body_bytes_max", 100)
    refused = api.post("/api/v1/entries", json=entry("e-big"), headers=ops)
    assert refused.status_code == 413


def test_a_command_under_approval_answers_202_with_the_approval_then_approves(
    api: TestClient, store: Store
) -> None:
    ops = token(store, "olga", "operations")
    sup = token(store, "sam", "supervisor")
    from backoffice.formats.refdata_file import parse_refdata

    policy = parse_refdata(
        "approval_policies:\n  - {permission: ledger.post, rule: always}\n", "p", csv_format=False
    )
    load_refdata(store, policy, actor="test", source="p")
    waiting = api.post("/api/v1/entries", json=entry("e-3"), headers=ops)
    assert waiting.status_code == 202
    number = waiting.json()["approval_id"]
    assert waiting.json()["status"] == "awaiting_approval"
    assert waiting.headers["location"] == f"/api/v1/approvals/{number}"
    assert api.get("/api/v1/entries/e-3", headers=ops).status_code == 404
    own = api.post(f"/api/v1/approvals/{number}/approve", headers=ops)
    assert own.status_code == 403
    done = api.post(f"/api/v1/approvals/{number}/approve", json={"reason": "ok"}, headers=sup)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "approved"
    assert api.get("/api/v1/entries/e-3", headers=ops).status_code == 200


def test_the_same_request_retried_concurrently_creates_one_entry(
    api: TestClient, store: Store
) -> None:
    ops = token(store, "olga", "operations")
    statuses: list[int] = []

    def post() -> None:
        statuses.append(api.post("/api/v1/entries", json=entry("race"), headers=ops).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    with store.read() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).where(schema.journal_entries.c.key == "race")
        ).scalar_one()
    assert count == 1


def test_entry_pages_are_keyset_and_stable_under_inserts(api: TestClient, store: Store) -> None:
    ops = token(store, "olga", "operations")
    for n in range(5):
        assert api.post("/api/v1/entries", json=entry(f"p-{n}"), headers=ops).status_code == 201
    first = api.get("/api/v1/entries?limit=2", headers=ops).json()
    assert [item["key"] for item in first["items"]] == ["p-4", "p-3"]
    api.post("/api/v1/entries", json=entry("p-new"), headers=ops)
    second = api.get(f"/api/v1/entries?limit=2&after={first['next']}", headers=ops).json()
    assert [item["key"] for item in second["items"]] == ["p-2", "p-1"]
    assert api.get("/api/v1/entries?after=zz", headers=ops).status_code == 422


def test_health_and_openapi_answer_without_a_token(api: TestClient) -> None:
    health = api.get("/health").json()
    assert health["status"] == "ok"
    assert health["schema"] == health["head"]
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/entries" in spec["paths"]


def test_balances_and_the_audit_trail_read_through_the_api(api: TestClient, store: Store) -> None:
    ops = token(store, "olga", "operations")
    auditor = token(store, "carl", "auditor")
    api.post("/api/v1/entries", json=entry("b-1", "7.00"), headers=ops)
    lines = api.get(f"/api/v1/balances?account={FIRM_BANK[USD]}", headers=ops).json()
    assert lines[0]["balance"] == "7.00"
    events = api.get("/api/v1/audit?user=olga", headers=auditor).json()["items"]
    assert [e["permission"] for e in events] == ["ledger.post"]
    assert api.get("/api/v1/audit", headers=ops).status_code == 403


def test_every_api_route_is_a_plain_function_so_its_database_work_never_blocks_the_loop(
    api: TestClient,
) -> None:
    import inspect

    from fastapi.routing import APIRoute

    from backoffice.api import (
        routes_admin,
        routes_ledger,
        routes_recon,
        routes_refdata,
        routes_settlement,
        routes_trades,
        routes_users,
    )  # fmt: skip

    routers = [routes_admin.admin_router, routes_ledger.ledger_router, routes_recon.recon_router,
               routes_refdata.refdata_router, routes_settlement.settlement_router,
               routes_trades.trades_router, routes_users.users_router]  # fmt: skip
    endpoints = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    assert len(endpoints) > 50
    coroutines = [r.path for r in endpoints if inspect.iscoroutinefunction(r.endpoint)]
    assert coroutines == []
