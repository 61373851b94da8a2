"""The Today page's figures: the exceptions of the day, each read through its command and
shown only to those whose roles may read it. Counts are bounded (a page of the list, then
"more than N"), never a COUNT over millions of rows."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backoffice.admin.identity import Principal
from backoffice.commands.invocation import Access, invoke
from backoffice.store.engine import Store

counted_max = 500  # each figure counts this far, then says "more than"


@dataclass
class Figure:
    """One exception on the page: how many, split by a label, and where to look."""

    title: str
    link: str
    total: int = 0
    more: bool = False
    parts: Counter[str] = field(default_factory=Counter)

    @property
    def shown(self) -> str:
        return f"more than {self.total}" if self.more else str(self.total)


def _count(figure: Figure, items: list[dict[str, Any]], more: bool, key: str | None) -> Figure:
    figure.total, figure.more = len(items), more
    if key is not None:
        figure.parts.update(str(item[key]) for item in items)
    return figure


def today_figures(store: Store, principal: Principal, day: dt.date) -> list[Figure]:
    """The figures this principal may see, in the order the page shows them."""
    figures: list[Figure] = []
    if principal.may("approvals.read"):
        figures.append(_approvals(store, principal))
    if principal.may("recon.read"):
        figures.append(_breaks(store, principal, day))
    if principal.may("settlement.read"):
        figures.append(_fails(store, principal, day))
    if principal.may("trades.read"):
        figures.append(_unaffirmed(store, principal, day))
    if principal.may("ledger.read"):
        figures.append(_quarantined(store, principal))
    return figures


def _approvals(store: Store, principal: Principal) -> Figure:
    from backoffice.admin.approval_service import approvals_page

    with invoke(store, principal, "approvals.list", "approvals.read", access=Access.READ):
        page = approvals_page(store, principal, status="awaiting", mine=False, for_me=True,
                              limit=counted_max, after=None)  # fmt: skip
    return _count(Figure("Approvals waiting for me", "/approvals"), page.items,
                  page.next is not None, "command")  # fmt: skip


def _breaks(store: Store, principal: Principal, day: dt.date) -> Figure:
    from backoffice.recon.queries import breaks_page

    with invoke(store, principal, "recon.breaks", "recon.read", access=Access.READ):
        page = breaks_page(store, status="open", today=day, limit=counted_max)
    return _count(Figure("Open breaks by type", "/breaks"), page.items, page.next is not None,
                  "type")  # fmt: skip


def _fails(store: Store, principal: Principal, day: dt.date) -> Figure:
    from backoffice.settlement.fail_service import fails_page

    with invoke(store, principal, "settlement.fails", "settlement.read", access=Access.READ):
        page = fails_page(store, day, limit=counted_max)
    return _count(Figure("Settlement fails by ageing bucket", "/settlement"), page.items,
                  page.next is not None, "bucket")  # fmt: skip


def _unaffirmed(store: Store, principal: Principal, day: dt.date) -> Figure:
    from backoffice.trades.queries import unaffirmed_page

    with invoke(store, principal, "trades.unaffirmed", "trades.read", access=Access.READ):
        page = unaffirmed_page(store, day, limit=counted_max, after=None)
    return _count(Figure("Unaffirmed confirmations (SEC 15c6-2)", "/trades?status=confirmed"), page.items,
                  page.next is not None, None)  # fmt: skip


def _quarantined(store: Store, principal: Principal) -> Figure:
    from backoffice.ledger.queries import quarantined

    with invoke(store, principal, "ledger.quarantine", "ledger.read", access=Access.READ):
        page = quarantined(store, limit=counted_max)
    return _count(Figure("Quarantined messages by source", "/quarantine"), page.items,
                  page.next is not None, "kind")  # fmt: skip
