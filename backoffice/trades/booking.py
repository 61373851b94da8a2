"""How an allocation is booked: the ledger accounts trading uses, and the postings of a trade.

Account naming convention (the accounts are opened automatically the first time a trade needs
them; one defined in reference data under the same code is used as it is):

    client/{client}/cash/{currency}         liability  what the firm owes the client in cash
    client/{client}/securities/{isin}       liability  the client's securities held by the firm
    firm/settlement/pending/{asset}         asset      due from (+) or to (-) the street until
                                                       settlement, per currency and per security
    firm/income/commission/{currency}       income     commission charged to clients
    firm/income/sec-fee/{currency}          income     SEC Section 31 fees collected on sales
    firm/income/finra-taf/{currency}        income     FINRA TAF collected on sales

Postings are debit-positive. A client's buy of q shares at gross G, commission c and fees f:

    client/C/securities/ISIN   -q          the firm now holds q more shares for the client
    firm/settlement/pending/ISIN  +q       ...which the street owes the firm
    client/C/cash/CCY          +(G+c+f)    the client owes the firm what it pays
    firm/settlement/pending/CCY   -G       the firm owes the street the gross
    firm/income/commission/CCY    -c
    firm/income/sec-fee|finra-taf/CCY  -f

A sale is the mirror image; the client receives G - c - f. Zero amounts are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from backoffice.refdata.model import Account, AccountType
from backoffice.trades.model import Side


def client_cash_account(client: str, currency: str) -> str:
    return f"client/{client}/cash/{currency}"


def client_securities_account(client: str, isin: str) -> str:
    return f"client/{client}/securities/{isin}"


def pending_settlement_account(asset: str) -> str:
    return f"firm/settlement/pending/{asset}"


def commission_income_account(currency: str) -> str:
    return f"firm/income/commission/{currency}"


def sec_fee_income_account(currency: str) -> str:
    return f"firm/income/sec-fee/{currency}"


def finra_taf_income_account(currency: str) -> str:
    return f"firm/income/finra-taf/{currency}"


@dataclass(frozen=True, slots=True)
class BookedFigures:
    """What an allocation books, in minor units of its security and currency."""

    client: str
    isin: str
    currency: str
    side: Side
    quantity_minor: int
    gross_minor: int
    commission_minor: int
    sec_fee_minor: int
    finra_taf_minor: int

    @property
    def fees_minor(self) -> int:
        return self.sec_fee_minor + self.finra_taf_minor

    @property
    def net_minor(self) -> int:
        charges = self.commission_minor + self.fees_minor
        return self.gross_minor + charges if self.side is Side.BUY else self.gross_minor - charges


def allocation_postings(figures: BookedFigures) -> list[tuple[str, str, int]]:
    """(account code, asset code, debit-positive amount in minor units), zeros left out.

    The postings of each asset sum to zero by construction; the ledger checks it again.
    """
    sign = 1 if figures.side is Side.BUY else -1
    ccy = figures.currency
    rows = [
        (client_securities_account(figures.client, figures.isin), figures.isin, -sign * figures.quantity_minor),
        (pending_settlement_account(figures.isin), figures.isin, sign * figures.quantity_minor),
        (client_cash_account(figures.client, ccy), ccy, sign * figures.net_minor),
        (pending_settlement_account(ccy), ccy, -sign * figures.gross_minor),
        (commission_income_account(ccy), ccy, -figures.commission_minor),
        (sec_fee_income_account(ccy), ccy, -figures.sec_fee_minor),
        (finra_taf_income_account(ccy), ccy, -figures.finra_taf_minor),
    ]  # fmt: skip
    return [row for row in rows if row[2] != 0]


def account_definition(code: str, asset: str, client: str, firm: str) -> Account:
    """The definition under which the convention opens `code` (one of the accounts above)."""
    if code.startswith("client/"):
        kind = "cash" if code.split("/")[2] == "cash" else "securities"
        return Account(
            code=code,
            type=AccountType.LIABILITY,
            asset=asset,
            owner=client,
            name=f"{client} {kind} {asset}",
        )
    if code.startswith("firm/settlement/pending/"):
        return Account(
            code=code,
            type=AccountType.ASSET,
            asset=asset,
            owner=firm,
            name=f"Pending settlement with the street, {asset}",
        )
    return Account(
        code=code, type=AccountType.INCOME, asset=asset, owner=firm, name=code.split("/")[2]
    )
