"""Settlement statuses and confirmations in, settlement booked in the ledger.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, Source
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_in_transaction, quarantine_one
from backoffice.money import format_amount, parse_amount
from backoffice.settlement.instruction_service import obligation_rows
from backoffice.settlement.model import ObligationStatus, StatusAdvice, StatusKind
from backoffice.settlement.service import now_us
from backoffice.store import schema
from backoffice.store.audit_chain import held_audit
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

STATUS_KIND = "settlement.status"


def depository_account(isin: str) -> str:
    return f"firm/depository/{isin}"


def nostro_account(currency: str) -> str:
    return f"firm/nostro/{currency}"


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
    if obligation.status in (ObligationStatus.SETTLED, ObligationStatus.CANCELLED):
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
    elif obligation.status != ObligationStatus.PARTIALLY_SETTLED:
        values = {
            "status": advice.status.value,
            "reason": " ".join(filter(None, (advice.reason_code, advice.reason))) or None,
        }
    if values:
        connection.execute(
            sa.update(o).where(o.c.obligation_id == obligation.obligation_id).values(**values)
        )
    if values.get("status") == ObligationStatus.SETTLED:
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
