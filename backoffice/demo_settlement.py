"""The demo's settlement: net the day's trades, instruct them, receive the custodian's
answers (MT548 statuses and MT545/MT547 confirmations, as a custodian sends them: most
settle, some fail for lack of securities, one settles partially, and one message names an
instruction we never sent), book what settled and report the fails."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backoffice.demo_staff import Staff
from backoffice.errors import Problem
from backoffice.formats.settlement_status import read_settlement_messages
from backoffice.settlement.fail_service import fails
from backoffice.settlement.instruction_service import instruct, write_instructions
from backoffice.settlement.model import NettingMode, SettlementInstruction
from backoffice.settlement.service import net_obligations
from backoffice.settlement.status_service import apply_statuses
from backoffice.store.engine import Store


@dataclass(frozen=True, slots=True)
class SettlementReport:
    obligations: int
    instructed: int
    settled: int
    fails: int
    problems: list[Problem]


def _fin(message_type: str, lines: list[str]) -> str:
    text = "\r\n".join(lines)
    return (
        "{1:F01BKOFUS33AXXX0000000000}"
        f"{{2:O{message_type}1200261125IRVTUS3NAXXX00000000002611251200N}}"
        f"{{4:\r\n{text}\r\n-}}"
    )


def _amount(text: str) -> str:
    whole, _, fraction = text.partition(".")
    return f"{whole},{fraction}"


def _confirmation(
    instruction: SettlementInstruction, seme: str, quantity: str, amount: str | None, partial: bool
) -> str:
    receive = instruction.direction.value == "receive"
    message_type = (
        ("545" if receive else "547")
        if instruction.settlement_amount
        else ("544" if receive else "546")
    )
    day = instruction.settlement_date.strftime("%Y%m%d")
    lines = [":16R:GENL", f":20C::SEME//{seme}", ":23G:NEWM"]
    lines += [":22F::PARS//PAIN"] if partial else []
    lines += [":16R:LINK", f":20C::RELA//{instruction.reference}", ":16S:LINK", ":16S:GENL"]
    lines += [
        ":16R:TRADDET", f":98A::ESET//{day}", f":98A::TRAD//{instruction.trade_date:%Y%m%d}",
        f":35B:ISIN {instruction.isin}", ":16S:TRADDET", ":16R:FIAC",
        f":36B::ESTT//UNIT/{_amount(quantity)}", f":97A::SAFE//{instruction.firm.safekeeping_account}",
        ":16S:FIAC", ":16R:SETDET", ":22F::SETR//TRAD",
    ]  # fmt: skip
    if amount is not None and instruction.currency is not None:
        lines += [":16R:AMT", f":19A::ESTT//{instruction.currency}{_amount(amount)}", ":16S:AMT"]
    lines.append(":16S:SETDET")
    return _fin(message_type, lines)


def _status(reference: str, seme: str, status: str, reason: str | None, day: dt.date) -> str:
    lines = [":16R:GENL", f":20C::SEME//{seme}", ":23G:INST", ":16R:LINK"]
    lines += [f":20C::RELA//{reference}", ":16S:LINK", ":16R:STAT", f":25D::{status}"]
    if reason is not None:
        lines += [":16R:REAS", f":24B::{reason}", ":70D::REAS//COUNTERPARTY SHORT OF STOCK", ":16S:REAS"]  # fmt: skip
    lines += [":16S:STAT", ":16S:GENL", ":16R:SETTRAN", ":35B:ISIN US0378331005"]
    lines += [":36B::SETT//UNIT/1,", ":97A::SAFE//DTC-0001", ":22F::SETR//TRAD"]
    lines += [":22H::REDE//RECE", ":22H::PAYM//APMT", f":98A::SETT//{day:%Y%m%d}", ":16S:SETTRAN"]
    return _fin("548", lines)


def run_settlement_day(
    store: Store,
    work: Path,
    day: dt.date,
    *,
    seed: int,
    staff: Staff,
    say: Callable[[str], None],
) -> SettlementReport:
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    with staff.act("settlement.net") as ops:
        netted = net_obligations(store, day, NettingMode.BILATERAL, actor=ops.login)
    say(
        f"settlement net {day}: {netted.gross_count} street trades into {netted.net_count} "
        f"bilateral obligations (gross {netted.gross_value}, net {netted.net_value})"
    )
    with staff.act("settlement.instruct") as ops:
        instructed = instruct(store, day, actor=ops.login)
    directory = work / "instructions"
    paths = write_instructions(
        instructed.all_of_date, directory, day, "sese023", sender_bic="BKOFUS33XXX"
    )
    write_instructions(instructed.all_of_date, directory, day, "mt54x", sender_bic="BKOFUS33XXX")
    say(
        f"settlement instruct: {len(instructed.new)} sese.023 documents and MT54x in {directory} ({len(paths)} files)"
    )
    messages: list[str] = []
    new = sorted(instructed.new, key=lambda i: i.reference)
    for number, instruction in enumerate(new):
        seme = f"CUST{number:06d}"
        messages.append(_status(instruction.reference, f"M{seme}", "MTCH//MACH", None, day))
        if number % 7 == 3:
            messages.append(
                _status(instruction.reference, f"F{seme}", "SETT//PENF", "PENF//LACK", day)
            )
        elif number == 1:
            quantity = int(instruction.quantity) // 2 or 1
            amount = None
            if instruction.settlement_amount is not None:
                share = (
                    int(instruction.settlement_amount.replace(".", ""))
                    * quantity
                    // int(instruction.quantity)
                )
                amount = f"{share // 100}.{share % 100:02d}"
            messages.append(
                _confirmation(instruction, f"P{seme}", str(quantity), amount, partial=True)
            )
        else:
            messages.append(
                _confirmation(
                    instruction,
                    f"S{seme}",
                    instruction.quantity,
                    instruction.settlement_amount,
                    partial=False,
                )
            )
    messages.append(_status("OBNOSUCHTHING00", "MCUST999999", "MTCH//MACH", None, day))
    rng.shuffle(messages[1:])
    status_path = work / "custodian-statuses.fin"
    status_path.write_text("\r\n$\r\n".join(messages) + "\r\n")
    with staff.act("settlement.status") as ops:
        applied = apply_statuses(store, read_settlement_messages(status_path), actor=ops.login)
    say(
        f"settlement status {status_path}: {applied.received} messages, {applied.applied} applied "
        f"({applied.settled} settled in full), {applied.quarantined} quarantined"
    )
    for problem in applied.problems:
        say(f"  quarantined {problem.describe()}")
    as_of = day + dt.timedelta(days=5)
    failing = fails(store, as_of)
    say(f"settlement fails --as-of {as_of}: {len(failing)} fails")
    for row in failing:
        say(
            f"  {row['obligation_id']} {row['counterparty']} {row['isin']} {row['direction']} "
            f"{row['quantity_due']} due, {row['age_days']} settlement days old ({row['bucket']}), "
            f"{row['status']}: {row['reason'] or ''}"
        )
    return SettlementReport(
        obligations=netted.net_count,
        instructed=len(instructed.new),
        settled=applied.settled,
        fails=len(failing),
        problems=[],
    )
