"""`backoffice demo`: a fresh database, realistic reference data and a day of activity.

Everything goes through the same doors as real work: the reference data is written as a YAML
file and loaded with `refdata load`; the activity is written as an entries file (JSONL) and
posted with `ledger post`, including a few bad lines that end up in the quarantine; then the
day's executions run through trade capture, allocation, confirmation and affirmation
(`backoffice.demo_trades`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from backoffice.admin.approval_service import Parked, decide
from backoffice.admin.identity_service import list_users
from backoffice.demo_recon import run_recon_day
from backoffice.demo_settlement import run_settlement_day
from backoffice.demo_staff import Staff, hire_staff
from backoffice.demo_trades import COUNTERPARTIES, INVESTMENT_MANAGER, MARKETS, run_trading_day
from backoffice.errors import Problem, ProblemError
from backoffice.formats.refdata_file import read_refdata_text
from backoffice.ledger.reports import TrialBalanceLine, trial_balance
from backoffice.ledger.service import FileResult, post_file
from backoffice.ledger.verify import verify_ledger
from backoffice.refdata.change_service import change_refdata
from backoffice.refdata.service import list_refdata
from backoffice.store.audit_queries import verify_audit
from backoffice.store.engine import database_url, open_store

DEMO_URL = "sqlite:///backoffice-demo.db"
BUSINESS_DAY = dt.date(2026, 11, 24)
CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
# Real ISINs (their check digits are verified on load), with their trading currency and a price.
SECURITIES = {
    "US0378331005": ("Apple Inc", "USD", "228.52"),
    "US5949181045": ("Microsoft Corp", "USD", "415.10"),
    "US02079K3059": ("Alphabet Inc A", "USD", "171.33"),
    "DE0007164600": ("SAP SE", "EUR", "221.40"),
    "FR0000120271": ("TotalEnergies SE", "EUR", "55.87"),
    "GB0007980591": ("BP plc", "GBP", "3.91"),
    "JP3633400001": ("Toyota Motor Corp", "JPY", "2650"),
}
clients_count = 40


@dataclass(frozen=True, slots=True)
class DemoReport:
    url: str
    posted: FileResult
    trial_balance: list[TrialBalanceLine]
    problems: list[Problem]


def run_demo(db: str | None, *, entries: int, seed: int, say: Callable[[str], None]) -> DemoReport:
    url = database_url(db) if db or _env_db() else DEMO_URL
    if url == DEMO_URL:
        for suffix in ("", "-wal", "-shm"):
            Path(f"backoffice-demo.db{suffix}").unlink(missing_ok=True)
    store = open_store(url)
    if list_refdata(store)["accounts"] or list_users(store):
        raise ProblemError(
            Problem(
                "database_not_empty", f"{url} already holds accounts; the demo needs a fresh one"
            )
        )
    work = Path(".backoffice-demo")
    work.mkdir(exist_ok=True)
    staff = hire_staff(store, work)
    say(
        "users: admin (you, by your OS login), ops, supervisor, compliance; their tokens are in "
        f"{work / 'tokens'}"
    )
    refdata_path = work / "refdata.yaml"
    entries_path = work / "entries.jsonl"
    refdata_path.write_text(yaml.safe_dump(_refdata(), sort_keys=False))
    summary = _change_refdata(staff, refdata_path)
    say(f"reference data (as ops): {summary} records from {refdata_path}")
    lines = _activity(random.Random(seed), entries)  # noqa: S311 - demo data, not secrets
    entries_path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with staff.act("ledger.post") as ops:
        posted = post_file(store, entries_path, actor=ops.login)
    say(
        f"posted {entries_path}: {posted.created} entries created, {posted.existing} existing, "
        f"{posted.failed} lines quarantined"
    )
    for line, _key, problem in posted.failures:
        say(f"  quarantined line {line}: {problem.code}: {problem.reason}")
    clients = [f"C{n:04d}" for n in range(1, clients_count + 1)]
    trading = run_trading_day(
        store,
        work,
        BUSINESS_DAY,
        clients,
        SECURITIES,
        executions=max(entries // 10, 50),
        seed=seed,
        staff=staff,
        say=say,
    )
    settling = run_settlement_day(
        store, work, BUSINESS_DAY + dt.timedelta(days=1), seed=seed, staff=staff, say=say
    )
    run_recon_day(store, work, BUSINESS_DAY + dt.timedelta(days=1), staff=staff, say=say)
    _change_an_ssi(staff, work, say)
    audit = verify_audit(store)
    problems = verify_ledger(store) + trading.problems + settling.problems + list(audit.problems)
    say("ledger verify: " + ("the books hold" if not problems else f"{len(problems)} problems"))
    say(
        f"audit verify: {audit.events} events, the chain holds"
        if not audit.problems
        else f"audit verify: {audit.problems[0].describe()}"
    )
    say(f"database: {url}")
    say(f"  try: backoffice --db {url} --token-file {staff.token_files['ops']} ledger balances")
    say(f"       backoffice --db {url} --token-file {staff.token_files['compliance']} audit list")
    logins = ", ".join(f"{login} / {password}" for login, password in staff.passwords.items())
    say(f"  console: backoffice --db {url} serve, then open http://127.0.0.1:8000/ and log in")
    say(f"           as one of (login / password): {logins}")
    report = DemoReport(url, posted, trial_balance(store), problems)
    store.dispose()
    return report


def _change_refdata(staff: Staff, path: Path) -> str:
    """A reference-data file loaded by ops through the `refdata.change` command."""
    text = read_refdata_text(path)
    if not isinstance(text, str):
        raise ProblemError(*text.problems)
    with staff.act("refdata.change") as ops:
        done = change_refdata(staff.store, ops, text, source=str(path), csv_format=False)
    if isinstance(done, Parked):
        return f"awaiting approval {done.approval_id}"
    return f"{done.summary.created} created, {done.summary.changed} changed"


def _change_an_ssi(staff: Staff, work: Path, say: Callable[[str], None]) -> None:
    """Four-eyes on reference data: ops changes an SSI; it waits; the supervisor approves."""
    path = work / "ssi-change.yaml"
    ssi = {"party": "GSCO", "market": "XNYS", "place_of_settlement": "DTCYUS33",
           "agent": "GOLDUS33", "safekeeping_account": "DTC-0202"}  # fmt: skip
    path.write_text(yaml.safe_dump({"ssis": [ssi]}))
    said = _change_refdata(staff, path)
    say(f"refdata load {path} (as ops): GSCO's XNYS SSI changes; {said}")
    number = int(said.rsplit(" ", 1)[-1])
    with staff.act("approvals.decide", staff.supervisor) as supervisor:
        decided = decide(staff.store, supervisor, number, approve=True, reason="checked with GSCO")
    say(f"approvals approve {number} (as supervisor): {decided.result['changed']} record changed")


def _env_db() -> str | None:
    import os

    return os.environ.get("BACKOFFICE_DB")


def _refdata() -> dict[str, Any]:
    assets: list[dict[str, Any]] = [
        {"code": code, "kind": "currency", "scale": scale} for code, scale in CURRENCIES.items()
    ]
    assets += [
        {"code": isin, "kind": "security", "scale": 0, "name": name, "currency": currency}
        | ({"market": MARKETS[isin]} if isin in MARKETS else {})
        for isin, (name, currency, _) in SECURITIES.items()
    ]
    parties: list[dict[str, Any]] = [
        {"code": "FIRM", "kind": "firm", "name": "Backoffice Demo Securities LLC"},
        {"code": "BANK-JPM", "kind": "bank", "name": "JPMorgan Chase Bank"},
        {"code": "CUST-BNY", "kind": "custodian", "name": "BNY Custody"},
        {"code": "NSCC", "kind": "ccp", "name": "National Securities Clearing Corp"},
    ]
    parties += [
        {"code": code, "kind": "counterparty", "name": name}
        for code, name in zip(
            COUNTERPARTIES,
            ("Goldman Sachs & Co. LLC", "Morgan Stanley & Co. LLC", "J.P. Morgan Securities LLC"),
            strict=True,
        )
    ]
    parties.append(
        {"code": INVESTMENT_MANAGER, "kind": "client", "name": "Demo Asset Management (blocks)",
         "allocates": True}
    )  # fmt: skip
    # Commission schedules: a per-share rate with a minimum ticket for most clients, basis
    # points for some, none for a few (they pay no commission).
    for n in range(1, clients_count + 1):
        party: dict[str, Any] = {"code": f"C{n:04d}", "kind": "client", "name": f"Demo Client {n}"}
        if n % 5 == 0:
            party["commission"] = {"currency": "USD", "bps": "5", "minimum": "10.00"}
        elif n % 7 != 0:
            party["commission"] = {"currency": "USD", "per_share": "0.01", "minimum": "1.00"}
        parties.append(party)
    accounts: list[dict[str, Any]] = []
    for number, currency in enumerate(CURRENCIES, start=1):
        accounts += [
            {"code": f"firm/bank/{currency}", "type": "asset", "asset": currency,
             "owner": "BANK-JPM", "external_account": f"DE89370400440532013{number:03d}"},
            {"code": f"firm/capital/{currency}", "type": "equity", "asset": currency, "owner": "FIRM"},
            {"code": f"firm/income/commission/{currency}", "type": "income", "asset": currency,
             "owner": "FIRM"},
            {"code": f"firm/expense/bank-fees/{currency}", "type": "expense", "asset": currency,
             "owner": "FIRM"},
        ]  # fmt: skip
    for isin in SECURITIES:
        accounts.append(
            {"code": f"firm/custody/{isin}", "type": "asset", "asset": isin, "owner": "CUST-BNY",
             "external_account": "BNY-SAFE-0042"}
        )  # fmt: skip
    for n in range(1, clients_count + 1):
        client = f"C{n:04d}"
        for currency in CURRENCIES:
            accounts.append(
                {"code": f"client/{client}/cash/{currency}", "type": "liability",
                 "asset": currency, "owner": client, "flags": ["debits_must_not_exceed_credits"]}
            )  # fmt: skip
        for isin in SECURITIES:
            accounts.append(
                {"code": f"client/{client}/securities/{isin}", "type": "liability",
                 "asset": isin, "owner": client, "flags": ["debits_must_not_exceed_credits"]}
            )  # fmt: skip
    ssis = [
        {"party": party, "market": market, "place_of_settlement": "DTCYUS33", "agent": agent,
         "safekeeping_account": f"DTC-{number:04d}"}
        for number, (party, agent) in enumerate(
            (("FIRM", "IRVTUS3N"), ("GSCO", "GOLDUS33"), ("MSCO", "MSNYUS33"), ("JPMS", "CHASUS33")), 1)
        for market in ("XNYS", "XNAS")
    ]  # fmt: skip
    # Changes to SSIs, fee rates and accounts wait for a second person once this is loaded.
    policies = [
        {"permission": "refdata.change", "rule": "always",
         "sections": ["ssis", "fee_rates", "accounts"]},
    ]  # fmt: skip
    return {
        "assets": assets,
        "parties": parties,
        "accounts": accounts,
        "ssis": ssis,
        "approval_policies": policies,
    }


def _amount(minor: int, scale: int) -> str:
    from backoffice.money import format_amount

    return format_amount(minor, scale)


def _activity(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """A day at an agency broker: funding, client buys and sells with commission, withdrawals
    reserved then paid out, a bank fee, a correction by reversal, and a few bad lines."""
    day = BUSINESS_DAY.isoformat()
    lines: list[dict[str, Any]] = []
    cash: dict[tuple[str, str], int] = {}
    holdings: dict[tuple[str, str], int] = {}
    clients = [f"C{n:04d}" for n in range(1, clients_count + 1)]

    def post(
        key: str, description: str, postings: list[tuple[str, int, int]], **extra: Any
    ) -> None:
        lines.append(
            {"key": key, "date": day, "description": description,
             "postings": [{"account": a, "amount": _amount(m, s)} for a, m, s in postings], **extra}
        )  # fmt: skip

    for currency, scale in CURRENCIES.items():
        capital = 50_000_000 * 10**scale
        post(f"capital/{currency}", f"Paid-in capital in {currency}",
             [(f"firm/bank/{currency}", capital, scale), (f"firm/capital/{currency}", -capital, scale)])  # fmt: skip
    for client in clients:
        for currency, scale in CURRENCIES.items():
            minor = rng.randint(50_000, 2_000_000) * 10**scale
            cash[client, currency] = minor
            post(f"deposit/{client}/{currency}", f"Client deposit {client}",
                 [(f"firm/bank/{currency}", minor, scale), (f"client/{client}/cash/{currency}", -minor, scale)],
                 reference=f"PMT{rng.randrange(10**9):09d}")  # fmt: skip
    sequence = 0
    while len(lines) < count:
        sequence += 1
        client = rng.choice(clients)
        isin = rng.choice(list(SECURITIES))
        _, currency, price = SECURITIES[isin]
        scale = CURRENCIES[currency]
        roll = rng.random()
        if roll < 0.08:
            # A withdrawal: reserved first (two-phase), then paid out, or voided on a recall.
            minor = rng.randint(1, 500) * 100 * 10**scale
            if cash[client, currency] < minor:
                continue
            key = f"withdrawal/{sequence}"
            post(key, f"Withdrawal request {client}",
                 [(f"client/{client}/cash/{currency}", minor, scale), (f"firm/bank/{currency}", -minor, scale)],
                 pending=True, timeout_seconds=86_400)  # fmt: skip
            if rng.random() < 0.8:
                cash[client, currency] -= minor
                lines.append({"key": f"{key}/paid", "post_pending": key})
            else:
                lines.append({"key": f"{key}/recalled", "void_pending": key})
            continue
        quantity = rng.randint(1, 40) * 10
        price_minor = int(price.replace(".", "")) if "." in price else int(price) * 10**scale
        price_scale = len(price.partition(".")[2])
        gross = quantity * price_minor * 10**scale // 10**price_scale
        commission = max(gross * 5 // 10_000, 1 * 10**scale)
        buy = roll < 0.6 or holdings.get((client, isin), 0) < quantity
        if buy and cash[client, currency] < gross + commission:
            continue
        key = f"trade/{sequence}"
        sign = 1 if buy else -1
        post(key, f"{'Buy' if buy else 'Sell'} {quantity} {SECURITIES[isin][0]} @ {price} for {client}",
             [(f"firm/custody/{isin}", sign * quantity, 0),
              (f"client/{client}/securities/{isin}", -sign * quantity, 0),
              (f"client/{client}/cash/{currency}", sign * gross + commission, scale),
              (f"firm/bank/{currency}", -sign * gross, scale),
              (f"firm/income/commission/{currency}", -commission, scale)],
             reference=f"EXEC{sequence:08d}", metadata={"isin": isin, "quantity": quantity})  # fmt: skip
        holdings[client, isin] = holdings.get((client, isin), 0) + sign * quantity
        cash[client, currency] -= sign * gross + commission
    # The bank charged a fee; a trade was booked twice by mistake and is reversed.
    post("bank-fee/USD", "Bank account maintenance fee",
         [("firm/expense/bank-fees/USD", 2500, 2), ("firm/bank/USD", -2500, 2)],
         reference="FEE20261124")  # fmt: skip
    post("deposit/C0001/USD/duplicate", "Client deposit C0001 (booked twice)",
         [("firm/bank/USD", 100_000, 2), ("client/C0001/cash/USD", -100_000, 2)])  # fmt: skip
    lines.append({"key": "deposit/C0001/USD/duplicate/reversal", "reverse": "deposit/C0001/USD/duplicate",
                  "description": "Correction: duplicate booking"})  # fmt: skip
    # Bad input, as real feeds have: each is quarantined with its line and reason.
    lines.append({"key": "bad/float", "date": day, "postings": [
        {"account": "firm/bank/USD", "amount": 10.1}, {"account": "firm/capital/USD", "amount": "-10.10"}]})  # fmt: skip
    lines.append({"key": "bad/unbalanced", "date": day, "postings": [
        {"account": "firm/bank/EUR", "amount": "100.00"}, {"account": "firm/capital/EUR", "amount": "-99.99"}]})  # fmt: skip
    lines.append({"key": "bad/overdraft", "date": day, "postings": [
        {"account": "client/C0002/cash/GBP", "amount": "99999999.00"}, {"account": "firm/bank/GBP", "amount": "-99999999.00"}]})  # fmt: skip
    lines.append({"key": "bad/unknown-account", "date": day, "postings": [
        {"account": "client/C9999/cash/USD", "amount": "1.00"}, {"account": "firm/bank/USD", "amount": "-1.00"}]})  # fmt: skip
    return lines
