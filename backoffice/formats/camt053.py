"""Bank statements in ISO 20022 camt.053 (BankToCustomerStatement), versions .001.02 to .001.08.

A file is one `Document`; the namespace tells the version. It is parsed with defusedxml
(`xml_reading`), which refuses a DTD, an entity or an external reference before anything is expanded
(`unsafe_xml`), and .02, .03, .04 and .08 are validated against their official schemas in `schemas/`
(`schema_invalid`, the XPath as the field). camt.053.001.05 to .07 have no schema here: they are
read with the structure they share with .04 and .08 (an entry status as a plain code or as Sts/Cd),
and only what this reader takes from them is checked: every element it needs is there, amounts are
xs:decimal with at most 5 decimals and 18 digits, currencies three capitals, credit and debit
indicators CRDT or DBIT, dates ISO dates. Other versions are `unsupported_version`.

A bank statement is all or nothing: any problem refuses the whole file with a `ProblemError`
listing every problem found (schema errors up to `schema_errors_max`, then the reader's own up
to `problems_max`), each with a stable code and its source (file, line, XPath).

One `Statement` per BkToCstmrStmt/Stmt:
- statement_id Stmt/Id; account Acct/Id/IBAN, else Acct/Id/Othr/Id (account_source is where it
  was read); currency Acct/Ccy, else the Ccy of the opening (else the closing) balance;
  created_at GrpHdr/CreDtTm (naive when it has no offset); sequence ElctrncSeqNb, else
  LglSeqNb.
- opening balance: the Bal of type OPBD, else PRCD (previously closed booked), and then the
  closing is CLBD. A statement with neither may still close booked, on CLBD (issue 10 reports
  Deutsche Bank and ING statements holding only CLBD and CLAV); else it takes OPAV and CLAV
  (some banks report only available balances, and their lines add up to them); else its
  interim booked balance ITBD closes it. Without an opening balance the statement is read with
  none (opening_balance and opening_date None) rather than refused: its lines are reconciled,
  and the service raises a balance break saying the bank gave no opening. A booked opening
  without CLBD, or no closing balance at all, is `missing_balance`; two of the type used,
  `duplicate_balance`. Balances are signed by CdtDbtInd (DBIT negative) and dated by
  Dt/Dt or the date of Dt/DtTm. A balance's Ccy is not compared with the account's: it is
  compared with the ledger's balance as a whole, where a mismatch shows as a balance break (and
  schema-valid files, the reference samples among them, carry test currencies there).
- The lines are not required to add up to closing minus opening (a bank may leave an entry
  booked for a later value date out of its booked balance): the reconciliation compares them.

Lines. Each booked entry (Sts BOOK, or Sts/Cd BOOK from .08 on) gives lines; pending,
information-only and future entries (PDNG, INFO, FUTR) are not booked and are skipped without a
problem; any other status (a proprietary one) is `unsupported_entry_status`. An entry is one
line, unless its NtryDtls hold several TxDtls (a batch) that each carry an amount (TxDtls/Amt,
else AmtDtls/TxAmt/Amt) in the entry's currency and, signed by their own CdtDbtInd (else the
entry's), add up exactly to the entry: then one line per TxDtls with its own amount. When they
do not add up the entry stays one line: its amount is what the bank booked.
- amount: the entry's (or TxDtls') Amt, a plain decimal string exactly as written but for
  xs:decimal's lexical freedom ("+5", ".5", "5.", "007" read "5", "0.5", "5", "7"): "1234.5"
  stays "1234.5" and "0.00001" keeps its five decimals; positive for a credit, negative for a
  debit. CdtDbtInd is the direction booked, so a reversal (RvslInd) needs no sign of its own.
  An entry in another currency than the statement's is `currency_mismatch`: it would be matched
  at the wrong scale.
- value_date ValDt (Dt, or the date of DtTm as written, in the bank's zone), else the booking
  date; booking_date BookgDt, the same way. An entry with neither is `missing_field`.
- references, most specific first, without blanks, duplicates or "NOTPROVIDED", at most
  `references_per_line_max`: TxDtls/Refs/EndToEndId, AcctSvcrRef (TxDtls/Refs, then the
  entry's), Refs/InstrId, Refs/MsgId, RmtInf/Ustrd (each), RmtInf/Strd/CdtrRefInf/Ref; from the
  line's own TxDtls for a batch line, from all of the entry's for an entry line.
- description: AddtlNtryInf, else AddtlTxInf, else the remittance information (the Ustrd lines,
  else the creditor references); a batch line puts its own AddtlTxInf and remittance
  information before the entry's AddtlNtryInf. Spaces are collapsed; at most
  `description_chars_max` characters.
- raw: the entry's XML text exactly as in the file (each line of a batch keeps the whole entry).
- source: the file, the line of the Ntry (or TxDtls) element and its XPath as the field
  ("/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]").

Whole-file problems: `unreadable_file`, `file_too_large`, `binary_file`, `not_utf8` (ISO 20022
files are UTF-8), `empty_file`, `unrecognised_format` (not XML), `malformed_xml`, `unsafe_xml`,
`unsupported_message` (not a camt.053 Document), `unsupported_version`, `schema_invalid`.
The reader's own: `missing_field`, `invalid_amount`, `invalid_currency`, `invalid_field`,
`invalid_date`, `missing_balance`, `duplicate_balance`, `currency_mismatch`,
`unsupported_entry_status`, `too_many_problems` (the last, when more were found than listed).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import xmlschema

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import read_content
from backoffice.formats.settlement_status import _text, xml_depth_max
from backoffice.formats.xml_reading import (
    LineRecordingBuilder,
    ParsedDocument,
    ParsePosition,
    local_name,
    namespace_of,
    parse_document,
    schema_problems,
    unsupported_document,
    xs_decimal,
)
from backoffice.money import is_zero
from backoffice.recon.model import Statement, StatementFormat, StatementLine

__all__ = [
    "CAMT053_NAMESPACE_PREFIX",
    "SCHEMA_VERSIONS",
    "SUPPORTED_VERSIONS",
    "description_chars_max",
    "file_bytes_max",
    "problems_max",
    "read_camt053",
    "references_per_line_max",
    "schema_errors_max",
    "statement_schema",
]

# A month of a busy account's statements. The whole tree is held in memory, and the schema check
# (pure Python) takes about 0.6 ms an entry: some 2 minutes for a file this size.
file_bytes_max = 64 * 1024 * 1024
schema_errors_max = 20  # the rest add nothing a person can act on
problems_max = 100
references_per_line_max = 50
description_chars_max = 1_000
reason_chars_max = 500
amount_digits_max = 18  # ActiveOrHistoricCurrencyAndAmount: totalDigits 18, fractionDigits 5
amount_decimals_max = 5

CAMT053_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
SUPPORTED_VERSIONS = ("02", "03", "04", "05", "06", "07", "08")
SCHEMA_VERSIONS = ("02", "03", "04", "08")  # the others are read without a schema

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.([0-9]{2})")
_CURRENCY = re.compile(r"[A-Z]{3}")
_ISO_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_ISO_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T[0-9:.]+(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_STATEMENT = "/Document/BkToCstmrStmt"
_BOOKED = "BOOK"
_NOT_BOOKED = frozenset({"PDNG", "INFO", "FUTR"})
_NOT_A_REFERENCE = "NOTPROVIDED"
_INDICATORS = frozenset({"CRDT", "DBIT"})


@functools.cache
def statement_schema(version: str) -> xmlschema.XMLSchema | None:
    """The compiled official schema of camt.053.001.`version` ("02"), or None when this package
    holds none (05 to 07). Compiled once, on first use."""
    if version not in SCHEMA_VERSIONS:
        return None
    return xmlschema.XMLSchema(Path(__file__).parent / "schemas" / f"camt.053.001.{version}.xsd")


def read_camt053(path: Path) -> list[Statement]:
    """Every statement of the camt.053 file `path`, in file order.

    Raises `ProblemError` listing every problem when any part of the file cannot be read: a
    statement is imported whole or not at all (see the module's documentation for the codes).
    """
    file = str(path)
    text = _text(read_content(path, file_bytes_max), file)
    if not text.strip():
        raise ProblemError(Problem("empty_file", "the file holds no statement", Source(file)))
    if not text.lstrip().startswith("<"):
        raise ProblemError(
            Problem(
                "unrecognised_format",
                "not an ISO 20022 XML document (starting with '<')",
                Source(file, 1),
            )
        )
    parsed = parse_document(text, file, _EntryRecordingBuilder, xml_depth_max)
    if isinstance(parsed, Problem):
        raise ProblemError(parsed)
    root, builder = parsed
    version = _version(root, builder.lines, file)
    namespace = f"{CAMT053_NAMESPACE_PREFIX}{version}"
    schema = statement_schema(version)
    if schema is not None:
        invalid = schema_problems(
            schema,
            root,
            builder.lines,
            file,
            errors_max=schema_errors_max,
            reason_chars_max=reason_chars_max,
            namespaces_in_reason=False,
        )
        if invalid:
            raise ProblemError(*invalid)
    document = ParsedDocument(namespace, builder.lines, file)
    reader = _Reader(document, text.encode("utf-8"), builder.spans)
    statements = reader.statements(root)
    if reader.problems:
        problems = reader.problems[:problems_max]
        if len(reader.problems) > problems_max:
            reason = f"{len(reader.problems) - problems_max} more problems not listed"
            problems.append(Problem("too_many_problems", reason, Source(file)))
        raise ProblemError(*problems)
    return statements


# Parsing --------------------------------------------------------------------------------------


class _EntryRecordingBuilder(LineRecordingBuilder):
    """Builds the tree with each element's line, and each entry's span of bytes in the file:
    from its start tag to the start of its end tag."""

    def __init__(self, position: ParsePosition, depth_max: int) -> None:
        super().__init__(position, depth_max)
        self.spans: dict[ElementTree.Element, tuple[int, int]] = {}
        self._starts: dict[ElementTree.Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str], /) -> ElementTree.Element:
        element = super().start(tag, attrs)
        if local_name(tag) == "Ntry":
            self._starts[element] = self.position.byte_now()
        return element

    def end(self, tag: str, /) -> ElementTree.Element:
        element = super().end(tag)
        start = self._starts.pop(element, None)
        if start is not None:
            self.spans[element] = (start, self.position.byte_now())
        return element


def _version(root: ElementTree.Element, lines: dict[ElementTree.Element, int], file: str) -> str:
    """The camt.053 version of the document ("02"), or a `ProblemError`."""
    match = _NAMESPACE.fullmatch(namespace_of(root.tag))
    if local_name(root.tag) != "Document" or match is None:
        expected = f"{CAMT053_NAMESPACE_PREFIX}02 to 08"
        raise ProblemError(unsupported_document(root, lines, file, expected))
    if match[1] not in SUPPORTED_VERSIONS:
        raise ProblemError(
            Problem(
                "unsupported_version",
                f"camt.053.001.{match[1]}: versions .02 to .08 are read",
                Source(file, lines.get(root, 1), f"/{local_name(root.tag)}"),
            )
        )
    return match[1]


# Reading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Balance:
    amount: str  # signed
    currency: str
    date: dt.date


@dataclass(frozen=True, slots=True)
class _Part:
    """What one statement line is read from: an entry, or one TxDtls of a batch entry."""

    amount: str  # signed
    transactions: tuple[ElementTree.Element, ...]
    element: ElementTree.Element
    xpath: str
    is_batch_line: bool


class _Reader:
    """Reads a schema-checked document's statements, collecting every problem found."""

    def __init__(
        self,
        document: ParsedDocument,
        content: bytes,
        spans: dict[ElementTree.Element, tuple[int, int]],
    ) -> None:
        self.document = document
        self.content = content
        self.spans = spans
        self.problems: list[Problem] = []

    def bad(
        self, code: ErrorCode, reason: str, element: ElementTree.Element | None, xpath: str
    ) -> None:
        self.problems.append(Problem(code, reason, self.document.source(element, xpath)))

    def required(self, parent: ElementTree.Element, path: str, xpath: str) -> str | None:
        """The text of `path` under `parent`, or None and `missing_field` when absent or blank."""
        found = self.document.text(parent, path)
        if not found:
            self.bad("missing_field", f"{path} is required", parent, f"{xpath}/{path}")
            return None
        return found

    def statements(self, root: ElementTree.Element) -> list[Statement]:
        document = self.document
        message = document.find(root, "BkToCstmrStmt")
        if message is None:
            self.bad("missing_field", "BkToCstmrStmt is required", root, "/Document")
            return []
        created_at = self.date_time(message, "GrpHdr/CreDtTm", _STATEMENT)
        statements: list[Statement] = []
        found = document.findall(message, "Stmt")
        if not found:
            self.bad("missing_field", "a statement (Stmt) is required", message, _STATEMENT)
        for index, element in enumerate(found, start=1):
            statement = self.statement(element, f"{_STATEMENT}/Stmt[{index}]", created_at)
            if statement is not None:
                statements.append(statement)
        return statements

    def statement(
        self, element: ElementTree.Element, xpath: str, created_at: dt.datetime | None
    ) -> Statement | None:
        document = self.document
        problems_before = len(self.problems)
        statement_id = self.required(element, "Id", xpath)
        account_path = next(
            (path for path in ("Acct/Id/IBAN", "Acct/Id/Othr/Id") if document.text(element, path)),
            None,
        )
        account = document.text(element, account_path) if account_path else None
        if not account:
            reason = "the account's Acct/Id/IBAN or Acct/Id/Othr/Id is required"
            self.bad("missing_field", reason, document.find(element, "Acct"), f"{xpath}/Acct/Id")
        sequence = document.text(element, "ElctrncSeqNb") or document.text(element, "LglSeqNb")
        opening, closing = self.balances(element, xpath)
        currency = document.text(element, "Acct/Ccy")
        if currency is not None and not _CURRENCY.fullmatch(currency):
            reason = f"{currency!r} is not a three-letter currency code"
            self.bad("invalid_currency", reason, element, f"{xpath}/Acct/Ccy")
            currency = None
        elif currency is None:
            balance = opening or closing
            currency = balance.currency if balance is not None else None
        lines: list[StatementLine] = []
        for index, entry in enumerate(document.findall(element, "Ntry"), start=1):
            lines.extend(self.entry_lines(entry, f"{xpath}/Ntry[{index}]", currency))
        if (
            len(self.problems) > problems_before
            or statement_id is None
            or not account
            or currency is None
            or account_path is None
            or closing is None
        ):
            return None
        return Statement(
            statement_id=statement_id,
            format=StatementFormat.CAMT053,
            account=account,
            currency=currency,
            opening_balance=opening.amount if opening is not None else None,
            opening_date=opening.date if opening is not None else None,
            closing_balance=closing.amount,
            closing_date=closing.date,
            lines=tuple(lines),
            source=document.source(element, xpath),
            created_at=created_at,
            sequence=sequence,
            account_source=document.source(
                document.find(element, account_path), f"{xpath}/{account_path}"
            ),
        )

    def balances(
        self, statement: ElementTree.Element, xpath: str
    ) -> tuple[_Balance | None, _Balance | None]:
        by_code: dict[str, list[tuple[ElementTree.Element, str]]] = {}
        for index, element in enumerate(self.document.findall(statement, "Bal"), start=1):
            code = self.document.text(element, "Tp/CdOrPrtry/Cd")
            if code:
                by_code.setdefault(code, []).append((element, f"{xpath}/Bal[{index}]"))
        opening_code: str | None = next((c for c in ("OPBD", "PRCD") if c in by_code), None)
        if opening_code is not None:
            closing_code = "CLBD"  # a booked opening closes booked: the lines lead to it
        elif "CLBD" in by_code:
            closing_code = "CLBD"
        elif "CLAV" in by_code or "OPAV" in by_code:
            opening_code = "OPAV" if "OPAV" in by_code else None
            closing_code = "CLAV"
        else:
            closing_code = "ITBD"
        if closing_code not in by_code:
            reason = (
                "no closing balance: a statement opening booked (OPBD, PRCD) needs CLBD"
                if opening_code in {"OPBD", "PRCD"}
                else "no closing balance: the statement holds no CLBD, CLAV or ITBD"
            )
            self.bad("missing_balance", reason, statement, f"{xpath}/Bal")
        # No opening at all (a bank sending only closing balances) is no problem here: the
        # statement's lines are still reconciled, and the service reports the missing opening.
        opening = self.balance(by_code, opening_code) if opening_code else None
        closing = self.balance(by_code, closing_code)
        return opening, closing

    def balance(
        self, by_code: dict[str, list[tuple[ElementTree.Element, str]]], code: str
    ) -> _Balance | None:
        found = by_code.get(code, [])
        if not found:
            return None
        element, xpath = found[0]
        if len(found) > 1:
            reason = (
                f"{len(found)} balances of type {code}: which one the statement means is unsaid"
            )
            self.bad("duplicate_balance", reason, found[1][0], found[1][1])
            return None
        amount = self.amount(element, xpath)
        indicator = self.indicator(element, xpath)
        date = self.date(element, "Dt", xpath, required=True)
        if amount is None or indicator is None or date is None:
            return None
        return _Balance(_signed(amount[0], indicator), amount[1], date)

    def amount(self, parent: ElementTree.Element, xpath: str) -> tuple[str, str] | None:
        """(plain unsigned decimal, currency) of `parent`/Amt."""
        element = self.document.find(parent, "Amt")
        path = f"{xpath}/Amt"
        if element is None:
            self.bad("missing_field", "Amt is required", parent, path)
            return None
        text = (element.text or "").strip()
        amount = xs_decimal(text)
        if amount is None or not _within_digits(amount):
            reason = (
                f"{text[:40]!r} is not an amount: a decimal of at most {amount_digits_max} digits"
                f" and {amount_decimals_max} decimals, not negative"
            )
            self.bad("invalid_amount", reason, element, path)
            return None
        currency = (element.get("Ccy") or "").strip()
        if not _CURRENCY.fullmatch(currency):
            reason = f"the Ccy {currency[:8]!r} is not a three-letter currency code"
            self.bad("invalid_currency", reason, element, f"{path}/@Ccy")
            return None
        return amount, currency

    def indicator(self, parent: ElementTree.Element, xpath: str) -> str | None:
        found = self.required(parent, "CdtDbtInd", xpath)
        if found is not None and found not in _INDICATORS:
            reason = f"{found[:8]!r} is not CRDT or DBIT"
            self.bad("invalid_field", reason, parent, f"{xpath}/CdtDbtInd")
            return None
        return found

    def date(
        self, parent: ElementTree.Element, path: str, xpath: str, *, required: bool
    ) -> dt.date | None:
        """The date of `parent`/`path`, a choice of Dt (an ISO date) or DtTm (its date as
        written: the bank's own day)."""
        holder = self.document.find(parent, path)
        if holder is None or len(holder) == 0:
            if required:
                self.bad("missing_field", f"{path}/Dt or {path}/DtTm is required", parent, xpath)
            return None
        choice = holder[0]
        name = local_name(choice.tag)
        text = (choice.text or "").strip()
        pattern = _ISO_DATE if name == "Dt" else _ISO_DATE_TIME if name == "DtTm" else None
        match = pattern.fullmatch(text) if pattern is not None else None
        try:
            if match is not None:
                return dt.date.fromisoformat(match[1])
        except ValueError:
            pass
        reason = f"{text[:40]!r} is not an ISO date (Dt) or date and time (DtTm)"
        self.bad("invalid_date", reason, choice, f"{xpath}/{path}/{name}")
        return None

    def date_time(self, parent: ElementTree.Element, path: str, xpath: str) -> dt.datetime | None:
        text = self.required(parent, path, xpath)
        if text is None:
            return None
        try:
            if _ISO_DATE_TIME.fullmatch(text):
                return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        reason = f"{text[:40]!r} is not an ISO date and time"
        self.bad("invalid_date", reason, self.document.find(parent, path), f"{xpath}/{path}")
        return None

    # Entries ----------------------------------------------------------------------------------

    def entry_lines(
        self, entry: ElementTree.Element, xpath: str, currency: str | None
    ) -> list[StatementLine]:
        document = self.document
        status = document.text(entry, "Sts") or document.text(entry, "Sts/Cd")
        if status in _NOT_BOOKED:
            return []
        if status != _BOOKED:
            shown = status or "proprietary"
            reason = f"entry status {shown[:35]!r}: only booked (BOOK) entries are statement lines"
            self.bad("unsupported_entry_status", reason, entry, f"{xpath}/Sts")
            return []
        amount = self.amount(entry, xpath)
        indicator = self.indicator(entry, xpath)
        booking_date = self.date(entry, "BookgDt", xpath, required=False)
        value_date = self.date(entry, "ValDt", xpath, required=False) or booking_date
        if value_date is None and not self.has_date(entry):
            reason = "a booked entry needs its value date (ValDt) or booking date (BookgDt)"
            self.bad("missing_field", reason, entry, f"{xpath}/ValDt")
        if amount is not None and currency is not None and amount[1] != currency:
            reason = f"an entry in {amount[1]} on a statement in {currency}"
            self.bad("currency_mismatch", reason, document.find(entry, "Amt"), f"{xpath}/Amt")
            return []
        if amount is None or indicator is None or value_date is None:
            return []
        raw = self.raw(entry)
        return [
            StatementLine(
                amount=part.amount,
                value_date=value_date,
                booking_date=booking_date,
                references=self.references(entry, part.transactions),
                description=self.description(entry, part),
                source=document.source(part.element, part.xpath),
                raw=raw,
            )
            for part in self.parts(entry, xpath, _signed(amount[0], indicator), amount[1])
        ]

    def has_date(self, entry: ElementTree.Element) -> bool:
        """Whether the entry holds a ValDt or BookgDt at all (a bad one is already reported)."""
        return any(self.document.find(entry, path) is not None for path in ("ValDt", "BookgDt"))

    def parts(
        self, entry: ElementTree.Element, xpath: str, amount: str, currency: str
    ) -> list[_Part]:
        """One part for the entry, or one per TxDtls of a batch whose amounts add up to it."""
        document = self.document
        transactions: list[tuple[ElementTree.Element, str]] = []
        for details_index, details in enumerate(document.findall(entry, "NtryDtls"), start=1):
            for index, transaction in enumerate(document.findall(details, "TxDtls"), start=1):
                path = f"{xpath}/NtryDtls[{details_index}]/TxDtls[{index}]"
                transactions.append((transaction, path))
        whole = _Part(amount, tuple(t for t, _ in transactions), entry, xpath, False)
        if len(transactions) < 2:
            return [whole]
        parts: list[_Part] = []
        for transaction, path in transactions:
            own = self.transaction_amount(transaction, path)
            if own is None or own[1] != currency:
                return [whole]
            indicator = document.text(transaction, "CdtDbtInd")
            if indicator not in _INDICATORS:
                indicator = "DBIT" if amount.startswith("-") else "CRDT"
            signed = _signed(own[0], indicator)
            parts.append(_Part(signed, (transaction,), transaction, path, True))
        if sum(Decimal(part.amount) for part in parts) != Decimal(amount):
            return [whole]
        return parts

    def transaction_amount(
        self, transaction: ElementTree.Element, xpath: str
    ) -> tuple[str, str] | None:
        """A TxDtls' own amount: its Amt (from .03 on), else AmtDtls/TxAmt/Amt; None if none."""
        if self.document.find(transaction, "Amt") is not None:
            return self.amount(transaction, xpath)
        held = self.document.find(transaction, "AmtDtls/TxAmt")
        if held is None:
            return None
        return self.amount(held, f"{xpath}/AmtDtls/TxAmt")

    def references(
        self, entry: ElementTree.Element, transactions: tuple[ElementTree.Element, ...]
    ) -> tuple[str, ...]:
        document = self.document
        found: list[str | None] = []
        found.extend(document.text(t, "Refs/EndToEndId") for t in transactions)
        found.extend(document.text(t, "Refs/AcctSvcrRef") for t in transactions)
        found.append(document.text(entry, "AcctSvcrRef"))
        found.extend(document.text(t, "Refs/InstrId") for t in transactions)
        found.extend(document.text(t, "Refs/MsgId") for t in transactions)
        for transaction in transactions:
            found.extend(_texts(document.findall(transaction, "RmtInf/Ustrd")))
        for transaction in transactions:
            found.extend(_texts(document.findall(transaction, "RmtInf/Strd/CdtrRefInf/Ref")))
        references: dict[str, None] = {}
        for reference in found:
            if reference and reference != _NOT_A_REFERENCE:
                references.setdefault(reference, None)
        return tuple(references)[:references_per_line_max]

    def description(self, entry: ElementTree.Element, part: _Part) -> str:
        document = self.document
        own: list[str] = []
        for transaction in part.transactions:
            own.extend(_texts(document.findall(transaction, "AddtlTxInf")))
        remittance: list[str] = []
        for transaction in part.transactions:
            remittance.extend(_texts(document.findall(transaction, "RmtInf/Ustrd")))
        if not remittance:
            for transaction in part.transactions:
                path = "RmtInf/Strd/CdtrRefInf/Ref"
                remittance.extend(_texts(document.findall(transaction, path)))
        entry_information = _texts(document.findall(entry, "AddtlNtryInf"))
        if part.is_batch_line:
            choices = (own, remittance, entry_information)
        else:
            choices = (entry_information, own, remittance)
        chosen = next((texts for texts in choices if texts), [])
        return " ".join(" ".join(chosen).split())[:description_chars_max]

    def raw(self, entry: ElementTree.Element) -> str:
        span = self.spans.get(entry)
        if span is None:
            return ElementTree.tostring(entry, encoding="unicode")
        start, end_tag = span
        end = self.content.find(b">", end_tag) + 1
        return self.content[start:end].decode("utf-8")


def _texts(elements: list[ElementTree.Element]) -> list[str]:
    return [text for element in elements if (text := (element.text or "").strip())]


def _signed(amount: str, indicator: str) -> str:
    """A plain unsigned decimal with the sign of a credit (none) or a debit ("-"); zero has none."""
    return f"-{amount}" if indicator == "DBIT" and not is_zero(amount) else amount


def _within_digits(amount: str) -> bool:
    whole, _, fraction = amount.partition(".")
    digits = len(whole.lstrip("0")) + len(fraction)
    return len(fraction) <= amount_decimals_max and digits <= amount_digits_max
