"""`backoffice trades ...` as a user and a script meet it: exit statuses, JSON, files.

The commands run in this process through the console script's own entry point
(`backoffice.cli.main.run`, error handling included), which keeps the suite fast; one test runs
the installed script in a real process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import simplefix

from backoffice.store.engine import Store, open_store
from backoffice.trades.service import quarantined
from tests.cli_runner import Cli
from tests.test_cli import run as run_script
from tests.trading import (
    APPLE,
    execution,
    heartbeat,
    load_desk,
    snapshot,
    table_rows,
    write_log,
)

ISSUE_KEYS = {
    "trade_id", "account", "isin", "side", "quantity", "price", "trade_date", "settlement_date",
    "gross_amount", "commission", "fees", "net_amount", "status",
}  # fmt: skip
CSV_HEADER = "trade_id,account,isin,side,quantity,price,currency,trade_date,venue,counterparty\n"


@pytest.fixture
def desk(store: Store, tmp_path: Path) -> Store:
    load_desk(store, tmp_path)
    return store


def trades_csv(path: Path, *rows: str) -> Path:
    path.write_text(CSV_HEADER + "".join(row + "\n" for row in rows))
    return path


# --- Import, quarantine, resubmit -------------------------------------------------------------


def test_import_exits_zero_when_everything_is_captured_and_one_when_anything_is_quarantined(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "day.log", [heartbeat(), execution("E1"), execution("E2")])
    good = cli("trades", "import", str(log))
    assert good.status == 0, good.stderr
    assert "2 captured" in good.stderr
    assert "0 quarantined" in good.stderr
    again = cli("trades", "import", str(log), "--json")  # already captured: still fine
    assert again.status == 0
    assert again.json() == [
        {
            "file": str(log), "messages": 2, "captured": 0, "blocks": 0, "cancelled": 0,
            "corrected": 0, "existing": 2, "quarantined": 0,
        }
    ]  # fmt: skip
    csv = trades_csv(
        tmp_path / "more.csv",
        f"T1,C2,{APPLE},BUY,10,10.00,USD,2026-01-15,XNYS,GS",
        f"T2,NOBODY,{APPLE},BUY,10,10.00,USD,2026-01-15,XNYS,GS",
    )
    bad = cli("trades", "import", str(csv))
    assert bad.status == 1
    assert "unknown_account" in bad.stderr
    assert "1 captured" in bad.stderr
    assert "1 quarantined" in bad.stderr
    listed = cli("trades", "quarantine", "--json")
    assert listed.status == 0
    (item,) = listed.json()["items"]
    assert (item["kind"], item["file"], item["line"]) == ("trades.import", str(csv), 3)
    assert [p["code"] for p in item["problems"]] == ["unknown_account"]
    assert item["raw"].startswith("T2,NOBODY,")
    assert [t["trade_id"] for t in cli("trades", "list", "--json").json()["items"]] == [
        "E1",
        "E2",
        "T1",
    ]


def test_a_repaired_message_resubmitted_is_captured_and_its_item_resolved(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "day.log", [execution("E1", account="NOBODY")])
    assert cli("trades", "import", str(log)).status == 1
    (item,) = quarantined(desk)
    still_bad = cli("trades", "resubmit", str(item.id), str(log))
    assert still_bad.status == 1
    assert "resubmission_refused" in still_bad.stderr
    assert not quarantined(desk, include_resolved=True)[0].resolved
    repaired = write_log(tmp_path / "repaired.log", [execution("E1", account="C1")])
    done = cli("trades", "resubmit", str(item.id), str(repaired))
    assert done.status == 0, done.stderr
    assert [t["trade_id"] for t in cli("trades", "list", "--json").json()["items"]] == ["E1"]
    assert cli("trades", "quarantine", "--json").json()["items"] == []
    resolved = cli("trades", "quarantine", "--all", "--json").json()["items"]
    assert [(i["id"], i["resolved"]) for i in resolved] == [(item.id, True)]
    again = cli("trades", "resubmit", str(item.id), str(repaired))
    assert again.status == 1
    assert "already_resolved" in again.stderr
    assert cli("trades", "verify").status == 0


def test_a_crash_between_storing_the_repaired_message_and_resolving_its_item_leaves_neither(
    desk: Store, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = write_log(tmp_path / "day.log", [execution("E1", account="NOBODY")])
    assert cli("trades", "import", str(log)).status == 1
    (item,) = quarantined(desk)
    repaired = write_log(tmp_path / "repaired.log", [execution("E1", account="C1")])

    def power_cut(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut after the trade was stored")

    with monkeypatch.context() as patched:
        patched.setattr("backoffice.trades.resubmission_service.mark_resolved", power_cut)
        crashed = cli("trades", "resubmit", str(item.id), str(repaired))
    assert crashed.status != 0
    # Neither the trade nor the resolution: the item can simply be resubmitted again.
    assert cli("trades", "list", "--json").json()["items"] == []
    assert not quarantined(desk, include_resolved=True)[0].resolved
    assert cli("trades", "resubmit", str(item.id), str(repaired)).status == 0
    assert [t["trade_id"] for t in cli("trades", "list", "--json").json()["items"]] == ["E1"]


def test_a_resubmission_still_refused_leaves_no_second_quarantine_item(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "day.log", [execution("E1", account="NOBODY")])
    assert cli("trades", "import", str(log)).status == 1
    (item,) = quarantined(desk)
    still_bad = write_log(tmp_path / "still-bad.log", [execution("E1", account="NOBODY2")])
    refused = cli("trades", "resubmit", str(item.id), str(still_bad))
    assert refused.status == 1
    assert "unknown_account" in refused.stderr  # the reason is still told
    assert [i.id for i in quarantined(desk, include_resolved=True)] == [item.id]


def test_resubmitting_a_file_that_does_not_hold_the_repaired_message_resolves_nothing(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "day.log", [execution("E1"), execution("E2", account="NOBODY")])
    cli("trades", "import", str(log))
    (item,) = quarantined(desk)
    unrelated = write_log(tmp_path / "unrelated.log", [execution("E1")])  # already captured
    result = cli("trades", "resubmit", str(item.id), str(unrelated))
    assert result.status == 1
    assert not quarantined(desk, include_resolved=True)[0].resolved


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary_file"),
        (
            (
                CSV_HEADER.replace(",", ";")
                + f"T1;C1;{APPLE};BUY;10;10.00;USD;2026-01-15;XNYS;GS\n"
            ).encode(),
            "wrong_delimiter",
        ),
    ],
    ids=["binary", "semicolons"],
)
def test_a_file_that_is_not_a_trades_file_is_one_clear_error_and_nothing_is_stored(
    desk: Store, cli: Cli, tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "trades.csv"
    path.write_bytes(content)
    before = snapshot(desk)
    result = cli("trades", "import", str(path))
    assert result.status == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert code in lines[0]
    assert str(path) in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(desk) == before
    assert quarantined(desk) == []


# --- Listing ----------------------------------------------------------------------------------


def test_list_json_has_the_issues_keys_with_amounts_as_decimal_strings_and_filters_by_date(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "day.log",
        [
            execution("E1", quantity="1000"),
            execution("E2", account="C2", side="SELL", quantity="500", price="20.00"),
            execution("E3", trade_date="2026-01-16"),
            execution("X3", exec_type="H", ref="E3", trade_date="2026-01-16"),
        ],
    )
    cli("trades", "import", str(log))
    rows = cli("trades", "list", "--json").json()["items"]
    assert [row["trade_id"] for row in rows] == ["E1", "E2", "E3"]  # not the cancel itself
    for row in rows:
        assert set(row) >= ISSUE_KEYS
    e2 = rows[1]
    assert {key: e2[key] for key in ISSUE_KEYS} == {
        "trade_id": "E2",
        "account": "C2",
        "isin": APPLE,
        "side": "SELL",
        "quantity": "500",
        "price": "20.00",
        "trade_date": "2026-01-15",
        "settlement_date": "2026-01-16",
        "gross_amount": "10000.00",
        "commission": "10.00",
        "fees": "0.09",
        "net_amount": "9989.91",
        "status": "booked",
    }
    assert rows[2]["status"] == "cancelled"
    on_the_15th = cli("trades", "list", "--date", "2026-01-15", "--json").json()["items"]
    assert [row["trade_id"] for row in on_the_15th] == ["E1", "E2"]
    assert cli("trades", "list", "--date", "2026-01-17", "--json").json()["items"] == []
    wrong = cli("trades", "list", "--date", "15/01/2026")
    assert wrong.status == 1
    assert "invalid_date" in wrong.stderr
    table = cli("trades", "list")
    assert table.status == 0
    assert "E1" in table.stdout


# --- Allocation, confirmation, affirmation ----------------------------------------------------


def test_allocate_exits_one_when_an_instruction_is_quarantined(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "day.log",
        [
            execution("B1", account="IM", price="10.01"),
            execution("B2", account="IM", price="10.03"),
        ],
    )
    assert cli("trades", "import", str(log)).status == 0
    path = tmp_path / "allocations.csv"
    path.write_text("alloc_id,trade_id,account,quantity\nA1,B1;B2,C1,150\nA1,B1;B2,C2,40\n")
    short = cli("trades", "allocate", str(path), "--json")
    assert short.status == 1
    assert short.json()["quarantined"] == 1
    assert "quantities_do_not_add_up" in short.json()["problems"][0]
    path.write_text("alloc_id,trade_id,account,quantity\nA2,B1;B2,C1,150\nA2,B1;B2,C2,50\n")
    done = cli("trades", "allocate", str(path), "--json")
    assert done.status == 0, done.stderr
    assert (done.json()["allocated"], done.json()["quarantined"]) == (1, 0)
    listed = cli("trades", "list", "--allocations", "--json").json()["items"]
    # 200 shares for 1001.00 + 1003.00 = 2004.00 at 10.02: 1503.00 and 501.00.
    assert [(a["client"], a["gross_amount"], a["price"]) for a in listed] == [
        ("C1", "1503.00", "10.020000"),
        ("C2", "501.00", "10.020000"),
    ]
    assert cli("trades", "verify").status == 0


def fix_fields(line: bytes) -> dict[int, str]:
    parser = simplefix.FixParser()
    parser.append_buffer(line)
    message = parser.get_message()
    assert message is not None
    return {int(tag): value.decode() for tag, value in message.pairs}


def test_confirm_writes_html_pdf_and_a_fix_confirmation_log_and_keeps_the_ids_on_a_rerun(
    desk: Store, cli: Cli, tmp_path: Path, database_url: str
) -> None:
    cli("trades", "import", str(write_log(tmp_path / "d.log", [execution("E1"), execution("E2", account="C2")])))  # fmt: skip
    out = tmp_path / "confirmations"
    # A PDF takes a second to render: once is enough, on SQLite.
    pdf = database_url.startswith("sqlite")
    result = cli(
        "trades", "confirm", "--date", "2026-01-15", "-o", str(out), *(() if pdf else ("--no-pdf",))
    )
    assert result.status == 0, result.stderr
    log = out / "confirmations-2026-01-15.fix"
    messages = [fix_fields(line + b"\x01") for line in log.read_bytes().splitlines()]
    assert [m[35] for m in messages] == ["AK", "AK"]
    ids = [m[664] for m in messages]
    assert len(set(ids)) == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [log.name] + [f"{i}.html" for i in ids] + ([f"{i}.pdf" for i in ids] if pdf else [])
    )
    if pdf:
        assert (out / f"{ids[0]}.pdf").read_bytes().startswith(b"%PDF")
    assert "1,005.00" in (out / f"{ids[0]}.html").read_text()  # what C1 pays for E1
    rerun_dir = tmp_path / "again"
    rerun = cli("trades", "confirm", "--date", "2026-01-15", "-o", str(rerun_dir), "--no-pdf")
    assert rerun.status == 0
    again = [
        fix_fields(line + b"\x01")[664] for line in (rerun_dir / log.name).read_bytes().splitlines()
    ]
    assert again == ids
    assert not list(rerun_dir.glob("*.pdf"))
    statuses = {t["trade_id"]: t["status"] for t in cli("trades", "list", "--json").json()["items"]}
    assert statuses == {"E1": "confirmed", "E2": "confirmed"}


def test_affirm_and_unaffirmed_through_the_cli(desk: Store, cli: Cli, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "day.log",
        [execution("E1"), execution("E2", account="C2"), execution("B1", account="IM")],
    )
    cli("trades", "import", str(log))
    cli("trades", "confirm", "--date", "2026-01-15", "-o", str(tmp_path / "out"), "--no-pdf")
    ids = {row["trade_id"]: row["confirm_id"] for row in table_rows(desk, "allocations")}
    answers = tmp_path / "answers.csv"
    answers.write_text(f"confirm_id,status\n{ids['E1']},affirmed\nCNF-NOPE,affirmed\n")
    result = cli("trades", "affirm", str(answers))
    assert result.status == 1
    assert "unknown_confirmation" in result.stderr
    (item,) = cli("trades", "quarantine", "--json").json()["items"]
    assert (item["kind"], item["line"]) == ("trades.affirm", 3)
    open_items = cli("trades", "unaffirmed", "--date", "2026-01-15", "--json")
    assert open_items.status == 0
    assert [(row["kind"], row["id"], row["confirm_id"]) for row in open_items.json()["items"]] == [
        ("allocation", "E2", ids["E2"]),
        ("block", "B1", None),
    ]
    # One a page: the allocation, then (across the two kinds) the block, then no more.
    first = cli("trades", "unaffirmed", "--date", "2026-01-15", "--limit", "1", "--json").json()
    assert [row["id"] for row in first["items"]] == ["E2"]
    second = cli(
        "trades", "unaffirmed", "--date", "2026-01-15", "--limit", "1", "--after", first["next"],
        "--json",
    ).json()  # fmt: skip
    assert ([row["id"] for row in second["items"]], second["next"]) == (["B1"], None)
    assert cli("trades", "unaffirmed", "--date", "2026-01-15", "--after", "x9").status == 1
    one = cli("trades", "affirm", "--confirm-id", ids["E2"], "--status", "affirmed")
    assert one.status == 0, one.stderr
    left = cli("trades", "unaffirmed", "--date", "2026-01-15", "--json").json()["items"]
    assert [row["id"] for row in left] == ["B1"]


# --- Verify -----------------------------------------------------------------------------------


def test_verify_exits_zero_when_the_books_tie_out_and_one_naming_each_difference(
    desk: Store, cli: Cli, tmp_path: Path
) -> None:
    cli("trades", "import", str(write_log(tmp_path / "d.log", [execution("E1")])))
    assert cli("trades", "verify").status == 0
    with desk.write() as connection:
        connection.exec_driver_sql("UPDATE allocations SET commission_minor = 0")
    result = cli("trades", "verify")
    assert result.status == 1
    assert "net_amount_wrong" in result.stderr
    assert "booking_differs" in result.stderr
    assert "Traceback" not in result.stderr


# --- The installed script ---------------------------------------------------------------------


def test_the_installed_script_imports_a_log_and_exits_one_on_a_quarantined_message(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'books.db'}"
    books = open_store(database)
    try:
        load_desk(books, tmp_path)
    finally:
        books.dispose()
    write_log(tmp_path / "day.log", [execution("E1"), execution("E2", account="NOBODY")])
    result = run_script("--db", database, "trades", "import", "day.log", "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)[0]["captured"] == 1
    assert json.loads(result.stdout)[0]["quarantined"] == 1
