"""SWIFT FIN files: their messages and each message's fields, for the MT940/MT950 reader
(`mt940`) and the MT535 reader (`holdings`); the settlement status reader (`settlement_status`)
takes the envelope (`FIN_BLOCKS`) and the split of a file into messages (`enveloped_texts`).

A file holds one or more messages, each with or without the FIN envelope
`{1:...}{2:...}[{3:...}]{4:<newline>...<newline>-}[{5:...}]`. Many banks export the bare text
block only: messages then follow one another, each ended by a line of '-' alone (spaces around
it allowed: ABN AMRO writes " -"), "-}", ING's "-XXX", a '$' line, or simply the next :20:
(Rabobank). Any other line starting with '-' is text: Rabobank wraps :86: at 65 characters
wherever they fall ("-3 27/201406-309/..."). Blank lines are passed over. Lines end in CRLF
or LF; SOH and ETX framing characters are dropped, and so is a DOS end-of-file mark (0x1A)
ending the file (`file_text`). Up to `header_lines_max` lines that are no field may stand
before a message (ABN AMRO's "ABNANL2A / 940 / ABNANL2A", ING's "0000 01INGBNL2AXXXX00001",
Rabobank's ":940:"); they are passed over, and one naming the message type ("940", "950",
"942") tells it, as block 2 of the envelope does.

Problems: `empty_file`, `unrecognised_format`, `too_many_messages` refuse the whole file;
`malformed_message` is a message's (an envelope out of order or a block never closed, named
with the line it opened at; a line over `line_chars_max`; a field over `field_lines_max`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from backoffice.errors import Problem, ProblemError, Source

__all__ = [
    "FIN_BLOCKS",
    "FIN_MESSAGE_TYPE",
    "FIN_START",
    "SEPARATORS",
    "FinField",
    "FinMessage",
    "enveloped_texts",
    "fin_fields",
    "fin_messages",
]

messages_per_file_max = 100_000
line_chars_max = 4_096  # a FIN line holds 65 characters at most; exports run longer
header_lines_max = 5  # lines that are no field before a message (ABN AMRO writes three)
field_lines_max = 200  # lines of one field; :86: holds 6 of 65 by the standard, banks more

_FRAMING = {0x01: None, 0x03: None}  # SOH, ETX
# What may stand between messages; SOH and ETX too, for a reader that keeps them (`fin_messages`
# drops them first).
SEPARATORS = " \t\r\n$\x01\x03"
FIN_START = "{1:"
# Lines that end a bare text block, spaces around aside (ABN AMRO writes " -"); ING ends with
# "-XXX". Any other line starting with '-' is text: Rabobank wraps :86: wherever the 65th
# character falls, so a line of it may begin with '-' ("-3 27/201406-309/...").
_MESSAGE_ENDS = frozenset({"-", "-}", "-XXX"})
_BLOCK_NAME = re.compile(r"\{([0-9A-Z]{1,3}):")
_BRACE_DEPTH = {"{": 1, "}": -1}
FIN_BLOCKS = re.compile(
    r"\{1:(?P<basic>[^{}]*)\}\s*"
    r"\{2:(?P<application>[^{}]*)\}\s*"
    r"(?:\{3:(?:\{[^{}]*\})*\}\s*)?"
    r"\{4:(?P<text>[^{}]*?\n)-\}\s*"
    r"(?:\{5:(?:\{[^{}]*\})*\}\s*)?"
    r"(?:\{S:(?:\{[^{}]*\})*\}\s*)?"
)
FIN_MESSAGE_TYPE = re.compile(r"[IO]([0-9]{3})")
_FIELD_START = re.compile(r":([0-9]{2}[A-Z]?|NS):")
_HEADER_TYPE = re.compile(r":?(940|941|942|950|535):?(?: +[0-9]{2})?")  # "940", ":940:", "940 00"


@dataclass(frozen=True, slots=True)
class FinMessage:
    """One message of a FIN file: its text block's lines with their line numbers.

    `message_type` is "940", "535"... as block 2 of the envelope or a bank's header line gives
    it, None when the file does not say. `problems` are the layout problems found splitting it.
    """

    line: int
    message_type: str | None
    lines: tuple[tuple[int, str], ...]
    problems: tuple[Problem, ...]
    raw: str


@dataclass(frozen=True, slots=True)
class FinField:
    """One field of a message: its tag ("61", "60F", "NS") and its lines, the tag cut off."""

    tag: str
    lines: tuple[str, ...]
    line: int

    @property
    def label(self) -> str:
        return f":{self.tag}:"

    @property
    def value(self) -> str:
        return "\n".join(self.lines)


def fin_messages(text: str, file: str, *, first_field: str) -> list[FinMessage]:
    """The messages of a FIN file, enveloped or bare text blocks.

    In bare text a line starting with `first_field` (":20:" for MT940) opens a new message.
    `ProblemError` (`empty_file`, `unrecognised_format`, `too_many_messages`) when the file
    holds no FIN messages.
    """
    text = text.translate(_FRAMING)
    body = text.lstrip(SEPARATORS)
    if not body:
        raise ProblemError(Problem("empty_file", "the file holds no message", Source(file)))
    if body.startswith(FIN_START):
        return _enveloped_messages(text, file)
    return _bare_messages(text, file, first_field)


def fin_fields(
    message: FinMessage,
    file: str,
    *,
    known_tags: frozenset[str] | None = None,
    free_text_tags: frozenset[str] = frozenset(),
) -> tuple[list[FinField], list[Problem]]:
    """The fields of `message`: a line starting with a tag opens one, any other continues it.

    A line that looks like a tag outside `known_tags` continues a field of `free_text_tags`
    (a wrapped "16:26:37" is no field :26:).
    """
    fields: list[tuple[str, list[str], int]] = []
    problems: list[Problem] = []
    for number, content in message.lines:
        if not content.strip():
            continue
        start = _FIELD_START.match(content)
        if start is not None and (
            known_tags is None
            or start[1] in known_tags
            or not fields
            or fields[-1][0] not in free_text_tags
        ):
            fields.append((start[1], [content[start.end() :]], number))
        elif fields:
            tag, lines, first = fields[-1]
            if len(lines) == field_lines_max:
                reason = f"field :{tag}: runs over {field_lines_max} lines"
                problems.append(
                    Problem("malformed_message", reason, Source(file, first, f":{tag}:"))
                )
            lines.append(content)
        else:
            reason = f"{content[:40]!r} before the message's first field"
            problems.append(Problem("malformed_message", reason, Source(file, number)))
    return [FinField(tag, tuple(lines), line) for tag, lines, line in fields], problems


def _enveloped_messages(text: str, file: str) -> list[FinMessage]:
    return [
        _enveloped_message(raw, file, line)
        for line, raw in enveloped_texts(text, file, messages_max=messages_per_file_max)
    ]


def enveloped_texts(text: str, file: str, *, messages_max: int) -> list[tuple[int, str]]:
    """(line of its start, text) of every enveloped message of `text`: each runs from its "{1:"
    to the next one, the separators after it left off. `ProblemError` (`too_many_messages`)
    over `messages_max`."""
    count = text.count(FIN_START)
    if count > messages_max:
        raise ProblemError(
            Problem(
                "too_many_messages",
                f"{count} messages: more than {messages_max} in one file",
                Source(file),
            )
        )
    messages: list[tuple[int, str]] = []
    line = 1
    counted_to = 0
    start = text.find(FIN_START)
    while start != -1:
        following = text.find(FIN_START, start + len(FIN_START))
        line += text.count("\n", counted_to, start)
        counted_to = start
        end = len(text) if following == -1 else following
        messages.append((line, text[start:end].rstrip(SEPARATORS)))
        start = following
    return messages


def _enveloped_message(raw: str, file: str, line: int) -> FinMessage:
    def refused(reason: str, at: int = line, field: str | None = None) -> FinMessage:
        problem = Problem("malformed_message", reason, Source(file, at, field))
        return FinMessage(line, None, (), (problem,), raw)

    unclosed = _unclosed_block(raw)
    if unclosed is not None:
        name, offset = unclosed
        at = line + raw.count("\n", 0, offset)
        end = "a '-}' line" if name == "4" else "its '}'"
        reason = f"block {{{name}: opened at line {at} is never closed: no {end}"
        return refused(reason, at, f"block {name}")
    blocks = FIN_BLOCKS.match(raw)
    if blocks is None:
        if "{4:" not in raw:
            return refused("no text block {4:...}")
        return refused("blocks out of order {1:}{2:}{3:}{4:}{5:}, or braces inside one")
    if blocks.end() != len(raw):
        return refused(
            "text after the message's last block", line + raw.count("\n", 0, blocks.end())
        )
    kind = FIN_MESSAGE_TYPE.match(blocks["application"])
    if kind is None:
        reason = f"application header {blocks['application'][:20]!r} names no message type"
        return refused(reason, field="block 2")
    first = line + raw.count("\n", 0, blocks.start("text"))
    lines = tuple(
        (first + offset, content.rstrip("\r"))
        for offset, content in enumerate(blocks["text"].split("\n"))
    )
    problems = _overlong(lines, file)
    return FinMessage(line, kind[1], lines, tuple(problems), raw)


def _unclosed_block(raw: str) -> tuple[str, int] | None:
    """The name ("4", "5") and offset of the first block of `raw` never closed, if any.

    The text block ends at a "-}" line whatever it holds; the others at their matching '}'.
    """
    position = 0
    while (start := raw.find("{", position)) != -1:
        named = _BLOCK_NAME.match(raw, start)
        name = named[1] if named is not None else raw[start + 1 : start + 2]
        if name == "4":
            end = raw.find("\n-}", start)
            if end == -1:
                return name, start
            position = end + len("\n-}")
            continue
        closing = _closing_brace(raw, start)
        if closing == -1:
            return name, start
        position = closing + 1
    return None


def _closing_brace(raw: str, start: int) -> int:
    """The offset of the '}' closing the '{' at `start` (blocks 3 and 5 nest), -1 if none."""
    depth = 0
    for offset in range(start, len(raw)):
        depth += _BRACE_DEPTH.get(raw[offset], 0)
        if depth == 0:
            return offset
    return -1


def _bare_messages(text: str, file: str, first_field: str) -> list[FinMessage]:
    lines = text.split("\n")
    _recognise(lines, file)
    messages: list[FinMessage] = []
    current: list[tuple[int, str]] = []
    header_type: str | None = None
    stray: list[int] = []

    def close() -> None:
        nonlocal header_type
        if current:
            if len(messages) == messages_per_file_max:
                raise ProblemError(
                    Problem(
                        "too_many_messages",
                        f"more than {messages_per_file_max} messages in one file",
                        Source(file),
                    )
                )
            raw = "\n".join(content for _, content in current)
            messages.append(
                FinMessage(
                    current[0][0], header_type, tuple(current), tuple(_overlong(current, file)), raw
                )
            )
        current.clear()
        header_type = None
        stray.clear()

    for number, line in enumerate(lines, 1):
        content = line.rstrip("\r")
        stripped = content.strip()
        if not stripped:
            continue
        if stripped == "$" or stripped in _MESSAGE_ENDS:
            close()
            continue
        if _FIELD_START.match(content):
            if current and content.startswith(first_field):
                close()
            current.append((number, content))
        elif current:
            current.append((number, content))
        else:
            stray.append(number)
            kind = _HEADER_TYPE.fullmatch(stripped)
            if kind is not None:
                header_type = kind[1]
            if len(stray) == header_lines_max + 1:
                reason = f"over {header_lines_max} lines that are no field between messages"
                problem = Problem("malformed_message", reason, Source(file, stray[0]))
                messages.append(FinMessage(stray[0], None, (), (problem,), ""))
    close()
    return messages


def _recognise(lines: Sequence[str], file: str) -> None:
    """Refuse a file whose first field is not within its first few lines."""
    seen = 0
    for line in lines:
        stripped = line.strip().translate(_FRAMING)
        if not stripped or stripped == "$":
            continue
        if _FIELD_START.match(line):
            return
        seen += 1
        if seen > header_lines_max:
            break
    raise ProblemError(
        Problem(
            "unrecognised_format",
            "neither SWIFT FIN messages (starting with '{1:') nor a FIN text block (fields "
            f"such as ':20:') within the first {header_lines_max + 1} lines",
            Source(file, 1),
        )
    )


def _overlong(lines: Sequence[tuple[int, str]], file: str) -> list[Problem]:
    return [
        Problem("malformed_message", f"a line over {line_chars_max} characters", Source(file, n))
        for n, content in lines
        if len(content) > line_chars_max
    ][:1]
