"""The matching engine on its own: Polars frames in, matches and breaks out, no store."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.recon.matching_service import (
    BOOKS_SCHEMA,
    STATEMENT_SCHEMA,
    Matched,
    classify,
    match,
)
from backoffice.recon.model import MatchingRules, MatchRule

DAY = dt.date(2026, 11, 16)
NOSTRO = "1"
RULES = MatchingRules()

StatementRow = tuple[int, str, int, dt.date, list[str]]
BooksRow = tuple[int, str, int, dt.date, str]


def day(offset: int) -> dt.date:
    return DAY + dt.timedelta(days=offset)


def line(
    item: int, amount_minor: int, *references: str, offset: int = 0, account: str = NOSTRO
) -> StatementRow:
    return (item, account, amount_minor, day(offset), list(references))


def posting(
    item: int, amount_minor: int, reference: str, offset: int = 0, account: str = NOSTRO
) -> BooksRow:
    return (item, account, amount_minor, day(offset), reference)


def statement_frame(rows: Sequence[StatementRow]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=STATEMENT_SCHEMA, orient="row")


def books_frame(rows: Sequence[BooksRow]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=BOOKS_SCHEMA, orient="row")


def matched(
    lines: Sequence[StatementRow], postings: Sequence[BooksRow], rules: MatchingRules = RULES
) -> Matched:
    return match(statement_frame(lines), books_frame(postings), rules)


def groups(result: Matched) -> set[tuple[tuple[int, ...], tuple[int, ...], str]]:
    """Each match as (statement ids, book ids, rule), independent of match numbering."""
    found: dict[int, tuple[list[int], list[int], str]] = {}
    for number, side, item, rule in result.pairs.select("match", "side", "id", "rule").rows():
        statement_ids, book_ids, _ = found.setdefault(number, ([], [], rule))
        (statement_ids if side == "statement" else book_ids).append(item)
    return {(tuple(sorted(s)), tuple(sorted(b)), rule) for s, b, rule in found.values()}


def breaks(result: Matched) -> set[tuple[str, int, str]]:
    return {(side, item, kind) for side, item, kind in classify(result).select("side", "id", "type").rows()}  # fmt: skip


def test_a_line_and_a_posting_with_the_same_reference_amount_and_date_match_exactly() -> None:
    result = matched([line(1, 10000, "E2E-1")], [posting(100, 10000, "E2E-1")])
    assert groups(result) == {((1,), (100,), MatchRule.EXACT.value)}
    assert breaks(result) == set()


def test_a_line_with_several_references_matches_a_posting_by_any_of_them() -> None:
    result = matched(
        [line(1, 10000, "E2E-1", "ACSR-9", "INV 2026/7")], [posting(100, 10000, "INV 2026/7")]
    )
    assert groups(result) == {((1,), (100,), "exact")}


def test_an_amount_within_the_absolute_tolerance_matches_by_the_tolerance_rule() -> None:
    rules = MatchingRules(amount_tolerance_minor=5)
    result = matched([line(1, 10004, "R")], [posting(100, 10000, "R")], rules)
    assert groups(result) == {((1,), (100,), "tolerance")}
    assert breaks(matched([line(1, 10006, "R")], [posting(100, 10000, "R")], rules)) == {
        ("statement", 1, "amount_difference")
    }


def test_an_amount_within_the_relative_tolerance_in_basis_points_matches() -> None:
    rules = MatchingRules(amount_tolerance_bps=10)  # 0.1 %: 100 minor units of 100,000
    assert groups(matched([line(1, 100_000, "R")], [posting(100, 100_100, "R")], rules)) == {
        ((1,), (100,), "tolerance")
    }
    assert groups(matched([line(1, 100_000, "R")], [posting(100, 100_101, "R")], rules)) == set()


def test_the_larger_of_the_absolute_and_relative_tolerance_applies() -> None:
    rules = MatchingRules(amount_tolerance_minor=50, amount_tolerance_bps=1)  # 1 bp of 1000 = 0
    assert groups(matched([line(1, 1000, "R")], [posting(100, 1050, "R")], rules)) == {
        ((1,), (100,), "tolerance")
    }


def test_a_value_date_within_the_date_tolerance_matches_by_the_tolerance_rule() -> None:
    rules = MatchingRules(date_tolerance_days=2)
    within = matched([line(1, 500, "R", offset=2)], [posting(100, 500, "R")], rules)
    assert groups(within) == {((1,), (100,), "tolerance")}
    beyond = matched([line(1, 500, "R", offset=3)], [posting(100, 500, "R")], rules)
    assert groups(beyond) == set()
    assert breaks(beyond) == {("statement", 1, "date_difference")}


def test_one_line_matches_three_postings_of_its_reference_that_sum_to_it() -> None:
    result = matched(
        [line(1, 30000, "BATCH-7", offset=1)],
        [posting(100, 10000, "BATCH-7"), posting(101, 15000, "BATCH-7", offset=1),
         posting(102, 5000, "BATCH-7", offset=3)],
    )  # fmt: skip
    assert groups(result) == {((1,), (100, 101, 102), "one_to_many")}
    assert breaks(result) == set()


def test_postings_outside_the_group_window_do_not_make_a_one_to_many_match() -> None:
    rules = MatchingRules(group_window_days=3)
    result = matched(
        [line(1, 30000, "BATCH-7")],
        [posting(100, 10000, "BATCH-7"), posting(101, 10000, "BATCH-7"),
         posting(102, 10000, "BATCH-7", offset=4)],
        rules,
    )  # fmt: skip
    assert groups(result) == set()


def test_several_lines_of_one_reference_match_one_posting_that_sums_them() -> None:
    result = matched(
        [line(1, 2500, "PAYROLL"), line(2, 7500, "PAYROLL", offset=1)],
        [posting(100, 10000, "PAYROLL")],
    )
    assert groups(result) == {((1, 2), (100,), "many_to_one")}
    assert breaks(result) == set()


def test_a_many_to_one_match_takes_only_lines_that_sum_to_its_posting() -> None:
    # Line 1 carries both references: it may join one group, not both.
    result = matched(
        [line(1, 100, "A", "B"), line(2, 100, "A"), line(3, 100, "B")],
        [posting(100, 200, "A"), posting(101, 200, "B")],
    )
    amounts = {1: 100, 2: 100, 3: 100, 100: 200, 101: 200}
    for statement_ids, book_ids, _ in groups(result):
        assert sum(amounts[i] for i in statement_ids) == sum(amounts[i] for i in book_ids)


def test_lines_and_postings_sharing_one_reference_match_many_to_many_when_sums_agree() -> None:
    result = matched(
        [line(1, 6000, "INV-9"), line(2, 4000, "INV-9", offset=1)],
        [posting(100, 5000, "INV-9"), posting(101, 5000, "INV-9", offset=2)],
    )
    assert groups(result) == {((1, 2), (100, 101), "many_to_many")}


def test_a_many_to_many_match_uses_any_reference_of_a_line() -> None:
    result = matched(
        [line(1, 6000, "E2E-1", "INV-9"), line(2, 4000, "E2E-2", "INV-9")],
        [posting(100, 5000, "INV-9"), posting(101, 5000, "INV-9")],
    )
    assert groups(result) == {((1, 2), (100, 101), "many_to_many")}


def test_a_lone_pair_sharing_a_reference_is_not_a_many_to_many_match() -> None:
    result = matched([line(1, 6000, "INV-9")], [posting(100, 5000, "INV-9")])
    assert groups(result) == set()
    assert breaks(result) == {("statement", 1, "amount_difference")}


def test_many_to_many_needs_every_item_within_the_group_window() -> None:
    rules = MatchingRules(group_window_days=3)
    result = matched(
        [line(1, 6000, "INV-9"), line(2, 4000, "INV-9", offset=4)],
        [posting(100, 5000, "INV-9"), posting(101, 5000, "INV-9")],
        rules,
    )
    assert {rule for _, _, rule in groups(result)} - {"exact", "tolerance"} == set()


def test_an_unmatched_pair_with_another_amount_is_an_amount_difference_on_the_line() -> None:
    result = matched([line(1, 5500, "E2E-2")], [posting(100, 5000, "E2E-2")])
    (row,) = classify(result).rows(named=True)
    assert (row["side"], row["id"], row["type"], row["other_id"]) == (
        "statement", 1, "amount_difference", 100,
    )  # fmt: skip


def test_an_unmatched_pair_with_the_amount_in_tolerance_but_a_far_date_is_a_date_difference() -> (
    None
):
    rules = MatchingRules(amount_tolerance_minor=5, date_tolerance_days=2)
    result = matched([line(1, 10003, "R", offset=5)], [posting(100, 10000, "R")], rules)
    assert breaks(result) == {("statement", 1, "date_difference")}


def test_a_line_repeating_a_matched_line_is_a_duplicate() -> None:
    result = matched(
        [line(1, 10000, "E2E-1"), line(2, 10000, "E2E-1")], [posting(100, 10000, "E2E-1")]
    )
    assert groups(result) == {((1,), (100,), "exact")}
    assert breaks(result) == {("statement", 2, "duplicate")}


def test_a_posting_repeating_a_matched_posting_is_a_duplicate_naming_the_one_it_repeats() -> None:
    # One payment on the statement, posted twice in the books.
    result = matched(
        [line(1, 25000, "E2E-7")], [posting(100, 25000, "E2E-7"), posting(101, 25000, "E2E-7")]
    )
    assert groups(result) == {((1,), (100,), "exact")}
    found = classify(result).select("side", "id", "type", "other_id").rows()
    assert found == [("books", 101, "duplicate", 100)]


def test_postings_alike_but_for_their_amount_or_date_are_not_duplicates() -> None:
    result = matched(
        [line(1, 25000, "E2E-7")],
        [posting(100, 25000, "E2E-7"), posting(101, 25001, "E2E-7", offset=5)],
        MatchingRules(rules=(MatchRule.EXACT,)),
    )
    assert breaks(result) == {("books", 101, "missing_in_statement")}


def test_two_alike_postings_the_statement_lacks_altogether_are_both_missing_in_it() -> None:
    # Neither is matched: nothing says which one the bank should have shown.
    result = matched([], [posting(100, 25000, "E2E-7"), posting(101, 25000, "E2E-7")])
    assert breaks(result) == {
        ("books", 100, "missing_in_statement"),
        ("books", 101, "missing_in_statement"),
    }


def test_what_nothing_explains_is_missing_in_the_books_or_in_the_statement() -> None:
    result = matched([line(1, -500, "FEE-2026-11")], [posting(100, 2000, "E2E-3")])
    assert breaks(result) == {
        ("statement", 1, "missing_in_books"),
        ("books", 100, "missing_in_statement"),
    }


def test_items_of_different_accounts_never_match() -> None:
    result = matched([line(1, 100, "R", account="1")], [posting(100, 100, "R", account="2")])
    assert groups(result) == set()
    assert breaks(result) == {
        ("statement", 1, "missing_in_books"),
        ("books", 100, "missing_in_statement"),
    }


def test_only_the_rules_the_account_lists_are_applied() -> None:
    rules = MatchingRules(amount_tolerance_minor=5, rules=(MatchRule.EXACT,))
    result = matched([line(1, 10004, "R")], [posting(100, 10000, "R")], rules)
    assert groups(result) == set()


# --- Invariants, for any input -------------------------------------------------------------

REFERENCES = st.sampled_from(["R1", "R2", "R3", "R4"])
AMOUNTS = st.sampled_from([-300, 100, 101, 200, 300, 400])
OFFSETS = st.integers(0, 6)
LINES = st.lists(
    st.tuples(AMOUNTS, OFFSETS, st.lists(REFERENCES, min_size=1, max_size=2, unique=True)),
    max_size=8,
)
POSTINGS = st.lists(st.tuples(AMOUNTS, OFFSETS, REFERENCES), max_size=8)
EXAMPLES = 80  # enough to reach groups and contested keys; each run is a few Polars plans
TOLERANT = MatchingRules(amount_tolerance_minor=1, date_tolerance_days=2, group_window_days=3)


def frames(
    lines: list[tuple[int, int, list[str]]], postings: list[tuple[int, int, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        statement_frame([line(i + 1, a, *refs, offset=o) for i, (a, o, refs) in enumerate(lines)]),
        books_frame([posting(i + 100, a, ref, o) for i, (a, o, ref) in enumerate(postings)]),
    )


def outcome(statement: pl.DataFrame, books: pl.DataFrame) -> tuple[Any, Any]:
    """The matches (ids of each side, rule) and every break, in full."""
    result = match(statement, books, TOLERANT)
    return groups(result), set(classify(result).rows())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, POSTINGS, st.randoms(use_true_random=False))
def test_shuffling_the_input_rows_changes_neither_the_matches_nor_the_breaks(
    lines: list[tuple[int, int, list[str]]],
    postings: list[tuple[int, int, str]],
    shuffler: random.Random,
) -> None:
    statement, books = frames(lines, postings)
    shuffled_statement = statement[shuffler.sample(range(statement.height), statement.height)]
    shuffled_books = books[shuffler.sample(range(books.height), books.height)]
    assert outcome(shuffled_statement, shuffled_books) == outcome(statement, books)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, POSTINGS)
def test_every_item_ends_matched_once_or_in_exactly_one_break(
    lines: list[tuple[int, int, list[str]]], postings: list[tuple[int, int, str]]
) -> None:
    statement, books = frames(lines, postings)
    result = match(statement, books, TOLERANT)
    found = classify(result)
    matched_lines = result.pairs.filter(pl.col("side") == "statement")["id"].to_list()
    matched_books = result.pairs.filter(pl.col("side") == "books")["id"].to_list()
    line_breaks = found.filter(pl.col("side") == "statement")["id"].to_list()
    # A book item of an amount or date difference is reported once, with the line's break.
    on_lines = found.filter(pl.col("side") == "statement")
    book_breaks = found.filter(pl.col("side") == "books")["id"].to_list() + [
        item for item in on_lines["other_id"].to_list() if item is not None
    ]
    assert sorted(matched_lines + line_breaks) == sorted(statement["id"].to_list())
    assert sorted(matched_books + book_breaks) == sorted(books["id"].to_list())
    # A duplicate in the books repeats a book item that did match.
    repeated = found.filter(pl.col("side") == "books")["other_id"].drop_nulls().to_list()
    assert set(repeated) <= set(matched_books)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, POSTINGS)
def test_every_match_agrees_in_amount_within_the_tolerance(
    lines: list[tuple[int, int, list[str]]], postings: list[tuple[int, int, str]]
) -> None:
    statement, books = frames(lines, postings)
    amounts = dict(zip(statement["id"], statement["amount_minor"], strict=True))
    amounts |= dict(zip(books["id"], books["amount_minor"], strict=True))
    for statement_ids, book_ids, rule in groups(match(statement, books, TOLERANT)):
        difference = sum(amounts[i] for i in statement_ids) - sum(amounts[i] for i in book_ids)
        assert abs(difference) <= TOLERANT.amount_tolerance_minor, (statement_ids, book_ids, rule)
