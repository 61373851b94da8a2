"""SWIFT MT940 (customer statement) and MT950 (statement message) bank statements.

A file holds one or more messages, each with or without the FIN envelope
`{1:...}{2:...}[{3:...}]{4:<newline>...<newline>-}[{5:...}]`. Many banks export the bare text
block only: messages then follow one another, each ended by a line starting with '-' (ING
writes "-XXX"), a '$' line, or simply the next :20:. Lines end in CRLF or LF; SOH and ETX
framing characters are dropped. Up to `header_lines_max` lines that are no field may stand
before a message (ABN AMRO's "ABNANL2A / 940 / ABNANL2A", ING's "0000 01INGBNL2AXXXX00001",
Rabobank's ":940:"); they are passed over, and one naming the message type ("940", "950",
"942") tells it, as block 2 of the envelope does.

One `Statement` per message: statement_id = :20: + "/" + :28C:, sequence = :28C:, account =
:25: as written (a "BIC/ACCOUNT" keeps its BIC), currency and opening balance from :60F: or :60M:,
closing balance from :62F: or :62M:. :21:, :64:, :65:, :NS: and an :86: outside a statement
line (information on the whole statement) are passed over. Amounts are plain decimal strings
with a dot ("1234.50", "15000"), signed: credit positive. A statement line (:61:) reads the
value date YYMMDD, the optional entry date MMDD (its year is the one that puts it nearest the
value date, so a December entry of a January value falls in the year before), the mark (C, D;
RC, a reversal of a credit, is a debit; RD, a reversal of a debit, is a credit), the optional
funds code letter, the amount, the transaction type (N, F or S and three characters), the
reference for the account owner, the account servicing institution's reference after "//" and
the supplementary details line. Its :86: (information to the account owner) is the line's
description, after the supplementary details. Whether opening balance plus lines gives the
closing balance is left to the service, which checks balances.

References, most specific first: the end-to-end id, the servicer's reference (:61: after //),
the instruction id, the remittance information, the owner's reference (:61:). The middle ones
come from a structured :86:: the German "GVC?00...?20...?29" layout (also with '>' for '?'),
whose purpose lines ?20-?29 carry SEPA keywords EREF+ (end-to-end id), KREF+ (instruction id)
and SVWZ+ (remittance; without any keyword the purpose lines are the remittance), or the
"/EREF/.../KREF/.../REMI/..." layout (ING, Rabobank). Placeholders (NONREF, NOTPROVIDED) are
not references.

Leniencies, each for a layout real banks send: an amount without its decimal comma (Knab);
amounts padded with leading zeros beyond 15 characters (Rabobank); 29 or 30 February as a
date, read as the month's last day (German banks date on a 30-day-month calendar); four
spaces for a missing entry date (ASN, Citi); a transaction type with spaces ("S   ",
Sberbank); a :61: broken after its mark (Sparkasse); an owner's reference over 16 characters;
a reference padded to 16 characters and followed by the counterparty's name (Rabobank: the
name goes to the supplementary details); several :86: for one line (Rabobank, joined); more
than six :86: lines; a line inside :86: that looks like an unknown tag (":26:37 Fo...", a
wrapped time of day) continuing it.

Encoding: UTF-8, with or without a BOM. A file that is not valid UTF-8 and has no BOM is read as
latin-1 (ISO 8859-1), which many banks' exports are. Latin-1 maps every byte to a character, so
the fallback always decodes: a file in another single-byte code page (CP852, CP1252) reads with
some letters of its descriptions wrong but every field SWIFT restricts to ASCII (amounts,
dates, references) right. A UTF-16 file, or one with a UTF-8 BOM that is not UTF-8, is
`not_utf8`.

Every problem is a `Problem` with a stable code and its source (file, line, field such as
":61:"); any problem refuses the whole file (`ProblemError` listing them all, at most
`problems_max`). Whole-file codes: `unreadable_file`, `file_too_large`, `binary_file`,
`not_utf8`, `empty_file`, `unrecognised_format`, `too_many_messages`. Message codes:
`malformed_message` (envelope or layout), `unsupported_message` (an MT942 interim report,
which holds no balances and is not a statement, or another message type), `missing_field`,
`unexpected_field` (a field twice, out of place, or foreign to MT940), `invalid_field`,
`invalid_date`, `invalid_mark`, `invalid_currency`, `invalid_amount`; `too_many_problems` counts
those past `problems_max`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.recon.model import Statement, StatementFormat, StatementLine

__all__ = [
    "FinField",
    "FinMessage",
    "file_bytes_max",
    "fin_fields",
    "fin_messages",
    "read_mt940",
]

file_bytes_max = 64 * 1024 * 1024
messages_per_file_max = 100_000
line_chars_max = 4_096  # a FIN line holds 65 characters at most; exports run longer
header_lines_max = 5  # lines that are no field before a message (ABN AMRO writes three)
field_lines_max = 200  # lines of one field; :86: holds 6 of 65 by the standard, banks more
problems_max = 100  # listed in one ProblemError; the rest add nothing a person can act on
reference_chars_max = 16  # :20: 16x
account_chars_max = 35  # :25: 35x
amount_chars_max = 15  # 15d: digits and the decimal comma, leading zeros aside

_FRAMING = {0x01: None, 0x03: None}  # SOH, ETX
_SEPARATORS = " \t\r\n$"
_FIN_START = "{1:"
_FIN_BLOCKS = re.compile(
    r"\{1:(?P<basic>[^{}]*)\}\s*"
    r"\{2:(?P<application>[^{}]*)\}\s*"
    r"(?:\{3:(?:\{[^{}]*\})*\}\s*)?"
    r"\{4:(?P<text>[^{}]*?\n)-\}\s*"
    r"(?:\{5:(?:\{[^{}]*\})*\}\s*)?"
    r"(?:\{S:(?:\{[^{}]*\})*\}\s*)?"
)
_FIN_MESSAGE_TYPE = re.compile(r"[IO]([0-9]{3})")
_FIELD_START = re.compile(r":([0-9]{2}[A-Z]?|NS):")
_HEADER_TYPE = re.compile(r":?(940|941|942|950|535):?(?: +[0-9]{2})?")  # "940", ":940:", "940 00"

_MT940_TAGS = frozenset(
    {"20", "21", "25", "25P", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64", "65"}
    | {"NS", "13D", "34F", "90C", "90D"}
)
_PASSED_OVER = frozenset({"21", "64", "65", "NS", "13D", "90C", "90D"})
_FREE_TEXT_TAGS = frozenset({"86", "NS"})
_STATEMENT_NUMBER = re.compile(r"[0-9]{1,16}(?:/[0-9]{1,16})?")
_AMOUNT = re.compile(r"([0-9]+)(?:,([0-9]*))?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_STATEMENT_LINE = re.compile(
    r"(?P<value>[0-9]{6})(?P<entry>[0-9]{4}| {4})?(?P<mark>RC|RD|C|D)?"
    r"(?P<funds>[A-Z](?=[0-9]))?(?P<amount>[0-9,]*)(?P<type>[NFS][A-Z0-9 ]{3})?(?P<rest>.*)"
)
_BROKEN_AFTER_MARK = re.compile(r"[0-9]{6}(?:[0-9]{4}| {4})?R?[CD][A-Z]?")
_PLACEHOLDERS = frozenset({"NONREF", "NOTPROVIDED"})

_SUBFIELD_LAYOUT = re.compile(r"\s*[0-9]{3}([?>])[0-9]{2}")
_SEPA_KEYWORD = re.compile(
    r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT|PURP|MDAT|SQTP|ORCR|ORMR|DDAT)\+"
)
_SLASH_CODE = re.compile(
    r"/(EREF|KREF|REMI|PREF|MARF|CSID|BENM|ORDP|NAME|ADDR|IBAN|BIC|ID|ISDT|TRTP|RTRN|CDTRREFTP"
    r"|CDTRREF|CD|SCOR|URI|PURP|ULTC|ULTD|OCMT|CHGS|EXCH|IREF|TRCD|ACCW|SVCL|CNTP)/"
)
_REMITTANCE_PREFIXES = ("USTD//", "USTD/", "STRD/CUR/", "STRD/ISO/", "STRD/")


# Reading a FIN file: shared with the MT535 reader in `holdings` ------------------------------


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
    body = text.lstrip(_SEPARATORS)
    if not body:
        raise ProblemError(Problem("empty_file", "the file holds no message", Source(file)))
    if body.startswith(_FIN_START):
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
    count = text.count(_FIN_START)
    if count > messages_per_file_max:
        raise ProblemError(
            Problem(
                "too_many_messages",
                f"{count} messages: more than {messages_per_file_max} in one file",
                Source(file),
            )
        )
    messages: list[FinMessage] = []
    line = 1
    counted_to = 0
    start = text.find(_FIN_START)
    while start != -1:
        following = text.find(_FIN_START, start + len(_FIN_START))
        line += text.count("\n", counted_to, start)
        counted_to = start
        raw = text[start : len(text) if following == -1 else following].rstrip(_SEPARATORS + "\x1a")
        messages.append(_enveloped_message(raw, file, line))
        start = following
    return messages


def _enveloped_message(raw: str, file: str, line: int) -> FinMessage:
    def refused(reason: str, at: int = line, field: str | None = None) -> FinMessage:
        problem = Problem("malformed_message", reason, Source(file, at, field))
        return FinMessage(line, None, (), (problem,), raw)

    blocks = _FIN_BLOCKS.match(raw)
    if blocks is None:
        if "{4:" not in raw:
            return refused("no text block {4:...}")
        if "-}" not in raw:
            return refused("the text block does not end with a '-}' line")
        return refused("blocks out of order {1:}{2:}{3:}{4:}{5:}, or braces inside one")
    if blocks.end() != len(raw):
        return refused(
            "text after the message's last block", line + raw.count("\n", 0, blocks.end())
        )
    kind = _FIN_MESSAGE_TYPE.match(blocks["application"])
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
        # "-" ends a message: SWIFT lets no line of a field start with it.
        if stripped == "$" or content.startswith("-"):
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


# MT940 / MT950 -------------------------------------------------------------------------------


def read_mt940(path: Path) -> list[Statement]:
    """Every statement in the MT940 / MT950 file `path`, in file order.

    Raises `ProblemError` listing every problem when any message cannot be read whole (see the
    module's documentation for the codes): nothing of a bad file is returned.
    """
    file = str(path)
    text = decode_text(read_content(path, file_bytes_max), file)
    statements: list[Statement] = []
    problems: list[Problem] = []
    for message in fin_messages(text, file, first_field=":20:"):
        read = _statement(message, file)
        if isinstance(read, Statement):
            statements.append(read)
        else:
            problems.extend(read)
    if problems:
        if len(problems) > problems_max:
            more = Problem(
                "too_many_problems",
                f"{len(problems) - problems_max} more problems not listed",
                Source(file),
            )
            problems = [*problems[:problems_max], more]
        raise ProblemError(*problems)
    return statements


@dataclass
class _Problems:
    file: str
    found: list[Problem] = field(default_factory=list)

    def add(self, code: str, reason: str, at: FinField | int, label: str | None = None) -> None:
        if isinstance(at, FinField):
            line, label = at.line, label or at.label
        else:
            line = at
        self.found.append(Problem(code, reason, Source(self.file, line, label)))


@dataclass(frozen=True, slots=True)
class _Balance:
    amount: str
    date: dt.date
    currency: str


def _statement(message: FinMessage, file: str) -> Statement | list[Problem]:
    if message.problems and not message.lines:
        return list(message.problems)
    bad = _Problems(file, list(message.problems))
    kind = message.message_type
    if kind is not None and kind not in {"940", "950"}:
        reason = (
            "an MT942 interim transaction report: it lists the day's entries so far without "
            "opening and closing balances, so it is no statement"
            if kind == "942"
            else f"an MT{kind}: expected an MT940 or MT950 statement"
        )
        bad.add("unsupported_message", reason, message.line)
        return bad.found
    fields, problems = fin_fields(
        message, file, known_tags=_MT940_TAGS, free_text_tags=_FREE_TEXT_TAGS
    )
    bad.found.extend(problems)
    interim = next((f for f in fields if f.tag == "34F"), None)
    if interim is not None:
        reason = (
            "an MT942 interim transaction report (:34F: floor limit): it lists the day's "
            "entries so far without opening and closing balances, so it is no statement"
        )
        bad.add("unsupported_message", reason, interim)
        return bad.found

    def one(*tags: str) -> FinField | None:
        found = [f for f in fields if f.tag in tags]
        if not found:
            bad.add("missing_field", f":{tags[0]}: is required", message.line, f":{tags[0]}:")
            return None
        if len(found) > 1:
            bad.add("unexpected_field", f"a second {found[1].label} in one message", found[1])
            return None
        return found[0]

    reference = _reference(one("20"), bad)
    account_field = one("25", "25P")
    account = _account(account_field, bad)
    number = _statement_number(one("28C", "28"), bad)
    opening = _balance(one("60F", "60M"), bad)
    closing = _balance(one("62F", "62M"), bad)
    if opening is not None and closing is not None and opening.currency != closing.currency:
        where = next(f for f in fields if f.tag in {"62F", "62M"})
        reason = f"closing balance in {closing.currency}, opening balance in {opening.currency}"
        bad.add("invalid_currency", reason, where)
    lines = _statement_lines(fields, bad)
    if (
        bad.found
        or reference is None
        or account is None
        or number is None
        or opening is None
        or closing is None
    ):
        return bad.found
    return Statement(
        statement_id=f"{reference}/{number}",
        format=StatementFormat.MT950 if kind == "950" else StatementFormat.MT940,
        account=account,
        currency=opening.currency,
        opening_balance=opening.amount,
        opening_date=opening.date,
        closing_balance=closing.amount,
        closing_date=closing.date,
        lines=tuple(lines),
        source=Source(file, message.line),
        sequence=number,
        account_source=Source(file, account_field.line, account_field.label)
        if account_field is not None
        else None,
    )


def _single_line(field: FinField | None, bad: _Problems, what: str, chars_max: int) -> str | None:
    if field is None:
        return None
    value = field.lines[0].strip()
    if len(field.lines) > 1 and field.tag != "25P":  # 25P: the account, then the BIC
        bad.add("invalid_field", f"{what} on more than one line", field)
        return None
    if not value or len(value) > chars_max:
        bad.add("invalid_field", f"{what} {value[:40]!r}: 1 to {chars_max} characters", field)
        return None
    return value


def _reference(field: FinField | None, bad: _Problems) -> str | None:
    return _single_line(field, bad, "the transaction reference", reference_chars_max)


def _account(field: FinField | None, bad: _Problems) -> str | None:
    value = _single_line(field, bad, "the account", account_chars_max)
    if value is None:
        return None
    return value  # as written: the service finds its account part ("BIC/ACCOUNT")


def _statement_number(field: FinField | None, bad: _Problems) -> str | None:
    value = _single_line(field, bad, "the statement number", 2 * reference_chars_max)
    if value is not None and not _STATEMENT_NUMBER.fullmatch(value):
        reason = f"statement number {value!r}: digits, then '/' and a sequence number"
        bad.add("invalid_field", reason, field or 0)
        return None
    return value


def _balance(field: FinField | None, bad: _Problems) -> _Balance | None:
    """:60F:C070903EUR766656,49 as ("766656.49", 2007-09-03, "EUR"); debit negative."""
    if field is None:
        return None
    value = field.value.strip()
    mark, digits, currency, amount = value[:1], value[1:7], value[7:10], value[10:]
    if mark not in {"C", "D"}:
        bad.add("invalid_mark", f"balance mark {mark!r}: C (credit) or D (debit)", field)
        return None
    date = _date(digits)
    if date is None:
        bad.add("invalid_date", f"{digits!r} is not a date YYMMDD", field)
        return None
    if not _CURRENCY.fullmatch(currency):
        bad.add("invalid_currency", f"{currency!r} is not a currency code (three letters)", field)
        return None
    number = _amount(amount)
    if number is None:
        bad.add("invalid_amount", _amount_reason(amount), field)
        return None
    return _Balance(_signed(number, negative=mark == "D"), date, currency)


def _statement_lines(fields: list[FinField], bad: _Problems) -> list[StatementLine]:
    """The :61: lines with their :86:, in order, each between the opening and closing balance."""
    lines: list[StatementLine] = []
    place = "before"  # the opening balance; then "between", then "after" the closing balance
    current: FinField | None = None
    following: list[FinField] = []

    def flush() -> None:
        nonlocal current
        if current is not None:
            line = _statement_line(current, following, bad)
            if line is not None:
                lines.append(line)
        current = None
        following.clear()

    for f in fields:
        if f.tag in {"60F", "60M"}:
            place = "between"
        elif f.tag in {"62F", "62M"}:
            flush()
            place = "after"
        elif f.tag == "61":
            flush()
            if place == "between":
                current = f
            else:
                where = "before the opening" if place == "before" else "after the closing"
                bad.add("unexpected_field", f"a statement line {where} balance", f)
        elif f.tag in {"86", "NS"}:
            if current is not None:
                following.append(f)
        elif f.tag not in _MT940_TAGS:
            bad.add("unexpected_field", f"{f.label} is no MT940 or MT950 field", f)
        elif f.tag not in _PASSED_OVER:
            flush()
    flush()
    return lines


def _statement_line(
    field: FinField, following: list[FinField], bad: _Problems
) -> StatementLine | None:
    first, more = field.lines[0], list(field.lines[1:])
    if more and _BROKEN_AFTER_MARK.fullmatch(first.rstrip()):
        first, more = first.rstrip() + more[0].strip(), more[1:]
    parts = _STATEMENT_LINE.fullmatch(first.rstrip())
    if parts is None:
        bad.add("invalid_date", f"{first[:6]!r} is not a value date YYMMDD", field)
        return None
    value_date = _date(parts["value"])
    if value_date is None:
        bad.add("invalid_date", f"{parts['value']!r} is not a value date YYMMDD", field)
        return None
    entry_date = None
    if parts["entry"] and parts["entry"].strip():
        entry_date = _entry_date(parts["entry"], value_date)
        if entry_date is None:
            bad.add("invalid_date", f"{parts['entry']!r} is not an entry date MMDD", field)
            return None
    mark = parts["mark"]
    if mark is None:
        after = first[parts.end("entry") if parts["entry"] else 6 :][:2]
        reason = f"mark {after!r}: C, D, RC (reversal of a credit) or RD (reversal of a debit)"
        bad.add("invalid_mark", reason, field)
        return None
    amount = _amount(parts["amount"])
    if amount is None:
        bad.add("invalid_amount", _amount_reason(parts["amount"]), field)
        return None
    if parts["type"] is None:
        rest = parts["rest"][:4]
        reason = f"transaction type {rest!r}: N, F or S and three letters or digits"
        bad.add("invalid_field", reason, field)
        return None
    owner, servicer, same_line_details = _line_references(parts["rest"])
    details = [same_line_details] if same_line_details else []
    if len(more) > 1:
        reason = f"{len(more)} lines after the statement line; one of supplementary details fits"
        bad.add("invalid_field", reason, field)
        return None
    details.extend(text.strip() for text in more if text.strip())
    information = [text.rstrip() for f in following if f.tag == "86" for text in f.lines]
    while information and not information[-1]:
        information.pop()
    structured = _structured("".join(information))
    references = _distinct(
        structured.end_to_end, servicer, structured.instruction, structured.remittance, owner
    )
    description = "\n".join(text for text in (" ".join(details), "\n".join(information)) if text)
    raw = "\n".join([f":{field.tag}:{field.value}", *(f":{f.tag}:{f.value}" for f in following)])
    return StatementLine(
        amount=_signed(amount, negative=mark in {"D", "RC"}),
        value_date=value_date,
        booking_date=entry_date,
        references=references,
        description=description,
        source=Source(bad.file, field.line, field.label),
        raw=raw,
    )


def _line_references(rest: str) -> tuple[str, str, str]:
    """The owner's reference, the servicer's reference and same-line details of a :61:."""
    owner, slashes, servicer = rest.partition("//")
    if slashes:
        return owner.strip(), servicer.strip(), ""
    if len(owner) > reference_chars_max and owner[reference_chars_max - 1] == " ":
        # Rabobank: the reference padded to 16 characters, then the counterparty's name.
        return owner[:reference_chars_max].strip(), "", owner[reference_chars_max:].strip()
    return owner.strip(), "", ""


@dataclass(frozen=True, slots=True)
class _Structured:
    end_to_end: str | None = None
    instruction: str | None = None
    remittance: str | None = None


def _structured(information: str) -> _Structured:
    """References in a structured :86: ("166?00...?20EREF+...", "/EREF/.../REMI/...")."""
    layout = _SUBFIELD_LAYOUT.match(information)
    if layout is not None:
        separator = re.escape(layout[1])
        pieces = re.split(rf"{separator}([0-9]{{2}})", information.strip())
        purpose = "".join(
            value for code, value in zip(pieces[1::2], pieces[2::2], strict=True) if code[0] == "2"
        )
        keywords = _SEPA_KEYWORD.split(purpose)
        if len(keywords) == 1:
            return _Structured(remittance=purpose)
        values: dict[str, str] = {}
        for keyword, value in zip(keywords[1::2], keywords[2::2], strict=True):
            values.setdefault(keyword, value)
        return _Structured(values.get("EREF"), values.get("KREF"), values.get("SVWZ"))
    if any(f"/{code}/" in information for code in ("EREF", "KREF", "REMI")):
        matches = list(_SLASH_CODE.finditer(information))
        values = {}
        for match, after in zip(matches, [*matches[1:], None], strict=True):
            end = after.start() if after is not None else len(information)
            values.setdefault(match[1], information[match.end() : end].strip().rstrip("/"))
        remittance = values.get("REMI")
        for prefix in _REMITTANCE_PREFIXES:
            if remittance is not None and remittance.startswith(prefix):
                remittance = remittance.removeprefix(prefix)
                break
        return _Structured(values.get("EREF"), values.get("KREF"), remittance)
    return _Structured()


def _distinct(*references: str | None) -> tuple[str, ...]:
    kept: list[str] = []
    for reference in references:
        text = (reference or "").strip()
        if text and text.upper() not in _PLACEHOLDERS and text not in kept:
            kept.append(text)
    return tuple(kept)


def _amount(text: str) -> str | None:
    """A SWIFT amount ("1234,50", "15000,", "500") as a plain decimal string ("1234.50")."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        return None
    whole = match[1].lstrip("0") or "0"
    fraction = match[2] or ""
    if len(whole) + 1 + len(fraction) > amount_chars_max:
        return None
    return f"{whole}.{fraction}" if fraction else whole


def _amount_reason(text: str) -> str:
    return (
        f"amount {text[:40]!r}: digits with a decimal comma such as 1234,50, "
        f"at most {amount_chars_max} characters"
    )


def _signed(amount: str, *, negative: bool) -> str:
    zero = not amount.replace(".", "").strip("0")
    return f"-{amount}" if negative and not zero else amount


def _date(digits: str) -> dt.date | None:
    """YYMMDD, years 80-99 in the 1900s and 00-79 in the 2000s."""
    if len(digits) != 6 or not digits.isdigit():
        return None
    year = int(digits[:2])
    return _calendar_date(year + (1900 if year >= 80 else 2000), int(digits[2:4]), int(digits[4:]))


def _calendar_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        if month == 2 and day in {29, 30}:  # 30-day-month calendars: February's last day
            return dt.date(year, 3, 1) - dt.timedelta(days=1)
        return None


def _entry_date(digits: str, value_date: dt.date) -> dt.date | None:
    """MMDD in the year that puts it nearest `value_date` (a year end may fall between)."""
    month, day = int(digits[:2]), int(digits[2:])
    candidates = [
        date
        for year in (value_date.year - 1, value_date.year, value_date.year + 1)
        if (date := _calendar_date(year, month, day)) is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda date: abs((date - value_date).days))
