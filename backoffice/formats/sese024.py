"""ISO 20022 settlement status advices (sese.024.001.12) and settlement confirmations
(sese.025.001.11): one `Document` per file, parsed with defusedxml (`xml_reading`) and validated
against the official schema in `schemas/`. Their statuses are read as the MT548 statuses they
stand for (`mt548.StatusBlock`). The codes and rules are described in `settlement_status`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import xmlschema

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.mt548 import (
    StatusBlock,
    StatusReason,
    decide_status,
    reason_chars_max,
    reason_text,
    status_advice,
)
from backoffice.formats.xml_reading import (
    LineRecordingBuilder,
    ParsedDocument,
    local_name,
    namespace_of,
    parse_document,
    schema_problems,
    unsupported_document,
    xs_decimal,
)
from backoffice.money import is_zero
from backoffice.settlement.model import StatusAdvice, StatusKind

__all__ = ["SESE_024", "SESE_025", "message_schema", "read_document"]

schema_errors_max = 20  # reported per document; the rest add nothing a person can act on

SESE_024 = "urn:iso:std:iso:20022:tech:xsd:sese.024.001.12"
SESE_025 = "urn:iso:std:iso:20022:tech:xsd:sese.025.001.11"
_SCHEMA_FILES = {SESE_024: "sese.024.001.12.xsd", SESE_025: "sese.025.001.11.xsd"}
_ADVICE = "/Document/SctiesSttlmTxStsAdvc"
_CONFIRMATION = "/Document/SctiesSttlmTxConf"


@functools.cache
def message_schema(namespace: str) -> xmlschema.XMLSchema:
    """The compiled official schema of `SESE_024` or `SESE_025` (compiled once, on first use)."""
    return xmlschema.XMLSchema(Path(__file__).parent / "schemas" / _SCHEMA_FILES[namespace])


def read_document(
    text: str, file: str, *, message_bytes_max: int, depth_max: int
) -> StatusAdvice | RejectedMessage:
    """The one sese.024 or sese.025 `Document` of a file as a status advice, or rejected with
    every problem found."""
    source = Source(file, 1)
    if len(text.encode("utf-8")) > message_bytes_max:
        reason = f"the document is over {message_bytes_max} bytes"
        return RejectedMessage(source, "", (Problem("message_too_long", reason, source),))
    parsed = parse_document(text, file, LineRecordingBuilder, depth_max)
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
    blocks: list[StatusBlock] = []
    for container, qualifier, codes in _ADVICE_STATUS_BLOCKS:
        holder = document.find(advice, container)
        if holder is None or len(holder) == 0:
            continue
        choice = holder[0]
        xpath = f"{_ADVICE}/{container}/{local_name(choice.tag)}"
        blocks.append(
            StatusBlock(
                qualifier=qualifier,
                code=codes.get(local_name(choice.tag)),
                label=xpath,
                reasons=_mx_reasons(document, choice),
                source=document.source(choice, xpath),
            )
        )
    decided = decide_status(blocks, document.source(advice, _ADVICE))
    if isinstance(decided, Problem):
        problems.append(decided)
    if problems or reference is None or isinstance(decided, Problem):
        return RejectedMessage(source, raw, tuple(problems))
    return status_advice(f"{reference}:{suffix}", reference, decided, source, raw)


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


def _mx_reasons(document: ParsedDocument, choice: ElementTree.Element) -> tuple[StatusReason, ...]:
    """The reasons of one status choice, whatever its shape: a list of coded reasons (Pdg,
    Flng, Umtchd...), a proprietary status with proprietary reasons, or one proprietary reason
    (Mtchd, CxlReqd, ModReqd)."""
    if document.find(choice, "Rsn/Cd") is not None:
        holders = document.findall(choice, "Rsn")
    elif local_name(choice.tag) == "Prtry":
        holders = document.findall(choice, "PrtryRsn")
    else:
        holders = [choice]
    reasons: list[StatusReason] = []
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
        narrative = reason_text(document.text(holder, "AddtlRsnInf"))
        if code is not None or narrative is not None:
            reasons.append(StatusReason(code, narrative))
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
        value = xs_decimal(element.text if element is not None else None)
        if value is None or is_zero(value):
            text = element.text if element is not None else None
            bad(
                "invalid_quantity",
                f"{text!r} is not a quantity above zero",
                element,
                f"{path}/{name}",
            )
        values.append(value if value is not None and not is_zero(value) else None)
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
    quantity = xs_decimal(inner.text)
    if quantity is None or is_zero(quantity):
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
    amount = xs_decimal(element.text)
    if amount is None or is_zero(amount):
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
