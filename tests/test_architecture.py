"""The import direction: domain code never imports an edge (database, dataframes, web, CLI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "backoffice"
DOMAINS = ("ledger", "trades", "settlement", "recon", "compliance", "risk", "refdata", "admin")
EDGES = (
    "sqlalchemy", "alembic", "psycopg", "polars", "pyarrow", "fastapi", "starlette", "typer",
    "rich", "click", "yaml", "backoffice.store", "backoffice.formats", "backoffice.api",
    "backoffice.web", "backoffice.cli",
)  # fmt: skip


def domain_modules() -> list[Path]:
    """Every module of a domain package except its service layer, which may use adapters."""
    return [
        path
        for domain in DOMAINS
        for path in (PACKAGE / domain).rglob("*.py")
        if path.stem not in {"service", "reports", "verify", "queries", "export"}
        and not path.stem.endswith("_service")
    ]


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_there_are_domain_modules_to_check() -> None:
    assert any(path.name == "rules.py" for path in domain_modules())


def test_domain_code_never_imports_an_edge() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in domain_modules()
        for name in sorted(imported_names(path))
        if any(name == edge or name.startswith(edge + ".") for edge in EDGES)
    ]
    assert offences == []


def test_importing_the_package_and_cli_connects_to_nothing_and_writes_nothing(
    tmp_path: Path,
) -> None:
    code = (
        "import backoffice.cli.main, backoffice.ledger.service, backoffice.refdata.service, sys;"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert list(tmp_path.iterdir()) == []
    assert result.stdout.strip() == "[]"


# The pure engines: columnar (Polars) but never the store, the web or the CLI, so they can be
# run and tested on frames alone. Named here, not exempted by a file-name pattern.
PURE_ENGINES = ("recon/matching_service.py", "settlement/netting_service.py")
ENGINE_EDGES = tuple(edge for edge in EDGES if edge not in ("polars", "pyarrow"))


def test_the_pure_engines_use_frames_but_never_the_store_or_an_entry_point() -> None:
    offences = [
        f"{engine} imports {name}"
        for engine in PURE_ENGINES
        for name in sorted(imported_names(PACKAGE / engine))
        if any(name == edge or name.startswith(edge + ".") for edge in ENGINE_EDGES)
    ]
    assert offences == []


def test_the_admin_domain_model_is_pure() -> None:
    pure = [PACKAGE / "admin" / name for name in ("permissions.py", "roles.py", "identity.py",
                                                   "approval_policy.py")]  # fmt: skip
    assert all(path in domain_modules() for path in pure)
