"""The fastest correct way to append many rows, per database.

SQLite: the driver's executemany on one prepared statement. PostgreSQL: COPY, which also fires
the statement-level triggers that check every entry once per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from backoffice.errors import invariant

# SQLite allows 32,766 bound parameters per statement; stay well below.
in_values_max = 10_000
# Up to this many rows (one entry typed by a person or posted by one API request) one
# multi-row INSERT is one round trip, where COPY or staging costs three to five.
small_append_rows_max = 16


def append_rows(
    connection: sa.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    if not rows:
        return
    if len(rows) <= small_append_rows_max:
        mark = placeholder(connection)
        row_marks = "(" + ", ".join(mark for _ in columns) + ")"
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ", ".join(row_marks for _ in rows),
            tuple(value for row in rows for value in row),
        )
        return
    if connection.dialect.name == "postgresql":
        driver: Any = connection.connection.driver_connection
        invariant(driver is not None, "a live connection has a driver connection")
        names = ", ".join(columns)
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    # SQLite: stage the rows in a temporary table, then move them with one INSERT ... SELECT.
    # A row trigger then runs inside one statement instead of one statement per row, which
    # halves the cost of the append-only and balance triggers.
    names = ", ".join(columns)
    staged = f"temp.staged_{table}"
    connection.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS staged_{table} ({names})")
    connection.exec_driver_sql(f"DELETE FROM {staged}")
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {staged} ({names}) VALUES ({marks})", list(rows))
    connection.exec_driver_sql(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {staged}")
    connection.exec_driver_sql(f"DELETE FROM {staged}")


def insert_dicts(connection: sa.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Plain rows (all with the keys of the first) into a table with no row triggers, by the
    driver's executemany (SQLite) or COPY (PostgreSQL): SQLAlchemy's per-row parameter
    processing costs more than the insert itself at a million rows."""
    if not rows:
        return
    columns = list(rows[0])
    if connection.dialect.name == "postgresql":
        append_rows(connection, table, columns, [tuple(row.values()) for row in rows])
        return
    # As SQLAlchemy stores them on SQLite: dates as ISO text (booleans go in as 0/1).
    dates = [i for i, value in enumerate(rows[0].values()) if isinstance(value, dt.date)]
    values: list[Any] = []
    for row in rows:
        record = list(row.values())
        for i in dates:
            record[i] = record[i].isoformat()
        values.append(tuple(record))
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def select_in(connection: sa.Connection, sql: str, column: str, values: Sequence[Any]) -> list[Any]:
    """Run `sql` (with `{where}` standing for `column IN values`) in groups of `in_values_max`."""
    rows: list[Any] = []
    distinct = list(dict.fromkeys(values))
    for start in range(0, len(distinct), in_values_max):
        group = distinct[start : start + in_values_max]
        statement = sql.format(where=in_clause(connection, column, len(group)))
        rows.extend(connection.exec_driver_sql(statement, in_params(connection, group)).all())
    return rows


def in_clause(connection: sa.Connection, column: str, count: int) -> str:
    """`column IN (...)` with `count` driver placeholders (SQLite) or `= ANY(...)` (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN ({', '.join('?' for _ in range(count))})"


def in_params(connection: sa.Connection, values: Sequence[Any]) -> tuple[Any, ...]:
    if connection.dialect.name == "postgresql":
        return (list(values),)
    return tuple(values)


def placeholder(connection: sa.Connection) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"
