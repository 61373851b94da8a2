"""How the CLI talks: JSON on stdout for scripts, everything else for people on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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
