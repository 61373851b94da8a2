"""Inbound settlement status advices and confirmations: sese.024 / sese.025 and MT548 / MT544-547
(backoffice.formats.settlement_status)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring

from backoffice.errors import ProblemError
from backoffice.formats import settlement_status
from backoffice.formats.fix_framing import RejectedMessage
from backoffice.formats.sese024 import SESE_024, SESE_025, message_schema
from backoffice.formats.settlement_status import read_settlement_messages
from backoffice.settlement.model import StatusAdvice, StatusKind

REFERENCE = "SI0000000001"

# --- helpers ----------------------------------------------------------------------------------


def valid(document: str) -> str:
    """`document`, after checking it is valid against its official schema."""
    root = fromstring(document, forbid_dtd=True)
    namespace = root.tag[1:].partition("}")[0]
    errors = [str(error.reason) for error in message_schema(namespace).iter_errors(root)]
    assert errors == [], errors
    return document


def sese024(statuses: str, *, reference: str = REFERENCE) -> str:
    """A status advice holding the status blocks `statuses` (PrcgSts, MtchgSts, SttlmSts)."""
    return valid(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{SESE_024}">
  <SctiesSttlmTxStsAdvc>
    <TxId>
      <AcctOwnrTxId>{reference}</AcctOwnrTxId>
      <AcctSvcrTxId>CUST-TX-77</AcctSvcrTxId>
    </TxId>
    {statuses}
  </SctiesSttlmTxStsAdvc>
</Document>
"""
    )


def reasons(code: str, narrative: str | None = None) -> str:
    """One coded reason, as Pdg, Flng, Umtchd and Canc hold them."""
    text = f"<AddtlRsnInf>{narrative}</AddtlRsnInf>" if narrative else ""
    return f"<Rsn><Cd><Cd>{code}</Cd></Cd>{text}</Rsn>"


MATCHED = "<MtchgSts><Mtchd/></MtchgSts>"


def sese025(
    *,
    quantity: str = "<Unit>100</Unit>",
    amount: str | None = '<Amt Ccy="USD">1234.50</Amt>',
    payment: str = "APMT",
    partial: str | None = None,
    pre_confirmation: str | None = None,
    date: str = "<Dt>2026-11-26</Dt>",
    check: bool = True,
) -> str:
    """A settlement confirmation of our receipt against payment, with the parts given."""
    parameters = ""
    if pre_confirmation or partial:
        pre = f"<PreConf>{pre_confirmation}</PreConf>" if pre_confirmation else ""
        part = f"<PrtlSttlm>{partial}</PrtlSttlm>" if partial else ""
        parameters = f"<AddtlParams>{pre}{part}</AddtlParams>"
    settled_amount = f"<SttldAmt>{amount}<CdtDbtInd>DBIT</CdtDbtInd></SttldAmt>" if amount else ""
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{SESE_025}">
  <SctiesSttlmTxConf>
    <TxIdDtls>
      <AcctOwnrTxId>{REFERENCE}</AcctOwnrTxId>
      <SctiesMvmntTp>RECE</SctiesMvmntTp>
      <Pmt>{payment}</Pmt>
    </TxIdDtls>
    {parameters}
    <TradDtls>
      <FctvSttlmDt><Dt>{date}</Dt></FctvSttlmDt>
    </TradDtls>
    <FinInstrmId><ISIN>US0378331005</ISIN></FinInstrmId>
    <QtyAndAcctDtls>
      <SttldQty><Qty>{quantity}</Qty></SttldQty>
      <SfkpgAcct><Id>SAFE-1</Id></SfkpgAcct>
    </QtyAndAcctDtls>
    <SttlmParams><SctiesTxTp><Cd>TRAD</Cd></SctiesTxTp></SttlmParams>
    {settled_amount}
  </SctiesSttlmTxConf>
</Document>
"""
    return valid(document) if check else document


BASIC_HEADER = "{1:F01OURBANKXAXXX0000000000}"


def fin(message_type: str, lines: list[str]) -> str:
    """One FIN message: basic and application headers, the text block `lines`, a trailer."""
    text = "\n".join(lines)
    application = f"{{2:O{message_type}1200261126CUSTBICXAXXX00000000002611261200N}}"
    return f"{BASIC_HEADER}{application}{{4:\n{text}\n-}}{{5:{{CHK:0123456789AB}}}}"


def stat(status: str, reason: str | None = None, narrative: str | None = None) -> list[str]:
    """An MT548 status block: "SETT//PEND" with an optional reason "PEND//LACK"."""
    lines = [":16R:STAT", f":25D::{status}"]
    if reason is not None:
        lines += [":16R:REAS", f":24B::{reason}"]
        if narrative is not None:
            lines.append(f":70D::REAS//{narrative}")
        lines.append(":16S:REAS")
    return [*lines, ":16S:STAT"]


def mt548(
    *statuses: list[str],
    seme: str | None = "STAT0001",
    rela: str | None = REFERENCE,
    function: str = "INST",
) -> str:
    """An MT548 about our instruction REFERENCE holding the status blocks `statuses`."""
    lines = [":16R:GENL"]
    lines += [f":20C::SEME//{seme}"] if seme is not None else []
    lines += [f":23G:{function}", ":16R:LINK"]
    lines += [f":20C::RELA//{rela}"] if rela is not None else [":20C::PREV//OTHER1"]
    lines.append(":16S:LINK")
    for status in statuses:
        lines += status
    lines += [
        ":16S:GENL",
        ":16R:SETTRAN",
        ":35B:ISIN US0378331005",
        ":36B::SETT//UNIT/100,",
        ":97A::SAFE//12345",
        ":22F::SETR//TRAD",
        ":22H::REDE//RECE",
        ":22H::PAYM//APMT",
        ":98A::SETT//20261126",
        ":16S:SETTRAN",
    ]
    return fin("548", lines)


def confirmation(
    message_type: str = "545",
    *,
    seme: str = "CONF0001",
    rela: str | None = REFERENCE,
    function: str = "NEWM",
    indicators: tuple[str, ...] = (),
    quantity: str = "UNIT/100,",
    amount: str | None = "USD1234,50",
    settled: str = "98A::ESET//20261126",
    conditions: tuple[str, ...] = (),
) -> str:
    """An MT544-547 settlement confirmation; `indicators` go in sequence A (":22F::PARS//PAIN")."""
    lines = [":16R:GENL", f":20C::SEME//{seme}", f":23G:{function}", *indicators, ":16R:LINK"]
    lines += [f":20C::RELA//{rela}"] if rela is not None else [":20C::PREV//OTHER1"]
    lines += [
        ":16S:LINK",
        ":16S:GENL",
        ":16R:TRADDET",
        f":{settled}",
        ":98A::TRAD//20261124",
        ":35B:ISIN US0378331005",
        ":16S:TRADDET",
        ":16R:FIAC",
        f":36B::ESTT//{quantity}",
        ":97A::SAFE//12345",
        ":16S:FIAC",
        ":16R:SETDET",
        ":22F::SETR//TRAD",
        *conditions,
    ]
    if amount is not None:
        lines += [":16R:AMT", f":19A::ESTT//{amount}", ":16S:AMT"]
    lines.append(":16S:SETDET")
    return fin(message_type, lines)


def write(tmp_path: Path, content: str | bytes, name: str = "status.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(path: Path) -> list[StatusAdvice | RejectedMessage]:
    return list(read_settlement_messages(path))


def only_advice(tmp_path: Path, content: str) -> StatusAdvice:
    results = read_all(write(tmp_path, content))
    assert len(results) == 1
    assert isinstance(results[0], StatusAdvice), results[0]
    return results[0]


def only_rejection(tmp_path: Path, content: str | bytes) -> RejectedMessage:
    results = read_all(write(tmp_path, content))
    assert len(results) == 1
    assert isinstance(results[0], RejectedMessage), results[0]
    return results[0]


def problems_of(tmp_path: Path, content: str | bytes) -> list[tuple[str, str | None]]:
    return [(p.code, p.source.field) for p in only_rejection(tmp_path, content).problems]


def refusal(path: Path) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        read_settlement_messages(path)  # raised at once, before any message is asked for
    return raised.value


# --- sese.024 ---------------------------------------------------------------------------------


def test_a_matched_sese024_is_read_as_matched(tmp_path: Path) -> None:
    document = sese024(MATCHED)
    advice = only_advice(tmp_path, document)
    assert advice.status is StatusKind.MATCHED
    assert advice.reference == REFERENCE
    assert advice.message_id.startswith(f"{REFERENCE}:")
    assert (advice.reason_code, advice.reason) == (None, None)
    assert (advice.settled_quantity, advice.settled_amount, advice.settled_on) == (None, None, None)
    assert (advice.source.file, advice.source.line) == (str(tmp_path / "status.txt"), 1)
    assert advice.raw == document


@pytest.mark.parametrize(
    ("statuses", "status", "reason_code", "reason"),
    [
        (
            f"<MtchgSts><Umtchd>{reasons('CMIS', 'Counterparty instruction missing')}</Umtchd>"
            "</MtchgSts>",
            StatusKind.UNMATCHED, "CMIS", "Counterparty instruction missing",
        ),
        (
            f"{MATCHED}<SttlmSts><Pdg>{reasons('LACK', 'Lack of securities')}</Pdg></SttlmSts>",
            StatusKind.PENDING, "LACK", "Lack of securities",
        ),
        (
            f"{MATCHED}<SttlmSts><Flng>{reasons('MONY')}</Flng></SttlmSts>",
            StatusKind.FAILED, "MONY", None,
        ),
        (
            f"{MATCHED}<SttlmSts><Flng>{reasons('CLAC')}{reasons('LACK')}</Flng></SttlmSts>",
            StatusKind.FAILED, "CLAC", None,
        ),
        (
            f"<PrcgSts><Canc>{reasons('CANI', 'Cancelled by yourself')}</Canc></PrcgSts>"
            f"{MATCHED}",
            StatusKind.CANCELLED, "CANI", "Cancelled by yourself",
        ),
        (
            "<PrcgSts><AckdAccptd><NoSpcfdRsn>NORE</NoSpcfdRsn></AckdAccptd></PrcgSts>",
            StatusKind.PENDING, None, None,
        ),
        (
            "<SttlmSts><Pdg><Rsn><Cd><Prtry><Id>WAIT</Id><Issr>CUSTBICX</Issr></Prtry></Cd>"
            "</Rsn></Pdg></SttlmSts>",
            StatusKind.PENDING, "CUSTBICX/WAIT", None,
        ),
    ],
)  # fmt: skip
def test_a_sese024_gives_its_most_telling_status_with_the_first_reason(
    tmp_path: Path, statuses: str, status: StatusKind, reason_code: str | None, reason: str | None
) -> None:
    advice = only_advice(tmp_path, sese024(statuses))
    assert (advice.status, advice.reason_code, advice.reason) == (status, reason_code, reason)


def test_a_sese024_rejecting_our_instruction_is_quarantined_as_instruction_rejected(
    tmp_path: Path,
) -> None:
    document = sese024(f"<PrcgSts><Rjctd>{reasons('SAFE', 'Unknown account')}</Rjctd></PrcgSts>")
    rejection = only_rejection(tmp_path, document)
    [problem] = rejection.problems
    assert problem.code == "instruction_rejected"
    assert "SAFE Unknown account" in problem.reason
    assert problem.source.field == "/Document/SctiesSttlmTxStsAdvc/PrcgSts/Rjctd"
    assert problem.source.line == 8
    assert rejection.raw == document


def test_a_sese024_holding_only_a_proprietary_status_is_unsupported_status(
    tmp_path: Path,
) -> None:
    statuses = (
        "<SttlmSts><Prtry><PrtrySts><Id>HOLD</Id><Issr>CUSTBICX</Issr></PrtrySts></Prtry>"
        "</SttlmSts>"
    )
    assert problems_of(tmp_path, sese024(statuses)) == [
        ("unsupported_status", "/Document/SctiesSttlmTxStsAdvc")
    ]


def test_a_resent_sese024_keeps_its_message_id_and_another_status_gets_another(
    tmp_path: Path,
) -> None:
    pending = sese024(f"{MATCHED}<SttlmSts><Pdg>{reasons('LACK')}</Pdg></SttlmSts>")
    resent = pending.replace("\n    ", "\n\t\t").replace(
        '<?xml version="1.0" encoding="UTF-8"?>', ""
    )
    failing = pending.replace("<Pdg>", "<Flng>").replace("</Pdg>", "</Flng>")
    first = only_advice(tmp_path, pending)
    assert only_advice(tmp_path, resent).message_id == first.message_id
    assert only_advice(tmp_path, failing).message_id != first.message_id


# --- sese.025 ---------------------------------------------------------------------------------


def test_a_sese025_is_a_settlement_with_quantity_amount_and_effective_date(
    tmp_path: Path,
) -> None:
    advice = only_advice(tmp_path, sese025())
    assert advice.status is StatusKind.SETTLED
    assert advice.reference == REFERENCE
    assert advice.message_id.startswith(f"{REFERENCE}:")
    assert (advice.settled_quantity, advice.settled_amount, advice.currency) == (
        "100",
        "1234.50",
        "USD",
    )
    assert advice.settled_on == dt.date(2026, 11, 26)


def test_a_sese025_with_partial_settlement_pain_is_partially_settled(tmp_path: Path) -> None:
    advice = only_advice(
        tmp_path,
        sese025(partial="PAIN", quantity="<Unit>40</Unit>", amount='<Amt Ccy="USD">493.8</Amt>'),
    )
    assert advice.status is StatusKind.PARTIALLY_SETTLED
    assert (advice.settled_quantity, advice.settled_amount) == ("40", "493.8")


def test_a_sese025_settling_the_rest_of_a_partial_parc_is_settled(tmp_path: Path) -> None:
    assert only_advice(tmp_path, sese025(partial="PARC")).status is StatusKind.SETTLED


def test_a_sese025_quantity_and_amount_are_plain_decimals(tmp_path: Path) -> None:
    advice = only_advice(
        tmp_path, sese025(quantity="<Unit>+0100</Unit>", amount='<Amt Ccy="EUR">.5</Amt>')
    )
    assert (advice.settled_quantity, advice.settled_amount, advice.currency) == (
        "100",
        "0.5",
        "EUR",
    )


def test_a_sese025_face_amount_and_date_time_are_read(tmp_path: Path) -> None:
    advice = only_advice(
        tmp_path,
        sese025(quantity="<FaceAmt>500000</FaceAmt>", date="<DtTm>2026-11-26T10:15:00Z</DtTm>"),
    )
    assert (advice.settled_quantity, advice.settled_on) == ("500000", dt.date(2026, 11, 26))


def test_a_free_of_payment_sese025_has_no_amount(tmp_path: Path) -> None:
    advice = only_advice(tmp_path, sese025(payment="FREE", amount=None))
    assert (advice.settled_amount, advice.currency) == (None, None)


def test_a_sese025_against_payment_without_its_amount_is_rejected(tmp_path: Path) -> None:
    assert problems_of(tmp_path, sese025(amount=None)) == [
        ("missing_field", "/Document/SctiesSttlmTxConf/SttldAmt/Amt")
    ]


def test_a_sese025_pre_confirmation_is_not_a_settlement(tmp_path: Path) -> None:
    assert problems_of(tmp_path, sese025(pre_confirmation="PRCA")) == [
        ("unsupported_status", "/Document/SctiesSttlmTxConf/AddtlParams/PreConf")
    ]


def test_a_sese025_settling_zero_is_rejected(tmp_path: Path) -> None:
    assert problems_of(tmp_path, sese025(quantity="<Unit>0</Unit>")) == [
        ("invalid_quantity", "/Document/SctiesSttlmTxConf/QtyAndAcctDtls/SttldQty/Qty/Unit")
    ]


# --- XML refused before mapping ---------------------------------------------------------------


def test_a_document_failing_its_schema_names_each_xpath_and_line(tmp_path: Path) -> None:
    document = sese025(quantity="<Unit>many</Unit>", date="<Dt>2026-02-30</Dt>", check=False)
    rejection = only_rejection(tmp_path, document)
    assert [(p.code, p.source.field, p.source.line) for p in rejection.problems] == [
        ("schema_invalid", "/Document/SctiesSttlmTxConf/TradDtls/FctvSttlmDt/Dt/Dt", 11),
        ("schema_invalid", "/Document/SctiesSttlmTxConf/QtyAndAcctDtls/SttldQty/Qty/Unit", 15),
    ]
    assert rejection.raw == document


def test_a_document_missing_a_required_element_is_schema_invalid(tmp_path: Path) -> None:
    document = sese024(MATCHED).replace(f"<AcctOwnrTxId>{REFERENCE}</AcctOwnrTxId>", "")
    assert problems_of(tmp_path, document) == [
        ("schema_invalid", "/Document/SctiesSttlmTxStsAdvc/TxId")
    ]


@pytest.mark.parametrize(
    "document",
    [
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:sese.023.001.11"><X/></Document>',
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:sese.024.001.10"><X/></Document>',
        "<Document><SctiesSttlmTxStsAdvc/></Document>",
        f'<AppHdr xmlns="{SESE_024}"/>',
    ],
)
def test_a_document_of_another_message_type_is_unsupported(tmp_path: Path, document: str) -> None:
    [(code, _)] = problems_of(tmp_path, document)
    assert code == "unsupported_message"


def test_xml_that_is_not_well_formed_is_malformed_xml_at_its_line(tmp_path: Path) -> None:
    rejection = only_rejection(tmp_path, sese024(MATCHED).replace("</TxId>", "</TxID>"))
    [problem] = rejection.problems
    assert (problem.code, problem.source.line) == ("malformed_xml", 7)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:sese.024.001.12">&lol9;</Document>
"""


def test_a_billion_laughs_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    started = time.perf_counter()
    rejection = only_rejection(tmp_path, BILLION_LAUGHS)
    assert time.perf_counter() - started < 1
    [problem] = rejection.problems
    assert (problem.code, problem.source.line) == ("unsafe_xml", 2)
    assert rejection.raw == BILLION_LAUGHS  # kept as sent, unexpanded, for the quarantine


def test_an_external_entity_is_refused_before_the_file_it_names_is_read(tmp_path: Path) -> None:
    secret = write(tmp_path, "secret", "secret.txt")
    document = (
        f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        f'<Document xmlns="{SESE_024}">&x;</Document>\n'
    )
    assert problems_of(tmp_path, document) == [("unsafe_xml", None)]


def test_elements_nested_too_deep_are_refused_before_validation(tmp_path: Path) -> None:
    depth = settlement_status.xml_depth_max + 1
    document = f'<Document xmlns="{SESE_024}">' + "<a>" * depth + "</a>" * depth + "</Document>"
    assert problems_of(tmp_path, document) == [("malformed_xml", None)]


def test_a_document_over_the_message_size_limit_is_rejected_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settlement_status, "message_bytes_max", 100)
    rejection = only_rejection(tmp_path, sese024(MATCHED))
    assert [p.code for p in rejection.problems] == ["message_too_long"]


# --- MT548 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "status", "reason_code", "reason"),
    [
        ([stat("MTCH//MACH")], StatusKind.MATCHED, None, None),
        (
            [stat("MTCH//NMAT", "NMAT//CMIS", "COUNTERPARTY INSTRUCTION MISSING")],
            StatusKind.UNMATCHED, "CMIS", "COUNTERPARTY INSTRUCTION MISSING",
        ),
        (
            [stat("IPRC//PACK"), stat("MTCH//MACH"), stat("SETT//PEND", "PEND//LACK")],
            StatusKind.PENDING, "LACK", None,
        ),
        (
            [stat("MTCH//MACH"), stat("SETT//PENF", "PENF//MONY", "NO CASH")],
            StatusKind.FAILED, "MONY", "NO CASH",
        ),
        ([stat("IPRC//CAND", "CAND//CANI")], StatusKind.CANCELLED, "CANI", None),
        ([stat("IPRC//PACK")], StatusKind.PENDING, None, None),
        ([stat("SETT//PEND", "PEND/XDSS/WAIT")], StatusKind.PENDING, "XDSS/WAIT", None),
    ],
)  # fmt: skip
def test_an_mt548_gives_its_most_telling_status_with_the_first_reason(
    tmp_path: Path,
    statuses: list[list[str]],
    status: StatusKind,
    reason_code: str | None,
    reason: str | None,
) -> None:
    advice = only_advice(tmp_path, mt548(*statuses))
    assert (advice.status, advice.reason_code, advice.reason) == (status, reason_code, reason)
    assert (advice.message_id, advice.reference) == ("STAT0001", REFERENCE)
    assert (advice.settled_quantity, advice.settled_on) == (None, None)


def test_an_mt548_cancellation_status_cand_cancels_the_instruction(tmp_path: Path) -> None:
    advice = only_advice(tmp_path, mt548(stat("CPRC//CAND"), function="CAST"))
    assert advice.status is StatusKind.CANCELLED


def test_a_narrative_over_several_lines_is_one_line(tmp_path: Path) -> None:
    message = mt548(stat("SETT//PENF", "PENF//LACK", "INSUFFICIENT\nSECURITIES ON ACCOUNT"))
    assert only_advice(tmp_path, message).reason == "INSUFFICIENT SECURITIES ON ACCOUNT"


def test_an_mt548_rejecting_our_instruction_is_quarantined_as_instruction_rejected(
    tmp_path: Path,
) -> None:
    message = mt548(stat("IPRC//REJT", "REJT//SAFE"))
    assert problems_of(tmp_path, message) == [("instruction_rejected", "25D::IPRC")]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (mt548(stat("SETT//SETL")), [("unknown_status_code", "25D::SETT")]),
        (mt548(stat("MTCH//MACH"), rela=None), [("missing_field", "20C::RELA")]),
        (mt548(stat("MTCH//MACH"), seme=None), [("missing_field", "20C::SEME")]),
        (mt548(), [("missing_field", "25D")]),
        (mt548(stat("SETT/XDSS/HOLD")), [("unsupported_status", "25D")]),
        (mt548(stat("CPRC//DEND")), [("unsupported_status", "25D")]),
        (mt548(stat("MTCH//MACH"), rela="BAD//REF"), [("invalid_field", "20C::RELA")]),
        (mt548(stat("MTCH//MACH"), function="NEWM"), [("unsupported_function", "23G")]),
        (
            mt548(stat("MTCH//MACH"), stat("MTCH//NMAT")),
            [],  # two matching statuses: the more telling (unmatched) wins, no problem
        ),
    ],
)
def test_a_bad_mt548_is_rejected_naming_every_field_at_fault(
    tmp_path: Path, message: str, expected: list[tuple[str, str | None]]
) -> None:
    if not expected:
        assert only_advice(tmp_path, message).status is StatusKind.UNMATCHED
        return
    assert problems_of(tmp_path, message) == expected


# --- MT544-547 --------------------------------------------------------------------------------


def test_an_mt545_is_a_full_settlement(tmp_path: Path) -> None:
    advice = only_advice(tmp_path, confirmation("545"))
    assert advice.status is StatusKind.SETTLED
    assert (advice.message_id, advice.reference) == ("CONF0001", REFERENCE)
    assert (advice.settled_quantity, advice.settled_amount, advice.currency) == (
        "100",
        "1234.50",
        "USD",
    )
    assert advice.settled_on == dt.date(2026, 11, 26)


def test_an_mt547_with_partial_settlement_pain_is_partially_settled(tmp_path: Path) -> None:
    message = confirmation(
        "547", indicators=(":22F::PARS//PAIN",), quantity="UNIT/40,", amount="EUR493,8"
    )
    advice = only_advice(tmp_path, message)
    assert advice.status is StatusKind.PARTIALLY_SETTLED
    assert (advice.settled_quantity, advice.settled_amount, advice.currency) == (
        "40",
        "493.8",
        "EUR",
    )


def test_an_mt547_settling_the_rest_of_a_partial_parc_is_settled(tmp_path: Path) -> None:
    message = confirmation("547", indicators=(":22F::PARS//PARC",), quantity="UNIT/60,")
    advice = only_advice(tmp_path, message)
    assert (advice.status, advice.settled_quantity) == (StatusKind.SETTLED, "60")


def test_partial_settlement_allowed_stco_part_is_not_a_partial_settlement(
    tmp_path: Path,
) -> None:
    message = confirmation("545", conditions=(":22F::STCO//PART",))
    assert only_advice(tmp_path, message).status is StatusKind.SETTLED


def test_a_free_confirmation_mt544_or_mt546_needs_no_amount(tmp_path: Path) -> None:
    for message_type in ("544", "546"):
        advice = only_advice(tmp_path, confirmation(message_type, amount=None))
        assert (advice.settled_amount, advice.currency) == (None, None)


def test_face_amount_and_date_time_of_settlement_are_read(tmp_path: Path) -> None:
    message = confirmation("545", quantity="FAMT/500000,", settled="98C::ESET//20261126101500")
    advice = only_advice(tmp_path, message)
    assert (advice.settled_quantity, advice.settled_on) == ("500000", dt.date(2026, 11, 26))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (confirmation(amount="USD12.34"), [("invalid_amount", "19A::ESTT")]),
        (confirmation(amount="NUSD12,34"), [("invalid_amount", "19A::ESTT")]),
        (confirmation(amount="USD0,"), [("invalid_amount", "19A::ESTT")]),
        (confirmation(amount=None), [("missing_field", "19A::ESTT")]),
        (confirmation(quantity="UNIT/1O0,"), [("invalid_quantity", "36B::ESTT")]),
        (confirmation(quantity="AMOR/100,"), [("invalid_quantity", "36B::ESTT")]),
        (confirmation(settled="98A::ESET//20261131"), [("invalid_date", "98A::ESET")]),
        (confirmation(settled="98C::ESET//20261126"), [("invalid_date", "98C::ESET")]),
        (confirmation(settled="98B::ESET//UKWN"), [("invalid_date", "98B::ESET")]),
        (confirmation(settled="98A::SETT//20261126"), [("missing_field", "98::ESET")]),
        (confirmation(rela=None), [("missing_field", "20C::RELA")]),
        (confirmation(function="CANC"), [("unsupported_function", "23G")]),
        (confirmation(indicators=(":22F::PARS//PART",)), [("unknown_status_code", "22F::PARS")]),
        (confirmation(indicators=(":22H::PREC//PRCA",)), [("unsupported_status", "22H::PREC")]),
        (
            confirmation(rela=None, amount="USD1.234,5", settled="98A::ESET//2026-11-26"),
            [
                ("missing_field", "20C::RELA"),
                ("invalid_amount", "19A::ESTT"),
                ("invalid_date", "98A::ESET"),
            ],
        ),
    ],
)
def test_a_bad_confirmation_is_rejected_naming_every_field_at_fault(
    tmp_path: Path, message: str, expected: list[tuple[str, str | None]]
) -> None:
    assert problems_of(tmp_path, message) == expected


def test_a_problem_names_the_line_of_its_field(tmp_path: Path) -> None:
    rejection = only_rejection(tmp_path, confirmation(amount="USD12.34"))
    [problem] = rejection.problems
    assert problem.source.line == 21  # the 19A line, counted from the file's first line
    assert rejection.source.line == 1


# --- FIN files --------------------------------------------------------------------------------


def test_messages_separated_by_dollar_lines_each_give_an_advice_at_their_first_line(
    tmp_path: Path,
) -> None:
    first = mt548(stat("MTCH//MACH"))
    second = confirmation("545")
    path = write(tmp_path, f"{first}\n$\n{second}\n")
    results = read_all(path)
    assert [type(r) for r in results] == [StatusAdvice, StatusAdvice]
    assert [r.source.line for r in results] == [1, first.count("\n") + 3]
    assert [r.message_id for r in results if isinstance(r, StatusAdvice)] == [
        "STAT0001",
        "CONF0001",
    ]
    assert results[0].raw == first


def test_messages_following_one_another_with_crlf_lines_are_split(tmp_path: Path) -> None:
    first = mt548(stat("SETT//PEND", "PEND//LACK"))
    second = mt548(stat("SETT//PENF", "PENF//MONY"), seme="STAT0002")
    content = (first + second).replace("\n", "\r\n")
    results = read_all(write(tmp_path, content))
    assert [(r.source.line, r.status) for r in results if isinstance(r, StatusAdvice)] == [
        (1, StatusKind.PENDING),
        (first.count("\n") + 1, StatusKind.FAILED),
    ]


def test_one_bad_message_does_not_stop_the_others(tmp_path: Path) -> None:
    content = "\n".join([confirmation(amount="USD1"), confirmation(seme="CONF0002")])
    results = read_all(write(tmp_path, content))
    assert [type(r) for r in results] == [RejectedMessage, StatusAdvice]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (fin("541", [":16R:GENL", ":16S:GENL"]), "unsupported_message"),
        (BASIC_HEADER + "{4:\n:16R:GENL\n-}", "malformed_message"),
        (mt548(stat("MTCH//MACH")).replace("-}", "}"), "malformed_message"),
        (mt548(stat("MTCH//MACH")) + "trailing words", "malformed_message"),
        (mt548(stat("MTCH//MACH")).replace(":16S:STAT", ":16S:REAS"), "malformed_message"),
        (mt548(stat("MTCH//MACH")).replace(":25D::MTCH//MACH", ":25D:MTCH"), "malformed_message"),
    ],
)
def test_a_message_that_is_not_a_status_or_confirmation_is_rejected(
    tmp_path: Path, message: str, code: str
) -> None:
    assert [p.code for p in only_rejection(tmp_path, message).problems] == [code]


def test_a_control_character_past_the_file_start_rejects_only_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settlement_status, "sniff_bytes_max", 10)
    content = confirmation() + confirmation(seme="CONF0002").replace("CONF0002", "CONF\x070002")
    results = read_all(write(tmp_path, content))
    assert isinstance(results[0], StatusAdvice)
    assert isinstance(results[1], RejectedMessage)
    assert [p.code for p in results[1].problems] == ["malformed_message"]


# --- whole files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"),
        ("{1:F01 caf\u00e9}".encode("latin-1"), "not_utf8"),
        ("<Document/>".encode("utf-16"), "not_utf8"),
        (b"trade_id,status\nT1,settled\n", "unrecognised_format"),
        (b"", "empty_file"),
        (b"\n$\n", "empty_file"),
    ],
)
def test_a_file_that_is_neither_xml_nor_fin_is_refused_naming_the_file(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = write(tmp_path, content)
    [problem] = refusal(path).problems
    assert (problem.code, problem.source.file) == (code, str(path))


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    [problem] = refusal(tmp_path / "absent.xml").problems
    assert problem.code == "unreadable_file"


def test_a_file_over_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settlement_status, "file_bytes_max", 100)
    [problem] = refusal(write(tmp_path, confirmation())).problems
    assert problem.code == "file_too_large"


def test_a_file_over_the_message_count_limit_is_refused_before_any_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settlement_status, "messages_per_file_max", 1)
    path = write(tmp_path, confirmation() + "\n$\n" + confirmation(seme="CONF0002"))
    [problem] = refusal(path).problems
    assert problem.code == "too_many_messages"


# --- face amount and amortised value ----------------------------------------------------------

# A confirmation of a mortgage pass-through (a GNMA/FNMA pool) as JPMorgan's custody sends it:
# sequence C (FIAC) gives the settled quantity twice, the original face amount (FAMT) and its
# amortised value, the face times the pool factor (AMOR). The SWIFT standard lets :36B::ESTT
# repeat for just this pair (MT545/547 field 36B, network validated rule: FAMT and AMOR).
PASS_THROUGH = "FAMT/1000000,\n:36B::ESTT//AMOR/734212,55"


@pytest.mark.parametrize("message_type", ["545", "547"])
@pytest.mark.parametrize("quantities", [PASS_THROUGH, "AMOR/734212,55\n:36B::ESTT//FAMT/1000000,"])
def test_a_pass_through_confirmation_settles_its_face_amount_and_keeps_its_amortised_value(
    tmp_path: Path, message_type: str, quantities: str
) -> None:
    advice = only_advice(tmp_path, confirmation(message_type, quantity=quantities))
    assert (advice.status, advice.settled_quantity, advice.amortised_value) == (
        StatusKind.SETTLED,
        "1000000",
        "734212.55",
    )


def test_a_confirmation_of_units_has_no_amortised_value(tmp_path: Path) -> None:
    assert only_advice(tmp_path, confirmation("547")).amortised_value is None


@pytest.mark.parametrize(
    ("quantities", "code"),
    [
        ("FAMT/1000000,\n:36B::ESTT//FAMT/1000000,", "duplicate_field"),
        ("UNIT/100,\n:36B::ESTT//UNIT/100,", "duplicate_field"),
        ("AMOR/734212,55\n:36B::ESTT//AMOR/734212,55", "duplicate_field"),
        (f"FAMT/1,\n:36B::ESTT//{PASS_THROUGH}", "duplicate_field"),
        ("UNIT/100,\n:36B::ESTT//FAMT/100,", "invalid_quantity"),
        ("FAMT/1000000,\n:36B::ESTT//AMOR/0,", "invalid_quantity"),
    ],
)
def test_a_settled_quantity_repeated_other_than_face_and_amortised_value_is_refused(
    tmp_path: Path, quantities: str, code: str
) -> None:
    rejection = only_rejection(tmp_path, confirmation("547", quantity=quantities))
    assert [(p.code, p.source.line, p.source.field) for p in rejection.problems] == [
        (code, 16, "36B::ESTT")
    ]


def test_a_sese025_original_and_current_face_reads_both(tmp_path: Path) -> None:
    units = "<SttldQty><Qty><Unit>100</Unit></Qty></SttldQty>"
    faces = (
        "<SttldQty><OrgnlAndCurFace><FaceAmt>1000000</FaceAmt>"
        "<AmtsdVal>734212.55</AmtsdVal></OrgnlAndCurFace></SttldQty>"
    )
    document = valid(sese025(check=False).replace(units, faces))
    advice = only_advice(tmp_path, document)
    assert (advice.settled_quantity, advice.amortised_value) == ("1000000", "734212.55")
