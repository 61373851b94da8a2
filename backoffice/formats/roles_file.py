"""A custom roles file (YAML), for `backoffice roles load`:

roles:
  treasury:
    description: Moves the firm's own cash.
    permissions: [ledger.read, ledger.post]
"""

from __future__ import annotations

from pathlib import Path

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.file_text import decode_text, read_content
from backoffice.formats.yaml_document import load_yaml, without_lines

roles_file_bytes_max = 1_000_000
roles_per_file_max = 1_000


def read_roles(path: Path) -> dict[str, tuple[frozenset[str], str]]:
    """Each role's permissions and description; one `ProblemError` naming the file and role."""
    return parse_roles(read_content(path, roles_file_bytes_max), str(path))


def parse_roles(content: bytes, name: str) -> dict[str, tuple[frozenset[str], str]]:
    """The same from a roles file's bytes (a request body), `name` saying where they came from."""
    if len(content) > roles_file_bytes_max:
        raise ProblemError(
            Problem("file_too_large", f"a roles file is at most {roles_file_bytes_max} bytes")
        )
    text = decode_text(content, name, latin1_fallback=False)
    document = without_lines(load_yaml(text, name))
    roles = document.get("roles") if isinstance(document, dict) else None
    if not isinstance(roles, dict) or not roles:
        raise ProblemError(
            Problem("malformed_yaml", "expected a mapping `roles:` of role names", Source(name))
        )
    if len(roles) > roles_per_file_max:
        raise ProblemError(
            Problem("too_many_records", f"at most {roles_per_file_max} roles", Source(name))
        )
    found: dict[str, tuple[frozenset[str], str]] = {}
    for role, body in roles.items():
        where = Source(name, field=f"roles.{role}")
        permissions = body.get("permissions") if isinstance(body, dict) else None
        description = body.get("description", "") if isinstance(body, dict) else ""
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise ProblemError(
                Problem("malformed_yaml", "permissions: a list of permission codes", where)
            )
        if not isinstance(description, str):
            raise ProblemError(Problem("malformed_yaml", "description: text", where))
        found[str(role)] = (frozenset(permissions), description)
    return found
