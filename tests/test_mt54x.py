"""Settlement instructions out as SWIFT MT540-543 (backoffice.formats.mt54x)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats.mt54x import message_type, mt54x_file, mt54x_message
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
    SettlementParty,
)

CREATED = dt.datetime(2026, 11, 24, 18, 30, 5, tzinfo=dt.UTC)
SENDER = "FIRMUS33"
RECEIVER = "CUSTUS33XXX"
FIRM = SettlementParty(
    party="BRKR",
    place_of_settlement="DTCYUS33",
    agent="FIRMUS33XXX",
    safekeeping_account="FIRM-001",
)
COUNTERPARTY = SettlementParty(
    party="CPTY", place_of_settlement="DTCYUS33", agent="CPTYUS33", safekeeping_account="CP 12345"
)
RECEIPT_AGAINST_PAYMENT = SettlementInstruction(
    reference="SI20261124000001",
    function=InstructionFunction.NEW,
    obligation_id="OBL-1",
    direction=Direction.RECEIVE,
    payment=Payment.AGAINST_PAYMENT,
    isin="US0378331005",
    security_name="Apple Inc",
    quantity="100",
    settlement_amount="22852.25",
    currency="USD",
    cash_direction_credit=False,
    trade_date=dt.date(2026, 11, 24),
    settlement_date=dt.date(2026, 11, 25),
    firm=FIRM,
    counterparty=COUNTERPARTY,
)
KINDS = [
    (Direction.RECEIVE, Payment.FREE, "540"),
    (Direction.RECEIVE, Payment.AGAINST_PAYMENT, "541"),
    (Direction.DELIVER, Payment.FREE, "542"),
    (Direction.DELIVER, Payment.AGAINST_PAYMENT, "543"),
]

# Field formats (ISO 15022 MT54x), on the whole field text after `:tag:`.
X = r"[A-Za-z0-9/\-?:().,'+ ]"
BIC = r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?"
NUMBER_15D = r"(?=[0-9,]{2,15}(?:$|\r))[0-9]+,[0-9]*"
FIELD_FORMATS = {
    "16R": r"GENL|LINK|TRADDET|FIAC|SETDET|SETPRTY|AMT",
    "16S": r"GENL|LINK|TRADDET|FIAC|SETDET|SETPRTY|AMT",
    "20C": rf":(SEME|PREV)//(?!/)(?!.*//)(?!.*/$){X}{{1,16}}",
    "23G": r"NEWM|CANC",
    "98C": r":PREP//[0-9]{8}[0-9]{6}",
    "98A": r":(SETT|TRAD)//[0-9]{8}",
    "35B": rf"ISIN [A-Z]{{2}}[A-Z0-9]{{9}}[0-9](\r\n(?![:\-/]){X}{{1,35}}){{0,4}}",
    "36B": rf":SETT//UNIT/{NUMBER_15D}",
    "97A": rf":SAFE//{X}{{1,35}}",
    "22F": r":SETR//TRAD",
    "95P": rf":(DEAG|REAG|PSET)//{BIC}",
    "19A": rf":SETT//N?[A-Z]{{3}}{NUMBER_15D}",
}
MESSAGE = re.compile(
    r"\{1:F01(?P<sender>[A-Z0-9]{12})0000000000\}"
    r"\{2:I(?P<type>54[0-3])(?P<receiver>[A-Z0-9]{12})N\}"
    r"\{4:\r\n(?P<text>.*)\r\n-\}",
    re.DOTALL,
)


def instruction(**changes: Any) -> SettlementInstruction:
    return dataclasses.replace(RECEIPT_AGAINST_PAYMENT, **changes)


def of_kind(direction: Direction, payment: Payment) -> SettlementInstruction:
    if payment is Payment.FREE:
        return instruction(direction=direction, payment=payment, settlement_amount=None)
    return instruction(
        direction=direction, payment=payment, cash_direction_credit=direction is Direction.DELIVER
    )


def message(value: SettlementInstruction) -> str:
    return mt54x_message(value, sender_bic=SENDER, receiver_bic=RECEIVER, creation_time=CREATED)


def text_block(mt: str) -> str:
    match = MESSAGE.fullmatch(mt)
    assert match is not None, mt
    return match.group("text")


def fields(mt: str) -> list[tuple[str, str]]:
    """Block 4 as (tag, field text) in order; a line not starting with ':' continues a field."""
    result: list[tuple[str, str]] = []
    for line in text_block(mt).split("\r\n"):
        field = re.fullmatch(r":([0-9]{2}[A-Z]):(.*)", line)
        if field is not None:
            result.append((field.group(1), field.group(2)))
        else:
            assert result, line
            tag, value = result[-1]
            result[-1] = (tag, value + "\r\n" + line)
    return result


def values(mt: str, tag: str) -> list[str]:
    return [value for field_tag, value in fields(mt) if field_tag == tag]


def problem_fields(error: pytest.ExceptionInfo[ProblemError]) -> list[tuple[str, str | None]]:
    return [(problem.code, problem.source.field) for problem in error.value.problems]


@pytest.mark.parametrize(("direction", "payment", "expected"), KINDS)
def test_the_message_type_follows_direction_and_payment(
    direction: Direction, payment: Payment, expected: str
) -> None:
    value = of_kind(direction, payment)
    match = MESSAGE.fullmatch(message(value))

    assert match is not None
    assert match.group("type") == expected == message_type(value)


def test_the_headers_carry_the_sender_lt_address_and_the_receiver_address() -> None:
    mt = message(RECEIPT_AGAINST_PAYMENT)

    assert mt.startswith("{1:F01FIRMUS33AXXX0000000000}{2:I541CUSTUS33XXXXN}{4:\r\n")
    assert mt.endswith("\r\n-}")


@pytest.mark.parametrize(("direction", "payment", "expected"), KINDS)
@pytest.mark.parametrize("function", list(InstructionFunction))
def test_every_field_line_matches_its_format(
    direction: Direction, payment: Payment, expected: str, function: InstructionFunction
) -> None:
    value = dataclasses.replace(
        of_kind(direction, payment),
        function=function,
        previous_reference="SI20261123000009",
        security_name="Apple Inc - Class A common stock, a very long name: (really) long",
    )
    mt = message(value)

    assert re.fullmatch(r"[A-Za-z0-9/\-?:().,'+ \r\n]*", text_block(mt))
    for tag, text in fields(mt):
        assert tag in FIELD_FORMATS, tag
        assert re.fullmatch(FIELD_FORMATS[tag], text), f":{tag}:{text}"


@pytest.mark.parametrize(("direction", "payment", "expected"), KINDS)
def test_the_sequences_come_in_the_order_of_the_standard(
    direction: Direction, payment: Payment, expected: str
) -> None:
    blocks = [
        (tag, text) for tag, text in fields(message(of_kind(direction, payment))) if tag[:2] == "16"
    ]

    amount = [("16R", "AMT"), ("16S", "AMT")] if payment is Payment.AGAINST_PAYMENT else []
    assert blocks == [
        ("16R", "GENL"),
        ("16S", "GENL"),
        ("16R", "TRADDET"),
        ("16S", "TRADDET"),
        ("16R", "FIAC"),
        ("16S", "FIAC"),
        ("16R", "SETDET"),
        ("16R", "SETPRTY"),
        ("16S", "SETPRTY"),
        ("16R", "SETPRTY"),
        ("16S", "SETPRTY"),
        *amount,
        ("16S", "SETDET"),
    ]


@pytest.mark.parametrize(("direction", "payment", "expected"), KINDS)
def test_the_fields_carry_the_instructions_figures(
    direction: Direction, payment: Payment, expected: str
) -> None:
    mt = message(of_kind(direction, payment))

    assert values(mt, "20C") == [":SEME//SI20261124000001"]
    assert values(mt, "23G") == ["NEWM"]
    assert values(mt, "98C") == [":PREP//20261124183005"]
    assert values(mt, "98A") == [":SETT//20261125", ":TRAD//20261124"]
    assert values(mt, "35B") == ["ISIN US0378331005\r\nApple Inc"]
    assert values(mt, "36B") == [":SETT//UNIT/100,"]
    assert values(mt, "97A") == [":SAFE//FIRM-001", ":SAFE//CP 12345"]
    assert values(mt, "22F") == [":SETR//TRAD"]
    agent = "DEAG" if direction is Direction.RECEIVE else "REAG"
    assert values(mt, "95P") == [f":{agent}//CPTYUS33", ":PSET//DTCYUS33"]
    if payment is Payment.AGAINST_PAYMENT:
        assert values(mt, "19A") == [":SETT//USD22852,25"]
    else:
        assert values(mt, "19A") == []


@pytest.mark.parametrize("direction", list(Direction))
def test_cash_against_the_message_types_way_carries_the_n_sign(direction: Direction) -> None:
    value = instruction(direction=direction, cash_direction_credit=direction is Direction.RECEIVE)

    assert values(message(value), "19A") == [":SETT//NUSD22852,25"]


def test_a_cancellation_carries_canc_and_the_previous_reference_in_its_linkage() -> None:
    cancel = instruction(
        reference="SI20261124000002",
        function=InstructionFunction.CANCEL,
        previous_reference="SI20261124000001",
    )

    mt = message(cancel)

    assert values(mt, "23G") == ["CANC"]
    assert values(mt, "20C") == [":SEME//SI20261124000002", ":PREV//SI20261124000001"]
    assert (
        ":98C::PREP//20261124183005\r\n:16R:LINK\r\n:20C::PREV//SI20261124000001\r\n"
        ":16S:LINK\r\n:16S:GENL"
    ) in mt


def test_a_new_instruction_has_no_linkage() -> None:
    mt = message(instruction(previous_reference="SI20261124000001"))

    assert ":16R:LINK" not in mt
    assert values(mt, "20C") == [":SEME//SI20261124000001"]


def test_a_cancellation_without_the_reference_it_cancels_is_refused() -> None:
    with pytest.raises(ProblemError) as error:
        message(instruction(function=InstructionFunction.CANCEL))

    assert problem_fields(error) == [("missing_previous_reference", "previous_reference")]


def test_the_same_instruction_gives_the_same_message_with_its_reference_as_given() -> None:
    value = instruction(reference="a-Z0.9(x)?+'")

    assert message(value) == message(value)
    assert values(message(value), "20C") == [":SEME//a-Z0.9(x)?+'"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"security_name": "Nestlé SA"}, "security_name"),
        ({"security_name": "AT&T Inc"}, "security_name"),
        ({"security_name": "Brackets {1:"}, "security_name"),
        ({"reference": "SI_0001"}, "reference"),
        ({"reference": "SI@1"}, "reference"),
        (
            {"function": InstructionFunction.CANCEL, "previous_reference": "SI#1"},
            "previous_reference",
        ),
        (
            {"firm": dataclasses.replace(FIRM, safekeeping_account="ACC_1")},
            "firm.safekeeping_account",
        ),
        (
            {"counterparty": dataclasses.replace(COUNTERPARTY, safekeeping_account="CP\r\n:1")},
            "counterparty.safekeeping_account",
        ),
    ],
)
def test_text_outside_the_swift_x_character_set_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ProblemError) as error:
        message(instruction(**changes))

    assert problem_fields(error) == [("invalid_swift_text", field)]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"reference": "R" * 17}, "invalid_reference", "reference"),
        ({"reference": ""}, "invalid_reference", "reference"),
        ({"reference": "/SI1"}, "invalid_reference", "reference"),
        ({"reference": "SI1/"}, "invalid_reference", "reference"),
        ({"reference": "SI//1"}, "invalid_reference", "reference"),
        ({"isin": "US0378331006"}, "invalid_isin", "isin"),
        ({"quantity": "0.0"}, "invalid_quantity", "quantity"),
        ({"quantity": "1" * 15}, "invalid_quantity", "quantity"),
        ({"quantity": "1.5e3"}, "invalid_quantity", "quantity"),
        ({"settlement_amount": "1.001"}, "invalid_amount", "settlement_amount"),
        ({"settlement_amount": "1" * 13}, "invalid_amount", "settlement_amount"),
        ({"settlement_amount": "1,000.00"}, "invalid_amount", "settlement_amount"),
        ({"currency": "EURO"}, "invalid_currency", "currency"),
        ({"currency": None}, "payment_mismatch", "settlement_amount"),
        ({"payment": Payment.FREE}, "payment_mismatch", "settlement_amount"),
        (
            {"counterparty": dataclasses.replace(COUNTERPARTY, agent="1PTYUS33")},
            "invalid_bic",
            "counterparty.agent",
        ),
        (
            {"firm": dataclasses.replace(FIRM, safekeeping_account="A" * 36)},
            "invalid_account",
            "firm.safekeeping_account",
        ),
    ],
)
def test_input_the_message_cannot_carry_is_a_problem_naming_the_field(
    changes: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(ProblemError) as error:
        message(instruction(**changes))

    assert problem_fields(error) == [(code, field)]


def test_a_bad_sender_or_receiver_bic_is_refused() -> None:
    with pytest.raises(ProblemError) as error:
        mt54x_message(
            RECEIPT_AGAINST_PAYMENT,
            sender_bic="FIRMUS",
            receiver_bic="custus33",
            creation_time=CREATED,
        )

    assert problem_fields(error) == [
        ("invalid_bic", "sender_bic"),
        ("invalid_bic", "receiver_bic"),
    ]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ProblemError) as error:
        message(instruction(reference="SI_1", isin="XX", quantity="-5"))

    assert [code for code, _ in problem_fields(error)] == [
        "invalid_swift_text",
        "invalid_isin",
        "invalid_quantity",
    ]


@pytest.mark.parametrize(
    ("quantity", "amount", "currency", "unit", "settlement"),
    [
        ("100", "1000.5", "USD", "UNIT/100,", "USD1000,50"),
        ("0.25", "0150000.00", "JPY", "UNIT/0,25", "JPY150000,"),
        ("0012.500", "1234567890.12", "EUR", "UNIT/12,5", "EUR1234567890,12"),
        ("12345678901234", "1.234", "BHD", "UNIT/12345678901234,", "BHD1,234"),
    ],
)
def test_numbers_have_a_decimal_comma_and_no_thousands_separator(
    quantity: str, amount: str, currency: str, unit: str, settlement: str
) -> None:
    mt = message(instruction(quantity=quantity, settlement_amount=amount, currency=currency))

    assert values(mt, "36B") == [f":SETT//{unit}"]
    assert values(mt, "19A") == [f":SETT//{settlement}"]


def test_a_long_name_is_wrapped_on_words_into_four_lines_none_starting_a_field() -> None:
    name = "ALPHA - BETA: " + "GAMMA " * 30
    text = values(message(instruction(security_name=name)), "35B")[0]

    isin, *lines = text.split("\r\n")
    assert isin == "ISIN US0378331005"
    assert 1 <= len(lines) <= 4
    assert all(1 <= len(line) <= 35 for line in lines)
    assert not any(line.startswith((":", "-")) for line in lines)
    assert lines[0].startswith("ALPHA")


def test_a_name_whose_wrap_starts_a_line_with_a_dash_drops_the_dash() -> None:
    name = "A" * 34 + " -CLASS A"

    lines = values(message(instruction(security_name=name)), "35B")[0].split("\r\n")

    assert lines == ["ISIN US0378331005", "A" * 34, "CLASS A"]


def test_a_file_separates_messages_by_a_dollar_line() -> None:
    first = message(RECEIPT_AGAINST_PAYMENT)
    second = message(instruction(reference="SI20261124000002", direction=Direction.DELIVER))

    file = mt54x_file([first, second])

    assert file == first + "\r\n$\r\n" + second + "\r\n"
    assert file.split("\r\n$\r\n") == [first, second + "\r\n"]
    assert mt54x_file([]) == ""


def test_a_file_refuses_text_that_is_not_one_message() -> None:
    good = message(RECEIPT_AGAINST_PAYMENT)

    with pytest.raises(ProblemError) as error:
        mt54x_file([good, good + "\r\n$\r\n" + good, "hello"])

    assert problem_fields(error) == [
        ("invalid_message", "messages[1]"),
        ("invalid_message", "messages[2]"),
    ]


def decimal_strings(whole_digits_max: int, decimals_max: int) -> st.SearchStrategy[str]:
    """Positive plain decimal strings, leading and trailing zeros included."""
    whole = st.text("0123456789", min_size=1, max_size=whole_digits_max)
    fraction = st.text("0123456789", min_size=0, max_size=decimals_max)
    return (
        st.tuples(st.text("0", max_size=2), whole, fraction, st.text("0", max_size=2))
        .map(lambda parts: parts[0] + parts[1] + ("." + parts[2] + parts[3] if parts[2] else ""))
        .filter(lambda text: Decimal(text) > 0)
    )


def swift_decimal(text: str) -> Decimal:
    assert re.fullmatch(r"[0-9]+,[0-9]*", text), text
    assert len(text) <= 15
    whole, fraction = text.split(",")
    return Decimal(f"{whole}.{fraction or '0'}")


@settings(max_examples=200)
@given(quantity=decimal_strings(7, 6), amount=decimal_strings(12, 2))
def test_any_quantity_and_amount_within_15d_parse_back_to_the_same_value(
    quantity: str, amount: str
) -> None:
    mt = message(instruction(quantity=quantity, settlement_amount=amount))

    unit = values(mt, "36B")[0].removeprefix(":SETT//UNIT/")
    settlement = values(mt, "19A")[0].removeprefix(":SETT//USD")
    assert swift_decimal(unit) == Decimal(quantity)
    assert swift_decimal(settlement) == Decimal(amount)
    assert len(settlement.split(",")[1]) == 2
