"""Mistakes a person makes at the CLI end in one named line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from backoffice.store.engine import Store
from tests.books import load_books
from tests.cli_runner import Cli


def test_exporting_onto_an_existing_directory_is_one_named_error_naming_that_directory(
    store: Store, cli: Cli, tmp_path: Path
) -> None:
    load_books(store)
    target = tmp_path / "exports"
    target.mkdir()
    for form in ("csv", "beancount", "parquet"):
        refused = cli("ledger", "export", "--format", form, "-o", str(target))
        assert refused.status == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "output_is_directory" in refused.stderr
        assert str(target) in refused.stderr
        assert refused.stderr.rstrip().endswith("is a directory: give a file name")
    assert list(target.iterdir()) == []
