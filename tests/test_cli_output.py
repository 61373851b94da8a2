"""What people and pipes read from the CLI: tables in full when piped, stored text escaped.

The commands run in this process (tests/cli_runner.py), so stdout is not a terminal, as in
`backoffice ledger balances | cat`."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from rich.console import Console

from backoffice.cli import output
from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_BANK, USD, load_books
from tests.cli_runner import Cli

LONG_ACCOUNT = CLIENT_OPEN[USD]
BIG = "174999999.99"
HOSTILE = "\x1b[2J\x1b[31mPWNED\x1b[0m\rfake"


def deposit(store: Store, key: str, amount: str, description: str = "deposit") -> None:
    request = EntryRequest(
        key=key,
        effective_date=dt.date(2026, 11, 16),
        description=description,
        postings=(
            PostingRequest(FIRM_BANK[USD], amount),
            PostingRequest(LONG_ACCOUNT, f"-{amount}"),
        ),
    )
    (result,) = post_entries(store, [request], actor="test").results
    assert result.outcome is EntryOutcome.CREATED, result.problems


def test_piped_balances_show_every_account_code_and_amount_in_full(store: Store, cli: Cli) -> None:
    load_books(store)
    deposit(store, "big-deposit", BIG)
    shown = cli("ledger", "balances")
    assert shown.status == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split("\t") == ["account", "asset", "balance", "debits", "credits", "pending"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows[LONG_ACCOUNT][2] == f"-{BIG}"
    assert rows[FIRM_BANK[USD]][2:4] == [BIG, BIG]
    assert "…" not in shown.stdout


def test_piped_entries_list_every_posting_in_full(store: Store, cli: Cli) -> None:
    load_books(store)
    deposit(store, "big-deposit", BIG, description="a description longer than forty chars, kept")
    shown = cli("ledger", "entries")
    assert shown.status == 0, shown.stderr
    assert "a description longer than forty chars, kept" in shown.stdout
    assert f"{LONG_ACCOUNT} -{BIG}" in shown.stdout


def test_a_table_on_a_narrow_terminal_folds_long_cells_and_never_cuts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "stdout", Console(file=screen, force_terminal=True, width=40))
    table = output.Listing("account", "note", "balance", amounts=("balance",))
    table.add_row("client/C0001/cash/USD-with-a-long-tail", "x" * 50, BIG)
    table.print()
    text = screen.getvalue()
    assert "…" not in text
    assert BIG in text
    assert "".join(ch for ch in text if ch == "x") == "x" * 50


def test_control_characters_in_an_older_description_are_shown_escaped(
    store: Store, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_books(store)
    # Stored as the ledger did before it refused control characters (older data): the
    # checks of today switched off for this one posting.
    with monkeypatch.context() as before:
        before.setattr("backoffice.ledger.rules.text_problem", lambda value: None)
        before.setattr("backoffice.ledger.rules._plain", lambda text: True)
        deposit(store, "hostile", "1.00", description=HOSTILE)
    shown = cli("ledger", "entries")
    assert shown.status == 0, shown.stderr
    assert "\x1b" not in shown.stdout
    assert "\r" not in shown.stdout
    assert "\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x0dfake" in shown.stdout
    as_json = cli("ledger", "entries", "--json")
    assert as_json.json()["items"][0]["description"] == HOSTILE


def test_escaping_keeps_tab_for_people_and_escapes_it_for_tsv() -> None:
    assert output.shown("a\tb\x07\x9b") == "a\tb\\x07\\x9b"
    assert output.shown("a\tb", tab=True) == "a\\x09b"


def test_an_error_naming_a_file_with_control_characters_shows_them_escaped(
    store: Store, cli: Cli
) -> None:
    load_books(store)
    refused = cli("ledger", "post", "\x1b[2Jday\r.jsonl")
    assert refused.status == 1
    assert "\x1b" not in refused.stderr
    assert "\r" not in refused.stderr
    assert "\\x1b[2Jday\\x0d.jsonl" in refused.stderr


def test_a_message_in_square_brackets_is_printed_as_is_not_read_as_markup(
    store: Store, cli: Cli, tmp_path: Path
) -> None:
    load_books(store)
    named = tmp_path / "[red]day.jsonl"
    named.write_text("")
    posted = cli("ledger", "post", str(named))
    assert posted.status == 0, posted.stderr
    assert f"{named}: 0 created" in posted.stderr
