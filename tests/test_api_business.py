"""The API's listings of trades, fails, breaks, reference data and users, and a break's
investigation by PATCH: each through the same command and permission as the CLI."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from backoffice.admin.identity_service import add_user, issue_token
from backoffice.api.app import create_app
from backoffice.store.engine import Store
from tests.cli_runner import Cli
from tests.test_recon_cli import NOSTRO, fee_break
from tests.test_recon_cli import books as recon_books

books = recon_books  # the fixture, under the name the tests ask for


def bearer(store: Store, login: str, role: str) -> dict[str, str]:
    first = login == "admin"
    add_user(store, login, name=login, roles=[role], os_user="nobody-here" if first else None,
             actor="test")  # fmt: skip
    return {"Authorization": f"Bearer {issue_token(store, login, expires_days=1, actor='t').token}"}


def test_a_break_is_investigated_through_patch_and_listed_with_its_owner(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    found = fee_break(books, cli, tmp_path)
    api = TestClient(create_app(books))
    bearer(books, "admin", "admin")
    ops = bearer(books, "olga", "operations")
    changed = api.patch(
        f"/api/v1/breaks/{found['break_id']}",
        json={"owner": "olga", "status": "investigating", "comment": "asked the bank"},
        headers=ops,
    )
    assert changed.status_code == 200, changed.text
    listed = api.get("/api/v1/breaks?status=investigating", headers=ops).json()["items"]
    assert [(b["break_id"], b["owner"]) for b in listed] == [(found["break_id"], "olga")]
    bad = api.patch(f"/api/v1/breaks/{found['break_id']}", json={"status": "resolved"}, headers=ops)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_status")
    unknown_field = api.patch(f"/api/v1/breaks/{found['break_id']}", json={"x": 1}, headers=ops)
    assert unknown_field.status_code == 422


def test_reference_data_trades_and_fails_are_listed_to_operations_and_users_only_to_admins(
    books: Store,
) -> None:
    api = TestClient(create_app(books))
    admin = bearer(books, "admin", "admin")
    ops = bearer(books, "olga", "operations")
    accounts = api.get("/api/v1/refdata/accounts", headers=ops).json()
    assert NOSTRO in {account["code"] for account in accounts}
    assert api.get("/api/v1/refdata/nonsense", headers=ops).status_code == 422
    assert api.get("/api/v1/trades", headers=ops).json() == {"items": [], "next": None}
    assert api.get("/api/v1/fails?as_of=2026-11-30", headers=ops).status_code == 200
    users = api.get("/api/v1/users", headers=admin).json()
    assert {user["login"] for user in users} == {"admin", "olga"}
    assert api.get("/api/v1/users", headers=ops).status_code == 403
    roles = {role["role"] for role in api.get("/api/v1/roles", headers=admin).json()}
    assert roles >= {"operations", "supervisor", "compliance", "auditor", "admin"}


def test_a_reference_data_change_is_posted_as_yaml_and_waits_under_its_policy(
    books: Store,
) -> None:
    api = TestClient(create_app(books))
    bearer(books, "admin", "admin")
    ops = bearer(books, "olga", "operations")
    sup = bearer(books, "sam", "supervisor")
    policy = (
        "approval_policies:\n  - {permission: refdata.change, rule: always, sections: [parties]}\n"
    )
    first = api.post("/api/v1/refdata", content=policy, headers=ops)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1
    party = "parties:\n  - {code: C77, kind: client, name: New Client}\n"
    waiting = api.post("/api/v1/refdata", content=party, headers=ops)
    assert waiting.status_code == 202
    (change,) = api.get(waiting.headers["location"], headers=sup).json()["effect"]["changes"]
    assert (change["code"], change["before"], change["after"]["name"]) == (
        "C77",
        None,
        "New Client",
    )
    approve = api.post(f"{waiting.headers['location']}/approve", headers=sup)
    assert approve.json()["status"] == "approved"
    parties = api.get("/api/v1/refdata/parties", headers=ops).json()
    assert "C77" in {p["code"] for p in parties}
    broken = api.post("/api/v1/refdata", content="parties: [{code: 1}]\n", headers=ops)
    assert broken.status_code == 422
    assert broken.json()["errors"]


def test_executions_posted_as_a_fix_log_are_captured_once_and_listed(
    store: Store, tmp_path: Path
) -> None:
    from tests.trading import execution, load_desk

    load_desk(store, tmp_path)
    api = TestClient(create_app(store))
    bearer(store, "admin", "admin")
    ops = bearer(store, "olga", "operations")
    log = b"".join(execution(f"X{n}") + b"\n" for n in range(3)) + b"8=FIX.4.4\x019=5\x0135=8\x01\n"
    first = api.post("/api/v1/executions", content=log, headers=ops).json()
    assert (first["captured"], first["quarantined"]) == (3, 1)
    assert first["errors"][0]["code"]
    again = api.post("/api/v1/executions", content=log, headers=ops).json()
    assert (again["captured"], again["existing"]) == (0, 3)
    listed = api.get("/api/v1/trades", headers=ops).json()["items"]
    assert len(listed) == 3
