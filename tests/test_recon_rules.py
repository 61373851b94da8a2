"""The matching rules file: a default and per-account rule sets, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from backoffice.errors import ProblemError
from backoffice.formats.recon_rules import read_recon_rules
from backoffice.recon.model import MatchingRules, MatchRule


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_an_account_inherits_the_default_and_overrides_what_it_names(tmp_path: Path) -> None:
    default, accounts = read_recon_rules(
        write(
            tmp_path,
            "default: {date_tolerance_days: 1, amount_tolerance_bps: 5}\n"
            "accounts:\n  firm/bank/EUR: {amount_tolerance_minor: 100, rules: [exact, tolerance]}\n",
        )
    )
    assert default == MatchingRules(date_tolerance_days=1, amount_tolerance_bps=5)
    assert accounts["firm/bank/EUR"] == MatchingRules(
        amount_tolerance_minor=100,
        amount_tolerance_bps=5,
        date_tolerance_days=1,
        rules=(MatchRule.EXACT, MatchRule.TOLERANCE),
    )


def test_an_empty_file_keeps_the_standard_rules(tmp_path: Path) -> None:
    assert read_recon_rules(write(tmp_path, "")) == (MatchingRules(), {})


def test_every_problem_of_a_rules_file_is_named_with_its_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "default: {date_tolerance_days: -1, colour: red}\n"
        "accounts:\n  A: {rules: [exact, manual]}\n  B: {amount_tolerance_bps: 20000}\n",
    )
    with pytest.raises(ProblemError) as refused:
        read_recon_rules(path)
    found = {(p.code, p.source.field) for p in refused.value.problems}
    assert found == {
        ("invalid_field", "default.date_tolerance_days"),
        ("unknown_field", "default.colour"),
        ("invalid_field", "accounts.A.rules"),
        ("limit_exceeded", "accounts.B.amount_tolerance_bps"),
    }
    assert all(p.source.file == str(path) for p in refused.value.problems)


def test_a_rules_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProblemError) as refused:
        read_recon_rules(write(tmp_path, "default: [unclosed\n"))
    assert refused.value.problems[0].code == "malformed_yaml"
