"""Every command has a permission, each approvable permission its approval twin, and a user
whose roles lack a command's permission is refused it by name, and the refusal audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer.main

from backoffice.admin.permissions import APPROVAL_TWINS, PERMISSIONS, READ_PERMISSIONS
from backoffice.admin.roles import BUILTIN_ROLES
from backoffice.cli.main import app
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.cli_runner import Cli, staff

# The demo builds a fresh database of its own and acts there as its own users; the server
# holds no one's permissions: each request is authenticated by its own bearer token.
UNGUARDED = {("demo",), ("serve",)}
MONEY_MOVING = {
    "ledger.post", "ledger.reverse", "ledger.pending", "ledger.post.approve",
    "ledger.reverse.approve", "recon.correction.propose", "recon.correction.approve",
    "trades.import", "settlement.instruct",
}  # fmt: skip


def commands() -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[path] = command

    walk(typer.main.get_command(app), ())
    return found


def permission_of(command: Any) -> str | None:
    callback = command.callback
    while callback is not None and not hasattr(callback, "permission"):
        callback = getattr(callback, "__wrapped__", None)
    return None if callback is None else str(callback.permission)


def test_every_command_names_a_permission_that_exists() -> None:
    missing = {path for path, command in commands().items() if permission_of(command) is None}
    assert missing == UNGUARDED
    unknown = {
        (path, permission_of(command))
        for path, command in commands().items()
        if path not in UNGUARDED and permission_of(command) not in PERMISSIONS
    }
    assert unknown == set()


def test_every_approvable_permission_has_an_approval_twin_no_command_uses() -> None:
    used = {permission_of(command) for command in commands().values()}
    for permission, twin in APPROVAL_TWINS.items():
        assert permission in PERMISSIONS
        assert twin in PERMISSIONS
        assert permission in used
    approvals = set(APPROVAL_TWINS.values())
    assert used & approvals <= {"recon.correction.approve"}  # the recon shortcut's approve
    assert set(PERMISSIONS) - used - approvals - {"demo.run", "audit.export"} == set()


def test_the_built_in_roles_keep_duties_apart() -> None:
    roles = BUILTIN_ROLES
    assert roles["admin"].permissions & MONEY_MOVING == set()
    assert not roles["operations"].permissions & set(APPROVAL_TWINS.values())
    assert roles["supervisor"].permissions >= roles["operations"].permissions
    assert {"recon.correction.approve", "refdata.change.approve"} <= roles["supervisor"].permissions
    for reader in ("compliance", "auditor"):
        assert roles[reader].permissions >= READ_PERMISSIONS | {"audit.read"}
        assert roles[reader].permissions & MONEY_MOVING == set()
    assert all(role.permissions <= set(PERMISSIONS) for role in roles.values())


def _arguments(command: Any) -> list[str]:
    """Values that get a command past parsing to its permission check ("1" parses as a
    number, a path and text alike; the command never gets to read it)."""
    words: list[str] = []
    for parameter in command.params:
        if not parameter.required:
            continue
        value = "1"
        if parameter.param_type_name == "option":
            words += [parameter.opts[0], value]
        else:
            words += [value] * (parameter.nargs if parameter.nargs > 0 else 1)
    return words


def test_a_user_without_a_commands_permission_is_refused_it_by_name_and_audited(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text("roles:\n  looker:\n    permissions: [db.read]\n")
    staff(cli)
    assert cli("roles", "load", str(roles)).status == 0
    tokens = staff(cli, nobody="looker")
    for path, command in sorted(commands().items()):
        permission = permission_of(command)
        if path in UNGUARDED or permission == "db.read":
            continue
        outcome = cli(*path, *_arguments(command), token=tokens["nobody"])
        assert (path, outcome.status, outcome.stderr) == (
            path,
            1,
            f"error: forbidden: nobody lacks {permission}\n",
        )
        with store.read() as connection:
            last = connection.execute(
                sa.select(schema.audit_log).order_by(schema.audit_log.c.id.desc()).limit(1)
            ).one()
        assert (last.actor, last.permission, last.outcome) == ("nobody", permission, "forbidden")


@pytest.mark.parametrize("role", sorted(BUILTIN_ROLES))
def test_roles_list_shows_every_built_in_role_with_its_permissions(cli: Cli, role: str) -> None:
    listed = {item["role"]: item for item in cli("roles", "list", "--json").json()}
    assert listed[role]["permissions"] == sorted(BUILTIN_ROLES[role].permissions)
    assert listed[role]["builtin"] is True
