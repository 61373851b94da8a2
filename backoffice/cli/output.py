"""How the CLI talks: JSON on stdout for scripts, tables for people on stdout (TSV when piped),
everything else for people on stderr; stored text escaped wherever a person reads it."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

stdout = Console()
stderr = Console(stderr=True, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


@contextmanager
def byte_progress(description: str, total_bytes: int) -> Iterator[Any]:
    """A progress bar on stderr for a file of `total_bytes`; silent when stderr is no terminal
    or the file is small, so scripts and logs stay clean."""
    show = stderr.is_terminal and total_bytes > 1_000_000
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not show,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total_bytes)
        yield lambda advance: progress.advance(task, advance)


# Control characters other than tab (C0, DEL, C1): stored text from older data or a sender's
# file could clear the screen or overwrite a line (ESC, CR) when printed for a person.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_OR_TAB = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(text: object, *, tab: bool = False) -> str:
    """`text` safe for a terminal: each control character (tab too when `tab`, as in TSV)
    written as its `\\xNN` escape, so what was stored is visible and harmless."""
    pattern = _CONTROL_OR_TAB if tab else _CONTROL
    return pattern.sub(lambda found: f"\\x{ord(found.group()):02x}", str(text))


def say(text: str) -> None:
    """One message for a person on stderr, stored text in it escaped, never read as markup."""
    stderr.print(shown(text), markup=False, highlight=False)


Cell = str | Sequence[str]  # a sequence: lines of one cell (one per line on a terminal)


class Listing:
    """A table for people. On a terminal a Rich table whose long cells fold (never cut with an
    ellipsis), amounts kept whole; piped, a TSV with the header line first, every value in
    full, so `| cat`, `| cut -f2` and `| grep` see what is stored. Every cell is escaped."""

    def __init__(self, *columns: str, title: str | None = None, amounts: Sequence[str] = ()):
        self.columns = columns
        self.title = title
        self.amounts = frozenset(amounts)
        self.rows: list[tuple[Cell, ...]] = []

    def add_row(self, *cells: Cell) -> None:
        self.rows.append(cells)

    def print(self) -> None:
        if stdout.is_terminal:
            self._print_table()
            return
        if self.title:
            say(self.title)
        lines = ["\t".join(self.columns)]
        for row in self.rows:
            lines.append("\t".join(_tsv_cell(cell) for cell in row))
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    def _print_table(self) -> None:
        table = Table(title=self.title)
        for name in self.columns:
            table.add_column(name, overflow="fold", no_wrap=name in self.amounts)
        for row in self.rows:
            table.add_row(*(Text(_lines(cell)) for cell in row))
        stdout.print(table)


def _lines(cell: Cell) -> str:
    if isinstance(cell, str):
        return shown(cell)
    return "\n".join(shown(line) for line in cell)


def _tsv_cell(cell: Cell) -> str:
    if isinstance(cell, str):
        return shown(cell, tab=True)
    return "; ".join(shown(line, tab=True) for line in cell)
