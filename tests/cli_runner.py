"""`backoffice --db URL ARGS...` run in this process, for the CLI tests of every domain."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from backoffice.cli import main
from backoffice.store.engine import Store, open_store


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """`backoffice --db URL ARGS...` run in this process: (exit status, stdout, stderr). It
    runs as the single operator (the OS user) until the test adds users, then as the user whose
    token is given (`cli(..., token=T)`, which sets $BACKOFFICE_TOKEN for that call); every
    store the command opens is disposed of after it."""
    opened: list[Store] = []

    def tracked(url: str | None = None, *, migrate: bool = True) -> Store:
        store = open_store(url, migrate=migrate)
        opened.append(store)
        return store

    monkeypatch.setattr("backoffice.cli.main.open_store", tracked)
    monkeypatch.delenv("BACKOFFICE_TOKEN", raising=False)

    def invoke(*args: str, token: str | None = None) -> Outcome:
        """`token`: this call's $BACKOFFICE_TOKEN; otherwise the one the test set, if any."""
        default_token = os.environ.get("BACKOFFICE_TOKEN")
        if token is not None:
            os.environ["BACKOFFICE_TOKEN"] = token
        monkeypatch.setattr(sys, "argv", ["backoffice", "--db", database_url, *args])
        capsys.readouterr()
        status = 0
        try:
            main.run()
        except SystemExit as done:
            status = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
        finally:
            while opened:
                opened.pop().dispose()
            if default_token is None:
                os.environ.pop("BACKOFFICE_TOKEN", None)
            else:
                os.environ["BACKOFFICE_TOKEN"] = default_token
        out, err = capsys.readouterr()
        return Outcome(status, out, err)

    return invoke


def staff(cli: Cli, **roles: str) -> dict[str, str]:
    """Users for a test, each with a token: `staff(cli, alice="operations", bob="supervisor")`.
    The first call also adds the first admin, `admin`, bound to the OS user running the test
    (so token-less commands then run as that admin)."""
    first = cli("users", "list", "--json")
    if first.status == 0 and first.json() == []:
        made = cli("users", "add", "admin", "--name", "The Admin", "--role", "admin")
        assert made.status == 0, made.stderr
    tokens: dict[str, str] = {}
    for login, role in roles.items():
        for part in (
            ("users", "add", login, "--name", login.title(), *_role_options(role)),
            ("users", "token", login),
        ):
            outcome = cli(*part)
            assert outcome.status == 0, outcome.stderr
        tokens[login] = outcome.stdout.strip()
    return tokens


def _role_options(roles: str) -> list[str]:
    return [option for role in roles.split(",") for option in ("--role", role)]
