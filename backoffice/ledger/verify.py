"""`ledger verify`: prove the books from their postings, whatever the stored totals say.

Recomputes every entry's hash chain link and zero sum, and every account's balance from the
postings, and compares them with what is stored. It reads in bounded batches, so it runs in
constant memory whatever the size of the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from backoffice.errors import Problem
from backoffice.ledger.model import Balance, EntryKind
from backoffice.ledger.rules import GENESIS_HASH, apply_posting, entry_hash
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

verify_batch_entries = 20_000
problems_max = 1_000


def verify_ledger(store: Store, progress: Callable[[int], None] | None = None) -> list[Problem]:
    """Every inconsistency found (at most `problems_max`); an empty list means the books hold."""
    problems: list[Problem] = []
    recomputed: dict[int, Balance] = defaultdict(Balance)
    asset_of_account: dict[int, int] = {}
    running_hash = GENESIS_HASH
    expected_id = 1
    with store.read() as connection:
        repository = LedgerRepository(connection)
        for account_id, asset_id in connection.exec_driver_sql("SELECT id, asset_id FROM accounts"):
            asset_of_account[int(account_id)] = int(asset_id)
        for batch in repository.iter_entries(verify_batch_entries):
            postings: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
            for row in repository.postings_between(batch[0].id, batch[-1].id):
                postings[row.entry_id].append((row.account_id, row.asset_id, row.amount_minor))
            for entry in batch:
                name = f"entry {entry.id} ({entry.key!r})"
                if entry.id != expected_id:
                    problems.append(
                        Problem("chain_gap", f"expected entry {expected_id}, found {entry.id}")
                    )
                expected_id = entry.id + 1
                lines = postings.get(entry.id, [])
                if entry.prev_hash != running_hash:
                    problems.append(
                        Problem("chain_broken", f"{name} does not follow the previous entry's hash")
                    )
                content = [
                    entry.id, entry.key, entry.body_hash, entry.kind,
                    entry.effective_date.isoformat(), entry.booked_at_us, entry.description,
                    entry.reference, entry.actor, entry.source, entry.metadata_json,
                    entry.pending_id, entry.reversal_of, entry.expires_at_us,
                ]  # fmt: skip
                computed = entry_hash(entry.prev_hash, content, lines)
                if computed != entry.hash:
                    problems.append(
                        Problem(
                            "hash_mismatch",
                            f"{name} content does not match its hash: altered after posting",
                        )
                    )
                running_hash = entry.hash
                if len(lines) < 2:
                    problems.append(
                        Problem("too_few_postings", f"{name} has {len(lines)} postings")
                    )
                sums: dict[int, int] = defaultdict(int)
                kind = EntryKind(entry.kind)
                for account_id, asset_id, amount in lines:
                    sums[asset_id] += amount
                    if asset_of_account.get(account_id) != asset_id:
                        problems.append(
                            Problem(
                                "asset_mismatch",
                                f"{name} posts asset {asset_id} to account {account_id}",
                            )
                        )
                    apply_posting(recomputed[account_id], amount, kind)
                for asset_id, total in sums.items():
                    if total != 0:
                        problems.append(
                            Problem(
                                "entry_unbalanced", f"{name} sums to {total} in asset {asset_id}"
                            )
                        )
                if len(problems) >= problems_max:
                    return problems
            if progress is not None:
                progress(len(batch))
        orphans = connection.exec_driver_sql(
            "SELECT count(*) FROM postings p WHERE NOT EXISTS "
            "(SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id)"
        ).scalar_one()
        if orphans:
            problems.append(Problem("orphan_postings", f"{orphans} postings belong to no entry"))
        last_id, last_hash = repository.read_head()
        if last_id != expected_id - 1 or last_hash != running_hash:
            problems.append(
                Problem(
                    "head_mismatch",
                    f"chain head says entry {last_id}, the chain ends at {expected_id - 1}",
                )
            )
        for account_id, code, *stored in connection.exec_driver_sql(
            "SELECT id, code, debits_posted, credits_posted, debits_pending, credits_pending"
            " FROM accounts"
        ):
            want = recomputed.get(int(account_id), Balance()).as_tuple()
            if tuple(int(v) for v in stored) != want:
                problems.append(
                    Problem(
                        "balance_mismatch",
                        f"account {code!r}: stored totals {tuple(stored)} but postings give {want}",
                    )
                )
    return problems[:problems_max]
