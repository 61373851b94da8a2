"""Reading a text file line by line with a bound on each line, whatever the file holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO


def bounded_lines(stream: IO[bytes], bytes_max: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, raw bytes or None when the line is over `bytes_max`, bytes consumed).

    An overlong line is skipped to its end without ever being held in memory whole.
    """
    number = 0
    while True:
        raw = stream.readline(bytes_max + 1)
        if not raw:
            return
        number += 1
        consumed = len(raw)
        if len(raw) > bytes_max and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(bytes_max + 1)
                consumed += len(raw)
            yield number, None, consumed
            continue
        yield number, raw, consumed
