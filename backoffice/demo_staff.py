"""The demo's people: it makes its own users and tokens and does each step as one of them,
through the command layer (`invoke`), as anyone would: the admin adds the staff, operations
does the day, the supervisor approves what operations proposes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backoffice.admin.identity import Principal, single_operator
from backoffice.admin.identity_service import (
    add_user,
    authenticate,
    issue_token,
    set_new_password,
)
from backoffice.commands.invocation import Access, invoke
from backoffice.store.engine import Store

# login: (name, roles)
STAFF = {
    "ops": ("Olivia Ops", ("operations",)),
    "supervisor": ("Sam Supervisor", ("supervisor",)),
    "compliance": ("Chris Compliance", ("compliance",)),
}


@dataclass(frozen=True, slots=True)
class Staff:
    store: Store
    ops: Principal
    supervisor: Principal
    token_files: dict[str, Path]
    passwords: dict[str, str]  # the console's: a demo's own, fresh each run

    @contextmanager
    def act(self, permission: str, who: Principal | None = None) -> Iterator[Principal]:
        """One step of the day as a command: permission checked, one audit event."""
        principal = who or self.ops
        with invoke(self.store, principal, permission, permission, access=Access.WRITE):
            yield principal


def _os_user() -> str:
    from backoffice.cli.main import _os_user as os_login

    return os_login()


def hire_staff(store: Store, work: Path) -> Staff:
    """The first admin (bound to the OS user running the demo), then the staff, each with a
    token in a file of its own (mode 0600) for `--token-file`."""
    founder = single_operator(_os_user())
    with invoke(store, founder, "users.add", "users.manage", access=Access.WRITE):
        add_user(
            store, "admin", name="Demo Admin", roles=["admin"], os_user=None, actor=founder.login
        )
    admin = authenticate(store, token=None, os_user=founder.login, local=True)
    tokens: dict[str, Path] = {}
    folder = work / "tokens"
    folder.mkdir(exist_ok=True)
    principals: dict[str, Principal] = {}
    passwords: dict[str, str] = {}
    for login, (name, roles) in STAFF.items():
        with invoke(store, admin, "users.add", "users.manage", access=Access.WRITE):
            add_user(store, login, name=name, roles=roles, os_user=None, actor=admin.login)
        with invoke(store, admin, "users.token", "users.manage", access=Access.WRITE):
            issued = issue_token(store, login, expires_days=30, actor=admin.login)
        path = folder / login
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)  # readable by its owner only, before the token is in it
        path.write_text(issued.token + "\n")
        tokens[login] = path
        passwords[login] = secrets.token_urlsafe(12)
        with invoke(store, admin, "users.password", "users.manage", access=Access.WRITE):
            set_new_password(store, login, passwords[login], actor=admin.login)
        principals[login] = authenticate(store, token=issued.token, os_user="demo", local=True)
    return Staff(store, principals["ops"], principals["supervisor"], tokens, passwords)
