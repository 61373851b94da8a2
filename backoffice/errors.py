"""Two kinds of failure, never mixed.

*Expected errors* (bad input, a conflicting key, a breached balance flag) are data: a `Problem`
with a stable `code` that scripts may rely on, the `source` it came from (file, line, field) and a
human `reason`. *Invariant violations* are bugs and raise `InvariantViolation` at once through
`invariant()`, which `python -O` does not remove (unlike `assert`).
"""

from __future__ import annotations

from dataclasses import dataclass

from backoffice.error_codes import ErrorCode


class InvariantViolation(RuntimeError):
    """A bug: the system reached a state its own rules forbid. Never caught to carry on."""


def invariant(condition: bool, message: str) -> None:
    """Raise `InvariantViolation` with `message` unless `condition` holds."""
    if not condition:
        raise InvariantViolation(message)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a piece of input came from, as precisely as known."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Problem:
    """An expected error: a stable code (one of `backoffice.error_codes`), a human reason and
    where it came from."""

    code: ErrorCode
    reason: str
    source: Source = Source()

    def describe(self) -> str:
        where = self.source.describe()
        return f"{where}: {self.code}: {self.reason}" if where else f"{self.code}: {self.reason}"

    def with_source(self, source: Source) -> Problem:
        field = self.source.field if self.source.field is not None else source.field
        return Problem(self.code, self.reason, Source(source.file, source.line, field))


class ProblemError(Exception):
    """Carries one or more `Problem`s out of a service call that cannot go on.

    Entry points print each problem as one line and exit non-zero; no traceback.
    """

    def __init__(self, *problems: Problem) -> None:
        invariant(len(problems) > 0, "ProblemError needs at least one problem")
        self.problems: tuple[Problem, ...] = problems
        super().__init__("; ".join(p.describe() for p in problems))
