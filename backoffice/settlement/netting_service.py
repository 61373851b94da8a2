"""Netting: gross trades into net settlement obligations, columnar with Polars.

The input is one row per gross trade, seen from its participant (the firm, for the firm's own
books; a clearing member, for a CCP's view):

    trade_id: str, participant: str, counterparty: str, isin: str, settlement_date: date,
    currency: str, quantity_minor: i64 (+ = the participant receives securities),
    cash_minor: i64 (+ = the participant receives cash)

Modes:
- `ccp` (CNS-style): per participant, security, settlement date and currency, one net
  securities obligation against the CCP, carrying the net cash of its trades (so each
  obligation settles delivery versus payment); the net cash per participant and currency is
  the sum of those (`cash_by_currency`).
- `bilateral`: per participant, counterparty, security, settlement date and currency.

Nothing is netted across participants, currencies or settlement dates. Conservation holds by
construction and is checked: per security the net quantities sum to the gross quantities,
per currency the net cash to the gross cash. Every gross trade keeps the number of the
obligation that covers it (`obligation` in the links frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from backoffice.errors import invariant
from backoffice.settlement.model import NettingMode

TRADE_SCHEMA = {
    "trade_id": pl.String,
    "participant": pl.String,
    "counterparty": pl.String,
    "isin": pl.String,
    "settlement_date": pl.Date,
    "currency": pl.String,
    "quantity_minor": pl.Int64,
    "cash_minor": pl.Int64,
}


def netting_keys(mode: NettingMode) -> list[str]:
    if mode is NettingMode.CCP:
        return ["participant", "isin", "settlement_date", "currency"]
    return ["participant", "counterparty", "isin", "settlement_date", "currency"]


@dataclass(frozen=True, slots=True)
class Netted:
    """`obligations`: one row per net obligation (keys, `obligation` number, `quantity_minor`,
    `cash_minor`, `trade_count`, `gross_quantity_minor`, `gross_cash_minor`); `links`: for
    every gross trade, its `row` in the input and the `obligation` number that covers it."""

    obligations: pl.DataFrame
    links: pl.DataFrame


def net(trades: pl.DataFrame, mode: NettingMode, *, check: bool = True) -> Netted:
    """Net `trades` (TRADE_SCHEMA columns) by `mode`. Deterministic: obligations are numbered
    in the order their first trade appears, so the same trades in the same order give the same
    numbers (a sort of the keys would cost more than the netting)."""
    keys = netting_keys(mode)
    grouped = (
        trades.lazy()
        .select(*keys, "quantity_minor", "cash_minor")
        .with_row_index("_row")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("quantity_minor").sum(),
            pl.col("cash_minor").sum(),
            pl.len().alias("trade_count"),
            pl.col("quantity_minor").abs().sum().alias("gross_quantity_minor"),
            pl.col("cash_minor").abs().sum().alias("gross_cash_minor"),
            pl.col("_row"),
        )
        .with_row_index("obligation")
        .collect()
    )
    # Each obligation's trades come out of the same group-by as row numbers: no join back,
    # and no copy of ten million trade ids (`trade_ids` gathers them for the few who ask).
    links = grouped.select("obligation", pl.col("_row").alias("row")).explode("row")
    obligations = grouped.drop("_row")
    if check:
        _check_conservation(trades, obligations, links)
    return Netted(obligations, links)


def _check_conservation(
    trades: pl.DataFrame, obligations: pl.DataFrame, links: pl.DataFrame
) -> None:
    """Per security the net quantities equal the gross sum; per currency likewise for cash;
    every trade is covered by exactly one obligation. A breach is a bug, not bad input."""
    gross_securities = trades.group_by("isin").agg(pl.col("quantity_minor").sum()).sort("isin")
    net_securities = obligations.group_by("isin").agg(pl.col("quantity_minor").sum()).sort("isin")
    invariant(
        gross_securities.equals(net_securities),
        "netting: net quantities do not add up to the gross per security",
    )
    gross_cash = trades.group_by("currency").agg(pl.col("cash_minor").sum()).sort("currency")
    net_cash = obligations.group_by("currency").agg(pl.col("cash_minor").sum()).sort("currency")
    invariant(
        gross_cash.equals(net_cash), "netting: net cash does not add up to the gross per currency"
    )
    invariant(
        links.height == trades.height and links["row"].n_unique() == trades.height,
        "netting: a trade is not covered by exactly one obligation",
    )
    invariant(
        int(obligations["trade_count"].sum() or 0) == trades.height,
        "netting: obligations do not count every trade once",
    )


def trade_ids(trades: pl.DataFrame, netted: Netted) -> pl.DataFrame:
    """`obligation`, `trade_id`: the trades behind each obligation, by their ids."""
    return netted.links.select(
        "obligation", trades["trade_id"].gather(netted.links["row"]).alias("trade_id")
    )


def cash_by_currency(obligations: pl.DataFrame) -> pl.DataFrame:
    """The net cash per participant and currency (a CCP's one money figure per member)."""
    return (
        obligations.group_by("participant", "currency")
        .agg(pl.col("cash_minor").sum())
        .sort("participant", "currency")
    )


@dataclass(frozen=True, slots=True)
class NettingReport:
    gross_count: int
    net_count: int
    gross_value_minor: dict[str, int]  # per currency: the sum of |cash| over gross trades
    net_value_minor: dict[str, int]  # per currency: the sum of |cash| over obligations

    def efficiency(self, currency: str) -> float | None:
        """1 - net value / gross value: the share of money movements netting saved. A ratio
        for people to read, not an amount: the only float in the report."""
        gross = self.gross_value_minor.get(currency, 0)
        if gross == 0:
            return None
        return 1 - self.net_value_minor.get(currency, 0) / gross


def report(trades: pl.DataFrame, netted: Netted) -> NettingReport:
    gross = trades.group_by("currency").agg(pl.col("cash_minor").abs().sum())
    net_values = netted.obligations.group_by("currency").agg(pl.col("cash_minor").abs().sum())
    return NettingReport(
        gross_count=trades.height,
        net_count=netted.obligations.height,
        gross_value_minor=dict(gross.iter_rows()),
        net_value_minor=dict(net_values.iter_rows()),
    )
