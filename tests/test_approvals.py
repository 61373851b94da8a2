"""Four-eyes approval: a parked command stores nothing; its maker cannot approve it, nor can
one person be two of its approvers, nor anyone without the approval permission; the last
approval re-runs it against the state at that moment, and may fail saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import yaml

from backoffice.store import schema
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_HOUSE, USD
from tests.cli_runner import Cli, Outcome, staff
from tests.test_recon_cli import NOSTRO, breaks_by_id, fee_break, ledger_entry
from tests.test_recon_cli import books as recon_books

POLICIES = (
    "approval_policies:\n"
    "  - {permission: refdata.change, rule: always, sections: [accounts, ssis, fee_rates]}\n"
    "  - {permission: recon.correction.propose, rule: always, approvers: 2}\n"
)


def parked(outcome: Outcome) -> dict[str, Any]:
    assert outcome.status == 3, outcome.stderr
    found: dict[str, Any] = outcome.json()
    assert found["status"] == "awaiting_approval"
    return found


def last_event(store: Store) -> Any:
    with store.read() as connection:
        return connection.execute(
            sa.select(schema.audit_log).order_by(schema.audit_log.c.id.desc()).limit(1)
        ).one()


def propose(cli: Cli, break_id: str, token: str) -> dict[str, Any]:
    return parked(
        cli(
            "recon", "resolve", "propose", break_id, "--posting", f"{NOSTRO}=-5.00",
            "--posting", f"{FIRM_HOUSE[USD]}=5.00", "--description", "bank fee", "--json",
            token=token,
        )
    )  # fmt: skip


books = recon_books  # the fixture, under the name the tests ask for


@pytest.fixture
def people(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The staff of these tests; commands given no token run as olga (operations)."""
    tokens = staff(cli, olga="operations", sam="supervisor", sue="supervisor", cora="compliance")
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    assert cli("refdata", "load", str(policies), token=tokens["sam"]).status == 0
    monkeypatch.setenv("BACKOFFICE_TOKEN", tokens["olga"])
    return tokens


def test_a_correction_needs_two_different_approvers_and_nothing_is_posted_before(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    proposal = propose(cli, break_id, people["olga"])
    approval = str(proposal["approval_id"])
    key = f"recon:correction/{proposal['correction_id']}"
    first = cli("approvals", "approve", approval, "--json", token=people["sam"])
    assert first.json()["status"] == "awaiting"
    assert ledger_entry(cli, key) is None
    again = cli("approvals", "approve", approval, token=people["sam"])
    assert (again.status, "four_eyes" in again.stderr) == (1, True)
    done = cli("approvals", "approve", approval, "--json", token=people["sue"])
    assert done.json()["status"] == "approved"
    assert done.json()["result"]["entry_key"] == key
    assert ledger_entry(cli, key)["reference"] == break_id
    shown = cli("approvals", "show", approval, "--json", token=people["cora"]).json()
    assert [d["user"] for d in shown["decisions"]] == ["sam", "sue"]
    event = last_event(books)
    assert (event.actor, event.permission, event.outcome) == (
        "sue", "recon.correction.approve", "approved",
    )  # fmt: skip


def test_the_maker_cannot_approve_their_own_command_even_holding_the_approval_permission(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    approval = str(propose(cli, break_id, people["sam"])["approval_id"])
    refused = cli("approvals", "approve", approval, token=people["sam"])
    assert refused.status == 1
    assert "four_eyes: sam made approval" in refused.stderr
    assert last_event(books).outcome == "failed"


def test_a_user_without_the_approval_permission_is_refused_and_audited(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    approval = str(propose(cli, break_id, people["olga"])["approval_id"])
    refused = cli("approvals", "approve", approval, token=people["cora"])
    assert refused.stderr == "error: forbidden: cora lacks approvals.decide\n"
    assert (last_event(books).actor, last_event(books).outcome) == ("cora", "forbidden")


def test_approval_re_runs_the_command_and_fails_saying_why_when_the_state_changed(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    first = str(propose(cli, break_id, people["olga"])["approval_id"])
    second = str(propose(cli, break_id, people["olga"])["approval_id"])
    for approver in ("sam", "sue"):
        assert cli("approvals", "approve", first, token=people[approver]).status == 0
    assert cli("approvals", "approve", second, token=people["sam"]).status == 0
    late = cli("approvals", "approve", second, token=people["sue"])
    assert late.status == 1
    assert "break_resolved" in late.stderr
    listed = cli("approvals", "list", "--json", token=people["sue"]).json()["items"]
    assert [item["approval_id"] for item in listed] == [int(second)]  # it still waits


def test_a_rejection_needs_a_reason_and_stores_nothing(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    approval = str(propose(cli, break_id, people["olga"])["approval_id"])
    assert "reason_required" in cli("approvals", "reject", approval, "--reason", " ",
                                    token=people["sam"]).stderr  # fmt: skip
    assert (
        cli("approvals", "reject", approval, "--reason", "wrong", token=people["sam"]).status == 0
    )
    assert breaks_by_id(cli)[break_id]["status"] == "open"
    assert "approval_decided" in cli("approvals", "approve", approval, token=people["sue"]).stderr


def test_a_refdata_change_under_policy_waits_with_its_before_and_after_then_applies(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    before = {a["code"]: a for a in cli("refdata", "list", "--json", token=people["sam"]).json()}
    renamed = {k: v for k, v in before[NOSTRO].items() if v is not None} | {
        "name": "Nostro renamed"
    }
    change = tmp_path / "rename.yaml"
    change.write_text(yaml.safe_dump({"accounts": [renamed]}))
    waiting = parked(cli("refdata", "load", str(change), "--json", token=people["olga"]))
    now = {a["code"]: a for a in cli("refdata", "list", "--json", token=people["sam"]).json()}
    assert now[NOSTRO] == before[NOSTRO]  # nothing stored while it waits
    shown = cli("approvals", "show", str(waiting["approval_id"]), "--json", token=people["sam"])
    (changed,) = shown.json()["effect"]["changes"]
    assert (changed["code"], changed["after"]["name"]) == (NOSTRO, "Nostro renamed")
    assert changed["before"]["name"] == before[NOSTRO]["name"]
    assert cli("approvals", "approve", str(waiting["approval_id"]), token=people["sam"]).status == 0
    after = {a["code"]: a for a in cli("refdata", "list", "--json", token=people["sam"]).json()}
    assert after[NOSTRO]["name"] == "Nostro renamed"
    detail = orjson.loads(last_event(books).detail_json)
    assert detail["maker"] == "olga"
    assert detail["result"]["changes"][0]["after"]["name"] == "Nostro renamed"


def test_loosening_the_policies_themselves_waits_for_a_second_person(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    loose = tmp_path / "loose.yaml"
    loose.write_text("approval_policies:\n  - {permission: refdata.change, rule: never}\n")
    parked(cli("refdata", "load", str(loose), "--json", token=people["sam"]))


def test_the_single_operator_cannot_approve_there_is_no_second_person(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    proposal = parked(
        cli(
            "recon", "resolve", "propose", break_id, "--posting", f"{NOSTRO}=-5.00",
            "--posting", f"{FIRM_HOUSE[USD]}=5.00", "--description", "fee", "--json",
        )
    )  # fmt: skip
    refused = cli("approvals", "approve", str(proposal["approval_id"]))
    assert (refused.status, "four_eyes" in refused.stderr) == (1, True)


def test_approvals_for_me_leaves_out_my_own_and_the_ones_i_decided(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    mine = propose(cli, break_id, people["sam"])["approval_id"]
    theirs = propose(cli, break_id, people["olga"])["approval_id"]

    def for_me(login: str) -> list[int]:
        listed = cli("approvals", "list", "--for-me", "--json", token=people[login])
        return [item["approval_id"] for item in listed.json()["items"]]

    assert for_me("sam") == [theirs]
    assert for_me("sue") == [mine, theirs]
    assert cli("approvals", "approve", str(theirs), token=people["sue"]).status == 0
    assert for_me("sue") == [mine]
    assert for_me("olga") == []  # operations approves nothing


def test_refdata_history_names_who_changed_and_who_approved_and_as_of_shows_what_was_in_force(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    import datetime as dt
    import time

    listed = {a["code"]: a for a in cli("refdata", "list", "--json").json()}
    old_name = listed[NOSTRO]["name"]
    change = tmp_path / "rename.yaml"
    renamed = {k: v for k, v in listed[NOSTRO].items() if v is not None} | {"name": "Renamed"}
    change.write_text(yaml.safe_dump({"accounts": [renamed]}))
    before = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    waiting = parked(cli("refdata", "load", str(change), "--json"))
    assert cli("approvals", "approve", str(waiting["approval_id"]), token=people["sue"]).status == 0
    (version,) = cli("refdata", "history", NOSTRO, "--json").json()
    assert (version["changed_by"], version["approved_by"], version["approval_id"]) == (
        "olga", "sue", waiting["approval_id"],
    )  # fmt: skip
    assert (version["before"]["name"], version["record"]["name"]) == (old_name, "Renamed")
    then = cli("refdata", "list", "--as-of", before, "--json").json()
    assert {a["code"]: a["name"] for a in then}[NOSTRO] == old_name
    now = cli("refdata", "list", "--json").json()
    assert {a["code"]: a["name"] for a in now}[NOSTRO] == "Renamed"


def entries_file(path: Path, key: str, amount: str) -> Path:
    negated = amount[1:] if amount.startswith("-") else f"-{amount}"
    line = {"key": key, "date": "2026-11-16", "description": "deposit", "postings": [
        {"account": NOSTRO, "amount": amount}, {"account": CLIENT_OPEN[USD], "amount": negated}]}  # fmt: skip
    path.write_text(orjson.dumps(line).decode() + "\n")
    return path


def test_a_manual_entry_moving_more_than_the_policys_amount_to_a_client_waits_for_approval(
    books: Store, cli: Cli, tmp_path: Path, people: dict[str, str]
) -> None:
    policy = tmp_path / "post-policy.yaml"
    policy.write_text(
        "approval_policies:\n  - {permission: ledger.post, rule: above, "
        'amounts: {USD: "1000.00"}, sections: [client_accounts]}\n'
    )
    waiting = parked(cli("refdata", "load", str(policy), "--json", token=people["sam"]))
    assert cli("approvals", "approve", str(waiting["approval_id"]), token=people["sue"]).status == 0
    small = cli("ledger", "post", str(entries_file(tmp_path / "small.jsonl", "dep-s", "10.00")))
    assert small.status == 0, small.stderr
    assert ledger_entry(cli, "dep-s") is not None
    big = parked(
        cli(
            "ledger",
            "post",
            str(entries_file(tmp_path / "big.jsonl", "dep-b", "5000.00")),
            "--json",
        )
    )
    assert ledger_entry(cli, "dep-b") is None  # nothing posted while it waits
    shown = cli("approvals", "show", str(big["approval_id"]), "--json").json()
    assert shown["effect"]["waiting"] == ["dep-b"]
    approved = cli("approvals", "approve", str(big["approval_id"]), "--json", token=people["sue"])
    assert approved.json()["result"] == {"created": 1, "existing": 0, "failed": 0}
    posted = ledger_entry(cli, "dep-b")
    assert posted["actor"] == "olga"  # the maker's entry; the approver is in the audit trail


def test_a_policy_naming_a_scope_its_permission_does_not_have_is_refused(
    cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "approval_policies:\n  - {permission: ledger.post, rule: always, sections: [ssis]}\n"
        "  - {permission: recon.correction.propose, rule: never}\n"
        "  - {permission: ledger.read, rule: always}\n"
    )
    refused = cli("refdata", "load", str(bad))
    assert refused.status == 1
    assert refused.stderr.count("invalid_policy") == 3
