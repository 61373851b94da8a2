"""Who a command runs as: the single operator of a fresh database, then users with tokens or
a bound OS login; bad, revoked and expired tokens and disabled users refused and audited."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from backoffice.store import schema
from backoffice.store.engine import Store
from tests.cli_runner import Cli, staff


def last_event(store: Store) -> Any:
    with store.read() as connection:
        return connection.execute(
            sa.select(schema.audit_log).order_by(schema.audit_log.c.id.desc()).limit(1)
        ).one()


def test_a_fresh_database_runs_as_the_os_user_with_every_permission_and_the_audit_says_so(
    cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "laptop-user")
    roles = cli("roles", "list", "--json")
    assert roles.status == 0, roles.stderr
    outcome = cli("users", "add", "boss", "--name", "The Boss", "--role", "admin")
    assert outcome.status == 0, outcome.stderr
    event = last_event(store)
    assert (event.actor, event.authentication, event.permission, event.outcome) == (
        "laptop-user", "single-operator laptop-user", "users.manage", "ok",
    )  # fmt: skip


def test_the_first_user_must_be_an_admin(cli: Cli) -> None:
    outcome = cli("users", "add", "olga", "--name", "Olga", "--role", "operations")
    assert outcome.status == 1
    assert "first_user_not_admin" in outcome.stderr
    assert cli("users", "list", "--json").json() == []


def test_after_the_first_user_a_command_without_a_token_is_refused_with_how_to_get_one(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(cli)
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "someone-else")
    outcome = cli("ledger", "balances")
    assert outcome.status == 1
    assert outcome.stderr.count("\n") == 1
    assert "unauthenticated" in outcome.stderr
    assert "backoffice users token LOGIN" in outcome.stderr


def test_disabling_every_user_does_not_bring_single_operator_mode_back(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(cli)
    assert cli("users", "disable", "admin").status == 0
    assert "unauthenticated" in cli("users", "list").stderr
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "someone-else")
    assert "unauthenticated" in cli("users", "list").stderr


def test_a_token_is_shown_once_and_stored_only_as_its_sha256(cli: Cli, store: Store) -> None:
    token = staff(cli, alice="operations")["alice"]
    assert token.startswith("bo_")
    assert len(token) >= 3 + 43  # 32 random bytes in base64url
    with store.read() as connection:
        (row,) = connection.execute(sa.select(schema.api_tokens)).all()
        every_text = [
            str(value)
            for table in (schema.api_tokens, schema.users, schema.audit_log)
            for found in connection.execute(sa.select(table)).all()
            for value in found
        ]
    assert row.sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12]
    assert not any(token in text for text in every_text)


def test_a_command_runs_as_the_tokens_user_and_its_event_names_the_token(
    cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    token = staff(cli, auditor="auditor")["auditor"]
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "shared-box")
    exported = str(tmp_path / "entries.csv")
    assert cli("ledger", "export", "--format", "csv", "-o", exported, token=token).status == 0
    event = last_event(store)
    assert (event.actor, event.authentication, event.permission, event.command) == (
        "auditor", f"token {token[:12]}", "ledger.export", "ledger.export",
    )  # fmt: skip


def test_a_token_file_is_read_instead_of_the_environment(
    cli: Cli, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = staff(cli, carol="auditor")["carol"]
    path = tmp_path / "token"
    path.write_text(token + "\n")
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "someone-else")
    outcome = cli("--token-file", str(path), "users", "list")
    assert "forbidden: carol lacks users.read" in outcome.stderr


@pytest.mark.parametrize("how", ["revoked", "expired", "disabled", "unknown"])
def test_a_revoked_or_expired_token_and_a_disabled_user_are_refused_and_audited(
    cli: Cli, store: Store, how: str
) -> None:
    token = staff(cli, alice="operations")["alice"]
    if how == "revoked":
        assert cli("users", "revoke-token", token[:12]).status == 0
    elif how == "expired":
        with store.write() as connection:
            connection.execute(sa.update(schema.api_tokens).values(expires_at_us=1))
    elif how == "disabled":
        assert cli("users", "disable", "alice").status == 0
    else:
        token = token[:-4] + "AAAA"
    outcome = cli("ledger", "balances", token=token)
    assert outcome.status == 1
    assert "unauthenticated" in outcome.stderr
    event = last_event(store)
    assert (event.command, event.outcome, event.authentication) == (
        "authenticate", "refused", f"token {token[:12]}",
    )  # fmt: skip


def test_a_user_bound_to_an_os_login_is_that_user_on_this_machine(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(cli)
    made = cli("users", "add", "dora", "--name", "Dora", "--role", "auditor", "--os-user", "dora")
    assert made.status == 0, made.stderr
    monkeypatch.setattr("backoffice.cli.main._os_user", lambda: "dora")
    assert "forbidden: dora lacks users.read" in cli("users", "list").stderr


def test_a_postgresql_database_on_another_host_never_trusts_the_os_login() -> None:
    local = Store("postgresql+psycopg://backoffice@127.0.0.1/x")
    socket = Store("postgresql+psycopg:///x?host=/var/run/postgresql")
    remote = Store("postgresql+psycopg://backoffice@db.example.com/x")
    assert (local.local, socket.local, remote.local) == (True, True, False)
    for store in (local, socket, remote):
        store.dispose()


def test_users_are_disabled_never_deleted(cli: Cli, store: Store) -> None:
    staff(cli)
    with pytest.raises(sa.exc.DatabaseError), store.write() as connection:
        connection.execute(sa.delete(schema.users))


def test_a_users_roles_are_replaced_and_the_change_is_audited_before_and_after(
    cli: Cli, store: Store
) -> None:
    staff(cli, alice="operations")
    assert cli("users", "roles", "alice", "--role", "auditor", "--role", "compliance").status == 0
    listed = {user["login"]: user for user in cli("users", "list", "--json").json()}
    assert listed["alice"]["roles"] == ["auditor", "compliance"]
    import orjson

    detail = orjson.loads(last_event(store).detail_json)
    assert (detail["before"]["roles"], detail["after"]["roles"]) == (
        ["operations"], ["auditor", "compliance"],
    )  # fmt: skip
    refused = cli("users", "roles", "alice", "--role", "wizard")
    assert "unknown_role" in refused.stderr


def test_a_password_is_kept_only_as_an_argon2id_hash(
    cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    staff(cli, alice="operations")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    assert cli("users", "password", "alice").status == 0
    with store.read() as connection:
        stored = connection.execute(
            sa.select(schema.users.c.password_hash).where(schema.users.c.login == "alice")
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert "invalid_password" in cli("users", "password", "alice").stderr


def test_a_failed_write_is_audited_with_its_problem_codes(cli: Cli, store: Store) -> None:
    outcome = cli("ledger", "reverse", "no-such-entry", "--key", "rev-1")
    assert outcome.status == 1
    event = last_event(store)
    assert (event.command, event.outcome, event.permission) == (
        "ledger.reverse", "failed", "ledger.reverse",
    )  # fmt: skip
    import orjson

    assert orjson.loads(event.detail_json)["request"]["entry_key"] == "no-such-entry"


def test_a_tokens_last_use_is_recorded_at_most_once_a_minute_so_reads_stay_reads(
    store: Store, monkeypatch: Any
) -> None:
    from backoffice.admin import identity_service
    from backoffice.admin.identity_service import add_user, authenticate, issue_token

    add_user(store, "admin", name="Admin", roles=["admin"], os_user="nobody-here", actor="t")
    token = issue_token(store, "admin", expires_days=None, actor="t").token
    clock = [1_000_000_000_000]
    monkeypatch.setattr(identity_service, "now_us", lambda: clock[0])

    def last_used() -> Any:
        with store.read() as connection:
            return connection.execute(sa.select(schema.api_tokens.c.last_used_at_us)).scalar_one()

    authenticate(store, token=token, os_user="x", local=False)
    assert last_used() == clock[0]
    first = clock[0]
    writes: list[str] = []
    real_write = store.write
    monkeypatch.setattr(store, "write", lambda: writes.append("write") or real_write())
    clock[0] += 59_000_000
    authenticate(store, token=token, os_user="x", local=False)
    assert (last_used(), writes) == (first, [])  # no write transaction for a fresh use
    clock[0] += 2_000_000
    authenticate(store, token=token, os_user="x", local=False)
    assert (last_used(), writes) == (clock[0], ["write"])
