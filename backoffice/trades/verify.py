"""The books tie out to the trades: every allocation is booked exactly as its figures say.

Checks, each naming what is wrong:
- every allocation's entry exists, and its postings are exactly the postings the booking
  convention makes of the allocation's stored figures (account by account, amount by amount);
- a cancelled allocation's entry is reversed by `trades:cancel/...`; a live one is not reversed;
- no ledger entry under a trading key lacks its allocation;
- a live direct trade has exactly one live allocation, a cancelled or corrected one none;
- an allocated block's live allocations add up to the block's quantity and gross.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.trades.booking import BookedFigures, allocation_postings
from backoffice.trades.model import Side
from backoffice.trades.service import LIVE_STATUSES, TradeStatus, cancel_key

problems_reported_max = 100
_TRADING_KEYS = "je.key LIKE 'trades:%'"


def verify_trades(store: Store) -> list[Problem]:
    problems: list[Problem] = []

    def wrong(code: ErrorCode, reason: str) -> None:
        if len(problems) < problems_reported_max:
            problems.append(Problem(code, reason))

    with store.read() as connection:
        allocations = _allocations(connection)
        entries = {
            row.key: (row.id, row.reversal_of)
            for row in connection.execute(
                sa.text(
                    f"SELECT je.id, je.key, je.reversal_of FROM journal_entries je WHERE {_TRADING_KEYS}"
                )
            )
        }
        actual = pl.DataFrame(
            connection.execute(
                sa.text(
                    "SELECT je.key AS entry_key, a.code AS account, p.amount_minor "
                    "FROM postings p JOIN journal_entries je ON je.id = p.entry_id "
                    f"JOIN accounts a ON a.id = p.account_id WHERE {_TRADING_KEYS} "
                    "AND je.key NOT LIKE 'trades:cancel/%'"
                )
            ).all(),
            schema={"entry_key": pl.String, "account": pl.String, "amount_minor": pl.Int64},
            orient="row",
        )
        trades = connection.execute(
            sa.select(
                schema.trades.c.trade_id,
                schema.trades.c.kind,
                schema.trades.c.status,
                schema.trades.c.block,
                schema.trades.c.alloc_id,
                schema.trades.c.quantity_minor,
                schema.trades.c.gross_minor,
            ).where(schema.trades.c.kind != "cancel")
        ).all()
    expected_rows: list[tuple[str, str, int]] = []
    keys = set()
    for row in allocations:
        keys.add(row["entry_key"])
        figures = BookedFigures(
            row["client"],
            row["isin"],
            row["currency"],
            Side(row["side"]),
            row["quantity_minor"],
            row["gross_minor"],
            row["commission_minor"],
            row["sec_fee_minor"],
            row["finra_taf_minor"],
        )
        if figures.net_minor != row["net_minor"]:
            wrong(
                "net_amount_wrong",
                f"allocation {row['allocation_id']}: net does not follow from its figures",
            )
        expected_rows.extend(
            (row["entry_key"], account, amount)
            for account, _, amount in allocation_postings(figures)
        )
        booked = entries.get(row["entry_key"])
        reversal = entries.get(cancel_key(row["entry_key"]))
        if booked is None:
            wrong(
                "booking_missing",
                f"allocation {row['allocation_id']} has no ledger entry {row['entry_key']!r}",
            )
            continue
        if row["status"] == TradeStatus.CANCELLED:
            if reversal is None or reversal[1] != booked[0]:
                wrong(
                    "cancel_not_reversed",
                    f"cancelled allocation {row['allocation_id']} is not reversed in the ledger",
                )
        elif reversal is not None:
            wrong(
                "live_allocation_reversed",
                f"allocation {row['allocation_id']} is {row['status']} but its booking is reversed",
            )
    for key in entries:
        base = key.replace("trades:cancel/", "trades:", 1)
        if base not in keys:
            wrong("orphan_booking", f"ledger entry {key!r} books no allocation")
    expected = pl.DataFrame(
        expected_rows,
        schema={"entry_key": pl.String, "account": pl.String, "amount_minor": pl.Int64},
        orient="row",
    )
    booked_keys = pl.Series("entry_key", sorted(keys & set(entries)), dtype=pl.String)
    expected = expected.filter(pl.col("entry_key").is_in(booked_keys.implode()))
    for label, left, right in (
        ("missing from", expected, actual),
        ("not expected in", actual, expected),
    ):
        for row in (
            left.join(right, on=["entry_key", "account", "amount_minor"], how="anti")
            .head(problems_reported_max)
            .iter_rows(named=True)
        ):
            wrong(
                "booking_differs",
                f"posting {row['account']} {row['amount_minor']} is {label} entry {row['entry_key']!r}",
            )
    live_by_trade: dict[str, int] = {}
    by_block: dict[str, list[dict[str, Any]]] = {}
    for row in allocations:
        if row["status"] == TradeStatus.CANCELLED:
            continue
        if row["trade_id"] is not None:
            live_by_trade[row["trade_id"]] = live_by_trade.get(row["trade_id"], 0) + 1
        else:
            by_block.setdefault(row["alloc_id"], []).append(row)
    block_totals: dict[str, list[int]] = {}
    for trade in trades:
        if trade.block:
            if trade.status == TradeStatus.ALLOCATED:
                totals = block_totals.setdefault(trade.alloc_id, [0, 0])
                totals[0] += trade.quantity_minor
                totals[1] += trade.gross_minor
            continue
        live = live_by_trade.get(trade.trade_id, 0)
        should = 1 if trade.status in LIVE_STATUSES or trade.status == TradeStatus.SETTLED else 0
        if live != should:
            wrong(
                "trade_not_booked_once",
                f"trade {trade.trade_id} ({trade.status}) has {live} live allocations, not {should}",
            )
    for alloc_id, (quantity, gross) in block_totals.items():
        rows = by_block.get(alloc_id, [])
        if (
            sum(r["quantity_minor"] for r in rows) != quantity
            or sum(r["gross_minor"] for r in rows) != gross
        ):
            wrong(
                "allocation_does_not_add_up",
                f"allocation {alloc_id}: allocations do not add up to the block",
            )
    return problems


def _allocations(connection: sa.Connection) -> list[dict[str, Any]]:
    a, p, s, c = schema.allocations, schema.parties, schema.assets, schema.assets.alias("ccy")
    query = (
        sa.select(a, p.c.code.label("client"), s.c.code.label("isin"), c.c.code.label("currency"))
        .join(p, p.c.id == a.c.client_id)
        .join(s, s.c.id == a.c.asset_id)
        .join(c, c.c.id == a.c.currency_id)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
