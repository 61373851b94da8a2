"""One registry of error codes (backoffice/error_codes.py): every code the package gives is in
it (mypy proves it: `Problem.code` is the `ErrorCode` literal type), every code in it is given
somewhere and documented in the README, and each is spelt one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from backoffice.error_codes import ERROR_CODES, MEANINGS, ErrorCode

PACKAGE = Path(__file__).parents[1] / "backoffice"
README = Path(__file__).parents[1] / "README.md"


def string_constants_of_the_package() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "error_codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.JoinedStr):  # "error: database_refused: {reason}"
                for part in node.values:
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found.update(re.findall(r"[a-z][a-z0-9_]+", part.value))
    return found


def test_every_code_has_a_meaning_and_the_type_and_the_table_agree() -> None:
    assert set(get_args(ErrorCode)) == set(MEANINGS) == ERROR_CODES
    assert all(meaning.strip() and meaning.endswith(".") for meaning in MEANINGS.values())


def test_codes_are_snake_case_and_sorted() -> None:
    codes = list(get_args(ErrorCode))
    assert codes == sorted(codes)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code) for code in codes)


def test_every_registered_code_is_given_somewhere_in_the_package() -> None:
    assert ERROR_CODES - string_constants_of_the_package() == set()


def test_every_code_is_documented_in_the_readme_and_nothing_else_is() -> None:
    text = README.read_text()
    section = text[text.index("## Error codes") :]
    section = section[: section.find("\n## ", 3)] if "\n## " in section[3:] else section
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.MULTILINE))
    assert documented == ERROR_CODES


def test_retired_spellings_are_gone() -> None:
    retired = {
        "file_unreadable": "unreadable_file",
        "amount_invalid": "invalid_amount",
        "xml_malformed": "malformed_xml",
        "xml_forbidden": "unsafe_xml",
        "duplicate_columns": "duplicate_column",
        "missing_columns": "missing_column",
    }
    assert set(retired) & string_constants_of_the_package() == set()
    assert set(retired.values()) <= ERROR_CODES
