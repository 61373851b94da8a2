"""Opening the store: the engine, connection settings, transactions and migrations.

Importing this module connects to nothing; `open_store()` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from backoffice.errors import Problem, ProblemError, invariant

DEFAULT_URL = "sqlite:///backoffice.db"
MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite waits this long for another writer before giving up with "database is locked".
sqlite_busy_timeout_ms = 60_000


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else BACKOFFICE_DB, else ./backoffice.db.

    A bare `postgresql://` URL is taken to mean psycopg 3, the driver we ship.
    """
    chosen = url or os.environ.get("BACKOFFICE_DB") or DEFAULT_URL
    for bare in ("postgresql://", "postgres://"):
        if chosen.startswith(bare):
            return "postgresql+psycopg://" + chosen[len(bare) :]
    return chosen


def one_line(error: object) -> str:
    """Drivers write several lines; an error is said in one."""
    return " ".join(str(error).split())


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _postgresql_is_local(url: sa.URL) -> bool:
    """On this machine: over a Unix socket or loopback. Only then may a CLI user be known by
    their OS login (as PostgreSQL's peer authentication). A URL without a host goes where
    libpq's $PGHOST or a service file says, so it is local only when neither names a host."""
    host = url.host or url.query.get("host")
    if not host:
        if url.query.get("service") or os.environ.get("PGSERVICE"):
            return False  # a service file may name any host
        host = os.environ.get("PGHOST") or "/"
    hosts = host if isinstance(host, tuple) else str(host).split(",")
    return all(h.startswith("/") or h in _LOOPBACK for h in hosts)


def _connect_args(url: str) -> dict[str, object]:
    if not url.startswith("postgresql"):
        return {}
    # Never prepare server-side: a prepared statement's generic plan cannot see how many keys
    # an array holds and plans a scan of millions of rows for a lookup of one; a statement
    # planned with its parameters takes the index (planning costs a fraction of a millisecond).
    return {"prepare_threshold": None}


class Store:
    """One database. `write()` and `read()` hand out a connection inside one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._unit: ContextVar[sa.Connection | None] = ContextVar(
            f"backoffice_unit_of_work_{id(self)}", default=None
        )
        # When each housekeeping task (expiring timed-out pending entries) last ran in this
        # process: work that need not run on every request.
        self.housekeeping_us: dict[str, int] = {}
        self._head: str | None = None
        try:
            self.engine = sa.create_engine(url, future=True, connect_args=_connect_args(url))
        except (sa.exc.ArgumentError, ImportError) as error:
            raise ProblemError(Problem("bad_database_url", f"{url!r}: {error}")) from error
        self.safe_url = self.engine.url.render_as_string(hide_password=True)
        self.dialect: str = self.engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ProblemError(
                Problem(
                    "unsupported_database", f"{self.dialect} is not supported (sqlite, postgresql)"
                )
            )
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self.local = self.dialect == "sqlite" or _postgresql_is_local(self.engine.url)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction. On SQLite it takes the write lock at BEGIN (IMMEDIATE) so two
        writers queue instead of failing halfway through.

        Inside `unit_of_work()` it is that unit's transaction: a command made of services
        (an approval applying what it approves) commits or rolls back as one."""
        enclosing = self._unit.get()
        if enclosing is not None:
            yield enclosing
            return
        with self.engine.connect() as plain:
            connection = plain.execution_options(backoffice_write=True)
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        enclosing = self._unit.get()
        if enclosing is not None:
            yield enclosing  # a read inside a unit of work sees the unit's own writes
            return
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def unit_of_work(self) -> Iterator[sa.Connection]:
        """One write transaction that every `write()` and `read()` inside it joins."""
        invariant(self._unit.get() is None, "a unit of work is already open on this store")
        with self.write() as connection:
            reset = self._unit.set(connection)
            try:
                yield connection
            finally:
                self._unit.reset(reset)

    def dispose(self) -> None:
        self.engine.dispose()

    # Migrations -----------------------------------------------------------------------------

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest migration this code knows (read from the package once per process:
        it changes only with the code)."""
        if self._head is None:
            self._head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        return self._head

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a no-op when it already is)."""
        config = self.alembic_config()
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Two processes starting at once must not both create the tables.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7470001)")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's own is deferred and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed entry survives a power cut, not only a crash of the process.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 256 MiB of page cache: the postings indexes of a large ledger stay in memory.
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_busy_timeout_ms}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("backoffice_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the database named by `url` (or BACKOFFICE_DB, or ./backoffice.db) and, unless told
    otherwise, run the migrations it lacks: the first use of a new file creates the schema."""
    store = Store(database_url(url))
    if migrate:
        try:
            up_to_date = store.current_revision() == store.head_revision()
        except sa.exc.OperationalError as error:
            raise ProblemError(
                Problem(
                    "database_unavailable", f"cannot open {store.safe_url}: {one_line(error.orig)}"
                )
            ) from error
        if not up_to_date:
            store.upgrade()
    return store
