"""The reference-data file, YAML or CSV (see README "Reference data file").

YAML:
    assets:   [{code: USD, kind: currency, scale: 2}, ...]
    parties:  [{code: C0001, kind: client, name: Ada Client}]
    accounts: [{code: client/C0001/cash/USD, type: liability, asset: USD, owner: C0001,
                flags: [debits_must_not_exceed_credits], external_account: ..., status: open}]

CSV: one row per record with a `record` column (asset, party or account) and the same fields;
`flags` separated by `;`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from backoffice.admin.approval_policy import ApprovalPolicy, Rule
from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.yaml_document import LINE_KEY, load_yaml
from backoffice.refdata.model import (
    Account,
    AccountFlag,
    AccountStatus,
    AccountType,
    Asset,
    AssetKind,
    CommissionTerms,
    FeeRateDefinition,
    Party,
    PartyKind,
    RegulatoryFeeName,
    StandingInstruction,
    currency_minor_units,
)

file_bytes_max = 64 * 1024 * 1024
records_max = 1_000_000


@dataclass(slots=True)
class RefdataFile:
    assets: list[Asset] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    ssis: list[StandingInstruction] = field(default_factory=list)
    fee_rates: list[FeeRateDefinition] = field(default_factory=list)
    approval_policies: list[ApprovalPolicy] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Where each record came from, by section and code, so later problems can name the line.
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)

    def source_of(self, section: str, code: str) -> Source:
        return self.sources.get((section, code), Source())


def read_refdata(path: Path) -> RefdataFile:
    text = read_refdata_text(path)
    if isinstance(text, RefdataFile):
        return text
    return parse_refdata(text, str(path), csv_format=path.suffix.lower() == ".csv")


def read_refdata_text(path: Path) -> str | RefdataFile:
    """The file's text, or a `RefdataFile` holding why it cannot be read."""
    try:
        # The one bounded read and decoding of every reader (no latin-1 guess: reference
        # data names people and firms, and a wrong guess would store them misspelt).
        return decode_text(read_content(path, file_bytes_max), str(path), latin1_fallback=False)
    except ProblemError as error:
        return RefdataFile(problems=list(error.problems))


def parse_refdata(text: str, name: str, *, csv_format: bool) -> RefdataFile:
    """A reference-data file's records from its text (kept with an approval, and parsed again
    when the change is approved)."""
    return _from_csv(text, name) if csv_format else _from_yaml(text, name)


def _from_yaml(text: str, name: str) -> RefdataFile:
    try:
        document = load_yaml(text, name)
    except ProblemError as error:
        return RefdataFile(problems=list(error.problems))
    result = RefdataFile()
    if document is None:
        return result
    if not isinstance(document, dict):
        result.problems.append(
            Problem("malformed_file", "expected a mapping of sections", Source(name, 1))
        )
        return result
    unknown = set(document) - {*SECTIONS, LINE_KEY}
    for section in sorted(unknown):
        result.problems.append(
            Problem("unknown_section", f"unknown section {section!r}", Source(name, field=section))
        )
    for section, reader in SECTIONS.items():
        items = document.get(section) or []
        if not isinstance(items, list):
            result.problems.append(
                Problem("malformed_file", f"{section} must be a list", Source(name, field=section))
            )
            continue
        if len(items) > records_max:
            result.problems.append(Problem("too_many_records", f"over {records_max}", Source(name)))
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                result.problems.append(
                    Problem(
                        "malformed_record",
                        "expected a mapping",
                        Source(name, field=f"{section}[{index}]"),
                    )
                )
                continue
            _read_record(result, reader, item, Source(name, item.pop(LINE_KEY, None)), section)
    return result


def _from_csv(text: str, name: str) -> RefdataFile:
    result = RefdataFile()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "record" not in reader.fieldnames:
        result.problems.append(
            Problem("missing_column", "CSV needs a 'record' column", Source(name, 1))
        )
        return result
    readers = {
        "asset": (_asset, "assets"),
        "party": (_party, "parties"),
        "account": (_account, "accounts"),
        "ssi": (_ssi, "ssis"),
        "fee_rate": (_fee_rate, "fee_rates"),
    }
    for count, row in enumerate(reader, start=1):
        # The physical line where the row ends: right after blank lines and quoted newlines.
        number = reader.line_num
        if count > records_max:
            result.problems.append(Problem("too_many_records", f"over {records_max}", Source(name)))
            break
        if None in row:
            result.problems.append(
                Problem("malformed_row", "more cells than columns", Source(name, number))
            )
            continue
        record = (row.pop("record") or "").strip()
        item: dict[str, Any] = {
            k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""
        }
        if "flags" in item:
            item["flags"] = [f.strip() for f in item["flags"].split(";") if f.strip()]
        if "scale" in item:
            item["scale"] = _integer(item["scale"])
        if "allocates" in item:
            item["allocates"] = {"true": True, "false": False}.get(
                item["allocates"].lower(), item["allocates"]
            )
        terms = {
            name.removeprefix("commission_"): item.pop(name)
            for name in list(item)
            if name.startswith("commission_")
        }
        if terms:
            item["commission"] = terms
        if record not in readers:
            result.problems.append(
                Problem(
                    "unknown_record",
                    f"record must be asset, party, account, ssi or fee_rate, got {record!r}",
                    Source(name, number, "record"),
                )
            )
            continue
        reader_function, section = readers[record]
        _read_record(result, reader_function, item, Source(name, number), section)
    return result


SECTIONS: dict[str, Any] = {}  # filled below, once the readers are defined
SINGULAR = {
    "assets": "asset",
    "parties": "party",
    "accounts": "account",
    "ssis": "ssi",
    "fee_rates": "fee rate",
    "approval_policies": "approval policy",
}


def _integer(text: str) -> object:
    # [0-9], not str.isdigit(): that also accepts "²", which int() then refuses.
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text


class _RecordError(Exception):
    def __init__(self, code: ErrorCode, reason: str, field: str) -> None:
        super().__init__(reason)
        self.problem = Problem(code, reason, Source(field=field))


def _read_record(
    result: RefdataFile, reader: Any, item: dict[str, Any], source: Source, section: str
) -> None:
    try:
        value = reader(item)
    except _RecordError as bad:
        result.problems.append(bad.problem.with_source(source))
        return
    key = (section, value.code)
    if key in result.sources:
        first = result.sources[key]
        result.problems.append(
            Problem(
                "duplicate_record",
                f"{SINGULAR[section]} {value.code!r} is already defined on line {first.line}",
                Source(field="code"),
            ).with_source(source)
        )
        return
    result.sources[key] = source
    getattr(result, section).append(value)


def _text(item: dict[str, Any], field: str, *, required: bool = True, default: str = "") -> str:
    value = item.get(field)
    if value is None:
        if required:
            raise _RecordError("missing_field", f"{field} is required", field)
        return default
    if not isinstance(value, str):
        raise _RecordError(
            "invalid_field", f"{field} must be text (quote it), got {type(value).__name__}", field
        )
    return value


def _choice(item: dict[str, Any], field: str, enum: Any, default: Any = None) -> Any:
    value = item.get(field)
    if value is None and default is not None:
        return default
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise _RecordError(
            "invalid_field", f"{field} must be one of {allowed}; got {value!r}", field
        ) from None


def _check_fields(item: dict[str, Any], allowed: set[str]) -> None:
    for name in item:
        if name not in allowed:
            raise _RecordError("unknown_field", f"unknown field {name!r}", str(name))


def _asset(item: dict[str, Any]) -> Asset:
    _check_fields(
        item, {"code", "kind", "scale", "name", "cusip", "market", "currency", "asset_class"}
    )
    code = _text(item, "code")
    kind = _choice(item, "kind", AssetKind)
    scale = item.get("scale")
    if scale is None and kind is AssetKind.CURRENCY:
        scale = currency_minor_units(code)
    if scale is None:
        raise _RecordError("missing_field", "scale is required for a security", "scale")
    if not isinstance(scale, int) or isinstance(scale, bool):
        raise _RecordError("invalid_field", f"scale must be a whole number, got {scale!r}", "scale")
    cusip = _text(item, "cusip", required=False) or None
    return Asset(
        code=code,
        kind=kind,
        scale=scale,
        name=_text(item, "name", required=False),
        cusip=cusip,
        market=_text(item, "market", required=False) or None,
        currency=_text(item, "currency", required=False) or None,
        asset_class=_text(item, "asset_class", required=False) or None,
    )


def _party(item: dict[str, Any]) -> Party:
    _check_fields(item, {"code", "kind", "name", "allocates", "commission"})
    allocates = item.get("allocates", False)
    if not isinstance(allocates, bool):
        raise _RecordError("invalid_field", "allocates must be true or false", "allocates")
    commission = item.get("commission")
    terms = None
    if commission is not None:
        if not isinstance(commission, dict):
            raise _RecordError(
                "invalid_field",
                "commission must be a mapping {currency, per_share, bps, minimum}",
                "commission",
            )
        commission.pop(LINE_KEY, None)
        _check_fields(commission, {"currency", "per_share", "bps", "minimum"})
        terms = CommissionTerms(
            currency=_text(commission, "currency"),
            per_share=_text(commission, "per_share", required=False, default="0"),
            bps=_text(commission, "bps", required=False, default="0"),
            minimum=_text(commission, "minimum", required=False, default="0"),
        )
    return Party(
        code=_text(item, "code"),
        kind=_choice(item, "kind", PartyKind),
        name=_text(item, "name", required=False),
        allocates=allocates,
        commission=terms,
    )


def _ssi(item: dict[str, Any]) -> StandingInstruction:
    _check_fields(item, {"party", "market", "place_of_settlement", "agent", "safekeeping_account"})
    return StandingInstruction(
        party=_text(item, "party"),
        market=_text(item, "market"),
        place_of_settlement=_text(item, "place_of_settlement"),
        agent=_text(item, "agent"),
        safekeeping_account=_text(item, "safekeeping_account"),
    )


def _approval_policy(item: dict[str, Any]) -> ApprovalPolicy:
    _check_fields(item, {"permission", "rule", "approvers", "sections", "amounts"})
    approvers = item.get("approvers", 1)
    if not isinstance(approvers, int) or isinstance(approvers, bool):
        raise _RecordError("invalid_field", "approvers must be a whole number", "approvers")
    sections = item.get("sections", [])
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise _RecordError("invalid_field", "sections must be a list of section names", "sections")
    amounts = item.get("amounts", {})
    if isinstance(amounts, dict):
        amounts = {asset: amount for asset, amount in amounts.items() if asset != LINE_KEY}
    if not isinstance(amounts, dict) or not all(
        isinstance(v, str) and isinstance(k, str) for k, v in amounts.items()
    ):
        raise _RecordError(
            "invalid_field", 'amounts: a mapping of asset to a quoted amount ("1000.00")', "amounts"
        )
    try:
        limits = {asset: Decimal(amount) for asset, amount in amounts.items()}
    except InvalidOperation:
        raise _RecordError(
            "invalid_amount", "an amount is not a decimal number", "amounts"
        ) from None
    return ApprovalPolicy(
        permission=_text(item, "permission"),
        rule=_choice(item, "rule", Rule),
        approvers=approvers,
        sections=frozenset(sections),
        amounts=limits,
    )


def _fee_rate(item: dict[str, Any]) -> FeeRateDefinition:
    _check_fields(item, {"fee", "effective_from", "rate", "maximum"})
    effective = item.get("effective_from")
    if isinstance(effective, dt.date):  # YAML reads an unquoted 2026-01-01 as a date
        item["effective_from"] = effective.isoformat()
    return FeeRateDefinition(
        fee=_choice(item, "fee", RegulatoryFeeName),
        effective_from=_text(item, "effective_from"),
        rate=_text(item, "rate"),
        maximum=_text(item, "maximum", required=False) or None,
    )


def _account(item: dict[str, Any]) -> Account:
    _check_fields(
        item, {"code", "type", "asset", "owner", "flags", "status", "name", "external_account"}
    )
    flags = item.get("flags") or []
    if not isinstance(flags, list):
        raise _RecordError("invalid_field", "flags must be a list", "flags")
    parsed_flags = frozenset(_choice({"flags": f}, "flags", AccountFlag) for f in flags)
    # Text only: YAML reads an unquoted 00123 as the number 83, a different account.
    external = _text(item, "external_account", required=False) or None
    return Account(
        code=_text(item, "code"),
        type=_choice(item, "type", AccountType),
        asset=_text(item, "asset"),
        owner=_text(item, "owner"),
        flags=parsed_flags,
        status=_choice(item, "status", AccountStatus, AccountStatus.OPEN),
        name=_text(item, "name", required=False),
        external_account=external,
    )


SECTIONS.update(
    {
        "assets": _asset,
        "parties": _party,
        "accounts": _account,
        "ssis": _ssi,
        "fee_rates": _fee_rate,
        "approval_policies": _approval_policy,
    }
)
