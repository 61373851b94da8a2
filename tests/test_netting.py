"""Netting conserves what it nets, never mixes what must not mix, and links every trade."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.settlement.model import NettingMode
from backoffice.settlement.netting_service import TRADE_SCHEMA, net, report, trade_ids

DAYS = (dt.date(2026, 11, 25), dt.date(2026, 11, 26))
_trade = st.tuples(
    st.sampled_from(["FIRM", "P2"]),
    st.sampled_from(["GSCO", "MSCO", "JPMS"]),
    st.sampled_from(["US0378331005", "US5949181045"]),
    st.sampled_from(DAYS),
    st.sampled_from(["USD", "EUR"]),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=-(10**12), max_value=10**12),
)


def _frame(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"T{n}", *row) for n, row in enumerate(rows)], schema=TRADE_SCHEMA, orient="row"
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_trade, max_size=60), st.sampled_from(list(NettingMode)))
def test_net_quantities_and_cash_equal_the_gross_per_security_and_currency(
    rows: list[tuple[object, ...]], mode: NettingMode
) -> None:
    trades = _frame(rows)
    netted = net(trades, mode)
    for column, key in (("quantity_minor", "isin"), ("cash_minor", "currency")):
        gross = dict(trades.group_by(key).agg(pl.col(column).sum()).iter_rows())
        after = dict(netted.obligations.group_by(key).agg(pl.col(column).sum()).iter_rows())
        assert after == gross


@settings(max_examples=200, deadline=None)
@given(st.lists(_trade, max_size=60), st.sampled_from(list(NettingMode)))
def test_every_trade_is_covered_by_exactly_one_obligation_of_its_own_keys(
    rows: list[tuple[object, ...]], mode: NettingMode
) -> None:
    trades = _frame(rows)
    netted = net(trades, mode)
    links = trade_ids(trades, netted)
    assert sorted(links["trade_id"].to_list()) == sorted(trades["trade_id"].to_list())
    covered = links.join(trades, on="trade_id").join(netted.obligations, on="obligation")
    # Nothing is netted across participants, securities, dates or currencies (nor, in
    # bilateral mode, counterparties): each trade's keys are its obligation's keys.
    for key in ("participant", "isin", "settlement_date", "currency"):
        assert (covered[key] == covered[f"{key}_right"]).all()
    if mode is NettingMode.BILATERAL:
        assert (covered["counterparty"] == covered["counterparty_right"]).all()


def test_a_buy_and_a_sale_of_the_same_security_net_to_the_difference() -> None:
    day = DAYS[0]
    trades = _frame(
        [
            ("FIRM", "GSCO", "US0378331005", day, "USD", 300, -6_855_600),
            ("FIRM", "MSCO", "US0378331005", day, "USD", -100, 2_285_300),
            ("FIRM", "GSCO", "US0378331005", day, "EUR", 50, -1_000_000),
        ]
    )
    ccp = net(trades, NettingMode.CCP)
    usd = ccp.obligations.filter(pl.col("currency") == "USD").row(0, named=True)
    assert (usd["quantity_minor"], usd["cash_minor"], usd["trade_count"]) == (200, -4_570_300, 2)
    assert ccp.obligations.height == 2  # the EUR trade is never netted with the USD ones
    assert net(trades, NettingMode.BILATERAL).obligations.height == 3
    figures = report(trades, ccp)
    assert figures.gross_value_minor == {"USD": 9_140_900, "EUR": 1_000_000}
    assert figures.net_value_minor == {"USD": 4_570_300, "EUR": 1_000_000}


def test_the_same_trades_in_the_same_order_give_the_same_obligations() -> None:
    rows = [
        ("FIRM", "GSCO", "US0378331005", DAYS[n % 2], "USD", n + 1, -(n + 1) * 100)
        for n in range(20)
    ]
    first, second = net(_frame(rows), NettingMode.CCP), net(_frame(rows), NettingMode.CCP)
    assert first.obligations.equals(second.obligations)
    assert first.links.equals(second.links)


def test_no_trades_net_to_no_obligations() -> None:
    netted = net(_frame([]), NettingMode.CCP)
    assert netted.obligations.height == 0
    assert netted.links.height == 0
