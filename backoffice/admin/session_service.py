"""The console's logins and sessions.

A login checks the user's Argon2id password hash. It is refused, and audited, for an unknown
login, a disabled user, a user without a password or a wrong one; after `login_failures_max`
failures within `login_failure_window_us` the login is refused even with the right password
until the window has passed (guessing is throttled per login, whoever tries). A session is a
random token in a cookie, stored only as its SHA-256, with its own CSRF token; it ends at
logout, after `session_idle_us` without a request or `session_absolute_us` after login.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from backoffice.admin.identity import Authentication, Principal
from backoffice.admin.identity_service import user_principal
from backoffice.commands.invocation import record
from backoffice.errors import Problem, ProblemError
from backoffice.store import schema
from backoffice.store.engine import Store

login_failures_max = 5
login_failure_window_us = 15 * 60 * 1_000_000
session_idle_us = 30 * 60 * 1_000_000
session_absolute_us = 12 * 3600 * 1_000_000
session_seen_granularity_us = 60_000_000  # the last request of a session, to the minute
session_token_bytes = 32
login_chars_max = 64
password_chars_max = 1_000  # an Argon2 input far past any passphrase: refused, not hashed


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie's value: shown to the browser, never stored
    csrf_token: str
    principal: Principal


def now_us() -> int:
    return time.time_ns() // 1_000


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(store: Store, login: str, password: str, *, clock_us: int | None = None) -> Session:
    """A new session for `login`, or `login_refused` / `login_throttled` (both audited)."""
    at = now_us() if clock_us is None else clock_us
    login = login.strip()[:login_chars_max]
    with store.read() as connection:
        failures = _recent_failures(connection, login, at)
        row = connection.execute(
            sa.select(schema.users.c.id, schema.users.c.password_hash).where(
                schema.users.c.login == login
            )
        ).first()
        principal = (
            user_principal(connection, row.id, Authentication.PASSWORD, "console")
            if row is not None
            else None
        )
    if failures >= login_failures_max:
        _refuse(store, login, at, "throttled", count=False)
        raise ProblemError(
            Problem("login_throttled", f"{failures} failed logins: try again in 15 minutes")
        )
    stored = row.password_hash if row is not None and principal is not None else None
    if not _password_matches(stored, password) or row is None or principal is None:
        _refuse(store, login, at, "wrong login or password")
        raise ProblemError(Problem("login_refused", "the login or the password is wrong"))
    token, csrf = secrets.token_urlsafe(session_token_bytes), secrets.token_urlsafe(24)
    with store.write() as connection:
        connection.execute(
            sa.insert(schema.web_sessions).values(
                sha256=sha256(token), user_id=row.id, csrf_token=csrf, created_at_us=at,
                seen_at_us=at, ended_at_us=None,
            )
        )  # fmt: skip
    record(store, principal, "console.login", "console.login", "ok", {"login": login})
    return Session(token, csrf, principal)


_NOBODY_HASH: list[str] = []  # made once: the hash an unknown login's password is checked against


def _password_matches(password_hash: str | None, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    if not password or len(password) > password_chars_max:
        return False
    if password_hash is None:
        # An unknown login, or one without a password, costs the same hash as a known one:
        # how long the answer takes never tells which logins exist.
        if not _NOBODY_HASH:
            _NOBODY_HASH.append(PasswordHasher().hash(secrets.token_urlsafe(16)))
        password_hash = _NOBODY_HASH[0]
        password = password + "\x00"  # never the nobody hash's own secret
        with contextlib.suppress(VerificationError, InvalidHashError):
            PasswordHasher().verify(password_hash, password)
        return False
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _recent_failures(connection: sa.Connection, login: str, at: int) -> int:
    f = schema.login_failures
    recent = (
        sa.select(f.c.id)
        .where(f.c.login == login, f.c.at_us > at - login_failure_window_us)
        .limit(login_failures_max)
        .subquery()
    )
    return int(connection.execute(sa.select(sa.func.count()).select_from(recent)).scalar_one())


def _refuse(store: Store, login: str, at: int, reason: str, *, count: bool = True) -> None:
    if count:
        with store.write() as connection:
            connection.execute(sa.insert(schema.login_failures).values(login=login, at_us=at))
    nobody = Principal(login or "-", None, frozenset(), Authentication.PASSWORD, "console")
    record(store, nobody, "console.login", "console.login", "refused", {"reason": reason})


def session_of(store: Store, token: str, *, clock_us: int | None = None) -> Session | None:
    """The live session of a cookie's token (its last request noted), or None."""
    at = now_us() if clock_us is None else clock_us
    s = schema.web_sessions
    with store.read() as connection:
        row = connection.execute(sa.select(s).where(s.c.sha256 == sha256(token))).first()
        if row is None or row.ended_at_us is not None:
            return None
        if at - row.seen_at_us > session_idle_us or at - row.created_at_us > session_absolute_us:
            return None
        principal = user_principal(connection, row.user_id, Authentication.PASSWORD, "session")
    if principal is None:
        return None  # disabled since login
    if at - row.seen_at_us >= session_seen_granularity_us:
        with store.write() as connection:
            connection.execute(sa.update(s).where(s.c.id == row.id).values(seen_at_us=at))
    return Session(token, row.csrf_token, principal)


def log_out(store: Store, session: Session) -> None:
    s = schema.web_sessions
    with store.write() as connection:
        connection.execute(
            sa.update(s).where(s.c.sha256 == sha256(session.token)).values(ended_at_us=now_us())
        )
    record(store, session.principal, "console.logout", "console.login", "ok", {})
