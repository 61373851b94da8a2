"""Reference data: loading YAML and CSV, idempotent reloads, allowed and refused changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from backoffice.errors import ProblemError
from backoffice.formats.refdata_file import read_refdata
from backoffice.refdata.service import LoadSummary, list_refdata, load_refdata
from backoffice.store.engine import Store

BASE = """
assets:   [{code: USD, kind: currency, scale: 2}, {code: US0378331005, kind: security, scale: 0, name: Apple Inc}]
parties:  [{code: C0001, kind: client, name: Ada Client}]
accounts: [{code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001,
            flags: [credits_must_not_exceed_debits], external_account: DE89370400440532013000}]
"""


def load(store: Store, tmp_path: Path, text: str, name: str = "refdata.yaml") -> LoadSummary:
    path = tmp_path / name
    path.write_text(text)
    return load_refdata(store, read_refdata(path), actor="test", source=str(path))


def problem_codes(error: pytest.ExceptionInfo[ProblemError]) -> list[str]:
    return [problem.code for problem in error.value.problems]


def test_the_issue_example_loads_and_loading_it_again_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    assert load(store, tmp_path, BASE) == LoadSummary(created=4, changed=0, unchanged=0)
    assert load(store, tmp_path, BASE) == LoadSummary(created=0, changed=0, unchanged=4)
    listed = list_refdata(store)
    (account,) = listed["accounts"]
    assert account.external_account == "DE89370400440532013000"
    assert [a.code for a in listed["assets"]] == ["USD", "US0378331005"]


def test_a_currency_takes_its_iso_4217_minor_units_when_no_scale_is_given(
    store: Store, tmp_path: Path
) -> None:
    load(store, tmp_path, "assets: [{code: JPY, kind: currency}, {code: BHD, kind: currency}]")
    scales = {asset.code: asset.scale for asset in list_refdata(store)["assets"]}
    assert scales == {"JPY": 0, "BHD": 3}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("assets: [{code: US0378331006, kind: security, scale: 0}]", "invalid_isin"),
        ("assets: [{code: XYZ, kind: currency, scale: 2}]", "unknown_currency"),
        ("assets: [{code: USD, kind: currency, scale: 40}]", "invalid_scale"),
        ("assets: [{code: USD, kind: money, scale: 2}]", "invalid_field"),
        ("assets: [{code: USD, kind: currency, scale: 2, colour: red}]", "unknown_field"),
        ("accounts: [{code: a/b, type: asset, asset: EUR, owner: C0001}]", "unknown_asset"),
        ("accounts: [{code: a/b, type: asset, asset: USD, owner: C9999}]", "unknown_party"),
        ("accounts: [{code: a/b, type: wealth, asset: USD, owner: C0001}]", "invalid_field"),
        ("accounts: [{code: 'a b', type: asset, asset: USD, owner: C0001}]", "invalid_code"),
        ("assets: [{code: USD, kind: currency, scale: 2}", "malformed_yaml"),
    ],
)
def test_bad_definitions_are_refused_and_nothing_of_the_file_is_stored(
    store: Store, tmp_path: Path, text: str, code: str
) -> None:
    load(store, tmp_path, "assets: [{code: USD, kind: currency, scale: 2}]\n"
         "parties: [{code: C0001, kind: client}]", name="first.yaml")  # fmt: skip
    mixed = text if "malformed" in code else text + "\nparties: [{code: C0002, kind: client}]"
    with pytest.raises(ProblemError) as error:
        load(store, tmp_path, mixed)
    assert code in problem_codes(error)
    assert [p.code for p in list_refdata(store)["parties"]] == ["C0001"]


def test_a_problem_names_the_file_and_line(store: Store, tmp_path: Path) -> None:
    text = "assets:\n  - {code: USD, kind: currency, scale: 2}\n  - {code: XX, kind: currency}\n"
    with pytest.raises(ProblemError) as error:
        load(store, tmp_path, text)
    (problem,) = error.value.problems
    assert problem.source.file is not None
    assert problem.source.file.endswith("refdata.yaml")
    assert problem.source.line == 3


def test_a_name_may_change_but_an_accounts_asset_or_flags_may_not(
    store: Store, tmp_path: Path
) -> None:
    load(store, tmp_path, BASE)
    renamed = BASE.replace("Ada Client", "Ada Lovelace")
    assert load(store, tmp_path, renamed).changed == 1
    with pytest.raises(ProblemError) as error:
        load(
            store,
            tmp_path,
            BASE.replace("credits_must_not_exceed_debits", "debits_must_not_exceed_credits"),
        )
    assert problem_codes(error) == ["definition_changed"]


def test_an_account_with_a_zero_balance_may_close_and_then_never_reopens(
    store: Store, tmp_path: Path
) -> None:
    load(store, tmp_path, BASE)
    closed = BASE.replace(
        "external_account: DE89370400440532013000",
        "external_account: DE89370400440532013000, status: closed",
    )
    assert load(store, tmp_path, closed).changed == 1
    with pytest.raises(ProblemError) as error:
        load(store, tmp_path, BASE)
    assert problem_codes(error) == ["account_closed"]


def test_the_csv_form_loads_the_same_records(store: Store, tmp_path: Path) -> None:
    csv_text = (
        "record,code,kind,scale,name,type,asset,owner,flags,external_account\n"
        "asset,USD,currency,2,,,,,,\n"
        "party,C0001,client,,Ada Client,,,,,\n"
        "account,client/C0001/cash/USD,,,,liability,USD,C0001,"
        "debits_must_not_exceed_credits,DE89370400440532013000\n"
    )
    assert load(store, tmp_path, csv_text, name="refdata.csv").created == 3
    (account,) = list_refdata(store)["accounts"]
    assert [flag.value for flag in account.flags] == ["debits_must_not_exceed_credits"]


def test_a_csv_row_with_an_unknown_record_names_its_line(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ProblemError) as error:
        load(store, tmp_path, "record,code\nasset,USD\nwidget,X\n", name="bad.csv")
    assert [(p.code, p.source.line) for p in error.value.problems] == [
        ("invalid_field", 2), ("unknown_record", 3),
    ]  # fmt: skip
