"""`backoffice recon ...` end to end as a user and a script meet it: real statement and holdings
files in, JSON out, exit statuses, maker-checker between two people. The commands run in this
process through the console script's entry point (`backoffice.cli.main.run`), on the database
the `store` fixture opens (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from backoffice.ledger.model import EntryOutcome, EntryRequest, PostingRequest
from backoffice.ledger.service import post_entries
from backoffice.refdata.model import Account, AccountType, Asset, AssetKind
from backoffice.refdata.service import load_refdata
from backoffice.store.engine import Store
from tests.books import CLIENT_OPEN, FIRM_BANK, FIRM_HOUSE, ISIN, USD, reference_data
from tests.cli_runner import Cli, Outcome, staff
from tests.test_holdings import balance as semt_balance
from tests.test_holdings import fin, for_account, mt535, semt002, subsafe

MONDAY = dt.date(2026, 11, 16)
TUESDAY = MONDAY + dt.timedelta(days=1)
IBAN = "DE89370400440532013000"
SAFEKEEPING = "SAFE-0042"
NOSTRO, CUSTODY = FIRM_BANK[USD], FIRM_BANK[ISIN]
SAMPLE = Path(__file__).resolve().parents[2] / "shared/samples/camt053/camt053.v2.minimal.xml"
SAMPLE_IBAN = "NL26VAYB8060476890"  # the EUR account of the sample
BREAK_KEYS = {"break_id", "type", "account", "amount", "value_date", "reference"}
LINE_KEYS = ("amount", "value_date", "booking_date", "reference", "description")


def ok(outcome: Outcome) -> Outcome:
    assert outcome.status == 0, outcome.stderr
    return outcome


def parked(outcome: Outcome) -> Outcome:
    """Exit status 3: the command waits for a second person's approval."""
    assert outcome.status == 3, outcome.stderr
    return outcome


def refused(outcome: Outcome, code: str) -> None:
    """Exit status 1, and the error code on stderr."""
    assert (outcome.status, code in outcome.stderr) == (1, True), outcome.stderr


def run(cli: Cli, day: dt.date, *options: str) -> Any:
    """`recon run --date DAY --json`, printed."""
    return ok(cli("recon", "run", "--date", str(day), "--json", *options)).json()


@pytest.fixture
def books(store: Store) -> Store:
    """tests/books.py's, NOSTRO at IBAN, CUSTODY at SAFEKEEPING, a EUR account at SAMPLE_IBAN."""
    refdata = reference_data()
    named = {NOSTRO: IBAN, CUSTODY: SAFEKEEPING}
    refdata.accounts = [
        dataclasses.replace(account, external_account=named.get(account.code))
        for account in refdata.accounts
    ]
    refdata.assets.append(Asset("EUR", AssetKind.CURRENCY, 2, "Euro"))
    refdata.accounts.append(
        Account("firm/bank/EUR", AccountType.ASSET, "EUR", "FIRM", external_account=SAMPLE_IBAN)
    )
    load_refdata(store, refdata, actor="test", source="tests/test_recon_cli.py")
    return store


def book(store: Store, key: str, amount: str, *, account: str = NOSTRO, other: str = "") -> None:
    """Money or shares into `account` (out: negative) on MONDAY, its key quoted as reference."""
    other = other or CLIENT_OPEN[USD]
    negated = amount[1:] if amount.startswith("-") else f"-{amount}"
    request = EntryRequest(
        key=key,
        effective_date=MONDAY,
        description=key,
        reference=key,
        postings=(PostingRequest(account, amount), PostingRequest(other, negated)),
    )
    (result,) = post_entries(store, [request], actor="test").results
    assert result.outcome is EntryOutcome.CREATED, result.problems


def _amount(tag: str, amount: str) -> str:
    indicator = "DBIT" if amount.startswith("-") else "CRDT"
    return f'<{tag} Ccy="USD">{amount.lstrip("-")}</{tag}><CdtDbtInd>{indicator}</CdtDbtInd>'


def entry(amount: str, reference: str, day: dt.date = MONDAY) -> str:
    """A booked camt.053 entry, money in when `amount` is positive."""
    return (
        f"<Ntry>{_amount('Amt', amount)}<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt>"
        f"<ValDt><Dt>{day}</Dt></ValDt><BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{reference}</EndToEndId></Refs></TxDtls></NtryDtls>"
        f"<AddtlNtryInf>payment {reference}</AddtlNtryInf></Ntry>\n"
    )


def camt053(
    path: Path, statement_id: str, opening: str, closing: str, *entries: str,
    day: dt.date = MONDAY, account: str = IBAN,
) -> Path:  # fmt: skip
    """A camt.053.001.02 file of one USD statement of `day`."""
    balances = "".join(
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amount('Amt', amount)}"
        f"<Dt><Dt>{day}</Dt></Dt></Bal>\n"
        for code, amount in (("OPBD", opening), ("CLBD", closing))
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>\n'
        f"<GrpHdr><MsgId>MSG-{statement_id}</MsgId><CreDtTm>{day}T18:00:00</CreDtTm></GrpHdr>\n"
        f"<Stmt><Id>{statement_id}</Id><CreDtTm>{day}T18:00:00</CreDtTm>\n"
        f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>USD</Ccy></Acct>\n{balances}"
        f"{''.join(entries)}</Stmt></BkToCstmrStmt></Document>\n",
        encoding="utf-8",
    )
    return path


def holdings_file(path: Path, form: str, quantity: str, day: dt.date = MONDAY) -> Path:
    """SAFEKEEPING's holdings of ISIN as of `day`, as a CSV, semt.002 or MT535 file."""
    texts = {
        "csv": f"account,as_of,isin,quantity\n{SAFEKEEPING},{day},{ISIN},{quantity}\n",
        "semt.002": semt002(
            for_account(semt_balance(ISIN, f"<Unit>{quantity}</Unit>")),
            account=f"<SfkpgAcct><Id>{SAFEKEEPING}</Id></SfkpgAcct>", date=f"<Dt>{day}</Dt>",
        ),
        "mt535": mt535(
            subsafe(fin(ISIN, f"UNIT/{quantity},")), account=SAFEKEEPING,
            date=f":98A::STAT//{day:%Y%m%d}",
        ),
    }  # fmt: skip
    path.write_text(texts[form])
    return path


def fee_break(books: Store, cli: Cli, tmp_path: Path) -> dict[str, Any]:
    """A receipt the bank reports and a bank fee the books lack: the fee's break, as run prints."""
    book(books, "E2E-0", "100.00")
    file = camt053(
        tmp_path / "fee.xml", "STMT-1", "0.00", "95.00",
        entry("100.00", "E2E-0"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    ok(cli("recon", "import", str(file)))
    ran = run(cli, MONDAY)
    assert ran["matched"] == 1
    (found,) = ran["breaks"]
    assert found["type"] == "missing_in_books"
    return dict(found)


def ledger_entry(cli: Cli, key: str) -> Any:
    entries = ok(cli("ledger", "entries", "--json")).json()["items"]
    return next((entry for entry in entries if entry["key"] == key), None)


def breaks_by_id(cli: Cli, *options: str) -> dict[str, dict[str, Any]]:
    return {
        row["break_id"]: row
        for row in ok(cli("recon", "breaks", "--json", *options)).json()["items"]
    }


def next_day_breaks(cli: Cli, tmp_path: Path, balance: str) -> list[Any]:
    """Import Tuesday's empty statement (opening and closing `balance`) and run Tuesday."""
    tuesday = camt053(tmp_path / "tuesday.xml", "STMT-2", balance, balance, day=TUESDAY)
    ok(cli("recon", "import", str(tuesday)))
    return list(run(cli, TUESDAY)["breaks"])


# --- Statements in ----------------------------------------------------------------------------


def test_an_imported_camt053_statement_is_listed_with_signed_decimal_string_amounts(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    file = camt053(
        tmp_path / "monday.xml", "STMT-1", "100.00", "345.00",
        entry("250.00", "E2E-1"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    assert ok(cli("recon", "import", str(file), "--json")).json() == [
        {"file": str(file), "statements": 1, "lines": 2, "existing": 0, "balance_breaks": []}
    ]
    (listed,) = ok(cli("recon", "statements", "--json")).json()["items"]
    assert {key: value for key, value in listed.items() if key != "lines"} == {
        "statement_id": "STMT-1", "account": IBAN, "format": "camt.053", "currency": USD,
        "opening_balance": "100.00", "closing_balance": "345.00",
    }  # fmt: skip
    assert [{key: line[key] for key in LINE_KEYS} for line in listed["lines"]] == [
        {"amount": amount, "value_date": str(MONDAY), "booking_date": str(MONDAY),
         "reference": reference, "description": f"payment {reference}"}
        for amount, reference in (("250.00", "E2E-1"), ("-5.00", "FEE-NOV"))
    ]  # fmt: skip


def test_importing_the_same_file_twice_reports_it_existing_and_does_not_double_its_lines(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    file = camt053(tmp_path / "monday.xml", "STMT-1", "0.00", "250.00", entry("250.00", "E2E-1"))
    ok(cli("recon", "import", str(file)))
    (again,) = ok(cli("recon", "import", str(file), "--json")).json()
    assert (again["statements"], again["lines"], again["existing"]) == (0, 0, 1)
    (listed,) = ok(cli("recon", "statements", "--json")).json()["items"]
    assert [line["amount"] for line in listed["lines"]] == ["250.00"]
    changed = camt053(tmp_path / "changed.xml", "STMT-1", "0.00", "25.00", entry("25.00", "E2E-1"))
    refused(cli("recon", "import", str(changed)), "statement_changed")
    assert ok(cli("recon", "statements", "--json")).json()["items"] == [listed]


def test_a_reference_camt053_sample_imports_under_the_account_its_iban_is_mapped_to(
    books: Store, cli: Cli
) -> None:
    if not SAMPLE.is_file():
        pytest.skip(f"the shared samples are not here: {SAMPLE}")
    (imported,) = ok(cli("recon", "import", str(SAMPLE), "--json")).json()
    (listed,) = ok(cli("recon", "statements", "--json")).json()["items"]
    assert (listed["account"], listed["currency"], listed["opening_balance"]) == (
        SAMPLE_IBAN, "EUR", "18.15",
    )  # fmt: skip
    assert (listed["closing_balance"], [line["amount"] for line in listed["lines"]]) == (
        "-27.00", ["8.85"],
    )  # fmt: skip
    # 18.15 + 8.85 is not -27.00: the sample's balances disagree with its line by -54.00.
    (balance_break,) = imported["balance_breaks"]
    found = breaks_by_id(cli)[balance_break]
    assert (found["type"], found["account"], found["amount"]) == (
        "balance_difference", "firm/bank/EUR", "-54.00",
    )  # fmt: skip


def test_a_malformed_file_is_quarantined_with_its_reasons_and_text_while_a_good_one_is_imported(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    good = camt053(tmp_path / "good.xml", "STMT-1", "0.00", "250.00", entry("250.00", "E2E-1"))
    truncated = tmp_path / "truncated.xml"
    truncated.write_text(good.read_text()[:300])
    invalid = camt053(tmp_path / "invalid.xml", "STMT-9", "0.00", "5.00", entry("5.00", "E2E-9"))
    invalid.write_text(invalid.read_text().replace(">5.00<", ">5,00<"))  # closing and entry
    outcome = cli("recon", "import", str(truncated), str(good), str(invalid))
    assert outcome.status == 1
    assert f"quarantined: {truncated}, line 5: malformed_xml: not well-formed" in outcome.stderr
    entry_amount = "field '/Document/BkToCstmrStmt/Stmt/Ntry/Amt'"  # the entry is on line 8
    assert f"{invalid}, line 8, {entry_amount}: schema_invalid: invalid value '5,00'" in (
        outcome.stderr
    )
    (imported,) = ok(cli("recon", "statements", "--json")).json()["items"]
    assert imported["statement_id"] == "STMT-1"
    quarantined = ok(cli("recon", "quarantine", "--json")).json()["items"]
    assert [(row["file"], row["raw"]) for row in quarantined] == [
        (str(truncated), truncated.read_text()), (str(invalid), invalid.read_text()),
    ]  # fmt: skip
    assert [[(p["code"], p["field"]) for p in row["problems"]] for row in quarantined] == [
        [("malformed_xml", None)],
        [("schema_invalid", "/Document/BkToCstmrStmt/Stmt/Bal[2]/Amt"),
         ("schema_invalid", "/Document/BkToCstmrStmt/Stmt/Ntry/Amt")],
    ]  # fmt: skip


def test_a_statement_for_an_account_no_ledger_account_names_is_refused_and_quarantined(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    stranger = "GB29NWBK60161331926819"
    file = camt053(tmp_path / "other.xml", "STMT-7", "0.00", "0.00", account=stranger)
    outcome = cli("recon", "import", str(file), "--json")
    assert outcome.status == 1
    (row,) = outcome.json()
    assert (row["file"], row["quarantined"]) == (str(file), True)
    (problem,) = row["problems"]
    assert problem["code"] == "unknown_account"
    assert (stranger in problem["reason"], str(file) in problem["where"]) == (True, True)
    (quarantined,) = ok(cli("recon", "quarantine", "--json")).json()["items"]
    assert [p["code"] for p in quarantined["problems"]] == ["unknown_account"]
    assert quarantined["raw"] == file.read_text()
    assert ok(cli("recon", "statements", "--json")).json()["items"] == []


# --- Runs and breaks --------------------------------------------------------------------------


def test_a_run_reports_the_exact_match_and_types_the_unbooked_fee_and_the_unreported_receipt(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    book(books, "E2E-1", "1000.00")
    book(books, "E2E-3", "20.00")  # the bank has not seen it
    file = camt053(
        tmp_path / "monday.xml", "STMT-1", "0.00", "995.00",
        entry("1000.00", "E2E-1"), entry("-5.00", "FEE-NOV"),
    )  # fmt: skip
    ok(cli("recon", "import", str(file)))
    ran = run(cli, MONDAY)
    assert ran["matched"] == 1
    assert all(set(row) == BREAK_KEYS for row in ran["breaks"])
    assert sorted(
        (r["type"], r["account"], r["amount"], r["reference"]) for r in ran["breaks"]
    ) == [
        ("missing_in_books", NOSTRO, "-5.00", "FEE-NOV"),
        ("missing_in_statement", NOSTRO, "20.00", "E2E-3"),
    ]
    assert {row["value_date"] for row in ran["breaks"]} == {str(MONDAY)}
    assert set(breaks_by_id(cli, "--status", "open")) == {row["break_id"] for row in ran["breaks"]}


def test_a_breaks_owner_status_and_comment_are_listed_and_kept_in_its_history(
    books: Store, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    assert list(breaks_by_id(cli, "--status", "open")) == [break_id]
    tokens = staff(cli, alice="operations", bob="operations")
    ok(cli("recon", "break", break_id, "--owner", "bob", token=tokens["alice"]))
    ok(
        cli(
            "recon", "break", break_id,
            "--status", "investigating", "--comment", "asked the bank", token=tokens["bob"],
        )
    )  # fmt: skip
    monkeypatch.setenv("BACKOFFICE_TOKEN", tokens["bob"])  # the reads below run as bob
    assert breaks_by_id(cli, "--status", "open") == {}
    found = breaks_by_id(cli, "--status", "investigating")[break_id]
    assert (found["owner"], found["status"]) == ("bob", "investigating")
    assert found["age_days"] == (dt.datetime.now(dt.UTC).date() - MONDAY).days
    assert [(e["kind"], e["actor"], e["text"]) for e in found["history"]][1:] == [
        ("assigned", "alice", "bob"),
        ("status", "bob", "investigating"),
        ("comment", "bob", "asked the bank"),
    ]
    refused(
        cli("recon", "break", break_id, "--status", "resolved", token=tokens["bob"]),
        "invalid_status",
    )


def test_a_correction_proposed_by_alice_is_refused_to_her_and_resolves_the_break_when_bob_approves(
    books: Store, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    # Alice may approve corrections, but never her own; Olga may only propose.
    tokens = staff(cli, alice="supervisor", bob="supervisor", olga="operations")
    proposed = parked(
        cli(
            "recon", "resolve", "propose", break_id,
            "--posting", f"{NOSTRO}=-5.00", "--posting", f"{FIRM_HOUSE[USD]}=5.00",
            "--description", "bank fee November", "--json", token=tokens["alice"],
        )
    )  # fmt: skip
    number = str(proposed.json()["correction_id"])
    refused(cli("recon", "resolve", "approve", number, token=tokens["alice"]), "four_eyes")
    refused(cli("recon", "resolve", "approve", number, token=tokens["olga"]), "forbidden")
    monkeypatch.setenv("BACKOFFICE_TOKEN", tokens["bob"])  # the commands below run as bob
    assert breaks_by_id(cli)[break_id]["status"] == "open"
    assert ledger_entry(cli, f"recon:correction/{number}") is None
    ok(cli("recon", "resolve", "approve", number))
    posted = ledger_entry(cli, f"recon:correction/{number}")
    assert posted["reference"] == break_id
    assert {p["account"]: p["amount"] for p in posted["postings"]} == {
        NOSTRO: "-5.00", FIRM_HOUSE[USD]: "5.00",
    }  # fmt: skip
    found = breaks_by_id(cli)[break_id]
    assert found["status"] == "resolved"
    assert f"recon:correction/{number}" in found["resolution"]
    assert next_day_breaks(cli, tmp_path, "95.00") == []


def test_a_manual_match_of_a_statement_break_with_a_books_break_resolves_both(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    book(books, "OUR-REF-1", "250.00")
    file = camt053(tmp_path / "monday.xml", "STMT-1", "0.00", "250.00", entry("250.00", "THEIR-9"))
    ok(cli("recon", "import", str(file)))
    ran = run(cli, MONDAY)
    found = {row["type"]: row["break_id"] for row in ran["breaks"]}
    statement_side, books_side = found["missing_in_books"], found["missing_in_statement"]
    refused(cli("recon", "resolve", "match", books_side, statement_side), "invalid_match")
    ok(cli("recon", "resolve", "match", statement_side, books_side))
    assert {row["status"] for row in breaks_by_id(cli).values()} == {"resolved"}
    assert breaks_by_id(cli, "--status", "open") == {}
    assert next_day_breaks(cli, tmp_path, "250.00") == []


# --- Positions --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["csv", "semt.002", "mt535"])
def test_custodian_holdings_unlike_the_ledger_position_are_reported_as_a_position_break(
    books: Store, cli: Cli, tmp_path: Path, form: str
) -> None:
    book(books, "delivery-1", "100", account=CUSTODY, other=CLIENT_OPEN[ISIN])
    file = holdings_file(tmp_path / "holdings.txt", form, "120")
    (imported,) = ok(cli("recon", "import", str(file), "--json")).json()
    assert (imported["holdings_statements"], imported["positions"]) == (1, 1)
    ran = run(cli, MONDAY)
    (found,) = ran["breaks"]
    assert set(found) == BREAK_KEYS
    assert (found["type"], found["account"], found["amount"], found["reference"]) == (
        "amount_difference", CUSTODY, "20", ISIN,
    )  # fmt: skip
    assert breaks_by_id(cli)[found["break_id"]]["status"] == "open"
    agreed = holdings_file(tmp_path / "tuesday.txt", form, "100", day=TUESDAY)
    ok(cli("recon", "import", str(agreed)))
    assert run(cli, TUESDAY)["breaks"] == []
    assert breaks_by_id(cli)[found["break_id"]]["status"] == "resolved"


def test_a_bare_mt535_of_no_holdings_is_imported_and_the_ledger_position_missing_from_it_breaks(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    book(books, "delivery-1", "100", account=CUSTODY, other=CLIENT_OPEN[ISIN])
    empty = tmp_path / "nothing.txt"
    # No SUBSAFE sequence: the custodian holds nothing for the account (:17B::ACTI//N).
    text = mt535(account=SAFEKEEPING, date=f":98A::STAT//{MONDAY:%Y%m%d}", envelope=False)
    empty.write_text(text.replace(":17B::ACTI//Y", ":17B::ACTI//N"))
    outcome = cli("recon", "import", str(empty), "--json")
    assert outcome.status == 0, outcome.stdout
    ran = run(cli, MONDAY)
    assert [(r["type"], r["account"], r["amount"]) for r in ran["breaks"]] == [
        ("missing_in_statement", CUSTODY, "-100")
    ]


def test_a_run_for_the_bank_account_alone_reports_no_position_breaks_of_the_custody_account(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    fee = fee_break(books, cli, tmp_path)
    book(books, "delivery-1", "100", account=CUSTODY, other=CLIENT_OPEN[ISIN])
    ok(cli("recon", "import", str(holdings_file(tmp_path / "holdings.csv", "csv", "120"))))
    ran = run(cli, MONDAY, "--account", NOSTRO)
    assert fee in ran["breaks"]
    assert [row for row in ran["breaks"] if row["account"] != NOSTRO] == []


def test_an_mt535_saying_it_holds_positions_and_listing_none_is_quarantined_in_one_line(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    silent = tmp_path / "silent.txt"
    # :17B::ACTI//Y and no FIN block read: refused, never imported as "the custodian holds none".
    silent.write_text(
        mt535(account=SAFEKEEPING, date=f":98A::STAT//{MONDAY:%Y%m%d}", envelope=False)
    )
    outcome = cli("recon", "import", str(silent))
    assert outcome.status == 1
    (line,) = [text for text in outcome.stderr.splitlines() if text.startswith("quarantined:")]
    assert line.startswith(f"quarantined: {silent}, line 11, field ':17B::ACTI': no_holdings: ")
    (quarantined,) = ok(cli("recon", "quarantine", "--json")).json()["items"]
    assert [p["code"] for p in quarantined["problems"]] == ["no_holdings"]


def test_a_payment_posted_twice_that_the_bank_shows_once_is_one_duplicate_until_reversed(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    # The same receipt posted by two clerks under their own idempotency keys.
    for key in ("receipt-E2E-9", "receipt-E2E-9-again"):
        request = EntryRequest(
            key=key,
            effective_date=MONDAY,
            description="receipt from ACME",
            reference="E2E-9",
            postings=(
                PostingRequest(NOSTRO, "400.00"),
                PostingRequest(CLIENT_OPEN[USD], "-400.00"),
            ),
        )
        (result,) = post_entries(books, [request], actor="test").results
        assert result.outcome is EntryOutcome.CREATED, result.problems
    monday = camt053(tmp_path / "monday.xml", "STMT-1", "0.00", "400.00", entry("400.00", "E2E-9"))
    ok(cli("recon", "import", str(monday)))
    ran = run(cli, MONDAY)
    assert ran["matched"] == 1
    (found,) = ran["breaks"]
    assert (found["type"], found["amount"], found["reference"]) == ("duplicate", "400.00", "E2E-9")
    listed = breaks_by_id(cli)[found["break_id"]]
    assert listed["other_entry"] == "receipt-E2E-9"
    assert "'receipt-E2E-9-again' repeats entry 'receipt-E2E-9'" in listed["history"][0]["text"]
    ok(cli("ledger", "reverse", "receipt-E2E-9-again", "--key", "receipt-E2E-9-again/undo"))
    assert next_day_breaks(cli, tmp_path, "400.00") == []
    assert breaks_by_id(cli)[found["break_id"]]["status"] == "resolved"


def test_import_tells_a_person_in_a_sentence_what_it_imported_and_what_it_already_had(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    file = camt053(
        tmp_path / "monday.xml", "STMT-1", "0.00", "150.00",
        entry("100.00", "PAY-1"), entry("50.00", "PAY-2"),
    )  # fmt: skip
    first = ok(cli("recon", "import", str(file)))
    assert first.stdout == ""
    assert first.stderr.strip() == f"Imported 1 statement (2 lines) from {file}."
    again = ok(cli("recon", "import", str(file)))
    assert (
        again.stderr.strip() == f"Imported 0 statements (0 lines) from {file}; 1 already imported."
    )
    assert "{" not in first.stderr + again.stderr


def test_propose_prints_a_sentence_for_a_person_and_json_only_when_asked(
    books: Store, cli: Cli, tmp_path: Path
) -> None:
    break_id = fee_break(books, cli, tmp_path)["break_id"]
    proposal = (
        "recon", "resolve", "propose", break_id,
        "--posting", f"{NOSTRO}=-5.00", "--posting", f"{FIRM_HOUSE[USD]}=5.00",
        "--description", "bank fee November",
    )  # fmt: skip
    alice = staff(cli, alice="operations")["alice"]
    shown = parked(cli(*proposal, token=alice))
    assert shown.stdout == ""
    assert shown.stderr.startswith(f"Correction 1 proposed by alice for break {break_id}")
    assert shown.stderr.endswith("awaiting approval 1\n")
    assert parked(cli(*proposal, "--json", token=alice)).json() == {
        "correction_id": 2, "status": "awaiting_approval", "approval_id": 2,
    }  # fmt: skip
