"""Reversals in a recon run: an unmatched entry and its unmatched reversal moved no money at the
bank, so what the statement left of them is matched together (rule `reversal`) and is no
break."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from backoffice.recon.model import BreakType, MatchRule, postings_per_entry
from backoffice.store import schema


def with_reversals(
    connection: sa.Connection, books: pl.DataFrame, pairs: pl.DataFrame, found: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, set[int]]:
    """(pairs, breaks, items matched as reversals): what the statement left of an entry and
    its reversal (both unmatched: the bank shows neither) is matched together, and is no
    break. Matching against the statement comes first: a bank that shows the payment and
    its return has lines for both."""
    left = books.filter(
        ~pl.col("id").is_in(pairs.filter(pl.col("side") == "books")["id"].implode())
    )
    reversals = _reversed_pairs(connection, left)
    if reversals.height == 0:
        return pairs, found, set()
    first = int(pairs["match"].max()) + 1 if pairs.height else 0  # type: ignore[arg-type]
    pairs = pl.concat([pairs, reversals.with_columns(pl.col("match") + first)])
    taken = reversals["id"].implode()
    found = found.filter(~((pl.col("side") == "books") & pl.col("id").is_in(taken)))
    # A difference on a line found against an item now matched as a reversal: the line is
    # what the books lack.
    against = (pl.col("side") == "statement") & pl.col("other_id").is_in(taken)
    found = found.with_columns(
        pl.when(against)
        .then(pl.lit(BreakType.MISSING_IN_BOOKS.value))
        .otherwise(pl.col("type"))
        .alias("type"),
        pl.when(against).then(None).otherwise(pl.col("other_id")).alias("other_id"),
    )
    return pairs, found, set(reversals["id"].to_list())


def _reversed_pairs(connection: sa.Connection, books: pl.DataFrame) -> pl.DataFrame:
    """Matches (match, side, id, rule) among unmatched book items: an unmatched
    entry and its unmatched reversal moved no money at the bank, so their postings to an
    account are matched with each other (rule `reversal`) when they net to zero there. This
    is how reversing a duplicate entry closes its `duplicate` break."""
    empty = pl.DataFrame(
        schema={"match": pl.Int64, "side": pl.String, "id": pl.Int64, "rule": pl.String}
    )
    if books.height == 0:
        return empty
    je = schema.journal_entries
    entry_ids = sorted({int(i) // postings_per_entry for i in books["id"].to_list()})
    links = [
        (int(r.id), int(r.reversal_of))
        for start in range(0, len(entry_ids), 5000)
        for r in connection.execute(
            sa.select(je.c.id, je.c.reversal_of).where(
                je.c.id.in_(entry_ids[start : start + 5000]), je.c.reversal_of.is_not(None)
            )
        )
    ]
    if not links:
        return empty
    group_of = pl.DataFrame(
        [(entry, group) for group, pair in enumerate(links) for entry in pair],
        schema={"entry": pl.Int64, "group": pl.Int64},
        orient="row",
    )
    candidates = books.with_columns((pl.col("id") // postings_per_entry).alias("entry")).join(
        group_of, on="entry"
    )
    complete = (
        candidates.group_by("group", "account")
        .agg(pl.col("amount_minor").sum(), pl.col("entry").n_unique().alias("entries"))
        .filter((pl.col("amount_minor") == 0) & (pl.col("entries") == 2))
        .select("group", "account")
    )
    taken = candidates.join(complete, on=["group", "account"]).sort("id")
    return taken.select(
        pl.struct("group", "account").rank("dense").cast(pl.Int64).alias("match") - 1,
        pl.lit("books").alias("side"),
        "id",
        pl.lit(MatchRule.REVERSAL.value).alias("rule"),
    )
