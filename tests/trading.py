"""A trading desk for service and CLI tests: reference data, FIX messages and files, and ways
to read the trades and books back.

Clients: C1 pays 0.01 USD a share with a 5.00 minimum; C2 pays 10 bps with a 1.00 minimum;
C3 has no schedule; IM is an investment manager whose executions are blocks (`allocates`);
POOR's cash account is defined in reference data and may never go overdrawn. GS is the street.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import simplefix
import sqlalchemy as sa

from backoffice.formats.fix_log import read_fix_log
from backoffice.formats.refdata_file import read_refdata
from backoffice.formats.trades_csv import read_trades_csv
from backoffice.ledger.reports import balances
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from backoffice.trades.service import (
    ImportSummary,
    cancel_key,
    entry_key_of_trade,
    import_executions,
)

APPLE = "US0378331005"  # XNYS, USD
BAE = "GB0002634946"  # XLON, GBP
TOTAL = "FR0000120271"  # XPAR, EUR
MICROSOFT = "US5949181045"  # a valid ISIN that reference data does not know
SOH = b"\x01"

REFDATA = """
assets:
  - {code: USD, kind: currency, scale: 2}
  - {code: GBP, kind: currency, scale: 2}
  - {code: EUR, kind: currency, scale: 2}
  - {code: US0378331005, kind: security, scale: 0, name: Apple Inc, market: XNYS, currency: USD}
  - {code: GB0002634946, kind: security, scale: 0, name: BAE Systems, market: XLON, currency: GBP}
  - {code: FR0000120271, kind: security, scale: 0, name: TotalEnergies, market: XPAR, currency: EUR}
parties:
  - {code: FIRM, kind: firm, name: The Broker}
  - code: C1
    kind: client
    name: Ada Client
    commission: {currency: USD, per_share: "0.01", bps: "0", minimum: "5.00"}
  - code: C2
    kind: client
    name: Grace Client
    commission: {currency: USD, per_share: "0", bps: "10", minimum: "1.00"}
  - {code: C3, kind: client, name: Edsger Client}
  - {code: IM, kind: client, name: Investment Manager, allocates: true}
  - {code: POOR, kind: client, name: Penniless Client}
  - {code: GS, kind: counterparty, name: Street Broker}
accounts:
  - code: client/POOR/cash/USD
    type: liability
    asset: USD
    owner: POOR
    flags: [debits_must_not_exceed_credits]
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
"""


def load_desk(store: Store, tmp_path: Path, extra: str = "") -> None:
    """Load the desk's reference data, with `extra` YAML sections appended."""
    path = tmp_path / "refdata.yaml"
    path.write_text(REFDATA + extra)
    load_refdata(store, read_refdata(path), actor="test", source=str(path))


# --- FIX messages -----------------------------------------------------------------------------


def fix_message(
    message_type: str, fields: Sequence[tuple[int, str]], *, version: str = "FIX.4.4"
) -> bytes:
    """An encoded message with a right BodyLength and CheckSum."""
    message = simplefix.FixMessage()
    message.append_pair(8, version, header=True)
    message.append_pair(35, message_type, header=True)
    for tag, value in fields:
        message.append_pair(tag, value)
    encoded: bytes = message.encode()
    return encoded


def execution(
    exec_id: str,
    *,
    account: str = "C1",
    isin: str = APPLE,
    side: str = "BUY",
    quantity: str = "100",
    price: str = "10.00",
    currency: str = "USD",
    trade_date: str = "2026-01-15",
    venue: str = "XNYS",
    counterparty: str | None = "GS",
    exec_type: str = "F",
    ref: str | None = None,
    sequence: int = 1,
    sent_at: str = "15:00:00.000",
) -> bytes:
    """A FIX 4.4 ExecutionReport: a trade (150=F), or a cancel (H) / correct (G) of `ref`.
    `sequence` (34) and `sent_at` (52) are the session's: a resend changes them."""
    day = trade_date.replace("-", "")
    fields: list[tuple[int, str]] = [
        (49, "XNYS-GW"), (56, "BROKER"), (34, str(sequence)), (52, f"{day}-{sent_at}"),
        (37, f"O-{exec_id}"), (17, exec_id), (150, exec_type), (39, "2"), (1, account),
        (48, isin), (22, "4"), (54, "1" if side == "BUY" else "2"), (32, quantity),
        (31, price), (15, currency), (75, day), (30, venue), (60, f"{day}-14:30:00.000"),
    ]  # fmt: skip
    if ref is not None:
        fields.append((19, ref))
    if counterparty is not None:
        fields += [(453, "1"), (448, counterparty), (447, "D"), (452, "17")]
    return fix_message("8", fields)


def heartbeat() -> bytes:
    return fix_message("0", [(49, "XNYS-GW"), (56, "BROKER"), (34, "2")])


def allocation_instruction(
    alloc_id: str,
    exec_ids: Sequence[str],
    lines: Sequence[tuple[str, str]],
    *,
    isin: str = APPLE,
    side: str = "BUY",
    trade_date: str = "2026-01-15",
    cancel: bool = False,
) -> bytes:
    """A FIX 4.4 AllocationInstruction (35=J): new, or a cancel of `alloc_id`."""
    fields: list[tuple[int, str]] = [
        (49, "IM-OMS"), (56, "BROKER"), (34, "1"), (52, "20260115-20:00:00.000"),
        (70, alloc_id), (71, "2" if cancel else "0"), (626, "1"), (857, "1"),
        (54, "1" if side == "BUY" else "2"), (48, isin), (22, "4"),
        (75, trade_date.replace("-", "")),
    ]  # fmt: skip
    if cancel:
        fields.append((72, alloc_id))
    fields.append((124, str(len(exec_ids))))
    fields += [(17, exec_id) for exec_id in exec_ids]
    fields.append((78, str(len(lines))))
    for account, quantity in lines:
        fields += [(79, account), (80, quantity)]
    return fix_message("J", fields)


def confirmation_ack(confirm_id: str, status: str, *, trade_date: str = "2026-01-15") -> bytes:
    """A FIX 4.4 ConfirmationAck (35=AU); status 1 received, 2 rejected, 3 affirmed."""
    day = trade_date.replace("-", "")
    fields = [
        (49, "CLIENT"), (56, "BROKER"), (34, "1"), (52, f"{day}-21:00:00.000"),
        (664, confirm_id), (75, day), (60, f"{day}-21:00:00.000"), (940, status),
    ]  # fmt: skip
    return fix_message("AU", fields)


def write_log(path: Path, messages: Sequence[bytes]) -> Path:
    """One message a line, SOH-delimited as sent."""
    path.write_bytes(b"".join(message + b"\n" for message in messages))
    return path


# --- Capture ----------------------------------------------------------------------------------


def import_log(store: Store, path: Path) -> ImportSummary:
    return import_executions(store, read_fix_log(path), actor="test")


def import_csv(store: Store, path: Path) -> ImportSummary:
    return import_executions(store, read_trades_csv(path), actor="test")


# --- Reading back -----------------------------------------------------------------------------


def trade_key(trade_id: str) -> str:
    """The ledger key that books a direct trade."""
    return entry_key_of_trade(trade_id)


def allocation_key(allocation_id: str) -> str:
    """The ledger key that books a block's allocation: beside the trades' own keys."""
    return entry_key_of_trade("").removesuffix("trade/") + f"allocation/{allocation_id}"


def reversal_key(key: str) -> str:
    """The ledger key of the entry that reverses `key` (a cancel or a correction)."""
    return cancel_key(key)


def balance_of(store: Store) -> dict[str, int]:
    """Every account's posted balance (debits - credits), in minor units."""
    return {
        line.account: line.balance.debits_posted - line.balance.credits_posted
        for line in balances(store)
    }


def postings_of(store: Store, key: str) -> dict[str, int]:
    """The postings of the entry under `key`, by account code."""
    with store.read() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT a.code, p.amount_minor FROM postings p"
                " JOIN journal_entries e ON e.id = p.entry_id"
                " JOIN accounts a ON a.id = p.account_id WHERE e.key = :key"
            ),
            {"key": key},
        ).all()
    return {str(code): int(amount) for code, amount in rows}


def entry_keys(store: Store) -> list[str]:
    with store.read() as connection:
        return [
            str(key)
            for (key,) in connection.execute(sa.text("SELECT key FROM journal_entries ORDER BY id"))
        ]


def table_rows(store: Store, table: str) -> list[dict[str, Any]]:
    """Every row of a table, as dicts (for counting and comparing states)."""
    with store.read() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
        ]


def snapshot(store: Store) -> dict[str, Any]:
    """What an import may change: trades, allocations, entries and balances (no timestamps)."""
    volatile = {"captured_at_us", "booked_at_us", "confirmed_at_us", "affirmed_at_us"}
    return {
        "trades": [
            {k: v for k, v in row.items() if k not in volatile}
            for row in table_rows(store, "trades")
        ],
        "allocations": [
            {k: v for k, v in row.items() if k not in volatile}
            for row in table_rows(store, "allocations")
        ],
        "entries": entry_keys(store),
        "balances": balance_of(store),
    }


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
