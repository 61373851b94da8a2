"""The console script as a user and a script meet it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BACKOFFICE = str(Path(sys.executable).with_name("backoffice"))
REFDATA = """
assets:   [{code: USD, kind: currency, scale: 2}, {code: US0378331005, kind: security, scale: 0, name: Apple Inc}]
parties:  [{code: C0001, kind: client, name: Ada Client}, {code: FIRM, kind: firm}]
accounts:
  - {code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001, flags: [debits_must_not_exceed_credits]}
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
"""
GOOD = (
    '{"key": "trade-42", "date": "2026-11-24", "description": "deposit", "reference": "PMT1",'
    ' "postings": [{"account": "firm/bank/USD", "amount": "1902.50"},'
    ' {"account": "client/C0001/cash/USD", "amount": "-1902.50"}]}'
)
BAD_NUMBER = GOOD.replace('"key": "trade-42"', '"key": "t2"').replace('"1902.50"', "1902.5")
NOT_JSON = '{"key": "t3", "date": '


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "BACKOFFICE_DB"} | (env or {})
    return subprocess.run(
        [BACKOFFICE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def ready(database_url: str, tmp_path: Path) -> str:
    (tmp_path / "refdata.yaml").write_text(REFDATA)
    result = run("--db", database_url, "refdata", "load", "refdata.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return database_url


def test_posting_a_file_prints_the_stable_json_summary_and_exits_zero(
    ready: str, tmp_path: Path
) -> None:
    (tmp_path / "entries.jsonl").write_text(GOOD + "\n")
    result = run("--db", ready, "ledger", "post", "entries.jsonl", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"created": 1, "existing": 0, "failed": 0, "errors": []}
    again = run("--db", ready, "ledger", "post", "entries.jsonl", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["existing"] == 1


def test_failed_lines_name_line_key_and_reason_and_the_exit_status_is_not_zero(
    ready: str, tmp_path: Path
) -> None:
    (tmp_path / "entries.jsonl").write_text("\n".join([GOOD, BAD_NUMBER, NOT_JSON]) + "\n")
    result = run("--db", ready, "ledger", "post", "entries.jsonl", "--json", cwd=tmp_path)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["existing"], summary["failed"]) == (1, 0, 2)
    errors = {error["line"]: error for error in summary["errors"]}
    assert errors[2]["key"] == "t2"
    assert "amount_not_a_string" in errors[2]["error"]
    assert "postings[0].amount" in errors[2]["error"]
    assert errors[3]["key"] is None
    assert "malformed_json" in errors[3]["error"]
    quarantine = run("--db", ready, "ledger", "quarantine", "--json", cwd=tmp_path)
    assert sorted(item["line"] for item in json.loads(quarantine.stdout)["items"]) == [2, 3]


def test_balances_and_trial_balance_print_decimal_strings(ready: str, tmp_path: Path) -> None:
    (tmp_path / "entries.jsonl").write_text(GOOD + "\n")
    run("--db", ready, "ledger", "post", "entries.jsonl", cwd=tmp_path)
    balances = json.loads(run("--db", ready, "ledger", "balances", "--json", cwd=tmp_path).stdout)
    assert balances == [
        {"account": "client/C0001/cash/USD", "asset": "USD", "balance": "-1902.50"},
        {"account": "firm/bank/USD", "asset": "USD", "balance": "1902.50"},
    ]
    early = run("--db", ready, "ledger", "balances", "--json", "--as-of", "2026-11-23",
                "--account", "firm/bank/USD", cwd=tmp_path)  # fmt: skip
    assert json.loads(early.stdout) == [
        {"account": "firm/bank/USD", "asset": "USD", "balance": "0.00"}
    ]
    trial = json.loads(run("--db", ready, "ledger", "trial-balance", "--json", cwd=tmp_path).stdout)
    assert trial == [{"asset": "USD", "debits": "1902.50", "credits": "1902.50", "net": "0.00"}]
    verified = run("--db", ready, "ledger", "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr


def test_the_database_comes_from_the_environment_or_defaults_to_a_local_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "refdata.yaml").write_text(REFDATA)
    assert run("refdata", "load", "refdata.yaml", cwd=tmp_path).returncode == 0
    assert (tmp_path / "backoffice.db").exists()
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    result = run("refdata", "load", "refdata.yaml", cwd=tmp_path, env={"BACKOFFICE_DB": elsewhere})
    assert result.returncode == 0
    assert (tmp_path / "other.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ledger", "post", "missing.jsonl"), "unreadable_file"),
        (("ledger", "balances", "--account", "nobody"), "unknown_account"),
        (("ledger", "balances", "--as-of", "24/11/2026"), "invalid_date"),
        (("--db", "nosuchdb://x", "ledger", "balances"), "bad_database_url"),
        (
            ("--db", "postgresql://nobody@127.0.0.1:1/none", "ledger", "balances"),
            "database_unavailable",
        ),
    ],
)
def test_every_error_is_one_clear_line_with_a_non_zero_exit(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_the_demo_builds_a_verified_day_and_prints_a_trial_balance_that_nets_to_zero(
    tmp_path: Path,
) -> None:
    result = run("demo", "--entries", "400", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the books hold" in result.stderr
    assert "Trial balance" in result.stderr
    assert result.stdout.splitlines()[0].split("\t") == ["asset", "debits", "credits", "net"]
    again = run("demo", "--entries", "400", cwd=tmp_path)  # its own file is made afresh
    assert again.returncode == 0, again.stderr
    demo = ("--db", "sqlite:///backoffice-demo.db")
    ops = ("--token-file", ".backoffice-demo/tokens/ops")
    verified = run(*demo, *ops, "ledger", "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    # Made by one user and approved by another: a correction and a reference-data change.
    audit = ("--token-file", ".backoffice-demo/tokens/compliance", "audit", "list", "--json")
    listed = run(*demo, *audit, "--outcome", "approved", cwd=tmp_path)
    approved = json.loads(listed.stdout)["items"]
    assert sorted(event["permission"] for event in approved) == [
        "recon.correction.approve", "refdata.change.approve",
    ]  # fmt: skip
    assert {event["actor"] for event in approved} == {"supervisor"}
    assert {event["detail"]["maker"] for event in approved} == {"ops"}
    assert "audit verify: " in result.stderr
    assert "the chain holds" in result.stderr
    # As the OS user, the person who ran the demo is its admin: no business permissions.
    refused = run(*demo, "ledger", "balances", cwd=tmp_path)
    assert "forbidden: admin lacks ledger.read" in refused.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(ready: str, tmp_path: Path) -> None:
    (tmp_path / "entries.jsonl").write_text(GOOD + "\n")
    run("--db", ready, "ledger", "post", "entries.jsonl", cwd=tmp_path)
    script = f"{BACKOFFICE} --db '{ready}' ledger entries --json | head -c 1"
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.stdout == "{"  # a page: {"items": [...], "next": ...}
    assert "Traceback" not in result.stderr
    assert "error" not in result.stderr
