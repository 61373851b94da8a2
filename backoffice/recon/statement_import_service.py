"""Statements stored from a stream of their lines, in bounded memory (README, "Memory bounds").

A bank statement CSV may hold a million lines: it is read through once and checked
(`backoffice.formats.statement_csv.scan_statement_csv`), which gives its statements without
their lines; here, in one write transaction, each statement is looked up as
`import_statements` does (account, identity, stored before), its row stored, and then the
file's lines are read again in file order, hashed per statement and stored in chunks of
`statement_lines_per_chunk`. Only then is a statement known `existing` or changed, so the
refusals are decided last, in statement order, exactly as `import_statements` would have
raised them; any refusal rolls the whole file back. Balances are checked last, each statement
seeing only those before it, as if stored one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from backoffice.errors import InvariantViolation, ProblemError
from backoffice.recon.balance_service import check_balances
from backoffice.recon.books_service import now_us
from backoffice.recon.model import Statement, StatementLine
from backoffice.recon.statement_service import (
    ImportResult,
    StatementHash,
    audit_statement_import,
    check_numbering,
    parsed_amount,
    statement_account,
    statement_changed,
    statement_identity,
    stored_statement,
)
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

statement_lines_per_chunk = 5_000  # lines held, then stored in one insert

Lines = Callable[[], Iterable[tuple[int, StatementLine]]]


@dataclass(slots=True)
class _Plan:
    """One statement while its file is imported: a few values, never its lines."""

    statement: Statement
    hash: StatementHash
    refusal: ProblemError | None = None  # the first problem import_statements would raise
    account_id: int = 0
    scale: int = 0
    stored_hash: str | None = None  # the body hash it was stored with before
    same_as: _Plan | None = None  # a statement earlier in the file of the same identity
    row_id: int | None = None  # its new row
    lines: int = 0
    line_refusal: ProblemError | None = None


def import_statement_stream(
    store: Store, statements: Sequence[Statement], lines: Lines, *, source_file: str, actor: str
) -> ImportResult:
    """Store the statements of one file, all or nothing: `statements` without their lines,
    `lines()` each line with the index of its statement, in any order of statements."""
    result = ImportResult()
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        plans = _plans(connection, statements, source_file)
        failed = next((n for n, plan in enumerate(plans) if plan.refusal is not None), None)
        looked_at = plans[:failed] if failed is not None else plans
        if looked_at:
            _store_lines(connection, looked_at, lines())
        new: list[_Plan] = []
        for plan in looked_at:
            body_hash = plan.hash.hexdigest()
            if plan.row_id is None:
                stored_hash = plan.stored_hash
                if plan.same_as is not None:
                    stored_hash = plan.same_as.hash.hexdigest()
                if stored_hash != body_hash:
                    raise statement_changed(plan.statement)
                result.existing += 1
                continue
            if plan.line_refusal is not None:
                raise plan.line_refusal
            st = schema.statements
            connection.execute(
                sa.update(st).where(st.c.id == plan.row_id).values(body_hash=body_hash)
            )
            new.append(plan)
            result.statements += 1
            result.lines += plan.lines
        if failed is not None:
            raise _known(plans[failed].refusal)
        last_id = new[-1].row_id if new else None
        for plan in new:
            row_id = _known(plan.row_id)
            unchecked = (row_id + 1, _known(last_id)) if row_id != last_id else None
            result.balance_breaks.extend(
                check_balances(connection, row_id, plan.account_id, plan.scale, actor, unchecked)
            )
        audit_statement_import(connection, actor, source_file, result)
    return result


def _plans(
    connection: sa.Connection, statements: Sequence[Statement], source_file: str
) -> list[_Plan]:
    """Each statement looked up, and a new one's row stored (its body hash comes with its
    lines); looked up no further once one is refused, as `import_statements` stops there."""
    plans: list[_Plan] = []
    planned: dict[tuple[int, str], _Plan] = {}
    for statement in statements:
        plan = _Plan(statement, StatementHash(statement))
        plans.append(plan)
        try:
            check_numbering(statement)
            plan.account_id, plan.scale = statement_account(connection, statement)
            opening = (
                parsed_amount(statement.opening_balance, plan.scale, statement.source)
                if statement.opening_balance is not None
                else None
            )
            identity = statement_identity(statement, opening)
            # The same statement twice in one file: the second is the first's, stored by now
            # in import_statements, its hash known once the lines are read.
            plan.same_as = planned.get((plan.account_id, identity))
            stored = stored_statement(connection, plan.account_id, statement, identity)
            if plan.same_as is not None or stored is not None:
                plan.stored_hash = str(stored.body_hash) if stored is not None else None
                continue
            closing = parsed_amount(statement.closing_balance, plan.scale, statement.source)
            plan.row_id = _insert_statement(
                connection, plan, opening, closing, identity, source_file
            )
            planned[(plan.account_id, identity)] = plan
        except ProblemError as refusal:
            plan.refusal = refusal
            break
    return plans


def _insert_statement(
    connection: sa.Connection,
    plan: _Plan,
    opening: int | None,
    closing: int,
    identity: str,
    source_file: str,
) -> int:
    statement, st = plan.statement, schema.statements
    return int(
        connection.execute(
            sa.insert(st)
            .values(
                statement_id=statement.statement_id,
                format=statement.format.value,
                account=statement.account,
                account_id=plan.account_id,
                currency=statement.currency,
                opening_balance_minor=opening,
                opening_date=statement.opening_date,
                closing_balance_minor=closing,
                closing_date=statement.closing_date,
                body_hash="",  # set once its lines are read
                source_file=source_file,
                imported_at_us=now_us(),
                sequence=statement.sequence,
                identity_hash=identity,
            )
            .returning(st.c.id)
        ).scalar_one()
    )


def _store_lines(
    connection: sa.Connection, plans: Sequence[_Plan], lines: Iterable[tuple[int, StatementLine]]
) -> None:
    """Every line hashed into its statement's body hash; a new statement's lines stored, a
    chunk at a time. A line whose amount does not fit the currency is its statement's refusal,
    raised (if no statement before it is refused) once every line is read."""
    chunk: list[dict[str, Any]] = []
    for index, line in lines:
        if index >= len(plans):
            continue  # a statement after the first refused one: never stored
        plan = plans[index]
        plan.hash.add(line)
        if plan.row_id is None or plan.line_refusal is not None:
            continue
        try:
            amount = parsed_amount(line.amount, plan.scale, line.source)
        except ProblemError as refusal:
            plan.line_refusal = refusal
            continue
        plan.lines += 1
        chunk.append(
            {
                "statement_row": plan.row_id,
                "line_no": plan.lines,
                "account_id": plan.account_id,
                "amount_minor": amount,
                "value_date": line.value_date,
                "booking_date": line.booking_date,
                "references_json": orjson.dumps(list(line.references)).decode(),
                "description": line.description,
                "source_line": line.source.line,
                "raw": line.raw,
                "matched": False,
            }
        )
        if len(chunk) >= statement_lines_per_chunk:
            connection.execute(sa.insert(schema.statement_lines), chunk)
            chunk = []
    if chunk:
        connection.execute(sa.insert(schema.statement_lines), chunk)


_T = TypeVar("_T")


def _known(value: _T | None) -> _T:
    if value is None:
        raise InvariantViolation("a refused or stored statement lacks its refusal or row")
    return value
