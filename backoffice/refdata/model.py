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


@dataclass(frozen=True, slots=True)
class Party:
    code: str
    kind: PartyKind
    name: str = ""


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


def check_party(party: Party) -> list[Problem]:
    problems = nul_problems(party, ("code", "name"))
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
