"""The recon run: statements against the books up to a day, and the day's reconciliation of
cash and positions (`reconcile`).

Books: the postings of the reconciled account (debit-positive: money into a nostro is a debit,
so the signs agree with the statement's), each with its entry's reference (else its key) and
its effective date as value date. A posting's id is entry id x 1000 + line.

Matching (`matching_service`) takes every unmatched statement line and book item up to the
run's date; matches are stored with their rule; what is left becomes breaks, identified by
side and item (so a break carried to the next day keeps its id and ages); a break whose item
matches later closes itself. A book item dated after the account's latest statement is not a
break yet (the bank has not reported that day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.money import format_amount
from backoffice.recon.books_service import account_scales, now_us
from backoffice.recon.break_service import open_break, resolve_break
from backoffice.recon.matching_service import BOOKS_SCHEMA, STATEMENT_SCHEMA, match_by_rule_sets
from backoffice.recon.model import BreakStatus, BreakType, MatchingRules, postings_per_entry
from backoffice.recon.position_service import reconcile_positions
from backoffice.recon.reversal_service import with_reversals
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository


@dataclass(slots=True)
class RunResult:
    matched: int
    breaks: list[dict[str, Any]]
    closed: int


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
        pairs, found = match_by_rule_sets(
            statement, books, history, books_history, ids, codes, rules, account_rules or {}
        )
        pairs, found, reversed_items = with_reversals(connection, books, pairs, found)
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
                    resolve_break(connection, break_id, actor, text, at)
                closed += len(open_ids)
        reported_breaks = []
        scales = account_scales(connection, ids)
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
                open_break(
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
                    resolve_break(connection, superseded, actor, f"now part of {break_id}", at)
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
