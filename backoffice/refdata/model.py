"""Reference data as plain values, with the rules that make a definition valid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import iso4217
from stdnum import cusip as stdnum_cusip
from stdnum import isin as stdnum_isin

from backoffice.errors import Problem, Source
from backoffice.money import scale_max
from backoffice.text import text_problem

code_chars_max = 120
name_chars_max = 200
_ACCOUNT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*(?:/[A-Za-z0-9_.:\-]+)*")
_PARTY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class AssetKind(StrEnum):
    CURRENCY = "currency"
    SECURITY = "security"


class PartyKind(StrEnum):
    FIRM = "firm"
    CLIENT = "client"
    COUNTERPARTY = "counterparty"
    CUSTODIAN = "custodian"
    BANK = "bank"
    CCP = "ccp"


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class AccountStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AccountFlag(StrEnum):
    """Balance limits, as TigerBeetle's account flags."""

    DEBITS_MUST_NOT_EXCEED_CREDITS = "debits_must_not_exceed_credits"
    CREDITS_MUST_NOT_EXCEED_DEBITS = "credits_must_not_exceed_debits"


@dataclass(frozen=True, slots=True)
class Asset:
    code: str
    kind: AssetKind
    scale: int
    name: str = ""
    cusip: str | None = None
    # What trading needs of a security; none is required. `market` is the MIC whose calendar
    # and settlement cycle apply; `currency` the currency it trades in.
    market: str | None = None
    currency: str | None = None
    asset_class: str | None = None


@dataclass(frozen=True, slots=True)
class CommissionTerms:
    """A client's commission schedule, as decimal strings in `currency` units.

    commission = max(per_share x shares + bps / 10,000 x gross, minimum).
    """

    currency: str
    per_share: str = "0"
    bps: str = "0"
    minimum: str = "0"


@dataclass(frozen=True, slots=True)
class Party:
    code: str
    kind: PartyKind
    name: str = ""
    # A client whose executions are blocks, booked only once allocated to client accounts.
    allocates: bool = False
    commission: CommissionTerms | None = None


@dataclass(frozen=True, slots=True)
class StandingInstruction:
    """A party's standing settlement instruction (SSI) for one market."""

    party: str
    market: str
    place_of_settlement: str  # BIC of the CSD, e.g. DTCYUS33
    agent: str  # BIC of the settlement agent or custodian
    safekeeping_account: str

    @property
    def code(self) -> str:
        return f"{self.party}@{self.market}"


class RegulatoryFeeName(StrEnum):
    SEC_FEE = "sec_fee"
    FINRA_TAF = "finra_taf"


@dataclass(frozen=True, slots=True)
class FeeRateDefinition:
    """A regulatory fee rate from `effective_from` on: SEC fee in dollars per million of sale
    proceeds, FINRA TAF in dollars per share with a per-trade `maximum` in dollars."""

    fee: RegulatoryFeeName
    effective_from: str  # YYYY-MM-DD
    rate: str
    maximum: str | None = None

    @property
    def code(self) -> str:
        return f"{self.fee}@{self.effective_from}"


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    type: AccountType
    asset: str
    owner: str
    flags: frozenset[AccountFlag] = frozenset()
    status: AccountStatus = AccountStatus.OPEN
    name: str = ""
    external_account: str | None = None


def currency_minor_units(code: str) -> int | None:
    """ISO 4217 minor units of a currency code, or None when the code is not ISO 4217."""
    try:
        currency = iso4217.Currency(code)
    except ValueError:
        return None
    exponent = currency.exponent
    # Funds and precious metals (XAU, XDR...) have no minor unit in ISO 4217.
    return 0 if exponent is None else int(exponent)


def nul_problems(record: object, fields: tuple[str, ...]) -> list[Problem]:
    """PostgreSQL text cannot hold NUL; refused on every store alike."""
    return [
        Problem("invalid_text", f"{name} {reason}", Source(field=name))
        for name in fields
        if (reason := text_problem(getattr(record, name) or "")) is not None
    ]


def check_asset(asset: Asset) -> list[Problem]:
    problems = nul_problems(asset, ("code", "name", "cusip"))
    if not (0 <= asset.scale <= scale_max):
        problems.append(
            Problem("invalid_scale", f"scale must be 0..{scale_max}, got {asset.scale}")
        )
    if len(asset.name) > name_chars_max:
        problems.append(Problem("name_too_long", f"name is longer than {name_chars_max}"))
    if asset.kind is AssetKind.CURRENCY:
        if currency_minor_units(asset.code) is None:
            problems.append(
                Problem("unknown_currency", f"{asset.code!r} is not an ISO 4217 currency code")
            )
    elif not stdnum_isin.is_valid(asset.code):
        problems.append(
            Problem("invalid_isin", f"{asset.code!r} is not a valid ISIN (format or check digit)")
        )
    if asset.cusip is not None and not stdnum_cusip.is_valid(asset.cusip):
        problems.append(Problem("invalid_cusip", f"{asset.cusip!r} is not a valid CUSIP"))
    return problems


_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,12})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _decimal_problem(value: str | None, field: str) -> Problem | None:
    if value is None or _PLAIN_DECIMAL.fullmatch(value):
        return None
    return Problem(
        "invalid_field",
        f"{field} must be a plain non-negative decimal like 0.005, got {value!r}",
        Source(field=field),
    )


def check_trading_terms(asset: Asset, markets: frozenset[str]) -> list[Problem]:
    """A security's market must be one whose calendar we know; its currency ISO 4217."""
    problems: list[Problem] = []
    if asset.kind is AssetKind.CURRENCY and (asset.market or asset.currency or asset.asset_class):
        problems.append(
            Problem(
                "invalid_field",
                "market, currency and asset_class are for securities",
                Source(field="market"),
            )
        )
    if asset.market is not None and asset.market not in markets:
        problems.append(
            Problem(
                "unknown_market",
                f"no calendar for market {asset.market!r}; known: {', '.join(sorted(markets))}",
                Source(field="market"),
            )
        )
    if asset.currency is not None and currency_minor_units(asset.currency) is None:
        problems.append(
            Problem(
                "unknown_currency",
                f"{asset.currency!r} is not an ISO 4217 currency code",
                Source(field="currency"),
            )
        )
    if asset.asset_class is not None and asset.asset_class != "equity":
        problems.append(
            Problem(
                "invalid_field",
                f"asset_class must be equity, got {asset.asset_class!r}",
                Source(field="asset_class"),
            )
        )
    return problems


def check_standing_instruction(ssi: StandingInstruction, markets: frozenset[str]) -> list[Problem]:
    problems = nul_problems(ssi, ("party", "market", "safekeeping_account"))
    if ssi.market not in markets:
        problems.append(
            Problem("unknown_market", f"no market {ssi.market!r}", Source(field="market"))
        )
    for field in ("place_of_settlement", "agent"):
        if _BIC.fullmatch(getattr(ssi, field)) is None:
            problems.append(
                Problem(
                    "invalid_bic",
                    f"{field} must be a BIC (8 or 11 letters and digits), "
                    f"got {getattr(ssi, field)!r}",
                    Source(field=field),
                )
            )
    if not 1 <= len(ssi.safekeeping_account) <= external_account_chars_max:
        problems.append(
            Problem(
                "invalid_field",
                f"safekeeping_account must be 1..{external_account_chars_max} characters",
                Source(field="safekeeping_account"),
            )
        )
    return problems


def check_fee_rate(rate: FeeRateDefinition) -> list[Problem]:
    problems = [
        p
        for p in (_decimal_problem(rate.rate, "rate"), _decimal_problem(rate.maximum, "maximum"))
        if p is not None
    ]
    if _ISO_DATE.fullmatch(rate.effective_from) is None:
        problems.append(
            Problem(
                "invalid_field",
                f"effective_from must be YYYY-MM-DD, got {rate.effective_from!r}",
                Source(field="effective_from"),
            )
        )
    return problems


def check_party(party: Party) -> list[Problem]:
    problems = nul_problems(party, ("code", "name"))
    if party.commission is not None:
        terms = party.commission
        if party.kind is not PartyKind.CLIENT:
            problems.append(
                Problem(
                    "invalid_field",
                    "only a client has a commission schedule",
                    Source(field="commission"),
                )
            )
        if currency_minor_units(terms.currency) is None:
            problems.append(
                Problem(
                    "unknown_currency",
                    f"commission currency {terms.currency!r} is not ISO 4217",
                    Source(field="commission.currency"),
                )
            )
        for name in ("per_share", "bps", "minimum"):
            found = _decimal_problem(getattr(terms, name), f"commission.{name}")
            if found is not None:
                problems.append(found)
    if party.allocates and party.kind is not PartyKind.CLIENT:
        problems.append(
            Problem("invalid_field", "only a client allocates blocks", Source(field="allocates"))
        )
    if len(party.code) > code_chars_max or _PARTY_CODE.fullmatch(party.code) is None:
        problems.append(Problem("invalid_code", f"party code {party.code!r} is not valid"))
    if len(party.name) > name_chars_max:
        problems.append(Problem("name_too_long", f"name is longer than {name_chars_max}"))
    return problems


external_account_chars_max = 64


def check_account(account: Account) -> list[Problem]:
    problems = nul_problems(account, ("name", "external_account"))
    if len(account.name) > name_chars_max:
        problems.append(Problem("name_too_long", f"name is longer than {name_chars_max}"))
    if account.external_account is not None and (
        len(account.external_account) > external_account_chars_max
    ):
        problems.append(
            Problem(
                "invalid_field",
                f"external_account is longer than {external_account_chars_max}",
                Source(field="external_account"),
            )
        )
    if len(account.code) > code_chars_max or _ACCOUNT_CODE.fullmatch(account.code) is None:
        problems.append(
            Problem(
                "invalid_code",
                f"account code {account.code!r} must be path segments of letters, digits, _.:-",
            )
        )
    if len(account.flags) == len(AccountFlag):
        problems.append(
            Problem("conflicting_flags", "an account cannot forbid both debits and credits to lead")
        )
    return problems


def account_change_problems(old: Account, new: Account, balance_is_zero: bool) -> list[Problem]:
    """What makes redefining `old` as `new` refused. Only the name may change, and an account
    may be closed once its balance is zero; anything else would rewrite the meaning of postings
    already made."""
    problems: list[Problem] = []
    for field in ("type", "asset", "owner", "flags", "external_account"):
        if getattr(old, field) != getattr(new, field):
            problems.append(
                Problem(
                    "definition_changed",
                    f"account {old.code!r}: {field} may not change "
                    f"({getattr(old, field)!r} -> {getattr(new, field)!r})",
                )
            )
    if old.status is AccountStatus.CLOSED and new.status is AccountStatus.OPEN:
        problems.append(Problem("account_closed", f"account {old.code!r} is closed for good"))
    if (
        old.status is AccountStatus.OPEN
        and new.status is AccountStatus.CLOSED
        and not balance_is_zero
    ):
        problems.append(
            Problem("balance_not_zero", f"account {old.code!r} cannot close with a balance")
        )
    return problems
