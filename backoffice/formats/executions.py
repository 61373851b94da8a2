"""Executions from a file, its format detected in one place: a FIX log when its first
non-blank line starts with 8=FIX, a trades CSV otherwise (for the CLI and the API alike)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backoffice.errors import Problem, ProblemError, Source


def is_fix_log(path: Path) -> bool:
    """A FIX log when its first non-blank line starts with 8=FIX; a CSV otherwise."""
    try:
        with path.open("rb") as stream:
            for raw in stream:
                stripped = raw.lstrip(b"\xef\xbb\xbf").strip()
                if stripped:
                    return stripped.startswith(b"8=FIX")
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(str(path)))
        ) from error
    return False


def read_executions(path: Path) -> Iterator[Any]:
    """The executions and rejected messages of a FIX log or a trades CSV, detected."""
    if is_fix_log(path):
        from backoffice.formats.fix_log import read_fix_log

        return read_fix_log(path)
    from backoffice.formats.trades_csv import read_trades_csv

    return read_trades_csv(path)
