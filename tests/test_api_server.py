"""A real `backoffice serve` process on loopback: it starts, answers, and runs a request as
the token's user."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.serving import BACKOFFICE, free_port


def test_the_server_answers_on_loopback_and_runs_a_request_as_the_tokens_user(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'served.db'}"

    def cli(*args: str) -> str:
        done = subprocess.run(
            [BACKOFFICE, "--db", db, *args], capture_output=True, text=True, check=True,
            cwd=tmp_path,
        )  # fmt: skip
        return done.stdout.strip()

    cli("users", "add", "admin", "--name", "Admin", "--role", "admin")
    cli("users", "add", "carl", "--name", "Carl", "--role", "auditor")
    token = cli("users", "token", "carl")
    port = free_port()
    server = subprocess.Popen(
        [BACKOFFICE, "--db", db, "serve", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        headers = {"Authorization": f"Bearer {token}"}
        events = httpx.get(f"{base}/api/v1/audit", headers=headers, timeout=5)
        assert events.status_code == 200
        assert {e["command"] for e in events.json()["items"]} >= {"users.add", "users.token"}
        assert httpx.get(f"{base}/api/v1/balances", timeout=5).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
