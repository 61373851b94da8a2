"""What the holdings readers (`holdings`, `holdings_mt535`) share: a statement of holdings being
collected, by account, and the checks every format makes of an ISIN and a quantity."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from stdnum import isin as stdnum_isin

from backoffice.errors import Problem, Source
from backoffice.recon.model import Holding, HoldingsStatement, StatementFormat

account_chars_max = 35  # Max35Text, 35x

_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def isin_reason(text: str) -> str | None:
    """Why `text` is no ISIN, or None when it is one (format and check digit)."""
    if not _ISIN.fullmatch(text):
        return f"{text[:40]!r} is no ISIN: two letters, nine letters or digits, a check digit"
    if not bool(stdnum_isin.is_valid(text)):
        return f"{text!r}: the ISIN's check digit is wrong"
    return None


def plain_decimal(negative: bool, integer: str, fraction: str | None) -> str:
    """Digits as a plain signed decimal string: (True, "0100", "50") -> "-100.50"."""
    whole = integer.lstrip("0") or "0"
    number = f"{whole}.{fraction}" if fraction else whole
    zero = not number.replace(".", "").strip("0")
    return f"-{number}" if negative and not zero else number


@dataclass
class CollectedStatement:
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
