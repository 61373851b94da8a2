"""Allocation of blocks to client accounts.

Allocation (one transaction per instruction): the block is the executions the instruction
names; they must be unallocated block trades of one client, security, side, currency, trade
date and settlement date, and the lines must add up to the block's quantity. Every allocation
is priced at the block's average price: its gross is its pro-rata share of the block's gross
by the largest remainder method (the residue minor units go to the largest remainders, ties to
the earlier line), so the allocations' gross sums exactly to the block's. Commission (the
allocation client's schedule) and fees are charged per allocation. Each allocation is booked
as a direct trade is (`backoffice.trades.booking`), under the key `trades:allocation/{alloc_id}/{n}`.
A cancel instruction reverses every allocation of the block and makes it allocatable again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.ledger.model import EntryOutcome, EntryRequest
from backoffice.ledger.service import post_in_transaction, quarantine_one
from backoffice.money import format_amount, parse_amount
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.trades.booking import BookedFigures, allocation_postings
from backoffice.trades.capture import TradingRefdata, charges
from backoffice.trades.charges import average_price_text, parse_price, split_gross_minor
from backoffice.trades.model import (
    AllocationAction,
    AllocationInstruction,
    Side,
    average_price_decimals,
)
from backoffice.trades.service import (
    TradeStatus,
    booking_request,
    cancel_key,
    load_trading_refdata,
    now_us,
    open_convention_accounts,
    require_firm,
    stored_trades,
)

ALLOCATE_KIND = "trades.allocate"
lines_per_instruction_max = 10_000


@dataclass(slots=True)
class PostTradeSummary:
    """What became of a batch of post-trade messages (allocation instructions, affirmations)."""

    received: int = 0
    done: int = 0
    existing: int = 0
    quarantined: int = 0
    problems: list[Problem] = field(default_factory=list)


class Refused(Exception):
    """A post-trade message that cannot be applied: its problems go to quarantine with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("refused")
        self.problems = tuple(problems)


def allocate(store: Store, items: Iterable[Any], *, actor: str) -> PostTradeSummary:
    """Apply allocation instructions (and quarantine `RejectedMessage`s) in order."""
    with store.read() as connection:
        refdata = load_trading_refdata(connection)
    require_firm(refdata)
    summary = PostTradeSummary()
    for item in items:
        summary.received += 1
        if not isinstance(item, AllocationInstruction):
            quarantine_one(store, ALLOCATE_KIND, item.source, item.raw, item.problems, actor=actor)
            summary.quarantined += 1
            summary.problems.extend(item.problems)
            continue
        try:
            with store.write() as connection:
                done = _apply_instruction(connection, item, refdata, actor)
        except Refused as refused:
            quarantine_one(
                store, ALLOCATE_KIND, item.source, item.raw, refused.problems, actor=actor
            )
            summary.quarantined += 1
            summary.problems.extend(refused.problems)
            continue
        if done:
            summary.done += 1
        else:
            summary.existing += 1
    return summary


def _body_hash(instruction: AllocationInstruction) -> str:
    body = {
        "action": instruction.action.value,
        "exec_ids": list(instruction.exec_ids),
        "lines": [[line.account, line.quantity] for line in instruction.lines],
    }
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def _apply_instruction(
    connection: sa.Connection,
    instruction: AllocationInstruction,
    refdata: TradingRefdata,
    actor: str,
) -> bool:
    """True when applied, False when it already was; raises `Refused` with every problem."""
    where = Source(instruction.source.file, instruction.source.line, "70 AllocID")
    LedgerRepository(connection).lock_head()  # one allocation at a time, with the bookings
    ai = schema.allocation_instructions
    stored = connection.execute(sa.select(ai).where(ai.c.alloc_id == instruction.alloc_id)).first()
    if instruction.action is AllocationAction.CANCEL:
        if stored is None:
            raise Refused(
                [
                    Problem(
                        "unknown_allocation",
                        f"no allocation {instruction.alloc_id!r} to cancel",
                        where,
                    )
                ]
            )
        if stored.status == TradeStatus.CANCELLED:
            return False
        _cancel_allocation(connection, stored, instruction, actor)
        return True
    body_hash = _body_hash(instruction)
    if stored is not None and stored.status == TradeStatus.CANCELLED:
        raise Refused(
            [
                Problem(
                    "alloc_id_cancelled",
                    f"allocation {instruction.alloc_id!r} was cancelled; allocate the block "
                    "again under a new AllocID",
                    where,
                )
            ]
        )
    if stored is not None:
        if stored.body_hash == body_hash:
            return False
        raise Refused(
            [
                Problem(
                    "alloc_id_conflict",
                    f"allocation {instruction.alloc_id!r} was already received with other "
                    "contents; a changed allocation is a cancel and a new AllocID",
                    where,
                )
            ]
        )
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, field: str) -> None:
        problems.append(
            Problem(code, reason, Source(instruction.source.file, instruction.source.line, field))
        )

    if not instruction.lines:
        bad("no_allocations", "the instruction allocates to no account", "78 NoAllocs")
    if len(instruction.lines) > lines_per_instruction_max:
        bad(
            "too_many_allocations",
            f"more than {lines_per_instruction_max} allocations",
            "78 NoAllocs",
        )
    trades = stored_trades(connection, list(instruction.exec_ids))
    block: list[dict[str, Any]] = []
    for exec_id in instruction.exec_ids:
        trade = trades.get(exec_id)
        if trade is None or trade["kind"] == "cancel":
            bad("unknown_trade", f"no trade {exec_id!r}", "17 ExecID")
        elif not trade["block"]:
            bad(
                "not_a_block",
                f"trade {exec_id!r} is booked to its client directly, not a block",
                "17 ExecID",
            )
        elif trade["status"] != TradeStatus.PENDING_ALLOCATION:
            bad(
                "trade_not_pending_allocation",
                f"trade {exec_id!r} is {trade['status']}"
                + (f" (allocation {trade['alloc_id']})" if trade["alloc_id"] else ""),
                "17 ExecID",
            )
        else:
            block.append(trade)
    if problems:
        raise Refused(problems)
    first = block[0]
    for name in ("client_code", "asset_id", "side", "currency_id", "trade_date", "settlement_date"):
        values = {trade[name] for trade in block}
        if len(values) > 1:
            bad(
                "block_mismatch",
                f"the block's executions differ in {name}: {sorted(map(str, values))}",
                "17 ExecID",
            )
    securities = {s.asset_id: s for s in refdata.securities.values()}
    currencies = {c.asset_id: c for c in refdata.currencies.values()}
    security = securities[first["asset_id"]]
    currency = currencies[first["currency_id"]]
    side = Side(first["side"])
    if instruction.side is not None and instruction.side is not side:
        bad(
            "instruction_mismatch",
            f"the instruction says {instruction.side.value}, the block is {side.value}",
            "54 Side",
        )
    if instruction.isin is not None and instruction.isin != security.isin:
        bad(
            "instruction_mismatch",
            f"the instruction names {instruction.isin}, the block is {security.isin}",
            "48 SecurityID",
        )
    if instruction.trade_date is not None and instruction.trade_date != first["trade_date"]:
        bad(
            "instruction_mismatch",
            f"the instruction is dated {instruction.trade_date}, the block {first['trade_date']}",
            "75 TradeDate",
        )
    block_quantity = sum(trade["quantity_minor"] for trade in block)
    clients = []
    quantities: list[int] = []
    for line in instruction.lines:
        client = refdata.client(line.account)
        if client is not None and client.allocates:
            bad(
                "allocation_to_block_account",
                f"{line.account!r} is a block account: a block is allocated to client accounts",
                "79 AllocAccount",
            )
        if client is None:
            bad(
                "unknown_account",
                f"{line.account!r} is neither a client nor a client's account",
                "79 AllocAccount",
            )
        quantity = parse_amount(line.quantity, security.scale)
        if isinstance(quantity, Problem) or quantity <= 0:
            bad(
                "invalid_quantity",
                f"allocation quantity {line.quantity!r} is not a positive quantity of {security.isin}",
                "80 AllocQty",
            )
            quantity = 0
        clients.append(client)
        quantities.append(quantity)
    if not problems and sum(quantities) != block_quantity:
        bad(
            "quantities_do_not_add_up",
            f"the allocations add up to {format_amount(sum(quantities), security.scale)}, "
            f"the block is {format_amount(block_quantity, security.scale)}",
            "80 AllocQty",
        )
    if problems:
        raise Refused(problems)
    block_gross = sum(trade["gross_minor"] for trade in block)
    grosses = split_gross_minor(block_gross, quantities)
    prices = []
    for trade in block:
        parsed = parse_price(trade["price"])
        assert parsed is not None  # stored prices were checked on capture
        prices.append(parsed)
    average = average_price_text(
        [trade["quantity_minor"] for trade in block], security.scale, prices, average_price_decimals
    )
    market = security.market or first["venue"]
    firm = require_firm(refdata)
    requests: list[EntryRequest] = []
    rows: list[dict[str, Any]] = []
    wanted: dict[str, tuple[str, str]] = {}
    scales = {security.isin: security.scale, currency.code: currency.scale}
    for number, (client, quantity, gross) in enumerate(
        zip(clients, quantities, grosses, strict=True), start=1
    ):
        assert client is not None
        commission, sec_fee, finra_taf = charges(
            client,
            security,
            currency,
            side,
            market,
            first["trade_date"],
            quantity,
            gross,
            refdata.fees,
        )
        figures = BookedFigures(
            client.code,
            security.isin,
            currency.code,
            side,
            quantity,
            gross,
            commission,
            sec_fee,
            finra_taf,
        )
        allocation_id = f"{instruction.alloc_id}/{number}"
        key = f"trades:allocation/{allocation_id}"
        requests.append(
            booking_request(
                figures,
                key=key,
                effective_date=first["trade_date"],
                scales=scales,
                description=(
                    f"{side.value} {format_amount(quantity, security.scale)} {security.isin} "
                    f"@ {average} {currency.code} for {client.code} (allocation {allocation_id})"
                ),
                reference=allocation_id,
                metadata={"alloc_id": instruction.alloc_id, "allocation_id": allocation_id},
                source=instruction.source,
            )
        )
        for account, asset, _ in allocation_postings(figures):
            wanted[account] = (asset, client.code)
        rows.append(
            {
                "allocation_id": allocation_id,
                "trade_id": None,
                "alloc_id": instruction.alloc_id,
                "client_id": client.party_id,
                "asset_id": security.asset_id,
                "currency_id": currency.asset_id,
                "side": side.value,
                "quantity_minor": quantity,
                "price": average,
                "trade_date": first["trade_date"],
                "settlement_date": first["settlement_date"],
                "gross_minor": gross,
                "commission_minor": commission,
                "sec_fee_minor": sec_fee,
                "finra_taf_minor": finra_taf,
                "net_minor": figures.net_minor,
                "entry_key": key,
                "status": TradeStatus.BOOKED,
            }
        )
    open_convention_accounts(connection, wanted, refdata, firm)
    received = now_us()
    results = post_in_transaction(
        connection,
        requests,
        actor=actor,
        command="trades.allocate",
        booked_at_us=received,
        audit=False,
    )
    failed = [p for r in results if r.outcome is EntryOutcome.FAILED for p in r.problems]
    if failed:
        raise Refused(failed)
    connection.execute(sa.insert(schema.allocations), rows)
    connection.execute(
        sa.insert(ai).values(
            alloc_id=instruction.alloc_id,
            status="allocated",
            body_hash=body_hash,
            exec_ids_json=orjson.dumps(list(instruction.exec_ids)).decode(),
            average_price=average,
            quantity_minor=block_quantity,
            gross_minor=block_gross,
            source_file=instruction.source.file or "",
            source_line=instruction.source.line or 0,
            raw=instruction.raw,
            received_at_us=received,
        )
    )
    t = schema.trades
    connection.execute(
        sa.update(t)
        .where(t.c.trade_id.in_(list(instruction.exec_ids)))
        .values(status=TradeStatus.ALLOCATED, alloc_id=instruction.alloc_id)
    )
    LedgerRepository(connection).append_audit(
        received,
        actor,
        "trades.allocate",
        orjson.dumps({"alloc_id": instruction.alloc_id, "allocations": len(rows)}).decode(),
    )
    return True


def _cancel_allocation(
    connection: sa.Connection, stored: Any, instruction: AllocationInstruction, actor: str
) -> None:
    a, t = schema.allocations, schema.trades
    live = connection.execute(
        sa.select(a.c.entry_key, a.c.allocation_id, a.c.trade_date, a.c.status).where(
            a.c.alloc_id == stored.alloc_id
        )
    ).all()
    settled = [row.allocation_id for row in live if row.status == TradeStatus.SETTLED]
    if settled:
        raise Refused(
            [
                Problem(
                    "allocation_settled",
                    f"allocations {settled} are settled: they cannot be cancelled",
                    instruction.source,
                )
            ]
        )
    today = dt.datetime.now(dt.UTC).date()
    requests = [
        EntryRequest(
            key=cancel_key(row.entry_key),
            effective_date=max(today, row.trade_date),
            description=f"cancel of allocation {row.allocation_id}",
            reference=row.allocation_id,
            reverse=row.entry_key,
            metadata={"alloc_id": stored.alloc_id},
            source=instruction.source,
        )
        for row in live
        if row.status != TradeStatus.CANCELLED
    ]
    at = now_us()
    results = post_in_transaction(
        connection,
        requests,
        actor=actor,
        command="trades.allocate",
        booked_at_us=at,
        audit=False,
    )
    failed = [p for r in results if r.outcome is EntryOutcome.FAILED for p in r.problems]
    if failed:
        raise Refused(failed)
    connection.execute(
        sa.update(a).where(a.c.alloc_id == stored.alloc_id).values(status="cancelled")
    )
    ai = schema.allocation_instructions
    connection.execute(
        sa.update(ai).where(ai.c.alloc_id == stored.alloc_id).values(status="cancelled")
    )
    connection.execute(
        sa.update(t)
        .where(t.c.alloc_id == stored.alloc_id)
        .values(status=TradeStatus.PENDING_ALLOCATION, alloc_id=None)
    )
    LedgerRepository(connection).append_audit(
        at,
        actor,
        "trades.allocate",
        orjson.dumps({"alloc_id": stored.alloc_id, "cancelled": len(requests)}).decode(),
    )


def mirror_direct_trades(connection: sa.Connection, trade_ids: Sequence[str]) -> None:
    """A direct trade's status is its one allocation's status."""
    if not trade_ids:
        return
    a, t = schema.allocations, schema.trades
    status = sa.select(a.c.status).where(a.c.trade_id == t.c.trade_id).scalar_subquery()
    for start in range(0, len(trade_ids), 1000):
        group = list(trade_ids[start : start + 1000])
        connection.execute(sa.update(t).where(t.c.trade_id.in_(group)).values(status=status))
