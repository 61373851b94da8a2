"""Users, their roles, passwords and tokens, and custom roles over the API: each as its
`backoffice users` or `roles` command, under `users.manage`; a token the API issues works on
the next request and stops working when revoked or its user disabled."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backoffice.admin.identity_service import add_user
from backoffice.api.app import create_app
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.test_api import last_event, token


@pytest.fixture
def api(store: Store) -> TestClient:
    return TestClient(create_app(store))


@pytest.fixture
def admin(store: Store) -> dict[str, str]:
    return token(store, "admin", "admin")


def new_user(login: str = "olga", *roles: str) -> dict[str, object]:
    return {"login": login, "name": login.title(), "roles": list(roles or ["operations"])}


def bearer(issued: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued['token']}"}


def test_an_admin_adds_a_user_who_is_listed_and_audited(
    api: TestClient, store: Store, admin: dict[str, str]
) -> None:
    added = api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    assert added.status_code == 201, added.text
    assert added.json() | {"id": 0} == {
        "id": 0, "login": "olga", "name": "Olga", "roles": ["operations"], "os_user": None,
        "enabled": True, "has_password": False, "active_tokens": 0,
    }  # fmt: skip
    assert added.headers["location"] == "/api/v1/users/olga"
    listed = api.get("/api/v1/users", headers=admin).json()
    assert [user["login"] for user in listed] == ["admin", "olga"]
    event = last_event(store)
    assert (event.command, event.actor, event.permission) == ("users.add", "admin", "users.manage")


def test_adding_a_user_refuses_a_taken_login_an_unknown_role_and_unknown_fields(
    api: TestClient, admin: dict[str, str]
) -> None:
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    taken = api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    assert (taken.status_code, taken.json()["code"]) == (409, "user_exists")
    unknown = api.post("/api/v1/users", json=new_user("bob", "wizard"), headers=admin)
    assert unknown.json()["code"] == "unknown_role"
    extra = api.post("/api/v1/users", json=new_user("bob") | {"admin": True}, headers=admin)
    assert extra.status_code == 422
    bad_login = api.post("/api/v1/users", json=new_user("no spaces"), headers=admin)
    assert bad_login.status_code == 422


def test_operations_may_not_manage_users_and_the_refusal_is_audited(
    api: TestClient, store: Store, admin: dict[str, str]
) -> None:
    ops = token(store, "olga", "operations")
    for method, path, body in [
        ("POST", "/api/v1/users", new_user("eve", "admin")),
        ("POST", "/api/v1/users/admin/disable", None),
        ("PUT", "/api/v1/users/olga/roles", {"roles": ["admin"]}),
        ("PUT", "/api/v1/users/admin/password", {"password": "correct horse battery"}),
        ("POST", "/api/v1/users/olga/tokens", {}),
        ("DELETE", "/api/v1/tokens/bo_abcdefghi", None),
        ("POST", "/api/v1/roles", None),
    ]:
        refused = api.request(method, path, json=body, headers=ops)
        assert refused.status_code == 403, path
        assert refused.json()["detail"] == "forbidden: olga lacks users.manage"
        assert (last_event(store).actor, last_event(store).outcome) == ("olga", "forbidden")


def test_a_token_issued_by_the_api_is_shown_once_and_authenticates_the_next_request(
    api: TestClient, store: Store, admin: dict[str, str]
) -> None:
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    issued = api.post("/api/v1/users/olga/tokens", json={"expires_days": 30}, headers=admin)
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["token"].startswith(body["prefix"])
    assert body["login"] == "olga"
    assert body["expires_at"] is not None
    assert api.get("/api/v1/balances", headers=bearer(body)).status_code == 200
    assert body["token"] not in last_event(store).detail_json  # only its prefix is kept
    never = api.post("/api/v1/users/olga/tokens", headers=admin).json()
    assert never["expires_at"] is None


def test_a_token_for_an_unknown_login_is_404_and_a_bad_expiry_422(
    api: TestClient, admin: dict[str, str]
) -> None:
    unknown = api.post("/api/v1/users/nobody/tokens", json={}, headers=admin)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_user")
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    zero = api.post("/api/v1/users/olga/tokens", json={"expires_days": 0}, headers=admin)
    assert (zero.status_code, zero.json()["code"]) == (422, "invalid_argument")


def test_a_revoked_token_is_refused_from_then_on(
    api: TestClient, store: Store, admin: dict[str, str]
) -> None:
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    issued = api.post("/api/v1/users/olga/tokens", headers=admin).json()
    revoked = api.delete(f"/api/v1/tokens/{issued['prefix']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json() == {"prefix": issued["prefix"], "login": "olga", "revoked": True}
    refused = api.get("/api/v1/balances", headers=bearer(issued))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    unknown = api.delete("/api/v1/tokens/bo_nosuchtok", headers=admin)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_token")


def test_a_disabled_user_is_refused_and_an_unknown_login_is_404(
    api: TestClient, admin: dict[str, str]
) -> None:
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    issued = api.post("/api/v1/users/olga/tokens", headers=admin).json()
    disabled = api.post("/api/v1/users/olga/disable", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert api.get("/api/v1/balances", headers=bearer(issued)).status_code == 401
    assert api.post("/api/v1/users/nobody/disable", headers=admin).status_code == 404


def test_roles_are_replaced_exactly_and_the_new_ones_take_effect(
    api: TestClient, admin: dict[str, str]
) -> None:
    api.post("/api/v1/users", json=new_user("olga", "auditor"), headers=admin)
    issued = bearer(api.post("/api/v1/users/olga/tokens", headers=admin).json())
    assert api.post("/api/v1/pending/expire", headers=issued).status_code == 403
    changed = api.put("/api/v1/users/olga/roles", json={"roles": ["operations"]}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["roles"] == ["operations"]
    assert api.post("/api/v1/pending/expire", headers=issued).status_code == 200
    none = api.put("/api/v1/users/olga/roles", json={"roles": []}, headers=admin)
    assert (none.status_code, none.json()["code"]) == (422, "invalid_role")
    assert (
        api.put("/api/v1/users/x/roles", json={"roles": ["auditor"]}, headers=admin).status_code
        == 404
    )


def test_a_password_is_stored_as_an_argon2_hash_and_never_audited(
    api: TestClient, store: Store, admin: dict[str, str]
) -> None:
    secret = "correct horse battery staple"
    api.post("/api/v1/users", json=new_user("olga"), headers=admin)
    done = api.put("/api/v1/users/olga/password", json={"password": secret}, headers=admin)
    assert done.status_code == 200, done.text
    with store.read() as connection:
        stored = connection.execute(
            sa.select(schema.users.c.password_hash).where(schema.users.c.login == "olga")
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert secret not in last_event(store).detail_json
    short = api.put("/api/v1/users/olga/password", json={"password": "short"}, headers=admin)
    assert (short.status_code, short.json()["code"]) == (422, "invalid_password")
    assert secret not in last_event(store).detail_json
    unknown = api.put("/api/v1/users/nobody/password", json={"password": secret}, headers=admin)
    assert unknown.status_code == 404


def test_custom_roles_load_from_a_yaml_body_and_can_be_given(
    api: TestClient, admin: dict[str, str]
) -> None:
    yaml = b"roles:\n  treasury:\n    description: Cash.\n    permissions: [ledger.read]\n"
    loaded = api.post("/api/v1/roles", content=yaml, headers=admin)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"created": 1, "changed": 0}
    assert api.post("/api/v1/roles", content=yaml, headers=admin).json() == {
        "created": 0, "changed": 0,
    }  # fmt: skip
    roles = {role["role"]: role for role in api.get("/api/v1/roles", headers=admin).json()}
    assert roles["treasury"]["permissions"] == ["ledger.read"]
    added = api.post("/api/v1/users", json=new_user("tess", "treasury"), headers=admin)
    assert added.status_code == 201
    malformed = api.post("/api/v1/roles", content=b"roles: [1, 2", headers=admin)
    assert malformed.status_code == 422
    unknown = b"roles:\n  x:\n    permissions: [ledger.fly]\n"
    refused = api.post("/api/v1/roles", content=unknown, headers=admin)
    assert refused.json()["code"] == "unknown_permission"


def test_a_database_without_users_answers_no_request_even_with_a_token_shaped_header(
    api: TestClient, store: Store
) -> None:
    refused = api.post(
        "/api/v1/users", json=new_user("eve", "admin"),
        headers={"Authorization": "Bearer bo_anything_at_all"},
    )  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
    assert api.get("/api/v1/users", headers={"Authorization": "Bearer x"}).status_code == 401
    add_user(store, "admin", name="Admin", roles=["admin"], os_user="root", actor="root")
    with store.read() as connection:
        logins = connection.execute(sa.select(schema.users.c.login)).scalars().all()
    assert logins == ["admin"]
