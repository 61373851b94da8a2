"""Every command that writes leaves exactly one audit record, in the transaction of its
writes; a command that exports or reports client data leaves one; a command that only reads
leaves none.

The commands are enumerated from the Typer app: a new command that is neither run by one of
the scenarios below nor named read-only fails `test_every_command_is_covered`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer.main

from backoffice.cli.main import app
from backoffice.refdata.service import load_refdata
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import FIRM_HOUSE, USD, reference_data
from tests.cli_runner import Cli, Outcome, staff
from tests.settling import load_settlement_desk, mt54x_confirmation, obligations
from tests.settling import trade as settlement_trade
from tests.test_recon_cli import IBAN, MONDAY, NOSTRO, book, camt053, entry
from tests.trading import allocation_instruction, execution, load_desk, table_rows, write_log

Command = tuple[str, ...]
# A scenario yields argument lists and is sent each one's outcome.
Scenario = Callable[[Store, Path], Generator[list[str], Outcome, None]]

READ_ONLY: set[Command] = {
    ("db", "current"), ("refdata", "list"), ("ledger", "balances"), ("ledger", "trial-balance"),
    ("ledger", "verify"), ("ledger", "quarantine"), ("ledger", "entries"),
    ("trades", "list"), ("trades", "quarantine"), ("trades", "unaffirmed"), ("trades", "verify"),
    ("settlement", "fails"), ("settlement", "quarantine"),
    ("recon", "quarantine"), ("recon", "statements"), ("recon", "breaks"),
    ("audit", "list"), ("audit", "verify"), ("users", "list"), ("roles", "list"),
    ("approvals", "list"), ("approvals", "show"), ("refdata", "history"),
}  # fmt: skip
# Reads of client data: audited, one record each.
AUDITED_READS: set[Command] = {
    ("ledger", "export"), ("settlement", "penalties"), ("audit", "export"),
}  # fmt: skip
OUTSIDE: dict[Command, str] = {
    ("demo",): "builds a fresh database of its own (its services audit as above)",
    ("serve",): "serves the API; each request is a command audited as above (tests/test_api.py)",
}
# Who acts in a scenario step given as ["as:LOGIN", ...]: made with a token when first needed.
# Once staff exist, a step without "as:" runs as bob, who may read everything.
STAFF = {"alice": "operations", "bob": "supervisor,compliance", "carol": "supervisor"}
# Commands that may leave other than one record (none today: a resubmission's import, allocation
# or affirmation is held into the trades.resubmit record).
EXPECTED_RECORDS: dict[Command, int] = {}
SCENARIOS: dict[str, tuple[Scenario, set[Command]]] = {}


def scenario(*covers: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[function.__name__] = (function, {tuple(c.split()) for c in covers})
        return function

    return register


def every_command() -> set[Command]:
    found: set[Command] = set()

    def walk(command: Any, path: Command) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.add(path)

    walk(typer.main.get_command(app), ())
    return found


def command_of(args: list[str]) -> Command:
    words = list(args)
    while words and words[0].startswith("--"):
        del words[:2]  # a global option and its value
    known = every_command()
    for length in (3, 2, 1):
        if tuple(words[:length]) in known:
            return tuple(words[:length])
    raise AssertionError(f"no command in {args}")


def audit_records(store: Store) -> int:
    with store.read() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(schema.audit_log))
        return int(count.scalar_one())


def recon_books(store: Store) -> None:
    """tests/books.py's reference data, the firm's USD bank account at a German IBAN."""
    refdata = reference_data()
    refdata.accounts = [
        dataclasses.replace(a, external_account=IBAN if a.code == NOSTRO else None)
        for a in refdata.accounts
    ]
    load_refdata(store, refdata, actor="test", source="tests/test_cli_audit.py")


# --- Scenarios --------------------------------------------------------------------------------


@scenario(
    "refdata load", "ledger post", "ledger reverse", "ledger post-pending", "ledger void-pending",
    "ledger expire-pending", "recon import", "recon run", "recon break", "recon resolve match",
    "recon resolve propose", "recon resolve approve", "recon resolve reject",
    "approvals list", "approvals show", "approvals approve", "approvals reject",
    "refdata history", "audit export",
    "db current", "refdata list", "ledger balances", "ledger trial-balance", "ledger verify",
    "ledger quarantine", "ledger entries", "ledger export", "recon quarantine",
    "recon statements", "recon breaks", "audit list", "audit verify",
)  # fmt: skip
def books_and_recon(store: Store, tmp_path: Path) -> Generator[list[str], Outcome, None]:
    recon_books(store)
    more = tmp_path / "more-refdata.yaml"
    more.write_text(
        "parties: [{code: C9, kind: client, name: Late Client}]\n"
        "accounts: [{code: client/C9/cash/USD, type: liability, asset: USD, owner: C9}]\n"
        "approval_policies: [{permission: recon.correction.propose, rule: always, approvers: 2}]\n"
    )
    yield ["refdata", "load", str(more)]
    entries = tmp_path / "entries.jsonl"
    lines = [
        {"key": "dep-1", "date": "2026-11-16", "description": "deposit", "postings": [
            {"account": NOSTRO, "amount": "10.00"}, {"account": "client/C9/cash/USD", "amount": "-10.00"}]},
    ] + [
        {"key": f"hold-{n}", "date": "2026-11-16", "description": "hold", "pending": True,
         **({"timeout_seconds": 1} if n == 3 else {}), "postings": [
            {"account": NOSTRO, "amount": "1.00"}, {"account": "client/C9/cash/USD", "amount": "-1.00"}]}
        for n in (1, 2, 3)
    ]  # fmt: skip
    entries.write_text("".join(json.dumps(line) + "\n" for line in lines))
    yield ["ledger", "post", str(entries)]
    yield ["ledger", "reverse", "dep-1", "--key", "dep-1-reversed"]
    yield ["ledger", "post-pending", "hold-1", "--key", "hold-1-posted"]
    yield ["ledger", "void-pending", "hold-2", "--key", "hold-2-voided"]
    import time

    time.sleep(1.1)  # hold-3's timeout of one second passes
    yield ["ledger", "expire-pending"]
    # A fee the books lack (a break to correct) and a receipt under another reference (a
    # statement break and a books break to match by hand).
    book(store, "OUR-REF-1", "250.00")
    statement = camt053(
        tmp_path / "monday.xml", "STMT-1", "0.00", "245.00",
        entry("250.00", "THEIR-9"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    yield ["recon", "import", str(statement)]
    ran = yield ["recon", "run", "--date", str(MONDAY), "--json"]
    found = {(row["type"], row["amount"]): row["break_id"] for row in ran.json()["breaks"]}
    fee = found["missing_in_books", "-5.00"]
    yield ["recon", "break", fee, "--owner", "bob", "--status", "investigating", "--comment", "x"]
    yield ["recon", "resolve", "match", found["missing_in_books", "250.00"],
           found["missing_in_statement", "250.00"]]  # fmt: skip
    correction = [
        "recon", "resolve", "propose", fee, "--posting", f"{NOSTRO}=-5.00",
        "--posting", f"{FIRM_HOUSE[USD]}=5.00", "--description", "bank fee", "--json",
    ]  # fmt: skip
    first = yield ["as:alice", *correction]
    approval = str(first.json()["approval_id"])
    yield ["as:bob", "approvals", "list", "--for-me"]
    yield ["as:bob", "approvals", "show", approval]
    yield ["as:bob", "approvals", "reject", approval, "--reason", "wrong account"]
    second = yield ["as:alice", *correction]
    yield ["as:bob", "recon", "resolve", "reject", str(second.json()["correction_id"])]
    third = yield ["as:alice", *correction]
    yield ["as:bob", "approvals", "approve", str(third.json()["approval_id"])]  # one of two
    yield ["as:carol", "recon", "resolve", "approve", str(third.json()["correction_id"])]
    for reading in (  # noqa: UP028  (not `yield from`: each step is sent its outcome)
        ["db", "current"], ["refdata", "list"], ["ledger", "balances"],
        ["ledger", "trial-balance"], ["ledger", "verify"], ["ledger", "quarantine"],
        ["ledger", "entries"], ["ledger", "export", "--format", "csv", "-o", str(tmp_path / "x.csv")],
        ["recon", "quarantine"], ["recon", "statements"], ["recon", "breaks"],
        ["audit", "list"], ["audit", "verify"], ["refdata", "history", "client/C9/cash/USD"],
        ["audit", "export", "--from", "2026-01-01", "--to", "2030-12-31", "-o", str(tmp_path / "a")],
    ):  # fmt: skip
        yield reading


@scenario(
    "trades import", "trades resubmit", "trades allocate", "trades confirm", "trades affirm",
    "trades list", "trades quarantine", "trades unaffirmed", "trades verify",
)  # fmt: skip
def trading(store: Store, tmp_path: Path) -> Generator[list[str], Outcome, None]:
    load_desk(store, tmp_path)
    day_log = write_log(
        tmp_path / "day.log",
        [execution("E1"), execution("B1", account="IM"), execution("E9", account="NOBODY")],
    )
    refused = yield ["trades", "import", str(day_log)]
    assert refused.status == 1  # E9 quarantined: the import still wrote, and is audited once
    (item,) = (row for row in table_rows(store, "quarantine") if not row["resolved"])
    repaired = write_log(tmp_path / "repaired.log", [execution("E9", account="C1")])
    yield ["trades", "resubmit", str(item["id"]), str(repaired)]
    instruction = write_log(
        tmp_path / "alloc.log", [allocation_instruction("A1", ["B1"], [("C1", "100")])]
    )
    yield ["trades", "allocate", str(instruction)]
    yield ["trades", "confirm", "--date", "2026-01-15", "-o", str(tmp_path / "c"), "--no-pdf"]
    confirm_id = next(r["confirm_id"] for r in table_rows(store, "allocations") if r["confirm_id"])
    yield ["trades", "affirm", "--confirm-id", confirm_id]
    for reading in (  # noqa: UP028  (not `yield from`: each step is sent its outcome)
        ["trades", "list"], ["trades", "quarantine"],
        ["trades", "unaffirmed", "--date", "2026-01-15"], ["trades", "verify"],
    ):  # fmt: skip
        yield reading


@scenario(
    "settlement net", "settlement instruct", "settlement status",
    "settlement fails", "settlement penalties", "settlement quarantine",
)  # fmt: skip
def settling(store: Store, tmp_path: Path) -> Generator[list[str], Outcome, None]:
    load_settlement_desk(store, tmp_path)
    log = write_log(
        tmp_path / "street.log",
        [settlement_trade("E1", account="C1", quantity="100", price="10.00", counterparty="GS")],
    )
    (tmp_path / "t").mkdir()
    yield ["trades", "import", str(log)]
    yield ["settlement", "net", "--date", "2026-01-16"]
    yield ["settlement", "instruct", "--date", "2026-01-16", "-o", str(tmp_path / "i")]
    (obligation,) = obligations(store)
    confirmation = tmp_path / "confirmation.fin"
    confirmation.write_text(
        mt54x_confirmation(
            "545", "CONF1", obligation, quantity="100,", amount="USD1000,",
            settled_on=dt.date(2026, 1, 16),
        )
    )  # fmt: skip
    yield ["settlement", "status", str(confirmation)]
    prices = tmp_path / "prices.csv"
    prices.write_text("isin,date,price,currency\n")
    for reading in (  # noqa: UP028  (not `yield from`: each step is sent its outcome)
        ["settlement", "fails", "--as-of", "2026-01-20"],
        ["settlement", "penalties", "--month", "2026-03", "--prices", str(prices)],
        ["settlement", "quarantine"],
    ):
        yield reading


@scenario(
    "db upgrade", "users add", "users list", "users roles", "users token", "users revoke-token",
    "users password", "users disable", "roles list", "roles load",
)  # fmt: skip
def identity(store: Store, tmp_path: Path) -> Generator[list[str], Outcome, None]:
    roles = tmp_path / "roles.yaml"
    roles.write_text("roles:\n  treasury:\n    permissions: [ledger.read, ledger.post]\n")
    yield ["db", "upgrade"]
    yield ["users", "add", "root-admin", "--name", "First Admin", "--role", "admin"]
    yield ["users", "add", "carol", "--name", "Carol", "--role", "operations"]
    yield ["users", "list"]
    yield ["roles", "load", str(roles)]
    yield ["roles", "list"]
    yield ["users", "roles", "carol", "--role", "treasury"]
    issued = yield ["users", "token", "carol"]
    yield ["users", "revoke-token", issued.stdout.strip()[:12]]
    yield ["users", "password", "carol"]
    yield ["users", "disable", "carol"]


# --- Tests ------------------------------------------------------------------------------------


def test_every_command_is_covered_as_writing_or_read_only() -> None:
    covered = set().union(*(covers for _, covers in SCENARIOS.values()))
    assert every_command() - set(OUTSIDE) == covered
    assert covered >= READ_ONLY


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_writing_command_appends_exactly_one_audit_record_and_a_reading_one_none(
    name: str, store: Store, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    run, covers = SCENARIOS[name]
    steps = run(store, tmp_path)
    args = next(steps)
    ran: set[Command] = set()
    tokens: dict[str, str] = {}
    while True:
        login = args[0].removeprefix("as:") if args[0].startswith("as:") else None
        args = args[1:] if login else args
        if login and login not in tokens:
            tokens.update(staff(cli, **STAFF))
        token = tokens.get(login or "bob")
        before = audit_records(store)
        outcome = cli(*args, token=token)
        command = command_of(args)
        if command not in READ_ONLY | AUDITED_READS | {("trades", "import")}:
            assert outcome.status in (0, 3), (args, outcome.stderr)  # it wrote, or it waits
        expected = 0 if command in READ_ONLY else EXPECTED_RECORDS.get(command, 1)
        assert (args, audit_records(store) - before) == (args, expected), outcome.stderr
        ran.add(command)
        try:
            args = steps.send(outcome)
        except StopIteration:
            break
    assert covers <= ran
