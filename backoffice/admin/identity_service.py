"""Users, their roles and tokens, in the store; and authentication: who a command runs as.

Until the first user exists a database is in single-operator mode (the OS user, every
permission). The first user must be an admin, and creating them ends that mode for good:
users are never deleted (a trigger refuses it), only disabled.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.admin.identity import (
    Authentication,
    Principal,
    login_problem,
    name_chars_max,
    new_token,
    os_user_problem,
    shown_prefix,
    single_operator,
    token_days_max,
    token_problem,
    token_sha256,
)
from backoffice.admin.roles import (
    ADMIN_ROLE,
    BUILTIN_ROLES,
    Role,
    permissions_of,
    role_problems,
    roles_per_user_max,
)
from backoffice.errors import Problem, ProblemError
from backoffice.store import schema
from backoffice.store.audit_chain import AuditStamp, append_event
from backoffice.store.engine import Store
from backoffice.text import require_free_text

_US_PER_DAY = 86_400_000_000


def now_us() -> int:
    return time.time_ns() // 1_000


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    login: str
    name: str
    roles: tuple[str, ...]
    os_user: str | None
    enabled: bool
    has_password: bool
    tokens: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "name": self.name,
            "roles": list(self.roles),
            "os_user": self.os_user,
            "enabled": self.enabled,
            "has_password": self.has_password,
            "active_tokens": self.tokens,
        }


def has_users(connection: sa.Connection) -> bool:
    # Once a user exists, one always will (users are disabled, never deleted): the answer is
    # kept with the pooled connection and the question never asked of it again.
    if connection.info.get(_HAS_USERS):
        return True
    if not sa.inspect(connection).has_table("users"):
        return False  # a schema older than the command layer (`db upgrade` brings it)
    found = connection.execute(sa.select(schema.users.c.id).limit(1)).first() is not None
    if found:
        connection.info[_HAS_USERS] = True
    return found


_HAS_USERS = "backoffice_has_users"


def custom_roles(connection: sa.Connection) -> dict[str, Role]:
    rows = connection.execute(sa.select(schema.roles)).all()
    return {
        row.name: Role(
            row.name, frozenset(orjson.loads(row.permissions_json)), row.description, False
        )
        for row in rows
    }


def every_role(store: Store) -> list[Role]:
    with store.read() as connection:
        custom = custom_roles(connection)
    return [*BUILTIN_ROLES.values(), *sorted(custom.values(), key=lambda role: role.name)]


last_used_granularity_us = 60_000_000  # a token's last use, to the minute

# Authentication -------------------------------------------------------------------------------


def authenticate(store: Store, *, token: str | None, os_user: str, local: bool) -> Principal:
    """Who this command runs as: the single operator while no user exists; else the token's
    user; else the user bound to this OS login when the database is on this machine. A bad,
    revoked or expired token or a disabled user is refused, and the refusal audited (in its
    own transaction, which commits though the command does not run).

    Finding the user only reads: a read request stays a read (on SQLite a write would queue
    behind every writer). A token's last use is written when it is older than a minute."""
    touch: int | None = None
    with store.read() as connection:
        if not has_users(connection):
            return single_operator(os_user)
        found: Principal | str | None = None
        if token is not None:
            found, touch = _token_principal(connection, token.strip())
        elif local:
            found = _bound_user(connection, os_user)
    if isinstance(found, Principal):
        if touch is not None:
            with store.write() as connection:
                t = schema.api_tokens
                connection.execute(
                    sa.update(t).where(t.c.id == touch).values(last_used_at_us=now_us())
                )
        return found
    if found is not None:
        credential = (
            f"{Authentication.TOKEN.value} {shown_prefix(token.strip())}"
            if token is not None
            else f"{Authentication.OS_USER.value} {os_user}"
        )
        with store.write() as connection:
            _refuse_authentication(connection, os_user, credential, found)
        raise ProblemError(Problem("unauthenticated", f"{found}: ask an admin for a new token"))
    raise ProblemError(
        Problem(
            "unauthenticated",
            "this database has users: set $BACKOFFICE_TOKEN (or --token-file FILE) to a token "
            "from `backoffice users token LOGIN`, which an admin issues",
        )
    )


def _token_principal(connection: sa.Connection, token: str) -> tuple[Principal | str, int | None]:
    """The token's user, or why the token is refused; and the token's id when its last use
    is due to be written."""
    shape = token_problem(token)
    if shape is not None:
        return shape.reason, None
    t = schema.api_tokens
    row = connection.execute(sa.select(t).where(t.c.sha256 == token_sha256(token))).first()
    at = now_us()
    if row is None:
        return "the token is not known", None
    if row.revoked_at_us is not None:
        return "the token was revoked", None
    if row.expires_at_us is not None and row.expires_at_us <= at:
        return "the token has expired", None
    principal = _user_principal(connection, row.user_id, Authentication.TOKEN, shown_prefix(token))
    if principal is None:
        return "the token's user is disabled", None
    used = row.last_used_at_us
    due = used is None or at - used >= last_used_granularity_us
    return principal, row.id if due else None


def _refuse_authentication(
    connection: sa.Connection, os_user: str, credential: str, reason: str
) -> None:
    detail = {"reason": reason, "os_user": os_user, "credential": credential}
    append_event(
        connection,
        now_us(),
        os_user,
        "authenticate",
        orjson.dumps(detail).decode(),
        AuditStamp(None, credential, "", "refused"),
    )


def _bound_user(connection: sa.Connection, os_user: str) -> Principal | str | None:
    """The user bound to this OS login; why they are refused; or None when nobody is."""
    u = schema.users
    row = connection.execute(sa.select(u.c.id).where(u.c.os_user == os_user)).first()
    if row is None:
        return None
    principal = _user_principal(connection, row.id, Authentication.OS_USER, os_user)
    return principal if principal is not None else f"the user bound to {os_user} is disabled"


def user_principal(
    connection: sa.Connection, user_id: int, how: Authentication, credential: str
) -> Principal | None:
    """The user's principal with the permissions of their roles; None when disabled."""
    return _user_principal(connection, user_id, how, credential)


def _user_principal(
    connection: sa.Connection, user_id: int, how: Authentication, credential: str
) -> Principal | None:
    u = schema.users
    row = connection.execute(sa.select(u).where(u.c.id == user_id)).one()
    if row.disabled_at_us is not None:
        return None
    roles = _roles_of(connection, [user_id]).get(user_id, ())
    permissions = permissions_of(frozenset(roles), custom_roles(connection))
    return Principal(row.login, row.id, permissions, how, credential)


def _roles_of(connection: sa.Connection, user_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    r = schema.user_roles
    found: dict[int, list[str]] = {}
    for row in connection.execute(
        sa.select(r).where(r.c.user_id.in_(user_ids)).order_by(r.c.user_id, r.c.role)
    ):
        found.setdefault(row.user_id, []).append(row.role)
    return {user_id: tuple(roles) for user_id, roles in found.items()}


# Users ----------------------------------------------------------------------------------------


def _audit(connection: sa.Connection, actor: str, command: str, detail: Mapping[str, Any]) -> None:
    append_event(connection, now_us(), actor, command, orjson.dumps(detail).decode())


def _check_roles(connection: sa.Connection, roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    if not chosen:
        raise ProblemError(Problem("invalid_role", "a user needs at least one role (--role)"))
    if len(chosen) > roles_per_user_max:
        raise ProblemError(
            Problem("invalid_role", f"a user holds at most {roles_per_user_max} roles")
        )
    known = set(BUILTIN_ROLES) | set(custom_roles(connection))
    unknown = [role for role in chosen if role not in known]
    if unknown:
        raise ProblemError(
            Problem(
                "unknown_role",
                f"no such role: {', '.join(unknown)} (see `backoffice roles list`)",
            )
        )
    return chosen


def add_user(
    store: Store,
    login: str,
    *,
    name: str,
    roles: Sequence[str],
    os_user: str | None,
    actor: str,
) -> UserView:
    """A new user. The first user of a database must hold the admin role: they end
    single-operator mode, and someone must be able to manage users afterwards; unless told
    otherwise they are bound to the OS login that created them (the single operator, `actor`),
    so that person can go on to issue tokens."""
    problem = login_problem(login) or (os_user_problem(os_user) if os_user else None)
    if problem is not None:
        raise ProblemError(problem)
    require_free_text(name=(name, name_chars_max))
    with store.write() as connection:
        chosen = _check_roles(connection, roles)
        if not has_users(connection):
            if ADMIN_ROLE not in chosen:
                raise ProblemError(
                    Problem(
                        "first_user_not_admin",
                        "the first user ends single-operator mode and must hold the admin role",
                    )
                )
            if os_user is None and os_user_problem(actor) is None:
                os_user = actor
        u = schema.users
        clash = connection.execute(
            sa.select(u.c.login, u.c.os_user).where(
                (u.c.login == login) | ((u.c.os_user == os_user) if os_user else sa.false())
            )
        ).first()
        if clash is not None:
            what = f"login {login!r}" if clash.login == login else f"OS user {os_user!r}"
            raise ProblemError(Problem("user_exists", f"{what} already belongs to a user"))
        user_id = int(
            connection.execute(
                sa.insert(u)
                .values(
                    login=login,
                    name=name,
                    os_user=os_user,
                    created_at_us=now_us(),
                    created_by=actor,
                )
                .returning(u.c.id)
            ).scalar_one()
        )
        connection.execute(
            sa.insert(schema.user_roles), [{"user_id": user_id, "role": role} for role in chosen]
        )
        view = _view(connection, login)
        _audit(connection, actor, "users.add", {"target": f"user {login}", "after": view.as_json()})
    return view


def _user_id(connection: sa.Connection, login: str) -> int:
    u = schema.users
    found = connection.execute(sa.select(u.c.id).where(u.c.login == login)).scalar()
    if found is None:
        raise ProblemError(Problem("unknown_user", f"no user {login!r} (see `users list`)"))
    return int(found)


def _view(connection: sa.Connection, login: str) -> UserView:
    views = _views(connection, sa.select(schema.users).where(schema.users.c.login == login))
    if not views:
        raise ProblemError(Problem("unknown_user", f"no user {login!r} (see `users list`)"))
    return views[0]


def _views(connection: sa.Connection, query: sa.Select[Any]) -> list[UserView]:
    rows = connection.execute(query).all()
    roles = _roles_of(connection, [row.id for row in rows])
    t = schema.api_tokens
    live: dict[int, int] = {
        row.user_id: row.live
        for row in connection.execute(
            sa.select(t.c.user_id, sa.func.count().label("live"))
            .where(
                t.c.user_id.in_([row.id for row in rows]),
                t.c.revoked_at_us.is_(None),
                sa.or_(t.c.expires_at_us.is_(None), t.c.expires_at_us > now_us()),
            )
            .group_by(t.c.user_id)
        )
    }
    return [
        UserView(
            row.id,
            row.login,
            row.name,
            roles.get(row.id, ()),
            row.os_user,
            row.disabled_at_us is None,
            row.password_hash is not None,
            int(live.get(row.id, 0)),
        )
        for row in rows
    ]


users_listed_max = 10_000


def list_users(store: Store) -> list[UserView]:
    with store.read() as connection:
        return _views(
            connection,
            sa.select(schema.users).order_by(schema.users.c.login).limit(users_listed_max),
        )


def disable_user(store: Store, login: str, *, actor: str) -> UserView:
    with store.write() as connection:
        before = _view(connection, login)
        if before.enabled:
            u = schema.users
            connection.execute(
                sa.update(u).where(u.c.login == login).values(disabled_at_us=now_us())
            )
        after = _view(connection, login)
        _audit(
            connection,
            actor,
            "users.disable",
            {"target": f"user {login}", "before": before.as_json(), "after": after.as_json()},
        )
    return after


def set_roles(store: Store, login: str, roles: Sequence[str], *, actor: str) -> UserView:
    """Replace the user's roles with exactly these."""
    with store.write() as connection:
        chosen = _check_roles(connection, roles)
        before = _view(connection, login)
        r = schema.user_roles
        connection.execute(sa.delete(r).where(r.c.user_id == before.id))
        connection.execute(sa.insert(r), [{"user_id": before.id, "role": role} for role in chosen])
        after = _view(connection, login)
        _audit(
            connection,
            actor,
            "users.roles",
            {"target": f"user {login}", "before": before.as_json(), "after": after.as_json()},
        )
    return after


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, never stored
    prefix: str
    expires_at_us: int | None


def issue_token(store: Store, login: str, *, expires_days: int | None, actor: str) -> IssuedToken:
    if expires_days is not None and not 1 <= expires_days <= token_days_max:
        raise ProblemError(Problem("invalid_argument", f"--expires is 1 to {token_days_max} days"))
    token = new_token()
    at = now_us()
    expires = at + expires_days * _US_PER_DAY if expires_days is not None else None
    with store.write() as connection:
        user_id = _user_id(connection, login)
        connection.execute(
            sa.insert(schema.api_tokens).values(
                user_id=user_id,
                prefix=shown_prefix(token),
                sha256=token_sha256(token),
                created_at_us=at,
                expires_at_us=expires,
            )
        )
        _audit(
            connection,
            actor,
            "users.token",
            {"target": f"user {login}", "token": shown_prefix(token), "expires_at_us": expires},
        )
    return IssuedToken(token, shown_prefix(token), expires)


def revoke_token(store: Store, prefix: str, *, actor: str) -> str:
    """Revoke the token whose shown prefix this is; gives its user's login."""
    t, u = schema.api_tokens, schema.users
    with store.write() as connection:
        row = connection.execute(
            sa.select(t.c.id, t.c.revoked_at_us, u.c.login)
            .join(u, u.c.id == t.c.user_id)
            .where(t.c.prefix == prefix)
        ).first()
        if row is None:
            raise ProblemError(
                Problem("unknown_token", f"no token starts {prefix!r} (the 12 characters shown)")
            )
        if row.revoked_at_us is None:
            connection.execute(sa.update(t).where(t.c.id == row.id).values(revoked_at_us=now_us()))
        _audit(
            connection,
            actor,
            "users.revoke-token",
            {"target": f"user {row.login}", "token": prefix},
        )
    return str(row.login)


password_chars_min = 12
password_chars_max = 1_024


def set_new_password(store: Store, login: str, password: str, *, actor: str) -> None:
    """`users password` from any door: a password of the allowed length, hashed with Argon2id
    here so that only its hash is stored."""
    from argon2 import PasswordHasher

    if not password_chars_min <= len(password) <= password_chars_max:
        raise ProblemError(
            Problem(
                "invalid_password",
                f"a password is {password_chars_min} to {password_chars_max} characters",
            )
        )
    set_password(store, login, PasswordHasher().hash(password), actor=actor)


def set_password(store: Store, login: str, password_hash: str, *, actor: str) -> None:
    """Store an Argon2id hash (the caller hashes: the password never reaches the store)."""
    u = schema.users
    with store.write() as connection:
        _user_id(connection, login)
        connection.execute(
            sa.update(u).where(u.c.login == login).values(password_hash=password_hash)
        )
        _audit(connection, actor, "users.password", {"target": f"user {login}"})


def load_roles(
    store: Store, definitions: Mapping[str, tuple[frozenset[str], str]], *, actor: str
) -> tuple[int, int]:
    """Define or redefine custom roles (all or nothing); gives (created, changed)."""
    problems = [
        problem
        for name, (permissions, _) in sorted(definitions.items())
        for problem in role_problems(name, permissions)
    ]
    if problems:
        raise ProblemError(*problems)
    created = changed = 0
    with store.write() as connection:
        existing = custom_roles(connection)
        changes: list[dict[str, Any]] = []
        for name, (permissions, description) in sorted(definitions.items()):
            before = existing.get(name)
            if before is not None and (before.permissions, before.description) == (
                permissions,
                description,
            ):
                continue
            values = {
                "permissions_json": orjson.dumps(sorted(permissions)).decode(),
                "description": description,
                "changed_at_us": now_us(),
            }
            if before is None:
                connection.execute(sa.insert(schema.roles).values(name=name, **values))
                created += 1
            else:
                connection.execute(
                    sa.update(schema.roles).where(schema.roles.c.name == name).values(**values)
                )
                changed += 1
            changes.append(
                {
                    "target": f"role {name}",
                    "before": sorted(before.permissions) if before else None,
                    "after": sorted(permissions),
                }
            )
        _audit(connection, actor, "roles.load", {"changes": changes})
    return created, changed
