"""Trade capture: executions in, trades and their bookings out, every refusal quarantined.

One write transaction per chunk of `chunk_messages` messages holds the chunk's trades, their
allocations, the ledger entries that book them (with the accounts the convention opens), the
status changes of the trades that cancels and corrections name, the quarantine rows and an
audit record: a crash leaves whole chunks, and a rerun skips what is stored (capture is
idempotent on the execution id) and finishes the rest.

When the ledger refuses an entry of a chunk (a flagged account would go negative), the chunk
is rolled back and taken again one message per transaction, so only the refused message is
quarantined, with the ledger's reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source, invariant
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import (
    Rejected,
    collector_paused,
    post_in_transaction,
    quarantine_row,
)
from backoffice.money import format_amount
from backoffice.refdata.model import PartyKind, currency_minor_units
from backoffice.refdata.service import assets_by_code, fee_rate_definitions, parties_by_code
from backoffice.store import schema
from backoffice.store.bulk import in_values_max, insert_dicts, select_in
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.trades.booking import BookedFigures, account_definition, allocation_postings
from backoffice.trades.capture import (
    CapturedTrade,
    Client,
    Currency,
    Security,
    SettlementDates,
    TradingRefdata,
    cached_settlement_dates,
    capture,
)
from backoffice.trades.charges import (
    DEFAULT_FEE_RATES,
    CommissionSchedule,
    FeeRate,
    FeeSchedule,
)
from backoffice.trades.model import Execution, ExecutionKind

chunk_messages = 5_000
QUARANTINE_KIND = "trades.import"
Progress = Callable[[int], None]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class TradeStatus:
    """Statuses of a trade (README "Trade statuses")."""

    BOOKED = "booked"
    PENDING_ALLOCATION = "pending_allocation"
    ALLOCATED = "allocated"
    CONFIRMED = "confirmed"
    AFFIRMED = "affirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CORRECTED = "corrected"
    CANCEL = "cancel"  # the row of a cancel message itself
    SETTLED = "settled"  # set by settlement once the trade's obligation settled


LIVE_STATUSES = frozenset(
    {
        TradeStatus.BOOKED,
        TradeStatus.PENDING_ALLOCATION,
        TradeStatus.ALLOCATED,
        TradeStatus.CONFIRMED,
        TradeStatus.AFFIRMED,
        TradeStatus.REJECTED,
    }
)


def now_us() -> int:
    return time.time_ns() // 1000


def execution_hash(execution: Execution) -> str:
    """SHA-256 of what an execution says (not how it was sent): its identity for idempotency."""
    fields = (
        execution.exec_id,
        execution.kind.value,
        execution.ref_exec_id or "",
        execution.order_id,
        execution.account,
        execution.isin,
        execution.side.value,
        execution.quantity,
        execution.price,
        execution.currency,
        execution.trade_date.isoformat(),
        execution.venue,
        execution.counterparty or "",
        execution.transact_time.isoformat(),
    )
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def entry_key_of_trade(trade_id: str) -> str:
    return f"trades:trade/{trade_id}"


def cancel_key(entry_key: str) -> str:
    return f"trades:cancel/{entry_key.removeprefix('trades:')}"


@dataclass(slots=True)
class ImportSummary:
    messages: int = 0
    captured: int = 0
    blocks: int = 0
    cancelled: int = 0
    corrected: int = 0
    existing: int = 0
    quarantined: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, other: ImportSummary) -> None:
        for name in ("messages", "captured", "blocks", "cancelled", "corrected", "existing"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantined += other.quarantined
        self.problems.extend(other.problems)


# --- Reference data -------------------------------------------------------------------------


def load_trading_refdata(connection: sa.Connection) -> TradingRefdata:
    assets = assets_by_code(connection)
    parties = parties_by_code(connection)
    currencies = {
        code: Currency(asset_id, code, asset.scale)
        for code, (asset, asset_id) in assets.items()
        if asset.kind.value == "currency"
    }
    securities = {
        code: Security(
            asset_id,
            code,
            asset.name,
            asset.scale,
            asset.market,
            asset.currency,
            asset.asset_class or "equity",
        )
        for code, (asset, asset_id) in assets.items()
        if asset.kind.value == "security"
    }
    clients: dict[str, Client] = {}
    for code, (party, party_id) in parties.items():
        if party.kind is not PartyKind.CLIENT:
            continue
        schedule: CommissionSchedule | None = None
        terms = party.commission
        if terms is not None:
            known = currencies.get(terms.currency)
            scale = known.scale if known is not None else currency_minor_units(terms.currency)
            parsed = CommissionSchedule.parse(
                terms.currency, scale or 0, terms.per_share, terms.bps, terms.minimum
            )
            if isinstance(parsed, list):
                raise ProblemError(*(p.with_source(Source(field=f"party {code}")) for p in parsed))
            schedule = parsed
        clients[code] = Client(party_id, code, party.name, party.allocates, schedule)
    a, p = schema.accounts, schema.parties
    client_of_account = {
        row.code: row.owner
        for row in connection.execute(
            sa.select(a.c.code, p.c.code.label("owner"))
            .join(p, p.c.id == a.c.owner_id)
            .where(p.c.kind == PartyKind.CLIENT.value)
        )
    }
    firms = sorted(
        (code, party.name) for code, (party, _) in parties.items() if party.kind is PartyKind.FIRM
    )
    return TradingRefdata(
        securities=securities,
        currencies=currencies,
        clients=clients,
        client_of_account=client_of_account,
        parties={code: (party_id, party.kind.value) for code, (party, party_id) in parties.items()},
        fees=fee_schedule(connection),
        firm_code=firms[0][0] if firms else None,
        firm_name=firms[0][1] if firms else "",
    )


def fee_schedule(connection: sa.Connection) -> FeeSchedule:
    """The built-in published rates, with reference data's `fee_rates` added (a stored rate
    for the same fee and date replaces the built-in one)."""
    rates = {(rate.fee, rate.effective_from): rate for rate in DEFAULT_FEE_RATES}
    for definition in fee_rate_definitions(connection):
        parsed = FeeRate.parse(
            definition.fee.value, definition.effective_from, definition.rate, definition.maximum
        )
        if isinstance(parsed, list):
            raise ProblemError(*parsed)
        rates[(parsed.fee, parsed.effective_from)] = parsed
    return FeeSchedule(rates.values())


def require_firm(refdata: TradingRefdata) -> str:
    if refdata.firm_code is None:
        raise ProblemError(
            Problem(
                "no_firm_party",
                "reference data has no party of kind firm: trading books to the firm's accounts",
            )
        )
    return refdata.firm_code


# --- Import ---------------------------------------------------------------------------------


class _BookingRefused(Exception):
    """The ledger refused an entry of the chunk: the transaction is rolled back."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__("booking refused")
        self.problems = problems


def import_executions(
    store: Store,
    items: Iterable[Execution | Any],
    *,
    actor: str,
    clock_us: Callable[[], int] = now_us,
    progress: Progress | None = None,
) -> ImportSummary:
    """Capture executions (and quarantine `RejectedMessage`s) in file order."""
    with store.read() as connection:
        refdata = load_trading_refdata(connection)
    require_firm(refdata)
    settlement_dates = cached_settlement_dates()
    summary = ImportSummary()
    iterator = iter(items)
    while True:
        with collector_paused():  # see `collector_paused`: the reader's objects count too
            chunk = list(itertools.islice(iterator, chunk_messages))
            if not chunk:
                break
            _import_or_split(store, chunk, refdata, settlement_dates, actor, clock_us, summary)
        if progress is not None:
            progress(len(chunk))
    return summary


def _import_or_split(
    store: Store,
    chunk: list[Any],
    refdata: TradingRefdata,
    settlement_dates: SettlementDates,
    actor: str,
    clock_us: Callable[[], int],
    summary: ImportSummary,
) -> None:
    """One transaction for the chunk; if the ledger refuses one of its entries, one per
    message, so that only the refused message is quarantined."""
    try:
        summary.add(_import_chunk(store, chunk, refdata, settlement_dates, actor, clock_us))
    except _BookingRefused:
        for item in chunk:
            try:
                summary.add(
                    _import_chunk(store, [item], refdata, settlement_dates, actor, clock_us)
                )
            except _BookingRefused as refused:
                summary.add(_quarantine_refused(store, item, refused.problems, actor))


@dataclass(slots=True)
class _Chunk:
    """What one transaction will write."""

    trades: dict[str, dict[str, Any]] = field(default_factory=dict)  # new rows, by trade_id
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows read, by trade_id
    trade_updates: dict[str, str] = field(default_factory=dict)  # stored trade_id -> status
    allocations: list[dict[str, Any]] = field(default_factory=list)
    allocation_updates: dict[str, str] = field(default_factory=dict)  # entry_key -> status
    requests: list[EntryRequest] = field(default_factory=list)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (asset, client)
    rejected: list[Rejected] = field(default_factory=list)
    summary: ImportSummary = field(default_factory=ImportSummary)

    def trade(self, trade_id: str) -> dict[str, Any] | None:
        return self.trades.get(trade_id) or self.stored.get(trade_id)

    def set_status(self, trade_id: str, status: str) -> None:
        if trade_id in self.trades:
            self.trades[trade_id]["status"] = status
        else:
            self.stored[trade_id]["status"] = status
            self.trade_updates[trade_id] = status


def _import_chunk(
    store: Store,
    chunk: Sequence[Any],
    refdata: TradingRefdata,
    settlement_dates: SettlementDates,
    actor: str,
    clock_us: Callable[[], int],
) -> ImportSummary:
    firm = require_firm(refdata)
    work = _Chunk()
    with store.write() as connection:
        # Take the ledger's turn first: two imports of the same execution then queue, and
        # the second finds the first's trade instead of colliding with it.
        LedgerRepository(connection).lock_head()
        captured_at = clock_us()
        ids = [
            trade_id
            for item in chunk
            if isinstance(item, Execution)
            for trade_id in (item.exec_id, item.ref_exec_id)
            if trade_id is not None
        ]
        work.stored = stored_trades(connection, ids)
        for item in chunk:
            work.summary.messages += 1
            if not isinstance(item, Execution):
                work.rejected.append(
                    Rejected(item.source.file or "", item.source.line or 0, item.raw, item.problems)
                )
                continue
            problems = _take(work, item, refdata, settlement_dates, captured_at)
            if problems:
                work.rejected.append(
                    Rejected(
                        item.source.file or "", item.source.line or 0, item.raw, tuple(problems)
                    )
                )
        _open_accounts(connection, work, refdata, firm)
        results = post_in_transaction(
            connection,
            work.requests,
            actor=actor,
            command="trades.book",
            booked_at_us=captured_at,
            audit=False,
        )
        failed = [r for r in results if r.outcome is EntryOutcome.FAILED]
        if failed:
            # Raising inside the transaction rolls back the entries posted before it.
            raise _BookingRefused(tuple(p for r in failed for p in r.problems))
        _write(connection, work)
        work.summary.quarantined += len(work.rejected)
        work.summary.problems.extend(p for r in work.rejected for p in r.problems)
        LedgerRepository(connection).quarantine(
            [quarantine_row(item, QUARANTINE_KIND) for item in work.rejected]
        )
        LedgerRepository(connection).append_audit(
            captured_at,
            actor,
            "trades.import",
            orjson.dumps(
                {
                    "messages": work.summary.messages,
                    "captured": work.summary.captured,
                    "cancelled": work.summary.cancelled,
                    "corrected": work.summary.corrected,
                    "existing": work.summary.existing,
                    "quarantined": len(work.rejected),
                }
            ).decode(),
        )
    return work.summary


def _quarantine_refused(
    store: Store, item: Execution, problems: tuple[Problem, ...], actor: str
) -> ImportSummary:
    with store.write() as connection:
        rejected = Rejected(item.source.file or "", item.source.line or 0, item.raw, problems)
        LedgerRepository(connection).quarantine([quarantine_row(rejected, QUARANTINE_KIND)])
        LedgerRepository(connection).append_audit(
            now_us(),
            actor,
            "trades.import",
            orjson.dumps({"messages": 1, "quarantined": 1, "booking_refused": True}).decode(),
        )
    return ImportSummary(messages=1, quarantined=1, problems=list(problems))


def stored_trades(connection: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored trades among `ids`, typed (dates as dates) by SQLAlchemy."""
    t, p = schema.trades, schema.parties
    found: dict[str, dict[str, Any]] = {}
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), in_values_max):
        group = distinct[start : start + in_values_max]
        query = (
            sa.select(t, p.c.code.label("client_code"))
            .join(p, p.c.id == t.c.client_id)
            .where(t.c.trade_id.in_(group))
        )
        for row in connection.execute(query):
            found[row.trade_id] = dict(row._mapping)
    return found


def _take(
    work: _Chunk,
    execution: Execution,
    refdata: TradingRefdata,
    settlement_dates: SettlementDates,
    captured_at: int,
) -> list[Problem]:
    """Apply one execution to the chunk's work; the problems that refuse it, if any."""
    where = Source(execution.source.file, execution.source.line, "17 ExecID")
    known = work.trade(execution.exec_id)
    body_hash = execution_hash(execution)
    if known is not None:
        # The business fields decide, not the raw text: a venue resending an execution in a
        # later session changes its header (MsgSeqNum, SendingTime, PossDupFlag), not the fill.
        if known["body_hash"] == body_hash:
            work.summary.existing += 1
            return []
        return [
            Problem(
                "duplicate_trade_id",
                f"trade id {execution.exec_id!r} was already captured from another message "
                f"({known['source_file']} line {known['source_line']})",
                where,
            )
        ]
    target: dict[str, Any] | None = None
    if execution.kind is not ExecutionKind.TRADE:
        ref = execution.ref_exec_id or ""
        target = work.trade(ref)
        where = Source(execution.source.file, execution.source.line, "19 ExecRefID")
        if target is None or target["kind"] == "cancel":
            return [Problem("unknown_trade", f"no trade {ref!r} to {execution.kind.value}", where)]
        if target["status"] not in LIVE_STATUSES:
            return [
                Problem(
                    "trade_not_live",
                    f"trade {ref!r} is already {target['status']}: it cannot be "
                    f"{execution.kind.value}ed",
                    where,
                )
            ]
        if target["block"] and target["status"] != TradeStatus.PENDING_ALLOCATION:
            return [
                Problem(
                    "block_allocated",
                    f"block trade {ref!r} is allocated ({target['alloc_id']}): cancel the "
                    "allocation first, then resubmit this message",
                    where,
                )
            ]
    if execution.kind is ExecutionKind.CANCEL:
        invariant(target is not None, "a cancel has its target")
        assert target is not None
        row = dict(target)
        row.pop("id", None)
        row.pop("client_code", None)
        row.update(
            trade_id=execution.exec_id,
            kind="cancel",
            ref_trade_id=target["trade_id"],
            status=TradeStatus.CANCEL,
            transact_time_us=(execution.transact_time - _EPOCH) // _MICROSECOND,
            source_file=execution.source.file or "",
            source_line=execution.source.line or 0,
            raw=execution.raw,
            body_hash=body_hash,
            captured_at_us=captured_at,
            alloc_id=None,
        )
        _unbook(work, target, execution)
        work.set_status(target["trade_id"], TradeStatus.CANCELLED)
        work.trades[execution.exec_id] = row
        work.summary.cancelled += 1
        return []
    captured = capture(execution, refdata, settlement_dates)
    if isinstance(captured, list):
        return captured
    if target is not None:
        if captured.client.code != target["client_code"]:
            return [
                Problem(
                    "correction_changes_client",
                    f"a correction may not move trade {target['trade_id']!r} to another client",
                    Source(execution.source.file, execution.source.line, "1 Account"),
                )
            ]
        _unbook(work, target, execution)
        work.set_status(target["trade_id"], TradeStatus.CORRECTED)
        work.summary.corrected += 1
    row = _trade_row(captured, captured_at)
    row["body_hash"] = body_hash
    work.trades[execution.exec_id] = row
    if captured.block:
        work.summary.blocks += 1
    else:
        _book(work, captured)
    work.summary.captured += 1
    return []


def _trade_row(trade: CapturedTrade, captured_at: int) -> dict[str, Any]:
    execution = trade.execution
    return {
        "trade_id": execution.exec_id,
        "kind": execution.kind.value,
        "ref_trade_id": execution.ref_exec_id,
        "order_id": execution.order_id,
        "account": execution.account,
        "client_id": trade.client.party_id,
        "client_code": trade.client.code,
        "asset_id": trade.security.asset_id,
        "side": execution.side.value,
        "quantity_minor": trade.quantity_minor,
        "price": execution.price,
        "currency_id": trade.currency.asset_id,
        "trade_date": execution.trade_date,
        "settlement_date": trade.settlement_date,
        "venue": execution.venue,
        "counterparty_id": trade.counterparty_id,
        "transact_time_us": (execution.transact_time - _EPOCH) // _MICROSECOND,
        "gross_minor": trade.gross_minor,
        "commission_minor": trade.commission_minor,
        "sec_fee_minor": trade.sec_fee_minor,
        "finra_taf_minor": trade.finra_taf_minor,
        "net_minor": trade.net_minor,
        "block": trade.block,
        "status": TradeStatus.PENDING_ALLOCATION if trade.block else TradeStatus.BOOKED,
        "alloc_id": None,
        "source_file": execution.source.file or "",
        "source_line": execution.source.line or 0,
        "raw": execution.raw,
        "captured_at_us": captured_at,
    }


def booking_request(
    figures: BookedFigures,
    *,
    key: str,
    effective_date: dt.date,
    scales: dict[str, int],
    description: str,
    reference: str,
    metadata: dict[str, Any],
    source: Source,
) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=effective_date,
        description=description,
        reference=reference,
        postings=tuple(
            PostingRequest(account, format_amount(amount, scales[asset]))
            for account, asset, amount in allocation_postings(figures)
        ),
        metadata=metadata,
        source=source,
    )


def _book(work: _Chunk, trade: CapturedTrade) -> None:
    execution = trade.execution
    key = entry_key_of_trade(execution.exec_id)
    figures = BookedFigures(
        client=trade.client.code,
        isin=trade.security.isin,
        currency=trade.currency.code,
        side=execution.side,
        quantity_minor=trade.quantity_minor,
        gross_minor=trade.gross_minor,
        commission_minor=trade.commission_minor,
        sec_fee_minor=trade.sec_fee_minor,
        finra_taf_minor=trade.finra_taf_minor,
    )
    scales = {trade.security.isin: trade.security.scale, trade.currency.code: trade.currency.scale}
    work.requests.append(
        booking_request(
            figures,
            key=key,
            effective_date=execution.trade_date,
            scales=scales,
            description=(
                f"{execution.side.value} {execution.quantity} {trade.security.isin} "
                f"@ {execution.price} {trade.currency.code} for {trade.client.code}"
            ),
            reference=execution.exec_id,
            metadata={"trade_id": execution.exec_id},
            source=execution.source,
        )
    )
    for account, asset, _ in allocation_postings(figures):
        work.accounts[account] = (asset, trade.client.code)
    work.allocations.append(
        {
            "allocation_id": execution.exec_id,
            "trade_id": execution.exec_id,
            "alloc_id": None,
            "client_id": trade.client.party_id,
            "asset_id": trade.security.asset_id,
            "currency_id": trade.currency.asset_id,
            "side": execution.side.value,
            "quantity_minor": trade.quantity_minor,
            "price": execution.price,
            "trade_date": execution.trade_date,
            "settlement_date": trade.settlement_date,
            "gross_minor": trade.gross_minor,
            "commission_minor": trade.commission_minor,
            "sec_fee_minor": trade.sec_fee_minor,
            "finra_taf_minor": trade.finra_taf_minor,
            "net_minor": trade.net_minor,
            "entry_key": key,
            "status": TradeStatus.BOOKED,
        }
    )


def _unbook(work: _Chunk, target: dict[str, Any], execution: Execution) -> None:
    """Reverse the booking of a direct trade that a cancel or correction replaces."""
    if target["block"]:
        return  # an unallocated block books nothing
    key = entry_key_of_trade(target["trade_id"])
    dated = max(execution.transact_time.date(), target["trade_date"])
    work.requests.append(
        EntryRequest(
            key=cancel_key(key),
            effective_date=dated,
            description=f"{execution.kind.value} of trade {target['trade_id']}",
            reference=target["trade_id"],
            reverse=key,
            metadata={"trade_id": target["trade_id"], "by": execution.exec_id},
            source=execution.source,
        )
    )
    work.allocation_updates[key] = TradeStatus.CANCELLED


def _open_accounts(
    connection: sa.Connection, work: _Chunk, refdata: TradingRefdata, firm: str
) -> None:
    open_convention_accounts(connection, work.accounts, refdata, firm)


def open_convention_accounts(
    connection: sa.Connection,
    wanted: dict[str, tuple[str, str]],
    refdata: TradingRefdata,
    firm: str,
) -> None:
    """Open, by the naming convention, the accounts of `wanted` (code -> (asset, client)) that
    do not exist yet."""
    if not wanted:
        return
    existing = {
        row[0]
        for row in select_in(
            connection, "SELECT code FROM accounts WHERE {where}", "code", list(wanted)
        )
    }
    missing = [code for code in wanted if code not in existing]
    if not missing:
        return
    asset_ids = {code: c.asset_id for code, c in refdata.currencies.items()}
    asset_ids.update({code: s.asset_id for code, s in refdata.securities.items()})
    rows = []
    for code in missing:
        asset, client = wanted[code]
        definition = account_definition(code, asset, client, firm)
        rows.append(
            {
                "code": code,
                "type": definition.type.value,
                "asset_id": asset_ids[asset],
                "owner_id": refdata.parties[definition.owner][0],
                "status": "open",
                "name": definition.name,
                "external_account": None,
                "debits_must_not_exceed_credits": False,
                "credits_must_not_exceed_debits": False,
                "debits_posted": 0,
                "credits_posted": 0,
                "debits_pending": 0,
                "credits_pending": 0,
            }
        )
    connection.execute(sa.insert(schema.accounts), rows)


def _write(connection: sa.Connection, work: _Chunk) -> None:
    if work.trades:
        columns = [c.name for c in schema.trades.columns if c.name != "id"]
        rows = [{name: row[name] for name in columns} for row in work.trades.values()]
        insert_dicts(connection, "trades", rows)
    if work.allocations:
        cancelled = work.allocation_updates
        for row in work.allocations:
            row["status"] = cancelled.pop(row["entry_key"], row["status"])
        insert_dicts(connection, "allocations", work.allocations)
    t, a = schema.trades, schema.allocations
    if work.trade_updates:
        connection.execute(
            sa.update(t)
            .where(t.c.trade_id == sa.bindparam("tid"))
            .values(status=sa.bindparam("st")),
            [{"tid": k, "st": v} for k, v in work.trade_updates.items()],
        )
    if work.allocation_updates:
        connection.execute(
            sa.update(a)
            .where(a.c.entry_key == sa.bindparam("key"))
            .values(status=sa.bindparam("st")),
            [{"key": k, "st": v} for k, v in work.allocation_updates.items()],
        )


# --- Quarantine and resubmission --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    id: int
    kind: str
    file: str
    line: int
    raw: str
    problems: list[dict[str, Any]]
    received_at_us: int
    resolved: bool


TRADE_QUARANTINE_KINDS = ("trades.import", "trades.allocate", "trades.affirm")


def quarantined(
    store: Store,
    *,
    include_resolved: bool = False,
    kinds: tuple[str, ...] = TRADE_QUARANTINE_KINDS,
) -> list[QuarantineItem]:
    q = schema.quarantine
    query = sa.select(q).where(q.c.kind.in_(kinds)).order_by(q.c.id)
    if not include_resolved:
        query = query.where(q.c.resolved.is_(False))
    with store.read() as connection:
        return [
            QuarantineItem(
                row.id,
                row.kind,
                row.file,
                row.line,
                row.raw,
                orjson.loads(row.problems_json),
                row.received_at_us,
                bool(row.resolved),
            )
            for row in connection.execute(query)
        ]


def quarantine_item(store: Store, item_id: int) -> QuarantineItem:
    for item in quarantined(store, include_resolved=True):
        if item.id == item_id:
            return item
    raise ProblemError(
        Problem("unknown_quarantine_item", f"no quarantined trade message {item_id}")
    )


def raw_sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
