"""A message file's bytes, bounded, and its text: shared by the statement, holdings and
settlement-status readers, so every one of them refuses a file the same way and with the
same codes: `unreadable_file`, `file_too_large`, `binary_file`, `not_utf8`.

A DOS end-of-file mark (0x1A, one or more, then only line ends) ending a file is dropped:
Windows banking software (Rabobank's exports among them) still writes it. Anywhere else it is
a binary byte like any other control character."""

from __future__ import annotations

import re
from pathlib import Path

from backoffice.errors import Problem, ProblemError, Source

# Bytes no text file holds: control characters other than tab, LF and CR, and SOH and ETX,
# which frame FIN messages in some transfer formats.
_BINARY = re.compile(rb"[\x00\x02\x04-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UTF8_BOM = b"\xef\xbb\xbf"
_DOS_END_OF_FILE = b"\x1a"


def read_content(path: Path, bytes_max: int) -> bytes:
    """The bytes of `path`, at most `bytes_max`; `ProblemError` (`unreadable_file`,
    `file_too_large`) otherwise."""
    file = str(path)
    try:
        with path.open("rb") as stream:
            content = stream.read(bytes_max + 1)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(file))
        ) from error
    if len(content) > bytes_max:
        raise ProblemError(
            Problem("file_too_large", f"the file is over {bytes_max} bytes", Source(file))
        )
    return content


def decode_text(
    content: bytes,
    file: str,
    *,
    latin1_fallback: bool = True,
    binary_scan_bytes: int | None = None,
) -> str:
    """The text of a file's bytes: UTF-8 (a BOM dropped), else latin-1 when allowed and the
    file has no BOM. `ProblemError` (`binary_file`, `not_utf8`) when it is no such text.
    `binary_scan_bytes`: how much of the start is searched for binary bytes (all by default;
    an XML reader leaves the rest to its parser, which names the line)."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ProblemError(
            Problem("not_utf8", "the file is UTF-16 text; UTF-8 is expected", Source(file, 1))
        )
    has_bom = content.startswith(_UTF8_BOM)
    content = content.removeprefix(_UTF8_BOM)
    content = without_dos_eof(content)
    end = len(content) if binary_scan_bytes is None else binary_scan_bytes
    binary = _BINARY.search(content, 0, end)
    if binary is not None:
        line = content.count(b"\n", 0, binary.start()) + 1
        raise ProblemError(
            Problem(
                "binary_file",
                f"byte 0x{content[binary.start()]:02x} at offset {binary.start()}: "
                "a binary file, not text",
                Source(file, line),
            )
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        if has_bom or not latin1_fallback:
            line = content.count(b"\n", 0, error.start) + 1
            reason = f"not UTF-8 text at byte offset {error.start}" + (
                " although the file starts with a UTF-8 byte order mark" if has_bom else ""
            )
            raise ProblemError(Problem("not_utf8", reason, Source(file, line))) from error
        return content.decode("latin-1")


def stream_start_problem(head: bytes, file: str) -> Problem | None:
    """Why a file read line by line is not UTF-8 text, judged once from its first bytes: the
    same `not_utf8` the whole-file readers give, instead of one refusal per line."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem("not_utf8", "the file is UTF-16 text; UTF-8 is expected", Source(file, 1))
    if b"\x00" in head[:4096]:
        # No byte order mark: UTF-16 without one, or no text at all; UTF-8 never holds NUL.
        reason = "the file holds NUL bytes (UTF-16 without a byte order mark?); UTF-8 is expected"
        return Problem("not_utf8", reason, Source(file, 1))
    return None


def without_dos_eof(content: bytes) -> bytes:
    """`content` without a trailing run of DOS end-of-file marks (0x1A) followed only by line
    ends, as Windows banking software (Rabobank's exports) ends a file; one inside stays."""
    before_line_ends = content.rstrip(b"\r\n")
    if before_line_ends.endswith(_DOS_END_OF_FILE):
        return before_line_ends.rstrip(_DOS_END_OF_FILE)
    return content


def is_dos_eof(raw: bytes) -> bool:
    """A line holding only the DOS end-of-file mark (0x1A), as Windows software ends files."""
    return raw.rstrip(b"\r\n") == b"\x1a"
