"""The command `ledger.post` under an approval policy: manual entries that touch client
accounts, or move more than an amount of an asset, wait for a second person.

Without a `ledger.post` policy (the default) the file is streamed as ever (`post_file`). With
one, the file (at most `parked_file_bytes_max`) is read and judged entry by entry; if any entry
waits, the whole file is parked with its text and the postings it would make, and posted from
that text when approved, against the state at that moment (lines the ledger refuses then are
quarantined and reported, as in any post).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from backoffice.admin.approval_policy import ApprovalPolicy, Rule, waits
from backoffice.admin.approval_policy_service import policy_for
from backoffice.admin.approval_service import Parked, park
from backoffice.admin.identity import Principal
from backoffice.errors import ProblemError
from backoffice.formats.entries_jsonl import parse_entry
from backoffice.formats.file_text import read_content
from backoffice.ledger.model import EntryRequest
from backoffice.ledger.service import FileResult, post_file, post_stream
from backoffice.refdata.model import PartyKind
from backoffice.refdata.service import accounts_by_code, parties_by_code
from backoffice.store.engine import Store

PERMISSION = "ledger.post"
CLIENT_ACCOUNTS = "client_accounts"  # the policy's scope: only entries touching them wait
parked_file_bytes_max = 5_000_000
effect_postings_max = 1_000
problems_shown_max = 20


def submit_entries(
    store: Store, maker: Principal, path: Path, *, progress: Callable[[int], None] | None = None
) -> FileResult | Parked:
    """Post the file, or park it when an entry of it waits under the policy in force."""
    with store.read() as connection:
        policy = policy_for(connection, PERMISSION)
    if policy is None or policy.rule is Rule.NEVER:
        return post_file(store, path, actor=maker.login, progress=progress)
    return submit_entries_data(store, maker, read_content(path, parked_file_bytes_max), str(path))


def submit_entries_data(
    store: Store, maker: Principal, data: bytes, name: str
) -> FileResult | Parked:
    """The same command over entries given as JSONL bytes (the API's door): posted, or parked
    when an entry of them waits under the policy in force."""
    with store.read() as connection:
        policy = policy_for(connection, PERMISSION)
    if policy is None or policy.rule is Rule.NEVER:
        return post_stream(store, io.BufferedReader(io.BytesIO(data)), name, actor=maker.login)
    path = Path(name)
    requests = _entries(data, name)
    clients = _client_accounts(store)
    waiting = [r for r in requests if _entry_waits(policy, r, clients, _assets_of(store))]
    if not waiting:
        return post_stream(store, io.BufferedReader(io.BytesIO(data)), name, actor=maker.login)
    effect = {
        "entries": len(requests),
        "waiting": [r.key for r in waiting][:effect_postings_max],
        "postings": [
            {"key": r.key, "account": p.account, "amount": str(p.amount)}
            for r in requests
            for p in r.postings
        ][:effect_postings_max],
    }
    request = {"source": name, "text": data.decode("utf-8", "replace")}
    with store.unit_of_work() as connection:
        return park(
            connection, maker, command=PERMISSION, permission=PERMISSION,
            target=f"entries {path.name}", request=request, effect=effect,
            approvers=policy.approvers,
        )  # fmt: skip


def _entries(data: bytes, name: str) -> list[EntryRequest]:
    found: list[EntryRequest] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            parsed = parse_entry(raw, name, number)
            if isinstance(parsed, EntryRequest):
                found.append(parsed)
    return found


def _client_accounts(store: Store) -> set[str]:
    with store.read() as connection:
        parties = parties_by_code(connection)
        accounts = accounts_by_code(connection)
    clients = {code for code, (party, _) in parties.items() if party.kind is PartyKind.CLIENT}
    return {code for code, (account, _, _) in accounts.items() if account.owner in clients}


def _assets_of(store: Store) -> dict[str, str]:
    with store.read() as connection:
        return {
            code: account.asset for code, (account, _, _) in accounts_by_code(connection).items()
        }


def _entry_waits(
    policy: ApprovalPolicy, entry: EntryRequest, clients: set[str], assets: dict[str, str]
) -> bool:
    """Whether this entry waits: it touches a client account (when the policy is limited to
    them; an account opened by convention under `client/` counts), and moves more than the
    policy's amount of an asset (when it names amounts)."""
    accounts = {posting.account for posting in entry.postings}
    if CLIENT_ACCOUNTS in policy.sections and not any(
        account in clients or account.startswith("client/") for account in accounts
    ):
        return False
    moved: dict[str, Decimal] = {}
    for posting in entry.postings:
        asset = assets.get(posting.account)
        try:
            amount = Decimal(str(posting.amount))
        except InvalidOperation:
            continue  # the ledger refuses it with its reason when the file is posted
        if asset is not None and amount > 0:
            moved[asset] = moved.get(asset, Decimal(0)) + amount
    return waits(policy, amounts=moved)


def apply_approved_entries(
    store: Store,
    request: dict[str, Any],
    *,
    maker: str,
    approver: str,
    approval_id: int,
    effect: dict[str, Any],
) -> dict[str, Any]:
    """What approving a `ledger.post` runs: the kept text posted as the maker's entries."""
    data = str(request["text"]).encode()
    result = post_stream(
        store, io.BufferedReader(io.BytesIO(data)), str(request["source"]), actor=maker
    )
    if result.failures and not result.created and not result.existing:
        # Nothing of it can be posted now: the approval fails, saying why, and still waits.
        raise ProblemError(*(problem for _, _, problem in result.failures[:problems_shown_max]))
    return {"created": result.created, "existing": result.existing, "failed": result.failed}
