"""Clearing: booked street-side trades into net settlement obligations, stored.

Which trades: every live street-side execution (a trade or a correction, not cancelled or
replaced; blocks included whether or not allocated: the street settles the block) whose
settlement date is the one asked, and that no instructed obligation covers yet.

Obligations are seen from the firm: `quantity_minor` > 0 the firm receives securities,
`cash_minor` > 0 it receives cash. A client's buy is a purchase from the street: + quantity,
- gross; a sale the opposite. In `ccp` mode every trade faces the CCP (the reference-data
party of kind `ccp`, or the one `--ccp` names) and each security's obligation carries its net
cash (settlement is DvP per security); the net money per currency is reported beside it.

An obligation's id is stable: "OB" and 14 hex digits of SHA-256 over its mode, counterparty,
security, date, currency and sorted trade ids, so netting the same trades again gives the same
obligations and instructing them again gives no duplicates. Netting replaces the date's
obligations that are not instructed yet, whichever mode made them (a trade is in one live
obligation); an instructed one keeps its trades.

An obligation is not instructed but kept as an exception, with its reason, when its
counterparty (or the firm) has no SSI for its market, or when it nets to no securities but
some cash (a payment free of delivery, instructed by hand).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.money import format_amount
from backoffice.settlement.model import NettingMode, ObligationStatus
from backoffice.settlement.netting_service import Netted, net
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

# Trade statuses that still settle with the street.
SETTLING_TRADE_STATUSES = (
    "booked", "pending_allocation", "allocated", "confirmed", "affirmed", "rejected",
)  # fmt: skip
# Obligation statuses that netting may replace (nothing has gone out for them).
REPLACEABLE = ("open", "exception", "netted_out")


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class NetResult:
    mode: NettingMode
    settlement_date: dt.date
    gross_count: int
    gross_value: dict[str, str]
    net_count: int
    net_value: dict[str, str]
    net_cash: dict[str, str]
    efficiency: dict[str, str]
    obligations: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "settlement_date": self.settlement_date.isoformat(),
            "gross_count": self.gross_count,
            "gross_value": self.gross_value,
            "net_count": self.net_count,
            "net_value": self.net_value,
            "net_cash": self.net_cash,
            "netting_efficiency_percent": self.efficiency,
            "obligations": self.obligations,
        }


def obligation_id(
    mode: NettingMode, counterparty: str, isin: str, day: dt.date, currency: str, trades: list[str]
) -> str:
    body = "\x1f".join((mode.value, counterparty, isin, day.isoformat(), currency, *sorted(trades)))
    return "OB" + hashlib.sha256(body.encode()).hexdigest()[:14].upper()


def _ccp(connection: sa.Connection, chosen: str | None) -> str:
    p = schema.parties
    ccps = [row.code for row in connection.execute(sa.select(p.c.code).where(p.c.kind == "ccp"))]
    if chosen is not None:
        if chosen not in ccps:
            raise ProblemError(Problem("unknown_ccp", f"{chosen!r} is not a party of kind ccp"))
        return str(chosen)
    if len(ccps) != 1:
        raise ProblemError(
            Problem(
                "choose_ccp",
                "ccp mode needs exactly one party of kind ccp, or --ccp CODE "
                f"(found {', '.join(ccps) or 'none'})",
            )
        )
    return str(ccps[0])


def _street_trades(connection: sa.Connection, day: dt.date) -> pl.DataFrame:
    """The day's live street trades not yet covered by an instructed obligation."""
    t, s, c, p = schema.trades, schema.assets, schema.assets.alias("ccy"), schema.parties
    o, ot = schema.obligations, schema.obligation_trades
    covered = (
        sa.select(ot.c.trade_id)
        .join(o, o.c.obligation_id == ot.c.obligation_id)
        .where(o.c.status.not_in((*REPLACEABLE, "cancelled")))
    )
    rows = connection.execute(
        sa.select(
            t.c.trade_id,
            p.c.code.label("counterparty"),
            s.c.code.label("isin"),
            sa.func.coalesce(s.c.market, t.c.venue).label("market"),
            t.c.trade_date,
            t.c.settlement_date,
            c.c.code.label("currency"),
            t.c.side,
            t.c.quantity_minor,
            t.c.gross_minor,
        )
        .join(s, s.c.id == t.c.asset_id)
        .join(c, c.c.id == t.c.currency_id)
        .join(p, p.c.id == t.c.counterparty_id)
        .where(
            t.c.settlement_date == day,
            t.c.kind != "cancel",
            t.c.status.in_(SETTLING_TRADE_STATUSES),
            t.c.trade_id.not_in(covered),
        )
        .order_by(t.c.id)
    ).all()
    frame = pl.DataFrame(
        [tuple(row) for row in rows],
        schema={
            "trade_id": pl.String,
            "counterparty": pl.String,
            "isin": pl.String,
            "market": pl.String,
            "trade_date": pl.Date,
            "settlement_date": pl.Date,
            "currency": pl.String,
            "side": pl.String,
            "quantity": pl.Int64,
            "gross": pl.Int64,
        },
        orient="row",
    )
    buy = pl.col("side") == "buy"
    return frame.with_columns(
        pl.when(buy)
        .then(pl.col("quantity"))
        .otherwise(-pl.col("quantity"))
        .alias("quantity_minor"),
        pl.when(buy).then(-pl.col("gross")).otherwise(pl.col("gross")).alias("cash_minor"),
    )


def net_obligations(
    store: Store,
    day: dt.date,
    mode: NettingMode,
    *,
    actor: str,
    ccp: str | None = None,
) -> NetResult:
    """Net the day's street trades and store the obligations (see the module docstring)."""
    with store.write() as connection:
        LedgerRepository(connection).lock_head()  # one netting or instruction run at a time
        street = _street_trades(connection, day)
        counterparty = _ccp(connection, ccp) if mode is NettingMode.CCP else None
        firm = _firm(connection)
        trades = street.with_columns(
            pl.lit(firm).alias("participant"),
            (pl.lit(counterparty) if counterparty else pl.col("counterparty")).alias(
                "counterparty"
            ),
        )
        netted = net(trades, mode)
        rows, links = _obligation_rows(trades, netted, mode, counterparty)
        _exceptions(connection, rows, firm)
        o, ot = schema.obligations, schema.obligation_trades
        # Whatever mode made them: a trade is in one obligation that may still go out.
        stale = sa.select(o.c.obligation_id).where(
            o.c.settlement_date == day, o.c.status.in_(REPLACEABLE)
        )
        stale_ids = [r[0] for r in connection.execute(stale)]
        if stale_ids:
            connection.execute(sa.delete(ot).where(ot.c.obligation_id.in_(stale_ids)))
            connection.execute(sa.delete(o).where(o.c.obligation_id.in_(stale_ids)))
        ids = _ids(connection)
        created = now_us()
        if rows:
            connection.execute(
                sa.insert(o),
                [
                    {
                        "obligation_id": row["obligation_id"],
                        "mode": mode.value,
                        "counterparty_id": ids["party", row["counterparty"]],
                        "asset_id": ids["asset", row["isin"]],
                        "currency_id": ids["asset", row["currency"]],
                        "market": row["market"],
                        "trade_date": row["trade_date"],
                        "settlement_date": row["settlement_date"],
                        "quantity_minor": row["quantity_minor"],
                        "cash_minor": row["cash_minor"],
                        "trade_count": row["trade_count"],
                        "status": row["status"],
                        "reason": row["reason"],
                        "settled_quantity_minor": 0,
                        "settled_cash_minor": 0,
                        "created_at_us": created,
                    }
                    for row in rows
                ],
            )
            connection.execute(sa.insert(ot), links)
        LedgerRepository(connection).append_audit(
            created,
            actor,
            "settlement.net",
            orjson.dumps(
                {"date": day.isoformat(), "mode": mode.value, "obligations": len(rows)}
            ).decode(),
        )
        scales = _scales(connection)
    return _result(day, mode, trades, netted, rows, scales)


def _firm(connection: sa.Connection) -> str:
    p = schema.parties
    firms = [r[0] for r in connection.execute(sa.select(p.c.code).where(p.c.kind == "firm"))]
    if not firms:
        raise ProblemError(Problem("no_firm_party", "reference data has no party of kind firm"))
    return str(sorted(firms)[0])


def _obligation_rows(
    trades: pl.DataFrame, netted: Netted, mode: NettingMode, ccp: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    by_obligation = (
        netted.links.with_columns(
            trades["trade_id"].gather(netted.links["row"]),
            trades["market"].gather(netted.links["row"]),
            trades["trade_date"].gather(netted.links["row"]),
        )
        .group_by("obligation")
        .agg(
            pl.col("trade_id").sort(),
            pl.col("market").first(),
            pl.col("trade_date").min(),
        )
    )
    details = netted.obligations.join(by_obligation, on="obligation").sort("obligation")
    rows: list[dict[str, Any]] = []
    links: list[dict[str, str]] = []
    for row in details.iter_rows(named=True):
        counterparty = ccp or row["counterparty"]
        identifier = obligation_id(
            mode,
            counterparty,
            row["isin"],
            row["settlement_date"],
            row["currency"],
            row["trade_id"],
        )
        status, reason = "open", None
        if row["quantity_minor"] == 0:
            if row["cash_minor"] == 0:
                status, reason = "netted_out", "nets to nothing: no settlement"
            else:
                status = "exception"
                reason = "nets to no securities but some cash: a payment free of delivery"
        rows.append(
            {
                "obligation_id": identifier,
                "counterparty": counterparty,
                "isin": row["isin"],
                "market": row["market"],
                "currency": row["currency"],
                "trade_date": row["trade_date"],
                "settlement_date": row["settlement_date"],
                "quantity_minor": row["quantity_minor"],
                "cash_minor": row["cash_minor"],
                "trade_count": row["trade_count"],
                "trade_ids": row["trade_id"],
                "status": status,
                "reason": reason,
            }
        )
        links.extend({"obligation_id": identifier, "trade_id": t} for t in row["trade_id"])
    return rows, links


def _exceptions(connection: sa.Connection, rows: list[dict[str, Any]], firm: str) -> None:
    """An obligation whose counterparty or the firm has no SSI for its market is kept as an
    exception with the reason, not instructed."""
    t, p = schema.ssis, schema.parties
    ssis = {
        (row.code, row.market)
        for row in connection.execute(
            sa.select(p.c.code, t.c.market).join(p, p.c.id == t.c.party_id)
        )
    }
    for row in rows:
        if row["status"] != ObligationStatus.OPEN:
            continue
        missing = [who for who in (firm, row["counterparty"]) if (who, row["market"]) not in ssis]
        if missing:
            row["status"] = "exception"
            row["reason"] = f"no SSI for {' and '.join(missing)} on {row['market']}"


def _ids(connection: sa.Connection) -> dict[tuple[str, str], int]:
    ids = {("party", r.code): r.id for r in connection.execute(sa.select(schema.parties))}
    ids.update({("asset", r.code): r.id for r in connection.execute(sa.select(schema.assets))})
    return ids


def _scales(connection: sa.Connection) -> dict[str, int]:
    a = schema.assets
    return {r.code: r.scale for r in connection.execute(sa.select(a.c.code, a.c.scale))}


def _result(
    day: dt.date,
    mode: NettingMode,
    trades: pl.DataFrame,
    netted: Netted,
    rows: list[dict[str, Any]],
    scales: dict[str, int],
) -> NetResult:
    gross = trades.group_by("currency").agg(pl.col("cash_minor").abs().sum())
    net_value = netted.obligations.group_by("currency").agg(pl.col("cash_minor").abs().sum())
    net_cash = netted.obligations.group_by("currency").agg(pl.col("cash_minor").sum())

    def amounts(frame: pl.DataFrame) -> dict[str, str]:
        return {
            currency: format_amount(int(value), scales[currency])
            for currency, value in sorted(frame.iter_rows())
        }

    net_by_currency = dict(net_value.iter_rows())
    efficiency = {}
    for currency, gross_minor in sorted(gross.iter_rows()):
        if gross_minor:
            # 1 - net / gross, in percent to two decimals, rounded half up in integers.
            saved = (gross_minor - net_by_currency.get(currency, 0)) * 10_000
            efficiency[currency] = format_amount((saved * 2 + gross_minor) // (2 * gross_minor), 2)
    return NetResult(
        mode=mode,
        settlement_date=day,
        gross_count=trades.height,
        gross_value=amounts(gross),
        net_count=len(rows),
        net_value=amounts(net_value),
        net_cash=amounts(net_cash),
        efficiency=efficiency,
        obligations=[
            {
                "obligation_id": row["obligation_id"],
                "counterparty": row["counterparty"],
                "isin": row["isin"],
                "settlement_date": row["settlement_date"].isoformat(),
                "currency": row["currency"],
                "quantity": format_amount(row["quantity_minor"], scales[row["isin"]]),
                "cash_amount": format_amount(row["cash_minor"], scales[row["currency"]]),
                "trade_ids": row["trade_ids"],
                "status": row["status"],
                "reason": row["reason"],
            }
            for row in rows
        ],
    )
