"""The console's reading pages: trades (a filtered list; one trade with its raw message and
booking), the books (trial balance, an account's balance, an entry) and the audit trail. Each
is the command the CLI's and the API's listing runs, a keyset page at a time."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from backoffice.api.paging import id_cursor
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import Problem, ProblemError
from backoffice.web.console import SessionDep, page

books_router = APIRouter(include_in_schema=False)
page_rows_max = 50


def _date(text: str | None) -> dt.date | None:
    """A filter's date from a form field ('' when left empty)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(Problem("invalid_date", f"{text!r} is not a YYYY-MM-DD date")) from None


@books_router.get("/trades")
def trades(
    request: Request, session: SessionDep, trade_date: str | None = None,
    client: str | None = None, status: str | None = None, after: str | None = None,
) -> HTMLResponse:  # fmt: skip
    from backoffice.trades.queries import TRADE_STATUSES, trades_page

    store = request.app.state.store
    with invoke(store, session.principal, "trades.list", "trades.read", access=Access.READ):
        shown = trades_page(store, _date(trade_date), client=client or None,
                            status=status or None, limit=page_rows_max,
                            after=id_cursor(after))  # fmt: skip
    filters = {"trade_date": trade_date or "", "client": client or "", "status": status or ""}
    return page("trades.html", session=session, trades=shown.items, next=shown.next,
                filters=filters, statuses=TRADE_STATUSES)  # fmt: skip


@books_router.get("/trades/{trade_id}")
def one_trade(request: Request, session: SessionDep, trade_id: str) -> HTMLResponse:
    from backoffice.trades.queries import trade_detail

    store = request.app.state.store
    with invoke(store, session.principal, "trades.show", "trades.read", access=Access.READ):
        found = trade_detail(store, trade_id)
    return page("trade.html", session=session, t=found)


@books_router.get("/books")
def trial_balance(request: Request, session: SessionDep, as_of: str | None = None) -> HTMLResponse:
    from backoffice.ledger.reports import trial_balance as report
    from backoffice.money import format_amount

    store = request.app.state.store
    day = _date(as_of)
    with invoke(store, session.principal, "ledger.trial-balance", "ledger.read",
                access=Access.READ):  # fmt: skip
        lines = report(store, as_of=day)
    rows = [
        {"asset": line.asset, "debits": format_amount(line.debits_minor, line.scale),
         "credits": format_amount(line.credits_minor, line.scale),
         "net": format_amount(line.net_minor, line.scale)}
        for line in lines
    ]  # fmt: skip
    return page("books.html", session=session, rows=rows, as_of=as_of or "")


@books_router.get("/books/accounts/{account:path}")
def account(request: Request, session: SessionDep, account: str) -> HTMLResponse:
    from backoffice.ledger.reports import balances
    from backoffice.money import format_amount

    store = request.app.state.store
    with invoke(store, session.principal, "ledger.balances", "ledger.read", access=Access.READ):
        lines = balances(store, account=account, as_of=None)
    rows = [
        {"account": line.account, "asset": line.asset,
         "balance": format_amount(line.balance.posted_minor, line.scale),
         "pending": format_amount(line.balance.pending_minor, line.scale)}
        for line in lines
    ]  # fmt: skip
    return page("account.html", session=session, account=account, rows=rows)


@books_router.get("/books/entries/{key:path}")
def entry(request: Request, session: SessionDep, key: str) -> HTMLResponse:
    from backoffice.ledger.queries import entry_by_key

    store = request.app.state.store
    with invoke(store, session.principal, "ledger.entries", "ledger.read", access=Access.READ):
        found = entry_by_key(store, key)
    if found is None:
        raise ProblemError(Problem("unknown_entry", f"no entry with key {key!r}"))
    return page("entry.html", session=session, e=found)


@books_router.get("/audit")
def audit(
    request: Request, session: SessionDep, user: str | None = None, outcome: str | None = None,
    since: str | None = None, until: str | None = None, after: str | None = None,
) -> HTMLResponse:  # fmt: skip
    from backoffice.store.audit_queries import AuditFilter, audit_page

    store = request.app.state.store
    where = AuditFilter(user or None, None, outcome or None, _date(since), _date(until))
    with invoke(store, session.principal, "audit.list", "audit.read", access=Access.READ):
        shown = audit_page(store, limit=page_rows_max, after=id_cursor(after), where=where)
    filters = {"user": user or "", "outcome": outcome or "", "since": since or "",
               "until": until or ""}  # fmt: skip
    return page("audit.html", session=session, events=shown.items, next=shown.next,
                filters=filters)  # fmt: skip
