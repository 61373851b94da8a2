"""Settlement instructions out: the date's open obligations instructed, changed ones cancelled.

Instructions: every open obligation of the date becomes a new instruction to the firm's agent
(reference = the obligation id: unique, stable, 16 characters, so a rerun sends nothing
twice). An instructed obligation one of whose trades has since been cancelled or corrected is
cancelled by a cancellation instruction (reference "CX" + the rest of the obligation id) and
its live trades net again on the next `settlement net`. Statuses coming back are applied by
`backoffice.settlement.status_service`; fails are aged by `backoffice.settlement.fail_service`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.ledger.queries import Page, bounded_limit, list_page_default
from backoffice.money import format_amount
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
    SettlementParty,
)
from backoffice.settlement.service import now_us
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

SETTLING_TRADES = ("booked", "pending_allocation", "allocated", "confirmed", "affirmed", "rejected")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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


def _firm_code(connection: sa.Connection) -> str:
    firm_code = connection.execute(
        sa.select(schema.parties.c.code)
        .where(schema.parties.c.kind == "firm")
        .order_by(schema.parties.c.code)
    ).scalar()
    if firm_code is None:
        raise ProblemError(Problem("no_firm_party", "reference data has no party of kind firm"))
    return str(firm_code)


def _stored_instructions(
    connection: sa.Connection,
    where: Any,
    *,
    ssis: dict[tuple[str, str], SettlementParty],
    firm_code: str,
    limit: int | None = None,
) -> list[tuple[int, SettlementInstruction, int]]:
    """(row id, instruction, creation time) of the stored instructions `where` says, by row
    id, rebuilt from their obligations and today's SSIs (one whose SSI is gone is left out)."""
    o, si = schema.obligations, schema.settlement_instructions
    found = []
    for row in connection.execute(
        sa.select(si, o.c.market)
        .join(o, o.c.obligation_id == si.c.obligation_id)
        .where(where)
        .order_by(si.c.id)
        .limit(limit)
    ).all():
        (obligation,) = obligation_rows(connection, o.c.obligation_id == row.obligation_id)
        function = InstructionFunction(row.function)
        firm = ssis.get((firm_code, row.market))
        counterparty = ssis.get((obligation.counterparty, row.market))
        if firm is None or counterparty is None:
            continue
        instruction = _instruction(obligation, firm, counterparty, function)
        found.append((row.id, instruction, row.created_at_us))
    return found


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
        firm_code = _firm_code(connection)
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
        result.all_of_date = [
            (instruction, created_at_us)
            for _, instruction, created_at_us in _stored_instructions(
                connection, o.c.settlement_date == day, ssis=ssis, firm_code=firm_code
            )
        ]
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


INSTRUCTION_FORMATS = ("sese023", "mt54x")


def instruction_format(fmt: str) -> str:
    """`fmt` when it is a format instructions are written in; `invalid_format` otherwise."""
    if fmt not in INSTRUCTION_FORMATS:
        raise ProblemError(
            Problem("invalid_format", f"format must be sese023 or mt54x, not {fmt!r}")
        )
    return fmt


def instruction_documents(
    instructions: Sequence[tuple[SettlementInstruction, int]],
    day: dt.date,
    fmt: str,
    *,
    sender_bic: str,
) -> list[tuple[str, bytes]]:
    """(file name, content) of the documents of the instructions: sese023, one Document per
    new instruction (`{reference}.xml`) and the cancellations, which sese.023 cannot carry, as
    MT54x :23G:CANC in `cancellations-{date}.fin`; mt54x, every instruction in
    `instructions-{date}.fin`. The same instructions give the same bytes on every run."""
    from backoffice.formats.mt54x import mt54x_file, mt54x_message
    from backoffice.formats.sese023 import sese023_document

    documents: list[tuple[str, bytes]] = []
    fin: list[str] = []
    for instruction, at_us in instructions:
        created = _EPOCH + dt.timedelta(microseconds=at_us)
        if fmt == "sese023" and instruction.function is InstructionFunction.NEW:
            document = sese023_document(instruction, creation_time=created)
            documents.append((f"{instruction.reference}.xml", document))
        else:
            fin.append(
                mt54x_message(
                    instruction,
                    sender_bic=sender_bic,
                    receiver_bic=instruction.firm.agent,
                    creation_time=created,
                )
            )
    if fin:
        name = "instructions" if fmt == "mt54x" else "cancellations"
        documents.append((f"{name}-{day.isoformat()}.fin", mt54x_file(fin).encode("ascii")))
    return documents


def write_instructions(
    instructions: Sequence[tuple[SettlementInstruction, int]],
    directory: Path,
    day: dt.date,
    fmt: str,
    *,
    sender_bic: str,
) -> list[Path]:
    """`instruction_documents` written into `directory`, each whole (a temporary file, then a
    rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, content in instruction_documents(instructions, day, fmt, sender_bic=sender_bic):
        path = directory / name
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(content)
        temporary.replace(path)
        written.append(path)
    return written


def instruction_json(instruction: SettlementInstruction, created_at_us: int) -> dict[str, Any]:
    """An instruction as JSON values (the figures its documents carry)."""
    return {
        "reference": instruction.reference,
        "function": instruction.function.value,
        "obligation_id": instruction.obligation_id,
        "previous_reference": instruction.previous_reference,
        "direction": instruction.direction.value,
        "payment": instruction.payment.value,
        "isin": instruction.isin,
        "quantity": instruction.quantity,
        "settlement_amount": instruction.settlement_amount,
        "currency": instruction.currency,
        "trade_date": instruction.trade_date.isoformat(),
        "settlement_date": instruction.settlement_date.isoformat(),
        "counterparty": instruction.counterparty.party,
        "agent": instruction.firm.agent,
        "created_at": (_EPOCH + dt.timedelta(microseconds=created_at_us)).isoformat(),
    }


def instructions_page(
    store: Store,
    day: dt.date | None = None,
    *,
    limit: int = list_page_default,
    after: int | None = None,
) -> Page:
    """Stored instructions (of settlement date `day` when given), oldest first, one page after
    the instruction row id `after`; each as `instruction_json`."""
    o, si = schema.obligations, schema.settlement_instructions
    limit = bounded_limit(limit)
    where = sa.and_(
        sa.true() if day is None else o.c.settlement_date == day,
        sa.true() if after is None else si.c.id > after,
    )
    with store.read() as connection:
        found = _stored_instructions(
            connection, where, ssis=_ssis(connection), firm_code=_firm_code(connection),
            limit=limit + 1,
        )  # fmt: skip
    cursor = str(found[limit - 1][0]) if len(found) > limit else None
    return Page([instruction_json(i, at) for _, i, at in found[:limit]], cursor)


def instruction_document(
    store: Store, reference: str, fmt: str, *, sender_bic: str
) -> tuple[str, bytes]:
    """(file name, content) of one stored instruction's document, made on demand by the same
    formatter as `instruction_documents`: a sese.023 XML Document for a new instruction in
    sese023, else one MT54x message as a FIN file. `unknown_instruction` when there is none."""
    si = schema.settlement_instructions
    instruction_format(fmt)
    with store.read() as connection:
        found = _stored_instructions(
            connection, si.c.reference == reference, ssis=_ssis(connection),
            firm_code=_firm_code(connection),
        )  # fmt: skip
    if not found:
        raise ProblemError(
            Problem(
                "unknown_instruction", f"no instruction {reference!r}", Source(field="reference")
            )
        )
    _, instruction, at_us = found[0]
    ((name, content),) = instruction_documents(
        [(instruction, at_us)], instruction.settlement_date, fmt, sender_bic=sender_bic
    )
    if name.endswith(".fin"):
        name = f"{instruction.reference}.fin"
    return name, content
