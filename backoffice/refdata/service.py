"""Loading and listing reference data. A file loads whole or not at all."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from backoffice.admin.approval_policy_service import load_policies
from backoffice.errors import Problem, ProblemError, Source
from backoffice.formats.refdata_file import RefdataFile
from backoffice.refdata.calendars import MARKETS
from backoffice.refdata.model import (
    Account,
    AccountFlag,
    AccountStatus,
    AccountType,
    Asset,
    AssetKind,
    CommissionTerms,
    FeeRateDefinition,
    Party,
    PartyKind,
    RegulatoryFeeName,
    StandingInstruction,
    account_change_problems,
    check_account,
    check_asset,
    check_fee_rate,
    check_party,
    check_standing_instruction,
    check_trading_terms,
)
from backoffice.store import schema
from backoffice.store.audit_chain import append_event
from backoffice.store.engine import Store
from backoffice.store.ledger_repository import LedgerRepository

_MARKETS = frozenset(MARKETS)
# Trading terms of a security may be given once; changing them would re-price booked trades.
_TRADING_TERMS = ("market", "currency", "asset_class")


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
            found = check_asset(asset) + check_trading_terms(asset, _MARKETS)
            problems.extend(_located(_named(found, "asset", asset.code), where))
            old = assets.get(asset.code)
            terms = {name: getattr(asset, name) for name in _TRADING_TERMS}
            if old is None:
                if not found:
                    connection.execute(
                        sa.insert(schema.assets).values(
                            code=asset.code,
                            kind=asset.kind.value,
                            scale=asset.scale,
                            name=asset.name,
                            cusip=asset.cusip,
                            **terms,
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
            ) and all(
                getattr(old[0], name) in (None, getattr(asset, name)) for name in _TRADING_TERMS
            ):
                connection.execute(
                    sa.update(schema.assets)
                    .where(schema.assets.c.code == asset.code)
                    .values(name=asset.name, **terms)
                )
                changed += 1
            else:
                problems.append(
                    Problem(
                        "definition_changed",
                        f"asset {asset.code!r}: only the name may change, and market, "
                        "currency and asset_class may be given once",
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
            if found:
                continue
            if old_party is None:
                party_id = connection.execute(
                    sa.insert(schema.parties)
                    .values(
                        code=party.code,
                        kind=party.kind.value,
                        name=party.name,
                        allocates=party.allocates,
                    )
                    .returning(schema.parties.c.id)
                ).scalar_one()
                _store_commission(connection, party_id, party.commission)
                created += 1
            elif old_party[0] == party:
                unchanged += 1
            elif old_party[0].kind == party.kind:
                # A new name, allocation flag or commission schedule applies to trades
                # captured from now on; booked trades keep the figures they were booked with.
                connection.execute(
                    sa.update(schema.parties)
                    .where(schema.parties.c.code == party.code)
                    .values(name=party.name, allocates=party.allocates)
                )
                _store_commission(connection, old_party[1], party.commission)
                changed += 1
            else:
                problems.append(
                    Problem(
                        "definition_changed",
                        f"party {party.code!r}: the kind may not change",
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
        counts = _load_ssis(connection, refdata, parties, at, problems)
        counts += _load_fee_rates(connection, refdata, at, problems)
        if refdata.approval_policies:
            counts += _Counts(
                load_policies(
                    connection,
                    refdata.approval_policies,
                    {p.code: at("approval_policies", p.code) for p in refdata.approval_policies},
                    problems,
                )
            )
        created, changed, unchanged = (
            created + counts[0],
            changed + counts[1],
            unchanged + counts[2],
        )
        if problems:
            # Raising inside the transaction rolls it back: nothing of the file is stored.
            raise ProblemError(*problems)
        detail = {"source": source, "created": created, "changed": changed, "unchanged": unchanged}
        append_event(connection, _now_us(), actor, "refdata.load", orjson.dumps(detail).decode())
    return LoadSummary(created, changed, unchanged)


class _Counts(tuple[int, int, int]):
    def __add__(self, other: object) -> _Counts:
        assert isinstance(other, tuple)
        return _Counts(a + b for a, b in zip(self, other, strict=True))


def _load_ssis(
    connection: sa.Connection,
    refdata: RefdataFile,
    parties: dict[str, tuple[Party, int]],
    at: Any,
    problems: list[Problem],
) -> _Counts:
    """SSIs are replaced in place: a party's instructions for a market change over time."""
    created = changed = unchanged = 0
    existing = {ssi.code: ssi for ssi in _ssis(connection)}
    for ssi in refdata.ssis:
        where = at("ssis", ssi.code)
        found = check_standing_instruction(ssi, _MARKETS)
        if ssi.party not in parties:
            found.append(Problem("unknown_party", f"no party {ssi.party!r}", Source(field="party")))
        problems.extend(_located(_named(found, "ssi", ssi.code), where))
        if found:
            continue
        old = existing.get(ssi.code)
        values = {
            "place_of_settlement": ssi.place_of_settlement,
            "agent": ssi.agent,
            "safekeeping_account": ssi.safekeeping_account,
        }
        party_id = parties[ssi.party][1]
        if old is None:
            connection.execute(
                sa.insert(schema.ssis).values(party_id=party_id, market=ssi.market, **values)
            )
            created += 1
        elif old == ssi:
            unchanged += 1
        else:
            connection.execute(
                sa.update(schema.ssis)
                .where(schema.ssis.c.party_id == party_id, schema.ssis.c.market == ssi.market)
                .values(**values)
            )
            changed += 1
    return _Counts((created, changed, unchanged))


def _load_fee_rates(
    connection: sa.Connection, refdata: RefdataFile, at: Any, problems: list[Problem]
) -> _Counts:
    """A rate, once given for a date, stays: trades were charged by it. A new rate is a new
    `effective_from`."""
    created = unchanged = 0
    existing = {rate.code: rate for rate in fee_rate_definitions(connection)}
    for rate in refdata.fee_rates:
        where = at("fee_rates", rate.code)
        found = check_fee_rate(rate)
        problems.extend(_located(_named(found, "fee rate", rate.code), where))
        if found:
            continue
        old = existing.get(rate.code)
        if old is None:
            connection.execute(
                sa.insert(schema.fee_rates).values(
                    fee=rate.fee.value,
                    effective_from=dt.date.fromisoformat(rate.effective_from),
                    rate=rate.rate,
                    maximum=rate.maximum,
                )
            )
            created += 1
        elif old == rate:
            unchanged += 1
        else:
            problems.append(
                Problem(
                    "definition_changed",
                    f"fee rate {rate.code!r} is already {old.rate} (maximum {old.maximum}); "
                    "give a new rate a new effective_from",
                    where,
                )
            )
    return _Counts((created, 0, unchanged))


def _store_commission(
    connection: sa.Connection, party_id: int, terms: CommissionTerms | None
) -> None:
    table = schema.commission_schedules
    connection.execute(sa.delete(table).where(table.c.party_id == party_id))
    if terms is not None:
        connection.execute(
            sa.insert(table).values(
                party_id=party_id,
                currency=terms.currency,
                per_share=terms.per_share,
                bps=terms.bps,
                minimum=terms.minimum,
            )
        )


def _ssis(connection: sa.Connection) -> list[StandingInstruction]:
    t, p = schema.ssis, schema.parties
    rows = connection.execute(
        sa.select(t, p.c.code.label("party_code"))
        .join(p, p.c.id == t.c.party_id)
        .order_by(p.c.code, t.c.market)
    )
    return [
        StandingInstruction(
            row.party_code, row.market, row.place_of_settlement, row.agent, row.safekeeping_account
        )
        for row in rows
    ]


def fee_rate_definitions(connection: sa.Connection) -> list[FeeRateDefinition]:
    t = schema.fee_rates
    return [
        FeeRateDefinition(
            RegulatoryFeeName(row.fee), row.effective_from.isoformat(), row.rate, row.maximum
        )
        for row in connection.execute(sa.select(t).order_by(t.c.fee, t.c.effective_from))
    ]


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


def assets_by_code(connection: sa.Connection) -> dict[str, tuple[Asset, int]]:
    t = schema.assets
    return {
        row.code: (
            Asset(
                row.code,
                AssetKind(row.kind),
                row.scale,
                row.name,
                row.cusip,
                row.market,
                row.currency,
                row.asset_class,
            ),
            row.id,
        )
        for row in connection.execute(sa.select(t))
    }


_assets_by_code = assets_by_code


def parties_by_code(connection: sa.Connection) -> dict[str, tuple[Party, int]]:
    t, c = schema.parties, schema.commission_schedules
    rows = connection.execute(sa.select(t, c).outerjoin(c, c.c.party_id == t.c.id))
    return {
        row.code: (
            Party(
                row.code,
                PartyKind(row.kind),
                row.name,
                bool(row.allocates),
                None
                if row.currency is None
                else CommissionTerms(row.currency, row.per_share, row.bps, row.minimum),
            ),
            row.id,
        )
        for row in rows
    }


_parties_by_code = parties_by_code


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
            "ssis": _ssis(connection),
            "fee_rates": fee_rate_definitions(connection),
        }
