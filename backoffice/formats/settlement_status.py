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

The readers by format: `sese024` (sese.024 and sese.025), `mt548` (MT548 and the ISO 15022
status values both formats share), `mt544` (MT544-547); the FIN envelope and the split of a file
into messages are `fin`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.fin import (
    FIN_BLOCKS,
    FIN_MESSAGE_TYPE,
    FIN_START,
    SEPARATORS,
    enveloped_texts,
)
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.mt544 import FIN_CONFIRMATIONS, mt544_confirmation
from backoffice.formats.mt548 import FIN_STATUS_ADVICE, Iso15022Text, mt548_advice
from backoffice.formats.sese024 import read_document
from backoffice.settlement.model import StatusAdvice

__all__ = [
    "RejectedMessage",
    "file_bytes_max",
    "message_bytes_max",
    "messages_per_file_max",
    "read_settlement_messages",
]

file_bytes_max = 32 * 1024 * 1024
messages_per_file_max = 50_000
message_bytes_max = 256 * 1024  # one XML document or one FIN message (FIN's own cap is 10,000)
xml_depth_max = 64  # sese.024/025 nest about 12 deep; deeper is a trap for recursive code
sniff_bytes_max = 8 * 1024  # how much of the file's start is checked for binary content

# Control characters a FIN message may not hold (tab, LF and CR aside).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    after_separators = text.lstrip(SEPARATORS)
    if after_separators.startswith(FIN_START):
        return _read_fin(enveloped_texts(text, file, messages_max=messages_per_file_max), file)
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


def _read_xml(text: str, file: str) -> Iterator[StatusAdvice | RejectedMessage]:
    yield read_document(text, file, message_bytes_max=message_bytes_max, depth_max=xml_depth_max)


def _read_fin(
    messages: list[tuple[int, str]], file: str
) -> Iterator[StatusAdvice | RejectedMessage]:
    for line, raw in messages:
        yield _fin_message(raw, Source(file, line))


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
    blocks = FIN_BLOCKS.match(raw)
    if blocks is None:
        return rejected("malformed_message", _fin_blocks_problem(raw))
    if blocks.end() != len(raw):
        at = line + raw.count("\n", 0, blocks.end())
        return rejected("malformed_message", "text after the message's last block", at)
    message_type = FIN_MESSAGE_TYPE.match(blocks["application"])
    if message_type is None:
        reason = f"application header {blocks['application'][:20]!r} names no message type"
        return rejected("malformed_message", reason, field="block 2")
    kind = message_type[1]
    if kind != FIN_STATUS_ADVICE and kind not in FIN_CONFIRMATIONS:
        reason = f"an MT{kind}: expected an MT548 status advice or an MT544-547 confirmation"
        return rejected("unsupported_message", reason, field="block 2")
    text_line = line + raw.count("\n", 0, blocks.start("text"))
    fields = Iso15022Text(file, line)
    fields.read(blocks["text"], text_line)
    if fields.problems:
        return RejectedMessage(source, raw, tuple(fields.problems))
    if kind == FIN_STATUS_ADVICE:
        return mt548_advice(fields, source, raw)
    return mt544_confirmation(fields, kind, source, raw)


def _fin_blocks_problem(raw: str) -> str:
    if "{2:" not in raw:
        return "no application header block {2:...}"
    if "{4:" not in raw:
        return "no text block {4:...}"
    if "-}" not in raw:
        return "the text block does not end with a '-}' line"
    return "blocks out of order {1:}{2:}{3:}{4:}{5:}, or braces inside one"
