"""Every CLI capability has its endpoint: each command of the CLI is mapped here to the
route that runs the same command, and each mapped route exists in the OpenAPI document. A new
CLI command without a route (or a reason it has none) fails this test."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backoffice.api.app import create_app
from backoffice.store.engine import Store
from tests.test_permissions import commands

ROUTES: dict[tuple[str, ...], str] = {
    ("approvals", "approve"): "POST /api/v1/approvals/{approval_id}/approve",
    ("approvals", "list"): "GET /api/v1/approvals",
    ("approvals", "reject"): "POST /api/v1/approvals/{approval_id}/reject",
    ("approvals", "show"): "GET /api/v1/approvals/{approval_id}",
    ("audit", "export"): "GET /api/v1/audit/export",
    ("audit", "list"): "GET /api/v1/audit",
    ("audit", "verify"): "POST /api/v1/audit/verify",
    ("db", "current"): "GET /health",
    ("ledger", "balances"): "GET /api/v1/balances",
    ("ledger", "entries"): "GET /api/v1/entries",
    ("ledger", "expire-pending"): "POST /api/v1/pending/expire",
    ("ledger", "export"): "GET /api/v1/ledger/export",
    ("ledger", "post"): "POST /api/v1/entries",
    ("ledger", "post-pending"): "POST /api/v1/entries/{entry_key}/post",
    ("ledger", "quarantine"): "GET /api/v1/ledger/quarantine",
    ("ledger", "reverse"): "POST /api/v1/entries/{entry_key}/reverse",
    ("ledger", "trial-balance"): "GET /api/v1/trial-balance",
    ("ledger", "verify"): "POST /api/v1/ledger/verify",
    ("ledger", "void-pending"): "POST /api/v1/entries/{entry_key}/void",
    ("recon", "break"): "PATCH /api/v1/breaks/{break_id}",
    ("recon", "breaks"): "GET /api/v1/breaks",
    ("recon", "import"): "POST /api/v1/statements",
    ("recon", "quarantine"): "GET /api/v1/recon/quarantine",
    ("recon", "resolve", "approve"): "POST /api/v1/approvals/{approval_id}/approve",
    ("recon", "resolve", "match"): "POST /api/v1/breaks/{break_id}/match",
    ("recon", "resolve", "propose"): "POST /api/v1/breaks/{break_id}/corrections",
    ("recon", "resolve", "reject"): "POST /api/v1/approvals/{approval_id}/reject",
    ("recon", "run"): "POST /api/v1/recon/runs",
    ("recon", "statements"): "GET /api/v1/statements",
    ("refdata", "history"): "GET /api/v1/refdata/history/{code}",
    ("refdata", "list"): "GET /api/v1/refdata/{section}",
    ("refdata", "load"): "POST /api/v1/refdata",
    ("roles", "list"): "GET /api/v1/roles",
    ("roles", "load"): "POST /api/v1/roles",
    ("settlement", "fails"): "GET /api/v1/fails",
    ("settlement", "instruct"): "POST /api/v1/instructions",
    ("settlement", "net"): "POST /api/v1/netting",
    ("settlement", "penalties"): "POST /api/v1/penalties",
    ("settlement", "quarantine"): "GET /api/v1/settlement/quarantine",
    ("settlement", "status"): "POST /api/v1/settlement/status",
    ("trades", "affirm"): "POST /api/v1/affirmations",
    ("trades", "allocate"): "POST /api/v1/allocations",
    ("trades", "confirm"): "POST /api/v1/confirmations",
    ("trades", "import"): "POST /api/v1/executions",
    ("trades", "list"): "GET /api/v1/trades",
    ("trades", "quarantine"): "GET /api/v1/trades/quarantine",
    ("trades", "resubmit"): "POST /api/v1/trades/quarantine/{item_id}/resubmit",
    ("trades", "unaffirmed"): "GET /api/v1/unaffirmed",
    ("trades", "verify"): "POST /api/v1/trades/verify",
    ("users", "add"): "POST /api/v1/users",
    ("users", "disable"): "POST /api/v1/users/{login}/disable",
    ("users", "list"): "GET /api/v1/users",
    ("users", "password"): "PUT /api/v1/users/{login}/password",
    ("users", "revoke-token"): "DELETE /api/v1/tokens/{prefix}",
    ("users", "roles"): "PUT /api/v1/users/{login}/roles",
    ("users", "token"): "POST /api/v1/users/{login}/tokens",
}
# Commands no request may run, and why.
NO_ROUTE = {
    ("demo",): "builds a database of its own; it is not an operation on this one",
    ("serve",): "is the server itself",
    ("db", "upgrade"): "migrates the schema from the database's machine, before serving",
}


def test_every_cli_command_has_its_route_or_a_reason_it_has_none(store: Store) -> None:
    cli = set(commands())
    assert cli - set(ROUTES) - set(NO_ROUTE) == set(), "a CLI command without a route"
    assert set(ROUTES) - cli == set(), "a route mapped to a CLI command that does not exist"
    document = TestClient(create_app(store)).get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    offered = {
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    } | {"GET /health"}
    assert {route for route in ROUTES.values() if route not in offered} == set()
