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
`unrecognised_format`, `too_many_messages`, `unsafe_xml`, `malformed_xml`, `schema_invalid`.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import xmlschema
from stdnum import isin as stdnum_isin

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.mt940 import FinField, fin_fields, fin_messages
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
account_chars_max = 35  # Max35Text, 35x
reason_chars_max = 500

SEMT_002 = "urn:iso:std:iso:20022:tech:xsd:semt.002.001.11"
_REPORT = "/Document/SctiesBalCtdyRpt"
_CSV_COLUMNS = ("account", "as_of", "isin", "quantity")

_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
_MX_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_CSV_DECIMAL = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIN_GENERIC = re.compile(r":([A-Z0-9]{4})/([A-Za-z0-9]{0,8})/(.*)", re.DOTALL)
_FIN_UNQUALIFIED = frozenset({"16R", "16S", "23G", "28E", "35B"})
_FIN_PAGE = re.compile(r"([0-9]{1,5})/(ONLY|MORE|LAST)")
_FIN_QUANTITY = re.compile(r"([A-Z]{4})/(N?)([0-9]+),([0-9]*)")
_FIN_ISIN = re.compile(r"ISIN ([A-Z0-9]{12})")
_FIN_DATES = {"98A": re.compile(r"([0-9]{8})"), "98C": re.compile(r"([0-9]{8})[0-9]{6}")}


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
            statements, problems = _read_mt535(text, file)
        elif "," in first_line and any(
            name.strip().lower() in _CSV_COLUMNS for name in first_line.split(",")
        ):
            statements, problems = _read_csv(text, file)
        else:
            raise ProblemError(
                Problem(
                    "unrecognised_format",
                    "neither a semt.002 XML document (starting with '<'), SWIFT MT535 messages "
                    "(starting with '{1:' or ':16R:GENL') nor a CSV file with the header "
                    + ", ".join(_CSV_COLUMNS),
                    Source(file, 1 + text.count("\n", 0, len(text) - len(body))),
                )
            )
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


# Shared ---------------------------------------------------------------------------------------


def _isin_reason(text: str) -> str | None:
    """Why `text` is no ISIN, or None when it is one (format and check digit)."""
    if not _ISIN.fullmatch(text):
        return f"{text[:40]!r} is no ISIN: two letters, nine letters or digits, a check digit"
    if not bool(stdnum_isin.is_valid(text)):
        return f"{text!r}: the ISIN's check digit is wrong"
    return None


def _plain(negative: bool, integer: str, fraction: str | None) -> str:
    """Digits as a plain signed decimal string: (True, "0100", "50") -> "-100.50"."""
    whole = integer.lstrip("0") or "0"
    number = f"{whole}.{fraction}" if fraction else whole
    zero = not number.replace(".", "").strip("0")
    return f"-{number}" if negative and not zero else number


@dataclass
class _Collected:
    """Holdings of one statement by account (the main account, then its sub-accounts)."""

    statement_id: str
    account: str
    as_of: dt.date
    source: Source
    # Where the statement says it holds something (MT535 :17B::ACTI//Y, semt.002 ActvtyInd
    # true); None when it says it holds nothing, the one case a statement of none is read.
    activity: Source | None
    holdings: dict[str, list[Holding]] = field(default_factory=dict)

    def add(self, account: str, holding: Holding) -> None:
        self.holdings.setdefault(account, []).append(holding)

    def statements(self, form: StatementFormat, problems: list[Problem]) -> list[HoldingsStatement]:
        read: list[HoldingsStatement] = []
        if self.activity is not None and not problems and not any(self.holdings.values()):
            reason = (
                f"the statement of {self.account} as of {self.as_of} says it holds positions "
                "and none was read: it is refused, not read as a statement of none"
            )
            problems.append(Problem("no_holdings", reason, self.activity))
            return read
        accounts = [self.account, *(a for a in self.holdings if a != self.account)]
        for account in accounts:
            holdings = self.holdings.get(account, [])
            seen: set[str] = set()
            for holding in holdings:
                if holding.isin in seen:
                    reason = f"{holding.isin} appears twice in the statement of {account}"
                    problems.append(Problem("duplicate_isin", reason, holding.source))
                seen.add(holding.isin)
            suffix = "" if account == self.account else f"/{account}"
            read.append(
                HoldingsStatement(
                    statement_id=self.statement_id + suffix,
                    format=form,
                    account=account,
                    as_of=self.as_of,
                    holdings=tuple(holdings),
                    source=self.source,
                )
            )
        return read


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
) -> _Collected | None:
    def bad(code: str, reason: str, element: ElementTree.Element | None, path: str) -> None:
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
    collected = _Collected(
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
    why = _isin_reason(isin)
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
    quantity = _plain(short, number[2], number[3])
    return Holding(isin=isin, quantity=quantity, source=document.source(kind, path))


# MT535 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FinValue:
    tag: str
    qualifier: str | None
    value: str
    line: int
    blocks: tuple[tuple[str, int], ...]  # the 16R blocks it sits in, outermost first

    @property
    def label(self) -> str:
        return f":{self.tag}::{self.qualifier}" if self.qualifier else f":{self.tag}:"


@dataclass(frozen=True, slots=True)
class _Page:
    number: int
    continuation: str  # ONLY, MORE or LAST
    collected: _Collected


def _read_mt535(text: str, file: str) -> tuple[list[HoldingsStatement], list[Problem]]:
    statements: list[HoldingsStatement] = []
    problems: list[Problem] = []
    open_runs: dict[tuple[str, dt.date], _Page] = {}
    for message in fin_messages(text, file, first_field=":16R:GENL"):
        problems.extend(message.problems)
        if not message.lines:
            continue
        if message.message_type not in {None, "535"}:
            reason = f"an MT{message.message_type}: expected an MT535 statement of holdings"
            problems.append(Problem("unsupported_message", reason, Source(file, message.line)))
            continue
        fields, found = fin_fields(message, file)
        problems.extend(found)
        page = _mt535_page(fields, file, message.line, problems)
        if page is None:
            continue
        key = (page.collected.account, page.collected.as_of)
        run = open_runs.pop(key, None)
        if page.number == 1 and page.continuation in {"ONLY", "LAST"} and run is None:
            statements.extend(page.collected.statements(StatementFormat.MT535, problems))
            continue
        if page.number == 1 and page.continuation == "MORE":
            if run is not None:
                _incomplete(run, problems)
            open_runs[key] = page
            continue
        if run is None or page.number != run.number + 1 or page.continuation == "ONLY":
            reason = (
                f"page {page.number}/{page.continuation} of the statement of "
                f"{page.collected.account} as of {page.collected.as_of}: its page "
                f"{page.number - 1} is not just before it in the file"
            )
            problems.append(Problem("incomplete_statement", reason, page.collected.source))
            continue
        for account, holdings in page.collected.holdings.items():
            for holding in holdings:
                run.collected.add(account, holding)
        joined = _Page(page.number, page.continuation, run.collected)
        if page.continuation == "LAST":
            statements.extend(joined.collected.statements(StatementFormat.MT535, problems))
        else:
            open_runs[key] = joined
    for run in open_runs.values():
        _incomplete(run, problems)
    return ([], problems) if problems else (statements, [])


def _incomplete(run: _Page, problems: list[Problem]) -> None:
    reason = (
        f"pages 1 to {run.number} of the statement of {run.collected.account} as of "
        f"{run.collected.as_of}, marked MORE, and no LAST page after them"
    )
    problems.append(Problem("incomplete_statement", reason, run.collected.source))


def _fin_values(fields: list[FinField], file: str, problems: list[Problem]) -> list[_FinValue]:
    """The fields with their qualifier and the 16R...16S blocks holding them."""
    values: list[_FinValue] = []
    open_blocks: list[tuple[str, int]] = []
    opened = 0
    for fin_field in fields:
        value = fin_field.value
        if fin_field.tag == "16R":
            opened += 1
            open_blocks.append((value.strip(), opened))
            continue
        if fin_field.tag == "16S":
            if not open_blocks or open_blocks[-1][0] != value.strip():
                expected = f"16R:{open_blocks[-1][0]}" if open_blocks else "no open block"
                reason = f"16S:{value.strip()} closes {expected}"
                problems.append(
                    Problem("malformed_message", reason, Source(file, fin_field.line, ":16S:"))
                )
            if open_blocks:
                open_blocks.pop()
            continue
        qualifier = None
        if fin_field.tag not in _FIN_UNQUALIFIED:
            generic = _FIN_GENERIC.fullmatch(value)
            if generic is None:
                reason = f"{value[:40]!r} is not :QUALIFIER//value or :QUALIFIER/SCHEME/value"
                problems.append(
                    Problem(
                        "malformed_message", reason, Source(file, fin_field.line, fin_field.label)
                    )
                )
                continue
            qualifier, value = (
                generic[1],
                generic[3] if not generic[2] else f"{generic[2]}/{generic[3]}",
            )
        values.append(
            _FinValue(fin_field.tag, qualifier, value, fin_field.line, tuple(open_blocks))
        )
    if open_blocks:
        reason = "blocks opened and never closed: " + ", ".join(name for name, _ in open_blocks)
        problems.append(
            Problem("malformed_message", reason, Source(file, fields[-1].line, ":16R:"))
        )
    return values


def _mt535_page(
    fields: list[FinField], file: str, line: int, problems: list[Problem]
) -> _Page | None:
    values = _fin_values(fields, file, problems)
    general = [v for v in values if [name for name, _ in v.blocks] == ["GENL"]]
    errors = len(problems)

    def bad(code: str, reason: str, at: _FinValue | None, label: str) -> None:
        where = Source(file, at.line if at else line, at.label if at else label)
        problems.append(Problem(code, reason, where))

    def one(tag: str, qualifier: str | None) -> _FinValue | None:
        found = [v for v in general if v.tag.startswith(tag) and v.qualifier == qualifier]
        label = f":{tag}::{qualifier}" if qualifier else f":{tag}:"
        if not found:
            bad("missing_field", f"{label} is required in sequence A (GENL)", None, label)
            return None
        if len(found) > 1:
            bad("invalid_field", f"{label} appears {len(found)} times", found[1], label)
            return None
        return found[0]

    page_field = one("28E", None)
    reference = one("20C", "SEME")
    function = one("23G", None)
    date_field = one("98", "STAT")
    account_field = one("97A", "SAFE")
    page = _FIN_PAGE.fullmatch(page_field.value.strip()) if page_field else None
    if page_field is not None and page is None:
        bad(
            "invalid_field",
            f"{page_field.value!r}: a page number and ONLY, MORE or LAST",
            page_field,
            "",
        )
    if function is not None and function.value.partition("/")[0] != "NEWM":
        reason = f"function {function.value!r}: only a new statement (NEWM) is read"
        bad("unsupported_function", reason, function, "")
    code = next((v for v in general if v.tag == "22F" and v.qualifier == "CODE"), None)
    if code is not None and code.value == "DELT":
        reason = "a delta statement (:22F::CODE//DELT) lists only the holdings that changed"
        bad("incomplete_statement", reason, code, "")
    as_of = _fin_date(date_field, bad)
    account = account_field.value.strip() if account_field else None
    if account_field is not None and not 0 < len(account or "") <= account_chars_max:
        bad(
            "invalid_field",
            f"safekeeping account {account!r}: 1 to 35 characters",
            account_field,
            "",
        )
        account = None
    if reference is not None and not reference.value.strip():
        bad("invalid_field", "a blank message reference", reference, "")
    if len(problems) > errors or page is None or as_of is None or not account or not reference:
        return None
    activity = next((v for v in general if v.tag == "17B" and v.qualifier == "ACTI"), None)
    collected = _Collected(
        reference.value.strip(),
        account,
        as_of,
        Source(file, line),
        None
        if activity is not None and activity.value.strip() == "N"
        else Source(file, activity.line if activity else line, ":17B::ACTI"),
    )
    for holding_account, holding in _fin_holdings(values, account, file, problems):
        collected.add(holding_account, holding)
    return _Page(int(page[1]), page[2], collected)


def _fin_date(
    field: _FinValue | None, bad: Callable[[str, str, _FinValue | None, str], None]
) -> dt.date | None:
    if field is None:
        return None
    pattern = _FIN_DATES.get(field.tag)
    match = pattern.fullmatch(field.value) if pattern is not None else None
    if match is not None:
        digits = match[1]
        try:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            pass
    bad(
        "invalid_date",
        f"{field.value[:40]!r} is not a date YYYYMMDD (98A) or date and time (98C)",
        field,
        "",
    )
    return None


def _fin_holdings(
    values: list[_FinValue], account: str, file: str, problems: list[Problem]
) -> list[tuple[str, Holding]]:
    """(account, holding) of each FIN block: inside a SUBSAFE sequence (B1), or standing
    directly after GENL, as FinTS/HBCI banks send a depot statement (no sub-safekeeping)."""
    holdings: list[tuple[str, Holding]] = []
    sub_accounts: dict[int, str] = {}
    blocks: dict[tuple[int, ...], list[_FinValue]] = {}
    misplaced: _FinValue | None = None
    for value in values:
        names = [name for name, _ in value.blocks]
        if names == ["SUBSAFE"] and value.tag == "97A" and value.qualifier == "SAFE":
            sub_accounts[value.blocks[0][1]] = value.value.strip()
        elif names[:2] == ["SUBSAFE", "FIN"] or names[:1] == ["FIN"]:
            depth = 2 if names[0] == "SUBSAFE" else 1
            blocks.setdefault(tuple(n for _, n in value.blocks[:depth]), []).append(value)
        elif misplaced is None and _holds_position(value):
            misplaced = value
    if misplaced is not None:
        where = "/".join(name for name, _ in misplaced.blocks) or "no block"
        reason = (
            f"{misplaced.label} in {where}: holdings are read from FIN blocks after GENL or "
            "inside SUBSAFE, and this statement's are elsewhere"
        )
        problems.append(
            Problem("unsupported_layout", reason, Source(file, misplaced.line, misplaced.label))
        )
    for key, block in blocks.items():
        holding = _fin_holding(block, len(key), file, problems)
        if holding is not None:
            holder = sub_accounts.get(key[0], account) if len(key) == 2 else account
            holdings.append((holder, holding))
    return holdings


def _holds_position(value: _FinValue) -> bool:
    """A field that names a security or its balance (35B, 93B::AGGR), GENL's aside."""
    names = [name for name, _ in value.blocks]
    return names != ["GENL"] and (
        value.tag == "35B" or (value.tag == "93B" and value.qualifier == "AGGR")
    )


def _fin_holding(
    block: list[_FinValue], depth: int, file: str, problems: list[Problem]
) -> Holding | None:
    """The holding of one FIN block; `depth` is how deep the FIN block stands (its own fields
    have that many blocks, those of its SUBBAL blocks more)."""
    security = next((v for v in block if v.tag == "35B" and len(v.blocks) == depth), None)
    balances = [
        v for v in block if v.tag == "93B" and v.qualifier == "AGGR" and len(v.blocks) == depth
    ]
    balance = _fin_balance(balances, file, problems) if balances else None
    if balances and balance is None:
        return None
    first = block[0]
    if security is None or balance is None:
        missing = ":35B:" if security is None else ":93B::AGGR"
        reason = f"a FIN block without {missing}"
        problems.append(Problem("missing_field", reason, Source(file, first.line, missing)))
        return None
    isin = _FIN_ISIN.match(security.value)
    if isin is None:
        reason = "the security is not identified by an ISIN (:35B:ISIN ...)"
        problems.append(Problem("missing_field", reason, Source(file, security.line, ":35B:")))
        return None
    why = _isin_reason(isin[1])
    if why is not None:
        problems.append(Problem("invalid_isin", why, Source(file, security.line, ":35B:")))
        return None
    source = Source(file, balance.line, balance.label)
    quantity = _FIN_QUANTITY.fullmatch(balance.value)
    if quantity is None:
        reason = f"{balance.value[:40]!r} is not UNIT/ or FAMT/ and a number such as 100,"
        problems.append(Problem("invalid_quantity", reason, source))
        return None
    if quantity[1] not in {"UNIT", "FAMT"}:
        reason = f"a quantity as {quantity[1]}: only UNIT (units) or FAMT (face amount) is read"
        problems.append(Problem("unsupported_quantity", reason, source))
        return None
    return Holding(
        isin=isin[1], quantity=_plain(quantity[2] == "N", quantity[3], quantity[4]), source=source
    )


def _fin_balance(balances: list[_FinValue], file: str, problems: list[Problem]) -> _FinValue | None:
    """The :93B::AGGR of a FIN block to read: the one there is, or of a face amount given with
    its amortised value (FAMT and AMOR, debt whose face amortises), the face amount."""
    seen: set[str] = set()
    for balance in balances:
        kind = balance.value.partition("/")[0]
        if kind in seen or len(seen) == 2:
            reason = (
                f":93B::AGGR {kind} appears again: the balance comes once, or as a face amount "
                "(FAMT) and its amortised value (AMOR)"
            )
            problems.append(
                Problem("duplicate_field", reason, Source(file, balance.line, balance.label))
            )
            return None
        seen.add(kind)
    if len(balances) == 1:
        return balances[0]
    by_kind = {balance.value.partition("/")[0]: balance for balance in balances}
    if set(by_kind) != {"FAMT", "AMOR"}:
        second = balances[1]
        reason = (
            f"balances as {' and '.join(by_kind)}: only a face amount (FAMT) and its amortised "
            "value (AMOR) may come together"
        )
        problems.append(
            Problem("unsupported_quantity", reason, Source(file, second.line, second.label))
        )
        return None
    return by_kind["FAMT"]


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
    collected: dict[tuple[str, dt.date], _Collected] = {}
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
                statement = _Collected(
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

    def bad(code: str, reason: str, column: str) -> None:
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
    why = _isin_reason(isin)
    if why is not None:
        bad("invalid_isin", why, "isin")
    number = _CSV_DECIMAL.fullmatch(cell("quantity"))
    if number is None:
        reason = f"{cell('quantity')[:40]!r} is not a quantity such as 100 or -2500.5"
        bad("invalid_quantity", reason, "quantity")
    if len(problems) > errors or as_of is None or number is None:
        return None
    quantity = _plain(number[1] == "-", number[2], number[3])
    return account, as_of, Holding(isin, quantity, Source(file, line, "quantity"))
