"""SWIFT MT940 (customer statement) and MT950 (statement message) bank statements.

A file holds one or more FIN messages, enveloped or bare text blocks, split as `fin` tells
(ABN AMRO's " -", ING's "-XXX" and Rabobank's wrapped ":86:" lines starting with '-' among
them); a DOS end-of-file mark ending the file is dropped (`file_text`).

One `Statement` per message: statement_id = :20: + "/" + :28C:, sequence = :28C: (Rabobank
writes the same :20: in every statement of a file), account = :25: as written (an IBAN,
"BIC/account", "bank code/account", "account/currency"), currency and opening balance from
:60F: or :60M:, closing balance from :62F: or :62M:. :21:, :64:, :65:, :NS: and an :86: outside
a statement line (information on the whole statement) are passed over. Amounts are plain
decimal strings with a dot, as many decimals as written ("1234.50", "15000", a JPY "1000.00":
zeros past the currency's minor unit are exact, for the service to read with
`parse_amount(..., trailing_zeros=True)`), signed: credit positive. A statement line (:61:)
reads the value date YYMMDD, the optional entry date MMDD (its year is the one that puts it
nearest the value date, so a December entry of a January value falls in the year before), the
mark (C, D; RC, a reversal of a credit, is a debit; RD, a reversal of a debit, is a credit),
the optional funds code letter, the amount, the transaction type (N, F or S and three
characters), the reference for the account owner, the account servicing institution's reference
after "//" and the supplementary details line. Its :86: (information to the account owner) is
the line's description, after the supplementary details. Whether opening balance plus lines
gives the closing balance is left to the service, which checks balances.

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
a :20: over 16 characters (up to `transaction_reference_chars_max`); a balance wrapped after
its currency (":62F:C230101EUR", then "1234,56": any other break is `invalid_field`);
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
`not_utf8`, `empty_file` (nothing but blank lines, '$' or 0x1A: a file is never read as holding
no statement), `unrecognised_format`, `too_many_messages`. Message codes: `malformed_message`
(envelope or layout; a block never closed is named with the line it opened at),
`unsupported_message` (an MT942 interim report, which holds no balances and is not a statement,
or another message type), `missing_field`, `unexpected_field` (a field twice, out of place, or
foreign to MT940), `invalid_field`, `invalid_date`, `invalid_mark`, `invalid_currency`,
`invalid_amount`; `too_many_problems` counts those past `problems_max`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.fin import FinField, FinMessage, fin_fields, fin_messages
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
problems_max = 100  # listed in one ProblemError; the rest add nothing a person can act on
reference_chars_max = 16  # 16x: the :61: references
# :20: is 16x, but some banks' exports write more; 35 keeps
# ":20:/:28C:" within the 80 characters a statement id is stored in.
transaction_reference_chars_max = 35
account_chars_max = 35  # :25: 35x
amount_chars_max = 15  # 15d: digits and the decimal comma, leading zeros aside

_MT940_TAGS = frozenset(
    {"20", "21", "25", "25P", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64", "65"}
    | {"NS", "13D", "34F", "90C", "90D"}
)
_PASSED_OVER = frozenset({"21", "64", "65", "NS", "13D", "90C", "90D"})
_FREE_TEXT_TAGS = frozenset({"86", "NS"})
_STATEMENT_NUMBER = re.compile(r"[0-9]{1,16}(?:/[0-9]{1,16})?")
_AMOUNT = re.compile(r"([0-9]+)(?:,([0-9]*))?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BALANCE_HEAD_CHARS = len("C230101EUR")  # mark, date YYMMDD, currency
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
    if not statements and not problems:  # a file is never read as holding no statement
        raise ProblemError(Problem("empty_file", "no statement found in the file", Source(file)))
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

    def add(
        self, code: ErrorCode, reason: str, at: FinField | int, label: str | None = None
    ) -> None:
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
    return _single_line(field, bad, "the transaction reference", transaction_reference_chars_max)


def _account(field: FinField | None, bad: _Problems) -> str | None:
    """The account as written: an IBAN, "BIC/account", "bank code/account", "account/currency"
    or the account and currency run together. Which part names the account is for the
    reconciliation to decide; a form dropped here could never be matched there."""
    return _single_line(field, bad, "the account", account_chars_max)


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
    value = _balance_text(field, bad)
    if value is None:
        return None
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


def _balance_text(field: FinField, bad: _Problems) -> str | None:
    """The balance on one line. Some exports wrap it after the currency ("C230101EUR", then
    "1234,56"): only then is the second line unambiguously the amount, and it is joined."""
    lines = [text.strip() for text in field.lines if text.strip()]
    if len(lines) == 2 and len(lines[0]) == _BALANCE_HEAD_CHARS and _AMOUNT.fullmatch(lines[1]):
        return lines[0] + lines[1]
    if len(lines) > 1:
        reason = (
            f"the balance on more than one line ({' / '.join(lines)[:60]!r}): only an amount "
            "wrapped after the mark, date YYMMDD and currency reads"
        )
        bad.add("invalid_field", reason, field)
        return None
    return lines[0] if lines else ""


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
