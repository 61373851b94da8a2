"""MT548 status advices (SWIFT FIN), and the ISO 15022 status values every reader of
`settlement_status` shares: sese.024's blocks are read as the MT548 status they stand for
(`StatusBlock`, `decide_status`).

The envelope and the split of a file into messages are `fin`'s. This module reads the text block
of an MT544-548 (`Iso15022Text`): generic fields (":25D::SETT//PEND") and the 16R...16S blocks
holding them; `mt544` reads the confirmations' figures. The codes and rules are described in
`settlement_status`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.settlement.model import StatusAdvice, StatusKind

fields_per_message_max = 1_000  # FIN fields
reason_chars_max = 500

FIN_STATUS_ADVICE = "548"

_FIN_FIELD = re.compile(r":([0-9]{2}[A-Z]?):(.*)")
# In MT544-548 every field but these is qualified (":25D::SETT//PEND").
_FIN_UNQUALIFIED_TAGS = frozenset({"16R", "16S", "23G", "35B"})
_FIN_GENERIC = re.compile(r":([A-Z0-9]{4})/([A-Za-z0-9]{0,8})/(.*)", re.DOTALL)
# SWIFT 16x: the X character set without spaces; no leading or trailing '/', no "//".
_FIN_REFERENCE = re.compile(r"(?!/)(?!.*//)[A-Za-z0-9/\-?:().,'+]{1,16}(?<!/)")


# Status codes, shared by MT548 and sese.024 --------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusReason:
    code: str | None
    narrative: str | None


@dataclass(frozen=True, slots=True)
class StatusBlock:
    """One status an advice holds: its ISO 15022 qualifier (IPRC, MTCH, SETT, CPRC) and code,
    None for a code this reader does not map (proprietary, or no ISO 15022 equivalent)."""

    qualifier: str
    code: str | None
    label: str  # how a person finds it: "25D::SETT//PENF", ".../SttlmSts/Flng"
    reasons: tuple[StatusReason, ...]
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


def decide_status(
    blocks: list[StatusBlock], source: Source
) -> tuple[StatusKind, StatusBlock] | Problem:
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
    best: tuple[int, StatusKind, StatusBlock] | None = None
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


def _first_reason(block: StatusBlock) -> StatusReason | None:
    return block.reasons[0] if block.reasons else None


def status_advice(
    message_id: str,
    reference: str,
    decided: tuple[StatusKind, StatusBlock],
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


def reason_text(text: str | None) -> str | None:
    """Free text on one line, cut to `reason_chars_max`; None when blank."""
    if text is None:
        return None
    words = " ".join(text.split())
    return words[:reason_chars_max] or None


# SWIFT FIN ------------------------------------------------------------------------------------


# ISO 15022 text blocks -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Iso15022Field:
    tag: str  # "20C"
    qualifier: str | None  # "SEME" for a generic field, else None
    scheme: str | None  # a data source scheme: the code that follows is proprietary
    value: str
    line: int
    blocks: tuple[int, ...]  # the 16R blocks it sits in, outermost first, by number

    @property
    def label(self) -> str:
        return f"{self.tag}::{self.qualifier}" if self.qualifier else self.tag


class Iso15022Text:
    """The fields of one message's text block, with the problems found reading them."""

    def __init__(self, file: str | None, line: int) -> None:
        self.file = file
        self.line = line
        self.fields: list[Iso15022Field] = []
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
            self.fields.append(Iso15022Field(tag, qualifier, scheme, value, number, block_numbers))
        if open_blocks:
            unclosed = ", ".join(open_name for open_name, _ in open_blocks)
            reason = f"blocks opened and never closed: {unclosed}"
            self.bad("malformed_message", reason, None, "16R")

    def all(self, tag: str, qualifier: str | None) -> list[Iso15022Field]:
        """The fields whose tag starts with `tag` ("98" takes 98A, 98C...) and have `qualifier`."""
        return [f for f in self.fields if f.tag.startswith(tag) and f.qualifier == qualifier]

    def one(self, tag: str, qualifier: str | None, *, required: bool) -> Iso15022Field | None:
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

    def reasons(self, status: Iso15022Field) -> tuple[StatusReason, ...]:
        """The REAS blocks of the STAT block holding `status`: 24B and its 70D::REAS each."""
        if not status.blocks:
            return ()
        stat = status.blocks[-1]
        reasons: list[StatusReason] = []
        for field in self.fields:
            if field.tag != "24B" or len(field.blocks) < 2 or field.blocks[-2] != stat:
                continue
            code = f"{field.scheme}/{field.value}" if field.scheme else field.value
            narrative = next(
                (reason_text(other.value) for other in self.all("70D", "REAS")
                 if other.blocks == field.blocks),
                None,
            )  # fmt: skip
            reasons.append(StatusReason(code.strip() or None, narrative))
        return tuple(reasons)


def mt548_advice(fields: Iso15022Text, source: Source, raw: str) -> StatusAdvice | RejectedMessage:
    message_id = fields.reference("SEME")
    reference = fields.reference("RELA")
    fields.function(frozenset({"INST", "CAST"}))
    statuses = [f for f in fields.fields if f.tag == "25D"]
    if not statuses:
        fields.bad("missing_field", "no status (25D) in the message", None, "25D")
    unknown_codes = False
    blocks: list[StatusBlock] = []
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
            StatusBlock(field.qualifier or "", code, label, fields.reasons(field), field_source)
        )
    if not statuses or unknown_codes:
        return RejectedMessage(source, raw, tuple(fields.problems))
    decided = decide_status(blocks, Source(source.file, source.line, "25D"))
    if isinstance(decided, Problem):
        fields.problems.append(decided)
    if fields.problems or message_id is None or reference is None or isinstance(decided, Problem):
        return RejectedMessage(source, raw, tuple(fields.problems))
    return status_advice(message_id, reference, decided, source, raw)
