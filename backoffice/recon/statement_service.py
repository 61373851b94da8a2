"""Statements in: a statement names its account (IBAN, account number); the ledger account whose
`external_account` equals it (and whose asset is the statement's currency) is the one
reconciled (README, "Account identification"). A statement is stored once, known by its
identity (README, "Statement identity"): account, currency, statement number (the sequence,
else the statement id), dates and opening balance; the same identity again with the same
content is `existing`, with other content `statement_changed`. Each statement stored has its
balances checked (`balance_service`).

`statement_import_service` stores a large file's statements from a stream of their lines; it
looks statements up, hashes and audits them with the functions here, so that both paths store
the same rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.money import parse_amount
from backoffice.recon.balance_service import check_balances
from backoffice.recon.books_service import now_us, record_audit
from backoffice.recon.model import Statement, StatementLine
from backoffice.refdata.model import currency_minor_units
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

accounts_named_max = 5  # ledger accounts named in an `ambiguous_account` problem
statement_id_chars_max = 80  # the columns statements.statement_id and statements.sequence


@dataclass(slots=True)
class ImportResult:
    statements: int = 0
    lines: int = 0
    existing: int = 0
    balance_breaks: list[str] = field(default_factory=list)


def account_part(written: str) -> str | None:
    """The account number in an account written "X/Y", or None when it is not so written:
    the part before the slash when the part after is an ISO currency ("0123456789/EUR"), else
    the part after it ("COBADEFFXXX/DE89370400440532013000", "50010517/0123456789")."""
    before, slash, after = (part.strip() for part in written.partition("/"))
    if not slash or not before or not after:
        return None
    is_currency = len(after) == 3 and after.isupper() and currency_minor_units(after) is not None
    return before if is_currency else after


def statement_account(connection: sa.Connection, statement: Statement) -> tuple[int, int]:
    """(ledger account id, currency scale) of the account the statement names: the ledger
    account in its currency whose external_account is the account as written, else its
    account part (README, "Account identification"). Two such accounts are ambiguous."""
    a, s = schema.accounts, schema.assets
    where = statement.account_source or statement.source
    written = statement.account.strip()
    part = account_part(written)
    for candidate in (written, part):
        if candidate is None:
            continue
        rows = connection.execute(
            sa.select(a.c.id, a.c.code, s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.external_account == candidate, s.c.code == statement.currency)
            .order_by(a.c.code)
            .limit(accounts_named_max)
        ).all()
        if len(rows) == 1:
            return int(rows[0].id), int(rows[0].scale)
        if rows:
            codes = ", ".join(row.code for row in rows)
            reason = (
                f"statement {statement.statement_id!r}: account {written!r} in "
                f"{statement.currency} could be any of the ledger accounts {codes} "
                f"(external_account {candidate!r}): give only one of them that external_account"
            )
            raise ProblemError(Problem("ambiguous_account", reason, where))
    tried = f"{written!r}" + (f" or its account part {part!r}" if part else "")
    raise ProblemError(
        Problem(
            "unknown_account",
            f"statement {statement.statement_id!r}: no ledger account has external_account "
            f"{tried} in {statement.currency}",
            where,
        )
    )


def parsed_amount(text: str, scale: int, where: Source) -> int:
    """An amount (or a holding's quantity) as written, in minor units of `scale`; a problem
    names `where` it was written."""
    parsed = parse_amount(text, scale, trailing_zeros=True)
    if isinstance(parsed, Problem):
        raise ProblemError(Problem(parsed.code, f"amount {text!r}: {parsed.reason}", where))
    return parsed


class StatementHash:
    """The body hash of a statement, its lines added one at a time in order: the SHA-256 of
    the JSON of its head and its lines, byte for byte what hashing the whole statement at once
    gave, so that hashes stored before compare equal."""

    def __init__(self, statement: Statement) -> None:
        head = [
            statement.statement_id, statement.account, statement.currency,
            statement.opening_balance,
            statement.opening_date.isoformat() if statement.opening_date else None,
            statement.closing_balance, statement.closing_date.isoformat(),
            statement.format.value,
        ]  # fmt: skip
        # The JSON of [*head, [line, ...]]: the head's list left open, the lines' list opened.
        self._hash = hashlib.sha256(orjson.dumps(head)[:-1] + b",[")
        self._lines = 0

    def add(self, line: StatementLine) -> None:
        body = [
            line.amount, line.value_date.isoformat(), list(line.references),
            line.booking_date.isoformat() if line.booking_date else None, line.description,
        ]  # fmt: skip
        self._hash.update((b"," if self._lines else b"") + orjson.dumps(body))
        self._lines += 1

    def hexdigest(self) -> str:
        closed = self._hash.copy()
        closed.update(b"]]")
        return closed.hexdigest()


def statement_hash(statement: Statement) -> str:
    body = StatementHash(statement)
    for line in statement.lines:
        body.add(line)
    return body.hexdigest()


def statement_identity(statement: Statement, opening_minor: int | None) -> str:
    """What makes a statement of a ledger account the one it is: its currency, its number (the
    sequence where the bank gives one, else its statement id), its dates and its opening
    balance. Not the statement id alone: Rabobank repeats one :20: through a file. The
    account is the ledger account it is stored under, however the bank wrote it."""
    body = [
        statement.currency, statement.sequence or statement.statement_id,
        statement.opening_date.isoformat() if statement.opening_date else None,
        statement.closing_date.isoformat(), opening_minor,
    ]  # fmt: skip
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def check_numbering(statement: Statement) -> None:
    """The statement id and number fit their columns (a camt.053 of .05 to .07, read without
    a schema, bounds neither)."""
    for what, value in (("id", statement.statement_id), ("number", statement.sequence)):
        if value is not None and len(value) > statement_id_chars_max:
            reason = (
                f"statement {what} {value[:40]!r}... of {len(value)} characters: at most "
                f"{statement_id_chars_max}"
            )
            raise ProblemError(Problem("invalid_field", reason, statement.source))


def stored_statement(
    connection: sa.Connection, account_id: int, statement: Statement, identity: str
) -> Any:
    """The ledger account's stored statement of this identity, or None. One stored before
    migration 0005 has no identity: it is the same when its statement id and days are."""
    st = schema.statements
    before_identities = sa.and_(
        st.c.identity_hash.is_(None),
        st.c.statement_id == statement.statement_id,
        st.c.closing_date == statement.closing_date,
        st.c.opening_date.is_not_distinct_from(statement.opening_date),
    )
    return connection.execute(
        sa.select(st.c.id, st.c.body_hash)
        .where(st.c.account_id == account_id)
        .where(sa.or_(st.c.identity_hash == identity, before_identities))
        .order_by(st.c.id)
        .limit(1)
    ).first()


def statement_changed(statement: Statement) -> ProblemError:
    return ProblemError(
        Problem(
            "statement_changed",
            f"statement {statement.statement_id!r} of {statement.account} "
            f"(number {statement.sequence or statement.statement_id!r}, "
            f"closing {statement.closing_date.isoformat()}) was imported "
            "before with other contents",
            statement.source,
        )
    )


def import_statements(
    store: Store, statements: Sequence[Statement], *, source_file: str, actor: str
) -> ImportResult:
    """Store the statements of one file, all or nothing."""
    result = ImportResult()
    st, sl = schema.statements, schema.statement_lines
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        for statement in statements:
            check_numbering(statement)
            account_id, scale = statement_account(connection, statement)
            body_hash = statement_hash(statement)
            opening = (
                parsed_amount(statement.opening_balance, scale, statement.source)
                if statement.opening_balance is not None
                else None
            )
            identity = statement_identity(statement, opening)
            stored = stored_statement(connection, account_id, statement, identity)
            if stored is not None:
                if stored.body_hash != body_hash:
                    raise statement_changed(statement)
                result.existing += 1
                continue
            closing = parsed_amount(statement.closing_balance, scale, statement.source)
            amounts = [parsed_amount(line.amount, scale, line.source) for line in statement.lines]
            imported_at = now_us()
            row_id = connection.execute(
                sa.insert(st)
                .values(
                    statement_id=statement.statement_id,
                    format=statement.format.value,
                    account=statement.account,
                    account_id=account_id,
                    currency=statement.currency,
                    opening_balance_minor=opening,
                    opening_date=statement.opening_date,
                    closing_balance_minor=closing,
                    closing_date=statement.closing_date,
                    body_hash=body_hash,
                    source_file=source_file,
                    imported_at_us=imported_at,
                    sequence=statement.sequence,
                    identity_hash=identity,
                )
                .returning(st.c.id)
            ).scalar_one()
            if statement.lines:
                connection.execute(
                    sa.insert(sl),
                    [
                        {
                            "statement_row": row_id,
                            "line_no": number,
                            "account_id": account_id,
                            "amount_minor": amount,
                            "value_date": line.value_date,
                            "booking_date": line.booking_date,
                            "references_json": orjson.dumps(list(line.references)).decode(),
                            "description": line.description,
                            "source_line": line.source.line,
                            "raw": line.raw,
                            "matched": False,
                        }
                        for number, (line, amount) in enumerate(
                            zip(statement.lines, amounts, strict=True), start=1
                        )
                    ],
                )
            result.statements += 1
            result.lines += len(statement.lines)
            result.balance_breaks.extend(
                check_balances(connection, row_id, account_id, scale, actor)
            )
        audit_statement_import(connection, actor, source_file, result)
    return result


def audit_statement_import(
    connection: sa.Connection, actor: str, source_file: str, result: ImportResult
) -> None:
    """The one audit record of a statement import, whichever path read the file."""
    detail = {"file": source_file, "statements": result.statements, "existing": result.existing}
    record_audit(connection, actor, "recon.import", detail)
