"""Custodian statements of holdings: semt.002, MT535 and CSV (backoffice.formats.holdings)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring

from backoffice.errors import ProblemError
from backoffice.formats import holdings
from backoffice.formats.holdings import SEMT_002, holdings_schema, read_holdings
from backoffice.recon.model import StatementFormat

APPLE = "US0378331005"
SAP = "DE0007164600"
TREASURY = "US912810SV17"
BAD_CHECK_DIGIT = "US0378331006"


def write(tmp_path: Path, text: str | bytes, name: str = "holdings.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def refused(path: Path) -> list[tuple[str, int | None, str | None]]:
    with pytest.raises(ProblemError) as error:
        read_holdings(path)
    return [(p.code, p.source.line, p.source.field) for p in error.value.problems]


# --- semt.002 ---------------------------------------------------------------------------------


def valid(document: str) -> str:
    """`document`, after checking it is valid against the official semt.002.001.11 schema."""
    errors = [str(error.reason) for error in holdings_schema().iter_errors(fromstring(document))]
    assert errors == [], errors
    return document


def balance(isin: str, quantity: str = "<Unit>100</Unit>", side: str = "LONG") -> str:
    return (
        f"<FinInstrmId><ISIN>{isin}</ISIN></FinInstrmId>"
        f"<AggtBal><ShrtLngInd>{side}</ShrtLngInd><Qty><Qty><Qty>{quantity}</Qty></Qty></Qty>"
        "</AggtBal>"
    )


def semt002(
    balances: str = "",
    *,
    account: str = "<SfkpgAcct><Id>SAFE-001</Id></SfkpgAcct>",
    statement_id: str = "<StmtId>HOLD-20240131</StmtId>",
    date: str = "<Dt>2024-01-31</Dt>",
    page: str = "<PgNb>1</PgNb><LastPgInd>true</LastPgInd>",
    update: str = "COMP",
    sub_accounts: str = "",
) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{SEMT_002}">
  <SctiesBalCtdyRpt>
    <Pgntn>{page}</Pgntn>
    <StmtGnlDtls>
      {statement_id}
      <StmtDtTm>{date}</StmtDtTm>
      <Frqcy><Cd>DAIL</Cd></Frqcy>
      <UpdTp><Cd>{update}</Cd></UpdTp>
      <StmtBsis><Cd>SETT</Cd></StmtBsis>
      <ActvtyInd>true</ActvtyInd>
      <SubAcctInd>{"true" if sub_accounts else "false"}</SubAcctInd>
    </StmtGnlDtls>
    {account}
    {balances}
    {sub_accounts}
  </SctiesBalCtdyRpt>
</Document>
"""


def for_account(*balances: str) -> str:
    return "".join(f"<BalForAcct>{b}</BalForAcct>" for b in balances)


def test_a_semt002_statement_reads_its_account_date_and_holdings(tmp_path: Path) -> None:
    document = valid(
        semt002(
            for_account(
                balance(APPLE),
                balance(SAP, "<Unit>0250.50</Unit>", side="SHOR"),
                balance(TREASURY, "<FaceAmt>1000000</FaceAmt>"),
            )
        )
    )
    (statement,) = read_holdings(write(tmp_path, document, "holdings.xml"))
    assert statement.format is StatementFormat.SEMT002
    assert (statement.statement_id, statement.account, statement.as_of) == (
        "HOLD-20240131",
        "SAFE-001",
        dt.date(2024, 1, 31),
    )
    assert [(h.isin, h.quantity) for h in statement.holdings] == [
        (APPLE, "100"),
        (SAP, "-250.50"),
        (TREASURY, "1000000"),
    ]
    first = statement.holdings[0].source
    assert first.field == "/Document/SctiesBalCtdyRpt/BalForAcct[1]/AggtBal/Qty/Qty/Qty/Unit"
    assert first.line == 15


def test_a_semt002_date_and_time_gives_its_date_and_no_statement_id_the_account_and_date(
    tmp_path: Path,
) -> None:
    document = valid(
        semt002(
            for_account(balance(APPLE)),
            statement_id="",
            date="<DtTm>2024-01-31T23:30:00+01:00</DtTm>",
        )
    )
    (statement,) = read_holdings(write(tmp_path, document, "holdings.xml"))
    assert statement.as_of == dt.date(2024, 1, 31)
    assert statement.statement_id == "SAFE-001:2024-01-31"


def test_semt002_sub_accounts_are_statements_of_their_own(tmp_path: Path) -> None:
    sub_accounts = (
        "<SubAcctDtls><SfkpgAcct><Id>SAFE-001-A</Id></SfkpgAcct><ActvtyInd>true</ActvtyInd>"
        f"<BalForSubAcct>{balance(SAP, '<Unit>7</Unit>')}</BalForSubAcct></SubAcctDtls>"
    )
    document = valid(semt002(for_account(balance(APPLE)), sub_accounts=sub_accounts))
    main, sub = read_holdings(write(tmp_path, document, "holdings.xml"))
    assert (main.account, [h.isin for h in main.holdings]) == ("SAFE-001", [APPLE])
    assert (sub.statement_id, sub.account) == ("HOLD-20240131/SAFE-001-A", "SAFE-001-A")
    assert [(h.isin, h.quantity) for h in sub.holdings] == [(SAP, "7")]


def test_an_xml_entity_is_refused_unexpanded(tmp_path: Path) -> None:
    document = (
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]>\n'
        f'<Document xmlns="{SEMT_002}">&a;</Document>'
    )
    assert refused(write(tmp_path, document, "holdings.xml")) == [("unsafe_xml", 2, None)]


def test_broken_xml_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, f'<Document xmlns="{SEMT_002}">\n<SctiesBalCtdyRpt>\n</Document>')
    assert refused(path) == [("malformed_xml", 3, None)]


def test_a_document_against_the_schema_is_refused_with_its_xpath(tmp_path: Path) -> None:
    document = semt002(for_account(balance(APPLE)), date="<Dt>31.01.2024</Dt>")
    ((code, line, field),) = refused(write(tmp_path, document, "holdings.xml"))
    assert (code, line) == ("schema_invalid", 7)
    assert field is not None
    assert field.endswith("StmtDtTm/Dt")


def test_another_iso20022_message_is_unsupported(tmp_path: Path) -> None:
    document = '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>'
    assert refused(write(tmp_path, document)) == [("unsupported_message", 1, "/Document")]


def test_an_xml_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    document = valid(semt002(for_account(balance(APPLE)), account="")).replace(
        "UTF-8", "ISO-8859-1"
    )
    document = document.replace("<StmtId>HOLD-20240131", "<StmtId>Depot Müller")
    assert refused(write(tmp_path, document.encode("latin-1"))) == [("not_utf8", 6, None)]


@pytest.mark.parametrize(
    ("document", "code", "field_end"),
    [
        (semt002(for_account(balance(APPLE)), account=""), "missing_field", "SfkpgAcct/Id"),
        (
            semt002(
                for_account(
                    "<FinInstrmId><OthrId><Id>123456</Id><Tp><Cd>VALO</Cd></Tp></OthrId>"
                    "</FinInstrmId>"
                    "<AggtBal><ShrtLngInd>LONG</ShrtLngInd><Qty><Qty><Qty><Unit>1</Unit></Qty>"
                    "</Qty></Qty></AggtBal>"
                )
            ),
            "missing_field",
            "BalForAcct[1]/FinInstrmId",
        ),
        (
            semt002(for_account(balance(BAD_CHECK_DIGIT))),
            "invalid_isin",
            "BalForAcct[1]/FinInstrmId/ISIN",
        ),
        (
            semt002(for_account(balance(APPLE, "<Unit>-5</Unit>"))),
            "invalid_quantity",
            "AggtBal/Qty/Qty/Qty/Unit",
        ),
        (
            semt002(for_account(balance(APPLE, "<AmtsdVal>5</AmtsdVal>"))),
            "unsupported_quantity",
            "AggtBal/Qty/Qty/Qty",
        ),
        (
            semt002(for_account(balance(APPLE), balance(APPLE))),
            "duplicate_isin",
            "BalForAcct[2]/AggtBal/Qty/Qty/Qty/Unit",
        ),
        (
            semt002(page="<PgNb>1</PgNb><LastPgInd>false</LastPgInd>"),
            "incomplete_statement",
            "Pgntn",
        ),
        (
            semt002(page="<PgNb>2</PgNb><LastPgInd>true</LastPgInd>"),
            "incomplete_statement",
            "Pgntn",
        ),
        (semt002(update="DELT"), "incomplete_statement", "UpdTp/Cd"),
    ],
)
def test_a_semt002_that_cannot_be_reconciled_whole_is_refused(
    tmp_path: Path, document: str, code: str, field_end: str
) -> None:
    valid(document)
    ((found, line, field),) = refused(write(tmp_path, document, "holdings.xml"))
    assert found == code
    assert line is not None
    assert field is not None
    assert field.endswith(field_end)


# --- MT535 ------------------------------------------------------------------------------------

ENVELOPE = "{1:F01OURSDEFFAXXX0000000000}{2:O5351200240131CUSTDEFFAXXX00000000002401311200N}{4:\n"


def fin(isin: str, quantity: str = "UNIT/100,") -> str:
    return f":16R:FIN\n:35B:ISIN {isin}\nSOME SECURITY\n:93B::AGGR//{quantity}\n:16S:FIN\n"


def subsafe(*fins: str, account: str | None = None) -> str:
    own = f":97A::SAFE//{account}\n" if account else ""
    return f":16R:SUBSAFE\n{own}:17B::ACTI//Y\n{''.join(fins)}:16S:SUBSAFE\n"


def mt535(
    *subsafes: str,
    page: str = "1/ONLY",
    reference: str = "SEME0001",
    account: str = "SAFE-001",
    date: str = ":98A::STAT//20240131",
    function: str = "NEWM",
    code: str = "COMP",
    envelope: bool = True,
) -> str:
    general = (
        f":16R:GENL\n:28E:{page}\n:20C::SEME//{reference}\n:23G:{function}\n{date}\n"
        f":22F::SFRE//DAIL\n:22F::CODE//{code}\n:22F::STTY//CUST\n:22F::STBA//SETT\n"
        f":97A::SAFE//{account}\n:17B::ACTI//Y\n:17B::CONS//N\n:16S:GENL\n"
    )
    text = general + "".join(subsafes)
    return f"{ENVELOPE}{text}-}}\n" if envelope else f"{text}-\n"


def test_an_mt535_reads_its_account_date_and_holdings(tmp_path: Path) -> None:
    text = mt535(subsafe(fin(APPLE), fin(SAP, "UNIT/N0250,5"), fin(TREASURY, "FAMT/1000000,")))
    (statement,) = read_holdings(write(tmp_path, text))
    assert statement.format is StatementFormat.MT535
    assert (statement.statement_id, statement.account, statement.as_of) == (
        "SEME0001",
        "SAFE-001",
        dt.date(2024, 1, 31),
    )
    assert [(h.isin, h.quantity) for h in statement.holdings] == [
        (APPLE, "100"),
        (SAP, "-250.5"),
        (TREASURY, "1000000"),
    ]
    assert (statement.holdings[0].source.line, statement.holdings[0].source.field) == (
        20,
        ":93B::AGGR",
    )


def test_bare_mt535_text_blocks_read_one_statement_each(tmp_path: Path) -> None:
    text = mt535(subsafe(fin(APPLE)), envelope=False) + mt535(
        subsafe(fin(SAP)), reference="SEME0002", date=":98C::STAT//20240201180000", envelope=False
    )
    first, second = read_holdings(write(tmp_path, text))
    assert (first.statement_id, first.as_of) == ("SEME0001", dt.date(2024, 1, 31))
    assert (second.statement_id, second.as_of) == ("SEME0002", dt.date(2024, 2, 1))


def test_an_mt535_sub_safekeeping_account_is_a_statement_of_its_own(tmp_path: Path) -> None:
    text = mt535(subsafe(fin(APPLE)), subsafe(fin(SAP), account="SAFE-001-B"))
    main, sub = read_holdings(write(tmp_path, text))
    assert (main.account, [h.isin for h in main.holdings]) == ("SAFE-001", [APPLE])
    assert (sub.statement_id, sub.account, [h.isin for h in sub.holdings]) == (
        "SEME0001/SAFE-001-B",
        "SAFE-001-B",
        [SAP],
    )


def test_mt535_pages_join_into_one_statement(tmp_path: Path) -> None:
    text = (
        mt535(subsafe(fin(APPLE)), page="1/MORE")
        + "$\n"
        + mt535(subsafe(fin(SAP)), page="2/MORE", reference="SEME0002")
        + mt535(subsafe(fin(TREASURY, "FAMT/5,")), page="3/LAST", reference="SEME0003")
    )
    (statement,) = read_holdings(write(tmp_path, text))
    assert statement.statement_id == "SEME0001"
    assert [h.isin for h in statement.holdings] == [APPLE, SAP, TREASURY]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (mt535(subsafe(fin(APPLE)), page="1/MORE"), ("incomplete_statement", 1, None)),
        (mt535(subsafe(fin(APPLE)), page="2/LAST"), ("incomplete_statement", 1, None)),
        (mt535(code="DELT"), ("incomplete_statement", 8, ":22F::CODE")),
        (mt535(function="CANC"), ("unsupported_function", 5, ":23G:")),
        (mt535(date=":98A::STAT//20240231"), ("invalid_date", 6, ":98A::STAT")),
        (mt535(page="ONLY"), ("invalid_field", 3, ":28E:")),
        (
            mt535(subsafe(fin(APPLE, "AMOR/5,"))),
            ("unsupported_quantity", 20, ":93B::AGGR"),
        ),
        (mt535(subsafe(fin(APPLE, "UNIT/5"))), ("invalid_quantity", 20, ":93B::AGGR")),
        (mt535(subsafe(fin(BAD_CHECK_DIGIT))), ("invalid_isin", 18, ":35B:")),
        (
            mt535(subsafe(fin(APPLE).replace(f"ISIN {APPLE}", "/CH/123456"))),
            ("missing_field", 18, ":35B:"),
        ),
        (mt535(subsafe(fin(APPLE), fin(APPLE))), ("duplicate_isin", 25, ":93B::AGGR")),
        (mt535(subsafe(fin(APPLE).replace(":16S:FIN", ":16S:SUBSAFE"))), None),
    ],
)
def test_an_mt535_that_cannot_be_reconciled_whole_is_refused(
    tmp_path: Path, text: str, problem: tuple[str, int, str | None] | None
) -> None:
    found = refused(write(tmp_path, text))
    if problem is None:  # a block closed under another name
        assert {code for code, _, _ in found} == {"malformed_message"}
    else:
        assert found == [problem]


def test_an_mt535_without_its_safekeeping_account_names_the_field(tmp_path: Path) -> None:
    text = mt535().replace(":97A::SAFE//SAFE-001\n", "")
    assert refused(write(tmp_path, text)) == [("missing_field", 1, ":97A::SAFE")]


def test_another_fin_message_type_is_unsupported(tmp_path: Path) -> None:
    text = mt535().replace("{2:O535", "{2:O548")
    assert refused(write(tmp_path, text)) == [("unsupported_message", 1, None)]


# --- CSV --------------------------------------------------------------------------------------


def test_a_csv_file_gives_one_statement_per_account_and_date(tmp_path: Path) -> None:
    text = (
        "isin, quantity, account, as_of, custodian\n"
        f"{APPLE}, 100, SAFE-001, 2024-01-31, Clearstream\n"
        f"{SAP}, -0250.50, SAFE-001, 2024-01-31, Clearstream\n"
        "\n"
        f"{APPLE}, 90, SAFE-002, 2024-01-31, Euroclear\n"
        f'{TREASURY}, "1000000", SAFE-001, 2024-02-01, Clearstream\n'
    )
    statements = read_holdings(write(tmp_path, text, "holdings.csv"))
    assert [(s.statement_id, s.account, s.as_of) for s in statements] == [
        ("SAFE-001:2024-01-31", "SAFE-001", dt.date(2024, 1, 31)),
        ("SAFE-002:2024-01-31", "SAFE-002", dt.date(2024, 1, 31)),
        ("SAFE-001:2024-02-01", "SAFE-001", dt.date(2024, 2, 1)),
    ]
    assert all(s.format is StatementFormat.HOLDINGS_CSV for s in statements)
    assert [(h.isin, h.quantity) for h in statements[0].holdings] == [
        (APPLE, "100"),
        (SAP, "-250.50"),
    ]
    assert (statements[1].holdings[0].source.line, statements[1].holdings[0].source.field) == (
        5,
        "quantity",
    )


def test_a_latin1_csv_reads_its_account_names(tmp_path: Path) -> None:
    text = f"account,as_of,isin,quantity\nDepot Müller,2024-01-31,{APPLE},1\n"
    (statement,) = read_holdings(write(tmp_path, text.encode("latin-1"), "holdings.csv"))
    assert statement.account == "Depot Müller"


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("account,as_of,quantity\n", [("missing_column", 1, "isin")]),
        (
            "account,as_of,isin,quantity,isin\n",
            [("duplicate_column", 1, "isin")],
        ),
        (
            f"account,as_of,isin,quantity\n,31.01.2024,{BAD_CHECK_DIGIT},1e3\n",
            [
                ("invalid_field", 2, "account"),
                ("invalid_date", 2, "as_of"),
                ("invalid_isin", 2, "isin"),
                ("invalid_quantity", 2, "quantity"),
            ],
        ),
        (f"account,as_of,isin,quantity\nA,2024-01-31,{APPLE}\n", [("malformed_csv", 2, None)]),
        (
            f"account,as_of,isin,quantity\nA,2024-01-31,{APPLE},1\nA,2024-01-31,{APPLE},2\n",
            [("duplicate_isin", 3, "quantity")],
        ),
        (f'account,as_of,isin,quantity\nA,2024-01-31,{APPLE},"1\n', [("malformed_csv", 2, None)]),
    ],
)
def test_a_bad_csv_is_refused_naming_each_line_and_column(
    tmp_path: Path, text: str, problems: list[tuple[str, int, str | None]]
) -> None:
    assert refused(write(tmp_path, text, "holdings.csv")) == problems


# --- whole files ------------------------------------------------------------------------------


def test_whole_file_problems_are_refused_before_any_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert refused(tmp_path / "absent.csv") == [("unreadable_file", None, None)]
    assert refused(write(tmp_path, b"PK\x03\x04\x00\x00", "a.zip")) == [("binary_file", 1, None)]
    assert refused(write(tmp_path, " \n\n", "empty.csv")) == [("empty_file", None, None)]
    assert refused(write(tmp_path, "date;amount\n2024-01-31;5\n", "a.txt")) == [
        ("unrecognised_format", 1, None)
    ]
    monkeypatch.setattr(holdings, "file_bytes_max", 10)
    assert refused(write(tmp_path, mt535())) == [("file_too_large", None, None)]


def test_one_bad_statement_refuses_the_whole_file(tmp_path: Path) -> None:
    text = mt535(subsafe(fin(APPLE))) + mt535(subsafe(fin(BAD_CHECK_DIGIT)), reference="SEME2")
    assert [code for code, _, _ in refused(write(tmp_path, text))] == ["invalid_isin"]


# --- MT535 as FinTS/HBCI banks send it --------------------------------------------------------

# A depot statement (Depotaufstellung, HKWPD/HIWPD) as German banks send it over FinTS 3.0 /
# HBCI, e.g. comdirect or a Sparkasse: FinTS 3.0 "Messages - Finanzdatenformate", MT 535, has
# no sub-safekeeping sequence B1: the FIN blocks stand directly after GENL, each with its price
# (90B), the balance (93B::AGGR) and a SUBBAL block of available units (93C), then ADDINFO.
FINTS_GENERAL = (
    ":16R:GENL\r\n:28E:1/ONLY\r\n:13A::STAT//004\r\n:20C::SEME//NONREF\r\n:23G:NEWM\r\n"
    ":98A::PREP//20240131\r\n:98C::STAT//20240131153012\r\n:22F::STTY//CUST\r\n"
    ":97A::SAFE//20041111/1234567\r\n:17B::ACTI//{activity}\r\n:16S:GENL\r\n"
)


def fints_fin(isin: str, wkn: str, name: str, quantity: str) -> str:
    return (
        f":16R:FIN\r\n:35B:ISIN {isin}\r\n/DE/{wkn}\r\n{name}\r\n"
        ":90B::MRKT//ACTU/EUR123,45\r\n:94B::PRIC//LMAR/XETR\r\n:98A::PRIC//20240131\r\n"
        f":93B::AGGR//{quantity}\r\n"
        f":16R:SUBBAL\r\n:93C::TAVI//{quantity.replace('/', '/AVAI/', 1)}\r\n:16S:SUBBAL\r\n"
        ":19A::HOLD//EUR12345,\r\n:70E::HOLD//1STK++++20230115+\r\n:16S:FIN\r\n"
    )


def fints_mt535(*fins: str, activity: str = "Y") -> str:
    additional = ":16R:ADDINFO\r\n:19A::HOLP//EUR24690,\r\n:16S:ADDINFO\r\n" if fins else ""
    return FINTS_GENERAL.format(activity=activity) + "".join(fins) + additional + "-\r\n"


def test_a_fints_mt535_reads_the_fin_blocks_standing_after_genl(tmp_path: Path) -> None:
    text = fints_mt535(
        fints_fin(SAP, "716460", "SAP SE INHABER-AKTIEN O.N.", "UNIT/150,"),
        fints_fin("DE0001102580", "110258", "BUNDANL.V.22/32", "FAMT/10000,"),
    )
    (statement,) = read_holdings(write(tmp_path, text.encode("latin-1")))
    assert (statement.statement_id, statement.account, statement.as_of) == (
        "NONREF",
        "20041111/1234567",
        dt.date(2024, 1, 31),
    )
    assert [(h.isin, h.quantity) for h in statement.holdings] == [
        (SAP, "150"),
        ("DE0001102580", "10000"),
    ]
    assert (statement.holdings[0].source.line, statement.holdings[0].source.field) == (
        19,
        ":93B::AGGR",
    )


def test_a_fints_fin_block_without_its_balance_is_refused_naming_it(tmp_path: Path) -> None:
    block = fints_fin(SAP, "716460", "SAP SE", "UNIT/150,").replace(":93B::AGGR//UNIT/150,\r\n", "")
    assert refused(write(tmp_path, fints_mt535(block))) == [("missing_field", 13, ":93B::AGGR")]


# --- nothing read is no success ---------------------------------------------------------------


def test_an_mt535_flagged_without_activity_is_a_statement_of_none(tmp_path: Path) -> None:
    (statement,) = read_holdings(write(tmp_path, fints_mt535(activity="N")))
    assert (statement.account, statement.holdings) == ("20041111/1234567", ())


def test_an_mt535_flagged_with_activity_that_lists_no_holding_is_refused(tmp_path: Path) -> None:
    assert refused(write(tmp_path, fints_mt535(activity="Y"))) == [
        ("no_holdings", 10, ":17B::ACTI")
    ]


def test_mt535_holdings_in_a_layout_not_read_are_refused_not_dropped(tmp_path: Path) -> None:
    # The FIN blocks inside a block this reader does not know (here a misnamed SUBSAFE).
    text = mt535(subsafe(fin(APPLE)).replace("SUBSAFE", "SUBSAFEX"))
    assert refused(write(tmp_path, text)) == [("unsupported_layout", 18, ":35B:")]


def test_a_semt002_flagged_without_activity_is_a_statement_of_none(tmp_path: Path) -> None:
    document = valid(
        semt002().replace("<ActvtyInd>true</ActvtyInd>", "<ActvtyInd>false</ActvtyInd>")
    )
    (statement,) = read_holdings(write(tmp_path, document, "holdings.xml"))
    assert statement.holdings == ()


def test_a_semt002_flagged_with_activity_that_lists_no_holding_is_refused(tmp_path: Path) -> None:
    ((code, line, field),) = refused(write(tmp_path, valid(semt002()), "holdings.xml"))
    assert (code, line) == ("no_holdings", 11)
    assert field == "/Document/SctiesBalCtdyRpt/StmtGnlDtls/ActvtyInd"


def test_a_semt002_document_without_its_statement_is_refused(tmp_path: Path) -> None:
    document = f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{SEMT_002}"/>\n'
    assert [code for code, _, _ in refused(write(tmp_path, document, "h.xml"))] == [
        "schema_invalid"
    ]


def test_a_holdings_csv_with_a_header_and_no_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "account,as_of,isin,quantity\n\n", "holdings.csv")
    assert refused(path) == [("no_holdings", 1, None)]


@pytest.mark.parametrize("content", [b"", b"   ", b"\r\n\t\r\n", b"\xef\xbb\xbf\n"])
def test_an_empty_or_blank_holdings_file_is_refused(tmp_path: Path, content: bytes) -> None:
    assert refused(write(tmp_path, content)) == [("empty_file", None, None)]


# --- face amount and amortised value ----------------------------------------------------------

# A Fannie Mae pool (a mortgage pass-through): custodians state its holding twice, the original
# face amount and its amortised value (face times pool factor), MT535 :93B::AGGR//FAMT/ and
# :93B::AGGR//AMOR/ in one FIN block (the standard lets AGGR repeat for this pair), semt.002
# AggtBal/Qty/Qty/OrgnlAndCurFace. The face amount is the position, as FAMT alone would give it.
FANNIE_MAE_POOL = "US3138WJ5K07"


@pytest.mark.parametrize(
    "balances",
    ["FAMT/1000000,\n:93B::AGGR//AMOR/734212,55", "AMOR/734212,55\n:93B::AGGR//FAMT/1000000,"],
)
def test_an_mt535_pass_through_holds_its_face_amount(tmp_path: Path, balances: str) -> None:
    (statement,) = read_holdings(write(tmp_path, mt535(subsafe(fin(FANNIE_MAE_POOL, balances)))))
    assert [(h.isin, h.quantity) for h in statement.holdings] == [(FANNIE_MAE_POOL, "1000000")]


@pytest.mark.parametrize(
    "balances",
    ["UNIT/5,\n:93B::AGGR//UNIT/5,", "FAMT/5,\n:93B::AGGR//AMOR/4,\n:93B::AGGR//FAMT/5,"],
)
def test_an_mt535_balance_repeated_otherwise_is_a_duplicate_field(
    tmp_path: Path, balances: str
) -> None:
    text = mt535(subsafe(fin(APPLE, balances)))
    ((code, line, field),) = refused(write(tmp_path, text))
    assert (code, field) == ("duplicate_field", ":93B::AGGR")
    assert line == 20 + balances.count("\n")


def test_an_mt535_balance_of_units_and_face_amount_is_refused(tmp_path: Path) -> None:
    text = mt535(subsafe(fin(APPLE, "UNIT/5,\n:93B::AGGR//FAMT/5,")))
    assert refused(write(tmp_path, text)) == [("unsupported_quantity", 21, ":93B::AGGR")]


def test_a_semt002_original_and_current_face_holds_its_face_amount(tmp_path: Path) -> None:
    faces = (
        "<Qty><Qty><OrgnlAndCurFace><FaceAmt>1000000</FaceAmt><AmtsdVal>734212.55</AmtsdVal>"
        "</OrgnlAndCurFace></Qty></Qty>"
    )
    held = balance(FANNIE_MAE_POOL, "X").replace("<Qty><Qty><Qty>X</Qty></Qty></Qty>", faces)
    document = valid(semt002(for_account(held)))
    (statement,) = read_holdings(write(tmp_path, document, "holdings.xml"))
    ((isin, quantity, field),) = [(h.isin, h.quantity, h.source.field) for h in statement.holdings]
    assert (isin, quantity) == (FANNIE_MAE_POOL, "1000000")
    assert (
        field == "/Document/SctiesBalCtdyRpt/BalForAcct[1]/AggtBal/Qty/Qty/OrgnlAndCurFace/FaceAmt"
    )


@pytest.mark.parametrize(("delimiter", "named"), [(";", "a semicolon (;)"), ("\t", "a tab")])
def test_a_holdings_csv_saved_with_another_delimiter_says_so(
    tmp_path: Path, delimiter: str, named: str
) -> None:
    # Excel in a German or French locale saves "CSV" with semicolons (the comma is the decimal).
    header = delimiter.join(["account", "as_of", "isin", "quantity"])
    path = write(
        tmp_path, f"{header}\nSAFE-001{delimiter}2024-01-31{delimiter}{APPLE}{delimiter}1\n"
    )
    with pytest.raises(ProblemError) as error:
        read_holdings(path)
    ((problem),) = error.value.problems
    assert (problem.code, problem.source.line) == ("wrong_delimiter", 1)
    assert named in problem.reason
