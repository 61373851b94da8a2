"""The demo's trading day: executions in, through capture, allocation, confirmation and
affirmation, to the books, through the same doors as real work (files and services).

The front office's FIX log holds the day's fills for the demo's clients, session messages,
a cancel and a correction, three fills of a block for an investment manager, and a few bad
messages (a broken checksum, an unknown ISIN, a Sunday trade date, an unknown counterparty, a
cut-off line, a cancel of a trade that does not exist, a sale of shares the client does not
hold). Then an allocation instruction (FIX 35=J) splits the block, confirmations are written
(a FIX 35=AK log and an HTML document each; PDFs for the first few), and the clients'
ConfirmationAcks (35=AU) affirm most of them, reject one, and leave a few unanswered.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import simplefix

from backoffice.demo_staff import Staff
from backoffice.errors import Problem
from backoffice.formats.affirmations import read_affirmations
from backoffice.formats.allocations import read_allocations
from backoffice.formats.confirmations import write_confirmation_documents
from backoffice.formats.fix_log import read_fix_log
from backoffice.ledger.reports import balances
from backoffice.store.engine import Store
from backoffice.trades.affirmation_service import affirm
from backoffice.trades.allocation_service import allocate
from backoffice.trades.confirmation_service import confirm, write_confirmations
from backoffice.trades.queries import unaffirmed
from backoffice.trades.service import import_executions
from backoffice.trades.verify import verify_trades

# Where each demo security trades (a MIC with a calendar); Toyota trades in Tokyo, whose
# calendar the back office does not carry, so the demo leaves it out of the FIX log.
MARKETS = {
    "US0378331005": "XNAS",
    "US5949181045": "XNAS",
    "US02079K3059": "XNAS",
    "DE0007164600": "XETR",
    "FR0000120271": "XPAR",
    "GB0007980591": "XLON",
}
COUNTERPARTIES = ("GSCO", "MSCO", "JPMS")
INVESTMENT_MANAGER = "IM01"
documents_with_pdf = 3


@dataclass(frozen=True, slots=True)
class TradingReport:
    captured: int
    quarantined: int
    allocations: int
    confirmations: int
    affirmed: int
    unaffirmed: int
    problems: list[Problem]


def _message(fields: list[tuple[int, str]], msg_type: str = "8") -> str:
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4")
    message.append_pair(35, msg_type)
    for tag, value in fields:
        message.append_pair(tag, value)
    encoded: bytes = message.encode()
    return encoded.replace(b"\x01", b"|").decode()


def _session(seq: int, msg_type: str) -> str:
    return _message([(49, "OMS"), (56, "BACKOFFICE"), (34, str(seq))], msg_type)


def _fill(
    exec_id: str,
    account: str,
    isin: str,
    side: str,
    quantity: int,
    price: str,
    currency: str,
    day: dt.date,
    counterparty: str,
    *,
    exec_type: str = "F",
    ref: str | None = None,
    venue: str | None = None,
) -> str:
    fields = [(17, exec_id), (150, exec_type)]
    if ref is not None:
        fields.append((19, ref))
    fields += [
        (37, f"ORD-{exec_id}"), (1, account), (48, isin), (22, "4"), (54, side),
        (32, str(quantity)), (31, price), (15, currency), (75, day.strftime("%Y%m%d")),
        (30, venue or MARKETS.get(isin, "XNAS")), (60, day.strftime("%Y%m%d") + "-15:45:10.125"),
        (453, "1"), (448, counterparty), (452, "17"),
    ]  # fmt: skip
    return _message(fields)


def _execution_log(
    rng: random.Random,
    day: dt.date,
    clients: list[str],
    securities: dict[str, tuple[str, str, str]],
    holdings: dict[tuple[str, str], int],
    cash: dict[tuple[str, str], int],
    count: int,
) -> str:
    lines = [_session(1, "A")]
    traded = [isin for isin in securities if isin in MARKETS]
    for n in range(1, count + 1):
        client = rng.choice(clients)
        isin = rng.choice(traded)
        _, currency, price = securities[isin]
        quantity = rng.randint(1, 20) * 5
        held = holdings.get((client, isin), 0)
        sell = held >= quantity and rng.random() < 0.4
        # What a buy costs, in minor units, with room for commission: the front office does
        # not send orders a client cannot pay for (the one that slips through is below).
        cost = quantity * int(price.replace(".", "")) * 102 // 100
        if not sell and cash.get((client, currency), 0) < cost:
            continue
        if sell:
            holdings[client, isin] = held - quantity
        else:
            cash[client, currency] -= cost
        lines.append(
            _fill(f"EX{n:06d}", client, isin, "2" if sell else "1", quantity, price, currency,
                  day, rng.choice(COUNTERPARTIES))
        )  # fmt: skip
        if n % 50 == 0:
            lines.append(_session(n, "0"))  # heartbeats, ignored
    # A cancel and a correction from the front office.
    lines.append(
        _fill("EX900001", clients[0], "US0378331005", "1", 10, "228.52", "USD", day, "GSCO")
    )
    lines.append(_fill("EX900002", clients[0], "US0378331005", "1", 10, "228.52", "USD", day, "GSCO",
                       exec_type="H", ref="EX900001"))  # fmt: skip
    lines.append(
        _fill("EX900003", clients[1], "US5949181045", "1", 20, "415.10", "USD", day, "MSCO")
    )
    lines.append(_fill("EX900004", clients[1], "US5949181045", "1", 25, "415.05", "USD", day, "MSCO",
                       exec_type="G", ref="EX900003"))  # fmt: skip
    # A block for the investment manager, allocated later.
    for n, (quantity, price) in enumerate(((300, "415.01"), (500, "415.07"), (200, "415.13")), 1):
        lines.append(_fill(f"BLK{n:03d}", INVESTMENT_MANAGER, "US5949181045", "1", quantity,
                           price, "USD", day, "GSCO"))  # fmt: skip
    # Bad messages, as real feeds have.
    good = _fill("BAD001", clients[2], "US0378331005", "1", 10, "228.52", "USD", day, "GSCO")
    lines.append(good.rsplit("|10=", 1)[0] + "|10=000|")  # a checksum that does not add up
    lines.append(_fill("BAD002", clients[2], "US0000000000", "1", 10, "10.00", "USD", day, "GSCO"))
    sunday = day - dt.timedelta(days=(day.weekday() + 1) % 7 or 7)
    lines.append(
        _fill("BAD003", clients[3], "US0378331005", "1", 10, "228.52", "USD", sunday, "GSCO")
    )
    lines.append(
        _fill("BAD004", clients[3], "US0378331005", "1", 10, "228.52", "USD", day, "NOBODY")
    )
    lines.append(
        _fill("BAD005", clients[4], "US0378331005", "1", 10, "228.52", "USD", day, "GSCO")[:90]
    )
    lines.append(_fill("BAD006", clients[4], "US0378331005", "1", 10, "228.52", "USD", day, "GSCO",
                       exec_type="H", ref="NO-SUCH-TRADE"))  # fmt: skip
    lines.append(
        _fill("BAD007", clients[5], "GB0007980591", "2", 9_999_995, "3.91", "GBP", day, "JPMS")
    )
    lines.append(_session(count + 1, "5"))
    return "\n".join(lines) + "\n"


def _allocation_message(day: dt.date, clients: list[str]) -> str:
    fields = [
        (70, "ALLOC-IM01-1"), (71, "0"), (54, "1"), (48, "US5949181045"), (22, "4"),
        (53, "1000"), (75, day.strftime("%Y%m%d")), (124, "3"),
        (17, "BLK001"), (17, "BLK002"), (17, "BLK003"),
        (78, "3"), (79, clients[0]), (80, "500"), (79, clients[1]), (80, "300"),
        (79, clients[2]), (80, "200"),
    ]  # fmt: skip
    return _message(fields, "J") + "\n"


def _acks(rng: random.Random, confirm_ids: list[str], day: dt.date) -> tuple[str, int]:
    lines = []
    answered = 0
    for n, confirm_id in enumerate(confirm_ids):
        if n % 17 == 5:
            continue  # the client has not answered yet
        status = "2" if n == 3 else "3"
        fields = [(664, confirm_id), (75, day.strftime("%Y%m%d")),
                  (60, day.strftime("%Y%m%d") + "-19:30:00"), (940, status)]  # fmt: skip
        if status == "2":
            fields += [(774, "1"), (58, "price differs from our records")]
        lines.append(_message(fields, "AU"))
        answered += 1
    rng.shuffle(lines)
    return "\n".join(lines) + "\n", answered


def run_trading_day(
    store: Store,
    work: Path,
    day: dt.date,
    clients: list[str],
    securities: dict[str, tuple[str, str, str]],
    *,
    executions: int,
    seed: int,
    staff: Staff,
    say: Callable[[str], None],
) -> TradingReport:
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    holdings = {
        (line.account.split("/")[1], line.account.split("/")[3]): -line.balance.posted_minor
        for line in balances(store)
        if line.account.startswith("client/") and "/securities/" in line.account
    }
    fix_path = work / "executions.fix"
    cash = {
        (line.account.split("/")[1], line.account.split("/")[3]): -line.balance.posted_minor
        for line in balances(store)
        if line.account.startswith("client/") and "/cash/" in line.account
    }
    richest = sorted(clients, key=lambda client: -cash.get((client, "USD"), 0))
    fix_path.write_text(_execution_log(rng, day, clients, securities, holdings, cash, executions))
    with staff.act("trades.import") as ops:
        captured = import_executions(store, read_fix_log(fix_path), actor=ops.login)
    say(
        f"trades {fix_path}: {captured.messages} executions: {captured.captured} captured "
        f"({captured.blocks} block fills), {captured.cancelled} cancelled, "
        f"{captured.corrected} corrected, {captured.quarantined} quarantined"
    )
    for problem in captured.problems:
        say(f"  quarantined {problem.describe()}")
    allocation_path = work / "allocations.fix"
    allocation_path.write_text(_allocation_message(day, richest[:3]))
    with staff.act("trades.allocate") as ops:
        allocated = allocate(store, read_allocations(allocation_path), actor=ops.login)
    say(f"allocations {allocation_path}: {allocated.done} blocks allocated")
    for problem in allocated.problems:
        say(f"  quarantined {problem.describe()}")
    with staff.act("trades.confirm") as ops:
        details = confirm(store, day, actor=ops.login)
    directory = work / "confirmations"
    write_confirmations(details, directory, day, pdf=False)
    write_confirmation_documents(details[:documents_with_pdf], directory, pdf=True)
    say(
        f"confirmations: {len(details)} (FIX 35=AK log and HTML in {directory}, "
        f"PDF for the first {min(len(details), documents_with_pdf)})"
    )
    acks_path = work / "confirmation-acks.fix"
    text, _ = _acks(rng, [d.confirm_id for d in details], day)
    acks_path.write_text(text)
    with staff.act("trades.affirm") as ops:
        affirmed = affirm(store, read_affirmations(acks_path), actor=ops.login)
    still_open = unaffirmed(store, day)
    say(
        f"affirmations {acks_path}: {affirmed.done} recorded; {len(still_open)} not affirmed "
        f"by the end of {day} (trades unaffirmed --date {day})"
    )
    problems = verify_trades(store)
    say(
        "trades verify: "
        + ("the books tie out to the trades" if not problems else f"{len(problems)} problems")
    )
    return TradingReport(
        captured=captured.captured,
        quarantined=captured.quarantined,
        allocations=allocated.done,
        confirmations=len(details),
        affirmed=affirmed.done,
        unaffirmed=len(still_open),
        problems=problems,
    )
