"""The matching engine: statement items against book items, columnar with Polars.

Inputs (one account at a time, or many: `account` is part of every key):

    statement: id (i64), account (str), amount_minor (i64), value_date (date),
               refs (list[str]: every reference the bank gave)
    books:     id (i64), account (str), amount_minor (i64), value_date (date), reference (str)

Both sides are signed the same way: positive = money (or securities) into the account.

Rules, in order; each takes only what the earlier ones left:
1. exact: a shared reference, the same amount and the same value date;
2. tolerance: a shared reference, the amount within the account's tolerance (absolute minor
   units or basis points, the larger) and the value date within n days;
3. one-to-many: one statement line against several book items of one reference that sum to
   it (within the tolerance), all within the group window of the line's date;
4. many-to-one: several statement lines of one reference against one book item, likewise;
5. many-to-many: every remaining item of both sides sharing one reference, when the sums agree.

Deterministic: where several pairs compete, items pair in the order of their ids (the k-th
statement line of a key with the k-th book item of that key), so the same inputs always give
the same matches. What is left is classified as breaks by `classify`. `match_by_rule_sets`
runs the engine once per set of matching rules, for the accounts that share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from backoffice.errors import invariant
from backoffice.recon.model import BreakType, MatchingRules, MatchRule

STATEMENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "account": pl.String(),
    "amount_minor": pl.Int64(),
    "value_date": pl.Date(),
    "refs": pl.List(pl.String()),
}
BOOKS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "account": pl.String(),
    "amount_minor": pl.Int64(),
    "value_date": pl.Date(),
    "reference": pl.String(),
}


@dataclass(frozen=True, slots=True)
class Matched:
    """`pairs`: match (i64), rule (str), side ("statement" | "books"), id (i64): every item
    matched, grouped by match number. `statement` and `books`: what is left."""

    pairs: pl.DataFrame
    statement: pl.DataFrame
    books: pl.DataFrame
    lines: pl.DataFrame  # every statement line, one row per reference (for `classify`)
    rules: MatchingRules
    postings: pl.DataFrame | None = None  # every book item, earlier matched ones too (ditto)


def _exploded(statement: pl.DataFrame) -> pl.DataFrame:
    """One row per (statement line, reference). The readers give each line's references
    without repeats, so no de-duplication is paid for here."""
    return (
        statement.explode("refs")
        .rename({"refs": "reference"})
        .filter(pl.col("reference").is_not_null() & (pl.col("reference") != ""))
    )


def _one_to_one(statement: pl.DataFrame, books: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Pairs (s_id, b_id) equal on `keys`, each item used once. Where a key has several items
    on a side, the k-th statement line of the key (by id) pairs with the k-th book item; a
    line matching under two of its references keeps its first pair (lowest book id). Only
    those few ambiguous keys pay for the ranking: the rest is one hash join."""
    candidates = statement.select(*keys, pl.col("id").alias("s_id")).join(
        books.select(*keys, pl.col("id").alias("b_id")), on=keys, how="inner"
    )
    ambiguous = pl.col("s_id").is_duplicated() | pl.col("b_id").is_duplicated()
    clear = candidates.filter(~ambiguous).select("s_id", "b_id")
    contested = candidates.filter(ambiguous)
    if contested.height:
        ranked_s = (
            contested.select(*keys, "s_id")
            .unique()
            .with_columns(pl.col("s_id").rank("ordinal").over(keys).alias("_k"))
        )
        ranked_b = (
            contested.select(*keys, "b_id")
            .unique()
            .with_columns(pl.col("b_id").rank("ordinal").over(keys).alias("_k"))
        )
        settled = (
            ranked_s.join(ranked_b, on=[*keys, "_k"])
            .select("s_id", "b_id")
            .sort("s_id", "b_id")
            .unique("s_id", keep="first", maintain_order=True)
            .unique("b_id", keep="first", maintain_order=True)
        )
        # Items in a contested row appear in no clear row: the two sets are disjoint.
        clear = pl.concat([clear, settled])
    return clear


def _within(rules: MatchingRules) -> pl.Expr:
    difference = (pl.col("amount_minor") - pl.col("amount_minor_right")).abs()
    relative = pl.col("amount_minor").abs() * rules.amount_tolerance_bps // 10_000
    allowed = pl.max_horizontal(pl.lit(rules.amount_tolerance_minor), relative)
    days = (pl.col("value_date") - pl.col("value_date_right")).dt.total_days().abs()
    return (difference <= allowed) & (days <= rules.date_tolerance_days)


def _tolerance(statement: pl.DataFrame, books: pl.DataFrame, rules: MatchingRules) -> pl.DataFrame:
    candidates = (
        statement.join(books, on=["account", "reference"], how="inner")
        .filter(_within(rules))
        .with_columns(
            (pl.col("amount_minor") - pl.col("amount_minor_right")).abs().alias("_da"),
            (pl.col("value_date") - pl.col("value_date_right")).dt.total_days().abs().alias("_dd"),
        )
        .select(pl.col("id").alias("s_id"), pl.col("id_right").alias("b_id"), "_da", "_dd")
    )
    # Closest first, then by ids: a greedy assignment, the same on every run.
    return (
        candidates.sort("_da", "_dd", "s_id", "b_id")
        .unique("s_id", keep="first", maintain_order=True)
        .unique("b_id", keep="first", maintain_order=True)
        .select("s_id", "b_id")
    )


def _groups(
    one: pl.DataFrame,
    many: pl.DataFrame,
    rules: MatchingRules,
    one_key: str,
    many_key: str,
) -> pl.DataFrame:
    """(one_id, many_id) rows: each `one` item against all `many` items of one reference whose
    sum equals it within the tolerance, all within the group window of its date."""
    sums = many.group_by("account", "reference").agg(
        pl.col("amount_minor").sum(),
        pl.col("value_date").min().alias("first_date"),
        pl.col("value_date").max().alias("last_date"),
        pl.col("id").alias("ids"),
        pl.len().alias("count"),
    )
    window = rules.group_window_days
    joined = (
        one.join(sums.filter(pl.col("count") > 1), on=["account", "reference"], how="inner")
        .filter(
            (pl.col("amount_minor") - pl.col("amount_minor_right")).abs()
            <= pl.max_horizontal(
                pl.lit(rules.amount_tolerance_minor),
                pl.col("amount_minor").abs() * rules.amount_tolerance_bps // 10_000,
            )
        )
        .filter(
            ((pl.col("value_date") - pl.col("first_date")).dt.total_days().abs() <= window)
            & ((pl.col("value_date") - pl.col("last_date")).dt.total_days().abs() <= window)
        )
        .sort("id")
        .unique(["account", "reference"], keep="first", maintain_order=True)
        .unique("id", keep="first", maintain_order=True)
    )
    pairs = joined.select(pl.col("id").alias(one_key), pl.col("ids").alias(many_key)).explode(
        many_key
    )
    return _whole_groups(pairs, one_key, many_key)


def _whole_groups(pairs: pl.DataFrame, group_key: str, item_key: str) -> pl.DataFrame:
    """Keep only groups none of whose items belongs to an earlier group (by `group_key`).
    An item with several references can join several groups; taking it for one group only
    would leave the others short of it, summing to less than their other side. Dropping
    every later group that shares an item is deterministic and never yields a partial group
    (it may leave a group unmatched that a cleverer search would have kept: it is then a
    break for a person to look at, never a wrong match)."""
    if pairs.height == 0:
        return pairs
    first_group = pl.col(group_key).min().over(item_key)
    clashing = pairs.filter(first_group < pl.col(group_key)).select(group_key).unique().to_series()
    return pairs.filter(~pl.col(group_key).is_in(clashing.implode()))


def _many_to_many(
    statement: pl.DataFrame, books: pl.DataFrame, rules: MatchingRules
) -> pl.DataFrame:
    """(reference, s_ids, b_ids) for references whose remaining items, more than one on at
    least one side and all within the group window, sum equally (a lone pair that only shares
    a reference is not a match: its date or amount differs, which is a break to see)."""

    def sums(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return frame.group_by("account", "reference").agg(
            pl.col("amount_minor").sum().alias(f"{prefix}_sum"),
            pl.col("id").alias(f"{prefix}_ids"),
            pl.col("value_date").min().alias(f"{prefix}_first"),
            pl.col("value_date").max().alias(f"{prefix}_last"),
        )

    both = sums(statement, "s").join(sums(books, "b"), on=["account", "reference"])
    spread = (
        pl.max_horizontal("s_last", "b_last") - pl.min_horizontal("s_first", "b_first")
    ).dt.total_days()
    return (
        both.filter(
            (pl.col("s_sum") == pl.col("b_sum"))
            & (pl.col("s_ids").list.len() + pl.col("b_ids").list.len() > 2)
            & (spread <= rules.group_window_days)
        )
        .select("reference", "s_ids", "b_ids")
        .sort("reference")
    )


def match(
    statement: pl.DataFrame,
    books: pl.DataFrame,
    rules: MatchingRules,
    history: pl.DataFrame | None = None,
    books_history: pl.DataFrame | None = None,
) -> Matched:
    """Match `statement` lines with `books` items. `history`: lines matched by earlier runs
    (same schema), only for telling a duplicate of one of them from a line the books lack;
    `books_history` likewise for book items (a posting repeating one matched earlier)."""
    invariant(
        statement["id"].n_unique() == statement.height and books["id"].n_unique() == books.height,
        "matching: item ids must be unique on each side",
    )
    pieces: list[pl.DataFrame] = []
    next_match = 0
    lines = _exploded(statement)
    all_lines = lines if history is None else pl.concat([_exploded(history), lines])
    all_books = books if books_history is None else pl.concat([books_history, books])

    def take(pairs: pl.DataFrame, rule: MatchRule, grouped_by: str) -> None:
        """Record `pairs` (s_id, b_id) as matches, one match per value of `grouped_by`."""
        nonlocal next_match, statement, books, lines
        if pairs.height == 0:
            return
        numbered = pairs.with_columns(
            (pl.col(grouped_by).rank("dense").cast(pl.Int64) - 1 + next_match).alias("match")
        )
        next_match = int(numbered["match"].max() or 0) + 1  # type: ignore[arg-type]
        pieces.append(
            pl.concat(
                [
                    numbered.select(
                        "match", pl.lit("statement").alias("side"), pl.col("s_id").alias("id")
                    ),
                    numbered.select(
                        "match", pl.lit("books").alias("side"), pl.col("b_id").alias("id")
                    ),
                ]
            )
            .unique(["side", "id"], keep="first", maintain_order=True)
            .with_columns(pl.lit(rule.value).alias("rule"))
        )
        taken = pairs["s_id"].implode()
        statement = statement.filter(~pl.col("id").is_in(taken))
        lines = lines.filter(~pl.col("id").is_in(taken))
        books = books.filter(~pl.col("id").is_in(pairs["b_id"].implode()))

    for rule in rules.rules:
        if rule is MatchRule.EXACT:
            take(
                _one_to_one(lines, books, ["account", "reference", "amount_minor", "value_date"]),
                rule,
                "s_id",
            )
        elif rule is MatchRule.TOLERANCE:
            take(_tolerance(lines, books, rules), rule, "s_id")
        elif rule is MatchRule.ONE_TO_MANY:
            take(_groups(lines.sort("id"), books, rules, "s_id", "b_id"), rule, "s_id")
        elif rule is MatchRule.MANY_TO_ONE:
            grouped = _groups(books.sort("id"), lines, rules, "b_id", "s_id")
            take(grouped.unique("s_id", keep="first", maintain_order=True), rule, "b_id")
        elif rule is MatchRule.MANY_TO_MANY:
            groups = _many_to_many(lines, books, rules).with_row_index("group")
            # A line under two references may be in two agreeing groups: the first keeps it.
            members = _whole_groups(
                groups.select("group", pl.col("s_ids").alias("s_id")).explode("s_id"),
                "group",
                "s_id",
            )
            kept = groups.filter(pl.col("group").is_in(members["group"].unique().implode()))
            pairs = (
                kept.explode("s_ids").explode("b_ids").rename({"s_ids": "s_id", "b_ids": "b_id"})
            )
            take(pairs.unique(["s_id", "b_id"], maintain_order=True), rule, "group")
    empty = pl.DataFrame(
        schema={"match": pl.Int64, "side": pl.String, "id": pl.Int64(), "rule": pl.String}
    )
    pairs = pl.concat(pieces) if pieces else empty
    invariant(
        pairs.filter(pl.col("side") == "statement")["id"].n_unique()
        == pairs.filter(pl.col("side") == "statement").height,
        "matching: a statement line was matched twice",
    )
    invariant(
        pairs.filter(pl.col("side") == "books")["id"].n_unique()
        == pairs.filter(pl.col("side") == "books").height,
        "matching: a book item was matched twice",
    )
    return Matched(pairs, statement, books, all_lines, rules, all_books)


def classify(matched: Matched) -> pl.DataFrame:
    """Breaks from what matching left: side, id, type, account, amount_minor, value_date,
    reference. A leftover pair sharing a reference is an amount difference (amounts differ
    beyond tolerance) or a date difference (dates differ beyond tolerance), reported once, on
    the statement line; a statement line identical to a matched one (same reference, amount
    and date) is a duplicate, and so is a book item identical to a matched one (`other_id`:
    the one it repeats); the rest are missing in the books (statement lines) or missing
    in the statement (book items)."""
    statement, books, rules = matched.statement, matched.books, matched.rules
    lines = _exploded(statement)
    difference = (pl.col("amount_minor") - pl.col("amount_minor_right")).abs()
    allowed = pl.max_horizontal(
        pl.lit(rules.amount_tolerance_minor),
        pl.col("amount_minor").abs() * rules.amount_tolerance_bps // 10_000,
    )
    related = (
        lines.join(books, on=["account", "reference"], how="inner")
        .sort("id", "id_right")
        .unique("id", keep="first", maintain_order=True)
        .unique("id_right", keep="first", maintain_order=True)
        .with_columns(
            pl.when(difference > allowed)
            .then(pl.lit(BreakType.AMOUNT_DIFFERENCE.value))
            .otherwise(pl.lit(BreakType.DATE_DIFFERENCE.value))
            .alias("type")
        )
    )
    differences = related.select(
        pl.lit("statement").alias("side"),
        "id",
        "type",
        "account",
        "amount_minor",
        "value_date",
        "reference",
        pl.col("id_right").alias("other_id"),
    )
    left_lines = statement.filter(~pl.col("id").is_in(differences["id"].implode()))
    left_books = books.filter(~pl.col("id").is_in(related["id_right"].implode()))
    first_ref = left_lines.with_columns(pl.col("refs").list.first().alias("reference"))
    # A leftover line the same as another line (reference, amount, date): a duplicate.
    key = ["account", "reference", "amount_minor", "value_date"]
    all_lines = matched.lines
    dupes = (
        first_ref.join(all_lines.select(*key, pl.col("id").alias("twin")), on=key)
        .filter(pl.col("twin") < pl.col("id"))
        .select("id")
        .unique()
    )
    typed_lines = first_ref.with_columns(
        pl.when(pl.col("id").is_in(dupes["id"].implode()))
        .then(pl.lit(BreakType.DUPLICATE.value))
        .otherwise(pl.lit(BreakType.MISSING_IN_BOOKS.value))
        .alias("type")
    ).select(
        pl.lit("statement").alias("side"),
        "id",
        "type",
        "account",
        "amount_minor",
        "value_date",
        "reference",
        pl.lit(None, pl.Int64).alias("other_id"),
    )
    typed_books = _typed_books(left_books, matched)
    return pl.concat([differences, typed_lines, typed_books]).sort("side", "id")


def _typed_books(left_books: pl.DataFrame, matched: Matched) -> pl.DataFrame:
    """Book items nothing explains: a duplicate when a matched book item has the same
    reference, amount and value date (the books show twice what the statement shows once;
    `other_id` the lowest such item), else missing in the statement. Items alike that are all
    unmatched are all missing: nothing says which one the bank should have shown."""
    key = ["account", "reference", "amount_minor", "value_date"]
    postings = left_books if matched.postings is None else matched.postings
    unmatched = left_books["id"].implode()
    twins = (
        left_books.select(*key, "id")
        .join(
            postings.filter(~pl.col("id").is_in(matched.books["id"].implode())).select(
                *key, pl.col("id").alias("twin")
            ),
            on=key,
        )
        .filter(~pl.col("twin").is_in(unmatched))
        .group_by("id")
        .agg(pl.col("twin").min())
    )
    return left_books.join(twins, on="id", how="left").select(
        pl.lit("books").alias("side"),
        "id",
        pl.when(pl.col("twin").is_not_null())
        .then(pl.lit(BreakType.DUPLICATE.value))
        .otherwise(pl.lit(BreakType.MISSING_IN_STATEMENT.value))
        .alias("type"),
        "account",
        "amount_minor",
        "value_date",
        "reference",
        pl.col("twin").cast(pl.Int64).alias("other_id"),
    )


def match_by_rule_sets(
    statement: pl.DataFrame,
    books: pl.DataFrame,
    history: pl.DataFrame,
    books_history: pl.DataFrame,
    ids: Sequence[int],
    codes: Mapping[int, str],
    rules: MatchingRules,
    account_rules: Mapping[str, MatchingRules],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, breaks): accounts sharing a rule set are matched together, one run per set;
    match numbers are kept apart across runs."""
    groups: dict[MatchingRules, list[str]] = {}
    for account_id in ids:
        groups.setdefault(account_rules.get(codes[account_id], rules), []).append(str(account_id))
    all_pairs: list[pl.DataFrame] = []
    all_breaks: list[pl.DataFrame] = []
    offset = 0
    for group_rules, accounts in groups.items():
        mine = pl.col("account").is_in(accounts)
        matched = match(
            statement.filter(mine),
            books.filter(mine),
            group_rules,
            history.filter(mine),
            books_history.filter(mine),
        )
        found = classify(matched)
        pairs = matched.pairs.with_columns(pl.col("match") + offset)
        if pairs.height:
            offset = int(pairs["match"].max()) + 1  # type: ignore[arg-type]
        all_pairs.append(pairs)
        all_breaks.append(found)
    if not all_pairs:
        empty = match(statement.clear(), books.clear(), rules)
        return empty.pairs, classify(empty)
    return pl.concat(all_pairs), pl.concat(all_breaks).sort("side", "id")
