"""The ledger's service layer: one unit of work per call, over the store.

Batch semantics (documented in the README): each entry is atomic on its own, so a batch
reports per entry `created`, `existing` or `failed`; valid entries of a batch are committed in
transactions of up to `batch_entries_max` entries, with their balances, the chain head and an
audit record. A crash loses at most the transaction in flight, and the same call run again
finishes the job: keys already stored come back as `existing`.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from io import BufferedReader
from pathlib import Path
from typing import NamedTuple, cast

import orjson
import sqlalchemy as sa

from backoffice.errors import InvariantViolation, Problem, ProblemError, Source, invariant
from backoffice.formats.entries_jsonl import line_bytes_max, parse_entry, read_lines
from backoffice.formats.file_text import stream_start_problem
from backoffice.ledger.model import (
    Balance,
    BatchResult,
    EntryKind,
    EntryOutcome,
    EntryRequest,
    EntryResult,
    metadata_bytes_max,
    pending_timeout_seconds_max,
)
from backoffice.ledger.rules import (
    RESERVED_KEY_PREFIX,
    LedgerAccount,
    apply_posting,
    body_hash,
    canonical_json,
    check_request_shape,
    entry_hash,
    flag_problem,
    resolve_postings,
    zero_sum_problems,
)
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository, StoredTarget
from backoffice.text import text_problem

batch_entries_max = 20_000
expiry_interval_us = 1_000_000  # timed-out pending entries are voided within a second
# An account's running debit and credit totals are BIGINT columns.
account_total_max = 2**63 - 1
actor_chars_max = 200

Progress = Callable[[int], None]


def now_us() -> int:
    return time.time_ns() // 1000


class _IsoDates(dict[dt.date, str]):
    """date -> "YYYY-MM-DD", each formatted once: a batch has few dates and many entries."""

    def __missing__(self, date: dt.date) -> str:
        text = self[date] = date.isoformat()
        return text


class _Created(NamedTuple):
    """An entry created earlier in the same transaction, as a later request may name it.
    A plain tuple: one is made per entry, and only a few are ever looked at again."""

    id: int
    key: str
    kind: EntryKind
    effective_date: dt.date
    expires_at_us: int | None
    postings: list[tuple[int, int, int]]
    body_hash: str

    def as_target(self) -> StoredTarget:
        return StoredTarget(
            self.id, self.key, self.kind, self.effective_date, self.expires_at_us, None, None,
            tuple(self.postings),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that could not become a request at all; it goes to the quarantine as it came."""

    file: str
    line: int
    raw: str
    problems: tuple[Problem, ...]


def post_entries(
    store: Store,
    requests: Sequence[EntryRequest],
    *,
    actor: str,
    command: str = "ledger.post",
    clock_us: Callable[[], int] = now_us,
    progress: Progress | None = None,
    raw_of: Callable[[EntryRequest], str | None] | None = None,
    rejected: Sequence[Rejected] = (),
) -> BatchResult:
    """Post a batch of entries; see the module docstring for the semantics.

    Failed requests for which `raw_of` gives the raw input, and every `rejected` item, are
    written to the quarantine in the same transaction as the entries around them.
    """
    results: list[EntryResult] = []
    if not actor or len(actor) > actor_chars_max or text_problem(actor) is not None:
        raise ProblemError(
            Problem("invalid_actor", f"the actor must be 1..{actor_chars_max} plain characters")
        )
    for start in range(0, max(len(requests), 1), batch_entries_max):
        chunk = requests[start : start + batch_entries_max]
        with store.write() as connection, collector_paused():
            repository = LedgerRepository(connection)
            at_us = clock_us()
            if start == 0 and expiry_due(store, at_us):
                # In the chunk's own transaction: one commit per request, not two.
                _expire_in(repository, actor, at_us)
            chunk_results = _post_chunk(repository, chunk, actor, clock_us(), command)
            items = list(rejected) if start == 0 else []
            if raw_of is not None:
                for request, result in zip(chunk, chunk_results, strict=True):
                    raw = raw_of(request) if result.outcome is EntryOutcome.FAILED else None
                    if raw is not None:
                        items.append(
                            Rejected(
                                request.source.file or "",
                                request.source.line or 0,
                                raw,
                                result.problems,
                            )
                        )
            repository.quarantine([quarantine_row(item, command) for item in items])
        results.extend(chunk_results)
        if progress is not None:
            progress(len(chunk))
    return BatchResult(tuple(results))


def post_in_transaction(
    connection: sa.Connection,
    requests: Sequence[EntryRequest],
    *,
    actor: str,
    command: str,
    booked_at_us: int,
    audit: bool = True,
) -> list[EntryResult]:
    """Post entries inside the caller's write transaction, so that what they book (trades,
    allocations) commits or rolls back together with its entries. At most
    `batch_entries_max` requests; the caller owns the transaction. For the system's own
    services: their keys may use the reserved prefixes. `audit=False` when the caller
    appends its command's one audit record itself (a command leaves exactly one)."""
    invariant(len(requests) <= batch_entries_max, "post_in_transaction: too many entries")
    return _post_chunk(
        LedgerRepository(connection), requests, actor, booked_at_us, command, ledger_own=True,
        audit=audit,
    )  # fmt: skip


def _raw_line(raws: dict[int, str], request: EntryRequest) -> str | None:
    return raws.get(request.source.line or 0)


def quarantine_one(
    store: Store,
    kind: str,
    source: Source,
    raw: str,
    problems: Sequence[Problem],
    *,
    actor: str,
) -> None:
    """Quarantine one refused message in a transaction of its own, with an audit record: for
    services that apply messages one at a time (allocations, affirmations, statuses)."""
    with store.write() as connection:
        repository = LedgerRepository(connection)
        rejected = Rejected(source.file or "", source.line or 0, raw, tuple(problems))
        repository.quarantine([quarantine_row(rejected, kind)])
        repository.append_audit(
            now_us(),
            actor,
            kind,
            orjson.dumps({"quarantined": 1, "file": source.file, "line": source.line}).decode(),
        )


def quarantine_row(item: Rejected, command: str) -> dict[str, object]:
    """A quarantine table row: the raw input, where it came from, and every reason."""
    return {
        "kind": command,
        "file": item.file,
        "line": item.line,
        "raw_sha256": hashlib.sha256(item.raw.encode()).hexdigest(),
        # PostgreSQL text cannot hold NUL: keep it visible, escaped, rather than lose the line.
        "raw": item.raw.replace("\x00", "\\x00"),
        "problems_json": orjson.dumps(
            [{"code": p.code, "reason": p.reason, "field": p.source.field} for p in item.problems]
        ).decode(),
        "received_at_us": now_us(),
        "resolved": False,
    }


@dataclass(frozen=True, slots=True)
class FileResult:
    created: int
    existing: int
    failed: int
    failures: tuple[tuple[int, str | None, Problem], ...]  # (line, key, problem)


def post_file(
    store: Store,
    path: Path,
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    clock_us: Callable[[], int] = now_us,
) -> FileResult:
    """Post an entries file (JSONL), streaming it in transactions of `batch_entries_max` lines.

    Every line that fails, whether unreadable or refused by the ledger, is reported with its
    line, field and reason and kept in the quarantine with its raw text. Running the same file
    again after a crash finishes the job: what was stored comes back as `existing`.
    """
    name = str(path)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", error.strerror or str(error), Source(file=name))
        ) from error
    with stream:
        return post_stream(store, stream, name, actor=actor, progress=progress, clock_us=clock_us)


def post_stream(
    store: Store,
    stream: BufferedReader,
    name: str,
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    clock_us: Callable[[], int] = now_us,
) -> FileResult:
    """`post_file` of an open byte stream (`name` says where it came from): an approved
    entries file is posted from the text kept with its approval."""
    created = existing = failed = 0
    failures: list[tuple[int, str | None, Problem]] = []
    start_problem = stream_start_problem(stream.peek(4096), name)
    if start_problem is not None:
        raise ProblemError(start_problem)
    lines = read_lines(stream)
    while True:
        requests: list[EntryRequest] = []
        raws: dict[int, str] = {}
        rejected: list[Rejected] = []
        consumed = 0
        for number, raw, size in lines:
            consumed += size
            if raw is None:
                rejected.append(
                    Rejected(
                        name,
                        number,
                        "",
                        (
                            Problem(
                                "line_too_long",
                                f"line is over {line_bytes_max} bytes",
                                Source(name, number),
                            ),
                        ),
                    )
                )
            elif raw.strip():
                parsed = parse_entry(raw, name, number)
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if isinstance(parsed, EntryRequest):
                    requests.append(parsed)
                    raws[number] = text
                else:
                    rejected.append(Rejected(name, number, text, tuple(parsed)))
            if len(requests) + len(rejected) >= batch_entries_max:
                break
        if not requests and not rejected:
            if progress is not None and consumed:
                progress(consumed)
            break
        batch = post_entries(
            store,
            requests,
            actor=actor,
            clock_us=clock_us,
            raw_of=partial(_raw_line, raws),
            rejected=rejected,
        )
        for result in batch.results:
            if result.outcome is EntryOutcome.CREATED:
                created += 1
            elif result.outcome is EntryOutcome.EXISTING:
                existing += 1
            else:
                failed += 1
                failures.extend((p.source.line or 0, result.key, p) for p in result.problems)
        for item in rejected:
            failed += 1
            failures.extend((item.line, None, p) for p in item.problems)
        if progress is not None:
            progress(consumed)
    failures.sort(key=lambda failure: failure[0])
    return FileResult(created, existing, failed, tuple(failures))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is built.

    A batch makes millions of small acyclic tuples; each generational pass would walk the large
    live set of requests again, costing more than the ledger's own work (about 9 of 50 us per
    entry, measured). Reference counting still frees everything; cycles wait for the resume.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def expire_pending(store: Store, *, actor: str, clock_us: Callable[[], int] = now_us) -> int:
    """Void every pending entry whose timeout has passed; returns how many were voided."""
    with store.write() as connection:
        return _expire_in(LedgerRepository(connection), actor, clock_us())


def expiry_due(store: Store, at_us: int) -> bool:
    """Expiry is housekeeping (a resolution checks the timeout itself: `pending_expired`), so
    a posting runs it at most once per `expiry_interval_us` in this process."""
    last = store.housekeeping_us.get("expire_pending")
    if last is not None and 0 <= at_us - last < expiry_interval_us:
        return False
    store.housekeeping_us["expire_pending"] = at_us
    return True


def _expire_in(repository: LedgerRepository, actor: str, at_us: int) -> int:
    # Take the ledger's turn before looking: a void committed meanwhile by another writer
    # would otherwise make this one fail.
    repository.lock_head()
    expired = repository.expired_pending(at_us)
    if not expired:
        return 0
    requests = [
        EntryRequest(
            key=f"{RESERVED_KEY_PREFIX}{entry_id}",
            effective_date=None,
            void_pending=key,
            source=Source(field="timeout"),
        )
        for entry_id, key in expired
    ]
    results = _post_chunk(repository, requests, actor, at_us, "ledger.expire", ledger_own=True)
    for result in results:
        # The chain head is held, so nothing else resolved these entries since they were listed.
        invariant(
            result.outcome is not EntryOutcome.FAILED,
            f"expiry of a timed-out pending entry failed: {result.problems}",
        )
    return sum(1 for result in results if result.outcome is EntryOutcome.CREATED)


def _post_chunk(
    repository: LedgerRepository,
    requests: Sequence[EntryRequest],
    actor: str,
    booked_at_us: int,
    command: str,
    *,
    ledger_own: bool = False,
    audit: bool = True,
) -> list[EntryResult]:
    last_id, last_hash = repository.lock_head()
    existing = repository.existing_keys([r.key for r in requests])
    target_keys = [r.target_key for r in requests if r.target_key is not None]
    targets = repository.targets(target_keys) if target_keys else {}
    codes = [p.account for r in requests for p in r.postings if isinstance(p.account, str)]
    target_account_ids = [a for t in targets.values() for a, _, _ in t.postings]
    loaded = repository.accounts_for_update(codes, target_account_ids)
    accounts_by_code = {account.code: account for account, _ in loaded.values()}
    accounts_by_id = {account.id: account for account, _ in loaded.values()}
    balances = {account_id: balance for account_id, (_, balance) in loaded.items()}
    before: dict[int, tuple[int, int, int, int]] = {}  # totals of each touched account
    iso_dates: dict[dt.date, str] = _IsoDates()

    created: dict[str, _Created] = {}
    resolved_in_chunk: set[int] = set()
    reversed_in_chunk: set[int] = set()
    entry_rows: list[tuple[object, ...]] = []
    posting_rows: list[tuple[int, int, int, int, int]] = []
    results: list[EntryResult] = []

    def fail(request: EntryRequest, *problems: Problem) -> None:
        results.append(
            EntryResult(
                request.key,
                EntryOutcome.FAILED,
                problems=tuple(p.with_source(request.source) for p in problems),
            )
        )

    for request in requests:
        shape = check_request_shape(request, ledger_own=ledger_own)
        metadata_json = _metadata_json(request, shape)
        if shape:
            fail(request, *shape)
            continue

        kind = request.kind
        target: StoredTarget | None = None
        if request.target_key is not None:
            target_or_problem = _target_for(
                request, kind, targets, created, resolved_in_chunk, reversed_in_chunk, booked_at_us
            )
            if isinstance(target_or_problem, Problem):
                # A replay of a resolution that already happened is still an `existing` key.
                if request.key not in existing and request.key not in created:
                    fail(request, target_or_problem)
                    continue
            else:
                target = target_or_problem
                if request.effective_date is not None and (
                    request.effective_date < target.effective_date
                ):
                    fail(
                        request,
                        Problem(
                            "date_before_target",
                            f"date {request.effective_date} is before the date of "
                            f"{target.key!r} ({target.effective_date})",
                            Source(field="date"),
                        ),
                    )
                    continue
            sign = -1 if kind is EntryKind.REVERSAL else 1
            postings = [
                (accounts_by_id[a], amount * sign)
                for a, _, amount in (target.postings if target else ())
            ]
            hashed = body_hash(request, [])
        else:
            resolved = resolve_postings(request, accounts_by_code)
            if resolved and isinstance(resolved[0], Problem):
                fail(request, *[p for p in resolved if isinstance(p, Problem)])
                continue
            postings = cast("list[tuple[LedgerAccount, int]]", resolved)
            hashed = body_hash(request, [(a.code, amount) for a, amount in postings])

        prior = existing.get(request.key)
        if prior is None and request.key in created:
            prior = (created[request.key].id, created[request.key].body_hash)
        if prior is not None:
            if prior[1] == hashed:
                results.append(EntryResult(request.key, EntryOutcome.EXISTING, prior[0]))
            else:
                fail(
                    request,
                    Problem(
                        "key_conflict",
                        f"key {request.key!r} was used for a different entry",
                        Source(field="key"),
                    ),
                )
            continue

        unbalanced = zero_sum_problems(postings)
        if unbalanced:
            fail(request, *unbalanced)
            continue
        closed = [a for a, _ in postings if not a.is_open]
        if closed:
            fail(
                request,
                *[Problem("account_closed", f"account {a.code!r} is closed") for a in closed],
            )
            continue
        breaches = _flag_breaches(postings, balances, kind)
        if breaches:
            fail(request, *breaches)
            continue
        for account, amount in postings:
            balance = balances[account.id]
            if account.id not in before:
                before[account.id] = balance.as_tuple()
            apply_posting(balance, amount, kind)
        if any(max(balances[a.id].as_tuple()) > account_total_max for a, _ in postings):
            for account, amount in postings:
                apply_posting(balances[account.id], amount, kind, sign=-1)
            fail(
                request,
                Problem(
                    "balance_out_of_range",
                    "an account's running totals would leave the database's 64-bit range",
                ),
            )
            continue

        entry_id = last_id + 1
        effective_date = request.effective_date or (target.effective_date if target else None)
        if effective_date is None:
            raise InvariantViolation("an entry reached the store without an effective date")
        expires_at_us = (
            booked_at_us + request.timeout_seconds * 1_000_000
            if request.timeout_seconds is not None
            else None
        )
        pending_id = target.id if target and kind is not EntryKind.REVERSAL else None
        reversal_of = target.id if target and kind is EntryKind.REVERSAL else None
        source = _describe_source(request.source)
        content = [
            entry_id, request.key, hashed, kind.value, iso_dates[effective_date], booked_at_us,
            request.description, request.reference, actor, source, metadata_json,
            pending_id, reversal_of, expires_at_us,
        ]  # fmt: skip
        entry_postings = [(a.id, a.asset_id, amount) for a, amount in postings]
        link = entry_hash(last_hash, content, entry_postings)
        entry_rows.append((*content, last_hash, link))
        for line, (account_id, asset_id, amount) in enumerate(entry_postings):
            posting_rows.append((entry_id, line, account_id, asset_id, amount))
        last_id, last_hash = entry_id, link
        if target is not None:
            if kind is EntryKind.REVERSAL:
                reversed_in_chunk.add(target.id)
            else:
                resolved_in_chunk.add(target.id)
        created[request.key] = _Created(
            entry_id, request.key, kind, effective_date, expires_at_us, entry_postings, hashed
        )
        results.append(EntryResult(request.key, EntryOutcome.CREATED, entry_id))

    if entry_rows:
        deltas: dict[int, tuple[int, int, int, int]] = {}
        for account_id, (dp, cp, dq, cq) in before.items():
            now = balances[account_id]
            deltas[account_id] = (
                now.debits_posted - dp,
                now.credits_posted - cp,
                now.debits_pending - dq,
                now.credits_pending - cq,
            )
        repository.append(entry_rows, posting_rows, deltas)
        repository.move_head(last_id, last_hash)
        after = repository.balances_of(list(deltas))
        for account_id in deltas:
            invariant(
                after[account_id] == balances[account_id].as_tuple(),
                f"account {account_id}: stored balance differs from its postings after a write",
            )
        if audit:
            repository.append_audit(
                booked_at_us,
                actor,
                command,
                orjson.dumps(
                    {
                        "created": len(entry_rows),
                        "first_entry_id": entry_rows[0][0],
                        "last_entry_id": last_id,
                        "existing": sum(1 for r in results if r.outcome is EntryOutcome.EXISTING),
                        "failed": sum(1 for r in results if r.outcome is EntryOutcome.FAILED),
                    }
                ).decode(),
            )
    invariant(len(results) == len(requests), "every request gets exactly one result")
    return results


def _metadata_json(request: EntryRequest, problems: list[Problem]) -> str:
    """The metadata as canonical JSON; what is wrong with it goes into `problems`."""
    if not request.metadata:
        metadata_json = "{}"
    else:
        try:
            metadata_bytes = canonical_json(request.metadata)
        except orjson.JSONEncodeError as error:
            problems.append(
                Problem(
                    "invalid_field",
                    f"metadata is not storable JSON: {error}",
                    Source(field="metadata"),
                )
            )
            return ""
        metadata_json = metadata_bytes.decode()
        if len(metadata_bytes) > metadata_bytes_max:
            problems.append(
                Problem(
                    "metadata_too_large",
                    f"metadata over {metadata_bytes_max} bytes",
                    Source(field="metadata"),
                )
            )
    if request.timeout_seconds is not None and not (
        0 < request.timeout_seconds <= pending_timeout_seconds_max
    ):
        problems.append(
            Problem(
                "invalid_field", "timeout_seconds out of range", Source(field="timeout_seconds")
            )
        )
    return metadata_json


def _flag_breaches(
    postings: list[tuple[LedgerAccount, int]], balances: dict[int, Balance], kind: EntryKind
) -> list[Problem]:
    """The flags this entry would breach, counting pending reservations. Only flagged accounts
    are tried, on copies, so a refused entry leaves every balance as it was."""
    trial: dict[int, Balance] = {}
    for account, amount in postings:
        if account.flags:
            if account.id not in trial:
                trial[account.id] = Balance(*balances[account.id].as_tuple())
            apply_posting(trial[account.id], amount, kind)
    if not trial:
        return []
    accounts = {account.id: account for account, _ in postings}
    return [
        problem
        for account_id, balance in trial.items()
        if (problem := flag_problem(accounts[account_id], balance)) is not None
    ]


def _target_for(
    request: EntryRequest,
    kind: EntryKind,
    targets: dict[str, StoredTarget],
    created: dict[str, _Created],
    resolved_in_chunk: set[int],
    reversed_in_chunk: set[int],
    at_us: int,
) -> StoredTarget | Problem:
    key = request.target_key
    invariant(key is not None, "a resolution names its target")
    where = Source(
        field={EntryKind.POST_PENDING: "post_pending", EntryKind.VOID_PENDING: "void_pending"}.get(
            kind, "reverse"
        )
    )
    target = created[key].as_target() if key in created else targets.get(key or "")
    if target is None:
        return Problem("entry_not_found", f"no entry with key {key!r}", where)
    if kind is EntryKind.REVERSAL:
        if target.kind not in (EntryKind.STANDARD, EntryKind.POST_PENDING):
            return Problem(
                "not_reversible",
                f"entry {key!r} is {target.kind.value}; only posted entries reverse "
                "(void a pending entry instead)",
                where,
            )
        if target.reversed_by is not None or target.id in reversed_in_chunk:
            return Problem("already_reversed", f"entry {key!r} is already reversed", where)
        return target
    if target.kind is not EntryKind.PENDING:
        return Problem("not_pending", f"entry {key!r} is not a pending entry", where)
    if target.resolved_by is not None or target.id in resolved_in_chunk:
        return Problem(
            "pending_already_resolved", f"pending entry {key!r} is already posted or voided", where
        )
    if (
        kind is EntryKind.POST_PENDING
        and target.expires_at_us is not None
        and at_us >= target.expires_at_us
    ):
        return Problem("pending_expired", f"pending entry {key!r} timed out", where)
    return target


def _describe_source(source: Source) -> str:
    if source.file is None and source.line is None and source.field is None:
        return "api"
    return source.describe()
