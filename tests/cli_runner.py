"""`backoffice --db URL ARGS...` run in this process, for the CLI tests of every domain."""

from __future__ import annotations

import json
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
    """`backoffice --db URL ARGS...` run in this process: (exit status, stdout, stderr). The
    actor is the OS user unless a test gives `--actor` (or sets $BACKOFFICE_ACTOR itself);
    every store the command opens is disposed of after it."""
    opened: list[Store] = []

    def tracked(url: str | None = None, *, migrate: bool = True) -> Store:
        store = open_store(url, migrate=migrate)
        opened.append(store)
        return store

    monkeypatch.setattr("backoffice.cli.main.open_store", tracked)
    monkeypatch.delenv("BACKOFFICE_ACTOR", raising=False)

    def invoke(*args: str) -> Outcome:
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
        out, err = capsys.readouterr()
        return Outcome(status, out, err)

    return invoke
