"""MT544-547 settlement confirmations (SWIFT FIN): receive or deliver, free or against
payment. Their text block is read as `mt548` reads it (`Iso15022Text`); this module reads what
settled: quantity (and amortised value), amount, date. The codes and rules are described in
`settlement_status`.
"""

from __future__ import annotations

import datetime as dt
import re

from backoffice.errors import Source
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.mt548 import Iso15022Field, Iso15022Text
from backoffice.money import is_zero, plain_number
from backoffice.settlement.model import StatusAdvice, StatusKind

FIN_CONFIRMATIONS = frozenset({"544", "545", "546", "547"})  # receive/deliver, free/against
FIN_CONFIRMATIONS_AGAINST_PAYMENT = frozenset({"545", "547"})

_FIN_QUANTITY = re.compile(r"([A-Z]{4})/([0-9]+,[0-9]*)")
_FIN_AMOUNT = re.compile(r"(N?)([A-Z]{3})([0-9]+,[0-9]*)")
_FIN_NUMBER_CHARS_MAX = 15  # 15d: digits and the decimal comma
# 98A a date, 98C a date and time, 98E a date and time with decimals and a UTC offset.
_FIN_DATES = {
    "98A": re.compile(r"([0-9]{8})"),
    "98C": re.compile(r"([0-9]{8})[0-9]{6}"),
    "98E": re.compile(r"([0-9]{8})[0-9]{6}(?:,[0-9]{1,3})?(?:/N?[0-9]{2}(?:[0-9]{2})?)?"),
}


def mt544_confirmation(
    fields: Iso15022Text, kind: str, source: Source, raw: str
) -> StatusAdvice | RejectedMessage:
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


def _fin_settled(fields: Iso15022Text) -> tuple[str | None, str | None]:
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
    fields: Iso15022Text,
    field: Iso15022Field | None,
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
    quantity = plain_number(integer, fraction)
    if is_zero(quantity):
        reason = f"the settled {'amortised value' if match[1] == 'AMOR' else 'quantity'} is zero"
        fields.bad("invalid_quantity", reason, field.line, field.label)
        return None
    return quantity


def _fin_amount(fields: Iso15022Text, field: Iso15022Field | None) -> tuple[str | None, str | None]:
    """:19A::ESTT//USD1234,50 as ("1234.50", "USD")."""
    if field is None:
        return None, None
    match = _FIN_AMOUNT.fullmatch(field.value)
    if field.scheme is not None or match is None or len(match[3]) > _FIN_NUMBER_CHARS_MAX:
        reason = f"{field.value[:40]!r} is not a currency and an amount such as USD1234,50"
        fields.bad("invalid_amount", reason, field.line, field.label)
        return None, None
    integer, _, fraction = match[3].partition(",")
    amount = plain_number(integer, fraction)
    if match[1] or is_zero(amount):
        reason = f"the settled amount {field.value!r} is not above zero"
        fields.bad("invalid_amount", reason, field.line, field.label)
        return None, None
    return amount, match[2]


def _fin_date(fields: Iso15022Text, field: Iso15022Field | None) -> dt.date | None:
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
