"""The console's settlement page: the instructions of a settlement date (each document a
download, as `settlement instruct` writes it) and the fails as of a date with their ageing."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from backoffice.api.paging import id_cursor
from backoffice.api.routes_settlement import default_sender_bic
from backoffice.commands.invocation import Access, invoke
from backoffice.web.console import SessionDep, page
from backoffice.web.pages_books import _date

settlement_router = APIRouter(include_in_schema=False)
page_rows_max = 50


@settlement_router.get("/settlement")
def settlement(
    request: Request, session: SessionDep, date: str | None = None, after: str | None = None
) -> HTMLResponse:
    from backoffice.settlement.fail_service import fails_page
    from backoffice.settlement.instruction_service import instructions_page

    store, who = request.app.state.store, session.principal
    day = _date(date)
    with invoke(store, who, "settlement.instructions", "settlement.read", access=Access.READ):
        instructions = instructions_page(store, day, limit=page_rows_max, after=id_cursor(after))
    as_of = day or dt.datetime.now(dt.UTC).date()
    with invoke(store, who, "settlement.fails", "settlement.read", access=Access.READ):
        fails = fails_page(store, as_of, limit=page_rows_max)
    return page("settlement.html", session=session, instructions=instructions.items,
                next=instructions.next, fails=fails.items, date=date or "", as_of=as_of)  # fmt: skip


@settlement_router.get("/settlement/instructions/{reference}/document")
def document(request: Request, session: SessionDep, reference: str) -> Response:
    from backoffice.settlement.instruction_service import instruction_document

    store = request.app.state.store
    with invoke(store, session.principal, "settlement.instructions", "settlement.read",
                access=Access.READ):  # fmt: skip
        name, content = instruction_document(
            store, reference, "sese023", sender_bic=default_sender_bic
        )
    media = "application/xml" if name.endswith(".xml") else "text/plain"
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
