"""`/api/v1` users and roles: listed, added, disabled, their roles and passwords set, their
tokens issued and revoked, custom roles loaded; each as its `backoffice users` command.

Over the API there is no single-operator mode (every request needs a user's token), so the
first user, an admin bound to an OS login, is always added by `backoffice users add` on the
database's machine."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from backoffice.api.app import DoorDep, RawBody
from backoffice.commands.invocation import Access

users_router = APIRouter(tags=["users"])


class NewUser(BaseModel):
    """`users add LOGIN --name --role... [--os-user]`."""

    model_config = ConfigDict(extra="forbid")  # unknown fields: 422
    login: str
    name: str
    roles: list[str]
    os_user: str | None = None


class RolesBody(BaseModel):
    """`users roles LOGIN --role...`: exactly these roles."""

    model_config = ConfigDict(extra="forbid")
    roles: list[str]


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str


class TokenBody(BaseModel):
    """`users token LOGIN [--expires DAYS]`: no `expires_days`, a token that never expires."""

    model_config = ConfigDict(extra="forbid")
    expires_days: int | None = None


@users_router.get("/users")
def list_users(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import list_users as users

    with door.command("users.list", "users.read", Access.READ):
        return [user.as_json() for user in users(door.store)]


@users_router.post("/users", status_code=201)
def add_user(body: NewUser, door: DoorDep) -> JSONResponse:
    from backoffice.admin.identity_service import add_user as add

    with door.command("users.add", "users.manage", Access.WRITE, body.model_dump()) as who:
        user = add(
            door.store, body.login, name=body.name, roles=body.roles, os_user=body.os_user,
            actor=who.login,
        )  # fmt: skip
    return JSONResponse(
        user.as_json(), status_code=201, headers={"Location": f"/api/v1/users/{user.login}"}
    )


@users_router.post("/users/{login}/disable")
def disable_user(login: str, door: DoorDep) -> dict[str, Any]:
    """Disable a user: their tokens and OS binding stop working. Users are never deleted."""
    from backoffice.admin.identity_service import disable_user as disable

    with door.command("users.disable", "users.manage", Access.WRITE, {"login": login}) as who:
        return disable(door.store, login, actor=who.login).as_json()


@users_router.put("/users/{login}/roles")
def set_roles(login: str, body: RolesBody, door: DoorDep) -> dict[str, Any]:
    from backoffice.admin.identity_service import set_roles as set_them

    request = {"login": login, "roles": body.roles}
    with door.command("users.roles", "users.manage", Access.WRITE, request) as who:
        return set_them(door.store, login, body.roles, actor=who.login).as_json()


@users_router.put("/users/{login}/password")
def set_password(login: str, body: PasswordBody, door: DoorDep) -> dict[str, Any]:
    """The user's console password; only its Argon2id hash is stored (never audited)."""
    from backoffice.admin.identity_service import set_new_password

    with door.command("users.password", "users.manage", Access.WRITE, {"login": login}) as who:
        set_new_password(door.store, login, body.password, actor=who.login)
    return {"login": login, "password": "set"}


@users_router.post("/users/{login}/tokens", status_code=201)
def issue_token(login: str, door: DoorDep, body: TokenBody | None = None) -> JSONResponse:
    """A new API token, answered this once: only its hash is stored."""
    from backoffice.admin.identity_service import issue_token as issue

    days = body.expires_days if body is not None else None
    request = {"login": login, "expires": days}
    with door.command("users.token", "users.manage", Access.WRITE, request) as who:
        issued = issue(door.store, login, expires_days=days, actor=who.login)
    expires = issued.expires_at_us
    return JSONResponse(
        {
            "login": login,
            "token": issued.token,
            "prefix": issued.prefix,
            "expires_at": None
            if expires is None
            else dt.datetime.fromtimestamp(expires / 1_000_000, dt.UTC).isoformat(),
        },
        status_code=201,
        headers={"Cache-Control": "no-store"},  # a secret: never kept by a cache
    )


@users_router.delete("/tokens/{prefix}")
def revoke_token(prefix: str, door: DoorDep) -> dict[str, Any]:
    """Revoke a token by its shown prefix: requests presenting it are refused from now on."""
    from backoffice.admin.identity_service import revoke_token as revoke

    with door.command(
        "users.revoke-token", "users.manage", Access.WRITE, {"prefix": prefix}
    ) as who:
        owner = revoke(door.store, prefix, actor=who.login)
    return {"prefix": prefix, "login": owner, "revoked": True}


@users_router.get("/roles")
def list_roles(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import every_role

    with door.command("roles.list", "users.read", Access.READ):
        return [
            {"role": r.name, "builtin": r.builtin, "permissions": sorted(r.permissions)}
            for r in every_role(door.store)
        ]


@users_router.post("/roles")
def load_roles(body: RawBody, door: DoorDep) -> dict[str, int]:
    """`roles load`: custom roles from a roles YAML file as the body (all or nothing)."""
    from backoffice.admin.identity_service import load_roles as load
    from backoffice.formats.roles_file import parse_roles

    content = body
    with door.command("roles.load", "users.manage", Access.WRITE, {"bytes": len(content)}) as who:
        created, changed = load(door.store, parse_roles(content, "api"), actor=who.login)
    return {"created": created, "changed": changed}
