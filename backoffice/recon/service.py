"""Reconciliation: statements in, matching against the books, breaks and their resolution.

Statements: a statement names its account (IBAN, account number); the ledger account whose
`external_account` equals it (and whose asset is the statement's currency) is the one
reconciled (README, "Account identification"). A statement is stored once, known by its
identity (README, "Statement identity"): account, currency, statement number (the sequence,
else the statement id), dates and opening balance; the same identity again with the same
content is `existing`, with other content `statement_changed`. Its opening balance must equal
the previous statement's closing balance for the account, and opening + lines must equal
closing: otherwise a `balance_difference` break is raised; a statement the bank gave no
opening balance raises one saying so.

Books: the postings of the reconciled account (debit-positive: money into a nostro is a debit,
so the signs agree with the statement's), each with its entry's reference (else its key) and
its effective date as value date. A posting's id is entry id x 1000 + line.

Matching (`matching_service`) takes every unmatched statement line and book item up to the
run's date; matches are stored with their rule; what is left becomes breaks, identified by
side and item (so a break carried to the next day keeps its id and ages); a break whose item
matches later closes itself. A book item dated after the account's latest statement is not a
break yet (the bank has not reported that day).

Resolution: a manual match of a statement-side break with a books-side break, or a
correcting ledger entry proposed by one user and approved by another (maker-checker: the
proposer cannot approve, checked here and by the database). The correction is an ordinary
ledger entry (reversible by `ledger reverse`) under the key `recon:correction/{id}`, its
reference the break id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.model import (
    EntryOutcome,
    EntryRequest,
    PostingRequest,
    description_chars_max,
)
from backoffice.ledger.service import post_in_transaction
from backoffice.money import format_amount, parse_amount
from backoffice.recon.matching_service import BOOKS_SCHEMA, STATEMENT_SCHEMA, classify, match
from backoffice.recon.model import (
    BreakStatus,
    BreakType,
    HoldingsStatement,
    MatchingRules,
    MatchRule,
    Statement,
    StatementLine,
    postings_per_entry,
)
from backoffice.recon.queries import breaks_page as breaks_page  # noqa: PLC0414  (re-exported)
from backoffice.recon.queries import list_breaks as list_breaks  # noqa: PLC0414  (re-exported)
from backoffice.recon.queries import list_statements as list_statements  # noqa: PLC0414
from backoffice.refdata.model import currency_minor_units
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.text import (
    actor_chars_max,
    comment_chars_max,
    owner_chars_max,
    require_free_text,
)

neighbours_max = 50  # same-day statements looked at to find a statement's neighbours
accounts_named_max = 5  # ledger accounts named in an `ambiguous_account` problem
statement_id_chars_max = 80  # the columns statements.statement_id and statements.sequence


def now_us() -> int:
    return time.time_ns() // 1000


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


def _account_for(connection: sa.Connection, statement: Statement) -> tuple[int, int]:
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


def _amount(text: str, scale: int, where: Source) -> int:
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


def _statement_hash(statement: Statement) -> str:
    body = StatementHash(statement)
    for line in statement.lines:
        body.add(line)
    return body.hexdigest()


def _statement_identity(statement: Statement, opening_minor: int | None) -> str:
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


def _check_numbering(statement: Statement) -> None:
    """The statement id and number fit their columns (a camt.053 of .05 to .07, read without
    a schema, bounds neither)."""
    for what, value in (("id", statement.statement_id), ("number", statement.sequence)):
        if value is not None and len(value) > statement_id_chars_max:
            reason = (
                f"statement {what} {value[:40]!r}... of {len(value)} characters: at most "
                f"{statement_id_chars_max}"
            )
            raise ProblemError(Problem("invalid_field", reason, statement.source))


def _stored_statement(
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
            _check_numbering(statement)
            account_id, scale = _account_for(connection, statement)
            body_hash = _statement_hash(statement)
            opening = (
                _amount(statement.opening_balance, scale, statement.source)
                if statement.opening_balance is not None
                else None
            )
            identity = _statement_identity(statement, opening)
            stored = _stored_statement(connection, account_id, statement, identity)
            if stored is not None:
                if stored.body_hash != body_hash:
                    raise statement_changed(statement)
                result.existing += 1
                continue
            closing = _amount(statement.closing_balance, scale, statement.source)
            amounts = [_amount(line.amount, scale, line.source) for line in statement.lines]
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
                _check_balances(connection, row_id, account_id, scale, actor)
            )
        audit_statement_import(connection, actor, source_file, result)
    return result


def audit_statement_import(
    connection: sa.Connection, actor: str, source_file: str, result: ImportResult
) -> None:
    """The one audit record of a statement import, whichever path read the file."""
    detail = {"file": source_file, "statements": result.statements, "existing": result.existing}
    _audit(connection, actor, "recon.import", detail)


def _lines_total(connection: sa.Connection, row_id: int) -> int:
    sl = schema.statement_lines
    return int(
        connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(sl.c.amount_minor), 0)).where(
                sl.c.statement_row == row_id
            )
        ).scalar_one()
    )


def _neighbours(
    connection: sa.Connection, this: Any, unchecked: tuple[int, int] | None = None
) -> tuple[Any, Any]:
    """The account's statements just before and just after `this` one, or None, not counting
    the rows `unchecked` (first and last id: stored by this import, not yet checked). A
    statement without an opening balance is placed by its closing date alone."""
    st = schema.statements
    others: tuple[Any, ...] = (st.c.account_id == this.account_id, st.c.id != this.id)
    if unchecked is not None:
        others += (sa.not_(st.c.id.between(*unchecked)),)
    has_opening = this.opening_date is not None
    # Statements of one day may come in any order: on the same date, a candidate whose
    # balance carries on from this statement's comes after it, not before (and vice versa).
    ends_before = (
        st.c.closing_date <= this.opening_date
        if has_opening
        else st.c.closing_date < this.closing_date
    )
    before = connection.execute(
        sa.select(st)
        .where(*others, ends_before)
        .order_by(st.c.closing_date.desc(), st.c.id.desc())
        .limit(neighbours_max)
    ).all()
    previous = next(
        (
            c
            for c in before
            if not (
                c.opening_date is not None
                and c.opening_date >= this.closing_date
                and c.opening_balance_minor == this.closing_balance_minor
            )
        ),
        None,
    )
    starts_after = sa.or_(
        st.c.opening_date >= this.closing_date,
        sa.and_(st.c.opening_date.is_(None), st.c.closing_date > this.closing_date),
    )
    after = connection.execute(
        sa.select(st)
        .where(*others, starts_after)
        .order_by(sa.func.coalesce(st.c.opening_date, st.c.closing_date), st.c.id)
        .limit(neighbours_max)
    ).all()
    following = next(
        (
            c
            for c in after
            if not (
                has_opening
                and c.closing_date <= this.opening_date
                and c.closing_balance_minor == this.opening_balance_minor
            )
        ),
        None,
    )
    return previous, following


def _check_balances(
    connection: sa.Connection,
    row_id: int,
    account_id: int,
    scale: int,
    actor: str,
    unchecked: tuple[int, int] | None = None,
) -> list[str]:
    """Balance breaks of a newly stored statement: its opening against the closing of the
    statement before it (`BAL-{row}-1`), its lines against its own balances (`BAL-{row}-2`),
    and the opening of the statement after it against its closing: statements may arrive
    out of order. A continuity break that the statement now in between explains closes. A
    statement the bank gave no opening balance has its one break `BAL-{row}-1` saying so.
    The statements `unchecked` are left out: checked one after the other, each statement of a
    file sees the ones before it as if they had been stored and checked alone."""
    st = schema.statements
    this = connection.execute(sa.select(st).where(st.c.id == row_id)).one()
    previous, following = _neighbours(connection, this, unchecked)
    opened: list[str] = []

    def money(minor: int) -> str:
        return format_amount(minor, scale)

    def check(later: Any, earlier: Any) -> None:
        break_id = f"BAL-{later.id}-1"
        if later.opening_balance_minor is None:
            _no_opening_break(connection, later, earlier, scale, actor)
            opened.append(break_id)
            return
        difference = later.opening_balance_minor - earlier.closing_balance_minor
        if difference == 0:
            known = connection.execute(
                sa.select(schema.breaks.c.status).where(schema.breaks.c.break_id == break_id)
            ).scalar()
            if known is not None and known != BreakStatus.RESOLVED.value:
                _resolve(
                    connection, break_id, actor,
                    f"cleared: {earlier.statement_id} closes at the opening balance", now_us(),
                )  # fmt: skip
            return
        _open_break(
            connection, break_id, BreakType.BALANCE_DIFFERENCE, account_id, "statement", None,
            difference, later.opening_date, later.statement_id, later.closing_date, actor,
            f"opening {money(later.opening_balance_minor)} of {later.statement_id} is not the "
            f"closing {money(earlier.closing_balance_minor)} of {earlier.statement_id}",
        )  # fmt: skip
        opened.append(break_id)

    if previous is not None or this.opening_balance_minor is None:
        check(this, previous)
    if following is not None and (previous is None or following.id != previous.id):
        check(following, this)
    if this.opening_balance_minor is None:
        return opened
    difference = (
        this.closing_balance_minor - this.opening_balance_minor - _lines_total(connection, row_id)
    )
    if difference:
        break_id = f"BAL-{row_id}-2"
        _open_break(
            connection, break_id, BreakType.BALANCE_DIFFERENCE, account_id, "statement", None,
            difference, this.opening_date, this.statement_id, this.closing_date, actor,
            f"opening {money(this.opening_balance_minor)} plus the lines is not the closing "
            f"{money(this.closing_balance_minor)}",
        )  # fmt: skip
        opened.append(break_id)
    return opened


def _no_opening_break(
    connection: sa.Connection, later: Any, earlier: Any, scale: int, actor: str
) -> None:
    """`BAL-{row}-1` of a statement the bank gave no opening balance: neither its continuity
    nor its lines can be checked, so it stays open for a person. Its amount is what the lines
    leave unexplained: the opening they imply (closing less the lines) less the closing of
    the statement before it, where there is one."""
    implied = later.closing_balance_minor - _lines_total(connection, later.id)
    difference = implied - (earlier.closing_balance_minor if earlier is not None else 0)
    compared = (
        f"the closing of {earlier.statement_id} before it is "
        f"{format_amount(earlier.closing_balance_minor, scale)}"
        if earlier is not None
        else "no statement before it to compare"
    )
    _open_break(
        connection, f"BAL-{later.id}-1", BreakType.BALANCE_DIFFERENCE, later.account_id,
        "statement", None, difference, later.closing_date, later.statement_id,
        later.closing_date, actor,
        f"statement {later.statement_id} gave no opening balance: its closing "
        f"{format_amount(later.closing_balance_minor, scale)} less its lines implies "
        f"{format_amount(implied, scale)}; {compared}",
    )  # fmt: skip


def _open_break(
    connection: sa.Connection,
    break_id: str,
    kind: BreakType,
    account_id: int | None,
    side: str,
    item_id: int | None,
    amount_minor: int,
    value_date: dt.date,
    reference: str | None,
    day: dt.date,
    actor: str,
    text: str,
    *,
    other_item_id: int | None = None,
    external_account: str | None = None,
    scale: int | None = None,
) -> None:
    """Open a break; a break already known is brought up to date instead (type, amount, the
    item it was found against), each change in its history. A resolved break found again is
    reopened: its item is unmatched after all (a books item whose break a difference on the
    statement side had taken over, when that line later matched something else)."""
    b = schema.breaks
    found = connection.execute(
        sa.select(b.c.status, b.c.type, b.c.amount_minor, b.c.other_item_id).where(
            b.c.break_id == break_id
        )
    ).first()
    if found is not None:
        changes: dict[str, Any] = {}
        if found.status == BreakStatus.RESOLVED.value:
            changes.update(status=BreakStatus.OPEN.value, resolved_at_us=None, resolution=None)
            _event(connection, break_id, actor, "reopened", text)
        if found.type != kind.value:
            changes["type"] = kind.value
            _event(connection, break_id, actor, "retyped", f"{found.type} -> {kind.value}")
        if found.amount_minor != amount_minor:
            changes.update(amount_minor=amount_minor, value_date=value_date)
            _event(connection, break_id, actor, "changed", f"now {text}")
        if found.other_item_id != other_item_id:
            changes["other_item_id"] = other_item_id
        if changes:
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(**changes))
        return
    connection.execute(
        sa.insert(b).values(
            break_id=break_id,
            type=kind.value,
            account_id=account_id,
            external_account=external_account,
            scale=scale,
            side=side,
            item_id=item_id,
            other_item_id=other_item_id,
            amount_minor=amount_minor,
            value_date=value_date,
            reference=(reference or "")[:140] or None,
            status=BreakStatus.OPEN.value,
            owner=None,
            opened_on=day,
        )
    )
    _event(connection, break_id, actor, "opened", text)


def _event(connection: sa.Connection, break_id: str, actor: str, kind: str, text: str) -> None:
    connection.execute(
        sa.insert(schema.break_events).values(
            break_id=break_id, at_us=now_us(), actor=actor, kind=kind, text=text
        )
    )


# --- The run ----------------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    matched: int
    breaks: list[dict[str, Any]]
    closed: int


def _frames(
    connection: sa.Connection, day: dt.date, account_ids: Sequence[int]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(unmatched statement lines, unmatched book items, lines matched earlier on the value
    dates of the unmatched ones: a line repeating one of those is a duplicate, book items
    matched earlier on the value dates of the unmatched ones: likewise)."""
    sl, rm = schema.statement_lines, schema.recon_matches
    columns = (sl.c.id, sl.c.account_id, sl.c.amount_minor, sl.c.value_date, sl.c.references_json)

    def frame(rows: Sequence[Any]) -> pl.DataFrame:
        return pl.DataFrame(
            [
                (
                    r.id,
                    str(r.account_id),
                    r.amount_minor,
                    r.value_date,
                    orjson.loads(r.references_json),
                )
                for r in rows
            ],
            schema=STATEMENT_SCHEMA,
            orient="row",
        )

    statement = frame(
        connection.execute(
            sa.select(*columns)
            .where(
                sl.c.matched.is_(False), sl.c.value_date <= day, sl.c.account_id.in_(account_ids)
            )
            .order_by(sl.c.id)
        ).all()
    )
    dates = sorted(set(statement["value_date"].to_list()))
    history = frame(
        connection.execute(
            sa.select(*columns)
            .where(
                sl.c.matched.is_(True),
                sl.c.account_id.in_(account_ids),
                sl.c.value_date.in_(dates),
            )
            .order_by(sl.c.id)
        ).all()
        if dates
        else []
    )
    p, je = schema.postings, schema.journal_entries
    item = p.c.entry_id * postings_per_entry + p.c.line
    # NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join on the (side, item_id) key,
    # where NOT IN over a million matches is a scan per posting.
    matched_books = sa.exists().where(rm.c.side == "books", rm.c.item_id == item)
    columns_b = (
        item.label("id"),
        p.c.account_id,
        p.c.amount_minor,
        je.c.effective_date,
        sa.func.coalesce(je.c.reference, je.c.key).label("reference"),
    )
    booked = (
        p.c.account_id.in_(account_ids),
        je.c.kind.in_(("standard", "reversal", "post_pending")),
    )

    def books_frame(rows: Sequence[Any]) -> pl.DataFrame:
        return pl.DataFrame(
            [
                (r.id, str(r.account_id), r.amount_minor, r.effective_date, r.reference)
                for r in rows
            ],
            schema=BOOKS_SCHEMA,
            orient="row",
        )

    books = books_frame(
        connection.execute(
            sa.select(*columns_b)
            .join(je, je.c.id == p.c.entry_id)
            .where(*booked, je.c.effective_date <= day, ~matched_books)
            .order_by(item)
        ).all()
    )
    book_dates = sorted(set(books["value_date"].to_list()))
    books_history = books_frame(
        connection.execute(
            sa.select(*columns_b)
            .join(je, je.c.id == p.c.entry_id)
            .where(*booked, je.c.effective_date.in_(book_dates), matched_books)
            .order_by(item)
        ).all()
        if book_dates
        else []
    )
    return statement, books, history, books_history


def _match_by_rules(
    statement: pl.DataFrame,
    books: pl.DataFrame,
    history: pl.DataFrame,
    books_history: pl.DataFrame,
    ids: Sequence[int],
    codes: Mapping[int, str],
    rules: MatchingRules,
    account_rules: Mapping[str, MatchingRules],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, breaks): accounts sharing a rule set are matched together, one run per set;
    match numbers are kept apart across runs."""
    groups: dict[MatchingRules, list[str]] = {}
    for account_id in ids:
        groups.setdefault(account_rules.get(codes[account_id], rules), []).append(str(account_id))
    all_pairs: list[pl.DataFrame] = []
    all_breaks: list[pl.DataFrame] = []
    offset = 0
    for group_rules, accounts in groups.items():
        mine = pl.col("account").is_in(accounts)
        matched = match(
            statement.filter(mine),
            books.filter(mine),
            group_rules,
            history.filter(mine),
            books_history.filter(mine),
        )
        found = classify(matched)
        pairs = matched.pairs.with_columns(pl.col("match") + offset)
        if pairs.height:
            offset = int(pairs["match"].max()) + 1  # type: ignore[arg-type]
        all_pairs.append(pairs)
        all_breaks.append(found)
    if not all_pairs:
        empty = match(statement.clear(), books.clear(), rules)
        return empty.pairs, classify(empty)
    return pl.concat(all_pairs), pl.concat(all_breaks).sort("side", "id")


def run_recon(
    store: Store,
    day: dt.date,
    *,
    actor: str,
    account: str | None = None,
    rules: MatchingRules | None = None,
    account_rules: Mapping[str, MatchingRules] | None = None,
) -> RunResult:
    """Match and report breaks up to `day`, with `rules` for every account but those
    `account_rules` names (by ledger account code)."""
    rules = rules or MatchingRules()
    a, st, b = schema.accounts, schema.statements, schema.breaks
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        query = sa.select(st.c.account_id, sa.func.max(st.c.closing_date).label("last")).group_by(
            st.c.account_id
        )
        reported = {row.account_id: row.last for row in connection.execute(query)}
        if account is not None:
            chosen = connection.execute(sa.select(a.c.id).where(a.c.code == account)).scalar()
            if chosen is None or chosen not in reported:
                raise ProblemError(
                    Problem("unknown_account", f"no statements for account {account!r}")
                )
            reported = {chosen: reported[chosen]}
        ids = sorted(reported)
        statement, books, history, books_history = _frames(connection, day, ids)
        # A posting after the bank's last reported day is not a break yet: leave it out.
        last_days = pl.DataFrame(
            {"account": [str(i) for i in ids], "last": [reported[i] for i in ids]},
            schema={"account": pl.String, "last": pl.Date},
        )
        books = (
            books.join(last_days, on="account")
            .filter(pl.col("value_date") <= pl.col("last"))
            .drop("last")
        )
        codes = {
            row.id: row.code
            for row in connection.execute(sa.select(a.c.id, a.c.code).where(a.c.id.in_(ids)))
        }
        pairs, found = _match_by_rules(
            statement, books, history, books_history, ids, codes, rules, account_rules or {}
        )
        pairs, found, reversed_items = _with_reversals(connection, books, pairs, found)
        at = now_us()
        base = (
            connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(schema.recon_matches.c.match_no), -1))
            ).scalar_one()
            + 1
        )
        if pairs.height:
            connection.execute(
                sa.insert(schema.recon_matches),
                [
                    {
                        "match_no": base + row["match"],
                        "rule": row["rule"],
                        "side": row["side"],
                        "item_id": row["id"],
                        "matched_at_us": at,
                        "actor": actor,
                    }
                    for row in pairs.iter_rows(named=True)
                ],
            )
            matched_lines = pairs.filter(pl.col("side") == "statement")["id"].to_list()
            sl = schema.statement_lines
            for start in range(0, len(matched_lines), 5000):
                connection.execute(
                    sa.update(sl)
                    .where(sl.c.id.in_(matched_lines[start : start + 5000]))
                    .values(matched=True)
                )
        # Breaks whose item has now matched close themselves.
        closed = 0
        for side in ("statement", "books"):
            items = pairs.filter(pl.col("side") == side)["id"].to_list()
            for start in range(0, len(items), 5000):
                group = items[start : start + 5000]
                open_ids = [
                    (r.break_id, r.item_id)
                    for r in connection.execute(
                        sa.select(b.c.break_id, b.c.item_id).where(
                            b.c.side == side, b.c.item_id.in_(group), b.c.status != "resolved"
                        )
                    )
                ]
                for break_id, item_id in open_ids:
                    text = (
                        "cleared: its entry was reversed (the pair nets to zero)"
                        if side == "books" and item_id in reversed_items
                        else "cleared: matched by a later run"
                    )
                    _resolve(connection, break_id, actor, text, at)
                closed += len(open_ids)
        reported_breaks = []
        scales = _scales(connection, ids)
        rows = list(found.sort("side", "id", descending=[True, False]).iter_rows(named=True))
        ids_of = [f"BRK-{'S' if r['side'] == 'statement' else 'B'}{r['id']}" for r in rows]
        known = _known_breaks(
            connection, ids_of + [f"BRK-B{r['other_id']}" for r in rows if r["other_id"]]
        )
        claimed: set[int] | None = None
        repeats = _repeats(connection, found)
        new_breaks: list[dict[str, Any]] = []
        # Statement-side breaks first: they say which books items they were found against.
        for row, break_id in zip(rows, ids_of, strict=True):
            if row["side"] == "books":
                if claimed is None:
                    claimed = _claimed_items(connection, ids)
                if row["id"] in claimed:
                    continue
            account_id = int(row["account"])
            other = row["other_id"]
            seen_before = known.get(break_id)
            text = f"{row['type']} found by the run of {day}" + repeats.get(row["id"], "")
            if seen_before is None:
                new_breaks.append(
                    {
                        "break_id": break_id, "type": row["type"], "account_id": account_id,
                        "external_account": None, "scale": None, "side": row["side"],
                        "item_id": row["id"], "other_item_id": other,
                        "amount_minor": row["amount_minor"], "value_date": row["value_date"],
                        "reference": (row["reference"] or "")[:140] or None,
                        "status": BreakStatus.OPEN.value, "owner": None, "opened_on": day,
                    }
                )  # fmt: skip
            elif seen_before[0] == BreakStatus.RESOLVED.value or seen_before[1:] != (
                row["type"],
                row["amount_minor"],
                other,
            ):
                # Reopened, retyped or changed: rare, one at a time with its history.
                _open_break(
                    connection, break_id, BreakType(row["type"]), account_id, row["side"],
                    row["id"], row["amount_minor"], row["value_date"], row["reference"], day,
                    actor, text, other_item_id=other,
                )  # fmt: skip
            if other is not None and row["side"] == "statement":
                # The books item this line differs from may have been missing in an earlier
                # statement: that break is this one now, not a second open break.
                superseded = f"BRK-B{other}"
                earlier = known.get(superseded)
                if earlier is not None and earlier[0] != BreakStatus.RESOLVED.value:
                    _resolve(connection, superseded, actor, f"now part of {break_id}", at)
            reported_breaks.append(
                {
                    "break_id": break_id,
                    "type": row["type"],
                    "account": codes[account_id],
                    "amount": format_amount(row["amount_minor"], scales[account_id]),
                    "value_date": row["value_date"].isoformat(),
                    "reference": row["reference"],
                }
            )
        if new_breaks:
            connection.execute(sa.insert(b), new_breaks)
            connection.execute(
                sa.insert(schema.break_events),
                [
                    {"break_id": r["break_id"], "at_us": at, "actor": actor, "kind": "opened",
                     "text": f"{r['type']} found by the run of {day}"
                     + repeats.get(r["item_id"], "")}
                    for r in new_breaks
                ],
            )  # fmt: skip
        for balance in connection.execute(
            sa.select(b).where(
                b.c.type == "balance_difference", b.c.status != "resolved", b.c.account_id.in_(ids)
            )
        ):
            reported_breaks.append(
                {
                    "break_id": balance.break_id,
                    "type": balance.type,
                    "account": codes[balance.account_id],
                    "amount": format_amount(balance.amount_minor, scales[balance.account_id]),
                    "value_date": balance.value_date.isoformat(),
                    "reference": balance.reference,
                }
            )
        LedgerRepository(connection).append_audit(
            at, actor, "recon.run",
            orjson.dumps({"date": day.isoformat(), "matched": int(pairs.filter(pl.col("side") == "statement").height), "breaks": len(reported_breaks), "closed": closed}).decode(),
        )  # fmt: skip
    return RunResult(
        matched=int(pairs["match"].n_unique()) if pairs.height else 0,
        breaks=sorted(reported_breaks, key=lambda r: r["break_id"]),
        closed=closed,
    )


def _with_reversals(
    connection: sa.Connection, books: pl.DataFrame, pairs: pl.DataFrame, found: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, set[int]]:
    """(pairs, breaks, items matched as reversals): what the statement left of an entry and
    its reversal (both unmatched: the bank shows neither) is matched together, and is no
    break. Matching against the statement comes first: a bank that shows the payment and
    its return has lines for both."""
    left = books.filter(
        ~pl.col("id").is_in(pairs.filter(pl.col("side") == "books")["id"].implode())
    )
    reversals = _reversed_pairs(connection, left)
    if reversals.height == 0:
        return pairs, found, set()
    first = int(pairs["match"].max()) + 1 if pairs.height else 0  # type: ignore[arg-type]
    pairs = pl.concat([pairs, reversals.with_columns(pl.col("match") + first)])
    taken = reversals["id"].implode()
    found = found.filter(~((pl.col("side") == "books") & pl.col("id").is_in(taken)))
    # A difference on a line found against an item now matched as a reversal: the line is
    # what the books lack.
    against = (pl.col("side") == "statement") & pl.col("other_id").is_in(taken)
    found = found.with_columns(
        pl.when(against)
        .then(pl.lit(BreakType.MISSING_IN_BOOKS.value))
        .otherwise(pl.col("type"))
        .alias("type"),
        pl.when(against).then(None).otherwise(pl.col("other_id")).alias("other_id"),
    )
    return pairs, found, set(reversals["id"].to_list())


def _reversed_pairs(connection: sa.Connection, books: pl.DataFrame) -> pl.DataFrame:
    """Matches (match, side, id, rule) among unmatched book items: an unmatched
    entry and its unmatched reversal moved no money at the bank, so their postings to an
    account are matched with each other (rule `reversal`) when they net to zero there. This
    is how reversing a duplicate entry closes its `duplicate` break."""
    empty = pl.DataFrame(
        schema={"match": pl.Int64, "side": pl.String, "id": pl.Int64, "rule": pl.String}
    )
    if books.height == 0:
        return empty
    je = schema.journal_entries
    entry_ids = sorted({int(i) // postings_per_entry for i in books["id"].to_list()})
    links = [
        (int(r.id), int(r.reversal_of))
        for start in range(0, len(entry_ids), 5000)
        for r in connection.execute(
            sa.select(je.c.id, je.c.reversal_of).where(
                je.c.id.in_(entry_ids[start : start + 5000]), je.c.reversal_of.is_not(None)
            )
        )
    ]
    if not links:
        return empty
    group_of = pl.DataFrame(
        [(entry, group) for group, pair in enumerate(links) for entry in pair],
        schema={"entry": pl.Int64, "group": pl.Int64},
        orient="row",
    )
    candidates = books.with_columns((pl.col("id") // postings_per_entry).alias("entry")).join(
        group_of, on="entry"
    )
    complete = (
        candidates.group_by("group", "account")
        .agg(pl.col("amount_minor").sum(), pl.col("entry").n_unique().alias("entries"))
        .filter((pl.col("amount_minor") == 0) & (pl.col("entries") == 2))
        .select("group", "account")
    )
    taken = candidates.join(complete, on=["group", "account"]).sort("id")
    return taken.select(
        pl.struct("group", "account").rank("dense").cast(pl.Int64).alias("match") - 1,
        pl.lit("books").alias("side"),
        "id",
        pl.lit(MatchRule.REVERSAL.value).alias("rule"),
    )


def _repeats(connection: sa.Connection, found: pl.DataFrame) -> dict[int, str]:
    """item id -> what a books duplicate repeats, said in the break's history by entry key."""
    duplicates = found.filter(
        (pl.col("side") == "books") & (pl.col("type") == BreakType.DUPLICATE.value)
    )
    if duplicates.height == 0:
        return {}
    pairs = duplicates.select("id", "other_id").rows()
    keys = _entry_keys(connection, [i for pair in pairs for i in pair])
    return {
        item: f": entry {keys[item // postings_per_entry]!r} repeats entry "
        f"{keys[other // postings_per_entry]!r} (same reference, amount and value date)"
        for item, other in pairs
    }


def _entry_keys(connection: sa.Connection, item_ids: Sequence[int]) -> dict[int, str]:
    """entry id -> key, for the entries of book items."""
    je = schema.journal_entries
    entry_ids = sorted({int(i) // postings_per_entry for i in item_ids})
    return {
        int(r.id): r.key
        for start in range(0, len(entry_ids), 5000)
        for r in connection.execute(
            sa.select(je.c.id, je.c.key).where(je.c.id.in_(entry_ids[start : start + 5000]))
        )
    }


def _known_breaks(
    connection: sa.Connection, break_ids: Sequence[str]
) -> dict[str, tuple[str, str, int, int | None]]:
    """break id -> (status, type, amount_minor, other_item_id) of those already filed, read
    in chunks: a run files thousands of breaks, and one query each would dominate it."""
    b = schema.breaks
    known: dict[str, tuple[str, str, int, int | None]] = {}
    unique = sorted(set(break_ids))
    for start in range(0, len(unique), 5000):
        for r in connection.execute(
            sa.select(
                b.c.break_id, b.c.status, b.c.type, b.c.amount_minor, b.c.other_item_id
            ).where(b.c.break_id.in_(unique[start : start + 5000]))
        ):
            known[r.break_id] = (r.status, r.type, int(r.amount_minor), r.other_item_id)
    return known


def _claimed_items(connection: sa.Connection, account_ids: Sequence[int]) -> set[int]:
    """Books items an open difference break on a statement line was found against: that
    break's, not items with breaks of their own (a run for an earlier day does not see the
    later line)."""
    b = schema.breaks
    return set(
        connection.execute(
            sa.select(b.c.other_item_id).where(
                b.c.side == "statement",  # a books duplicate's other item is the one it repeats
                b.c.other_item_id.is_not(None),
                b.c.status != BreakStatus.RESOLVED.value,
                b.c.account_id.in_(account_ids),
            )
        ).scalars()
    )


def _scales(connection: sa.Connection, account_ids: Sequence[int]) -> dict[int, int]:
    a, s = schema.accounts, schema.assets
    return {
        row.id: row.scale
        for row in connection.execute(
            sa.select(a.c.id, s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.id.in_(account_ids))
        )
    }


def _resolve(
    connection: sa.Connection, break_id: str, actor: str, resolution: str, at: int
) -> None:
    b = schema.breaks
    connection.execute(
        sa.update(b)
        .where(b.c.break_id == break_id)
        .values(status="resolved", resolved_at_us=at, resolution=resolution)
    )
    _event(connection, break_id, actor, "resolved", resolution)


# --- Breaks and their workflow ------------------------------------------------------------


def _audit(connection: sa.Connection, actor: str, command: str, detail: dict[str, Any]) -> None:
    """The command's one audit record, in the transaction of its writes."""
    LedgerRepository(connection).append_audit(
        now_us(), actor, command, orjson.dumps(detail).decode()
    )


def _break(connection: sa.Connection, break_id: str) -> Any:
    row = connection.execute(
        sa.select(schema.breaks).where(schema.breaks.c.break_id == break_id)
    ).first()
    if row is None:
        raise ProblemError(Problem("unknown_break", f"no break {break_id!r}"))
    return row


def update_break(
    store: Store,
    break_id: str,
    *,
    actor: str,
    owner: str | None = None,
    status: str | None = None,
    comment: str | None = None,
) -> None:
    """Assign, move to investigating (or back to open), comment: each change in the history."""
    require_free_text(
        actor=(actor, actor_chars_max),
        owner=(owner, owner_chars_max),
        comment=(comment, comment_chars_max),
    )
    b = schema.breaks
    with store.write() as connection:
        row = _break(connection, break_id)
        if row.status == "resolved":
            raise ProblemError(Problem("break_resolved", f"break {break_id} is resolved"))
        if owner is not None:
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(owner=owner))
            _event(connection, break_id, actor, "assigned", owner)
        if status is not None:
            if status not in ("open", "investigating"):
                raise ProblemError(
                    Problem(
                        "invalid_status",
                        "a break is resolved by a match or a correction, not by hand",
                    )
                )
            connection.execute(sa.update(b).where(b.c.break_id == break_id).values(status=status))
            _event(connection, break_id, actor, "status", status)
        if comment:
            _event(connection, break_id, actor, "comment", comment)
        changes = {"owner": owner, "status": status, "comment": comment}
        _audit(connection, actor, "recon.break", {"break_id": break_id} | changes)


def manual_match(store: Store, statement_break: str, books_break: str, *, actor: str) -> None:
    """Match a statement-side break with a books-side break of the same account by hand."""
    require_free_text(actor=(actor, actor_chars_max))
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        left, right = _break(connection, statement_break), _break(connection, books_break)
        if (
            (left.side, right.side) != ("statement", "books")
            or left.item_id is None
            or right.item_id is None
        ):
            raise ProblemError(
                Problem("invalid_match", "give a statement-side break, then a books-side break")
            )
        if left.account_id != right.account_id:
            raise ProblemError(Problem("invalid_match", "the two breaks are on different accounts"))
        if "resolved" in (left.status, right.status):
            raise ProblemError(Problem("break_resolved", "one of the breaks is already resolved"))
        at = now_us()
        rm = schema.recon_matches
        number = (
            connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(rm.c.match_no), -1))
            ).scalar_one()
            + 1
        )
        connection.execute(
            sa.insert(rm),
            [
                {
                    "match_no": number,
                    "rule": "manual",
                    "side": side,
                    "item_id": item,
                    "matched_at_us": at,
                    "actor": actor,
                }
                for side, item in (("statement", left.item_id), ("books", right.item_id))
            ],
        )
        connection.execute(
            sa.update(schema.statement_lines)
            .where(schema.statement_lines.c.id == left.item_id)
            .values(matched=True)
        )
        for break_id, other in ((statement_break, books_break), (books_break, statement_break)):
            _resolve(connection, break_id, actor, f"matched by hand with {other}", at)
        _audit(
            connection, actor, "recon.match",
            {"match_no": number, "statement_break": statement_break, "books_break": books_break},
        )  # fmt: skip


def propose_correction(
    store: Store,
    break_id: str,
    postings: Sequence[tuple[str, str]],
    *,
    description: str,
    actor: str,
) -> int:
    """A correcting entry for a break, waiting for a second person's approval."""
    require_free_text(
        actor=(actor, actor_chars_max), description=(description, description_chars_max)
    )
    if len(postings) < 2:
        raise ProblemError(
            Problem("invalid_correction", "a correction has two or more postings (ACCOUNT=AMOUNT)")
        )
    with store.write() as connection:
        row = _break(connection, break_id)
        if row.status == "resolved":
            raise ProblemError(Problem("break_resolved", f"break {break_id} is resolved"))
        correction_id = connection.execute(
            sa.insert(schema.corrections)
            .values(
                break_id=break_id,
                proposed_by=actor,
                proposed_at_us=now_us(),
                postings_json=orjson.dumps([[a, amount] for a, amount in postings]).decode(),
                description=description,
            )
            .returning(schema.corrections.c.id)
        ).scalar_one()
        _event(
            connection, break_id, actor, "proposed", f"correction {correction_id}: {description}"
        )
        _audit(
            connection, actor, "recon.propose",
            {"correction_id": correction_id, "break_id": break_id},
        )  # fmt: skip
    return int(correction_id)


def decide_correction(store: Store, correction_id: int, *, approve: bool, actor: str) -> str | None:
    """Approve (post the entry, resolve the break) or reject a proposed correction, in one
    transaction. The proposer cannot decide their own proposal; a break resolved meanwhile
    takes no correction. An approved correction of a break with items must make the books
    agree with the statement for them: its postings to the reconciled account plus the book
    items must sum to the statement items. They are then matched together (rule
    `correction`), so the break is not found again."""
    require_free_text(actor=(actor, actor_chars_max))
    c, d = schema.corrections, schema.correction_decisions
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        row = connection.execute(
            sa.select(c, d.c.decision)
            .outerjoin(d, d.c.correction_id == c.c.id)
            .where(c.c.id == correction_id)
        ).first()
        if row is None:
            raise ProblemError(Problem("unknown_correction", f"no correction {correction_id}"))
        if row.decision is not None:
            raise ProblemError(
                Problem(
                    "correction_decided", f"correction {correction_id} is already {row.decision}"
                )
            )
        if row.proposed_by == actor:
            raise ProblemError(
                Problem(
                    "four_eyes",
                    f"{actor} proposed correction {correction_id}: another person must decide it",
                )
            )
        found = _break(connection, row.break_id)
        if approve and found.status == BreakStatus.RESOLVED.value:
            raise ProblemError(
                Problem(
                    "break_resolved",
                    f"break {row.break_id} was resolved meanwhile ({found.resolution}): "
                    f"correction {correction_id} is not needed",
                )
            )
        at = now_us()
        if not approve:
            connection.execute(
                sa.insert(d).values(
                    correction_id=correction_id, decision="rejected", decided_by=actor,
                    decided_at_us=at,
                )
            )  # fmt: skip
            _event(connection, row.break_id, actor, "rejected", f"correction {correction_id}")
            _audit(
                connection, actor, "recon.reject",
                {"correction_id": correction_id, "break_id": row.break_id},
            )  # fmt: skip
            return None
        key = f"recon:correction/{correction_id}"
        request = EntryRequest(
            key=key,
            effective_date=max(found.value_date, dt.datetime.now(dt.UTC).date()),
            description=row.description,
            reference=row.break_id,
            postings=tuple(
                PostingRequest(account, amount)
                for account, amount in orjson.loads(row.postings_json)
            ),
            metadata={
                "break_id": row.break_id,
                "correction_id": correction_id,
                "proposed_by": row.proposed_by,
            },
        )
        (result,) = post_in_transaction(
            connection, [request], actor=actor, command="recon.correct", booked_at_us=at
        )
        if result.outcome is EntryOutcome.FAILED:
            raise ProblemError(*result.problems)
        _match_correction(connection, found, key, actor, at)
        connection.execute(
            sa.insert(d).values(
                correction_id=correction_id, decision="approved", decided_by=actor,
                decided_at_us=at, entry_key=key,
            )
        )  # fmt: skip
        _resolve(
            connection,
            row.break_id,
            actor,
            f"corrected by ledger entry {key} (proposed by {row.proposed_by})",
            at,
        )
    return key


def _resolve_breaks_of(
    connection: sa.Connection,
    items: Sequence[tuple[str, int]],
    resolved_with: str,
    actor: str,
    at: int,
) -> None:
    """Resolve the open breaks of items just matched, but the one being resolved itself: a
    books item a difference break was found against may have a break of its own (from a run
    of an earlier day)."""
    b = schema.breaks
    for side in ("statement", "books"):
        ids = [item for item_side, item in items if item_side == side]
        if not ids:
            continue
        for break_id in connection.execute(
            sa.select(b.c.break_id).where(
                b.c.side == side,
                b.c.item_id.in_(ids),
                b.c.status != BreakStatus.RESOLVED.value,
                b.c.break_id != resolved_with,
            )
        ).scalars():
            _resolve(connection, break_id, actor, f"matched with {resolved_with}", at)


def _match_correction(connection: sa.Connection, found: Any, key: str, actor: str, at: int) -> None:
    """Match a corrected break's items with the correction's postings to its account."""
    if found.item_id is None or found.account_id is None:
        return  # a balance or position break: nothing itemised to match
    p, je, sl = schema.postings, schema.journal_entries, schema.statement_lines
    item = p.c.entry_id * postings_per_entry + p.c.line
    corrections = connection.execute(
        sa.select(item.label("id"), p.c.amount_minor)
        .join(je, je.c.id == p.c.entry_id)
        .where(je.c.key == key, p.c.account_id == found.account_id)
    ).all()
    statement_ids = [found.item_id] if found.side == "statement" else []
    book_ids = [found.item_id] if found.side == "books" else []
    if found.other_item_id is not None:
        book_ids.append(found.other_item_id)
    rm = schema.recon_matches
    taken = {
        (r.side, r.item_id)
        for r in connection.execute(
            sa.select(rm.c.side, rm.c.item_id).where(rm.c.item_id.in_(statement_ids + book_ids))
        )
    }
    statement_ids = [i for i in statement_ids if ("statement", i) not in taken]
    book_ids = [i for i in book_ids if ("books", i) not in taken]
    statement_total = sum(
        connection.execute(sa.select(sl.c.amount_minor).where(sl.c.id.in_(statement_ids))).scalars()
    )
    book_total = sum(
        int(r.amount_minor)
        for r in connection.execute(
            sa.select(p.c.amount_minor).join(je, je.c.id == p.c.entry_id).where(item.in_(book_ids))
        )
    )
    booked = sum(int(r.amount_minor) for r in corrections)
    scale = _scales(connection, [found.account_id])[found.account_id]
    if book_total + booked != statement_total:
        raise ProblemError(
            Problem(
                "correction_mismatch",
                f"break {found.break_id}: the statement shows "
                f"{format_amount(statement_total, scale)}, the books "
                f"{format_amount(book_total, scale)}; the correction books "
                f"{format_amount(booked, scale)} to the account, so they would still differ by "
                f"{format_amount(statement_total - book_total - booked, scale)}",
            )
        )
    number = (
        connection.execute(sa.select(sa.func.coalesce(sa.func.max(rm.c.match_no), -1))).scalar_one()
        + 1
    )
    items = [("statement", i) for i in statement_ids] + [("books", i) for i in book_ids]
    _resolve_breaks_of(connection, items, found.break_id, actor, at)
    items += [("books", int(r.id)) for r in corrections]
    connection.execute(
        sa.insert(rm),
        [
            {"match_no": number, "rule": "correction", "side": side, "item_id": item_id,
             "matched_at_us": at, "actor": actor}
            for side, item_id in items
        ],
    )  # fmt: skip
    if statement_ids:
        connection.execute(sa.update(sl).where(sl.c.id.in_(statement_ids)).values(matched=True))


# --- Positions --------------------------------------------------------------------------------


def import_holdings(
    store: Store, statements: Sequence[HoldingsStatement], *, source_file: str, actor: str
) -> int:
    """Store custodian holdings, all or nothing; a position given again with the same quantity
    is recognised, with another quantity refused."""
    h = schema.holdings
    stored = 0
    hs = schema.holdings_statements
    with store.write() as connection:
        for statement in statements:
            known = connection.execute(
                sa.select(hs.c.id).where(
                    hs.c.account == statement.account,
                    hs.c.as_of == statement.as_of,
                    hs.c.statement_id == statement.statement_id,
                )
            ).first()
            if known is None:
                connection.execute(
                    sa.insert(hs).values(
                        statement_id=statement.statement_id,
                        format=statement.format.value,
                        account=statement.account,
                        as_of=statement.as_of,
                        positions=len(statement.holdings),
                        source_file=source_file,
                    )
                )
            for holding in statement.holdings:
                found = connection.execute(
                    sa.select(h.c.quantity).where(
                        h.c.account == statement.account,
                        h.c.as_of == statement.as_of,
                        h.c.isin == holding.isin,
                    )
                ).first()
                if found is not None:
                    if found.quantity != holding.quantity:
                        raise ProblemError(
                            Problem(
                                "holdings_changed",
                                f"{statement.account} {holding.isin} on {statement.as_of} was "
                                f"{found.quantity}, now {holding.quantity}",
                                holding.source,
                            )
                        )
                    continue
                connection.execute(
                    sa.insert(h).values(
                        statement_id=statement.statement_id,
                        format=statement.format.value,
                        account=statement.account,
                        as_of=statement.as_of,
                        isin=holding.isin,
                        quantity=holding.quantity,
                        source_file=source_file,
                    )
                )
                stored += 1
        _audit(connection, actor, "recon.import", {"file": source_file, "positions": stored})
    return stored


def reconcile(
    store: Store,
    day: dt.date,
    *,
    actor: str,
    account: str | None = None,
    rules: MatchingRules | None = None,
    account_rules: Mapping[str, MatchingRules] | None = None,
) -> tuple[RunResult, list[dict[str, Any]]]:
    """The day's reconciliation: cash (statements against postings) and positions (custodian
    holdings against ledger positions). With `account`, that ledger account alone: its
    statements, or its position, whichever it has; neither is `unknown_account`."""
    if account is None:
        result = run_recon(store, day, actor=actor, rules=rules, account_rules=account_rules)
        return result, reconcile_positions(store, day, actor=actor)
    a, st, h = schema.accounts, schema.statements, schema.holdings_statements
    with store.read() as connection:
        row = connection.execute(
            sa.select(a.c.id, a.c.external_account).where(a.c.code == account)
        ).first()
        has_statements = (
            row is not None
            and connection.execute(
                sa.select(sa.func.count()).select_from(st).where(st.c.account_id == row.id)
            ).scalar_one()
        )
        has_holdings = (
            row is not None
            and connection.execute(
                sa.select(sa.func.count()).select_from(h).where(h.c.account == row.external_account)
            ).scalar_one()
        )
    if has_statements or not has_holdings:
        result = run_recon(
            store, day, actor=actor, account=account, rules=rules, account_rules=account_rules
        )
    else:
        result = RunResult(matched=0, breaks=[], closed=0)
    positions = (
        reconcile_positions(store, day, actor=actor, account=account) if has_holdings else []
    )
    return result, positions


def reconcile_positions(
    store: Store, day: dt.date, *, actor: str, account: str | None = None
) -> list[dict[str, Any]]:
    """Custodian holdings as of `day` against the ledger positions of the accounts whose
    `external_account` is the safekeeping account, per ISIN: a difference is a break. With
    `account`, that ledger account's position alone."""
    h, a, s, p, je = (
        schema.holdings,
        schema.accounts,
        schema.assets,
        schema.postings,
        schema.journal_entries,
    )
    only = account
    found: list[dict[str, Any]] = []
    with store.write() as connection:
        positions = connection.execute(sa.select(h).where(h.c.as_of == day)).all()
        hs = schema.holdings_statements
        safekeeping = sorted(
            connection.execute(sa.select(hs.c.account).where(hs.c.as_of == day).distinct())
            .scalars()
            .all()
        )
        if not safekeeping:
            return []
        ledger = connection.execute(
            sa.select(a.c.id, a.c.code, a.c.external_account, s.c.code.label("isin"), s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.external_account.in_(safekeeping), s.c.kind == "security")
        ).all()
        if only is not None:
            ledger = [r for r in ledger if r.code == only]
            wanted = {(r.external_account, r.isin) for r in ledger}
            positions = [row for row in positions if (row.account, row.isin) in wanted]
        balances = {
            row.account_id: int(row.total or 0)
            for row in connection.execute(
                sa.select(p.c.account_id, sa.func.sum(p.c.amount_minor).label("total"))
                .join(je, je.c.id == p.c.entry_id)
                .where(
                    p.c.account_id.in_([r.id for r in ledger]),
                    je.c.effective_date <= day,
                    je.c.kind.in_(("standard", "reversal", "post_pending")),
                )
                .group_by(p.c.account_id)
            )
        }
        # Several ledger accounts may keep one position at the custodian (house and
        # clients' securities in one safekeeping account): the custodian's figure is compared
        # with their sum, and a break is filed under the first of them.
        by_position: dict[tuple[str, str], Any] = {}
        position_total: dict[tuple[str, str], int] = {}
        for r in sorted(ledger, key=lambda r: r.id):
            key = (r.external_account, r.isin)
            by_position.setdefault(key, r)
            position_total[key] = position_total.get(key, 0) + balances.get(r.id, 0)
        known_scales = {
            r.code: int(r.scale)
            for r in connection.execute(
                sa.select(s.c.code, s.c.scale).where(
                    s.c.code.in_(sorted({row.isin for row in positions}))
                )
            )
        }
        seen: set[tuple[str, str]] = set()
        for row in positions:
            seen.add((row.account, row.isin))
            held = by_position.get((row.account, row.isin))
            where = Source(row.source_file, field=row.isin)
            if held is None:
                # The custodian holds what no ledger account of that safekeeping account does.
                scale = known_scales.get(row.isin, _decimals(row.quantity))
                quantity = _amount(row.quantity, scale, where)
                if quantity:
                    found.append(
                        _position_break(
                            connection, None, row.account, row.isin, scale, day, quantity,
                            BreakType.MISSING_IN_BOOKS, actor,
                        )
                    )  # fmt: skip
                else:
                    _clear_position(connection, None, row.account, row.isin, day, actor)
                continue
            quantity = _amount(row.quantity, held.scale, where)
            difference = quantity - position_total[(row.account, row.isin)]
            if difference:
                found.append(
                    _position_break(
                        connection, held, row.account, row.isin, held.scale, day,
                        difference, BreakType.AMOUNT_DIFFERENCE, actor,
                    )
                )  # fmt: skip
            else:
                _clear_position(connection, held.id, row.account, row.isin, day, actor)
        for key, held in by_position.items():
            if key in seen:
                continue
            if position_total[key]:
                found.append(
                    _position_break(
                        connection, held, held.external_account, held.isin,
                        held.scale, day, -position_total[key],
                        BreakType.MISSING_IN_STATEMENT, actor,
                    )
                )  # fmt: skip
            else:
                _clear_position(connection, held.id, held.external_account, held.isin, day, actor)
        if only is None:
            # A position only the custodian held, and that it no longer reports, is settled.
            b = schema.breaks
            for gone in connection.execute(
                sa.select(b.c.external_account, b.c.reference).where(
                    b.c.side == "holdings",
                    b.c.account_id.is_(None),
                    b.c.status != BreakStatus.RESOLVED.value,
                    b.c.external_account.in_(safekeeping),
                )
            ).all():
                if (gone.external_account, gone.reference) not in seen:
                    _clear_position(
                        connection, None, gone.external_account, gone.reference, day, actor
                    )
    return found


def _decimals(quantity: str) -> int:
    """The scale a quantity is written in, for a security the reference data lacks."""
    _, _, fraction = quantity.strip().partition(".")
    return len(fraction.rstrip("0")) if fraction.isdigit() else 0


def _open_position_break(
    connection: sa.Connection, account_id: int | None, external_account: str, isin: str
) -> Any:
    b = schema.breaks
    return connection.execute(
        sa.select(b.c.break_id)
        .where(
            b.c.side == "holdings",
            b.c.reference == isin,
            b.c.status != BreakStatus.RESOLVED.value,
            b.c.account_id == account_id
            if account_id is not None
            else (b.c.account_id.is_(None) & (b.c.external_account == external_account)),
        )
        .order_by(b.c.id)
    ).scalar()


def _clear_position(
    connection: sa.Connection,
    account_id: int | None,
    external_account: str,
    isin: str,
    day: dt.date,
    actor: str,
) -> None:
    break_id = _open_position_break(connection, account_id, external_account, isin)
    if break_id is not None:
        _resolve(
            connection, break_id, actor, f"cleared: custodian and books agree on {day}", now_us()
        )


def _position_break(
    connection: sa.Connection,
    account: Any,
    external_account: str,
    isin: str,
    scale: int,
    day: dt.date,
    difference: int,
    kind: BreakType,
    actor: str,
) -> dict[str, Any]:
    """A position break; one still open for the same position is carried over (same id,
    amount and type brought up to date) rather than a new one opened each day."""
    account_id = None if account is None else int(account.id)
    break_id = _open_position_break(connection, account_id, external_account, isin)
    if break_id is None:
        owner = (
            str(account_id)
            if account_id is not None
            else hashlib.sha256(external_account.encode()).hexdigest()[:8]
        )
        break_id = f"POS-{owner}-{isin}-{day:%Y%m%d}"
    _open_break(
        connection, break_id, kind, account_id, "holdings", None, difference, day, isin, day,
        actor, f"custodian and books differ by {format_amount(difference, scale)} {isin} on {day}",
        external_account=external_account, scale=scale,
    )  # fmt: skip
    return {
        "break_id": break_id,
        "type": kind.value,
        "account": account.code if account is not None else external_account,
        "amount": format_amount(difference, scale),
        "value_date": day.isoformat(),
        "reference": isin,
    }
