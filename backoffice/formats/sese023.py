"""Settlement instructions out as ISO 20022 `sese.023.001.11`, valid against the official XSD.

One `SettlementInstruction` becomes one `Document/SctiesSttlmTxInstr`:

- `TxId` is the instruction's reference, exactly as given (stable across runs);
- `SttlmTpAndAddtlParams`: RECE (the firm receives) or DELI (it delivers), APMT or FREE;
- `TradDtls`: trade and settlement dates as plain ISO dates;
- `FinInstrmId`: the ISIN and the security's name (cut to 140 characters);
- `QtyAndAcctDtls`: the quantity in units and the firm's safekeeping account;
- `SttlmParams`: a trade (TRAD);
- `DlvrgSttlmPties` / `RcvgSttlmPties`: each side's place of settlement (`Dpstry`) and its agent
  with the side's safekeeping account (`Pty1`). When the firm receives, the counterparty
  delivers; when the firm delivers, the counterparty receives;
- `SttlmAmt` for an instruction against payment, CRDT when the firm receives the cash, DBIT when
  it pays (so a delivery with payment is a DELI + APMT + DBIT).

sese.023 v11 has no cancel function (a cancellation is a `sese.020`, not supported yet), so a
cancellation is refused here; send it as MT54x `:23G:CANC` (`backoffice.formats.mt54x`).

Bad input (a reference too long, a BIC that is not one, a quantity beyond the schema's digits)
is an expected error raised as `ProblemError`; a document of ours that the XSD refuses anyway is
a bug and raises `InvariantViolation`. Amounts and quantities are decimal strings throughout,
written exactly: quantities in their shortest form (no leading zeros, no trailing fractional
zeros), amounts with the currency's ISO 4217 minor units ("1000.50" USD, "1000" JPY).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
import xml.etree.ElementTree as ET  # builds XML only; parsing goes through defusedxml
from importlib import resources

import xmlschema
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET
from stdnum import isin as stdnum_isin

from backoffice.error_codes import ErrorCode
from backoffice.errors import InvariantViolation, Problem, ProblemError, Source
from backoffice.refdata.model import currency_minor_units
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
    SettlementParty,
)

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:sese.023.001.11"
SCHEMA_RESOURCE = "schemas/sese.023.001.11.xsd"

document_bytes_max = 1_000_000  # one instruction is about 2 kB; refuse anything absurd unread
problems_max = 100  # a broken document reports its first problems, not thousands
text_chars_max = 35  # Max35Text: TxId, safekeeping account identifiers
description_chars_max = 140  # Max140Text: FinInstrmId/Desc
decimal_chars_max = 40  # input decimal strings, before any parsing
# DecimalNumber (quantity): totalDigits 18, fractionDigits 17.
quantity_digits_max = 18
quantity_decimals_max = 17
# ActiveCurrencyAndAmount_SimpleType: totalDigits 18, fractionDigits 5, and within that the
# currency's ISO 4217 minor units (the message's CurrencyAmount rule).
amount_digits_max = 18
amount_decimals_max = 5

_MOVEMENTS = {Direction.RECEIVE: "RECE", Direction.DELIVER: "DELI"}
_PAYMENTS = {Payment.AGAINST_PAYMENT: "APMT", Payment.FREE: "FREE"}
_PLAIN_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_ANY_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")  # AnyBICDec2014
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")  # ISINOct2015Identifier; stdnum checks the digit
_CURRENCY = re.compile(r"[A-Z]{3}")
# Characters XML 1.0 cannot carry at all, plus the other C0/C1 controls, which have no place in
# a reference, an account or a name (a CR would even come back as LF after parsing).
_NOT_PLAIN_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_WHITESPACE_RUN = re.compile(r"\s+")


@functools.cache
def sese023_schema() -> xmlschema.XMLSchema:
    """The official sese.023.001.11 XSD, compiled once per process (compiling takes ~0.5 s)."""
    text = resources.files("backoffice.formats").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    return xmlschema.XMLSchema(text)


def sese023_document(instruction: SettlementInstruction, *, creation_time: dt.datetime) -> bytes:
    """The instruction as a UTF-8 sese.023.001.11 Document with an XML declaration.

    Raises `ProblemError` for input the message cannot carry (codes `cancel_not_in_sese023`,
    `invalid_reference`, `invalid_isin`, `invalid_bic`, `invalid_account`, `invalid_text`,
    `invalid_quantity`, `invalid_amount`, `invalid_currency`, `payment_mismatch`), and
    `InvariantViolation` if the document built fails the XSD (a bug here, never bad input).

    `creation_time` belongs to the business application header (head.001 `CreDt`) that wraps
    the Document on the network; sese.023 itself has no creation timestamp. It is taken here so
    that both instruction formats are called alike; it does not change the Document.
    """
    if instruction.function is InstructionFunction.CANCEL:
        raise ProblemError(
            Problem(
                "cancel_not_in_sese023",
                f"instruction {instruction.reference!r} is a cancellation: sese.023.001.11 has no "
                "cancel function; send it as MT54x :23G:CANC, or as sese.020 (not supported yet)",
                Source(field="function"),
            )
        )
    problems = _instruction_problems(instruction)
    if problems:
        raise ProblemError(*problems)
    document = _serialise(_document_element(instruction))
    invalid = validate_sese023(document)
    if invalid:
        raise InvariantViolation(
            f"sese.023 built for {instruction.reference!r} fails its own schema: "
            + "; ".join(problem.describe() for problem in invalid)
        )
    return document


def validate_sese023(document: bytes) -> list[Problem]:
    """Problems of `document` against the sese.023.001.11 XSD; empty when it is valid.

    The bytes are parsed with defusedxml first: a DTD, an entity declaration or an external
    reference is refused (`unsafe_xml`), not expanded. Other codes: `document_too_large`,
    `malformed_xml`, and `schema_invalid` with the element's XPath (namespace left out when it
    is sese.023's own) in `Source.field`. At most `problems_max` problems are returned.
    """
    if len(document) > document_bytes_max:
        return [
            Problem(
                "document_too_large",
                f"document is {len(document)} bytes; the limit is {document_bytes_max}",
            )
        ]
    try:
        root = DefusedET.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as forbidden:
        return [Problem("unsafe_xml", f"document uses a forbidden XML construct: {forbidden!r}")]
    except ET.ParseError as malformed:
        line = malformed.position[0] if malformed.position else None
        return [
            Problem(
                "malformed_xml", f"document is not well-formed XML: {malformed}", Source(line=line)
            )
        ]
    problems: list[Problem] = []
    for failure in sese023_schema().iter_errors(root):
        path = _plain_names(failure.path or "/")
        reason = _plain_names(failure.reason or str(failure.message))
        problems.append(Problem("schema_invalid", reason, Source(field=path)))
        if len(problems) >= problems_max:
            break
    return problems


# --- Checks of the input ----------------------------------------------------------------------


def _instruction_problems(instruction: SettlementInstruction) -> list[Problem]:
    problems = _text_problems(instruction.reference, "reference", "invalid_reference")
    if not (_ISIN.fullmatch(instruction.isin) and stdnum_isin.is_valid(instruction.isin)):
        problems.append(
            Problem(
                "invalid_isin",
                f"{instruction.isin!r} is not an ISIN with a valid check digit",
                Source(field="isin"),
            )
        )
    if _NOT_PLAIN_TEXT.search(instruction.security_name):
        problems.append(
            Problem(
                "invalid_text",
                "security_name contains a control character",
                Source(field="security_name"),
            )
        )
    for side_name, side in (("firm", instruction.firm), ("counterparty", instruction.counterparty)):
        problems += _party_problems(side, side_name)
    quantity = _decimal_parts(instruction.quantity)
    if quantity is None or not _fits(quantity, quantity_digits_max, quantity_decimals_max):
        problems.append(
            Problem(
                "invalid_quantity",
                f"quantity {instruction.quantity!r} is not a positive plain decimal of at most "
                f"{quantity_digits_max} digits, {quantity_decimals_max} after the point",
                Source(field="quantity"),
            )
        )
    problems += _payment_problems(instruction)
    return problems


def _text_problems(value: str, field: str, code: ErrorCode) -> list[Problem]:
    if not 1 <= len(value) <= text_chars_max:
        return [
            Problem(code, f"{field} must be 1 to {text_chars_max} characters", Source(field=field))
        ]
    if _NOT_PLAIN_TEXT.search(value) or value != value.strip():
        return [
            Problem(
                code,
                f"{field} {value!r} has a control character or surrounding spaces",
                Source(field=field),
            )
        ]
    return []


def _party_problems(side: SettlementParty, side_name: str) -> list[Problem]:
    problems: list[Problem] = []
    for attribute in ("place_of_settlement", "agent"):
        bic = getattr(side, attribute)
        if not _ANY_BIC.fullmatch(bic):
            problems.append(
                Problem(
                    "invalid_bic",
                    f"{side_name} {attribute} {bic!r} is not a BIC (8 or 11 characters)",
                    Source(field=f"{side_name}.{attribute}"),
                )
            )
    problems += _text_problems(
        side.safekeeping_account, f"{side_name}.safekeeping_account", "invalid_account"
    )
    return problems


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
    parts = _decimal_parts(amount)
    decimals_max = min(amount_decimals_max, minor_units)
    # Counted as written: with the currency's minor units, "1.5" USD is three digits (1.50).
    written = None if parts is None else (parts[0], parts[1].ljust(minor_units, "0"))
    if written is None or not _fits(written, amount_digits_max, decimals_max):
        return [
            Problem(
                "invalid_amount",
                f"settlement amount {amount!r} is not a positive plain decimal of at most "
                f"{amount_digits_max} digits, {decimals_max} after the point for {currency}",
                Source(field="settlement_amount"),
            )
        ]
    return []


def _decimal_parts(text: str) -> tuple[str, str] | None:
    """A positive plain decimal as (integer digits, fraction digits) in shortest form, or None.

    "007.50" gives ("7", "5"), "0.25" gives ("0", "25"), "100" gives ("100", "").
    """
    if len(text) > decimal_chars_max:
        return None
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        return None
    whole = match.group(1).lstrip("0") or "0"
    fraction = (match.group(2) or "").rstrip("0")
    if whole == "0" and not fraction:
        return None  # zero is not an instruction
    return whole, fraction


def _fits(parts: tuple[str, str], digits_max: int, decimals_max: int) -> bool:
    whole, fraction = parts
    significant_whole = 0 if whole == "0" else len(whole)
    return len(fraction) <= decimals_max and significant_whole + len(fraction) <= digits_max


def _decimal_text(text: str, decimals: int | None = None) -> str:
    """A checked decimal in shortest form, or with exactly `decimals` decimals (an amount)."""
    parts = _decimal_parts(text)
    if parts is None:
        raise InvariantViolation(f"decimal {text!r} was checked before it is written")
    whole, fraction = parts
    if decimals is not None:
        fraction = fraction.ljust(decimals, "0")
    return f"{whole}.{fraction}" if fraction else whole


def _description(security_name: str) -> str | None:
    """The name on one line, cut to Max140Text without leaving a dangling combining mark.

    The cut counts characters of the value, before XML escaping: `&` is one character of the
    140 even though it is written as `&amp;`.
    """
    text = _WHITESPACE_RUN.sub(" ", security_name).strip()
    if len(text) > description_chars_max:
        end = description_chars_max
        # Keep a base character together with the accents that follow it.
        while end > 0 and unicodedata.combining(text[end]):
            end -= 1
        text = text[:end].rstrip()
    return text or None


# --- Building the document --------------------------------------------------------------------


def _document_element(instruction: SettlementInstruction) -> ET.Element:
    # Local names with the namespace declared once as the default: ElementTree cannot write a
    # default namespace together with the unqualified `Ccy` attribute otherwise.
    document = ET.Element("Document", xmlns=NAMESPACE)
    body = _child(document, "SctiesSttlmTxInstr")
    _child(body, "TxId", instruction.reference)

    settlement_type = _child(body, "SttlmTpAndAddtlParams")
    _child(settlement_type, "SctiesMvmntTp", _MOVEMENTS[instruction.direction])
    _child(settlement_type, "Pmt", _PAYMENTS[instruction.payment])

    trade = _child(body, "TradDtls")
    _date(_child(trade, "TradDt"), instruction.trade_date)
    _date(_child(trade, "SttlmDt"), instruction.settlement_date)

    security = _child(body, "FinInstrmId")
    _child(security, "ISIN", instruction.isin)
    description = _description(instruction.security_name)
    if description is not None:
        _child(security, "Desc", description)

    quantity_and_account = _child(body, "QtyAndAcctDtls")
    quantity = _child(_child(quantity_and_account, "SttlmQty"), "Qty")
    _child(quantity, "Unit", _decimal_text(instruction.quantity))
    _child(_child(quantity_and_account, "SfkpgAcct"), "Id", instruction.firm.safekeeping_account)

    parameters = _child(body, "SttlmParams")
    _child(_child(parameters, "SctiesTxTp"), "Cd", "TRAD")

    if instruction.direction is Direction.RECEIVE:
        deliverer, receiver = instruction.counterparty, instruction.firm
    else:
        deliverer, receiver = instruction.firm, instruction.counterparty
    _settlement_parties(_child(body, "DlvrgSttlmPties"), deliverer)
    _settlement_parties(_child(body, "RcvgSttlmPties"), receiver)

    if instruction.payment is Payment.AGAINST_PAYMENT:
        amount_text, currency = instruction.settlement_amount, instruction.currency
        if amount_text is None or currency is None:
            raise InvariantViolation("an instruction against payment was checked to have an amount")
        amount = _child(body, "SttlmAmt")
        _child(amount, "Amt", _decimal_text(amount_text, currency_minor_units(currency)), currency)
        _child(amount, "CdtDbtInd", "CRDT" if instruction.cash_direction_credit else "DBIT")
    return document


def _settlement_parties(parent: ET.Element, side: SettlementParty) -> None:
    _child(_child(_child(parent, "Dpstry"), "Id"), "AnyBIC", side.place_of_settlement)
    party = _child(parent, "Pty1")
    _child(_child(party, "Id"), "AnyBIC", side.agent)
    _child(_child(party, "SfkpgAcct"), "Id", side.safekeeping_account)


def _date(parent: ET.Element, value: dt.date) -> None:
    # TradeDate8Choice / SettlementDate17Choice -> Dt (DateAndDateTime2Choice) -> Dt (ISODate)
    _child(_child(parent, "Dt"), "Dt", value.isoformat())


def _child(
    parent: ET.Element, name: str, text: str | None = None, currency: str | None = None
) -> ET.Element:
    element = ET.SubElement(parent, name)
    if text is not None:
        element.text = text
    if currency is not None:
        element.set("Ccy", currency)
    return element


def _serialise(document: ET.Element) -> bytes:
    ET.indent(document)  # whitespace between elements only; no value changes
    body = ET.tostring(document, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _plain_names(text: str) -> str:
    """XPaths and reasons without sese.023's own namespace in every step."""
    return text.replace(f"{{{NAMESPACE}}}", "")
