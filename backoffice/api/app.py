"""`create_app(store)`: the FastAPI application. Every request is authenticated by its bearer
token (the command layer's tokens), runs one command through `invoke` (permission, audit,
approvals) and answers JSON; every error is problem details, never a 500 for bad input."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from backoffice.admin.approval_service import Parked
from backoffice.admin.identity import Authentication, Principal
from backoffice.admin.identity_service import authenticate
from backoffice.api.metrics import MEDIA_TYPE as METRICS_MEDIA_TYPE
from backoffice.api.metrics import Metrics
from backoffice.api.problems import problem_response
from backoffice.commands.invocation import Access, invoke
from backoffice.errors import Problem, ProblemError, Source
from backoffice.store.engine import Store

API_PREFIX = "/api/v1"
body_bytes_max = 10_000_000  # a request body over this is refused with 413


class Door:
    """What a request needs: the store and who is asking (from `Authorization: Bearer`)."""

    def __init__(self, store: Store, principal: Principal, metrics: Metrics) -> None:
        self.store = store
        self.principal = principal
        self.metrics = metrics

    @contextmanager
    def command(
        self, name: str, permission: str, access: Access, request: dict[str, Any] | None = None
    ) -> Iterator[Principal]:
        outcome = "error"
        try:
            with invoke(
                self.store, self.principal, name, permission, access=access, request=request
            ):
                yield self.principal
            outcome = "ok"
        except ProblemError as error:
            refused = all(problem.code == "forbidden" for problem in error.problems)
            outcome = "forbidden" if refused else "failed"
            raise
        finally:
            self.metrics.command_ran(name, outcome)


def parked(result: Parked) -> JSONResponse:
    """A command under approval: 202 with the approval's id and where to follow it."""
    return JSONResponse(
        result.as_json(),
        status_code=202,
        headers={"Location": f"/api/v1/approvals/{result.approval_id}"},
    )


def create_app(store: Store) -> FastAPI:
    app = FastAPI(
        title="Backoffice",
        version="1",
        description="Trade capture, settlement, books and records, reconciliation.",
        openapi_url="/openapi.json",
    )
    app.state.store = store
    app.state.metrics = metrics = Metrics(store)

    @app.exception_handler(ProblemError)
    async def expected(request: Request, error: ProblemError) -> Response:
        if not request.url.path.startswith(API_PREFIX):
            from backoffice.web.console import refused_page

            return refused_page(error.problems)
        return problem_response(error.problems)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        problems = [
            Problem(
                "invalid_request",
                str(item.get("msg", "invalid")),
                Source(field=".".join(str(part) for part in item.get("loc", ())[1:]) or None),
            )
            for item in error.errors()
        ] or [Problem("invalid_request", "the request is not valid")]
        return problem_response(problems, 422)

    @app.middleware("http")
    async def measured(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The route's template, never the path: keys and accounts are not labels. A route of
        # an included router knows its path without the prefix it was included under.
        template = getattr(request.scope.get("route"), "path", None)
        if template is None:
            template = "unmatched"
        elif request.url.path.startswith(API_PREFIX + "/"):
            template = API_PREFIX + template
        metrics.observe(
            request.method, template, response.status_code, time.perf_counter() - started
        )
        return response

    @app.middleware("http")
    async def bounded_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > body_bytes_max):
            return problem_response(
                [Problem("payload_too_large", f"a request body is at most {body_bytes_max} bytes")],
                413,
            )
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """The database is reachable; the schema revision it is at and the newest known."""
        return {
            "status": "ok",
            "schema": store.current_revision(),
            "head": store.head_revision(),
        }

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus text: counts and latencies by route template and command, no client data."""
        return Response(metrics.exposition(), media_type=METRICS_MEDIA_TYPE)

    from fastapi.staticfiles import StaticFiles

    from backoffice.web.console import STATIC, LoginNeeded, console_router

    @app.exception_handler(LoginNeeded)
    async def login_needed(_: Request, __: LoginNeeded) -> Response:
        return RedirectResponse("/login", status_code=303)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(console_router)
    from backoffice.web.pages_work import work_router

    app.include_router(work_router)
    from backoffice.web.pages_books import books_router

    app.include_router(books_router)
    from backoffice.web.pages_quarantine import quarantine_router

    app.include_router(quarantine_router)
    from backoffice.web.pages_users import users_router

    app.include_router(users_router)
    from backoffice.web.pages_settlement import settlement_router

    app.include_router(settlement_router)
    from backoffice.web.pages_refdata import refdata_router

    app.include_router(refdata_router)

    from backoffice.api import (
        routes_admin,
        routes_ledger,
        routes_recon,
        routes_refdata,
        routes_settlement,
        routes_trades,
        routes_users,
    )

    app.include_router(routes_ledger.ledger_router, prefix=API_PREFIX)
    app.include_router(routes_trades.trades_router, prefix=API_PREFIX)
    app.include_router(routes_settlement.settlement_router, prefix=API_PREFIX)
    app.include_router(routes_recon.recon_router, prefix=API_PREFIX)
    app.include_router(routes_refdata.refdata_router, prefix=API_PREFIX)
    app.include_router(routes_users.users_router, prefix=API_PREFIX)
    app.include_router(routes_admin.admin_router, prefix=API_PREFIX)
    return app


def door(request: Request) -> Door:
    """The request's store and principal: a bearer token, or 401 (audited when presented)."""
    store: Store = request.app.state.store
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            Problem(
                "unauthenticated", "send `Authorization: Bearer bo_...` (backoffice users token)"
            )
        )
    # The API never trusts an OS login: the token is the only credential.
    principal = authenticate(store, token=token.strip(), os_user="api", local=False)
    if principal.authentication is Authentication.SINGLE_OPERATOR:
        # No user yet: single-operator mode trusts whoever runs the CLI on the database's
        # machine, never a request; the first user (an admin) is added there.
        raise ProblemError(
            Problem(
                "unauthenticated",
                "this database has no users yet: add the first, an admin, with "
                "`backoffice users add` on its machine, then use a token it issues",
            )
        )
    return Door(store, principal, request.app.state.metrics)


DoorDep = Annotated[Door, Depends(door)]


async def raw_body(request: Request) -> bytes:
    """The request's body, read on the event loop, so that the route itself can be a plain
    function: FastAPI runs those in its thread pool, and a command's blocking database work
    never holds up the other requests of the worker."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
