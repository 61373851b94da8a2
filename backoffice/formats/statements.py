"""Bank statements and custodian holdings from a file, its format detected in one place (for
the CLI and the API alike): camt.053 or semt.002 (XML), MT940/950 or MT535 (FIN), a statement
CSV, or a holdings CSV (its header names an ISIN column)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backoffice.errors import Problem, ProblemError, Source

quarantined_file_chars_max = 1_048_576  # a refused file's text kept in the quarantine


def sniff_statement_file(path: Path) -> str:
    """`camt.053`, `semt.002`, `mt940`, `mt535`, `holdings_csv` or `csv`, by the file's start."""
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError as error:
        raise ProblemError(
            Problem("unreadable_file", f"cannot read the file: {error.strerror}", Source(str(path)))
        ) from error
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        if b"semt.002" in head:
            return "semt.002"
        return "camt.053"
    if text.startswith((b"{1:", b":20:", b":16R:")) or b"\n:20:" in head or b"\r\n:20:" in head:
        # MT535 is built of :16R: sequences from its first field (GENL); MT940/950 never are.
        custody = (b"{2:I535", b"{2:O535", b":16R:SUBSAFE", b":16R:GENL")
        return "mt535" if text.startswith(b":16R:") or any(m in head for m in custody) else "mt940"
    first_line = text.split(b"\n", 1)[0].lower()
    return "holdings_csv" if b"isin" in first_line else "csv"


def read_statement_file(path: Path) -> tuple[str, list[Any]]:
    """(kind, statements) of a bank or custodian file, its format detected; a statement CSV
    (`bank_csv`) gives one `CsvStatements`, its lines not read yet."""
    kind = sniff_statement_file(path)
    if kind == "camt.053":
        from backoffice.formats.camt053 import read_camt053

        return "bank", list(read_camt053(path))
    if kind == "mt940":
        from backoffice.formats.mt940 import read_mt940

        return "bank", list(read_mt940(path))
    if kind == "csv":
        from backoffice.formats.statement_csv import scan_statement_csv

        # Checked here, its lines read again while stored: a million lines in bounded memory.
        return "bank_csv", [scan_statement_csv(path)]
    from backoffice.formats.holdings import read_holdings

    return "holdings", list(read_holdings(path))


def quarantined_text(path: Path, name: str) -> str:
    """A refused file's text as the quarantine keeps it: cut at `quarantined_file_chars_max`."""
    try:
        with path.open("rb") as stream:
            head = stream.read(quarantined_file_chars_max + 1)
    except OSError as error:
        return f"(unreadable: {error.strerror})"
    text = head[:quarantined_file_chars_max].decode("utf-8", errors="replace")
    if len(head) > quarantined_file_chars_max:
        text += f"\n... (cut at {quarantined_file_chars_max} bytes: the whole file is {name})"
    return text
