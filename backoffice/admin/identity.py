"""Who is acting: a `Principal` is a user as authenticated for one command (or the single
operator of a database that has no user yet). Tokens are random, shown once and stored only
as a hash; logins are compared by user id, never by a typed name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from backoffice.admin.permissions import ALL_PERMISSIONS
from backoffice.errors import Problem

TOKEN_PREFIX: Final = "bo_"  # noqa: S105 - a prefix, not a secret
token_random_bytes = 32  # secrets.token_urlsafe: 43 characters of base64url
token_shown_chars = 12  # "bo_" and 9 more: enough to name a token, useless to use one
token_chars_max = 128
login_chars_max = 64
name_chars_max = 200
token_days_max = 3_650
_LOGIN = re.compile(r"[a-z][a-z0-9._-]{0,63}")
_OS_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@$-]{0,63}")


class Authentication(StrEnum):
    SINGLE_OPERATOR = "single-operator"  # no user exists yet: the OS user, every permission
    TOKEN = "token"  # noqa: S105 - a way to authenticate, not a secret
    OS_USER = "os-user"
    SYSTEM = "system"  # the demo and migrations
    PASSWORD = "password"  # noqa: S105 - the console's login, then its session


@dataclass(frozen=True, slots=True)
class Principal:
    login: str
    user_id: int | None
    permissions: frozenset[str]
    authentication: Authentication
    credential: str = ""  # the token's shown prefix or the OS user; never a secret

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def describe_authentication(self) -> str:
        if self.credential:
            return f"{self.authentication.value} {self.credential}"
        return self.authentication.value


def single_operator(os_user: str) -> Principal:
    """The one operator of a database that has no user yet: every permission, as the OS user."""
    return Principal(os_user, None, ALL_PERMISSIONS, Authentication.SINGLE_OPERATOR, os_user)


def system_principal(login: str = "system") -> Principal:
    return Principal(login, None, ALL_PERMISSIONS, Authentication.SYSTEM)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(token_random_bytes)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:token_shown_chars]


def token_problem(token: str) -> Problem | None:
    """Why a presented token cannot be one of ours (None when its shape is right)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > token_chars_max:
        return Problem(
            "invalid_token",
            f"a Backoffice token starts with {TOKEN_PREFIX!r} and is at most "
            f"{token_chars_max} characters",
        )
    return None


def login_problem(login: str) -> Problem | None:
    if not _LOGIN.fullmatch(login):
        return Problem(
            "invalid_login",
            f"login {login!r}: lower-case letters, digits, '.', '_' and '-', starting with a "
            f"letter, at most {login_chars_max} characters",
        )
    return None


def os_user_problem(os_user: str) -> Problem | None:
    if not _OS_USER.fullmatch(os_user):
        return Problem("invalid_login", f"OS user {os_user!r} is not an OS login name")
    return None
