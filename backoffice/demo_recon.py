"""The demo's reconciliation: the bank's statement of the firm's USD account and the
custodian's holdings for the day, as the bank and custodian would send them, with the breaks
real ones have: a wire fee the books lack, a receipt the bank reports three days late, an
amount typed wrong, a line sent twice, a receipt the bank has not reported, and a position
the custodian counts differently. Reconciled, the breaks are reported; one is resolved by a
correcting entry under maker-checker (proposed by `ops`, approved by `supervisor`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from backoffice.admin.approval_service import decide
from backoffice.demo_staff import Staff
from backoffice.money import format_amount
from backoffice.recon.correction_service import submit_correction
from backoffice.recon.position_service import import_holdings
from backoffice.recon.run_service import reconcile
from backoffice.recon.statement_service import import_statements
from backoffice.store import schema
from backoffice.store.engine import Store


@dataclass(frozen=True, slots=True)
class ReconReport:
    matched: int
    breaks: int
    by_type: dict[str, int]


def _bank_statement(store: Store, day: dt.date, account_code: str) -> tuple[str, str]:
    """(IBAN, CSV text) of the bank's statement of `account_code` for `day`, from the books,
    with the day's breaks put in."""
    a, p, je, s = schema.accounts, schema.postings, schema.journal_entries, schema.assets
    with store.read() as connection:
        account = connection.execute(
            sa.select(a.c.id, a.c.external_account, s.c.code.label("currency"), s.c.scale)
            .join(s, s.c.id == a.c.asset_id)
            .where(a.c.code == account_code)
        ).one()
        rows = connection.execute(
            sa.select(
                p.c.amount_minor, je.c.effective_date, je.c.reference, je.c.key, je.c.description
            )
            .join(je, je.c.id == p.c.entry_id)
            .where(
                p.c.account_id == account.id,
                je.c.kind.in_(("standard", "reversal", "post_pending")),
            )
            .order_by(je.c.id, p.c.line)
        ).all()
    scale = account.scale
    lines: list[tuple[int, dt.date, str, str]] = []
    for number, row in enumerate(rows):
        reference = row.reference or row.key
        amount, value_date = row.amount_minor, row.effective_date
        if number == 5:
            continue  # a receipt the bank has not reported yet: missing in the statement
        if number == 7:
            value_date = value_date + dt.timedelta(days=3)  # reported with a later value date
        if number == 9:
            amount = amount // 10 if amount % 10 == 0 else amount + 1  # an amount typed wrong
        lines.append((amount, value_date, reference, row.description[:60]))
        if number == 11:
            lines.append((amount, value_date, reference, row.description[:60]))  # sent twice
    lines.append((-1500, day, "WIREFEE20261124", "Outgoing wire fee"))  # the books lack it
    closing = sum(amount for amount, _, _, _ in lines)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record", "account", "currency", "statement_id", "value_date", "booking_date", "amount", "reference", "description"])  # fmt: skip
    statement_id = f"STMT-{day:%Y%m%d}-USD"
    iban, currency = account.external_account, account.currency
    writer.writerow(["opening", iban, currency, statement_id, day.isoformat(), day.isoformat(), format_amount(0, scale), "", ""])  # fmt: skip
    for amount, value_date, reference, description in lines:
        writer.writerow(["line", iban, currency, statement_id, value_date.isoformat(), day.isoformat(), format_amount(amount, scale), reference, description])  # fmt: skip
    writer.writerow(["closing", iban, currency, statement_id, day.isoformat(), day.isoformat(), format_amount(closing, scale), "", ""])  # fmt: skip
    return iban, out.getvalue()


def _holdings(store: Store, day: dt.date) -> str:
    """The custodian's holdings CSV for the firm's safekeeping account, one position off."""
    a, p, s = schema.accounts, schema.postings, schema.assets
    with store.read() as connection:
        rows = connection.execute(
            sa.select(
                a.c.external_account,
                s.c.code.label("isin"),
                sa.func.sum(p.c.amount_minor).label("quantity"),
            )
            .join(s, s.c.id == a.c.asset_id)
            .join(p, p.c.account_id == a.c.id)
            .where(a.c.code.like("firm/custody/%"), a.c.external_account.is_not(None))
            .group_by(a.c.external_account, s.c.code)
            .order_by(s.c.code)
        ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["account", "as_of", "isin", "quantity"])
    for number, row in enumerate(rows):
        quantity = int(row.quantity) + (100 if number == 0 else 0)  # the custodian counts 100 more
        writer.writerow([row.external_account, day.isoformat(), row.isin, str(quantity)])
    return out.getvalue()


def run_recon_day(
    store: Store, work: Path, day: dt.date, *, staff: Staff, say: Callable[[str], None]
) -> ReconReport:
    from backoffice.formats.holdings import read_holdings
    from backoffice.formats.statement_csv import read_statement_csv

    _, text = _bank_statement(store, day, "firm/bank/USD")
    statement_path = work / "bank-statement-usd.csv"
    statement_path.write_text(text)
    with staff.act("recon.import") as ops:
        imported = import_statements(
            store, read_statement_csv(statement_path), source_file=str(statement_path),
            actor=ops.login,
        )  # fmt: skip
    holdings_path = work / "custodian-holdings.csv"
    holdings_path.write_text(_holdings(store, day))
    with staff.act("recon.import") as ops:
        import_holdings(
            store, read_holdings(holdings_path), source_file=str(holdings_path), actor=ops.login
        )
    say(
        f"recon import: {imported.lines} statement lines from {statement_path}, holdings from {holdings_path}"
    )
    with staff.act("recon.run") as ops:
        result, positions = reconcile(store, day, actor=ops.login)
    breaks = result.breaks + positions
    by_type: dict[str, int] = {}
    for row in breaks:
        by_type[row["type"]] = by_type.get(row["type"], 0) + 1
    say(f"recon run --date {day}: {result.matched} matches, {len(breaks)} breaks {by_type}")
    for row in breaks:
        say(
            f"  {row['break_id']} {row['type']} {row['account']} {row['amount']} {row['value_date']} {row['reference']}"
        )
    fee = next((row for row in breaks if row["reference"] == "WIREFEE20261124"), None)
    if fee is not None:
        with staff.act("recon.correction.propose") as ops:
            number, parked = submit_correction(
                store,
                ops,
                fee["break_id"],
                [("firm/expense/bank-fees/USD", "15.00"), ("firm/bank/USD", "-15.00")],
                description="Book the outgoing wire fee the bank charged",
            )
        say(
            f"recon resolve propose (as ops): correction {number}, awaiting approval {parked.approval_id}"
        )
        with staff.act("approvals.decide", staff.supervisor) as supervisor:
            decided = decide(store, supervisor, parked.approval_id, approve=True, reason="")
        say(
            f"approvals approve {parked.approval_id} (as supervisor): the wire fee booked by "
            f"{decided.result['entry_key']}"
        )
    return ReconReport(result.matched, len(breaks), by_type)
