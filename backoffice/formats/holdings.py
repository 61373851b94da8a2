"""Custodians' statements of holdings: ISO 20022 semt.002.001.11, SWIFT MT535 and CSV, the
format detected, each read into `HoldingsStatement`s of one safekeeping account as of one date.

semt.002 (a file starting with '<'): one `Document` of `semt.002.001.11`, parsed with defusedxml
(`xml_reading`), which refuses a DTD, an entity or an external reference before anything is expanded
(`unsafe_xml`), and validated against the official schema (`schema_invalid`, the XPath as the
field). Account = SfkpgAcct/Id; as_of = StmtGnlDtls/StmtDtTm (Dt, or the date of DtTm); statement_id
= StmtGnlDtls/StmtId, else "account:as_of"; one `Holding` per BalForAcct: its FinInstrmId/ISIN and
AggtBal/Qty/Qty/Qty/Unit (or FaceAmt, a face amount, for debt; or the FaceAmt of
AggtBal/Qty/Qty/OrgnlAndCurFace, debt whose face amortises), negative when AggtBal/ShrtLngInd is
SHOR. Each sub-account (SubAcctDtls with its own SfkpgAcct/Id and BalForSubAcct) is a statement of
its own, its id the statement's and "/" and the sub-account.

MT535 (a file starting with '{1:', or a bare text block starting with ':16R:GENL'): one
statement per message, or per run of pages (:28E: 1/MORE, 2/MORE ... n/LAST, joined in file
order). Account = :97A::SAFE// of sequence A (GENL); as_of = :98A::STAT// or the date of
:98C::STAT//; statement_id = :20C::SEME// (of the first page). Each FIN block gives a
`Holding`: :35B:ISIN <isin> and :93B::AGGR//UNIT/ (or FAMT/) and the number, an N before it for
a short position; a face amount given with its amortised value (:93B::AGGR//FAMT/ and
:93B::AGGR//AMOR/, a mortgage pass-through) holds the face amount, a balance repeated otherwise
is `duplicate_field`. The FIN blocks stand in SUBSAFE sequences (B1), or directly after GENL, as
FinTS/HBCI banks send a depot statement (FinTS 3.0 Finanzdatenformate: no sub-safekeeping). A
SUBSAFE with its own :97A::SAFE// is a sub-account. A :35B: or :93B::AGGR anywhere else is
`unsupported_layout`: positions in a layout not read are refused, never dropped.

A statement from which no holding was read is refused (`no_holdings`) unless it says it holds
none: MT535 :17B::ACTI//N, semt.002 ActvtyInd false. A CSV file with its header and no row is
`no_holdings` too; an empty or blank file `empty_file`.

CSV (a header line holding the columns `account, as_of, isin, quantity`, in any order, others
passed over; values trimmed): one statement per (account, as_of), in order of first appearance,
statement_id "account:as_of"; as_of an ISO date (2024-01-31); quantity a plain decimal with a
dot, '-' for a short position.

Quantities are plain decimal strings ("100", "-2500.5"). ISINs are checked with python-stdnum
(format and check digit: `invalid_isin`). An ISIN twice in one statement is `duplicate_isin`.
A statement that does not list every holding is refused, not read as if it did, since every
position left out would show as a break: a delta statement (semt.002 UpdTp DELT, MT535
:22F::CODE//DELT), a page of a statement with others missing (`incomplete_statement`).

Every problem carries a stable code and its source (file, line, field: an XPath, a FIN tag
such as ":93B::AGGR", a CSV column); any problem refuses the whole file (`ProblemError`
listing them all). Whole-file codes: `unreadable_file`, `file_too_large`, `binary_file`,
`not_utf8` (XML must be UTF-8; MT535 and CSV may be latin-1, as `mt940` documents), `empty_file`,
`unrecognised_format`, `wrong_delimiter` (a CSV header separated by ';', a tab or '|'),
`too_many_messages`, `unsafe_xml`, `malformed_xml`, `schema_invalid`.
Then `unsupported_message`, `unsupported_function`, `malformed_message`, `malformed_csv`,
`missing_column`, `duplicate_column`, `missing_field`, `invalid_field`, `invalid_date`,
`invalid_isin`, `invalid_quantity`, `unsupported_quantity`, `duplicate_isin`,
`incomplete_statement`, `unsupported_layout`, `no_holdings`, `duplicate_field`;
`too_many_problems` counts those past `problems_max`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from pathlib import Path
from xml.etree import ElementTree

import xmlschema

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.holdings_mt535 import read_mt535
from backoffice.formats.holdings_statement import (
    CollectedStatement,
    account_chars_max,
    isin_reason,
    plain_decimal,
)
from backoffice.formats.trades_csv import OTHER_DELIMITERS
from backoffice.formats.xml_reading import (
    LineRecordingBuilder,
    ParsedDocument,
    local_name,
    namespace_of,
    parse_document,
    schema_problems,
    unsupported_document,
)
from backoffice.recon.model import Holding, HoldingsStatement, StatementFormat

__all__ = ["SEMT_002", "file_bytes_max", "holdings_schema", "read_holdings"]

file_bytes_max = 64 * 1024 * 1024
xml_depth_max = 64  # semt.002 nests about 12 deep; deeper is a trap for recursive code
schema_errors_max = 20  # reported per document; the rest add nothing a person can act on
problems_max = 100
reason_chars_max = 500

SEMT_002 = "urn:iso:std:iso:20022:tech:xsd:semt.002.001.11"
_REPORT = "/Document/SctiesBalCtdyRpt"
_CSV_COLUMNS = ("account", "as_of", "isin", "quantity")

_MX_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_CSV_DECIMAL = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@functools.cache
def holdings_schema() -> xmlschema.XMLSchema:
    """The compiled official semt.002.001.11 schema (compiled once, on first use)."""
    return xmlschema.XMLSchema(Path(__file__).parent / "schemas" / "semt.002.001.11.xsd")


def read_holdings(path: Path) -> list[HoldingsStatement]:
    """Every statement of holdings in `path` (semt.002, MT535 or CSV), in file order.

    Raises `ProblemError` listing every problem when the file cannot be read whole (see the
    module's documentation for the codes): nothing of a bad file is returned.
    """
    file = str(path)
    content = read_content(path, file_bytes_max)
    if content.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<"):
        statements, problems = _read_semt002(
            decode_text(content, file, latin1_fallback=False), file
        )
    else:
        text = decode_text(content, file)
        body = text.lstrip(" \t\r\n$\x01\x03")
        if not body:
            raise ProblemError(Problem("empty_file", "the file holds no statement", Source(file)))
        first_line = body.split("\n", 1)[0]
        if body.startswith(("{1:", ":16R:GENL")):
            statements, problems = read_mt535(text, file)
        elif "," in first_line and any(
            name.strip().lower() in _CSV_COLUMNS for name in first_line.split(",")
        ):
            statements, problems = _read_csv(text, file)
        else:
            line = 1 + text.count("\n", 0, len(text) - len(body))
            raise ProblemError(_unrecognised(first_line, Source(file, line)))
    if problems:
        if len(problems) > problems_max:
            more = Problem(
                "too_many_problems",
                f"{len(problems) - problems_max} more problems not listed",
                Source(file),
            )
            problems = [*problems[:problems_max], more]
        raise ProblemError(*problems)
    return statements


def _unrecognised(first_line: str, source: Source) -> Problem:
    """Why a file is none of the formats read: a CSV header with another delimiter, or none."""
    for delimiter, named in OTHER_DELIMITERS.items():
        if delimiter in first_line and any(
            name.strip().lower() in _CSV_COLUMNS for name in first_line.split(delimiter)
        ):
            reason = (
                f"the columns are separated by {named}, not a comma: save the file as "
                "comma-separated values"
            )
            return Problem("wrong_delimiter", reason, source)
    reason = (
        "neither a semt.002 XML document (starting with '<'), SWIFT MT535 messages "
        "(starting with '{1:' or ':16R:GENL') nor a CSV file with the header "
        + ", ".join(_CSV_COLUMNS)
    )
    return Problem("unrecognised_format", reason, source)


# semt.002 -------------------------------------------------------------------------------------


def _read_semt002(text: str, file: str) -> tuple[list[HoldingsStatement], list[Problem]]:
    parsed = parse_document(text, file, LineRecordingBuilder, xml_depth_max)
    if isinstance(parsed, Problem):
        return [], [parsed]
    root, builder = parsed
    lines = builder.lines
    if local_name(root.tag) != "Document" or namespace_of(root.tag) != SEMT_002:
        return [], [unsupported_document(root, lines, file, SEMT_002)]
    problems = schema_problems(
        holdings_schema(),
        root,
        lines,
        file,
        errors_max=schema_errors_max,
        reason_chars_max=reason_chars_max,
        namespaces_in_reason=True,
    )
    if problems:
        return [], problems
    collected = _semt002_statement(ParsedDocument(SEMT_002, lines, file), root[0], problems)
    if collected is None or problems:
        return [], problems
    statements = collected.statements(StatementFormat.SEMT002, problems)
    return ([], problems) if problems else (statements, [])


def _semt002_statement(
    document: ParsedDocument, report: ElementTree.Element, problems: list[Problem]
) -> CollectedStatement | None:
    def bad(code: ErrorCode, reason: str, element: ElementTree.Element | None, path: str) -> None:
        problems.append(Problem(code, reason, document.source(element, f"{_REPORT}/{path}")))

    page = document.find(report, "Pgntn")
    page_number = int(document.text(report, "Pgntn/PgNb") or "0")  # the schema checked digits
    last_page = document.text(report, "Pgntn/LastPgInd") in {"true", "1"}
    if page_number != 1 or not last_page:
        reason = (
            f"page {page_number} of a statement of several pages (Pgntn): the holdings of its "
            "other pages are not in this document"
        )
        bad("incomplete_statement", reason, page, "Pgntn")
    update = document.find(report, "StmtGnlDtls/UpdTp/Cd")
    if update is not None and (update.text or "").strip() == "DELT":
        reason = "a delta statement (UpdTp DELT) lists only the holdings that changed"
        bad("incomplete_statement", reason, update, "StmtGnlDtls/UpdTp/Cd")
    stamp = document.find(report, "StmtGnlDtls/StmtDtTm")
    as_of = None
    if stamp is not None and len(stamp) > 0:
        try:  # ISODate may carry a time zone and ISODateTime a time: the date is the first ten
            as_of = dt.date.fromisoformat((stamp[0].text or "").strip()[:10])
        except ValueError:
            bad(
                "invalid_date", f"{stamp[0].text!r} is not a date", stamp[0], "StmtGnlDtls/StmtDtTm"
            )
    account = document.text(report, "SfkpgAcct/Id")
    if not account:
        bad("missing_field", "no safekeeping account (SfkpgAcct/Id)", report, "SfkpgAcct/Id")
    if as_of is None or not account:
        return None
    statement_id = document.text(report, "StmtGnlDtls/StmtId") or f"{account}:{as_of.isoformat()}"
    activity_path = f"{_REPORT}/StmtGnlDtls/ActvtyInd"
    flag = document.find(report, "StmtGnlDtls/ActvtyInd")  # the schema requires it
    active = document.text(report, "StmtGnlDtls/ActvtyInd") in {"true", "1"}
    collected = CollectedStatement(
        statement_id,
        account,
        as_of,
        document.source(report, _REPORT),
        document.source(flag, activity_path) if active else None,
    )
    for index, balance in enumerate(document.findall(report, "BalForAcct"), 1):
        holding = _mx_holding(document, balance, f"{_REPORT}/BalForAcct[{index}]", problems)
        if holding is not None:
            collected.add(account, holding)
    for index, details in enumerate(document.findall(report, "SubAcctDtls"), 1):
        base = f"{_REPORT}/SubAcctDtls[{index}]"
        balances = document.findall(details, "BalForSubAcct")
        sub_account = document.text(details, "SfkpgAcct/Id")
        if not balances:
            continue
        if not sub_account:
            reason = "holdings of a sub-account that names no safekeeping account (SfkpgAcct/Id)"
            problems.append(Problem("missing_field", reason, document.source(details, base)))
            continue
        for number, balance in enumerate(balances, 1):
            holding = _mx_holding(document, balance, f"{base}/BalForSubAcct[{number}]", problems)
            if holding is not None:
                collected.add(sub_account, holding)
    return collected


def _mx_holding(
    document: ParsedDocument, balance: ElementTree.Element, base: str, problems: list[Problem]
) -> Holding | None:
    identifier = document.find(balance, "FinInstrmId/ISIN")
    isin = document.text(balance, "FinInstrmId/ISIN")
    if identifier is None or not isin:
        reason = "the security is not identified by an ISIN (FinInstrmId/ISIN)"
        where = document.find(balance, "FinInstrmId")
        problems.append(
            Problem("missing_field", reason, document.source(where, f"{base}/FinInstrmId"))
        )
        return None
    why = isin_reason(isin)
    if why is not None:
        source = document.source(identifier, f"{base}/FinInstrmId/ISIN")
        problems.append(Problem("invalid_isin", why, source))
        return None
    short = document.text(balance, "AggtBal/ShrtLngInd") == "SHOR"
    # AggtBal/Qty is a choice of Qty or Prtry; that Qty a choice of Qty or OrgnlAndCurFace;
    # that Qty a choice of Unit, FaceAmt, AmtsdVal or DgtlTknUnit. OrgnlAndCurFace (debt whose
    # face amortises) is FaceAmt then AmtsdVal: its face amount is the position.
    node = document.find(balance, "AggtBal/Qty")
    path = f"{base}/AggtBal/Qty"
    kind = balance
    for expected in ({"Qty"}, {"Qty", "OrgnlAndCurFace"}, {"Unit", "FaceAmt"}):
        inner = node[0] if node is not None and len(node) > 0 else None
        shape = local_name(inner.tag) if inner is not None else "nothing"
        if inner is None or shape not in expected:
            reason = (
                f"a quantity as {shape}: only Qty/Qty/Unit, Qty/Qty/FaceAmt or "
                "Qty/OrgnlAndCurFace/FaceAmt is read"
            )
            problems.append(Problem("unsupported_quantity", reason, document.source(node, path)))
            return None
        node = kind = inner
        path = f"{path}/{shape}"
    number = _MX_DECIMAL.fullmatch((kind.text or "").strip())
    if number is None or not (number[2] or number[3]) or number[1] == "-":
        reason = f"{kind.text!r}: a quantity at or above zero, its sign told by ShrtLngInd"
        problems.append(Problem("invalid_quantity", reason, document.source(kind, path)))
        return None
    quantity = plain_decimal(short, number[2], number[3])
    return Holding(isin=isin, quantity=quantity, source=document.source(kind, path))


# CSV ------------------------------------------------------------------------------------------


def _read_csv(text: str, file: str) -> tuple[list[HoldingsStatement], list[Problem]]:
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text.lstrip(" \t\r\n")), skipinitialspace=True, strict=True)
    offset = text.count("\n", 0, len(text) - len(text.lstrip(" \t\r\n")))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as error:
        return [], [Problem("malformed_csv", f"not CSV: {error}", Source(file, offset + 1))]
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in columns:
            reason = f"column {name!r} twice in the header"
            problems.append(Problem("duplicate_column", reason, Source(file, offset + 1, name)))
        columns.setdefault(name, index)
    for name in _CSV_COLUMNS:
        if name not in columns:
            reason = f"no column {name!r}; the header needs {', '.join(_CSV_COLUMNS)}"
            problems.append(Problem("missing_column", reason, Source(file, offset + 1, name)))
    if problems:
        return [], problems
    collected: dict[tuple[str, dt.date], CollectedStatement] = {}
    try:
        for row in reader:
            line = offset + reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                reason = f"{len(row)} values for {len(header)} columns"
                problems.append(Problem("malformed_csv", reason, Source(file, line)))
                continue
            read = _csv_row(row, columns, file, line, problems)
            if read is None:
                continue
            account, as_of, holding = read
            statement = collected.get((account, as_of))
            if statement is None:
                statement = CollectedStatement(
                    f"{account}:{as_of.isoformat()}",
                    account,
                    as_of,
                    Source(file, line),
                    Source(file, line),
                )
                collected[(account, as_of)] = statement
            statement.add(account, holding)
    except csv.Error as error:
        problems.append(
            Problem("malformed_csv", f"not CSV: {error}", Source(file, offset + reader.line_num))
        )
    if not problems and not collected:
        reason = "a header and no holding: the file names no account, date or position"
        problems.append(Problem("no_holdings", reason, Source(file, offset + 1)))
    if problems:
        return [], problems
    statements = [
        holding_statement
        for statement in collected.values()
        for holding_statement in statement.statements(StatementFormat.HOLDINGS_CSV, problems)
    ]
    return ([], problems) if problems else (statements, [])


def _csv_row(
    row: list[str], columns: dict[str, int], file: str, line: int, problems: list[Problem]
) -> tuple[str, dt.date, Holding] | None:
    errors = len(problems)

    def cell(name: str) -> str:
        return row[columns[name]].strip()

    def bad(code: ErrorCode, reason: str, column: str) -> None:
        problems.append(Problem(code, reason, Source(file, line, column)))

    account = cell("account")
    if not 0 < len(account) <= account_chars_max:
        bad(
            "invalid_field",
            f"account {account[:40]!r}: 1 to {account_chars_max} characters",
            "account",
        )
    as_of = None
    if _ISO_DATE.fullmatch(cell("as_of")):
        try:
            as_of = dt.date.fromisoformat(cell("as_of"))
        except ValueError:
            as_of = None
    if as_of is None:
        bad("invalid_date", f"{cell('as_of')[:40]!r} is not a date YYYY-MM-DD", "as_of")
    isin = cell("isin")
    why = isin_reason(isin)
    if why is not None:
        bad("invalid_isin", why, "isin")
    number = _CSV_DECIMAL.fullmatch(cell("quantity"))
    if number is None:
        reason = f"{cell('quantity')[:40]!r} is not a quantity such as 100 or -2500.5"
        bad("invalid_quantity", reason, "quantity")
    if len(problems) > errors or as_of is None or number is None:
        return None
    quantity = plain_decimal(number[1] == "-", number[2], number[3])
    return account, as_of, Holding(isin, quantity, Source(file, line, "quantity"))
