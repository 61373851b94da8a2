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
import json
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson

from backoffice.error_codes import ErrorCode
from backoffice.errors import Problem, Source
from backoffice.formats.file_text import is_dos_eof
from backoffice.formats.lines import bounded_lines
from backoffice.ledger.model import EntryRequest, PostingRequest

line_bytes_max = 1024 * 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ENTRY_FIELDS = frozenset(
    {"key", "date", "description", "postings", "reference", "pending", "timeout_seconds",
     "metadata", "post_pending", "void_pending", "reverse"}
)  # fmt: skip
POSTING_FIELDS = frozenset({"account", "amount"})
_UTF8_BOM = b"\xef\xbb\xbf"


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, raw bytes or None when the line is over `line_bytes_max`, bytes read).

    A UTF-8 byte order mark is dropped and a last line holding only the DOS end-of-file mark
    is skipped, as every other reader does (`formats/file_text.py`); a 0x1A anywhere else
    stays in its line and is refused with it."""
    held: tuple[int, bytes | None, int] | None = None
    for number, read, size in bounded_lines(stream, line_bytes_max):
        raw = read.removeprefix(_UTF8_BOM) if number == 1 and read is not None else read
        if held is not None:
            yield held
            held = None
        if raw is not None and is_dos_eof(raw):
            held = (number, raw, size)
            continue
        yield number, raw, size
    if held is not None:
        yield held[0], b"", held[2]  # an empty line: read, counted, nothing posted


def parse_entry(raw: bytes, file: str, line: int) -> EntryRequest | list[Problem]:
    source = Source(file, line)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return [Problem("malformed_json", f"not valid JSON: {error}", source)]
    if not isinstance(document, dict):
        return [Problem("malformed_json", "a line must be one JSON object", source)]
    repeated = repeated_key(raw, document)
    if repeated is not None:
        return [
            Problem(
                "duplicate_field",
                f"field {repeated!r} is given more than once",
                Source(file, line, repeated),
            )
        ]
    problems: list[Problem] = []

    def bad(code: ErrorCode, reason: str, field: str) -> None:
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


# A key is a string followed by its colon; an escaped quote in a value may match too, never less.
_KEY_TOKEN = re.compile(rb'"\s*:')
_SPACED_KEY_TOKEN = re.compile(rb'"\s+:')  # rare: without it, bytes.count finds every token


def repeated_key(raw: bytes, document: dict[str, Any]) -> str | None:
    """The first key repeated within one object of `raw`, or None.

    JSON parsers keep the last of repeated keys silently ({"amount": "1000", "amount": "1"}
    would post 1). The fast check: when the parsed objects hold as many keys as the line has
    key tokens, nothing was repeated (every key is one token; tokens can only be more). Only
    otherwise is the line parsed again, slowly, to name the repeated key. (About 2 us a line,
    a sixth of reading it: tokens are counted with bytes.count unless a key is spaced from
    its colon.)
    """
    if _SPACED_KEY_TOKEN.search(raw) is not None:
        tokens = len(_KEY_TOKEN.findall(raw))
    else:
        tokens = raw.count(b'":')
    if _key_count(document) == tokens:
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return found[0] if found else None


def _key_count(mapping: dict[str, Any]) -> int:
    count = len(mapping)
    for value in mapping.values():
        if type(value) is dict:
            count += _key_count(value)
        elif type(value) is list:
            count += _list_key_count(value)
    return count


def _list_key_count(items: list[Any]) -> int:
    count = 0
    for item in items:
        if type(item) is dict:
            count += _key_count(item)
        elif type(item) is list:
            count += _list_key_count(item)
    return count


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
