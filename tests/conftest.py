"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL (one schema per test).

PostgreSQL comes from $BACKOFFICE_TEST_POSTGRES (default: the local server's `test` database).
Where it does not answer, its tests are skipped, unless $BACKOFFICE_REQUIRE_POSTGRES is set
(as `.ci/run` does): then they fail, so CI can never pass on SQLite alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice.store.engine import Store, open_store
from tests.cli_runner import cli  # noqa: F401  (the `cli` fixture, shared by the CLI tests)

POSTGRES_URL = os.environ.get(
    "BACKOFFICE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = bool(os.environ.get("BACKOFFICE_REQUIRE_POSTGRES"))
SHARED = Path(__file__).resolve().parents[2] / "shared"

_postgres_error: str | None = None
_postgres_checked = False


def postgres_available() -> bool:
    global _postgres_checked, _postgres_error
    if not _postgres_checked:
        _postgres_checked = True
        try:
            engine = sa.create_engine(POSTGRES_URL)
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            engine.dispose()
        except Exception as error:
            _postgres_error = str(error).splitlines()[0]
    return _postgres_error is None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'backoffice.db'}"
        return
    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unavailable: {_postgres_error}")
        pytest.skip(f"PostgreSQL unavailable: {_postgres_error}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    try:
        yield opened
    finally:
        opened.dispose()
