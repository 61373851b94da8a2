"""Confirmation of booked allocations: a confirmation id each, the client documents (HTML,
PDF) and a FIX Confirmation (35=AK) log for the trade date."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.queries import Page, bounded_limit, list_page_default
from backoffice.money import format_amount
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository
from backoffice.trades.allocation_service import mirror_direct_trades
from backoffice.trades.model import ConfirmationDetails, Side
from backoffice.trades.service import TradeStatus, now_us

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def confirm(store: Store, trade_date: dt.date, *, actor: str) -> list[ConfirmationDetails]:
    """Confirm every booked allocation of `trade_date` (each once: its confirmation id is
    kept), and return the details of every live confirmation of that date."""
    a = schema.allocations
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        pending = connection.execute(
            sa.select(a.c.id, a.c.trade_id).where(
                a.c.trade_date == trade_date, a.c.status == TradeStatus.BOOKED
            )
        ).all()
        at = now_us()
        if pending:
            connection.execute(
                sa.update(a)
                .where(a.c.id == sa.bindparam("aid"))
                .values(
                    confirm_id=sa.bindparam("cid"), confirmed_at_us=at, status=TradeStatus.CONFIRMED
                ),
                [{"aid": row.id, "cid": f"CNF{row.id:010d}"} for row in pending],
            )
            mirror_direct_trades(connection, [row.trade_id for row in pending if row.trade_id])
        LedgerRepository(connection).append_audit(
            at,
            actor,
            "trades.confirm",
            orjson.dumps(
                {"trade_date": trade_date.isoformat(), "confirmed": len(pending)}
            ).decode(),
        )
        return _confirmation_details(connection, schema.allocations.c.trade_date == trade_date)


def confirmations_page(
    store: Store,
    trade_date: dt.date | None = None,
    *,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """Live confirmations (of `trade_date` when given), oldest first, one page after the
    allocation row id `after`; each as `confirmation_json`."""
    a = schema.allocations
    limit = bounded_limit(limit)
    where = sa.and_(
        sa.true() if trade_date is None else a.c.trade_date == trade_date,
        sa.true() if after is None else a.c.id > after,
    )
    with store.read() as connection:
        found = _confirmations(connection, where, limit=limit + 1)
    cursor = str(found[limit - 1][0]) if len(found) > limit else None
    return Page([confirmation_json(details) for _, details in found[:limit]], cursor)


def confirmation_of(store: Store, confirm_id: str) -> ConfirmationDetails:
    """One live confirmation by its id; `unknown_confirmation` when there is none."""
    with store.read() as connection:
        found = _confirmation_details(connection, schema.allocations.c.confirm_id == confirm_id)
    if not found:
        raise ProblemError(
            Problem("unknown_confirmation", f"no confirmation {confirm_id!r}", Source(field="id"))
        )
    return found[0]


def confirmation_json(details: ConfirmationDetails) -> dict[str, Any]:
    """A confirmation's figures as JSON values: amounts as decimal strings, dates ISO 8601."""
    fields = dataclasses.asdict(details)
    fields["side"] = details.side.value.upper()
    fields["trade_date"] = details.trade_date.isoformat()
    fields["settlement_date"] = details.settlement_date.isoformat()
    fields["transact_time"] = details.transact_time.isoformat()
    return fields


def _confirmation_details(connection: sa.Connection, where: Any) -> list[ConfirmationDetails]:
    return [details for _, details in _confirmations(connection, where)]


def _confirmations(
    connection: sa.Connection, where: Any, *, limit: int | None = None
) -> list[tuple[int, ConfirmationDetails]]:
    """(allocation row id, details) of the live confirmations `where` says, by row id."""
    a, t, p, s, c = (
        schema.allocations,
        schema.trades,
        schema.parties,
        schema.assets,
        schema.assets.alias("ccy"),
    )
    cp = schema.parties.alias("cp")
    firm = connection.execute(
        sa.select(p.c.code, p.c.name).where(p.c.kind == "firm").order_by(p.c.code)
    ).first()
    firm_code, firm_name = (firm.code, firm.name) if firm else ("", "")
    # A block allocation takes venue and time from the block's latest execution.
    block_trade = (
        sa.select(
            t.c.alloc_id,
            sa.func.max(t.c.venue).label("venue"),
            sa.func.max(t.c.transact_time_us).label("at"),
        )
        .where(t.c.alloc_id.is_not(None))
        .group_by(t.c.alloc_id)
        .subquery()
    )
    rows = connection.execute(
        sa.select(
            a,
            p.c.code.label("client_code"),
            p.c.name.label("client_name"),
            s.c.code.label("isin"),
            s.c.name.label("security_name"),
            s.c.scale.label("quantity_scale"),
            c.c.code.label("currency"),
            c.c.scale.label("currency_scale"),
            sa.func.coalesce(t.c.venue, block_trade.c.venue).label("venue"),
            sa.func.coalesce(t.c.transact_time_us, block_trade.c.at).label("transact_time_us"),
            cp.c.code.label("counterparty"),
        )
        .join(p, p.c.id == a.c.client_id)
        .join(s, s.c.id == a.c.asset_id)
        .join(c, c.c.id == a.c.currency_id)
        .outerjoin(t, t.c.trade_id == a.c.trade_id)
        .outerjoin(cp, cp.c.id == t.c.counterparty_id)
        .outerjoin(block_trade, block_trade.c.alloc_id == a.c.alloc_id)
        .where(where, a.c.confirm_id.is_not(None), a.c.status != TradeStatus.CANCELLED)
        .order_by(a.c.id)
        .limit(limit)
    ).all()
    details: list[ConfirmationDetails] = []
    for row in rows:
        money = row.currency_scale
        fees = row.sec_fee_minor + row.finra_taf_minor
        details.append(
            ConfirmationDetails(
                confirm_id=row.confirm_id,
                trade_id=row.trade_id or row.alloc_id,
                allocation_id=row.allocation_id,
                firm_code=firm_code,
                firm_name=firm_name,
                client_code=row.client_code,
                client_name=row.client_name,
                side=Side(row.side),
                isin=row.isin,
                security_name=row.security_name,
                quantity=format_amount(row.quantity_minor, row.quantity_scale),
                price=row.price,
                currency=row.currency,
                trade_date=row.trade_date,
                settlement_date=row.settlement_date,
                venue=row.venue or "",
                counterparty=row.counterparty,
                transact_time=_EPOCH + dt.timedelta(microseconds=row.transact_time_us),
                gross_amount=format_amount(row.gross_minor, money),
                commission=format_amount(row.commission_minor, money),
                sec_fee=format_amount(row.sec_fee_minor, money),
                finra_taf=format_amount(row.finra_taf_minor, money),
                fees=format_amount(fees, money),
                net_amount=format_amount(row.net_minor, money),
                is_block_allocation=row.alloc_id is not None,
            )
        )
    return [(row.id, one) for row, one in zip(rows, details, strict=True)]


def write_confirmations(
    details: Sequence[ConfirmationDetails],
    directory: Path,
    trade_date: dt.date,
    *,
    pdf: bool = True,
) -> list[Path]:
    """The client documents (HTML, PDF) and one FIX log of 35=AK messages for the date."""
    from backoffice.formats.confirmations import fix_confirmations_log, write_confirmation_documents

    directory.mkdir(parents=True, exist_ok=True)
    paths = write_confirmation_documents(details, directory, pdf=pdf)
    if details:
        log = directory / f"confirmations-{trade_date.isoformat()}.fix"
        firm = details[0].firm_code or "FIRM"
        sending = dt.datetime.now(dt.UTC)
        content = fix_confirmations_log(
            details, sender=firm, target="CLIENTS", sending_time=sending
        )
        temporary = log.with_suffix(".fix.tmp")
        temporary.write_bytes(content)
        temporary.replace(log)
        paths.append(log)
    return paths


def confirmation_pdf_of(store: Store, confirm_id: str) -> bytes:
    """The client's confirmation document as a PDF, rendered as `trades confirm` writes it."""
    from backoffice.formats.confirmations import confirmation_pdf

    return confirmation_pdf(confirmation_of(store, confirm_id))
