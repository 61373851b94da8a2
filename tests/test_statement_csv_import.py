"""A bank statement CSV stored while streamed (backoffice.recon.statement_import_service),
in bounded memory (issue 10): read through once and checked, then its lines read again and
stored a chunk at a time, all or nothing, with the identity and hashes of a whole-file import.

The files are in the default layout of backoffice.formats.statement_csv, as a bank's CSV export
(Deutsche Bank's db direct "Umsätze" export, one row per booking) is mapped to it: balance
rows and line rows of two days' statements interleaved, as the export sorts by booking time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError, Source
from backoffice.formats.statement_csv import read_statement_csv, scan_statement_csv
from backoffice.recon import statement_import_service
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.recon.queries import list_statements
from backoffice.recon.statement_import_service import import_statement_stream
from backoffice.recon.statement_service import ImportResult, import_statements, statement_hash
from backoffice.store import schema
from backoffice.store.engine import Store
from tests.cli_runner import Cli
from tests.test_statement_import import IBAN, NOSTRO, with_external_accounts

HEADER = "record,statement_id,account,currency,value_date,booking_date,amount,reference,description"
MONDAY_ID, TUESDAY_ID = "2026-321-1", "2026-321-2"
# The two statements' rows interleaved; balances right (1000.00 - 250.00 + 0.00 = 750.00).
ROWS = (
    f"opening,{MONDAY_ID},{IBAN},USD,2026-11-16,,1000.00,,",
    f"line,{MONDAY_ID},{IBAN},USD,2026-11-16,2026-11-16,-250.00,E2E-0001,SEPA transfer  to   supplier",
    f"opening,{TUESDAY_ID},{IBAN},USD,2026-11-17,,750.00,,",
    f"line,{TUESDAY_ID},{IBAN},USD,2026-11-17,,125.5,,",
    f'line,{MONDAY_ID},{IBAN},USD,2026-11-16,2026-11-16,-0.00,REF-2,"fee, waived"',
    f"closing,{MONDAY_ID},{IBAN},USD,2026-11-16,,750.00,,",
    f"closing,{TUESDAY_ID},{IBAN},USD,2026-11-17,,875.50,,",
)
# The body hashes the whole-file import (before streaming) stored for ROWS: a re-import must
# still find them equal, or every statement imported before would read as changed.
HASHES_BEFORE = {
    MONDAY_ID: "13b23b0fde6cec7f934e76a4fa2b2e1462a20ea4c25bb22b5727181dca925e4e",
    TUESDAY_ID: "4066df703a98c6ba10f66f9b2b422cc6b4530f274cd461ee873fcf2e435e3ae1",
}


@pytest.fixture
def books(store: Store) -> Store:
    """The standard books, the firm's USD bank account kept at IBAN."""
    return with_external_accounts(store, {NOSTRO: IBAN})


def write(directory: Path, *rows: str) -> Path:
    path = directory / "statement.csv"
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def many_lines(count: int) -> tuple[str, ...]:
    """ROWS with `count` more Monday lines of 1.00 each, the closing raised to match."""
    extra = tuple(
        f"line,{MONDAY_ID},{IBAN},USD,2026-11-16,,1.00,E2E-{n:04d},credit {n}" for n in range(count)
    )
    closing = f"closing,{MONDAY_ID},{IBAN},USD,2026-11-16,,{750 + count}.00,,"
    return (*ROWS[:3], *extra, *ROWS[3:5], closing, ROWS[6])


def streamed(store: Store, path: Path) -> ImportResult:
    scanned = scan_statement_csv(path)
    return import_statement_stream(
        store, scanned.statements, scanned.lines, source_file=str(path), actor="ops"
    )


def stored_lines(store: Store) -> list[tuple[str, int, int, str]]:
    st, sl = schema.statements, schema.statement_lines
    with store.read() as connection:
        rows = connection.execute(
            sa.select(st.c.statement_id, sl.c.line_no, sl.c.amount_minor, sl.c.references_json)
            .join(st, st.c.id == sl.c.statement_row)
            .order_by(st.c.statement_id, sl.c.line_no)
        ).all()
    return [tuple(row) for row in rows]


def stored_hashes(store: Store) -> dict[str, str]:
    st = schema.statements
    with store.read() as connection:
        rows = connection.execute(sa.select(st.c.statement_id, st.c.body_hash)).all()
    return {row.statement_id: row.body_hash for row in rows}


def test_a_streamed_import_stores_the_hashes_the_whole_file_import_stored(
    books: Store, tmp_path: Path
) -> None:
    result = streamed(books, write(tmp_path, *ROWS))
    assert (result.statements, result.lines, result.existing) == (2, 3, 0)
    assert stored_hashes(books) == HASHES_BEFORE
    assert result.balance_breaks == []


def test_a_file_imported_whole_before_is_existing_when_streamed_again(
    books: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, *ROWS)
    import_statements(books, read_statement_csv(path), source_file=str(path), actor="ops")
    again = streamed(books, path)
    assert (again.statements, again.lines, again.existing) == (0, 0, 2)
    assert len(stored_lines(books)) == 3


def test_a_file_of_many_chunks_stores_every_line_once_in_file_order_per_statement(
    books: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statement_import_service, "statement_lines_per_chunk", 3)
    path = write(tmp_path, *many_lines(10))
    result = streamed(books, path)
    assert (result.statements, result.lines) == (2, 13)
    lines = stored_lines(books)
    monday = [line for line in lines if line[0] == MONDAY_ID]
    assert [line[1] for line in monday] == list(range(1, 13))
    references = [orjson.loads(line[3]) for line in monday]
    assert references == [["E2E-0001"], *[[f"E2E-{n:04d}"] for n in range(10)], ["REF-2"]]
    assert [line[2] for line in lines if line[0] == TUESDAY_ID] == [12550]
    whole = {s.statement_id: statement_hash(s) for s in read_statement_csv(path)}
    assert stored_hashes(books) == whole
    # Tuesday (row 2) opens at 750.00 where Monday now closes at 760.00: checked after Monday.
    assert result.balance_breaks == ["BAL-2-1"]
    again = streamed(books, path)
    assert (again.statements, again.existing) == (0, 2)
    assert len(stored_lines(books)) == 13


def test_an_amount_past_the_currency_scale_on_the_last_line_stores_nothing_of_the_file(
    books: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statement_import_service, "statement_lines_per_chunk", 2)
    # 0.001 is a CSV amount (the file reads) but no USD amount: refused once chunks are stored.
    rows = (*many_lines(6), f"line,{TUESDAY_ID},{IBAN},USD,2026-11-17,,0.001,,")
    with pytest.raises(ProblemError) as refused:
        streamed(books, write(tmp_path, *rows))
    [problem] = refused.value.problems
    assert problem.code == "too_many_decimals"
    assert problem.source.line == len(rows) + 1  # the header is line 1
    assert list_statements(books) == []
    assert stored_lines(books) == []


def test_a_bad_last_row_refuses_the_file_with_every_problem_before_anything_is_stored(
    books: Store, tmp_path: Path
) -> None:
    rows = (*many_lines(4)[:2], "line,,x", *many_lines(4)[2:-1], ROWS[6].replace("USD", "EUR"))
    with pytest.raises(ProblemError) as refused:
        streamed(books, write(tmp_path, *rows))
    codes = [problem.code for problem in refused.value.problems]
    assert codes == ["wrong_column_count", "mixed_currencies"]
    assert list_statements(books) == []


def test_a_changed_statement_is_refused_and_the_new_one_beside_it_is_not_stored(
    books: Store, tmp_path: Path
) -> None:
    streamed(books, write(tmp_path, *ROWS[:2], *ROWS[4:6]))
    # Monday again with another reference on its first line, and Tuesday new.
    rows = (ROWS[0], ROWS[1].replace("E2E-0001", "E2E-0009"), *ROWS[2:])
    with pytest.raises(ProblemError) as refused:
        streamed(books, write(tmp_path, *rows))
    assert [problem.code for problem in refused.value.problems] == ["statement_changed"]
    assert [row["statement_id"] for row in list_statements(books)] == [MONDAY_ID]
    assert len(stored_lines(books)) == 2


def test_a_file_changed_between_its_two_reads_stores_nothing(books: Store, tmp_path: Path) -> None:
    path = write(tmp_path, *ROWS)
    scanned = scan_statement_csv(path)
    write(tmp_path, *ROWS[:3], *ROWS[5:])  # the lines gone, as a bank's upload rewriting it
    with pytest.raises(ProblemError) as refused:
        import_statement_stream(
            books, scanned.statements, scanned.lines, source_file=str(path), actor="ops"
        )
    assert [problem.code for problem in refused.value.problems] == ["unreadable_file"]
    assert list_statements(books) == []


def test_recon_import_of_a_statement_csv_streams_it(
    books: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setattr(statement_import_service, "statement_lines_per_chunk", 2)
    path = write(tmp_path, *many_lines(5))
    outcome = cli("recon", "import", "--json", str(path))
    assert outcome.status == 0, outcome.stderr
    [row] = outcome.json()
    assert (row["statements"], row["lines"], row["existing"]) == (2, 8, 0)
    assert stored_hashes(books) == {
        s.statement_id: statement_hash(s) for s in read_statement_csv(path)
    }


def whole_file_hash(statement: Statement) -> str:
    """The body hash as computed before it was streamed, at once over the whole statement."""
    body = [
        statement.statement_id, statement.account, statement.currency,
        statement.opening_balance,
        statement.opening_date.isoformat() if statement.opening_date else None,
        statement.closing_balance, statement.closing_date.isoformat(),
        statement.format.value,
        [
            [line.amount, line.value_date.isoformat(), list(line.references),
             line.booking_date.isoformat() if line.booking_date else None, line.description]
            for line in statement.lines
        ],
    ]  # fmt: skip
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


texts = st.text(max_size=12)
days = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
statement_lines = st.builds(
    StatementLine,
    amount=st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True),
    value_date=days,
    booking_date=st.none() | days,
    references=st.lists(texts, max_size=3).map(tuple),
    description=texts,
    source=st.just(Source("statement.csv", 2)),
    raw=texts,
)


@settings(max_examples=200)
@given(
    statement_id=texts,
    opening=st.none() | st.just("10.00"),
    lines=st.lists(statement_lines, max_size=6),
    day=days,
    kind=st.sampled_from(StatementFormat),
)
def test_the_hash_of_lines_added_one_at_a_time_is_the_whole_statements_hash(
    statement_id: str,
    opening: str | None,
    lines: list[StatementLine],
    day: dt.date,
    kind: StatementFormat,
) -> None:
    statement = Statement(
        statement_id=statement_id, format=kind, account=IBAN, currency="USD",
        opening_balance=opening, opening_date=day if opening else None, closing_balance="1",
        closing_date=day, lines=tuple(lines), source=Source("statement.csv", 1),
    )  # fmt: skip
    assert statement_hash(statement) == whole_file_hash(statement)


def test_a_statement_twice_in_one_stream_is_stored_once_as_a_whole_file_import_does(
    books: Store,
) -> None:
    # Two heads of one identity (a bank resending a statement within one file): the second
    # is the first's, `existing`; with other lines it would be `statement_changed`.
    [monday, _] = read_statement_csv_heads()
    lines = [
        (index, StatementLine("5.00", monday.closing_date, None, ("E2E-1",), "", monday.source, ""))
        for index in (0, 1)
    ]
    result = import_statement_stream(
        books, [monday, monday], lambda: lines, source_file="twice.csv", actor="ops"
    )
    assert (result.statements, result.lines, result.existing) == (1, 1, 1)
    changed = [lines[0], (1, dataclasses.replace(lines[1][1], amount="6.00"))]
    with pytest.raises(ProblemError) as refused:
        import_statement_stream(
            books, [monday, monday], lambda: changed, source_file="twice.csv", actor="ops"
        )
    assert [problem.code for problem in refused.value.problems] == ["statement_changed"]


def read_statement_csv_heads() -> tuple[Statement, ...]:
    with tempfile.TemporaryDirectory() as directory:
        return scan_statement_csv(write(Path(directory), *ROWS)).statements
