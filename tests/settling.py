"""A settlement desk for the clearing and settlement tests: reference data with SSIs and a CCP,
trades imported as FIX executions, obligations and instructions read back, status advices and
MT545 / MT547 confirmations built by hand.

Parties: FIRM (the firm), GS and MS (street brokers with SSIs on XNYS; GS on XPAR too), JPM (a
street broker with no SSI at all) and NSCC (the CCP). Securities: Apple and Microsoft on XNYS
in USD, TotalEnergies on XPAR in EUR.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from backoffice.errors import Source
from backoffice.formats.refdata_file import read_refdata
from backoffice.refdata.service import load_refdata
from backoffice.settlement.model import StatusAdvice, StatusKind
from backoffice.store.engine import Store
from backoffice.trades.service import ImportSummary
from tests.trading import APPLE, TOTAL, execution, import_log, write_log

MICROSOFT = "US5949181045"
TRADE_DATE = "2026-01-15"  # a Thursday: XNYS settles T+1 on Friday 2026-01-16
SETTLES = dt.date(2026, 1, 16)

REFDATA = f"""
assets:
  - {{code: USD, kind: currency, scale: 2}}
  - {{code: EUR, kind: currency, scale: 2}}
  - {{code: {APPLE}, kind: security, scale: 0, name: Apple Inc, market: XNYS, currency: USD}}
  - {{code: {MICROSOFT}, kind: security, scale: 0, name: Microsoft, market: XNYS, currency: USD}}
  - {{code: {TOTAL}, kind: security, scale: 0, name: TotalEnergies, market: XPAR, currency: EUR}}
parties:
  - {{code: FIRM, kind: firm, name: The Broker}}
  - {{code: C1, kind: client, name: Ada Client}}
  - {{code: C2, kind: client, name: Grace Client}}
  - {{code: C3, kind: client, name: Edsger Client}}
  - {{code: GS, kind: counterparty, name: Street Broker}}
  - {{code: MS, kind: counterparty, name: Other Street Broker}}
  - {{code: JPM, kind: counterparty, name: Broker Without SSIs}}
  - {{code: NSCC, kind: ccp, name: National Securities Clearing}}
ssis:
  - {{party: FIRM, market: XNYS, place_of_settlement: DTCYUS33, agent: CITIUS33, safekeeping_account: DTC-0001}}
  - {{party: GS, market: XNYS, place_of_settlement: DTCYUS33, agent: GOLDUS33, safekeeping_account: DTC-0002}}
  - {{party: MS, market: XNYS, place_of_settlement: DTCYUS33, agent: MSNYUS33, safekeeping_account: DTC-0003}}
  - {{party: NSCC, market: XNYS, place_of_settlement: DTCYUS33, agent: NSCCUS33, safekeeping_account: DTC-0004}}
  - {{party: FIRM, market: XPAR, place_of_settlement: SICVFRPP, agent: BNPAFRPP, safekeeping_account: EF-0001}}
  - {{party: GS, market: XPAR, place_of_settlement: SICVFRPP, agent: GOLDFRPP, safekeeping_account: EF-0002}}
"""


def load_settlement_desk(store: Store, tmp_path: Path, extra: str = "") -> None:
    """Load the desk's reference data (with `extra` YAML sections, if any, in a second file)."""
    for name, text in (("refdata.yaml", REFDATA), ("more-refdata.yaml", extra)):
        if text:
            path = tmp_path / name
            path.write_text(text)
            load_refdata(store, read_refdata(path), actor="test", source=str(path))


def trade(exec_id: str, **fields: Any) -> bytes:
    """A FIX execution traded on TRADE_DATE unless told otherwise."""
    fields.setdefault("trade_date", TRADE_DATE)
    return execution(exec_id, **fields)


def import_trades(store: Store, tmp_path: Path, *messages: bytes) -> ImportSummary:
    """Import the messages as one more FIX log; every message must be captured."""
    path = tmp_path / f"trades-{len(list(tmp_path.glob('trades-*.log')))}.log"
    summary = import_log(store, write_log(path, messages))
    assert summary.quarantined == 0, summary.problems
    return summary


def obligations(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored obligation by id, with its counterparty's code, ISIN, currency and trades."""
    with store.read() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT o.*, p.code AS counterparty, s.code AS isin, c.code AS currency"
                " FROM obligations o JOIN parties p ON p.id = o.counterparty_id"
                " JOIN assets s ON s.id = o.asset_id JOIN assets c ON c.id = o.currency_id"
                " ORDER BY o.id"
            )
        ).all()
        links = connection.execute(
            sa.text("SELECT obligation_id, trade_id FROM obligation_trades")
        ).all()
    found = {row.obligation_id: dict(row._mapping) | {"trade_ids": []} for row in rows}
    for obligation_id, trade_id in links:
        found[obligation_id]["trade_ids"].append(trade_id)
    for row in found.values():
        row["trade_ids"].sort()
    return found


def by_counterparty_and_isin(rows: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(row["counterparty"], row["isin"]): row for row in rows.values()}


def instructions(store: Store) -> list[dict[str, Any]]:
    with store.read() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(
                sa.text("SELECT * FROM settlement_instructions ORDER BY id")
            )
        ]


def settlement_quarantine(store: Store) -> list[dict[str, Any]]:
    with store.read() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(
                sa.text("SELECT * FROM quarantine WHERE kind = 'settlement.status' ORDER BY id")
            )
        ]


def advice(
    message_id: str,
    reference: str,
    status: StatusKind,
    *,
    quantity: str | None = None,
    amount: str | None = None,
    currency: str | None = None,
    settled_on: dt.date | None = None,
    reason_code: str | None = None,
    reason: str | None = None,
) -> StatusAdvice:
    """A status advice or settlement confirmation as a reader would give it."""
    settles = status in (StatusKind.SETTLED, StatusKind.PARTIALLY_SETTLED)
    return StatusAdvice(
        message_id=message_id,
        reference=reference,
        status=status,
        reason_code=reason_code,
        reason=reason,
        settled_quantity=quantity,
        settled_amount=amount,
        currency=currency,
        settled_on=settled_on or (SETTLES if settles else None),
        source=Source("statuses.fin", 1),
        raw=f"{message_id} {reference} {status.value}",
    )


def mt54x_confirmation(
    message_type: str,
    message_id: str,
    reference: str,
    *,
    quantity: str,
    amount: str,
    settled_on: dt.date,
    partial: str | None = None,
) -> str:
    """An MT545 (received against payment) or MT547 (delivered against payment) confirming
    `quantity` and `amount` (FIN numbers: "60," and "USD580,") of our instruction `reference`."""
    lines = [
        ":16R:GENL",
        f":20C::SEME//{message_id}",
        ":23G:NEWM",
        ":16R:LINK",
        f":20C::RELA//{reference}",
        ":16S:LINK",
        ":16S:GENL",
        ":16R:TRADDET",
        f":98A::ESET//{settled_on:%Y%m%d}",
        ":16S:TRADDET",
        ":16R:FIAC",
        f":36B::ESTT//UNIT/{quantity}",
        ":16S:FIAC",
        ":16R:SETDET",
        *([f":22F::PARS//{partial}"] if partial else []),
        ":16R:AMT",
        f":19A::ESTT//{amount}",
        ":16S:AMT",
        ":16S:SETDET",
    ]
    body = "\r\n".join(lines)
    return f"{{1:F01BKOFUS33AXXX0000000000}}{{2:O{message_type}GOLDUS33XXXXN}}{{4:\r\n{body}\r\n-}}"
