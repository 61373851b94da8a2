"""Settlement instructions out as SWIFT MT540, MT541, MT542 and MT543 (ISO 15022).

The message type follows from the instruction, seen from the firm:

    receive free MT540 · receive against payment MT541 · deliver free MT542 · deliver against
    payment MT543

A message is the basic header `{1:F01<sender LT address>0000000000}`, the input application
header `{2:I54x<receiver address>N}` (normal priority) and the text block `{4:...-}`, lines
separated by CRLF as on the FIN network. The sender's logical terminal is `A` (`BIC8 + A +
branch`), the receiver's address is `BIC8 + X + branch`; the branch is `XXX` for an 8-character
BIC. Session and sequence numbers are zeros: the SWIFT interface assigns them. No trailer.

Block 4 carries:

- A GENL: `:20C::SEME//` the reference exactly as given, `:23G:NEWM` or `CANC`, `:98C::PREP//`
  the creation time (its wall clock, as given), and for a cancellation the linkage A1 with
  `:20C::PREV//` the reference of the instruction it cancels;
- B TRADDET: `:98A::SETT//`, `:98A::TRAD//`, `:35B:ISIN <isin>` and the security's name on up to
  four lines of 35 characters;
- C FIAC: `:36B::SETT//UNIT/<quantity>` and the firm's `:97A::SAFE//` account;
- E SETDET: `:22F::SETR//TRAD`; the counterparty's agent (`:95P::DEAG//` when the firm receives,
  `:95P::REAG//` when it delivers) with the counterparty's `:97A::SAFE//` account; the place of
  settlement `:95P::PSET//` (the counterparty's, as SMPG wants for a cross-CSD chain); and
  against payment, E3 `:19A::SETT//<currency><amount>`. The amount is prefixed `N` when the cash
  goes against the message type's usual way (a delivery with payment, a receipt with payment).

All text is checked against the SWIFT X character set and refused otherwise (`invalid_swift_text`):
nothing is transliterated silently. Numbers are written as SWIFT `15d`: a decimal comma, no
thousands separator, at most 15 characters with the comma; a quantity in its shortest form
(`100,`), an amount with the currency's ISO 4217 minor units (`1000,50`).
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap

from stdnum import isin as stdnum_isin

from backoffice.errors import InvariantViolation, Problem, ProblemError, Source, invariant
from backoffice.refdata.model import currency_minor_units
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
)

CRLF = "\r\n"
FILE_SEPARATOR = "$"  # a line of its own between two messages, as RJE-style bank files want
SENDER_LOGICAL_TERMINAL = "A"
RECEIVER_LOGICAL_TERMINAL = "X"
PRIORITY_NORMAL = "N"

reference_chars_max = 16  # 16x: SEME, PREV
account_chars_max = 35  # 35x: SAFE
number_chars_max = 15  # 15d, the comma included
description_lines_max = 4  # 35B: [4*35x] after the ISIN line
description_line_chars_max = 35
decimal_chars_max = 40  # input decimal strings, before any parsing
text_block_chars_max = 10_000  # FIN's limit on block 4
messages_per_file_max = 100_000

MESSAGE_TYPES = {
    (Direction.RECEIVE, Payment.FREE): "540",
    (Direction.RECEIVE, Payment.AGAINST_PAYMENT): "541",
    (Direction.DELIVER, Payment.FREE): "542",
    (Direction.DELIVER, Payment.AGAINST_PAYMENT): "543",
}
_FUNCTIONS = {InstructionFunction.NEW: "NEWM", InstructionFunction.CANCEL: "CANC"}
# The cash direction each message type implies for the firm: True when the firm is credited.
_USUAL_CREDIT = {Direction.RECEIVE: False, Direction.DELIVER: True}

# SWIFT character set X: a-z A-Z 0-9 / - ? : ( ) . , ' + space (and CrLf between lines).
_SWIFT_X_LINE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")
_SWIFT_X_BLOCK = re.compile(r"[A-Za-z0-9/\-?:().,'+ \r\n]*")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")  # 4!a2!a2!c[3!c]
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
_CURRENCY = re.compile(r"[A-Z]{3}")
_PLAIN_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_WHITESPACE_RUN = re.compile(r"\s+")
_MESSAGE = re.compile(
    r"\{1:F01[A-Z0-9]{12}[0-9]{10}\}\{2:I54[0-3][A-Z0-9]{12}N\}\{4:\r\n[A-Za-z0-9/\-?:().,'+ \r\n]*\r\n-\}"
)


def message_type(instruction: SettlementInstruction) -> str:
    """ "540", "541", "542" or "543" for the instruction's direction and payment."""
    return MESSAGE_TYPES[(instruction.direction, instruction.payment)]


def mt54x_message(
    instruction: SettlementInstruction,
    *,
    sender_bic: str,
    receiver_bic: str,
    creation_time: dt.datetime,
) -> str:
    """The instruction as one MT540-543 message (CRLF line ends, no trailing newline).

    Raises `ProblemError` with every problem found: `invalid_swift_text` (a character outside
    the X set; `Source.field` names the instruction's field, the reason the MT field),
    `invalid_reference`, `missing_previous_reference`, `invalid_bic`, `invalid_isin`,
    `invalid_account`, `invalid_quantity`, `invalid_amount`, `invalid_currency`,
    `payment_mismatch`.
    """
    problems = _instruction_problems(instruction)
    for field, bic in (("sender_bic", sender_bic), ("receiver_bic", receiver_bic)):
        problems += _bic_problems(bic, field)
    if problems:
        raise ProblemError(*problems)

    mt = message_type(instruction)
    lines = [*_general(instruction, creation_time), *_trade_details(instruction)]
    lines += _financial_instrument_account(instruction)
    lines += _settlement_details(instruction)
    text_block = CRLF.join(lines)
    invariant(
        _SWIFT_X_BLOCK.fullmatch(text_block) is not None,
        f"MT{mt} {instruction.reference!r} holds a character outside the X set after checks",
    )
    invariant(
        len(text_block) <= text_block_chars_max,
        f"MT{mt} {instruction.reference!r} text block exceeds {text_block_chars_max} characters",
    )
    sender = sender_bic[:8] + SENDER_LOGICAL_TERMINAL + (sender_bic[8:] or "XXX")
    receiver = receiver_bic[:8] + RECEIVER_LOGICAL_TERMINAL + (receiver_bic[8:] or "XXX")
    return (
        f"{{1:F01{sender}0000000000}}{{2:I{mt}{receiver}{PRIORITY_NORMAL}}}"
        f"{{4:{CRLF}{text_block}{CRLF}-}}"
    )


def mt54x_file(messages: list[str]) -> str:
    """Messages as one file for a bank's upload: each message, then a line `$` between two.

    This is the RJE-style layout most banks and SWIFT interfaces accept; a `$` can never occur
    inside a message (it is not in the X set, which every message given is checked against). Line ends are CRLF; the file ends with one.
    An empty list gives an empty file. Raises `ProblemError` (`too_many_messages`,
    `invalid_message`) for more than `messages_per_file_max` messages or a text that is not
    one message built by `mt54x_message`.
    """
    if len(messages) > messages_per_file_max:
        raise ProblemError(
            Problem(
                "too_many_messages",
                f"{len(messages)} messages; a file holds at most {messages_per_file_max}",
            )
        )
    problems = [
        Problem(
            "invalid_message",
            "not one MT540-543 message as built by mt54x_message",
            Source(field=f"messages[{index}]"),
        )
        for index, message in enumerate(messages)
        if _MESSAGE.fullmatch(message) is None
    ]
    if problems:
        raise ProblemError(*problems)
    if not messages:
        return ""
    return f"{CRLF}{FILE_SEPARATOR}{CRLF}".join(messages) + CRLF


# --- Sequences ---------------------------------------------------------------------------------


def _general(instruction: SettlementInstruction, creation_time: dt.datetime) -> list[str]:
    lines = [
        ":16R:GENL",
        f":20C::SEME//{instruction.reference}",
        f":23G:{_FUNCTIONS[instruction.function]}",
        f":98C::PREP//{creation_time:%Y%m%d%H%M%S}",
    ]
    if instruction.function is InstructionFunction.CANCEL:
        lines += [":16R:LINK", f":20C::PREV//{instruction.previous_reference}", ":16S:LINK"]
    lines.append(":16S:GENL")
    return lines


def _trade_details(instruction: SettlementInstruction) -> list[str]:
    return [
        ":16R:TRADDET",
        f":98A::SETT//{instruction.settlement_date:%Y%m%d}",
        f":98A::TRAD//{instruction.trade_date:%Y%m%d}",
        f":35B:ISIN {instruction.isin}",
        *_description_lines(instruction.security_name),
        ":16S:TRADDET",
    ]


def _financial_instrument_account(instruction: SettlementInstruction) -> list[str]:
    quantity = _number_text(instruction.quantity, None)
    return [
        ":16R:FIAC",
        f":36B::SETT//UNIT/{quantity}",
        f":97A::SAFE//{instruction.firm.safekeeping_account}",
        ":16S:FIAC",
    ]


def _settlement_details(instruction: SettlementInstruction) -> list[str]:
    counterparty = instruction.counterparty
    agent = "DEAG" if instruction.direction is Direction.RECEIVE else "REAG"
    lines = [
        ":16R:SETDET",
        ":22F::SETR//TRAD",
        ":16R:SETPRTY",
        f":95P::{agent}//{counterparty.agent}",
        f":97A::SAFE//{counterparty.safekeeping_account}",
        ":16S:SETPRTY",
        ":16R:SETPRTY",
        f":95P::PSET//{counterparty.place_of_settlement}",
        ":16S:SETPRTY",
    ]
    if instruction.payment is Payment.AGAINST_PAYMENT:
        amount, currency = instruction.settlement_amount, instruction.currency
        if amount is None or currency is None:
            raise InvariantViolation("an instruction against payment was checked to have an amount")
        usual = _USUAL_CREDIT[instruction.direction] == instruction.cash_direction_credit
        sign = "" if usual else "N"
        amount_text = _number_text(amount, currency_minor_units(currency))
        lines += [":16R:AMT", f":19A::SETT//{sign}{currency}{amount_text}", ":16S:AMT"]
    lines.append(":16S:SETDET")
    return lines


def _description_lines(security_name: str) -> list[str]:
    """The name wrapped on word boundaries into at most four lines of 35 characters.

    Beyond four lines the rest is cut. No line may begin with `:` or `-` (FIN would read a new
    field or the end of the text block), and the first not with `/` (a `/2!a/` identifier
    code would be read): such leading characters are dropped from the line.
    """
    text = _WHITESPACE_RUN.sub(" ", security_name).strip()
    wrapped = textwrap.wrap(text, width=description_line_chars_max, break_on_hyphens=False)
    lines: list[str] = []
    for line in wrapped:
        forbidden_start = ":-/" if not lines else ":-"
        kept = line.lstrip(forbidden_start + " ")
        if kept:
            lines.append(kept)
        if len(lines) == description_lines_max:
            break
    return lines


def _number_text(text: str, decimals: int | None) -> str:
    """A checked decimal as SWIFT 15d: `100,`, `0,25`, `1000,50` (exactly `decimals`)."""
    written = _number_or_none(text, decimals)
    if written is None:
        raise InvariantViolation(f"number {text!r} was checked before it is written")
    return written


def _number_or_none(text: str, decimals: int | None) -> str | None:
    if len(text) > decimal_chars_max:
        return None
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        return None
    whole = match.group(1).lstrip("0") or "0"
    fraction = (match.group(2) or "").rstrip("0")
    if whole == "0" and not fraction:
        return None  # zero is not an instruction
    if decimals is not None:
        if len(fraction) > decimals:
            return None
        fraction = fraction.ljust(decimals, "0")
    written = f"{whole},{fraction}"
    return written if len(written) <= number_chars_max else None


# --- Checks of the input -----------------------------------------------------------------------


def _instruction_problems(instruction: SettlementInstruction) -> list[Problem]:
    problems = _reference_problems(instruction.reference, "reference", ":20C::SEME")
    if instruction.function is InstructionFunction.CANCEL:
        if instruction.previous_reference is None:
            problems.append(
                Problem(
                    "missing_previous_reference",
                    "a cancellation names the instruction it cancels (:20C::PREV)",
                    Source(field="previous_reference"),
                )
            )
        else:
            problems += _reference_problems(
                instruction.previous_reference, "previous_reference", ":20C::PREV"
            )
    if not (_ISIN.fullmatch(instruction.isin) and stdnum_isin.is_valid(instruction.isin)):
        problems.append(
            Problem(
                "invalid_isin",
                f"{instruction.isin!r} is not an ISIN with a valid check digit",
                Source(field="isin"),
            )
        )
    problems += _swift_text_problems(
        _WHITESPACE_RUN.sub(" ", instruction.security_name), "security_name", ":35B:"
    )
    problems += _account_problems(
        instruction.firm.safekeeping_account, "firm.safekeeping_account", ":97A::SAFE (FIAC)"
    )
    counterparty = instruction.counterparty
    problems += _account_problems(
        counterparty.safekeeping_account,
        "counterparty.safekeeping_account",
        ":97A::SAFE (SETPRTY)",
    )
    problems += _bic_problems(counterparty.agent, "counterparty.agent")
    problems += _bic_problems(counterparty.place_of_settlement, "counterparty.place_of_settlement")
    if _number_or_none(instruction.quantity, None) is None:
        problems.append(
            Problem(
                "invalid_quantity",
                f"quantity {instruction.quantity!r} is not a positive plain decimal that fits "
                f"SWIFT 15d ({number_chars_max} characters with the comma)",
                Source(field="quantity"),
            )
        )
    problems += _payment_problems(instruction)
    return problems


def _swift_text_problems(value: str, field: str, mt_field: str) -> list[Problem]:
    if _SWIFT_X_LINE.fullmatch(value) is not None:
        return []
    offending = sorted({character for character in value if not _SWIFT_X_LINE.fullmatch(character)})
    shown = ", ".join(repr(character) for character in offending[:5])
    return [
        Problem(
            "invalid_swift_text",
            f"{mt_field} {field} holds characters outside the SWIFT X set: {shown}",
            Source(field=field),
        )
    ]


def _reference_problems(value: str, field: str, mt_field: str) -> list[Problem]:
    text_problems = _swift_text_problems(value, field, mt_field)
    if text_problems:
        return text_problems
    if not 1 <= len(value) <= reference_chars_max:
        reason = f"must be 1 to {reference_chars_max} characters"
    elif value.startswith("/") or value.endswith("/") or "//" in value:
        reason = "must not start or end with '/' nor hold '//'"  # SWIFT network rule T26
    elif value != value.strip():
        reason = "must not begin or end with a space"
    else:
        return []
    return [
        Problem("invalid_reference", f"{mt_field} {field} {value!r} {reason}", Source(field=field))
    ]


def _account_problems(value: str, field: str, mt_field: str) -> list[Problem]:
    text_problems = _swift_text_problems(value, field, mt_field)
    if text_problems:
        return text_problems
    if not 1 <= len(value) <= account_chars_max or value != value.strip():
        return [
            Problem(
                "invalid_account",
                f"{mt_field} {field} {value!r} must be 1 to {account_chars_max} characters "
                "without surrounding spaces",
                Source(field=field),
            )
        ]
    return []


def _bic_problems(value: str, field: str) -> list[Problem]:
    if _BIC.fullmatch(value) is not None:
        return []
    return [
        Problem(
            "invalid_bic",
            f"{field} {value!r} is not a BIC (4!a2!a2!c[3!c])",
            Source(field=field),
        )
    ]


def _payment_problems(instruction: SettlementInstruction) -> list[Problem]:
    amount, currency = instruction.settlement_amount, instruction.currency
    if instruction.payment is Payment.FREE:
        if amount is not None:
            return [
                Problem(
                    "payment_mismatch",
                    "a free-of-payment instruction carries no settlement amount",
                    Source(field="settlement_amount"),
                )
            ]
        return []
    if amount is None or currency is None:
        return [
            Problem(
                "payment_mismatch",
                "an instruction against payment needs a settlement amount and a currency",
                Source(field="settlement_amount"),
            )
        ]
    minor_units = currency_minor_units(currency) if _CURRENCY.fullmatch(currency) else None
    if minor_units is None:
        return [
            Problem(
                "invalid_currency",
                f"{currency!r} is not an ISO 4217 currency code",
                Source(field="currency"),
            )
        ]
    if _number_or_none(amount, minor_units) is None:
        return [
            Problem(
                "invalid_amount",
                f"settlement amount {amount!r} is not a positive plain decimal with at most "
                f"{minor_units} decimals for {currency} that fits SWIFT 15d "
                f"({number_chars_max} characters with the comma)",
                Source(field="settlement_amount"),
            )
        ]
    return []
