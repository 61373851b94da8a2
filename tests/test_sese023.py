"""Settlement instructions out as ISO 20022 sese.023.001.11 (backoffice.formats.sese023)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest
from defusedxml import ElementTree as DefusedET
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.errors import InvariantViolation, ProblemError
from backoffice.formats import sese023
from backoffice.formats.sese023 import (
    NAMESPACE,
    sese023_document,
    sese023_schema,
    validate_sese023,
)
from backoffice.settlement.model import (
    Direction,
    InstructionFunction,
    Payment,
    SettlementInstruction,
    SettlementParty,
)

CREATED = dt.datetime(2026, 11, 24, 18, 30, 5, tzinfo=dt.UTC)
NS = {"s": NAMESPACE}
FIRM = SettlementParty(
    party="BRKR",
    place_of_settlement="DTCYUS33",
    agent="FIRMUS33XXX",
    safekeeping_account="FIRM-001",
)
COUNTERPARTY = SettlementParty(
    party="CPTY", place_of_settlement="DTCYUS3X", agent="CPTYUS33", safekeeping_account="CP 12345"
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


def instruction(**changes: Any) -> SettlementInstruction:
    return dataclasses.replace(RECEIPT_AGAINST_PAYMENT, **changes)


def of_kind(direction: Direction, payment: Payment) -> SettlementInstruction:
    if payment is Payment.FREE:
        return instruction(direction=direction, payment=payment, settlement_amount=None)
    return instruction(
        direction=direction,
        payment=payment,
        cash_direction_credit=direction is Direction.DELIVER,
    )


def parsed(document: bytes) -> ET.Element:
    return DefusedET.fromstring(document, forbid_dtd=True)


def value(root: ET.Element, path: str) -> str:
    """The text at `path` (local names below SctiesSttlmTxInstr), which must be there."""
    element = root.find(
        "s:SctiesSttlmTxInstr/" + "/".join(f"s:{step}" for step in path.split("/")), NS
    )
    assert element is not None, path
    return element.text or ""


def problem_codes(error: pytest.ExceptionInfo[ProblemError]) -> list[str]:
    return [problem.code for problem in error.value.problems]


KINDS = [
    (Direction.RECEIVE, Payment.FREE),
    (Direction.RECEIVE, Payment.AGAINST_PAYMENT),
    (Direction.DELIVER, Payment.FREE),
    (Direction.DELIVER, Payment.AGAINST_PAYMENT),
]


@pytest.mark.parametrize(("direction", "payment"), KINDS)
def test_each_direction_and_payment_gives_a_document_valid_against_the_official_schema(
    direction: Direction, payment: Payment
) -> None:
    document = sese023_document(of_kind(direction, payment), creation_time=CREATED)

    assert validate_sese023(document) == []
    assert sese023_schema().is_valid(document.decode("utf-8"))
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert parsed(document).tag == f"{{{NAMESPACE}}}Document"


@pytest.mark.parametrize(("direction", "payment"), KINDS)
def test_the_document_carries_the_codes_and_figures_of_the_instruction(
    direction: Direction, payment: Payment
) -> None:
    root = parsed(sese023_document(of_kind(direction, payment), creation_time=CREATED))

    assert value(root, "TxId") == "SI20261124000001"
    assert value(root, "SttlmTpAndAddtlParams/SctiesMvmntTp") == (
        "RECE" if direction is Direction.RECEIVE else "DELI"
    )
    assert value(root, "SttlmTpAndAddtlParams/Pmt") == (
        "APMT" if payment is Payment.AGAINST_PAYMENT else "FREE"
    )
    assert value(root, "TradDtls/TradDt/Dt/Dt") == "2026-11-24"
    assert value(root, "TradDtls/SttlmDt/Dt/Dt") == "2026-11-25"
    assert value(root, "FinInstrmId/ISIN") == "US0378331005"
    assert value(root, "FinInstrmId/Desc") == "Apple Inc"
    assert value(root, "QtyAndAcctDtls/SttlmQty/Qty/Unit") == "100"
    assert value(root, "QtyAndAcctDtls/SfkpgAcct/Id") == "FIRM-001"
    assert value(root, "SttlmParams/SctiesTxTp/Cd") == "TRAD"


@pytest.mark.parametrize(("direction", "payment"), KINDS)
def test_the_counterparty_delivers_when_the_firm_receives_and_receives_when_it_delivers(
    direction: Direction, payment: Payment
) -> None:
    root = parsed(sese023_document(of_kind(direction, payment), creation_time=CREATED))

    firm_side, counterparty_side = (
        ("RcvgSttlmPties", "DlvrgSttlmPties")
        if direction is Direction.RECEIVE
        else ("DlvrgSttlmPties", "RcvgSttlmPties")
    )
    assert value(root, f"{firm_side}/Dpstry/Id/AnyBIC") == "DTCYUS33"
    assert value(root, f"{firm_side}/Pty1/Id/AnyBIC") == "FIRMUS33XXX"
    assert value(root, f"{firm_side}/Pty1/SfkpgAcct/Id") == "FIRM-001"
    assert value(root, f"{counterparty_side}/Dpstry/Id/AnyBIC") == "DTCYUS3X"
    assert value(root, f"{counterparty_side}/Pty1/Id/AnyBIC") == "CPTYUS33"
    assert value(root, f"{counterparty_side}/Pty1/SfkpgAcct/Id") == "CP 12345"


@pytest.mark.parametrize(("direction", "payment"), KINDS)
def test_only_an_instruction_against_payment_carries_a_settlement_amount(
    direction: Direction, payment: Payment
) -> None:
    root = parsed(sese023_document(of_kind(direction, payment), creation_time=CREATED))

    amount = root.find("s:SctiesSttlmTxInstr/s:SttlmAmt/s:Amt", NS)
    if payment is Payment.FREE:
        assert amount is None
        return
    assert amount is not None
    assert amount.text == "22852.25"
    assert amount.get("Ccy") == "USD"
    assert value(root, "SttlmAmt/CdtDbtInd") == (
        "CRDT" if direction is Direction.DELIVER else "DBIT"
    )


def test_a_delivery_with_payment_is_a_debit() -> None:
    root = parsed(
        sese023_document(
            instruction(direction=Direction.DELIVER, cash_direction_credit=False),
            creation_time=CREATED,
        )
    )

    assert value(root, "SttlmTpAndAddtlParams/SctiesMvmntTp") == "DELI"
    assert value(root, "SttlmAmt/CdtDbtInd") == "DBIT"


def test_amounts_are_written_with_the_currencys_minor_units() -> None:
    usd = parsed(sese023_document(instruction(settlement_amount="1000.5"), creation_time=CREATED))
    jpy = parsed(
        sese023_document(
            instruction(settlement_amount="0150000.00", currency="JPY"), creation_time=CREATED
        )
    )

    assert value(usd, "SttlmAmt/Amt") == "1000.50"
    assert value(jpy, "SttlmAmt/Amt") == "150000"


def test_the_same_instruction_gives_the_same_bytes_and_its_reference_unchanged() -> None:
    first = sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)
    again = sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)

    assert first == again
    assert value(parsed(first), "TxId") == RECEIPT_AGAINST_PAYMENT.reference


def test_a_document_with_a_40_character_txid_is_reported_with_its_xpath() -> None:
    valid = sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)
    invalid = valid.replace(b"<TxId>SI20261124000001</TxId>", b"<TxId>" + b"X" * 40 + b"</TxId>")

    problems = validate_sese023(invalid)

    assert [problem.code for problem in problems] == ["schema_invalid"]
    assert problems[0].source.field == "/Document/SctiesSttlmTxInstr/TxId"
    assert "35" in problems[0].reason


def test_a_missing_mandatory_element_and_a_wrong_code_are_both_reported() -> None:
    valid = sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)
    invalid = valid.replace(b"<Cd>TRAD</Cd>", b"<Cd>XXXX</Cd>").replace(
        b"<ISIN>US0378331005</ISIN>", b"<ISIN>not an isin</ISIN>"
    )

    fields = {problem.source.field for problem in validate_sese023(invalid)}

    assert fields == {
        "/Document/SctiesSttlmTxInstr/SttlmParams/SctiesTxTp/Cd",
        "/Document/SctiesSttlmTxInstr/FinInstrmId/ISIN",
    }


def test_a_document_in_another_namespace_is_invalid() -> None:
    valid = sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)
    other = valid.replace(b"sese.023.001.11", b"sese.023.001.09")

    assert [problem.code for problem in validate_sese023(other)] == ["schema_invalid"]


def test_entities_are_refused_not_expanded() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:sese.023.001.11">&b;</Document>'
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Document>&x;</Document>"
    )

    assert [problem.code for problem in validate_sese023(laughs)] == ["unsafe_xml"]
    assert [problem.code for problem in validate_sese023(external)] == ["unsafe_xml"]


def test_malformed_and_oversized_documents_are_reported_not_raised() -> None:
    assert [problem.code for problem in validate_sese023(b"<Document>")] == ["malformed_xml"]
    too_large = b" " * (sese023.document_bytes_max + 1)
    assert [problem.code for problem in validate_sese023(too_large)] == ["document_too_large"]


def test_hostile_text_in_the_security_name_is_escaped_and_read_back_unchanged() -> None:
    hostile = "A<B & C>\"' </Desc><TxId>X</TxId> &amp;"

    document = sese023_document(instruction(security_name=hostile), creation_time=CREATED)

    assert b"<B" not in document
    assert b"&lt;B &amp; C&gt;" in document
    assert validate_sese023(document) == []
    assert value(parsed(document), "FinInstrmId/Desc") == hostile
    assert value(parsed(document), "TxId") == "SI20261124000001"


def test_a_long_security_name_is_cut_to_140_characters_counted_before_escaping() -> None:
    name = "&" * 200

    document = sese023_document(instruction(security_name=name), creation_time=CREATED)

    assert value(parsed(document), "FinInstrmId/Desc") == "&" * 140


def test_a_cut_never_separates_a_letter_from_its_accent() -> None:
    name = "e" * 139 + "e\u0301" + " more"

    description = value(
        parsed(sese023_document(instruction(security_name=name), creation_time=CREATED)),
        "FinInstrmId/Desc",
    )

    assert description == "e" * 139


def test_an_empty_security_name_leaves_the_description_out() -> None:
    document = sese023_document(instruction(security_name="  "), creation_time=CREATED)

    assert parsed(document).find("s:SctiesSttlmTxInstr/s:FinInstrmId/s:Desc", NS) is None
    assert validate_sese023(document) == []


def test_a_cancellation_is_refused_because_sese023_has_no_cancel_function() -> None:
    cancel = instruction(function=InstructionFunction.CANCEL, previous_reference="SI0")

    with pytest.raises(ProblemError) as error:
        sese023_document(cancel, creation_time=CREATED)

    assert problem_codes(error) == ["cancel_not_in_sese023"]
    assert "23G:CANC" in error.value.problems[0].reason
    assert "sese.020" in error.value.problems[0].reason


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"reference": "R" * 36}, "invalid_reference", "reference"),
        ({"reference": ""}, "invalid_reference", "reference"),
        ({"reference": "A\nB"}, "invalid_reference", "reference"),
        ({"isin": "US0378331006"}, "invalid_isin", "isin"),
        ({"isin": "us0378331005"}, "invalid_isin", "isin"),
        ({"security_name": "Apple\x00"}, "invalid_text", "security_name"),
        ({"quantity": "0"}, "invalid_quantity", "quantity"),
        ({"quantity": "-1"}, "invalid_quantity", "quantity"),
        ({"quantity": "1e5"}, "invalid_quantity", "quantity"),
        ({"quantity": "1,000"}, "invalid_quantity", "quantity"),
        ({"quantity": "1" * 19}, "invalid_quantity", "quantity"),
        ({"settlement_amount": "10.005"}, "invalid_amount", "settlement_amount"),
        ({"settlement_amount": "1" * 17}, "invalid_amount", "settlement_amount"),
        ({"settlement_amount": "0"}, "invalid_amount", "settlement_amount"),
        ({"currency": "usd"}, "invalid_currency", "currency"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        ({"settlement_amount": None}, "payment_mismatch", "settlement_amount"),
        ({"payment": Payment.FREE}, "payment_mismatch", "settlement_amount"),
        (
            {"firm": dataclasses.replace(FIRM, agent="FIRMUS3")},
            "invalid_bic",
            "firm.agent",
        ),
        (
            {"counterparty": dataclasses.replace(COUNTERPARTY, place_of_settlement="dtcyus33")},
            "invalid_bic",
            "counterparty.place_of_settlement",
        ),
        (
            {"counterparty": dataclasses.replace(COUNTERPARTY, safekeeping_account="A" * 36)},
            "invalid_account",
            "counterparty.safekeeping_account",
        ),
    ],
)
def test_input_the_message_cannot_carry_is_a_problem_naming_the_field(
    changes: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(ProblemError) as error:
        sese023_document(instruction(**changes), creation_time=CREATED)

    assert [(problem.code, problem.source.field) for problem in error.value.problems] == [
        (code, field)
    ]


def test_an_output_the_schema_refuses_is_an_invariant_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulate a bug in the builder: a code the schema does not know.
    monkeypatch.setitem(sese023._MOVEMENTS, Direction.RECEIVE, "RECV")

    with pytest.raises(InvariantViolation, match="SctiesMvmntTp"):
        sese023_document(RECEIPT_AGAINST_PAYMENT, creation_time=CREATED)


def test_the_schema_is_compiled_once() -> None:
    assert sese023_schema() is sese023_schema()


def decimal_strings(whole_digits_max: int, decimals_max: int) -> st.SearchStrategy[str]:
    """Positive plain decimal strings, leading and trailing zeros included."""
    whole = st.text("0123456789", min_size=1, max_size=whole_digits_max)
    fraction = st.text("0123456789", min_size=0, max_size=decimals_max)
    return (
        st.tuples(st.text("0", max_size=2), whole, fraction, st.text("0", max_size=2))
        .map(lambda parts: parts[0] + parts[1] + ("." + parts[2] + parts[3] if parts[2] else ""))
        .filter(lambda text: Decimal(text) > 0)
    )


@settings(deadline=None, max_examples=60)
@given(quantity=decimal_strings(10, 7), amount=decimal_strings(15, 2))
def test_any_quantity_and_amount_within_limits_give_a_valid_document_of_the_same_value(
    quantity: str, amount: str
) -> None:
    document = sese023_document(
        instruction(quantity=quantity, settlement_amount=amount), creation_time=CREATED
    )

    root = parsed(document)
    assert validate_sese023(document) == []
    assert Decimal(value(root, "QtyAndAcctDtls/SttlmQty/Qty/Unit")) == Decimal(quantity)
    assert Decimal(value(root, "SttlmAmt/Amt")) == Decimal(amount)
