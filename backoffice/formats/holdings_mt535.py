"""SWIFT MT535 statements of holdings, enveloped or bare text blocks, read for `holdings`
(whose documentation describes the format and its problem codes)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.holdings_statement import (
    CollectedStatement,
    account_chars_max,
    isin_reason,
    plain_decimal,
)
from backoffice.formats.mt940 import FinField, fin_fields, fin_messages
from backoffice.recon.model import Holding, HoldingsStatement, StatementFormat

__all__ = ["read_mt535"]

_FIN_GENERIC = re.compile(r":([A-Z0-9]{4})/([A-Za-z0-9]{0,8})/(.*)", re.DOTALL)
_FIN_UNQUALIFIED = frozenset({"16R", "16S", "23G", "28E", "35B"})
_FIN_PAGE = re.compile(r"([0-9]{1,5})/(ONLY|MORE|LAST)")
_FIN_QUANTITY = re.compile(r"([A-Z]{4})/(N?)([0-9]+),([0-9]*)")
_FIN_ISIN = re.compile(r"ISIN ([A-Z0-9]{12})")
_FIN_DATES = {"98A": re.compile(r"([0-9]{8})"), "98C": re.compile(r"([0-9]{8})[0-9]{6}")}


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
    collected: CollectedStatement


def read_mt535(text: str, file: str) -> tuple[list[HoldingsStatement], list[Problem]]:
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

    def bad(code: ErrorCode, reason: str, at: _FinValue | None, label: str) -> None:
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
    collected = CollectedStatement(
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
    field: _FinValue | None, bad: Callable[[ErrorCode, str, _FinValue | None, str], None]
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
    why = isin_reason(isin[1])
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
        isin=isin[1],
        quantity=plain_decimal(quantity[2] == "N", quantity[3], quantity[4]),
        source=source,
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
