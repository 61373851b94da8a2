"""`backoffice settlement ...` as a user and a script meet it: JSON, files, exit statuses.

The commands run in this process through the console script's entry point
(`backoffice.cli.main.run`), against the same database the `store` fixture opens.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from backoffice.formats.sese023 import validate_sese023
from backoffice.ledger.verify import verify_ledger
from backoffice.store.engine import Store
from tests.cli_runner import Cli, Outcome
from tests.settling import (
    MICROSOFT,
    SETTLES,
    by_counterparty_and_isin,
    import_trades,
    load_settlement_desk,
    mt54x_confirmation,
    obligations,
    trade,
)
from tests.trading import APPLE, TOTAL, balance_of

DATE = "2026-01-16"
ISSUE_KEYS = {
    "mode", "settlement_date", "gross_count", "gross_value", "net_count", "net_value",
    "obligations",
}  # fmt: skip
ISSUE_OBLIGATION_KEYS = {
    "obligation_id", "counterparty", "isin", "settlement_date", "currency", "quantity",
    "cash_amount", "trade_ids",
}  # fmt: skip


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    """The settlement desk with five trades settling on DATE: GS and MS, Apple and Microsoft."""
    load_settlement_desk(store, tmp_path)
    import_trades(
        store,
        tmp_path,
        trade("E1", account="C1", quantity="100", price="10.00", counterparty="GS"),
        trade("E2", account="C2", side="SELL", quantity="40", price="10.50", counterparty="GS"),
        trade("E3", account="C3", quantity="30", price="10.20", counterparty="MS"),
        trade("E4", account="C1", isin=MICROSOFT, side="SELL", quantity="50", price="20.00"),
        trade("E5", account="C2", isin=MICROSOFT, quantity="20", price="21.00", counterparty="MS"),
    )
    return store


def ok(outcome: Outcome) -> Outcome:
    assert outcome.status == 0, outcome.stderr
    return outcome


def files_of(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


# --- net --------------------------------------------------------------------------------------


def test_settlement_net_json_prints_the_issue_keys_as_decimal_strings_seen_from_the_firm(
    desk: Store, cli: Cli
) -> None:
    printed = ok(cli("settlement", "net", "--date", DATE, "--json")).json()
    assert set(printed) >= ISSUE_KEYS
    assert (printed["mode"], printed["settlement_date"]) == ("bilateral", DATE)
    assert (printed["gross_count"], printed["net_count"]) == (5, 4)
    assert (printed["gross_value"], printed["net_value"]) == (
        {"USD": "3146.00"},
        {"USD": "2306.00"},
    )
    rows = {(row["counterparty"], row["isin"]): row for row in printed["obligations"]}
    for row in rows.values():
        assert set(row) >= ISSUE_OBLIGATION_KEYS
        for name in ("quantity", "cash_amount"):
            assert isinstance(row[name], str)
            assert str(Decimal(row[name])) == row[name]  # a plain decimal string
        assert (row["settlement_date"], row["currency"]) == (DATE, "USD")
    gs_apple = rows["GS", APPLE]
    assert (gs_apple["quantity"], gs_apple["cash_amount"], gs_apple["trade_ids"]) == (
        "60",
        "-580.00",
        ["E1", "E2"],
    )
    gs_microsoft = rows["GS", MICROSOFT]  # the firm delivers 50 and receives 1,000.00
    assert (gs_microsoft["quantity"], gs_microsoft["cash_amount"]) == ("-50", "1000.00")
    ccp = ok(cli("settlement", "net", "--date", DATE, "--mode", "ccp", "--json")).json()
    assert (ccp["mode"], ccp["net_count"], ccp["net_value"]) == ("ccp", 2, {"USD": "1466.00"})
    assert {row["counterparty"] for row in ccp["obligations"]} == {"NSCC"}


def test_settlement_net_in_ccp_mode_with_two_ccps_needs_the_ccp_option(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    load_settlement_desk(
        desk, tmp_path, extra="parties:\n  - {code: LCH, kind: ccp, name: Another CCP}\n"
    )
    refused = cli("settlement", "net", "--date", DATE, "--mode", "ccp", "--json")
    assert refused.status == 1
    assert "error: choose_ccp:" in refused.stderr
    assert refused.stdout == ""
    chosen = ok(cli("settlement", "net", "--date", DATE, "--mode", "ccp", "--ccp", "LCH", "--json"))
    assert {row["counterparty"] for row in chosen.json()["obligations"]} == {"LCH"}
    wrong = cli("settlement", "net", "--date", DATE, "--mode", "cns")
    assert (wrong.status, "error: invalid_mode:" in wrong.stderr) == (1, True)
    bad_date = cli("settlement", "net", "--date", "16/01/2026")
    assert (bad_date.status, "error: invalid_date:" in bad_date.stderr) == (1, True)


def test_settlement_net_without_json_prints_a_table_and_the_netting_figures(
    desk: Store, cli: Cli
) -> None:
    shown = ok(cli("settlement", "net", "--date", DATE))
    assert "GS" in shown.stdout
    assert "NSCC" not in shown.stdout
    assert "USD: 5 trades worth 3146.00 net to 4 obligations worth 2306.00" in shown.stderr


# --- instruct ---------------------------------------------------------------------------------


def test_settlement_instruct_writes_valid_sese023_documents_and_the_same_files_on_a_rerun(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    ids = sorted(row["obligation_id"] for row in obligations_after_netting(cli))
    out = tmp_path / "sese023"
    first = ok(cli("settlement", "instruct", "--date", DATE, "--format", "sese023", "-o", str(out)))
    assert "4 new instructions, 0 cancellations, 0 exceptions; 4 files" in first.stderr
    written = files_of(out)
    assert sorted(written) == [f"{reference}.xml" for reference in ids]
    for document in written.values():
        assert validate_sese023(document) == []
    assert all(b"urn:iso:std:iso:20022:tech:xsd:sese.023.001.11" in d for d in written.values())
    again = ok(cli("settlement", "instruct", "--date", DATE, "--format", "sese023", "-o", str(out)))
    assert "0 new instructions" in again.stderr
    assert files_of(out) == written
    elsewhere = tmp_path / "again"
    ok(cli("settlement", "instruct", "--date", DATE, "--format", "sese023", "-o", str(elsewhere)))
    assert files_of(elsewhere) == written


def test_settlement_instruct_in_mt54x_writes_one_message_per_instruction_and_the_cancellations(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    obligations_after_netting(cli)
    out = tmp_path / "fin"
    ok(cli("settlement", "instruct", "--date", DATE, "--format", "mt54x", "-o", str(out)))
    (name,) = files_of(out)
    assert name == f"instructions-{DATE}.fin"
    text = (out / name).read_bytes().decode("ascii")
    assert text.count("{1:") == 4
    assert (text.count("{2:I541"), text.count("{2:I543")) == (3, 1)
    assert text.count(":23G:NEWM") == 4
    old = by_counterparty_and_isin(obligations(desk))["GS", APPLE]["obligation_id"]
    import_trades(
        desk,
        tmp_path,
        trade(
            "X2", exec_type="H", ref="E2", account="C2", side="SELL", quantity="40", price="10.50"
        ),
    )
    cancelled = ok(
        cli("settlement", "instruct", "--date", DATE, "--format", "mt54x", "-o", str(out))
    )
    assert "0 new instructions, 1 cancellations" in cancelled.stderr
    text = (out / name).read_bytes().decode("ascii")
    assert (text.count("{1:"), text.count(":23G:CANC")) == (5, 1)
    assert f":20C::PREV//{old}" in text
    assert f":20C::SEME//CX{old[2:]}" in text
    assert obligations(desk)[old]["status"] == "cancelled"
    bad = cli("settlement", "instruct", "--date", DATE, "--format", "mt103", "-o", str(out))
    assert (bad.status, "error: invalid_format:" in bad.stderr) == (1, True)


def obligations_after_netting(cli: Cli) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(cli("settlement", "net", "--date", DATE, "--json")).json()[
        "obligations"
    ]
    return rows


# --- status -----------------------------------------------------------------------------------


def test_settlement_status_books_mt545_and_mt547_confirmations_and_quarantines_the_unknown(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    obligations_after_netting(cli)
    ok(cli("settlement", "instruct", "--date", DATE, "--format", "mt54x", "-o", str(tmp_path)))
    rows = by_counterparty_and_isin(obligations(desk))
    receipt, delivery = rows["GS", APPLE]["obligation_id"], rows["GS", MICROSOFT]["obligation_id"]
    partial = rows["MS", APPLE]["obligation_id"]
    day = SETTLES
    messages = [
        # GS delivers 60 Apple against 580.00; the firm delivers 50 Microsoft against 1,000.00.
        mt54x_confirmation("545", "CONF1", receipt, quantity="60,", amount="USD580,", settled_on=day),
        mt54x_confirmation("547", "CONF2", delivery, quantity="50,", amount="USD1000,", settled_on=day),
        # MS delivers 10 of 30 Apple: a third of 306.00.
        mt54x_confirmation(
            "545", "CONF3", partial, quantity="10,", amount="USD102,", settled_on=day, partial="PAIN"
        ),
    ]  # fmt: skip
    path = tmp_path / "confirmations.fin"
    path.write_bytes("\r\n$\r\n".join(messages).encode("ascii"))
    applied = ok(cli("settlement", "status", str(path), "--json"))
    assert applied.json() == [
        {
            "file": str(path), "received": 3, "applied": 3, "settled": 2, "existing": 0,
            "quarantined": 0,
        }
    ]  # fmt: skip
    balances = balance_of(desk)
    assert balances[f"firm/depository/{APPLE}"] == 70  # 60 from GS, 10 from MS
    assert balances[f"firm/depository/{MICROSOFT}"] == -50
    assert balances["firm/nostro/USD"] == -58_000 + 100_000 - 10_200
    stored = obligations(desk)
    assert (stored[receipt]["status"], stored[delivery]["status"]) == ("settled", "settled")
    assert (stored[partial]["status"], stored[partial]["settled_quantity_minor"]) == (
        "partially_settled",
        10,
    )
    replayed = ok(cli("settlement", "status", str(path), "--json"))
    assert (replayed.json()[0]["existing"], replayed.json()[0]["applied"]) == (3, 0)
    assert balance_of(desk) == balances
    stranger = tmp_path / "stranger.fin"
    stranger.write_bytes(
        mt54x_confirmation(
            "545", "CONF9", "OB00000000000000", quantity="1,", amount="USD1,", settled_on=day
        ).encode("ascii")
    )
    refused = cli("settlement", "status", str(stranger))
    assert refused.status == 1
    assert "unknown_instruction" in refused.stderr
    quarantine = ok(cli("settlement", "quarantine", "--json")).json()["items"]
    assert [[p["code"] for p in item["problems"]] for item in quarantine] == [
        ["unknown_instruction"]
    ]
    assert quarantine[0]["file"] == str(stranger)
    assert ":20C::SEME//CONF9" in quarantine[0]["raw"]
    assert verify_ledger(desk) == []


# --- fails and penalties ----------------------------------------------------------------------


def test_settlement_fails_json_lists_the_unsettled_obligations_aged_in_settlement_days(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    obligations_after_netting(cli)
    ok(cli("settlement", "instruct", "--date", DATE, "--format", "mt54x", "-o", str(tmp_path)))
    assert ok(cli("settlement", "fails", "--as-of", DATE, "--json")).json()["items"] == []
    # Monday 2026-01-19 is Martin Luther King Jr. Day: Tuesday the 20th is the first settlement
    # day after Friday the 16th.
    printed = ok(cli("settlement", "fails", "--as-of", "2026-01-20", "--json")).json()["items"]
    assert len(printed) == 4
    assert {(row["age_days"], row["bucket"]) for row in printed} == {(1, "1-3")}
    rows = {(row["counterparty"], row["isin"]): row for row in printed}
    assert {k: rows["GS", MICROSOFT][k] for k in ("direction", "quantity_due", "cash_due")} == {
        "direction": "deliver",
        "quantity_due": "-50",  # the firm delivers
        "cash_due": "1000.00",
    }
    assert rows["GS", APPLE]["status"] == "instructed"
    shown = ok(cli("settlement", "fails", "--as-of", "2026-01-20"))
    assert "4 fails as of 2026-01-20" in shown.stderr
    # A page at a time: two of four, then the other two, each once.
    first = ok(cli("settlement", "fails", "--as-of", "2026-01-20", "--limit", "2", "--json"))
    second = ok(
        cli("settlement", "fails", "--as-of", "2026-01-20", "--after", first.json()["next"],
            "--limit", "2", "--json")
    ).json()  # fmt: skip
    paged = [row["obligation_id"] for row in first.json()["items"] + second["items"]]
    assert sorted(paged) == sorted(row["obligation_id"] for row in printed)
    assert len(set(paged)) == 4
    assert second["next"] is None


def test_settlement_penalties_json_prices_the_months_fails_and_exits_one_for_a_missing_price(
    store: Store, cli: Cli, tmp_path: Path
) -> None:
    load_settlement_desk(store, tmp_path)
    # The firm sells 333 TotalEnergies to GS, due Wednesday 2026-03-04, never settled.
    import_trades(
        store,
        tmp_path,
        trade("S1", isin=TOTAL, currency="EUR", venue="XPAR", trade_date="2026-03-02",
              account="C2", side="SELL", quantity="333", price="50.00"),
    )  # fmt: skip
    ok(cli("settlement", "net", "--date", "2026-03-04"))
    ok(cli("settlement", "instruct", "--date", "2026-03-04", "-o", str(tmp_path / "out")))
    prices = tmp_path / "prices.csv"
    prices.write_text(f"isin,date,price,currency\n{TOTAL},2026-03-02,50.00,EUR\n")
    printed = ok(
        cli("settlement", "penalties", "--month", "2026-03", "--prices", str(prices), "--json")
    )
    # Still failing at the end of March: every TARGET2 business day from Wed 4 to Tue 31
    # March, 20 days, at 333 x 50.00 x 1 bp = 1.665 -> 1.67 a day: 33.40, paid by the firm.
    ((line,), problems) = printed.json()["lines"], printed.json()["problems"]
    assert problems == []
    assert {k: v for k, v in line.items() if k != "reference"} == {
        "isin": TOTAL,
        "counterparty": "GS",
        "currency": "EUR",
        "cause": "lack_of_securities",
        "failing_party": "firm",
        "days": 20,
        "amount": "33.40",
        "firm_amount": "-33.40",
    }
    unpriced = tmp_path / "other-prices.csv"
    unpriced.write_text(f"isin,date,price,currency\n{APPLE},2026-03-02,10.00,USD\n")
    missing = cli(
        "settlement", "penalties", "--month", "2026-03", "--prices", str(unpriced), "--json"
    )
    assert missing.status == 1
    assert missing.json()["lines"] == []
    assert "missing_reference_price" in missing.json()["problems"][0]
    bad_month = cli("settlement", "penalties", "--month", "March", "--prices", str(prices))
    assert (bad_month.status, "error: invalid_month:" in bad_month.stderr) == (1, True)
