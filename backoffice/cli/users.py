"""`backoffice users` and `backoffice roles`: who may do what, and their tokens."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from backoffice.cli.options import JsonOption, cli_context, requires
from backoffice.cli.output import Listing, print_json, say, stdout
from backoffice.errors import Problem, ProblemError

users_app = typer.Typer(help="Users, their roles and API tokens.", no_args_is_help=True)
roles_app = typer.Typer(help="Roles: the permissions each grants.", no_args_is_help=True)

RoleOption = Annotated[
    list[str], typer.Option("--role", help="a role (repeatable); see `backoffice roles list`")
]


@users_app.command("add")
@requires("users.manage")
def users_add(
    ctx: typer.Context,
    login: str,
    name: Annotated[str, typer.Option("--name", help="the person's full name")],
    role: RoleOption,
    os_user: Annotated[
        str | None,
        typer.Option("--os-user", help="the OS login that is this user on the database's machine"),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Add a user. The first user of a database must be an admin: it ends single-operator mode
    and is bound to your OS login unless --os-user names another."""
    from backoffice.admin.identity_service import add_user

    context = cli_context(ctx)
    user = add_user(
        context.store(), login, name=name, roles=role, os_user=os_user, actor=context.actor
    )
    if json:
        print_json(user.as_json())
        return
    say(f"user {user.login} added with roles {', '.join(user.roles)}")
    if user.os_user:
        say(f"on this machine, OS user {user.os_user} is {user.login}")
    say(f"next: `backoffice users token {user.login}` prints their API token")


@users_app.command("list")
@requires("users.read", "read")
def users_list(ctx: typer.Context, json: JsonOption = False) -> None:
    """Every user with their roles, whether enabled, and how many live tokens they hold."""
    from backoffice.admin.identity_service import list_users

    users = list_users(cli_context(ctx).store())
    if json:
        print_json([user.as_json() for user in users])
        return
    table = Listing("login", "name", "roles", "enabled", "os_user", "tokens")
    for user in users:
        table.add_row(
            user.login, user.name, ",".join(user.roles), "yes" if user.enabled else "no",
            user.os_user or "", str(user.tokens),
        )  # fmt: skip
    table.print()


@users_app.command("disable")
@requires("users.manage")
def users_disable(ctx: typer.Context, login: str) -> None:
    """Disable a user: their tokens and OS binding stop working. Users are never deleted."""
    from backoffice.admin.identity_service import disable_user

    context = cli_context(ctx)
    disable_user(context.store(), login, actor=context.actor)
    say(f"user {login} disabled")


@users_app.command("roles")
@requires("users.manage")
def users_roles(ctx: typer.Context, login: str, role: RoleOption) -> None:
    """Replace the user's roles with exactly the ones given."""
    from backoffice.admin.identity_service import set_roles

    context = cli_context(ctx)
    user = set_roles(context.store(), login, role, actor=context.actor)
    say(f"user {login} now holds {', '.join(user.roles)}")


@users_app.command("token")
@requires("users.manage")
def users_token(
    ctx: typer.Context,
    login: str,
    expires: Annotated[
        int | None, typer.Option("--expires", help="days until it expires; default never")
    ] = None,
) -> None:
    """Issue a new API token for the user and print it once: it is stored only as a hash."""
    from backoffice.admin.identity_service import issue_token

    context = cli_context(ctx)
    issued = issue_token(context.store(), login, expires_days=expires, actor=context.actor)
    stdout.print(issued.token, markup=False, highlight=False)
    say(
        f"token {issued.prefix}… for {login}: shown once; "
        "use it as $BACKOFFICE_TOKEN or in a file given to --token-file"
    )


@users_app.command("revoke-token")
@requires("users.manage")
def users_revoke_token(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="the token's first 12 characters")],
) -> None:
    """Revoke a token: commands presenting it are refused from now on."""
    from backoffice.admin.identity_service import revoke_token

    context = cli_context(ctx)
    owner = revoke_token(context.store(), prefix, actor=context.actor)
    say(f"token {prefix} of {owner} revoked")


@users_app.command("password")
@requires("users.manage")
def users_password(ctx: typer.Context, login: str) -> None:
    """Set the user's console password, from a prompt (twice) or from stdin when piped."""
    from backoffice.admin.identity_service import set_new_password

    password = _read_password()
    context = cli_context(ctx)
    set_new_password(context.store(), login, password, actor=context.actor)
    say(f"password of {login} set")


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise ProblemError(Problem("invalid_password", "the two passwords differ"))
        return password
    return sys.stdin.readline().rstrip("\r\n")


@roles_app.command("list")
@requires("users.read", "read")
def roles_list(ctx: typer.Context, json: JsonOption = False) -> None:
    """Every role, built in or loaded, with the permissions it grants."""
    from backoffice.admin.identity_service import every_role

    roles = every_role(cli_context(ctx).store())
    if json:
        print_json(
            [
                {
                    "role": role.name,
                    "builtin": role.builtin,
                    "description": role.description,
                    "permissions": sorted(role.permissions),
                }
                for role in roles
            ]
        )
        return
    table = Listing("role", "builtin", "permissions", "description")
    for role in roles:
        table.add_row(
            role.name, "yes" if role.builtin else "no", " ".join(sorted(role.permissions)),
            role.description,
        )  # fmt: skip
    table.print()


@roles_app.command("load")
@requires("users.manage")
def roles_load(ctx: typer.Context, file: Path) -> None:
    """Define custom roles from a YAML file (all or nothing)."""
    from backoffice.admin.identity_service import load_roles
    from backoffice.formats.roles_file import read_roles

    context = cli_context(ctx)
    created, changed = load_roles(context.store(), read_roles(file), actor=context.actor)
    say(f"{file}: {created} roles created, {changed} changed")
