"""Bank statements in ISO 20022 camt.053 (backoffice.formats.camt053): the reference samples
in ../shared/samples/camt053 against another parser's reading of them, and made-up documents
for each rule."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats import camt053
from backoffice.formats.camt053 import CAMT053_NAMESPACE_PREFIX, read_camt053, statement_schema
from backoffice.recon.model import Statement, StatementFormat, StatementLine
from backoffice.refdata.model import currency_minor_units

SAMPLES = Path(__file__).parents[2] / "shared" / "samples" / "camt053"

# Every sample holding a statement we can reconcile, and the other parser's reading beside it
# where there is one (genkgo/camt, a PHP library: "camt053.v2.minimal.xml" has
# "camt053.v2.minimal.json").
SAMPLES_WITH_A_READING = (
    "camt053.v2.all-balance-types.xml",
    "camt053.v2.five.decimals.xml",
    "camt053.v2.minimal.ultimate.xml",
    "camt053.v2.minimal.xml",
    "camt053.v2.multi.statement.xml",
    "camt053.v2.with-party-ids.xml",
    "camt053.v3.xml",
    "camt053.v4.xml",
    "camt053.v8.xml",
)
SAMPLES_WITHOUT_A_READING = (
    "fi-sample-camt.053.001.02.xml",
    "postfinance-camt.053.001.04.xml",
    "statement_1-camt.053.001.02.xml",
)


def sample(name: str) -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared samples are not here: {SAMPLES}")
    return SAMPLES / name


def refusal(path: Path) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        read_camt053(path)
    return raised.value


def codes(path: Path) -> list[tuple[str, str | None]]:
    return [(p.code, p.source.field) for p in refusal(path).problems]


def write(directory: Path, text: str, name: str = "statement.xml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def valid(document: str) -> str:
    """`document`, after checking it is valid against its official schema (when there is one)."""
    root = fromstring(document, forbid_dtd=True)
    version = root.tag[1:].partition("}")[0].rpartition(".")[2]
    schema = statement_schema(version)
    if schema is not None:
        errors = [str(error.reason) for error in schema.iter_errors(root)]
        assert errors == [], errors
    return document


# --- made-up documents ------------------------------------------------------------------------

IBAN = "DE89370400440532013000"


def balance(code: str, amount: str = "100.00", indicator: str = "CRDT", *, day: str = "2026-11-23",
            currency: str = "EUR") -> str:  # fmt: skip
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Dt><Dt>{day}</Dt></Dt></Bal>"
    )


BALANCES = balance("OPBD") + balance("CLBD", day="2026-11-24")


def transaction(
    *,
    refs: str = "",
    amount: str | None = None,
    remittance: str = "",
    information: str | None = None,
) -> str:
    """A v2 TxDtls; `amount` goes to AmtDtls/TxAmt."""
    amounts = f'<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>' if amount else ""
    references = f"<Refs>{refs}</Refs>" if refs else ""
    remittance_information = f"<RmtInf>{remittance}</RmtInf>" if remittance else ""
    additional = f"<AddtlTxInf>{information}</AddtlTxInf>" if information else ""
    return f"<TxDtls>{references}{amounts}{remittance_information}{additional}</TxDtls>"


def entry(
    amount: str = "10.00",
    indicator: str = "CRDT",
    *,
    status: str = "<Sts>BOOK</Sts>",
    booked: str | None = "<Dt>2026-11-24</Dt>",
    value: str | None = "<Dt>2026-11-25</Dt>",
    servicer_reference: str | None = None,
    transactions: str = "",
    information: str | None = None,
    currency: str = "EUR",
) -> str:
    booking = f"<BookgDt>{booked}</BookgDt>" if booked else ""
    value_date = f"<ValDt>{value}</ValDt>" if value else ""
    servicer = f"<AcctSvcrRef>{servicer_reference}</AcctSvcrRef>" if servicer_reference else ""
    details = f"<NtryDtls>{transactions}</NtryDtls>" if transactions else ""
    additional = f"<AddtlNtryInf>{information}</AddtlNtryInf>" if information else ""
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{status}'
        f"{booking}{value_date}{servicer}<BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd>"
        f"{details}{additional}</Ntry>"
    )


def statement(
    entries: str = "",
    *,
    balances: str = BALANCES,
    statement_id: str = "STMT-1",
    account: str = f"<IBAN>{IBAN}</IBAN>",
    currency: str | None = "EUR",
) -> str:
    account_currency = f"<Ccy>{currency}</Ccy>" if currency else ""
    return (
        f"<Stmt>\n<Id>{statement_id}</Id>\n<ElctrncSeqNb>7</ElctrncSeqNb>\n"
        "<CreDtTm>2026-11-24T18:00:00+01:00</CreDtTm>\n"
        f"<Acct><Id>{account}</Id>{account_currency}</Acct>\n{balances}\n{entries}\n</Stmt>\n"
    )


def camt(*statements: str, version: str = "02", check: bool = True) -> str:
    """A camt.053 document of `version` holding `statements` (one plain one by default)."""
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{CAMT053_NAMESPACE_PREFIX}{version}">\n<BkToCstmrStmt>\n'
        "<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-11-24T18:30:00+01:00</CreDtTm></GrpHdr>\n"
        f"{''.join(statements) or statement()}</BkToCstmrStmt>\n</Document>\n"
    )
    return valid(document) if check else document


def only_statement(directory: Path, document: str) -> Statement:
    [read] = read_camt053(write(directory, document))
    return read


def only_line(directory: Path, document: str) -> StatementLine:
    [line] = only_statement(directory, document).lines
    return line


# --- the samples, against the other parser's reading -----------------------------------------


def genkgo_statements(reading: dict[str, Any]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """(statement, its entries) by statement id, as far as the reading holds them.

    genkgo/camt's dump writes each object once and "__RECURSIVITY__" where it meets it again:
    a statement is found through its entries' getRecord, and of a file of several statements
    only the entries of the last one are kept (camt053.v2.multi.statement.json).
    """
    found: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for genkgo_entry in reading["getEntries"]:
        record = genkgo_entry["getRecord"]
        found.setdefault(record["getId"], (record, []))[1].append(genkgo_entry)
    for record in reading["getRecords"]:
        if isinstance(record, dict):
            found.setdefault(record["getId"], (record, []))
    return found


def minor_units(money: dict[str, Any]) -> tuple[Decimal, str]:
    """genkgo's amounts are Money objects: a signed count of the currency's minor units."""
    return Decimal(money["getAmount"]), money["getCurrency"]["getCode"]


def as_minor_units(amount: str, currency: str) -> Decimal:
    """Our plain decimal in the minor units of `currency` ("8.850" EUR -> 885)."""
    units = currency_minor_units(currency)
    assert units is not None
    return Decimal(amount).scaleb(units)


def genkgo_day(value: dict[str, str] | None) -> dt.date | None:
    """genkgo's dates are DateTimeImmutable in UTC; a date is its midnight. The samples' one
    date and time (v8's BookgDt/DtTm, 13:15+01:00) is the same day in UTC."""
    return None if value is None else dt.datetime.fromisoformat(value["0"]).date()


def genkgo_transactions(genkgo_entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        genkgo_entry["getTransactionDetail"] if detail == "__RECURSIVITY__" else detail
        for detail in genkgo_entry["getTransactionDetails"]
    ]


@pytest.mark.parametrize("name", SAMPLES_WITH_A_READING)
def test_a_sample_reads_as_the_other_parser_reads_it(name: str) -> None:
    path = sample(name)
    reading = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    ours = {read.statement_id: read for read in read_camt053(path)}
    theirs = genkgo_statements(reading)
    assert theirs
    assert set(theirs) <= set(ours)
    created_at = dt.datetime.fromisoformat(reading["getGroupHeader"]["getCreatedOn"]["0"])
    for statement_id, (record, entries) in theirs.items():
        read = ours[statement_id]
        assert read.format is StatementFormat.CAMT053
        assert read.account == record["getAccount"]["getIdentification"]
        assert read.created_at == created_at
        assert read.sequence == (
            record["getElectronicSequenceNumber"] or record["getLegalSequenceNumber"]
        )
        # genkgo calls OPBD and PRCD both "opening", in file order; we take OPBD, the first.
        balances = record["getBalances"]
        opening = next(b for b in balances if b["getType"] == "opening")
        closing = next(b for b in balances if b["getType"] == "closing")
        opening_amount, opening_currency = minor_units(opening["getAmount"])
        closing_amount, closing_currency = minor_units(closing["getAmount"])
        assert as_minor_units(read.opening_balance, opening_currency) == opening_amount
        assert as_minor_units(read.closing_balance, closing_currency) == closing_amount
        assert read.opening_date == genkgo_day(opening["getDate"])
        assert read.closing_date == genkgo_day(closing["getDate"])
        # No sample splits a batch: one line per entry, in order.
        assert len(read.lines) == len(entries)
        for line, genkgo_entry in zip(read.lines, entries, strict=True):
            amount, currency = minor_units(genkgo_entry["getAmount"])
            assert currency == read.currency
            assert as_minor_units(line.amount, currency) == amount
            assert line.booking_date == genkgo_day(genkgo_entry["getBookingDate"])
            assert line.value_date == genkgo_day(genkgo_entry["getValueDate"])
            expected = [genkgo_entry["getAccountServicerReference"]]
            for detail in genkgo_transactions(genkgo_entry):
                expected.append((detail["getReference"] or {}).get("getEndToEndId"))
                expected.append((detail["getRemittanceInformation"] or {}).get("getMessage"))
            assert {reference for reference in expected if reference} <= set(line.references)
            if genkgo_entry["getAdditionalInfo"]:
                assert line.description == genkgo_entry["getAdditionalInfo"]


def test_five_decimal_sample_amounts_are_kept_exactly_as_written() -> None:
    [read] = read_camt053(sample("camt053.v2.five.decimals.xml"))
    assert (read.opening_balance, read.closing_balance) == ("18.150", "27.050")
    assert [line.amount for line in read.lines] == ["8.850"]


def test_the_multi_statement_sample_gives_each_statement_with_its_own_balances() -> None:
    first, second = read_camt053(sample("camt053.v2.multi.statement.xml"))
    assert (first.statement_id, first.opening_balance, first.closing_balance) == (
        "253EURNL26VAYB8060476890", "18.15", "27.00",
    )  # fmt: skip
    assert [line.amount for line in first.lines] == ["8.85"]
    assert first.lines[0].references == ("000000001", "Transaction Description 1")
    assert (second.statement_id, second.opening_balance, second.closing_balance) == (
        "254EURNL26VAYB8060476890", "27.00", "20.00",
    )  # fmt: skip
    assert [line.amount for line in second.lines] == ["-7.00"]


def test_the_finnish_sample_splits_its_batches_whose_parts_add_up() -> None:
    [read] = read_camt053(sample("fi-sample-camt.053.001.02.xml"))
    assert (read.account, read.currency, read.sequence) == ("FI7433010001222090", "EUR", "120")
    # OPBD, not the PRCD also given; both 10000.00 but dated the 29th and the 28th.
    assert (read.opening_balance, read.opening_date) == ("10000.00", dt.date(2009, 10, 29))
    assert read.closing_balance == "23644.83"
    assert [line.amount for line in read.lines] == [
        "-1000.12", "-4000.00", "-2000.02", "-1000.01", "-1230.02", "2000.00", "500.00",
        "3000.00", "2120.00", "5455.00", "10000.00", "-100.00", "-100.00",
    ]  # fmt: skip
    total = sum(Decimal(line.amount) for line in read.lines)
    assert total == Decimal(read.closing_balance) - Decimal(read.opening_balance)
    batch_line = read.lines[3]
    assert batch_line.references == (
        "091029ARCH03002", "091029ACCTSTMTARCH03", "TITOT1106ID02", "Invoices 123 and 321",
    )  # fmt: skip
    assert batch_line.description == "Invoices 123 and 321"
    assert (
        batch_line.source.field == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/NtryDtls[1]/TxDtls[2]"
    )
    assert batch_line.raw == read.lines[2].raw
    assert batch_line.raw.startswith("<Ntry>")
    assert batch_line.raw.endswith("</Ntry>")
    foreign_exchange = read.lines[8]
    assert (foreign_exchange.value_date, foreign_exchange.booking_date) == (
        dt.date(2009, 10, 30), dt.date(2009, 10, 29),
    )  # fmt: skip
    assert read.lines[10].references[0] == "EndToEndIdSCT01"


def test_the_postfinance_sample_takes_its_currency_from_the_balances() -> None:
    [read] = read_camt053(sample("postfinance-camt.053.001.04.xml"))
    assert (read.account, read.currency) == ("CH2909000000250094239", "CHF")
    assert (read.opening_balance, read.closing_balance) == ("211993.19", "215112.21")
    assert read.created_at == dt.datetime(2020, 11, 25, 2, 2, 16)  # noqa: DTZ001 - as written
    assert [line.amount for line in read.lines] == [
        "4.50", "-77.70", "1500.00", "1537.00", "1692.22",
    ]  # fmt: skip
    # The debit's one TxDtls says CRDT: a batch of one is no batch, the entry's DBIT stands.
    debit = read.lines[1]
    assert debit.references == ("0758103031480977",)
    assert debit.description.startswith("GUTSCHRIFT CH-DD-BASISLASTSCHRIFT")
    assert read.lines[3].value_date == dt.date(2020, 11, 25)


def test_a_statement_of_available_balances_only_takes_opav_and_clav() -> None:
    [read] = read_camt053(sample("statement_1-camt.053.001.02.xml"))
    assert (read.opening_balance, read.closing_balance) == ("2768.08", "0.00")
    assert [line.amount for line in read.lines] == ["-1.64", "-2734.58", "-30.16", "-1.7"]
    total = sum(Decimal(line.amount) for line in read.lines)
    assert total == Decimal(read.closing_balance) - Decimal(read.opening_balance)
    assert "NOTPROVIDED" not in read.lines[0].references
    assert read.lines[0].references[0] == "215431"


def test_the_deliberately_wrong_sample_is_refused_naming_the_missing_statement() -> None:
    [problem] = refusal(sample("camt053.v2.wrong.xml")).problems
    assert (problem.code, problem.source.line, problem.source.field) == (
        "schema_invalid", 3, "/Document/BkToCstmrStmt",
    )  # fmt: skip
    assert "Stmt" in problem.reason


def test_the_sample_without_an_opening_balance_is_refused_for_its_currencies_not_its_balance() -> (
    None
):
    # Schema-valid, its only balance a CLAV in JPY and no Acct/Ccy: no opening is no refusal any
    # more, but its entry in EUR on a statement in JPY would be matched at the wrong scale.
    assert codes(sample("camt053.v2.with-account-name.xml")) == [
        ("currency_mismatch", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt")
    ]


@pytest.mark.parametrize("name", SAMPLES_WITH_A_READING + SAMPLES_WITHOUT_A_READING)
def test_every_line_of_a_sample_keeps_its_entry_xml_and_line(name: str) -> None:
    path = sample(name)
    file_lines = path.read_text(encoding="utf-8").splitlines()
    for read in read_camt053(path):
        for line in read.lines:
            assert line.source.file == str(path)
            assert line.source.line is not None
            assert file_lines[line.source.line - 1].strip().startswith(("<Ntry>", "<TxDtls>"))
            assert line.raw.startswith("<Ntry>")
            assert line.raw.endswith("</Ntry>")
            assert line.raw in path.read_text(encoding="utf-8")


# --- amounts, signs and dates -----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    amount=st.from_regex(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,5})?", fullmatch=True),
    indicator=st.sampled_from(["CRDT", "DBIT"]),
)
def test_an_amount_round_trips_exactly_with_the_sign_of_its_direction(
    amount: str, indicator: str
) -> None:
    document = camt(statement(entry(amount, indicator)))
    with tempfile.TemporaryDirectory() as directory:
        line = only_line(Path(directory), document)
    zero = not amount.replace(".", "").strip("0")
    assert line.amount == (f"-{amount}" if indicator == "DBIT" and not zero else amount)


def test_an_amount_of_five_decimals_is_kept_exactly(tmp_path: Path) -> None:
    line = only_line(tmp_path, camt(statement(entry("0.00001", "DBIT"))))
    assert line.amount == "-0.00001"


def test_balances_are_signed_by_their_direction_and_zero_has_no_sign(tmp_path: Path) -> None:
    balances = balance("OPBD", "12.5", "DBIT") + balance("CLBD", "0.00", "DBIT")
    read = only_statement(tmp_path, camt(statement(balances=balances)))
    assert (read.opening_balance, read.closing_balance) == ("-12.5", "0.00")


def test_the_previously_closed_balance_opens_when_there_is_no_opbd(tmp_path: Path) -> None:
    balances = balance("PRCD", "50.00", day="2026-11-22") + balance("CLBD", day="2026-11-24")
    read = only_statement(tmp_path, camt(statement(balances=balances)))
    assert (read.opening_balance, read.opening_date) == ("50.00", dt.date(2026, 11, 22))


def test_an_opening_booked_balance_comes_before_the_previously_closed_one(tmp_path: Path) -> None:
    balances = (
        balance("PRCD", "50.00", day="2026-11-22")
        + balance("OPBD", "60.00", day="2026-11-23")
        + balance("CLBD", day="2026-11-24")
    )
    read = only_statement(tmp_path, camt(statement(balances=balances)))
    assert (read.opening_balance, read.opening_date) == ("60.00", dt.date(2026, 11, 23))


def deutsche_bank_statement(balances: str) -> str:
    """A statement laid out as Deutsche Bank's camt.053.001.02 exports are (issue 10: an
    account's statement holding only closing balances): Id, ElctrncSeqNb, LglSeqNb, CreDtTm,
    FrToDt, the account's IBAN, currency and servicer BIC, then the balances and an entry."""
    return (
        "<Stmt>\n<Id>2026112400001</Id>\n<ElctrncSeqNb>223</ElctrncSeqNb>\n"
        "<LglSeqNb>223</LglSeqNb>\n<CreDtTm>2026-11-24T21:04:13.0+01:00</CreDtTm>\n"
        "<FrToDt><FrDtTm>2026-11-24T00:00:00.0+01:00</FrDtTm>"
        "<ToDtTm>2026-11-24T23:59:59.0+01:00</ToDtTm></FrToDt>\n"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy>"
        "<Svcr><FinInstnId><BIC>DEUTDEFFXXX</BIC></FinInstnId></Svcr></Acct>\n"
        f"{balances}\n{entry('250.00', 'DBIT', servicer_reference='DB-4711')}\n</Stmt>\n"
    )


@pytest.mark.parametrize(
    ("balances", "closing"),
    [
        # Deutsche Bank, ING: the booked and available closing balances only.
        (balance("CLBD", "1250.00", day="2026-11-24") + balance("CLAV", "1300.00"), "1250.00"),
        (balance("CLAV", "1300.00", day="2026-11-24"), "1300.00"),
        (balance("ITBD", "1250.00", day="2026-11-24"), "1250.00"),
    ],
    ids=["CLBD and CLAV", "CLAV only", "ITBD only"],
)
def test_a_statement_without_an_opening_balance_is_read_with_none_and_its_lines(
    tmp_path: Path, balances: str, closing: str
) -> None:
    read = only_statement(tmp_path, camt(deutsche_bank_statement(balances)))
    assert (read.opening_balance, read.opening_date) == (None, None)
    assert (read.closing_balance, read.closing_date) == (closing, dt.date(2026, 11, 24))
    assert [line.amount for line in read.lines] == ["-250.00"]
    assert read.sequence == "223"


def test_a_statement_without_a_closing_booked_balance_is_refused(tmp_path: Path) -> None:
    balances = balance("OPBD") + balance("CLAV")
    path = write(tmp_path, camt(statement(balances=balances)))
    assert codes(path) == [("missing_balance", "/Document/BkToCstmrStmt/Stmt[1]/Bal")]


def test_two_opening_balances_are_refused_as_ambiguous(tmp_path: Path) -> None:
    balances = balance("OPBD") + balance("OPBD", "99.00") + balance("CLBD")
    path = write(tmp_path, camt(statement(balances=balances)))
    assert codes(path) == [("duplicate_balance", "/Document/BkToCstmrStmt/Stmt[1]/Bal[2]")]


def test_the_value_date_falls_back_to_the_booking_date(tmp_path: Path) -> None:
    line = only_line(tmp_path, camt(statement(entry(value=None))))
    assert (line.value_date, line.booking_date) == (dt.date(2026, 11, 24), dt.date(2026, 11, 24))


def test_a_date_and_time_gives_its_day_as_written_by_the_bank(tmp_path: Path) -> None:
    # 23:30 in New York is the next day in UTC; the bank's day is the 24th.
    booked = "<DtTm>2026-11-24T23:30:00-05:00</DtTm>"
    line = only_line(tmp_path, camt(statement(entry(booked=booked, value=booked))))
    assert (line.value_date, line.booking_date) == (dt.date(2026, 11, 24), dt.date(2026, 11, 24))


def test_an_entry_in_another_currency_than_the_statement_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, camt(statement(entry(currency="USD"))))
    assert codes(path) == [("currency_mismatch", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt")]


def test_an_account_without_iban_is_named_by_its_other_id(tmp_path: Path) -> None:
    account = "<Othr><Id>0532013000</Id></Othr>"
    read = only_statement(tmp_path, camt(statement(account=account)))
    assert read.account == "0532013000"
    assert read.account_source is not None
    assert read.account_source.field == "/Document/BkToCstmrStmt/Stmt[1]/Acct/Id/Othr/Id"


def test_the_account_source_names_the_iban_element_and_its_line(tmp_path: Path) -> None:
    document = camt(statement())
    read = only_statement(tmp_path, document)
    assert read.account_source is not None
    iban_line = document[: document.index("<IBAN>")].count("\n") + 1
    assert (read.account_source.line, read.account_source.field) == (
        iban_line, "/Document/BkToCstmrStmt/Stmt[1]/Acct/Id/IBAN",
    )  # fmt: skip
    assert iban_line != read.source.line


# --- entries: status, batches, references -----------------------------------------------------


def test_pending_and_information_entries_are_not_statement_lines(tmp_path: Path) -> None:
    entries = (
        entry("1.00", status="<Sts>PDNG</Sts>")
        + entry("2.00")
        + entry("3.00", status="<Sts>INFO</Sts>")
    )
    read = only_statement(tmp_path, camt(statement(entries)))
    assert [line.amount for line in read.lines] == ["2.00"]
    assert read.lines[0].source.field == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]"


def version8(entries: str) -> str:
    """A camt.053.001.08 document (the samples' v8 structure) with `entries`."""
    document = sample("camt053.v8.xml").read_text(encoding="utf-8")
    start, end = document.index("<Ntry>"), document.index("</Ntry>") + len("</Ntry>")
    return valid(document[:start] + entries + document[end:])


def test_version_8_entry_status_codes_are_read(tmp_path: Path) -> None:
    entries = entry("1.00", status="<Sts><Cd>PDNG</Cd></Sts>") + entry(
        "2.00", status="<Sts><Cd>BOOK</Cd></Sts>"
    )
    [read] = read_camt053(write(tmp_path, version8(entries)))
    assert [line.amount for line in read.lines] == ["2.00"]


def test_a_proprietary_entry_status_is_refused_rather_than_guessed(tmp_path: Path) -> None:
    entries = entry("1.00", status="<Sts><Prtry>MAYBE</Prtry></Sts>")
    assert codes(write(tmp_path, version8(entries))) == [
        ("unsupported_entry_status", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Sts")
    ]


def test_a_batch_whose_parts_add_up_gives_one_line_per_transaction(tmp_path: Path) -> None:
    parts = transaction(refs="<EndToEndId>E2E-A</EndToEndId>", amount="7.50") + transaction(
        refs="<EndToEndId>E2E-B</EndToEndId>", amount="2.50"
    )
    document = camt(
        statement(entry("10.00", "DBIT", servicer_reference="BANK-1", transactions=parts))
    )
    read = only_statement(tmp_path, document)
    assert [(line.amount, line.references) for line in read.lines] == [
        ("-7.50", ("E2E-A", "BANK-1")),
        ("-2.50", ("E2E-B", "BANK-1")),
    ]
    assert [line.source.field for line in read.lines] == [
        "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]",
        "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[2]",
    ]


@pytest.mark.parametrize(
    "parts",
    [
        transaction(amount="7.50") + transaction(amount="2.49"),  # do not add up
        transaction(amount="7.50") + transaction(),  # one has no amount
    ],
)
def test_a_batch_whose_parts_do_not_add_up_stays_one_line(tmp_path: Path, parts: str) -> None:
    line = only_line(tmp_path, camt(statement(entry("10.00", transactions=parts))))
    assert (line.amount, line.source.field) == ("10.00", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]")


def test_references_come_most_specific_first_without_blanks_or_repeats(tmp_path: Path) -> None:
    refs = (
        "<MsgId>MSG-9</MsgId><AcctSvcrRef>BANK-TX</AcctSvcrRef><InstrId>INSTR-1</InstrId>"
        "<EndToEndId>E2E-1</EndToEndId>"
    )
    remittance = (
        "<Ustrd>INVOICE 17</Ustrd><Ustrd>  </Ustrd><Ustrd>E2E-1</Ustrd>"
        "<Strd><CdtrRefInf><Ref>RF18539007547034</Ref></CdtrRefInf></Strd>"
    )
    details = transaction(refs=refs, remittance=remittance)
    line = only_line(
        tmp_path, camt(statement(entry(servicer_reference="BANK-1", transactions=details)))
    )
    assert line.references == (
        "E2E-1", "BANK-TX", "BANK-1", "INSTR-1", "MSG-9", "INVOICE 17", "RF18539007547034",
    )  # fmt: skip
    assert line.description == "INVOICE 17 E2E-1"


def test_an_end_to_end_id_not_provided_is_no_reference(tmp_path: Path) -> None:
    details = transaction(refs="<EndToEndId>NOTPROVIDED</EndToEndId>")
    line = only_line(tmp_path, camt(statement(entry(transactions=details))))
    assert line.references == ()


def test_the_description_prefers_the_entry_information(tmp_path: Path) -> None:
    details = transaction(remittance="<Ustrd>INVOICE 17</Ustrd>", information="SEPA  credit")
    document = camt(statement(entry(transactions=details, information="Salary\n  November")))
    assert only_line(tmp_path, document).description == "Salary November"
    document = camt(statement(entry(transactions=details)))
    assert only_line(tmp_path, document).description == "SEPA credit"


def test_a_line_keeps_its_entry_xml_exactly_and_its_line_number(tmp_path: Path) -> None:
    one = entry("1.00", information="Grüße")
    document = camt(statement(one))
    line = only_line(tmp_path, document)
    assert line.raw == one
    assert line.source.line == document[: document.index("<Ntry>")].count("\n") + 1


def test_the_statement_gives_its_header_fields(tmp_path: Path) -> None:
    read = only_statement(tmp_path, camt(statement(entry())))
    assert (read.statement_id, read.account, read.currency, read.sequence) == (
        "STMT-1", IBAN, "EUR", "7",
    )  # fmt: skip
    assert read.created_at == dt.datetime(
        2026, 11, 24, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert (read.opening_date, read.closing_date) == (dt.date(2026, 11, 23), dt.date(2026, 11, 24))
    assert (read.source.line, read.source.field) == (5, "/Document/BkToCstmrStmt/Stmt[1]")


def test_every_statement_problem_is_listed_and_nothing_is_imported(tmp_path: Path) -> None:
    no_closing = balance("OPBD")
    document = camt(
        statement(entry(), balances=no_closing),
        statement(entry(currency="USD"), statement_id="STMT-2"),
    )
    assert codes(write(tmp_path, document)) == [
        ("missing_balance", "/Document/BkToCstmrStmt/Stmt[1]/Bal"),
        ("currency_mismatch", "/Document/BkToCstmrStmt/Stmt[2]/Ntry[1]/Amt"),
    ]


# --- versions and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["05", "06", "07"])
def test_versions_without_a_schema_here_read_like_their_neighbours(
    tmp_path: Path, version: str
) -> None:
    v4 = sample("camt053.v4.xml")
    text = v4.read_text(encoding="utf-8").replace("camt.053.001.04", f"camt.053.001.{version}")
    [expected] = read_camt053(v4)
    [read] = read_camt053(write(tmp_path, text))
    assert (read.statement_id, read.opening_balance, read.closing_balance, read.currency) == (
        expected.statement_id, expected.opening_balance, expected.closing_balance,
        expected.currency,
    )  # fmt: skip
    assert [(line.amount, line.references) for line in read.lines] == [
        (line.amount, line.references) for line in expected.lines
    ]


def test_a_version_without_a_schema_is_still_checked_field_by_field(tmp_path: Path) -> None:
    document = camt(
        statement(entry("12.3.4") + entry("5.00", "BOTH") + entry(value="<Dt>24.11.2026</Dt>")),
        version="06",
        check=False,
    )
    assert codes(write(tmp_path, document)) == [
        ("invalid_amount", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt"),
        ("invalid_field", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/CdtDbtInd"),
        ("invalid_date", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/ValDt/Dt"),
    ]


def test_a_document_failing_its_schema_names_each_xpath_and_line(tmp_path: Path) -> None:
    document = camt(statement(entry("12,50") + entry(indicator="BOTH")), check=False)
    problems = refusal(write(tmp_path, document)).problems
    assert [(p.code, p.source.field) for p in problems] == [
        ("schema_invalid", "/Document/BkToCstmrStmt/Stmt/Ntry[1]/Amt"),
        ("schema_invalid", "/Document/BkToCstmrStmt/Stmt/Ntry[2]/CdtDbtInd"),
    ]
    entries_line = document[: document.index("<Ntry>")].count("\n") + 1
    assert [p.source.line for p in problems] == [entries_line, entries_line]


@pytest.mark.parametrize("version", ["01", "09", "13"])
def test_a_version_outside_02_to_08_is_unsupported(tmp_path: Path, version: str) -> None:
    path = write(tmp_path, camt(version=version, check=False))
    assert codes(path) == [("unsupported_version", "/Document")]


@pytest.mark.parametrize(
    "document",
    [
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><X/></Document>',
        "<Document><BkToCstmrStmt/></Document>",
        f'<AppHdr xmlns="{CAMT053_NAMESPACE_PREFIX}02"/>',
    ],
)
def test_a_document_of_another_message_is_unsupported(tmp_path: Path, document: str) -> None:
    [(code, _)] = codes(write(tmp_path, document))
    assert code == "unsupported_message"


# --- unsafe and unreadable files --------------------------------------------------------------

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
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol9;</Document>
"""


def test_a_billion_laughs_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    started = time.perf_counter()
    [problem] = refusal(write(tmp_path, BILLION_LAUGHS)).problems
    assert time.perf_counter() - started < 1
    assert (problem.code, problem.source.line) == ("unsafe_xml", 2)


def test_an_external_entity_is_refused_before_the_file_it_names_is_read(tmp_path: Path) -> None:
    secret = write(tmp_path, "secret", "secret.txt")
    document = (
        f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        f'<Document xmlns="{CAMT053_NAMESPACE_PREFIX}02">&x;</Document>\n'
    )
    assert codes(write(tmp_path, document)) == [("unsafe_xml", None)]


def test_xml_that_is_not_well_formed_is_malformed_xml_at_its_line(tmp_path: Path) -> None:
    document = camt(statement(entry())).replace("</Acct>", "</Account>")
    [problem] = refusal(write(tmp_path, document)).problems
    assert (problem.code, problem.source.line) == ("malformed_xml", 9)  # the <Acct> line


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"account,amount\nX,1\n", "unrecognised_format"),
        (b"<?xml version='1.0'?>\x00\x01", "binary_file"),
        ("<Document>é</Document>".encode("latin-1"), "not_utf8"),
        ("<Document/>".encode("utf-16"), "not_utf8"),
    ],
)
def test_a_file_that_is_no_utf8_xml_is_refused_whole(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "statement.xml"
    path.write_bytes(content)
    [problem] = refusal(path).problems
    assert (problem.code, problem.source.file) == (code, str(path))


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    [problem] = refusal(tmp_path / "absent.xml").problems
    assert problem.code == "unreadable_file"


def test_a_file_over_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(camt053, "file_bytes_max", 100)
    [problem] = refusal(write(tmp_path, camt())).problems
    assert problem.code == "file_too_large"


def test_a_schema_pattern_is_quoted_with_its_quantifiers_as_the_schema_writes_them(
    tmp_path: Path,
) -> None:
    # A nine-character BIC for the servicer (Deutsche Bank's DEUTDEFF with a stray digit): the
    # schema's BICIdentifier pattern must reach the person whole, "{6,6}" and "{3,3}" included.
    servicer = "<Svcr><FinInstnId><BIC>DEUTDEFF1</BIC></FinInstnId></Svcr>"
    document = camt(statement(), check=False).replace("</Ccy></Acct>", f"</Ccy>{servicer}</Acct>")
    [problem] = refusal(write(tmp_path, document)).problems
    assert (problem.code, problem.source.field) == (
        "schema_invalid", "/Document/BkToCstmrStmt/Stmt/Acct/Svcr/FinInstnId/BIC",
    )  # fmt: skip
    assert "[A-Z]{6,6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3,3}){0,1}" in problem.reason
    assert "{urn:" not in problem.reason
