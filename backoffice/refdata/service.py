"""Loading and listing reference data. A file loads whole or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.refdata_file import RefdataFile
from backoffice.refdata.model import (
    Account,
    AccountFlag,
    AccountStatus,
    AccountType,
    Asset,
    AssetKind,
    Party,
    PartyKind,
    account_change_problems,
    check_account,
    check_asset,
    check_party,
)
from backoffice.store import schema
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository


@dataclass(frozen=True, slots=True)
class LoadSummary:
    created: int
    changed: int
    unchanged: int


def load_refdata(store: Store, refdata: RefdataFile, *, actor: str, source: str) -> LoadSummary:
    """Create or update assets, parties and accounts in one transaction.

    Loading the same definitions again changes nothing. A changed definition is refused unless
    the change is allowed (a new name; closing an account whose balance is zero). Every problem
    in the file is reported at once, and then nothing is stored.
    """
    problems = list(refdata.problems)
    if problems:
        raise ProblemError(*problems)
    created = changed = unchanged = 0

    def at(section: str, code: str) -> Source:
        found = refdata.source_of(section, code)
        return Source(found.file or source, found.line)

    with store.write() as connection:
        # Take the ledger's turn: an account must not close while a posting to it commits.
        LedgerRepository(connection).lock_head()
        assets = _assets_by_code(connection)
        for asset in refdata.assets:
            where = at("assets", asset.code)
            found = check_asset(asset)
            problems.extend(_located(_named(found, "asset", asset.code), where))
            old = assets.get(asset.code)
            if old is None:
                if not found:
                    connection.execute(
                        sa.insert(schema.assets).values(
                            code=asset.code,
                            kind=asset.kind.value,
                            scale=asset.scale,
                            name=asset.name,
                            cusip=asset.cusip,
                        )
                    )
                    created += 1
                    assets[asset.code] = (asset, 0)
            elif old[0] == asset:
                unchanged += 1
            elif (old[0].code, old[0].kind, old[0].scale, old[0].cusip) == (
                asset.code,
                asset.kind,
                asset.scale,
                asset.cusip,
            ):
                connection.execute(
                    sa.update(schema.assets)
                    .where(schema.assets.c.code == asset.code)
                    .values(name=asset.name)
                )
                changed += 1
            else:
                problems.append(
                    Problem(
                        "definition_changed",
                        f"asset {asset.code!r}: only the name may change",
                        where,
                    )
                )
        assets = _assets_by_code(connection)
        parties = _parties_by_code(connection)
        for party in refdata.parties:
            where = at("parties", party.code)
            found = check_party(party)
            problems.extend(_located(_named(found, "party", party.code), where))
            old_party = parties.get(party.code)
            if old_party is None:
                if not found:
                    connection.execute(
                        sa.insert(schema.parties).values(
                            code=party.code, kind=party.kind.value, name=party.name
                        )
                    )
                    created += 1
            elif old_party[0] == party:
                unchanged += 1
            elif old_party[0].kind == party.kind:
                connection.execute(
                    sa.update(schema.parties)
                    .where(schema.parties.c.code == party.code)
                    .values(name=party.name)
                )
                changed += 1
            else:
                problems.append(
                    Problem(
                        "definition_changed",
                        f"party {party.code!r}: only the name may change",
                        where,
                    )
                )
        parties = _parties_by_code(connection)
        existing_accounts = accounts_by_code(connection)
        for account in refdata.accounts:
            where = at("accounts", account.code)
            found = check_account(account)
            if account.asset not in assets:
                found.append(
                    Problem("unknown_asset", f"no asset {account.asset!r}", Source(field="asset"))
                )
            if account.owner not in parties:
                found.append(
                    Problem("unknown_party", f"no party {account.owner!r}", Source(field="owner"))
                )
            problems.extend(_located(_named(found, "account", account.code), where))
            if found:
                continue
            old_account = existing_accounts.get(account.code)
            if old_account is None:
                connection.execute(
                    sa.insert(schema.accounts).values(
                        **_account_row(account, assets[account.asset][1], parties[account.owner][1])
                    )
                )
                created += 1
            elif old_account[0] == account:
                unchanged += 1
            else:
                refused = account_change_problems(old_account[0], account, old_account[2])
                if refused:
                    problems.extend(_located(refused, where))
                    continue
                connection.execute(
                    sa.update(schema.accounts)
                    .where(schema.accounts.c.code == account.code)
                    .values(name=account.name, status=account.status.value)
                )
                changed += 1
        if problems:
            # Raising inside the transaction rolls it back: nothing of the file is stored.
            raise ProblemError(*problems)
        connection.execute(
            sa.insert(schema.audit_log).values(
                at_us=_now_us(),
                actor=actor,
                command="refdata.load",
                detail_json=orjson.dumps(
                    {
                        "source": source,
                        "created": created,
                        "changed": changed,
                        "unchanged": unchanged,
                    }
                ).decode(),
            )
        )
    return LoadSummary(created, changed, unchanged)


def _located(problems: list[Problem], where: Source) -> list[Problem]:
    return [problem.with_source(where) for problem in problems]


def _named(problems: list[Problem], what: str, code: str) -> list[Problem]:
    return [Problem(p.code, f"{what} {code!r}: {p.reason}", p.source) for p in problems]


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


def _account_row(account: Account, asset_id: int, owner_id: int) -> dict[str, Any]:
    return {
        "code": account.code,
        "type": account.type.value,
        "asset_id": asset_id,
        "owner_id": owner_id,
        "status": account.status.value,
        "name": account.name,
        "external_account": account.external_account,
        "debits_must_not_exceed_credits": AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS
        in account.flags,
        "credits_must_not_exceed_debits": AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS
        in account.flags,
        "debits_posted": 0,
        "credits_posted": 0,
        "debits_pending": 0,
        "credits_pending": 0,
    }


def _assets_by_code(connection: sa.Connection) -> dict[str, tuple[Asset, int]]:
    t = schema.assets
    return {
        row.code: (Asset(row.code, AssetKind(row.kind), row.scale, row.name, row.cusip), row.id)
        for row in connection.execute(sa.select(t))
    }


def _parties_by_code(connection: sa.Connection) -> dict[str, tuple[Party, int]]:
    t = schema.parties
    return {
        row.code: (Party(row.code, PartyKind(row.kind), row.name), row.id)
        for row in connection.execute(sa.select(t))
    }


def accounts_by_code(connection: sa.Connection) -> dict[str, tuple[Account, int, bool]]:
    """Every account as a definition, with its id and whether its balance is wholly zero."""
    a, s, p = schema.accounts, schema.assets, schema.parties
    rows = connection.execute(
        sa.select(a, s.c.code.label("asset_code"), p.c.code.label("owner_code"))
        .join(s, s.c.id == a.c.asset_id)
        .join(p, p.c.id == a.c.owner_id)
    )
    found: dict[str, tuple[Account, int, bool]] = {}
    for row in rows:
        flags = {flag for flag in AccountFlag if getattr(row, flag.value)}
        account = Account(
            code=row.code,
            type=AccountType(row.type),
            asset=row.asset_code,
            owner=row.owner_code,
            flags=frozenset(flags),
            status=AccountStatus(row.status),
            name=row.name,
            external_account=row.external_account,
        )
        zero = (
            row.debits_posted == row.credits_posted
            and row.debits_pending == 0
            and row.credits_pending == 0
        )
        found[row.code] = (account, row.id, zero)
    return found


def list_refdata(store: Store) -> dict[str, list[Any]]:
    with store.read() as connection:
        return {
            "assets": [a for a, _ in _assets_by_code(connection).values()],
            "parties": [p for p, _ in _parties_by_code(connection).values()],
            "accounts": [a for a, _, _ in accounts_by_code(connection).values()],
        }
