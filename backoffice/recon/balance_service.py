"""Balance breaks of a stored statement: its opening balance must equal the previous statement's
closing balance for the account, and opening + lines must equal closing: otherwise a
`balance_difference` break is raised; a statement the bank gave no opening balance raises one
saying so. Statements may arrive out of order, so the statement after a new one is checked
against it too."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from backoffice.money import format_amount
from backoffice.recon.books_service import now_us
from backoffice.recon.break_service import open_break, resolve_break
from backoffice.recon.model import BreakStatus, BreakType
from backoffice.store import schema

neighbours_max = 50  # same-day statements looked at to find a statement's neighbours


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


def check_balances(
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
                resolve_break(
                    connection, break_id, actor,
                    f"cleared: {earlier.statement_id} closes at the opening balance", now_us(),
                )  # fmt: skip
            return
        open_break(
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
        open_break(
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
    open_break(
        connection, f"BAL-{later.id}-1", BreakType.BALANCE_DIFFERENCE, later.account_id,
        "statement", None, difference, later.closing_date, later.statement_id,
        later.closing_date, actor,
        f"statement {later.statement_id} gave no opening balance: its closing "
        f"{format_amount(later.closing_balance_minor, scale)} less its lines implies "
        f"{format_amount(implied, scale)}; {compared}",
    )  # fmt: skip
