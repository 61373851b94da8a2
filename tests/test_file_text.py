"""One text decoding for every message reader (backoffice.formats.file_text): a DOS end-of-file
mark (0x1A) ending a file is no content, whichever reader reads it; one inside the text is
still a binary byte.

Windows banking software (Rabobank's exports among them) ends a file with 0x1A, sometimes
followed by a CR LF, as MS-DOS's COPY did."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.errors import ProblemError
from backoffice.formats.camt053 import read_camt053
from backoffice.formats.file_text import decode_text
from backoffice.formats.holdings import read_holdings
from backoffice.formats.mt940 import read_mt940
from backoffice.formats.settlement_status import read_settlement_messages
from backoffice.formats.statement_csv import read_statement_csv
from tests.test_camt053 import camt
from tests.test_holdings import fin as holding
from tests.test_holdings import mt535, subsafe
from tests.test_mt940 import message
from tests.test_settlement_status import confirmation
from tests.test_statement_csv import CLOSING, OPENING, csv_file, row

APPLE = "US0378331005"
DOS_ENDS = [b"\x1a", b"\x1a\r\n", b"\r\n\x1a", b"\r\n\x1a\x1a\x1a", b"\n\x1a\n"]


def _count(read: Callable[[Path], Iterable[object]]) -> Callable[[Path], int]:
    return lambda path: len(list(read(path)))


# (reader, a file it reads whole in the bank's layout, how many items it gives)
READERS = {
    "camt.053": (_count(read_camt053), camt().replace("\n", "\r\n"), 1),
    "holdings MT535": (_count(read_holdings), mt535(subsafe(holding(APPLE))), 1),
    "settlement status MT545": (_count(read_settlement_messages), confirmation(), 1),
    "MT940": (_count(read_mt940), message().replace("\n", "\r\n"), 1),
    "statement CSV": (
        _count(read_statement_csv),
        csv_file(OPENING, row("line", "-12.50"), CLOSING).replace("\n", "\r\n"),
        1,
    ),
}


@pytest.mark.parametrize("end", DOS_ENDS)
@pytest.mark.parametrize("reader", READERS)
def test_a_trailing_dos_end_of_file_mark_is_tolerated_by_every_reader(
    tmp_path: Path, reader: str, end: bytes
) -> None:
    read, text, count = READERS[reader]
    path = tmp_path / "export.txt"
    path.write_bytes(text.encode() + end)
    assert read(path) == count


@pytest.mark.parametrize("reader", READERS)
def test_a_dos_end_of_file_mark_inside_the_text_is_still_refused(
    tmp_path: Path, reader: str
) -> None:
    read, text, _ = READERS[reader]
    lines = text.split("\n")
    inner = "\n".join([*lines[:2], lines[2] + "\x1a", *lines[3:]])
    path = tmp_path / "export.txt"
    path.write_bytes(inner.encode())
    with pytest.raises(ProblemError) as refused:
        read(path)
    (problem,) = refused.value.problems
    assert (problem.code, problem.source.line) == ("binary_file", 3)
    assert "0x1a" in problem.reason


def test_decoding_drops_only_the_mark_and_what_follows_it_at_the_end() -> None:
    assert decode_text(b":20:X\r\n-\r\n\x1a\r\n", "f") == ":20:X\r\n-\r\n"
    assert decode_text(b"\x1a", "f") == ""


def test_a_mark_followed_by_more_text_is_a_binary_byte() -> None:
    with pytest.raises(ProblemError) as refused:
        decode_text(b":20:X\n\x1a\n:20:Y\n", "f")
    assert [(p.code, p.source.line) for p in refused.value.problems] == [("binary_file", 2)]


@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200).map(
        lambda text: text.replace("x", "\r\n")
    ),
    st.integers(1, 3),
    st.sampled_from(["", "\r\n", "\n", "\r\n\r\n"]),
)
def test_text_reads_the_same_with_a_dos_end_of_file_mark_or_without(
    text: str, marks: int, after: str
) -> None:
    content = text.encode()
    assert decode_text(content + b"\x1a" * marks + after.encode(), "f") == text
