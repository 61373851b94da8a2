"""Review findings: each test states a rule the README promises and a way it was once broken.

Each was written failing first (by a review of the ledger), then fixed; they stay as guards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backoffice.errors import ProblemError
from backoffice.formats.refdata_file import read_refdata
from backoffice.ledger.model import EntryOutcome, EntryRequest, EntryResult, PostingRequest
from backoffice.ledger.reports import balances
from backoffice.ledger.service import post_entries
from backoffice.refdata.service import list_refdata, load_refdata
from backoffice.store.engine import Store
from tests.test_cli import run

DAY = dt.date(2026, 11, 24)
T0 = 1_800_000_000_000_000  # a fixed clock, in microseconds
REFDATA = """
assets:
  - {code: USD, kind: currency, scale: 2}
  - {code: XAU, kind: currency, scale: 12}
parties:
  - {code: FIRM, kind: firm, name: The Firm}
accounts:
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
  - {code: firm/capital/USD, type: equity, asset: USD, owner: FIRM}
  - {code: firm/vault/XAU, type: asset, asset: XAU, owner: FIRM}
  - {code: firm/capital/XAU, type: equity, asset: XAU, owner: FIRM}
"""


def load_text(store: Store, tmp_path: Path, text: str, name: str = "refdata.yaml") -> None:
    path = tmp_path / name
    path.write_text(text)
    load_refdata(store, read_refdata(path), actor="test", source=str(path))


@pytest.fixture
def books(store: Store, tmp_path: Path) -> Store:
    load_text(store, tmp_path, REFDATA)
    return store


def deposit(key: str, amount: str = "1.00", **extra: object) -> EntryRequest:
    return EntryRequest(
        key=key,
        effective_date=extra.pop("day", DAY),  # type: ignore[arg-type]
        postings=(
            PostingRequest("firm/bank/USD", amount),
            PostingRequest("firm/capital/USD", f"-{amount}"),
        ),
        **extra,  # type: ignore[arg-type]
    )


def post(
    store: Store, *requests: EntryRequest, clock: Callable[[], int] = lambda: T0, **options: object
) -> list[EntryResult]:
    actor = str(options.pop("actor", "test"))
    return list(
        post_entries(store, list(requests), actor=actor, clock_us=clock, **options).results  # type: ignore[arg-type]
    )


def codes(result: EntryResult) -> list[str]:
    return [problem.code for problem in result.problems]


def only_on_postgresql(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("a PostgreSQL race: SQLite's BEGIN IMMEDIATE serialises these writers")


# The ledger -------------------------------------------------------------------------------------


def test_a_timeout_on_a_post_pending_line_is_refused_and_never_jams_later_writes(
    books: Store,
) -> None:
    (hold,) = post(books, deposit("hold", pending=True))
    assert hold.outcome is EntryOutcome.CREATED
    (posting,) = post(
        books, EntryRequest("hold/post", None, post_pending="hold", timeout_seconds=1)
    )
    # Once the "timeout" has passed, a later ordinary write must still work...
    (later,) = post(books, deposit("later"), clock=lambda: T0 + 5_000_000)
    assert later.outcome is EntryOutcome.CREATED
    # ...and a timeout means nothing on a resolution: refused, as on a standard entry.
    assert codes(posting) == ["conflicting_fields"]


def test_a_void_pending_line_with_an_empty_post_pending_is_refused_not_posted(
    books: Store,
) -> None:
    post(books, deposit("hold", "5.00", pending=True))
    (result,) = post(books, EntryRequest("hold/void", None, post_pending="", void_pending="hold"))
    (bank,) = balances(books, account="firm/bank/USD")
    assert bank.balance.posted_minor == 0, "the void posted the reservation"
    assert result.outcome is EntryOutcome.FAILED


def test_a_reference_over_200_characters_fails_its_entry_only(books: Store) -> None:
    good, bad = post(books, deposit("good"), deposit("bad", reference="R" * 201))
    assert good.outcome is EntryOutcome.CREATED
    assert bad.outcome is EntryOutcome.FAILED
    assert [p.source.field for p in bad.problems] == ["reference"]


def test_a_description_over_the_documented_limit_is_refused(books: Store) -> None:
    (result,) = post(books, deposit("long", description="D" * 5000))
    assert result.outcome is EntryOutcome.FAILED


def test_an_actor_longer_than_its_column_is_refused_with_a_named_code(books: Store) -> None:
    with pytest.raises(ProblemError):
        post(books, deposit("d"), actor="x" * 201)


def test_an_entry_that_would_overflow_an_account_total_is_refused_and_the_rest_is_created(
    books: Store,
) -> None:
    # Each posting is 10^15 minor units, the documented per-posting maximum.
    debits = (PostingRequest("firm/vault/XAU", "1000"),) * 500
    leg = debits + (PostingRequest("firm/capital/XAU", "-1000"),) * 500
    requests = [EntryRequest(f"x{n}", DAY, postings=leg) for n in range(19)]
    results = post(books, *requests)
    assert [r.outcome for r in results[:18]] == [EntryOutcome.CREATED] * 18
    assert results[18].outcome is EntryOutcome.FAILED
    (vault,) = balances(books, account="firm/vault/XAU")
    assert type(vault.balance.debits_posted) is int
    assert vault.balance.debits_posted == 18 * 500 * 10**15


def test_metadata_over_16_kib_of_utf8_is_refused(books: Store) -> None:
    metadata = {"note": "\u00e9" * 16_000}  # 32,000 bytes of UTF-8
    (result,) = post(books, deposit("m", metadata=metadata))
    assert codes(result) == ["metadata_too_large"]


def test_a_pending_entry_cannot_be_posted_with_a_date_before_its_own(books: Store) -> None:
    post(books, deposit("hold", "5.00", pending=True, day=DAY))
    (result,) = post(
        books, EntryRequest("hold/post", DAY - dt.timedelta(days=10), post_pending="hold")
    )
    (bank,) = balances(books, account="firm/bank/USD", as_of=DAY - dt.timedelta(days=5))
    assert bank.balance.debits_pending >= 0, bank.balance
    assert result.outcome is EntryOutcome.FAILED


# Races on PostgreSQL ----------------------------------------------------------------------------


def test_an_account_cannot_be_closed_while_a_posting_to_it_is_committing(
    books: Store, tmp_path: Path
) -> None:
    only_on_postgresql(books)
    closing = tmp_path / "close.yaml"
    closing.write_text(
        "accounts: [{code: firm/capital/USD, type: equity, asset: USD, owner: FIRM,"
        " status: closed}]"
    )
    outcome: list[object] = []

    def close() -> None:
        try:
            outcome.append(
                load_refdata(books, read_refdata(closing), actor="t", source=str(closing))
            )
        except ProblemError as error:
            outcome.append(error)

    closer = threading.Thread(target=close)

    def while_the_posting_is_uncommitted(_request: EntryRequest) -> str:
        # Called inside the ledger's transaction, after the balances were updated.
        closer.start()
        time.sleep(0.5)
        return "raw"

    post(
        books,
        deposit("d", "7.00"),
        deposit("refused", "-0.00"),  # fails, so raw_of is called before the commit
        raw_of=while_the_posting_is_uncommitted,
    )
    closer.join(timeout=30)
    (capital,) = balances(books, account="firm/capital/USD")
    status = {a.code: a.status.value for a in list_refdata(books)["accounts"]}
    assert capital.balance.posted_minor == -700
    assert status["firm/capital/USD"] == "open", "a closed account holds a balance"


def test_a_write_racing_a_void_of_an_expiring_pending_entry_still_succeeds(books: Store) -> None:
    only_on_postgresql(books)
    post(books, deposit("hold", pending=True, timeout_seconds=1))
    later = T0 + 2_000_000
    outcome: list[object] = []

    def other_writer() -> None:
        try:
            outcome.append(post(books, deposit("other"), clock=lambda: later))
        except Exception as error:  # the finding is which exception
            outcome.append(error)

    writer = threading.Thread(target=other_writer)

    def while_the_void_is_uncommitted(_request: EntryRequest) -> str:
        writer.start()
        time.sleep(0.5)
        return "raw"

    post(
        books,
        EntryRequest("hold/void", None, void_pending="hold"),
        deposit("refused", "-0.00"),
        raw_of=while_the_void_is_uncommitted,
    )
    writer.join(timeout=30)
    (results,) = outcome
    assert isinstance(results, list), f"the other writer crashed: {results!r}"
    assert [r.outcome for r in results] == [EntryOutcome.CREATED]


# Reference data ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "parties:\n  - {code: P9, kind: client}\n  - {code: P9, kind: client}\n",
        REFDATA + "  - {code: firm/w/USD, type: asset, asset: USD, owner: FIRM}\n" * 2,
    ],
    ids=["party", "account"],
)
def test_a_record_listed_twice_in_one_file_is_reported_not_a_database_crash(
    store: Store, tmp_path: Path, text: str
) -> None:
    # Refusing the duplicate with a named code would be fine too; a driver error is not.
    with contextlib.suppress(ProblemError):
        load_text(store, tmp_path, text)


def test_a_refdata_rule_problem_names_the_line_of_its_record(store: Store, tmp_path: Path) -> None:
    text = (
        "assets:\n"
        "  - {code: USD, kind: currency}\n"
        "  - {code: US0378331006, kind: security, scale: 0}\n"  # wrong ISIN check digit
    )
    with pytest.raises(ProblemError) as raised:
        load_text(store, tmp_path, text)
    (problem,) = raised.value.problems
    assert problem.code == "invalid_isin"
    assert problem.source.line == 3


@pytest.mark.parametrize("field", ["name", "external_account"])
def test_an_account_field_longer_than_its_column_is_refused_with_a_named_code(
    store: Store, tmp_path: Path, field: str
) -> None:
    text = REFDATA + f"  - {{code: firm/long/USD, type: asset, asset: USD, owner: FIRM, {field}: "
    text += "N" * 250 + "}\n"
    with pytest.raises(ProblemError):
        load_text(store, tmp_path, text)


def test_a_csv_scale_written_with_a_superscript_digit_is_reported_not_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "refdata.csv"
    path.write_text("record,code,kind,scale\nasset,US0378331005,security,\u00b2\n")
    problems = read_refdata(path).problems
    assert [(p.code, p.source.line, p.source.field) for p in problems] == [
        ("invalid_field", 2, "scale")
    ]


def test_a_csv_problem_names_its_physical_line_after_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "refdata.csv"
    path.write_text("record,code,kind\nparty,P1,client\n\nparty,P2,bogus\n")
    (problem,) = read_refdata(path).problems
    assert (problem.code, problem.source.line, problem.source.field) == ("invalid_field", 4, "kind")


def test_an_unquoted_numeric_external_account_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "refdata.yaml"
    path.write_text(REFDATA + "  - {code: a/b, type: asset, asset: USD, owner: FIRM,"
                    " external_account: 00123}\n")  # fmt: skip
    refdata = read_refdata(path)
    kept = [a.external_account for a in refdata.accounts if a.code == "a/b"]
    assert refdata.problems or kept == ["00123"], f"stored as {kept}"


# Command line -----------------------------------------------------------------------------------


def test_a_negative_entries_limit_is_one_line_error(database_url: str, tmp_path: Path) -> None:
    result = run("--db", database_url, "ledger", "entries", "--limit", "-1", "--json", cwd=tmp_path)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error:")


def test_an_unforeseen_database_error_is_still_printed_as_one_line(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "refdata.yaml").write_text(
        REFDATA + "  - {code: firm/w/USD, type: asset, asset: USD, owner: FIRM}\n" * 2
    )
    result = run("--db", database_url, "refdata", "load", "refdata.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_too_long_reference_in_a_file_is_quarantined_and_the_good_line_is_posted(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "refdata.yaml").write_text(REFDATA)
    assert (
        run("--db", database_url, "refdata", "load", "refdata.yaml", cwd=tmp_path).returncode == 0
    )
    line = {
        "key": "k1",
        "date": "2026-11-24",
        "postings": [
            {"account": "firm/bank/USD", "amount": "1.00"},
            {"account": "firm/capital/USD", "amount": "-1.00"},
        ],
    }
    (tmp_path / "e.jsonl").write_text(
        json.dumps(line) + "\n" + json.dumps(line | {"key": "k2", "reference": "R" * 300}) + "\n"
    )
    result = run("--db", database_url, "ledger", "post", "e.jsonl", "--json", cwd=tmp_path)
    summary = json.loads(result.stdout or "{}")
    assert (summary.get("created"), summary.get("failed")) == (1, 1), result.stderr
    quarantine = run("--db", database_url, "ledger", "quarantine", "--json", cwd=tmp_path)
    assert [item["line"] for item in json.loads(quarantine.stdout)["items"]] == [2]
