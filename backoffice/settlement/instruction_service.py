"""Settlement instructions out, statuses and confirmations in, settlement booked, fails aged.

Instructions: every open obligation of the date becomes a new instruction to the firm's agent
(reference = the obligation id: unique, stable, 16 characters, so a rerun sends nothing
twice). An instructed obligation one of whose trades has since been cancelled or corrected is
cancelled by a cancellation instruction (reference "CX" + the rest of the obligation id) and
its live trades net again on the next `settlement net`.

Statuses (sese.024, sese.025, MT548, MT544-547) are idempotent on the sender's message id. A
message that names no instruction of ours, or that cannot be read, is quarantined with its
reason. A settlement confirmation moves the ledger from pending to settled (DvP), for a
partial settlement pro rata: the cash of a partial is the obligation's cash times the settled
share of its quantity, rounded half up, and the last partial takes what is left, so the
pieces sum exactly to the whole. The entry's key is `settlement:{message_id}`, which the
ledger reserves.

    firm/depository/{isin}        asset  securities held at the depository / custodian
    firm/nostro/{currency}        asset  the firm's cash at its settlement bank
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.queries import (
    Page,
    bounded_limit,
    every_item,
    list_page_default,
    list_page_max,
    page_of,
)
from backoffice.ledger.service import post_in_transaction, quarantine_one
from backoffice.money import format_amount, parse_amount
from backoffice.refdata import calendars
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
    SettlementParty,
    StatusAdvice,
    StatusKind,
    age_bucket,
)
from backoffice.settlement.penalties import is_close_out_candidate
from backoffice.settlement.service import now_us
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository, held_audit
from backoffice.trades.charges import US_MARKETS

STATUS_KIND = "settlement.status"
LIVE_OBLIGATION = ("instructed", "matched", "unmatched", "pending", "failed", "partially_settled")
SETTLING_TRADES = ("booked", "pending_allocation", "allocated", "confirmed", "affirmed", "rejected")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def depository_account(isin: str) -> str:
    return f"firm/depository/{isin}"


def nostro_account(currency: str) -> str:
    return f"firm/nostro/{currency}"


@dataclass(slots=True)
class InstructResult:
    new: list[SettlementInstruction] = field(default_factory=list)
    cancelled: list[SettlementInstruction] = field(default_factory=list)
    all_of_date: list[tuple[SettlementInstruction, int]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)


def _ssis(connection: sa.Connection) -> dict[tuple[str, str], SettlementParty]:
    t, p = schema.ssis, schema.parties
    return {
        (row.code, row.market): SettlementParty(
            row.code, row.place_of_settlement, row.agent, row.safekeeping_account
        )
        for row in connection.execute(sa.select(t, p.c.code).join(p, p.c.id == t.c.party_id))
    }


def obligation_rows(connection: sa.Connection, where: Any, limit: int | None = None) -> list[Any]:
    o, p, s, c = schema.obligations, schema.parties, schema.assets, schema.assets.alias("ccy")
    return list(
        connection.execute(
            sa.select(
                o,
                p.c.code.label("counterparty"),
                s.c.code.label("isin"),
                s.c.name.label("security_name"),
                s.c.scale.label("quantity_scale"),
                c.c.code.label("currency"),
                c.c.scale.label("currency_scale"),
            )
            .join(p, p.c.id == o.c.counterparty_id)
            .join(s, s.c.id == o.c.asset_id)
            .join(c, c.c.id == o.c.currency_id)
            .where(where)
            .order_by(o.c.id)
            .limit(limit)
        ).all()
    )


def _instruction(
    row: Any, firm: SettlementParty, counterparty: SettlementParty, function: InstructionFunction
) -> SettlementInstruction:
    against_payment = row.cash_minor != 0
    reference = (
        row.obligation_id if function is InstructionFunction.NEW else "CX" + row.obligation_id[2:]
    )
    return SettlementInstruction(
        reference=reference,
        function=function,
        obligation_id=row.obligation_id,
        direction=Direction.RECEIVE if row.quantity_minor > 0 else Direction.DELIVER,
        payment=Payment.AGAINST_PAYMENT if against_payment else Payment.FREE,
        isin=row.isin,
        security_name=row.security_name or row.isin,
        quantity=format_amount(abs(row.quantity_minor), row.quantity_scale),
        settlement_amount=format_amount(abs(row.cash_minor), row.currency_scale)
        if against_payment
        else None,
        currency=row.currency if against_payment else None,
        cash_direction_credit=row.cash_minor > 0,
        trade_date=row.trade_date,
        settlement_date=row.settlement_date,
        firm=firm,
        counterparty=counterparty,
        previous_reference=row.obligation_id if function is InstructionFunction.CANCEL else None,
    )


def instruct(store: Store, day: dt.date, *, actor: str) -> InstructResult:
    """Instruct the date's open obligations, cancel those whose trades changed; return every
    instruction of the date (new and earlier, with its creation time) for the files."""
    result = InstructResult()
    o, ot, t, si = (
        schema.obligations,
        schema.obligation_trades,
        schema.trades,
        schema.settlement_instructions,
    )
    with store.write() as connection:
        LedgerRepository(connection).lock_head()
        ssis = _ssis(connection)
        firm_code = connection.execute(
            sa.select(schema.parties.c.code)
            .where(schema.parties.c.kind == "firm")
            .order_by(schema.parties.c.code)
        ).scalar()
        if firm_code is None:
            raise ProblemError(Problem("no_firm_party", "reference data has no party of kind firm"))
        at = now_us()
        dead = (
            sa.select(ot.c.obligation_id)
            .join(t, t.c.trade_id == ot.c.trade_id)
            .where(t.c.status.not_in(SETTLING_TRADES))
        )
        for row in obligation_rows(
            connection,
            sa.and_(
                o.c.settlement_date == day,
                # A failed instruction is still live at the CSD: it is cancelled too. One that
                # has partly settled is left to a person (what settled cannot be unsent).
                o.c.status.in_(("instructed", "matched", "unmatched", "pending", "failed")),
                o.c.obligation_id.in_(dead),
            ),
        ):
            cancel = _instruction(
                row,
                ssis[firm_code, row.market],
                ssis[row.counterparty, row.market],
                InstructionFunction.CANCEL,
            )
            connection.execute(
                sa.insert(si).values(
                    reference=cancel.reference,
                    obligation_id=row.obligation_id,
                    function="cancel",
                    previous_reference=row.obligation_id,
                    created_at_us=at,
                )
            )
            connection.execute(
                sa.update(o)
                .where(o.c.obligation_id == row.obligation_id)
                .values(status="cancelled", reason="a trade of it was cancelled or corrected")
            )
            result.cancelled.append(cancel)
        for row in obligation_rows(
            connection, sa.and_(o.c.settlement_date == day, o.c.status == "open")
        ):
            firm = ssis.get((firm_code, row.market))
            counterparty = ssis.get((row.counterparty, row.market))
            if firm is None or counterparty is None:
                # SSIs were removed since netting: keep it back as an exception.
                connection.execute(
                    sa.update(o)
                    .where(o.c.obligation_id == row.obligation_id)
                    .values(status="exception", reason=f"no SSI on {row.market}")
                )
                continue
            instruction = _instruction(row, firm, counterparty, InstructionFunction.NEW)
            connection.execute(
                sa.insert(si).values(
                    reference=instruction.reference,
                    obligation_id=row.obligation_id,
                    function="new",
                    previous_reference=None,
                    created_at_us=at,
                )
            )
            connection.execute(
                sa.update(o)
                .where(o.c.obligation_id == row.obligation_id)
                .values(status="instructed")
            )
            result.new.append(instruction)
        result.exceptions = [
            {"obligation_id": row.obligation_id, "status": row.status, "reason": row.reason}
            for row in obligation_rows(
                connection, sa.and_(o.c.settlement_date == day, o.c.status == "exception")
            )
        ]
        for row in connection.execute(
            sa.select(si, o.c.market)
            .join(o, o.c.obligation_id == si.c.obligation_id)
            .where(o.c.settlement_date == day)
            .order_by(si.c.id)
        ).all():
            (obligation,) = obligation_rows(connection, o.c.obligation_id == row.obligation_id)
            function = InstructionFunction(row.function)
            firm = ssis.get((firm_code, row.market))
            counterparty = ssis.get((obligation.counterparty, row.market))
            if firm is None or counterparty is None:
                continue
            result.all_of_date.append(
                (_instruction(obligation, firm, counterparty, function), row.created_at_us)
            )
        LedgerRepository(connection).append_audit(
            at,
            actor,
            "settlement.instruct",
            orjson.dumps(
                {
                    "date": day.isoformat(),
                    "new": len(result.new),
                    "cancelled": len(result.cancelled),
                }
            ).decode(),
        )
    return result


def write_instructions(
    instructions: Sequence[tuple[SettlementInstruction, int]],
    directory: Path,
    day: dt.date,
    fmt: str,
    *,
    sender_bic: str,
) -> list[Path]:
    """sese023: one Document per new instruction (`{reference}.xml`); cancellations, which
    sese.023 cannot carry, as MT54x :23G:CANC in `cancellations-{date}.fin`. mt54x: every
    instruction of the date in `instructions-{date}.fin`. Files are written whole (a temporary
    file, then a rename) and are the same on every run."""
    from backoffice.formats.mt54x import mt54x_file, mt54x_message
    from backoffice.formats.sese023 import sese023_document

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def created(at_us: int) -> dt.datetime:
        return _EPOCH + dt.timedelta(microseconds=at_us)

    def save(path: Path, content: bytes) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(content)
        temporary.replace(path)
        written.append(path)

    fin: list[str] = []
    for instruction, at_us in instructions:
        if fmt == "sese023" and instruction.function is InstructionFunction.NEW:
            save(
                directory / f"{instruction.reference}.xml",
                sese023_document(instruction, creation_time=created(at_us)),
            )
        else:
            fin.append(
                mt54x_message(
                    instruction,
                    sender_bic=sender_bic,
                    receiver_bic=instruction.firm.agent,
                    creation_time=created(at_us),
                )
            )
    if fin:
        name = (
            f"instructions-{day.isoformat()}.fin"
            if fmt == "mt54x"
            else f"cancellations-{day.isoformat()}.fin"
        )
        save(directory / name, mt54x_file(fin).encode("ascii"))
    return written


# --- Status and settlement --------------------------------------------------------------------


@dataclass(slots=True)
class StatusSummary:
    received: int = 0
    applied: int = 0
    existing: int = 0
    settled: int = 0
    quarantined: int = 0
    problems: list[Problem] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("refused")
        self.problems = tuple(problems)


def apply_statuses(store: Store, items: Iterable[Any], *, actor: str) -> StatusSummary:
    """Apply status advices and settlement confirmations in order; quarantine the rest."""
    summary = StatusSummary()
    for item in items:
        summary.received += 1
        if not isinstance(item, StatusAdvice):
            quarantine_one(store, STATUS_KIND, item.source, item.raw, item.problems, actor=actor)
            summary.quarantined += 1
            summary.problems.extend(item.problems)
            continue
        try:
            with store.write() as connection:
                # One record per message applied (each its own unit of work), holding the
                # ledger posting of a settlement rather than leaving a second record beside it.
                with held_audit(connection) as inner:
                    outcome = _apply(connection, item, actor)
                if outcome != "existing":
                    detail = {
                        "message_id": item.message_id,
                        "reference": item.reference,
                        "status": item.status.value,
                        "applied": inner,
                    }
                    LedgerRepository(connection).append_audit(
                        now_us(), actor, "settlement.status", orjson.dumps(detail).decode()
                    )
        except _Refused as refused:
            quarantine_one(store, STATUS_KIND, item.source, item.raw, refused.problems, actor=actor)
            summary.quarantined += 1
            summary.problems.extend(refused.problems)
            continue
        if outcome == "existing":
            summary.existing += 1
        else:
            summary.applied += 1
            summary.settled += outcome == "settled"
    return summary


def _apply(connection: sa.Connection, advice: StatusAdvice, actor: str) -> str:
    LedgerRepository(connection).lock_head()
    sm, si, o = schema.settlement_messages, schema.settlement_instructions, schema.obligations
    where = Source(advice.source.file, advice.source.line, "reference")
    if connection.execute(sa.select(sm.c.id).where(sm.c.message_id == advice.message_id)).first():
        return "existing"
    instruction = connection.execute(
        sa.select(si).where(si.c.reference == advice.reference, si.c.function == "new")
    ).first()
    if instruction is None:
        raise _Refused(
            [Problem("unknown_instruction", f"no instruction {advice.reference!r} of ours", where)]
        )
    (obligation,) = obligation_rows(connection, o.c.obligation_id == instruction.obligation_id)
    if obligation.status in ("settled", "cancelled"):
        raise _Refused(
            [
                Problem(
                    "obligation_closed",
                    f"obligation {obligation.obligation_id} is already {obligation.status}",
                    where,
                )
            ]
        )
    values: dict[str, Any] = {}
    settled_quantity = settled_cash = None
    entry_key = None
    outcome = "applied"
    if advice.status in (StatusKind.SETTLED, StatusKind.PARTIALLY_SETTLED):
        settled_quantity, settled_cash, entry_key = _settle(connection, obligation, advice, actor)
        total_quantity = obligation.settled_quantity_minor + settled_quantity
        total_cash = obligation.settled_cash_minor + settled_cash
        complete = total_quantity == obligation.quantity_minor
        values = {
            "settled_quantity_minor": total_quantity,
            "settled_cash_minor": total_cash,
            "status": "settled" if complete else "partially_settled",
            "reason": None if complete else advice.reason,
        }
        outcome = "settled" if complete else "applied"
    elif obligation.status != "partially_settled":
        values = {
            "status": advice.status.value,
            "reason": " ".join(filter(None, (advice.reason_code, advice.reason))) or None,
        }
    if values:
        connection.execute(
            sa.update(o).where(o.c.obligation_id == obligation.obligation_id).values(**values)
        )
    if values.get("status") == "settled":
        t, ot = schema.trades, schema.obligation_trades
        trades = sa.select(ot.c.trade_id).where(ot.c.obligation_id == obligation.obligation_id)
        connection.execute(
            sa.update(t)
            .where(t.c.trade_id.in_(trades), t.c.block.is_(False))
            .values(status="settled")
        )
    connection.execute(
        sa.insert(sm).values(
            message_id=advice.message_id,
            reference=advice.reference,
            status=advice.status.value,
            reason_code=advice.reason_code,
            reason=advice.reason,
            settled_quantity_minor=settled_quantity,
            settled_cash_minor=settled_cash,
            settled_on=advice.settled_on,
            entry_key=entry_key,
            source_file=advice.source.file or "",
            source_line=advice.source.line or 0,
            raw=advice.raw,
            received_at_us=now_us(),
        )
    )
    return outcome


def _settle(
    connection: sa.Connection, obligation: Any, advice: StatusAdvice, actor: str
) -> tuple[int, int, str]:
    """Book what settled: (signed quantity, signed cash, entry key)."""
    where = Source(advice.source.file, advice.source.line, "settled_quantity")
    remaining_quantity = obligation.quantity_minor - obligation.settled_quantity_minor
    remaining_cash = obligation.cash_minor - obligation.settled_cash_minor
    if advice.settled_quantity is None:
        quantity = remaining_quantity
    else:
        parsed = parse_amount(
            advice.settled_quantity, obligation.quantity_scale, trailing_zeros=True
        )
        if isinstance(parsed, Problem) or parsed <= 0:
            raise _Refused(
                [
                    Problem(
                        "invalid_quantity",
                        f"settled quantity {advice.settled_quantity!r} is not a positive quantity",
                        where,
                    )
                ]
            )
        quantity = parsed if remaining_quantity > 0 else -parsed
    if abs(quantity) > abs(remaining_quantity) or quantity == 0:
        raise _Refused(
            [
                Problem(
                    "settles_more_than_due",
                    f"settles {abs(quantity)} of {abs(remaining_quantity)} still due",
                    where,
                )
            ]
        )
    if advice.settled_amount is not None:
        # What the CSD says moved is what moved; a difference from our figures stays on the
        # pending account, where reconciliation finds it.
        if advice.currency is not None and advice.currency != obligation.currency:
            raise _Refused(
                [
                    Problem(
                        "currency_mismatch",
                        f"settled in {advice.currency}, due in {obligation.currency}",
                        where,
                    )
                ]
            )
        amount = parse_amount(advice.settled_amount, obligation.currency_scale, trailing_zeros=True)
        if isinstance(amount, Problem):
            raise _Refused([Problem("invalid_amount", f"settled amount: {amount.reason}", where)])
        cash = amount if obligation.cash_minor >= 0 else -amount
    elif quantity == remaining_quantity:
        cash = remaining_cash  # the last piece takes what is left: the pieces sum to the whole
    else:
        # Pro rata, rounded half up (away from zero) in integers.
        numerator = obligation.cash_minor * abs(quantity)
        denominator = abs(obligation.quantity_minor)
        cash = (
            (abs(numerator) * 2 + denominator) // (2 * denominator) * (1 if numerator >= 0 else -1)
        )
    isin, currency = obligation.isin, obligation.currency
    postings = [
        (depository_account(isin), format_amount(quantity, obligation.quantity_scale)),
        (f"firm/settlement/pending/{isin}", format_amount(-quantity, obligation.quantity_scale)),
    ]
    if cash != 0:
        postings += [
            (nostro_account(currency), format_amount(cash, obligation.currency_scale)),
            (
                f"firm/settlement/pending/{currency}",
                format_amount(-cash, obligation.currency_scale),
            ),
        ]
    _open_settlement_accounts(connection, isin, currency)
    key = f"settlement:{advice.message_id}"
    settled_on = advice.settled_on or obligation.settlement_date
    results = post_in_transaction(
        connection,
        [
            EntryRequest(
                key=key,
                effective_date=max(settled_on, obligation.trade_date),
                description=f"settlement of {obligation.obligation_id} ({advice.status.value})",
                reference=obligation.obligation_id,
                postings=tuple(PostingRequest(a, amount) for a, amount in postings),
                metadata={
                    "obligation_id": obligation.obligation_id,
                    "message_id": advice.message_id,
                },
                source=advice.source,
            )
        ],
        actor=actor,
        command="settlement.status",
        booked_at_us=now_us(),
    )
    failed = [p for r in results if r.outcome is EntryOutcome.FAILED for p in r.problems]
    if failed:
        raise _Refused(failed)
    return quantity, cash, key


def _open_settlement_accounts(connection: sa.Connection, isin: str, currency: str) -> None:
    a, s, p = schema.accounts, schema.assets, schema.parties
    firm_id = connection.execute(
        sa.select(p.c.id).where(p.c.kind == "firm").order_by(p.c.code)
    ).scalar_one()
    for code, asset, name in (
        (depository_account(isin), isin, f"{isin} at the depository"),
        (nostro_account(currency), currency, f"{currency} at the settlement bank"),
        (f"firm/settlement/pending/{isin}", isin, f"Pending settlement with the street, {isin}"),
        (
            f"firm/settlement/pending/{currency}",
            currency,
            f"Pending settlement with the street, {currency}",
        ),
    ):
        if connection.execute(sa.select(a.c.id).where(a.c.code == code)).first() is None:
            asset_id = connection.execute(sa.select(s.c.id).where(s.c.code == asset)).scalar_one()
            connection.execute(
                sa.insert(a).values(
                    code=code, type="asset", asset_id=asset_id, owner_id=firm_id, status="open", name=name,
                    external_account=None, debits_must_not_exceed_credits=False,
                    credits_must_not_exceed_debits=False, debits_posted=0, credits_posted=0,
                    debits_pending=0, credits_pending=0,
                )
            )  # fmt: skip


# --- Fails ------------------------------------------------------------------------------------


def fails(store: Store, as_of: dt.date) -> list[dict[str, Any]]:
    """Every fail as of `as_of`, page by page (`fails_page`): for the demo and small books."""
    return every_item(lambda after: fails_page(store, as_of, limit=list_page_max, after=after))


def fails_page(
    store: Store, as_of: dt.date, *, limit: int = list_page_default, after: int | None = None
) -> Page:
    """One page of the obligations not settled by their date, as of the end of `as_of`, in the
    order they were netted (keyset over the obligation row id): age in settlement days of
    their market, bucket, reason (the latest status), what is still due."""
    o = schema.obligations
    limit = bounded_limit(limit)
    # An exception was never instructed: past its date, it fails all the same.
    where = sa.and_(o.c.settlement_date < as_of, o.c.status.in_((*LIVE_OBLIGATION, "exception")))
    if after is not None:
        where = sa.and_(where, o.c.id > after)
    with store.read() as connection:
        rows, cursor = page_of(obligation_rows(connection, where, limit + 1), limit)
    return Page(_fails(rows, as_of), cursor)


def _fails(rows: Sequence[Any], as_of: dt.date) -> list[dict[str, Any]]:
    found = []
    for row in rows:
        age = _settlement_days_between(row.market, row.settlement_date, as_of)
        direction = Direction.RECEIVE if row.quantity_minor > 0 else Direction.DELIVER
        # US Regulation SHO Rule 204, for long sales (short sales are not told apart here).
        close_out = row.market in US_MARKETS and is_close_out_candidate(
            direction, age, short_sale=False
        )
        found.append(
            {
                "obligation_id": row.obligation_id,
                "counterparty": row.counterparty,
                "isin": row.isin,
                "market": row.market,
                "settlement_date": row.settlement_date.isoformat(),
                "age_days": age,
                "bucket": age_bucket(max(age, 1)).value,
                "direction": direction.value,
                "close_out_candidate": close_out,
                "status": row.status,
                "reason": row.reason,
                "quantity_due": format_amount(
                    row.quantity_minor - row.settled_quantity_minor, row.quantity_scale
                ),
                "cash_due": format_amount(
                    row.cash_minor - row.settled_cash_minor, row.currency_scale
                ),
                "currency": row.currency,
            }
        )
    return found


def _settlement_days_between(market: str, start: dt.date, end: dt.date) -> int:
    """Settlement days after `start` up to and including `end`."""
    days = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if day > calendars.calendar_last_day:
            break
        if calendars.is_settlement_day(market, day):
            days += 1
    return days
