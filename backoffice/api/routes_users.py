"""`/api/v1` users and roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backoffice.api.app import DoorDep
from backoffice.commands.invocation import Access

users_router = APIRouter(tags=["users"])


@users_router.get("/users")
def list_users(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import list_users as users

    with door.command("users.list", "users.read", Access.READ):
        return [user.as_json() for user in users(door.store)]


@users_router.get("/roles")
def list_roles(door: DoorDep) -> list[Any]:
    from backoffice.admin.identity_service import every_role

    with door.command("roles.list", "users.read", Access.READ):
        return [
            {"role": r.name, "builtin": r.builtin, "permissions": sorted(r.permissions)}
            for r in every_role(door.store)
        ]
