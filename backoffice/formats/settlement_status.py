"""Inbound settlement status advices and confirmations, ISO 20022 or SWIFT FIN (format detected).

ISO 20022: an XML file holding one `Document` of `sese.024.001.12` (status advice) or
`sese.025.001.11` (settlement confirmation). It is parsed with defusedxml (`xml_reading`), which
refuses a DTD, an entity or an external reference before anything is expanded (`unsafe_xml`),
and validated against the official schema in `schemas/` (`schema_invalid`, the XPath as the
field).
SWIFT FIN: one or more MT548 (status advice) or MT544-547 (settlement confirmations), each
`{1:...}{2:...}[{3:...}]{4:...-}[{5:...}]`, one after another or separated by `$` lines.

Every message becomes a `StatusAdvice` or a `RejectedMessage` naming every problem found, each
with a stable code and its source (file, line, field: an XPath or a FIN tag such as "19A::ESTT").
Quantities and amounts are plain decimal strings with a dot ("100", "1234.50").

Status. Both formats carry the ISO 15022 codes; sese.024's blocks are read as the MT548 status
they stand for (PrcgSts as IPRC, MtchgSts as MTCH, SttlmSts as SETT). An advice gives one status,
the most telling one it holds: cancelled (IPRC or CPRC CAND) > failed (SETT PENF, pending
failing) > unmatched (MTCH NMAT) > pending (SETT PEND) > matched (MTCH MACH) > pending (IPRC
PPRC or PACK). The reason code and narrative are the first reason of the block chosen; a
proprietary reason code reads "ISSUER/CODE". An instruction rejected or sent to repair (IPRC
REJT, REPR) is `instruction_rejected`, and an advice holding none of the statuses above (only
proprietary codes, say) is `unsupported_status`: `StatusKind` has no state for them, so they are
quarantined, not guessed at.

Confirmations. Partial settlement is told by the partial settlement indicator: sese.025
`AddtlParams/PrtlSttlm`, MT544-547 `:22F::PARS//` in sequence A. PAIN (part settled, the rest
remains) gives `partially_settled`; PARC (the last part of an earlier partial) or no indicator
gives `settled`. `:22F::STCO//PART` and sese.025 `SttlmParams/PrtlSttlmInd` are the instruction's
condition (partial settlement allowed) echoed back, not a partial settlement. A pre-confirmation
(PRCA, PRSE) and an MT confirmation cancelling or reversing an earlier one (23G CANC, RVSL) are
not settlements and are rejected (`unsupported_status`, `unsupported_function`).

Settled quantity: MT :36B::ESTT//UNIT/ or FAMT/, sese.025 SttldQty/Qty/Unit or FaceAmt. For debt
whose face amortises (a mortgage pass-through) the standard gives it twice, the face amount and
its amortised value (MT :36B::ESTT//FAMT/ and :36B::ESTT//AMOR/, sese.025
SttldQty/OrgnlAndCurFace/FaceAmt and AmtsdVal): the face amount is the settled quantity and the
amortised value is kept (`StatusAdvice.amortised_value`). A 36B::ESTT repeated otherwise (the
same kind twice, a third one) is `duplicate_field`; UNIT with FAMT is `invalid_quantity`.

Message id. FIN: the message's own `:20C::SEME//`. sese.024 and sese.025 carry no message
identifier (it lives in the business application header, not in these files), so the id is the
transaction's AcctOwnrTxId, ":" and 16 hex digits of the SHA-256 of the canonical document (C14N
2.0, whitespace between elements dropped): a re-sent advice has the id it had the first time,
and any change of status, reason or quantity gives another. An advice repeating an earlier one
word for word is taken for a re-send.

Whole-file problems raise `ProblemError` before any message: `unreadable_file`,
`file_too_large`, `binary_file`, `not_utf8`, `empty_file`, `unrecognised_format`,
`too_many_messages`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import xmlschema

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.fix_log import RejectedMessage
from backoffice.formats.xml_reading import (
    LineRecordingBuilder,
    ParsedDocument,
    local_name,
    namespace_of,
    parse_document,
    schema_problems,
    unsupported_document,
)
from backoffice.settlement.model import StatusAdvice, StatusKind

__all__ = [
    "SESE_024",
    "SESE_025",
    "RejectedMessage",
    "file_bytes_max",
    "message_bytes_max",
    "message_schema",
    "messages_per_file_max",
    "read_settlement_messages",
]

file_bytes_max = 32 * 1024 * 1024
messages_per_file_max = 50_000
message_bytes_max = 256 * 1024  # one XML document or one FIN message (FIN's own cap is 10,000)
fields_per_message_max = 1_000  # FIN fields
xml_depth_max = 64  # sese.024/025 nest about 12 deep; deeper is a trap for recursive code
schema_errors_max = 20  # reported per document; the rest add nothing a person can act on
reason_chars_max = 500
sniff_bytes_max = 8 * 1024  # how much of the file's start is checked for binary content

SESE_024 = "urn:iso:std:iso:20022:tech:xsd:sese.024.001.12"
SESE_025 = "urn:iso:std:iso:20022:tech:xsd:sese.025.001.11"
_SCHEMA_FILES = {SESE_024: "sese.024.001.12.xsd", SESE_025: "sese.025.001.11.xsd"}
_ADVICE = "/Document/SctiesSttlmTxStsAdvc"
_CONFIRMATION = "/Document/SctiesSttlmTxConf"

FIN_STATUS_ADVICE = "548"
FIN_CONFIRMATIONS = frozenset({"544", "545", "546", "547"})  # receive/deliver, free/against
FIN_CONFIRMATIONS_AGAINST_PAYMENT = frozenset({"545", "547"})

# Control characters a FIN message may not hold (tab, LF and CR aside).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FIN_SEPARATORS = " \t\r\n$\x01\x03"
_FIN_START = "{1:"
_FIN_BLOCKS = re.compile(
    r"\{1:(?P<basic>[^{}]*)\}\s*"
    r"\{2:(?P<application>[^{}]*)\}\s*"
    r"(?:\{3:(?:\{[^{}]*\})*\}\s*)?"
    r"\{4:(?P<text>[^{}]*?\n)-\}\s*"
    r"(?:\{5:(?:\{[^{}]*\})*\}\s*)?"
    r"(?:\{S:(?:\{[^{}]*\})*\})?"
)
_FIN_MESSAGE_TYPE = re.compile(r"[IO]([0-9]{3})")
_FIN_FIELD = re.compile(r":([0-9]{2}[A-Z]?):(.*)")
# In MT544-548 every field but these is qualified (":25D::SETT//PEND").
_FIN_UNQUALIFIED_TAGS = frozenset({"16R", "16S", "23G", "35B"})
_FIN_GENERIC = re.compile(r":([A-Z0-9]{4})/([A-Za-z0-9]{0,8})/(.*)", re.DOTALL)
# SWIFT 16x: the X character set without spaces; no leading or trailing '/', no "//".
_FIN_REFERENCE = re.compile(r"(?!/)(?!.*//)[A-Za-z0-9/\-?:().,'+]{1,16}(?<!/)")
_FIN_QUANTITY = re.compile(r"([A-Z]{4})/([0-9]+,[0-9]*)")
_FIN_AMOUNT = re.compile(r"(N?)([A-Z]{3})([0-9]+,[0-9]*)")
_FIN_NUMBER_CHARS_MAX = 15  # 15d: digits and the decimal comma
# 98A a date, 98C a date and time, 98E a date and time with decimals and a UTC offset.
_FIN_DATES = {
    "98A": re.compile(r"([0-9]{8})"),
    "98C": re.compile(r"([0-9]{8})[0-9]{6}"),
    "98E": re.compile(r"([0-9]{8})[0-9]{6}(?:,[0-9]{1,3})?(?:/N?[0-9]{2}(?:[0-9]{2})?)?"),
}
_MX_DECIMAL = re.compile(r"\+?([0-9]*)(?:\.([0-9]*))?")


@functools.cache
def message_schema(namespace: str) -> xmlschema.XMLSchema:
    """The compiled official schema of `SESE_024` or `SESE_025` (compiled once, on first use)."""
    return xmlschema.XMLSchema(Path(__file__).parent / "schemas" / _SCHEMA_FILES[namespace])


def read_settlement_messages(path: Path) -> Iterator[StatusAdvice | RejectedMessage]:
    """Every status advice and settlement confirmation in `path`, in file order.

    The file is one sese.024 / sese.025 XML document or SWIFT FIN MT548 / MT544-547 messages.
    Raises `ProblemError` at once, before any message, when the whole file cannot be read as
    either (see the module's documentation for the codes).
    """
    file = str(path)
    text = _text(read_content(path, file_bytes_max), file)
    if text.lstrip().startswith("<"):
        return _read_xml(text, file)
    after_separators = text.lstrip(_FIN_SEPARATORS)
    if after_separators.startswith(_FIN_START):
        return _read_fin(_fin_messages(text, file), file)
    if not after_separators:
        raise ProblemError(Problem("empty_file", "the file holds no message", Source(file)))
    line = text.count("\n", 0, len(text) - len(after_separators)) + 1
    raise ProblemError(
        Problem(
            "unrecognised_format",
            "neither an ISO 20022 XML document (starting with '<') nor SWIFT FIN messages "
            "(starting with '{1:')",
            Source(file, line),
        )
    )


def _text(content: bytes, file: str) -> str:
    """UTF-8 only; binary bytes looked for in the first `sniff_bytes_max` (the XML and FIN
    parsers name the line of anything odd further on)."""
    return decode_text(content, file, latin1_fallback=False, binary_scan_bytes=sniff_bytes_max)


# Status codes, shared by MT548 and sese.024 --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reason:
    code: str | None
    narrative: str | None


@dataclass(frozen=True, slots=True)
class _StatusBlock:
    """One status an advice holds: its ISO 15022 qualifier (IPRC, MTCH, SETT, CPRC) and code,
    None for a code this reader does not map (proprietary, or no ISO 15022 equivalent)."""

    qualifier: str
    code: str | None
    label: str  # how a person finds it: "25D::SETT//PENF", ".../SttlmSts/Flng"
    reasons: tuple[_Reason, ...]
    source: Source


# (qualifier, code): the status it gives and how telling it is; the highest in an advice wins.
_STATUS_BY_CODE: dict[tuple[str, str], tuple[StatusKind, int]] = {
    ("IPRC", "CAND"): (StatusKind.CANCELLED, 7),
    ("CPRC", "CAND"): (StatusKind.CANCELLED, 7),
    ("SETT", "PENF"): (StatusKind.FAILED, 6),
    ("MTCH", "NMAT"): (StatusKind.UNMATCHED, 5),
    ("SETT", "PEND"): (StatusKind.PENDING, 4),
    ("MTCH", "MACH"): (StatusKind.MATCHED, 3),
    ("IPRC", "PPRC"): (StatusKind.PENDING, 2),
    ("IPRC", "PACK"): (StatusKind.PENDING, 1),
}
_REFUSALS = {("IPRC", "REJT"): "rejected", ("IPRC", "REPR"): "in repair"}
# Every code the MT548 qualifiers read here may hold; any other is `unknown_status_code`.
# CANP, CPRC and the CPRC codes other than CAND say something of a cancellation request, not
# of the instruction: known, but giving no status of their own.
_KNOWN_STATUS_CODES = {
    "IPRC": frozenset({"PACK", "PPRC", "CAND", "CANP", "CPRC", "REJT", "REPR"}),
    "MTCH": frozenset({"MACH", "NMAT"}),
    "SETT": frozenset({"PEND", "PENF"}),
    "CPRC": frozenset({"CAND", "CANP", "DEND", "PACK", "REJT", "REPR"}),
}


def _decide(
    blocks: list[_StatusBlock], source: Source
) -> tuple[StatusKind, _StatusBlock] | Problem:
    """The one status an advice gives, from the blocks it holds."""
    for block in blocks:
        refusal = _REFUSALS.get((block.qualifier, block.code or ""))
        if refusal is not None:
            because = _first_reason(block)
            detail = f": {because.code or ''} {because.narrative or ''}".rstrip() if because else ""
            return Problem(
                "instruction_rejected",
                f"the agent reports the instruction {refusal} ({block.label}){detail}",
                block.source,
            )
    best: tuple[int, StatusKind, _StatusBlock] | None = None
    for block in blocks:
        found = _STATUS_BY_CODE.get((block.qualifier, block.code)) if block.code else None
        if found is not None and (best is None or found[1] > best[0]):
            best = (found[1], found[0], block)
    if best is None:
        seen = ", ".join(block.label for block in blocks) or "no status"
        return Problem(
            "unsupported_status",
            f"no matching, settlement, processing or cancellation status read here ({seen})",
            source,
        )
    return best[1], best[2]


def _first_reason(block: _StatusBlock) -> _Reason | None:
    return block.reasons[0] if block.reasons else None


def _advice(
    message_id: str,
    reference: str,
    decided: tuple[StatusKind, _StatusBlock],
    source: Source,
    raw: str,
) -> StatusAdvice:
    status, block = decided
    reason = _first_reason(block)
    return StatusAdvice(
        message_id=message_id,
        reference=reference,
        status=status,
        reason_code=reason.code if reason else None,
        reason=reason.narrative if reason else None,
        settled_quantity=None,
        settled_amount=None,
        currency=None,
        settled_on=None,
        source=source,
        raw=raw,
    )


def _narrative(text: str | None) -> str | None:
    """Free text on one line, cut to `reason_chars_max`; None when blank."""
    if text is None:
        return None
    words = " ".join(text.split())
    return words[:reason_chars_max] or None


def _plain_number(integer: str, fraction: str | None) -> str:
    """Digits as a plain decimal string with a dot and no leading zeros: ("0100", "") -> "100"."""
    whole = integer.lstrip("0") or "0"
    return f"{whole}.{fraction}" if fraction else whole


def _is_zero(number: str) -> bool:
    return not number.replace(".", "").strip("0")


# ISO 20022 ------------------------------------------------------------------------------------


def _read_xml(text: str, file: str) -> Iterator[StatusAdvice | RejectedMessage]:
    yield _xml_message(text, file)


def _xml_message(text: str, file: str) -> StatusAdvice | RejectedMessage:
    source = Source(file, 1)
    if len(text.encode("utf-8")) > message_bytes_max:
        reason = f"the document is over {message_bytes_max} bytes"
        return RejectedMessage(source, "", (Problem("message_too_long", reason, source),))
    parsed = parse_document(text, file, LineRecordingBuilder, xml_depth_max)
    if isinstance(parsed, Problem):
        return RejectedMessage(source, text, (parsed,))
    root, builder = parsed
    lines = builder.lines
    namespace = namespace_of(root.tag)
    if local_name(root.tag) != "Document" or namespace not in _SCHEMA_FILES:
        problem = unsupported_document(root, lines, file, f"{SESE_024} or {SESE_025}")
        return RejectedMessage(source, text, (problem,))
    problems = schema_problems(
        message_schema(namespace),
        root,
        lines,
        file,
        errors_max=schema_errors_max,
        reason_chars_max=reason_chars_max,
        namespaces_in_reason=True,
    )
    if problems:
        return RejectedMessage(source, text, tuple(problems))
    document = ParsedDocument(namespace, lines, file)
    message_id_suffix = _digest(root)
    if namespace == SESE_024:
        return _status_advice(document, root[0], message_id_suffix, text, source)
    return _confirmation(document, root[0], message_id_suffix, text, source)


def _digest(root: ElementTree.Element) -> str:
    """16 hex digits of the SHA-256 of the canonical document: the same for a re-sent copy."""
    canonical = ElementTree.canonicalize(
        ElementTree.tostring(root, encoding="unicode"), strip_text=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# sese.024's status blocks as the MT548 status each choice stands for; None: no equivalent.
_ADVICE_STATUS_BLOCKS: tuple[tuple[str, str, dict[str, str | None]], ...] = (
    ("PrcgSts", "IPRC", {
        "AckdAccptd": "PACK", "PdgPrcg": "PPRC", "Rjctd": "REJT", "Rpr": "REPR",
        "Canc": "CAND", "PdgCxl": "CANP", "CxlReqd": "CPRC", "ModReqd": None, "Prtry": None,
    }),
    ("MtchgSts", "MTCH", {"Mtchd": "MACH", "Umtchd": "NMAT", "Prtry": None}),
    ("SttlmSts", "SETT", {"Pdg": "PEND", "Flng": "PENF", "Prtry": None}),
)  # fmt: skip


def _status_advice(
    document: ParsedDocument, advice: ElementTree.Element, suffix: str, raw: str, source: Source
) -> StatusAdvice | RejectedMessage:
    problems: list[Problem] = []
    reference = _mx_reference(document, advice, "TxId/AcctOwnrTxId", _ADVICE, problems)
    blocks: list[_StatusBlock] = []
    for container, qualifier, codes in _ADVICE_STATUS_BLOCKS:
        holder = document.find(advice, container)
        if holder is None or len(holder) == 0:
            continue
        choice = holder[0]
        xpath = f"{_ADVICE}/{container}/{local_name(choice.tag)}"
        blocks.append(
            _StatusBlock(
                qualifier=qualifier,
                code=codes.get(local_name(choice.tag)),
                label=xpath,
                reasons=_mx_reasons(document, choice),
                source=document.source(choice, xpath),
            )
        )
    decided = _decide(blocks, document.source(advice, _ADVICE))
    if isinstance(decided, Problem):
        problems.append(decided)
    if problems or reference is None or isinstance(decided, Problem):
        return RejectedMessage(source, raw, tuple(problems))
    return _advice(f"{reference}:{suffix}", reference, decided, source, raw)


def _mx_reference(
    document: ParsedDocument,
    message: ElementTree.Element,
    path: str,
    base: str,
    problems: list[Problem],
) -> str | None:
    reference = document.text(message, path)
    if not reference:
        element = document.find(message, path)
        problems.append(
            Problem(
                "missing_field",
                "our instruction's reference (AcctOwnrTxId) is blank",
                document.source(element, f"{base}/{path}"),
            )
        )
        return None
    return reference


def _mx_reasons(document: ParsedDocument, choice: ElementTree.Element) -> tuple[_Reason, ...]:
    """The reasons of one status choice, whatever its shape: a list of coded reasons (Pdg,
    Flng, Umtchd...), a proprietary status with proprietary reasons, or one proprietary reason
    (Mtchd, CxlReqd, ModReqd)."""
    if document.find(choice, "Rsn/Cd") is not None:
        holders = document.findall(choice, "Rsn")
    elif local_name(choice.tag) == "Prtry":
        holders = document.findall(choice, "PrtryRsn")
    else:
        holders = [choice]
    reasons: list[_Reason] = []
    for holder in holders:
        code: str | None = None
        coded = document.find(holder, "Cd")
        generic = document.find(holder, "Rsn")
        if coded is not None and len(coded) > 0:
            inner = coded[0]
            if local_name(inner.tag) == "Cd":
                code = (inner.text or "").strip() or None
            else:
                code = _mx_proprietary(document, inner)
        elif generic is not None:
            code = _mx_proprietary(document, generic)
        narrative = _narrative(document.text(holder, "AddtlRsnInf"))
        if code is not None or narrative is not None:
            reasons.append(_Reason(code, narrative))
    return tuple(reasons)


def _mx_proprietary(document: ParsedDocument, generic: ElementTree.Element) -> str | None:
    """A GenericIdentification30 (Id, Issr) as "ISSUER/CODE"."""
    code = document.text(generic, "Id")
    issuer = document.text(generic, "Issr")
    return f"{issuer}/{code}" if issuer and code else code


def _confirmation(
    document: ParsedDocument,
    confirmation: ElementTree.Element,
    suffix: str,
    raw: str,
    source: Source,
) -> StatusAdvice | RejectedMessage:
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, element: ElementTree.Element | None, path: str) -> None:
        problems.append(Problem(code, reason, document.source(element, f"{_CONFIRMATION}/{path}")))

    reference = _mx_reference(
        document, confirmation, "TxIdDtls/AcctOwnrTxId", _CONFIRMATION, problems
    )
    pre_confirmation = document.find(confirmation, "AddtlParams/PreConf")
    if pre_confirmation is not None:
        bad(
            "unsupported_status",
            f"a pre-confirmation ({pre_confirmation.text}) announces a settlement; it is not one",
            pre_confirmation,
            "AddtlParams/PreConf",
        )
    partial = document.text(confirmation, "AddtlParams/PrtlSttlm")
    status = StatusKind.PARTIALLY_SETTLED if partial == "PAIN" else StatusKind.SETTLED
    quantity, amortised_value = _mx_settled(document, confirmation, bad)
    amount, currency = _mx_amount(document, confirmation, bad)
    settled_on = _mx_date(document, confirmation, bad)
    if problems or reference is None or quantity is None or settled_on is None:
        return RejectedMessage(source, raw, tuple(problems))
    return StatusAdvice(
        message_id=f"{reference}:{suffix}",
        reference=reference,
        status=status,
        reason_code=None,
        reason=None,
        settled_quantity=quantity,
        settled_amount=amount,
        currency=currency,
        settled_on=settled_on,
        source=source,
        raw=raw,
        amortised_value=amortised_value,
    )


_MxBad = Callable[[ErrorCode, str, ElementTree.Element | None, str], None]


def _mx_decimal(text: str | None) -> str | None:
    """An xs:decimal as a plain decimal string; None when negative, blank or not a number."""
    match = _MX_DECIMAL.fullmatch((text or "").strip())
    if match is None or not (match[1] or match[2]):
        return None
    return _plain_number(match[1], match[2])


def _mx_settled(
    document: ParsedDocument, confirmation: ElementTree.Element, bad: _MxBad
) -> tuple[str | None, str | None]:
    """(settled quantity, amortised value): SttldQty/Qty/Unit or FaceAmt, or for debt whose
    face amortises SttldQty/OrgnlAndCurFace, its FaceAmt the quantity and AmtsdVal kept."""
    path = "QtyAndAcctDtls/SttldQty/OrgnlAndCurFace"
    faces = document.find(confirmation, path)
    if faces is None:
        return _mx_quantity(document, confirmation, bad), None
    values: list[str | None] = []
    for name in ("FaceAmt", "AmtsdVal"):  # the schema requires both, in this order
        element = document.find(faces, name)
        value = _mx_decimal(element.text if element is not None else None)
        if value is None or _is_zero(value):
            text = element.text if element is not None else None
            bad(
                "invalid_quantity",
                f"{text!r} is not a quantity above zero",
                element,
                f"{path}/{name}",
            )
        values.append(value if value is not None and not _is_zero(value) else None)
    face, amortised = values
    return (face, amortised) if face is not None and amortised is not None else (None, None)


def _mx_quantity(
    document: ParsedDocument, confirmation: ElementTree.Element, bad: _MxBad
) -> str | None:
    path = "QtyAndAcctDtls/SttldQty"
    held = document.find(confirmation, path)
    choice = held[0] if held is not None and len(held) > 0 else None
    inner = choice[0] if choice is not None and len(choice) > 0 else None
    if choice is None or inner is None or local_name(choice.tag) != "Qty":
        bad("invalid_quantity", "a settled quantity as Qty/Unit or Qty/FaceAmt", choice, path)
        return None
    path = f"{path}/Qty/{local_name(inner.tag)}"
    if local_name(inner.tag) not in {"Unit", "FaceAmt"}:
        bad(
            "invalid_quantity",
            f"a quantity as {local_name(inner.tag)} is not read here",
            inner,
            path,
        )
        return None
    quantity = _mx_decimal(inner.text)
    if quantity is None or _is_zero(quantity):
        bad("invalid_quantity", f"{inner.text!r} is not a quantity above zero", inner, path)
        return None
    return quantity


def _mx_amount(
    document: ParsedDocument, confirmation: ElementTree.Element, bad: _MxBad
) -> tuple[str | None, str | None]:
    path = "SttldAmt/Amt"
    element = document.find(confirmation, path)
    if element is None:
        if document.text(confirmation, "TxIdDtls/Pmt") == "APMT":
            bad(
                "missing_field",
                "a settlement against payment (Pmt APMT) confirms its settled amount",
                document.find(confirmation, "TxIdDtls/Pmt"),
                path,
            )
        return None, None
    amount = _mx_decimal(element.text)
    if amount is None or _is_zero(amount):
        bad("invalid_amount", f"{element.text!r} is not an amount above zero", element, path)
        return None, None
    return amount, element.get("Ccy")


def _mx_date(
    document: ParsedDocument, confirmation: ElementTree.Element, bad: _MxBad
) -> dt.date | None:
    path = "TradDtls/FctvSttlmDt"
    held = document.find(confirmation, path)
    choice = held[0] if held is not None and len(held) > 0 else None
    inner = choice[0] if choice is not None and len(choice) > 0 else None
    if choice is None or inner is None or local_name(choice.tag) != "Dt":
        code = document.text(choice, "Id") if choice is not None else None
        reason = f"the effective settlement date is a code ({code}), not a date"
        bad("invalid_date", reason, choice, path)
        return None
    text = (inner.text or "").strip()
    try:
        # ISODate may carry a time zone and ISODateTime a time: the date is the first ten.
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        bad("invalid_date", f"{text!r} is not a date", inner, f"{path}/Dt/{local_name(inner.tag)}")
        return None


# SWIFT FIN ------------------------------------------------------------------------------------


def _fin_messages(text: str, file: str) -> list[tuple[int, str]]:
    """(line of its start, text) of every FIN message in the file; each runs from its "{1:" to
    the next one, separators after it left off."""
    count = text.count(_FIN_START)
    if count > messages_per_file_max:
        raise ProblemError(
            Problem(
                "too_many_messages",
                f"{count} messages: more than {messages_per_file_max} in one file",
                Source(file),
            )
        )
    messages: list[tuple[int, str]] = []
    line = 1
    counted_to = 0
    start = text.find(_FIN_START)
    while start != -1:
        following = text.find(_FIN_START, start + len(_FIN_START))
        line += text.count("\n", counted_to, start)
        counted_to = start
        end = len(text) if following == -1 else following
        messages.append((line, text[start:end].rstrip(_FIN_SEPARATORS)))
        start = following
    return messages


def _read_fin(
    messages: list[tuple[int, str]], file: str
) -> Iterator[StatusAdvice | RejectedMessage]:
    for line, raw in messages:
        yield _fin_message(raw, Source(file, line))


@dataclass(frozen=True, slots=True)
class _FinField:
    tag: str  # "20C"
    qualifier: str | None  # "SEME" for a generic field, else None
    scheme: str | None  # a data source scheme: the code that follows is proprietary
    value: str
    line: int
    blocks: tuple[int, ...]  # the 16R blocks it sits in, outermost first, by number

    @property
    def label(self) -> str:
        return f"{self.tag}::{self.qualifier}" if self.qualifier else self.tag


def _fin_message(raw: str, source: Source) -> StatusAdvice | RejectedMessage:
    file, line = source.file, source.line or 1

    def rejected(
        code: ErrorCode, reason: str, at: int = line, field: str | None = None
    ) -> RejectedMessage:
        return RejectedMessage(source, raw, (Problem(code, reason, Source(file, at, field)),))

    if len(raw) > message_bytes_max:
        reason = f"the message is over {message_bytes_max} characters"
        return RejectedMessage(source, "", (Problem("message_too_long", reason, source),))
    control = _CONTROL.search(raw)
    if control is not None:
        at = line + raw.count("\n", 0, control.start())
        return rejected("malformed_message", f"control character {control[0]!r}", at)
    blocks = _FIN_BLOCKS.match(raw)
    if blocks is None:
        return rejected("malformed_message", _fin_blocks_problem(raw))
    if blocks.end() != len(raw):
        at = line + raw.count("\n", 0, blocks.end())
        return rejected("malformed_message", "text after the message's last block", at)
    message_type = _FIN_MESSAGE_TYPE.match(blocks["application"])
    if message_type is None:
        reason = f"application header {blocks['application'][:20]!r} names no message type"
        return rejected("malformed_message", reason, field="block 2")
    kind = message_type[1]
    if kind != FIN_STATUS_ADVICE and kind not in FIN_CONFIRMATIONS:
        reason = f"an MT{kind}: expected an MT548 status advice or an MT544-547 confirmation"
        return rejected("unsupported_message", reason, field="block 2")
    text_line = line + raw.count("\n", 0, blocks.start("text"))
    fields = _FinText(file, line)
    fields.read(blocks["text"], text_line)
    if fields.problems:
        return RejectedMessage(source, raw, tuple(fields.problems))
    if kind == FIN_STATUS_ADVICE:
        return _mt548(fields, source, raw)
    return _mt54x(fields, kind, source, raw)


def _fin_blocks_problem(raw: str) -> str:
    if "{2:" not in raw:
        return "no application header block {2:...}"
    if "{4:" not in raw:
        return "no text block {4:...}"
    if "-}" not in raw:
        return "the text block does not end with a '-}' line"
    return "blocks out of order {1:}{2:}{3:}{4:}{5:}, or braces inside one"


class _FinText:
    """The fields of one message's text block, with the problems found reading them."""

    def __init__(self, file: str | None, line: int) -> None:
        self.file = file
        self.line = line
        self.fields: list[_FinField] = []
        self.problems: list[Problem] = []

    def bad(self, code: ErrorCode, reason: str, line: int | None, field: str | None) -> None:
        self.problems.append(Problem(code, reason, Source(self.file, line or self.line, field)))

    def read(self, text: str, first_line: int) -> None:
        """Split the text block (what follows "{4:", up to "-}") into fields: a line starting
        with ':' opens one, any other line continues it."""
        pending: list[tuple[str, list[str], int]] = []
        for offset, text_line in enumerate(text.split("\n")):
            content = text_line.rstrip("\r")
            number = first_line + offset
            if not content.strip():
                continue
            if content.startswith(":"):
                field = _FIN_FIELD.fullmatch(content)
                if field is None:
                    self.bad("malformed_message", f"{content[:40]!r} is not a field", number, None)
                    continue
                pending.append((field[1], [field[2]], number))
            elif pending:
                pending[-1][1].append(content)
            else:
                self.bad("malformed_message", "text before the first field", number, None)
        if len(pending) > fields_per_message_max:
            self.bad("malformed_message", f"over {fields_per_message_max} fields", None, None)
            return
        self._structure(pending)

    def _structure(self, pending: list[tuple[str, list[str], int]]) -> None:
        """Fields with their qualifier and the 16R...16S blocks holding them."""
        open_blocks: list[tuple[str, int]] = []
        opened = 0
        for tag, lines, number in pending:
            value = "\n".join(lines)
            if tag == "16R":
                opened += 1
                open_blocks.append((value.strip(), opened))
                continue
            if tag == "16S":
                name = value.strip()
                names = [open_name for open_name, _ in open_blocks]
                if not names or names[-1] != name:
                    expected = f"16R:{names[-1]}" if names else "no open block"
                    reason = f"16S:{name} closes {expected}"
                    self.bad("malformed_message", reason, number, "16S")
                # Read on as the sender most likely meant, so one slip is reported once: close
                # down to the block named, or the innermost one when it names none open.
                while open_blocks and name in names and open_blocks[-1][0] != name:
                    open_blocks.pop()
                if open_blocks:
                    open_blocks.pop()
                continue
            qualifier = scheme = None
            if tag not in _FIN_UNQUALIFIED_TAGS and not value.startswith(":"):
                reason = f"{tag} must open with its qualifier, as :QUALIFIER//value"
                self.bad("malformed_message", reason, number, tag)
                continue
            if value.startswith(":"):
                generic = _FIN_GENERIC.fullmatch(value)
                if generic is None:
                    reason = f"{value[:40]!r} is not :QUALIFIER//value or :QUALIFIER/SCHEME/value"
                    self.bad("malformed_message", reason, number, tag)
                    continue
                qualifier, scheme, value = generic[1], generic[2] or None, generic[3]
            block_numbers = tuple(block for _, block in open_blocks)
            self.fields.append(_FinField(tag, qualifier, scheme, value, number, block_numbers))
        if open_blocks:
            unclosed = ", ".join(open_name for open_name, _ in open_blocks)
            reason = f"blocks opened and never closed: {unclosed}"
            self.bad("malformed_message", reason, None, "16R")

    def all(self, tag: str, qualifier: str | None) -> list[_FinField]:
        """The fields whose tag starts with `tag` ("98" takes 98A, 98C...) and have `qualifier`."""
        return [f for f in self.fields if f.tag.startswith(tag) and f.qualifier == qualifier]

    def one(self, tag: str, qualifier: str | None, *, required: bool) -> _FinField | None:
        found = self.all(tag, qualifier)
        label = f"{tag}::{qualifier}" if qualifier else tag
        if not found:
            if required:
                self.bad("missing_field", f"{label} is required", None, label)
            return None
        if len(found) > 1:
            reason = f"{label} appears {len(found)} times"
            self.bad("invalid_field", reason, found[1].line, found[1].label)
            return None
        return found[0]

    def reference(self, qualifier: str) -> str | None:
        """A 16x reference in :20C::QUAL//, e.g. the message's SEME or our RELA."""
        field = self.one("20C", qualifier, required=True)
        if field is None:
            return None
        if field.scheme is not None or not _FIN_REFERENCE.fullmatch(field.value):
            reason = f"{field.value[:40]!r} is not a SWIFT reference (16x, no '//')"
            self.bad("invalid_field", reason, field.line, field.label)
            return None
        return field.value

    def function(self, expected: frozenset[str]) -> str | None:
        """The function of the message (23G), its subfunction (COPY, DUPL...) set aside."""
        field = self.one("23G", None, required=True)
        if field is None:
            return None
        function = field.value.partition("/")[0]
        if function not in expected:
            wanted = " or ".join(sorted(expected))
            reason = f"function {field.value!r}: only {wanted} is read as a status"
            self.bad("unsupported_function", reason, field.line, field.label)
            return None
        return function

    def reasons(self, status: _FinField) -> tuple[_Reason, ...]:
        """The REAS blocks of the STAT block holding `status`: 24B and its 70D::REAS each."""
        if not status.blocks:
            return ()
        stat = status.blocks[-1]
        reasons: list[_Reason] = []
        for field in self.fields:
            if field.tag != "24B" or len(field.blocks) < 2 or field.blocks[-2] != stat:
                continue
            code = f"{field.scheme}/{field.value}" if field.scheme else field.value
            narrative = next(
                (_narrative(other.value) for other in self.all("70D", "REAS")
                 if other.blocks == field.blocks),
                None,
            )  # fmt: skip
            reasons.append(_Reason(code.strip() or None, narrative))
        return tuple(reasons)


def _mt548(fields: _FinText, source: Source, raw: str) -> StatusAdvice | RejectedMessage:
    message_id = fields.reference("SEME")
    reference = fields.reference("RELA")
    fields.function(frozenset({"INST", "CAST"}))
    statuses = [f for f in fields.fields if f.tag == "25D"]
    if not statuses:
        fields.bad("missing_field", "no status (25D) in the message", None, "25D")
    unknown_codes = False
    blocks: list[_StatusBlock] = []
    for field in statuses:
        known = _KNOWN_STATUS_CODES.get(field.qualifier or "")
        if known is None:
            continue  # a status of something else: an allegement, a statement request...
        code: str | None = field.value
        if field.scheme is not None:
            code = None
        elif field.value not in known:
            reason = f"{field.value[:8]!r} is not a {field.qualifier} status code"
            fields.bad("unknown_status_code", reason, field.line, field.label)
            unknown_codes = True
            continue
        label = f"{field.label}/{field.scheme or ''}/{field.value}"
        field_source = Source(source.file, field.line, field.label)
        blocks.append(
            _StatusBlock(field.qualifier or "", code, label, fields.reasons(field), field_source)
        )
    if not statuses or unknown_codes:
        return RejectedMessage(source, raw, tuple(fields.problems))
    decided = _decide(blocks, Source(source.file, source.line, "25D"))
    if isinstance(decided, Problem):
        fields.problems.append(decided)
    if fields.problems or message_id is None or reference is None or isinstance(decided, Problem):
        return RejectedMessage(source, raw, tuple(fields.problems))
    return _advice(message_id, reference, decided, source, raw)


def _mt54x(fields: _FinText, kind: str, source: Source, raw: str) -> StatusAdvice | RejectedMessage:
    message_id = fields.reference("SEME")
    reference = fields.reference("RELA")
    fields.function(frozenset({"NEWM"}))
    pre_confirmation = fields.one("22", "PREC", required=False)
    if pre_confirmation is not None:
        reason = (
            f"a pre-confirmation ({pre_confirmation.value}) announces a settlement; it is not one"
        )
        fields.bad("unsupported_status", reason, pre_confirmation.line, pre_confirmation.label)
    status = StatusKind.SETTLED
    partial = fields.one("22F", "PARS", required=False)
    if partial is not None:
        if partial.scheme is None and partial.value == "PAIN":
            status = StatusKind.PARTIALLY_SETTLED
        elif partial.scheme is not None or partial.value != "PARC":
            reason = f"{partial.value[:8]!r} is not a partial settlement indicator (PAIN, PARC)"
            fields.bad("unknown_status_code", reason, partial.line, partial.label)
    quantity, amortised_value = _fin_settled(fields)
    amount, currency = _fin_amount(
        fields, fields.one("19A", "ESTT", required=kind in FIN_CONFIRMATIONS_AGAINST_PAYMENT)
    )
    settled_on = _fin_date(fields, fields.one("98", "ESET", required=True))
    if (
        fields.problems
        or message_id is None
        or reference is None
        or quantity is None
        or settled_on is None
    ):
        return RejectedMessage(source, raw, tuple(fields.problems))
    return StatusAdvice(
        message_id=message_id,
        reference=reference,
        status=status,
        reason_code=None,
        reason=None,
        settled_quantity=quantity,
        settled_amount=amount,
        currency=currency,
        settled_on=settled_on,
        source=source,
        raw=raw,
        amortised_value=amortised_value,
    )


def _fin_settled(fields: _FinText) -> tuple[str | None, str | None]:
    """(settled quantity, amortised value) of :36B::ESTT//: once, or twice for debt whose face
    amortises, the face amount (FAMT, the quantity) and its amortised value (AMOR), as the
    standard allows (MT544-547 sequence C, network validated rule on 36B)."""
    found = fields.all("36B", "ESTT")
    if len(found) <= 1:
        return _fin_quantity(
            fields, found[0] if found else fields.one("36B", "ESTT", required=True)
        ), None
    seen: set[str] = set()
    for field in found:
        kind = field.value.partition("/")[0]
        if kind in seen or len(seen) == 2:
            reason = (
                f"36B::ESTT {kind} appears again: the settled quantity comes once, or as a "
                "face amount (FAMT) and its amortised value (AMOR)"
            )
            fields.bad("duplicate_field", reason, field.line, field.label)
            return None, None
        seen.add(kind)
    by_kind = {field.value.partition("/")[0]: field for field in found}
    if set(by_kind) != {"FAMT", "AMOR"}:
        reason = (
            f"settled quantities as {' and '.join(by_kind)}: only a face amount (FAMT) and its "
            "amortised value (AMOR) may come together"
        )
        fields.bad("invalid_quantity", reason, found[1].line, found[1].label)
        return None, None
    quantity = _fin_quantity(fields, by_kind["FAMT"])
    amortised = by_kind["AMOR"]
    return quantity, _fin_quantity(fields, amortised, kinds=frozenset({"AMOR"}))


def _fin_quantity(
    fields: _FinText,
    field: _FinField | None,
    *,
    kinds: frozenset[str] = frozenset({"UNIT", "FAMT"}),
) -> str | None:
    """:36B::ESTT//UNIT/100, (units) or FAMT/ (face amount), or one of `kinds`, as a plain
    decimal string."""
    if field is None:
        return None
    match = _FIN_QUANTITY.fullmatch(field.value)
    if (
        field.scheme is not None
        or match is None
        or match[1] not in kinds
        or len(match[2]) > _FIN_NUMBER_CHARS_MAX
    ):
        wanted = " or ".join(f"{kind}/" for kind in sorted(kinds, reverse=True))
        reason = f"{field.value[:40]!r} is not {wanted} and a number such as 100,"
        fields.bad("invalid_quantity", reason, field.line, field.label)
        return None
    integer, _, fraction = match[2].partition(",")
    quantity = _plain_number(integer, fraction)
    if _is_zero(quantity):
        reason = f"the settled {'amortised value' if match[1] == 'AMOR' else 'quantity'} is zero"
        fields.bad("invalid_quantity", reason, field.line, field.label)
        return None
    return quantity


def _fin_amount(fields: _FinText, field: _FinField | None) -> tuple[str | None, str | None]:
    """:19A::ESTT//USD1234,50 as ("1234.50", "USD")."""
    if field is None:
        return None, None
    match = _FIN_AMOUNT.fullmatch(field.value)
    if field.scheme is not None or match is None or len(match[3]) > _FIN_NUMBER_CHARS_MAX:
        reason = f"{field.value[:40]!r} is not a currency and an amount such as USD1234,50"
        fields.bad("invalid_amount", reason, field.line, field.label)
        return None, None
    integer, _, fraction = match[3].partition(",")
    amount = _plain_number(integer, fraction)
    if match[1] or _is_zero(amount):
        reason = f"the settled amount {field.value!r} is not above zero"
        fields.bad("invalid_amount", reason, field.line, field.label)
        return None, None
    return amount, match[2]


def _fin_date(fields: _FinText, field: _FinField | None) -> dt.date | None:
    """:98A::ESET//YYYYMMDD, or the date of a 98C / 98E date and time."""
    if field is None:
        return None
    pattern = _FIN_DATES.get(field.tag)
    match = pattern.fullmatch(field.value) if pattern is not None else None
    if match is not None and field.scheme is None:
        digits = match[1]
        try:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            pass
    reason = f"{field.value[:40]!r} is not a date YYYYMMDD (98A) or date and time (98C, 98E)"
    fields.bad("invalid_date", reason, field.line, field.label)
    return None
