"""Input a hostile or careless sender writes: repeated keys, terminal escapes, other encodings.

Each case was found by a hostile run (issue 10): it must give one clear line naming the file,
line and field, store nothing it should not, and never merge or guess.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats.entries_jsonl import repeated_key
from backoffice.formats.recon_rules import read_recon_rules
from backoffice.formats.refdata_file import read_refdata
from backoffice.text import free_text_problem, text_problem
from tests.cli_runner import Cli

REFDATA = """\
assets:   [{code: USD, kind: currency, scale: 2}]
parties:  [{code: C0001, kind: client, name: Ada Client}, {code: FIRM, kind: firm}]
accounts:
  - {code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001}
  - {code: firm/bank/USD, type: asset, asset: USD, owner: FIRM}
"""


def entry(key: str, amount: str = "1000.00", description: str = "deposit") -> str:
    return json.dumps(
        {
            "key": key,
            "date": "2026-11-24",
            "description": description,
            "postings": [
                {"account": "firm/bank/USD", "amount": amount},
                {"account": "client/C0001/cash/USD", "amount": f"-{amount}"},
            ],
        }
    )


@pytest.fixture
def books(cli: Cli, tmp_path: Path) -> Cli:
    (tmp_path / "refdata.yaml").write_text(REFDATA)
    assert cli("refdata", "load", str(tmp_path / "refdata.yaml")).status == 0
    return cli


def post(cli: Cli, path: Path) -> dict[str, object]:
    outcome = cli("ledger", "post", str(path), "--json")
    return dict(json.loads(outcome.stdout))


def test_a_repeated_amount_in_one_posting_is_refused_not_merged(books: Cli, tmp_path: Path) -> None:
    line = entry("dup1").replace('"amount": "1000.00"', '"amount": "1000.00", "amount": "1.00"', 1)
    path = tmp_path / "entries.jsonl"
    path.write_text(line + "\n")
    summary = post(books, path)
    assert summary["created"] == 0
    assert summary["failed"] == 1
    [error] = summary["errors"]  # type: ignore[misc]
    assert error["code"] == "duplicate_field"
    assert error["line"] == 1
    assert error["field"] == "amount"
    assert "dup1" not in books("ledger", "entries", "--json").stdout


def test_a_repeated_key_field_is_refused_instead_of_the_last_one_winning(
    books: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_text(entry("dup2").replace('"key": "dup2"', '"key": "dup2", "key": "dup2b"') + "\n")
    summary = post(books, path)
    assert summary["failed"] == 1
    assert summary["errors"][0]["code"] == "duplicate_field"  # type: ignore[index]
    assert "dup2b" not in books("ledger", "entries", "--json").stdout


def test_an_escaped_quote_and_colon_inside_a_value_is_not_taken_for_a_repeated_key(
    books: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_text(entry("q1", description='he said "key": no') + "\n")
    assert post(books, path)["created"] == 1


def test_an_entry_description_with_terminal_escapes_is_refused_naming_the_field(
    books: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_text(entry("esc1", description="\x1b[2J\x1b[31mPWNED\x1b[0m\rfake") + "\n")
    summary = post(books, path)
    assert summary["created"] == 0
    [error] = summary["errors"]  # type: ignore[misc]
    assert error["code"] == "invalid_text"
    assert error["field"] == "description"
    assert "U+001B" in error["error"]


def test_a_utf16_entries_file_is_refused_once_as_not_utf8(books: Cli, tmp_path: Path) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_bytes((entry("u1") + "\n" + entry("u2") + "\n").encode("utf-16"))
    outcome = books("ledger", "post", str(path))
    assert outcome.status != 0
    assert outcome.stderr.count("not_utf8") == 1
    assert books("ledger", "quarantine", "--json").stdout.count("u1") == 0


def test_a_trailing_dos_end_of_file_mark_in_an_entries_file_is_tolerated(
    books: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_bytes(("\ufeff" + entry("d1") + "\r\n" + entry("d2") + "\r\n").encode() + b"\x1a")
    summary = post(books, path)
    assert (summary["created"], summary["failed"]) == (2, 0)


def test_a_dos_end_of_file_mark_inside_an_entries_file_is_still_refused(
    books: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_bytes((entry("d3") + "\n").encode() + b"\x1a\n" + (entry("d4") + "\n").encode())
    summary = post(books, path)
    assert (summary["created"], summary["failed"]) == (2, 1)
    assert summary["errors"][0]["line"] == 2  # type: ignore[index]


def test_a_repeated_key_in_a_refdata_mapping_is_refused_with_its_line_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "refdata.yaml"
    path.write_text(
        "assets: [{code: USD, kind: currency, scale: 2}]\n"
        "parties: [{code: FIRM, kind: firm}]\n"
        "accounts:\n"
        "  - {code: firm/bank/USD, asset: USD, owner: FIRM,\n"
        "     type: liability, type: asset}\n"
    )
    result = read_refdata(path)
    [problem] = result.problems
    assert problem.code == "duplicate_field"
    assert (problem.source.file, problem.source.line, problem.source.field) == (
        str(path),
        5,
        "type",
    )


def test_a_yaml_merge_key_is_not_taken_for_a_repeated_key(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "base: &base {date_tolerance_days: 1}\n"
        "default: {<<: *base, date_tolerance_days: 3}\n".replace("base: &base", "x-base: &base")
    )
    with pytest.raises(ProblemError) as refused:  # x-base is no section; the merge is fine
        read_recon_rules(path)
    assert {p.code for p in refused.value.problems} == {"unknown_field"}


def test_a_repeated_key_in_a_rules_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("default:\n  date_tolerance_days: 1\n  date_tolerance_days: 9\n")
    with pytest.raises(ProblemError) as refused:
        read_recon_rules(path)
    [problem] = refused.value.problems
    assert (problem.code, problem.source.line, problem.source.field) == (
        "duplicate_field",
        3,
        "date_tolerance_days",
    )


@pytest.mark.parametrize(
    "value",
    ["\x1b[2J", "line\nbreak", "carriage\rreturn", "bell\x07", "del\x7f", "csi\x9b", "ls\u2028"],
)
def test_control_characters_are_refused_in_free_text(value: str) -> None:
    assert text_problem(value) is not None
    problem = free_text_problem(value, "comment", 100)
    assert problem is not None
    assert problem.code == "invalid_text"
    assert problem.source.field == "comment"


def test_tabs_and_accented_letters_are_free_text() -> None:
    assert free_text_problem("Zahlung\tMüller – Ütopia", "comment", 100) is None


def test_free_text_over_its_limit_names_the_limit() -> None:
    problem = free_text_problem("x" * 301, "owner", 300)
    assert problem is not None
    assert problem.code == "text_too_long"
    assert "300" in problem.reason


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("--owner", "o" * 300, "text_too_long"),
        ("--owner", "o" * 100_000, "text_too_long"),
        ("--comment", "\x1b[2J\x1b[31mPWNED\x1b[0m\rfake", "invalid_text"),
        ("--comment", "c" * 2_001, "text_too_long"),
    ],
)
def test_free_text_of_a_break_change_is_refused_in_one_line_without_sql(
    cli: Cli, option: str, value: str, code: str
) -> None:
    outcome = cli("recon", "break", "BAL-1-1", option, value)
    assert outcome.status == 1
    [line] = outcome.stderr.strip().splitlines()
    assert f"{code}:" in line
    assert option.removeprefix("--") in line
    assert "SQL" not in line
    assert "INSERT" not in line


def test_a_correction_description_with_a_newline_is_refused(cli: Cli) -> None:
    outcome = cli(
        "recon", "resolve", "propose", "BAL-1-1", "--posting", "a=1", "--posting", "b=-1",
        "--description", "fee\nApproved by: supervisor",
    )  # fmt: skip
    assert outcome.status == 1
    assert "invalid_text" in outcome.stderr
    assert "description" in outcome.stderr


def test_an_os_user_with_control_characters_is_refused_before_any_command_runs(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A login name from /etc/passwd may hold anything a local admin gave it.
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "ops\x1b[2J")
    outcome = cli("ledger", "balances")
    assert outcome.status == 1
    assert "invalid_text" in outcome.stderr
    assert "os_user" in outcome.stderr


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=5),
    st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : "), (",\t", "\t:\t")]),
)
def test_a_line_without_repeated_keys_is_never_taken_for_one_whatever_its_spacing(
    document: dict[str, object], separators: tuple[str, str]
) -> None:
    raw = json.dumps(document, separators=separators).encode()
    assert repeated_key(raw, orjson.loads(raw)) is None


@given(
    st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=5),
    st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")]),
)
def test_a_repeated_key_is_found_whatever_the_spacing(
    document: dict[str, object], separators: tuple[str, str]
) -> None:
    key = next(iter(document))
    comma, colon = separators
    body = json.dumps(document, separators=separators)
    raw = (body[:-1] + f"{comma}{json.dumps(key)}{colon}1" + "}").encode()
    assert repeated_key(raw, orjson.loads(raw)) == key
