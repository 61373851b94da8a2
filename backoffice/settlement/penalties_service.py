"""CSDR cash penalties for the month, from the stored obligations and a reference price file.

Which fails: obligations on markets under EU CSDR (the euro markets whose CSDs apply it;
London left it with the UK) whose intended settlement date falls before the end of the month
and that were not settled on it: still failing, or settled later. Each is charged for every
settlement day of its market from the intended date to the last day it was still unsettled
(the day before its settlement, or the month's end or today for an open fail), on the quantity
still due today (a partial settlement's history is not replayed: stated simplification).

Cause and failing party: a status reason code MONY/CASH means a lack of cash (the side paying
cash fails); anything else, or none, a lack of securities (the delivering side fails).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError
from backoffice.refdata import calendars
from backoffice.settlement.instruction_service import obligation_rows
from backoffice.settlement.model import Direction, ObligationStatus
from backoffice.settlement.penalties import (
    CentralBankRate,
    FailCause,
    FailingParty,
    MonthlyPenalties,
    PenaltyRateClass,
    ReferencePrices,
    SettlementFail,
    monthly_penalties,
)
from backoffice.store import schema
from backoffice.store.engine import Store

# The ECB's marginal lending facility rate (% a year): the central bank overnight credit rate
# at which CSDR prices a lack of euro cash, from the ECB's published key rate decisions.
# `settlement penalties --cash-rate` adds later ones (or other currencies') without a release.
ECB_MARGINAL_LENDING_RATES = (
    ("2023-09-20", (475, 2)), ("2024-06-12", (450, 2)), ("2024-09-18", (390, 2)),
    ("2024-10-23", (365, 2)), ("2024-12-18", (340, 2)), ("2025-02-05", (315, 2)),
    ("2025-03-12", (290, 2)), ("2025-04-23", (265, 2)), ("2025-06-11", (240, 2)),
)  # fmt: skip
DEFAULT_CASH_RATES = tuple(
    CentralBankRate("EUR", dt.date.fromisoformat(day), rate)
    for day, rate in ECB_MARGINAL_LENDING_RATES
)
CSDR_MARKETS = frozenset({"XPAR", "XAMS", "XBRU", "XLIS", "XDUB", "XMIL", "XETR", "XMAD"})
CASH_REASONS = frozenset({"MONY", "CASH", "LACK_OF_CASH"})
_OPEN = ("instructed", "matched", "unmatched", "pending", "failed", "partially_settled")


def month_penalties(
    store: Store,
    month: dt.date,
    prices: ReferencePrices,
    *,
    today: dt.date,
    rate_class: PenaltyRateClass = PenaltyRateClass.LIQUID_SHARES,
    cash_rates: Sequence[CentralBankRate] = (),
) -> MonthlyPenalties:
    """The month's penalty lines; `cash_rates` are added to the built-in ECB rates (a rate of
    the same currency and date replaces the built-in one)."""
    first = month.replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    o, sm = schema.obligations, schema.settlement_messages
    with store.read() as connection:
        rows = obligation_rows(
            connection,
            sa.and_(
                o.c.market.in_(sorted(CSDR_MARKETS)),
                o.c.settlement_date <= last,
                o.c.status.in_((*_OPEN, "settled")),
            ),
        )
        latest: dict[str, Any] = {}
        for message in connection.execute(sa.select(sm).order_by(sm.c.id)):
            latest.setdefault(message.reference, {})[message.status] = message
    fails = []
    markets: set[str] = set()
    for row in rows:
        messages = latest.get(row.obligation_id, {})
        settled = messages.get("settled")
        # What was still failing: after a late settlement, the piece that settled last.
        failed_quantity = abs(row.quantity_minor - row.settled_quantity_minor)
        failed_cash = abs(row.cash_minor - row.settled_cash_minor)
        if row.status == ObligationStatus.SETTLED:
            if (
                settled is None
                or settled.settled_on is None
                or settled.settled_on <= row.settlement_date
            ):
                continue  # settled on time: no fail
            last_fail_day = settled.settled_on - dt.timedelta(days=1)
            failed_quantity = abs(settled.settled_quantity_minor or 0)
            failed_cash = abs(settled.settled_cash_minor or 0)
        else:
            last_fail_day = min(last, today)
        if last_fail_day < row.settlement_date:
            continue
        reason = next(
            (m.reason_code for m in reversed(list(messages.values())) if m.reason_code), None
        )
        cause = FailCause.LACK_OF_CASH if reason in CASH_REASONS else FailCause.LACK_OF_SECURITIES
        direction = Direction.RECEIVE if row.quantity_minor > 0 else Direction.DELIVER
        # Who fails: the side that had to deliver what was lacking.
        firm_delivers = (direction is Direction.DELIVER) == (cause is FailCause.LACK_OF_SECURITIES)
        fails.append(
            SettlementFail(
                reference=row.obligation_id,
                isin=row.isin,
                counterparty=row.counterparty,
                direction=direction,
                cause=cause,
                failing_party=FailingParty.FIRM if firm_delivers else FailingParty.COUNTERPARTY,
                rate_class=rate_class,
                settlement_date=row.settlement_date,
                last_fail_day=last_fail_day,
                currency=row.currency,
                currency_scale=row.currency_scale,
                failed_quantity_minor=failed_quantity,
                quantity_scale=row.quantity_scale,
                failed_cash_minor=failed_cash,
            )
        )
        markets.add(row.market)
    business_days = sorted(
        {
            first + dt.timedelta(days=n)
            for market in markets
            for n in range(-40, (last - first).days + 1)
            if calendars.is_settlement_day(market, first + dt.timedelta(days=n))
        }
    )
    rates = {(rate.currency, rate.effective_from): rate for rate in DEFAULT_CASH_RATES}
    rates.update({(rate.currency, rate.effective_from): rate for rate in cash_rates})
    return monthly_penalties(
        fails, prices, first, business_days=business_days, cash_rates=rates.values()
    )


def parse_cash_rate(text: str) -> CentralBankRate:
    """A central bank overnight rate given as `CCY:YYYY-MM-DD:PERCENT` (the percent may be
    negative); `invalid_cash_rate` when it is not."""
    from backoffice.trades.charges import parse_price

    currency, _, rest = text.partition(":")
    day_text, _, percent = rest.partition(":")
    negative = percent.startswith("-")
    parsed = parse_price(percent.removeprefix("-"))
    try:
        day: dt.date | None = dt.date.fromisoformat(day_text)
    except ValueError:
        day = None
    if len(currency) != 3 or day is None or (parsed is None and percent.strip("-0.") != ""):
        raise ProblemError(
            Problem("invalid_cash_rate", f"cash rate {text!r} is not CCY:YYYY-MM-DD:PERCENT")
        )
    mantissa, decimals = parsed or (0, 0)
    return CentralBankRate(currency, day, (-mantissa if negative else mantissa, decimals))


def first_of_month(text: str) -> dt.date:
    """The first day of the month `YYYY-MM`; `invalid_month` when it is not one."""
    try:
        return dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ProblemError(Problem("invalid_month", f"month {text!r} is not YYYY-MM")) from None


def penalties_json(report: MonthlyPenalties) -> list[dict[str, Any]]:
    """The report's lines as JSON values, amounts as decimal strings in the line's currency."""
    from backoffice.money import format_amount
    from backoffice.refdata.model import currency_minor_units

    def amount(minor: int, currency: str) -> str:
        return format_amount(minor, currency_minor_units(currency) or 0)

    return [
        {
            "reference": line.reference,
            "isin": line.isin,
            "counterparty": line.counterparty,
            "currency": line.currency,
            "cause": line.cause.value,
            "failing_party": line.failing_party.value,
            "days": line.days,
            "amount": amount(line.amount_minor, line.currency),
            "firm_amount": amount(line.firm_amount_minor, line.currency),
        }
        for line in report.lines
    ]
