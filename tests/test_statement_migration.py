"""Migration 0005 (statements: no opening balance, identity beyond the statement id) on a
database that already holds statements: they stay, with their lines, and are recognised when
their file comes again."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command

from backoffice.errors import Source
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.recon.queries import list_statements
from backoffice.recon.statement_service import import_statements, statement_hash
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store, open_store
from tests.books import FIRM_BANK, USD, reference_data

IBAN = "DE89370400440532013000"
MONDAY = dt.date(2026, 11, 16)


def upgrade_to(store: Store, revision: str) -> None:
    config = store.alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def monday_statement() -> Statement:
    line = StatementLine(
        amount="100.00", value_date=MONDAY, booking_date=MONDAY, references=("E2E-1",),
        description="line E2E-1", source=Source("old.sta", 5, ":61:"), raw=":61:",
    )  # fmt: skip
    return Statement(
        statement_id="STMT-1/00001/001", format=StatementFormat.MT940, account=IBAN,
        currency=USD, opening_balance="0.00", opening_date=MONDAY, closing_balance="100.00",
        closing_date=MONDAY, lines=(line,), source=Source("old.sta", 1), sequence="00001/001",
    )  # fmt: skip


def audit_as_before_0007(
    connection: sa.Connection, at_us: int, actor: str, command: str, detail_json: str
) -> int:
    """The audit record as the code before the chain (migration 0007) wrote it."""
    inserted = connection.execute(
        sa.insert(schema.audit_log)
        .values(at_us=at_us, actor=actor, command=command, detail_json=detail_json)
        .returning(schema.audit_log.c.id)
    )
    return int(inserted.scalar_one())


def test_statements_stored_before_the_migration_stay_and_are_recognised_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(database_url, migrate=False)
    try:
        upgrade_to(store, "0004")
        refdata = reference_data()
        refdata.accounts = [
            dataclasses.replace(account, external_account=IBAN)
            if account.code == FIRM_BANK[USD]
            else account
            for account in refdata.accounts
        ]
        with monkeypatch.context() as before:
            before.setattr("backoffice.refdata.service.append_event", audit_as_before_0007)
            load_refdata(store, refdata, actor="test", source="tests/test_statement_migration.py")
        # As the code before 0005 stored it (the same hash of the body as today's).
        import_before_0005(store)
        upgrade_to(store, "head")
        (listed,) = list_statements(store)
        assert (listed["statement_id"], len(listed["lines"])) == ("STMT-1/00001/001", 1)
        again = import_statements(store, [monday_statement()], source_file="old.sta", actor="ops")
        assert (again.statements, again.existing) == (0, 1)
    finally:
        store.dispose()


def import_before_0005(store: Store) -> None:
    statement = monday_statement()
    with store.engine.begin() as connection:
        account_id = connection.execute(
            sa.select(schema.accounts.c.id).where(schema.accounts.c.code == FIRM_BANK[USD])
        ).scalar_one()
        row_id = connection.execute(
            sa.text(
                "INSERT INTO statements (statement_id, format, account, account_id, currency,"
                " opening_balance_minor, opening_date, closing_balance_minor, closing_date,"
                " body_hash, source_file, imported_at_us) VALUES (:sid, 'mt940', :account,"
                " :account_id, 'USD', 0, :day, 10000, :day, :hash, 'old.sta', 1) RETURNING id"
            ),
            {
                "sid": statement.statement_id, "account": IBAN, "account_id": account_id,
                "day": MONDAY, "hash": statement_hash(statement),
            },
        ).scalar_one()  # fmt: skip
        connection.execute(
            sa.text(
                "INSERT INTO statement_lines (statement_row, line_no, account_id, amount_minor,"
                " value_date, booking_date, references_json, description, source_line, raw,"
                " matched) VALUES (:row, 1, :account_id, 10000, :day, :day, '[\"E2E-1\"]',"
                " 'line E2E-1', 5, ':61:', false)"
            ),
            {"row": row_id, "account_id": account_id, "day": MONDAY},
        )
