"""The entries file: one JSON object per line (see README "Entry file format").

    {"key": "trade-42", "date": "2026-11-24", "description": "...",
     "postings": [{"account": "client/C0001/cash/USD", "amount": "-1902.50"},
                  {"account": "firm/bank/USD", "amount": "1902.50"}]}

Optional: "reference", "pending" (bool), "timeout_seconds" (int, pending only), "metadata"
(object); or, instead of postings, one of "post_pending", "void_pending", "reverse" naming the
key of the entry to post, void or reverse. Amounts are decimal strings, debit-positive.
Unknown fields are refused, so a misspelt field never passes unnoticed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson

from backoffice.errors import Problem, Source
from backoffice.formats.lines import bounded_lines
from backoffice.ledger.model import EntryRequest, PostingRequest

line_bytes_max = 1024 * 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ENTRY_FIELDS = frozenset(
    {"key", "date", "description", "postings", "reference", "pending", "timeout_seconds",
     "metadata", "post_pending", "void_pending", "reverse"}
)  # fmt: skip
POSTING_FIELDS = frozenset({"account", "amount"})


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, raw bytes or None when the line is over `line_bytes_max`, bytes read)."""
    return bounded_lines(stream, line_bytes_max)


def parse_entry(raw: bytes, file: str, line: int) -> EntryRequest | list[Problem]:
    source = Source(file, line)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return [Problem("malformed_json", f"not valid JSON: {error}", source)]
    if not isinstance(document, dict):
        return [Problem("malformed_json", "a line must be one JSON object", source)]
    problems: list[Problem] = []

    def bad(code: str, reason: str, field: str) -> None:
        problems.append(Problem(code, reason, Source(file, line, field)))

    for field in sorted(set(document) - ENTRY_FIELDS):
        bad("unknown_field", f"unknown field {field!r}", field)
    key = _string(document, "key", bad, required=True)
    date: dt.date | None = None
    date_text = _string(document, "date", bad, required=False)
    if date_text is not None:
        try:
            # YYYY-MM-DD only: fromisoformat also takes week dates such as 2026-W48-2.
            date = dt.date.fromisoformat(date_text) if _DATE.fullmatch(date_text) else None
        except ValueError:
            date = None
        if date is None:
            bad("invalid_date", f"date {date_text!r} is not a YYYY-MM-DD calendar date", "date")
    description = _string(document, "description", bad, required=False) or ""
    reference = _string(document, "reference", bad, required=False)
    targets = {
        name: _string(document, name, bad, required=False)
        for name in ("post_pending", "void_pending", "reverse")
    }
    pending = document.get("pending", False)
    if not isinstance(pending, bool):
        bad("invalid_field", "pending must be true or false", "pending")
        pending = False
    timeout = document.get("timeout_seconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        bad("invalid_field", "timeout_seconds must be a whole number", "timeout_seconds")
        timeout = None
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        bad("invalid_field", "metadata must be a JSON object", "metadata")
        metadata = {}
    postings: list[PostingRequest] = []
    raw_postings = document.get("postings", [])
    if not isinstance(raw_postings, list):
        bad("invalid_field", "postings must be a list", "postings")
        raw_postings = []
    for index, posting in enumerate(raw_postings):
        where = f"postings[{index}]"
        if not isinstance(posting, dict):
            bad("invalid_field", "a posting must be a JSON object", where)
            continue
        for field in sorted(set(posting) - POSTING_FIELDS):
            bad("unknown_field", f"unknown field {field!r}", f"{where}.{field}")
        account = posting.get("account")
        if not isinstance(account, str):
            bad(
                "missing_field" if account is None else "invalid_field",
                "account must be an account code",
                f"{where}.account",
            )
            continue
        if "amount" not in posting:
            bad("missing_field", "amount is required", f"{where}.amount")
            continue
        postings.append(PostingRequest(account, posting["amount"]))
    if problems or key is None:
        return problems
    return EntryRequest(
        key=key,
        effective_date=date,
        description=description,
        postings=tuple(postings),
        reference=reference,
        pending=pending,
        timeout_seconds=timeout,
        metadata=metadata,
        source=source,
        **targets,
    )


def _string(document: dict[str, Any], field: str, bad: Any, *, required: bool) -> str | None:
    value = document.get(field)
    if value is None:
        if required:
            bad("missing_field", f"{field} is required", field)
        return None
    if not isinstance(value, str):
        bad("invalid_field", f"{field} must be a string", field)
        return None
    return value
