"""Client confirmations out: FIX 4.4 Confirmation (35=AK) messages, HTML and PDF documents.

The FIX message carries the figures of a `ConfirmationDetails` as sent to the client's
middleware: ConfirmType 2 (confirmation), ConfirmStatus 4 (confirmed), the firm (PartyRole 1)
and client (PartyRole 3), the commission as an absolute amount (CommType 3) and the SEC fee and
FINRA TAF as regulatory fees (MiscFeeType 1, "Regulatory (e.g. SEC)"), each only when non-zero.

The document is a printable page rendered with Jinja2 (autoescaped) and WeasyPrint. Writing
documents is atomic per file: a temporary file in the target directory, then a rename.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import jinja2
import simplefix

from backoffice.errors import Problem, ProblemError, Source, invariant
from backoffice.trades.model import ConfirmationDetails, Side

BEGIN_STRING = "FIX.4.4"
CONFIRMATION = "AK"
CONFIRM_TRANS_TYPE_NEW = "0"
CONFIRM_TYPE_CONFIRMATION = "2"
CONFIRM_STATUS_CONFIRMED = "4"
ISIN_SOURCE = "4"
PROPRIETARY_ID_SOURCE = "D"
EXECUTING_FIRM_ROLE = "1"
CLIENT_ID_ROLE = "3"
COMM_TYPE_ABSOLUTE = "3"
MISC_FEE_TYPE_REGULATORY = "1"  # FIX 4.4: 1 = Regulatory (e.g. SEC); 2 would be Tax
# CpctyConfGrp is required in a FIX 4.4 Confirmation; the details carry no capacity, and the
# firm confirms client allocations as their agent.
ORDER_CAPACITY_AGENCY = "A"

fix_value_chars_max = 64
file_name_chars_max = 128

TAG_NAMES = {
    6: "AvgPx", 12: "Commission", 15: "Currency", 30: "LastMkt", 48: "SecurityID",
    49: "SenderCompID", 56: "TargetCompID", 64: "SettlDate", 70: "AllocID", 75: "TradeDate",
    79: "AllocAccount", 80: "AllocQty", 118: "NetMoney", 137: "MiscFeeAmt",
    381: "GrossTradeAmt", 448: "PartyID", 664: "ConfirmID",
}  # fmt: skip

_SIDES = {Side.BUY: "1", Side.SELL: "2"}
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_FIX_TEXT = re.compile(r"[\x20-\x7e]+")  # printable ASCII: no SOH, no control characters
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def tag_label(tag: int) -> str:
    """A tag as problems name it: "664 ConfirmID"."""
    name = TAG_NAMES.get(tag)
    return f"{tag} {name}" if name else str(tag)


def fix_confirmation(
    details: ConfirmationDetails,
    *,
    sender: str,
    target: str,
    seq_num: int,
    sending_time: dt.datetime,
) -> bytes:
    """One FIX 4.4 Confirmation (35=AK), SOH-delimited, with its BodyLength and CheckSum.

    Raises `ProblemError` with `invalid_fix_field` (the tag named as the field) when a value
    cannot be sent in FIX: empty, longer than `fix_value_chars_max`, not printable ASCII, or an
    amount that is not a plain decimal.
    """
    invariant(seq_num > 0, f"MsgSeqNum must be positive, not {seq_num}")
    invariant(sending_time.tzinfo is not None, "SendingTime must be timezone-aware")
    invariant(details.transact_time.tzinfo is not None, "TransactTime must be timezone-aware")
    problems: list[Problem] = []

    def text(tag: int, value: str) -> str:
        if not value or len(value) > fix_value_chars_max or not _FIX_TEXT.fullmatch(value):
            problems.append(
                _field_problem(
                    details,
                    tag,
                    f"{value!r} is not 1 to {fix_value_chars_max} printable ASCII characters",
                )
            )
        return value

    def amount(tag: int, value: str) -> str:
        if not _PLAIN_DECIMAL.fullmatch(value):
            problems.append(
                _field_problem(details, tag, f"{value!r} is not a plain decimal such as 1234.50")
            )
        return value

    message = simplefix.FixMessage()
    message.append_pair(8, BEGIN_STRING, header=True)
    message.append_pair(35, CONFIRMATION, header=True)
    message.append_pair(49, text(49, sender), header=True)
    message.append_pair(56, text(56, target), header=True)
    message.append_pair(34, str(seq_num), header=True)
    message.append_pair(52, _utc_timestamp(sending_time), header=True)
    # Body fields in the order of the FIX 4.4 Confirmation message layout.
    message.append_pair(664, text(664, details.confirm_id))
    message.append_pair(666, CONFIRM_TRANS_TYPE_NEW)
    message.append_pair(773, CONFIRM_TYPE_CONFIRMATION)
    message.append_pair(665, CONFIRM_STATUS_CONFIRMED)
    message.append_pair(453, "2")
    for party_id, role in (
        (details.firm_code, EXECUTING_FIRM_ROLE),
        (details.client_code, CLIENT_ID_ROLE),
    ):
        message.append_pair(448, text(448, party_id))
        message.append_pair(447, PROPRIETARY_ID_SOURCE)
        message.append_pair(452, role)
    message.append_pair(70, text(70, details.allocation_id))
    message.append_pair(60, _utc_timestamp(details.transact_time))
    message.append_pair(75, details.trade_date.strftime("%Y%m%d"))
    message.append_pair(48, text(48, details.isin))
    message.append_pair(22, ISIN_SOURCE)
    message.append_pair(80, amount(80, details.quantity))
    message.append_pair(54, _SIDES[details.side])
    message.append_pair(15, text(15, details.currency))
    message.append_pair(30, text(30, details.venue))
    message.append_pair(862, "1")
    message.append_pair(528, ORDER_CAPACITY_AGENCY)
    message.append_pair(863, details.quantity)
    message.append_pair(79, text(79, details.client_code))
    message.append_pair(6, amount(6, details.price))
    message.append_pair(381, amount(381, details.gross_amount))
    message.append_pair(118, amount(118, details.net_amount))
    message.append_pair(64, details.settlement_date.strftime("%Y%m%d"))
    message.append_pair(12, amount(12, details.commission))
    message.append_pair(13, COMM_TYPE_ABSOLUTE)
    fees = [
        amount(137, fee)
        for fee in (details.sec_fee, details.finra_taf)
        if not _PLAIN_DECIMAL.fullmatch(fee) or Decimal(fee) != 0
    ]
    if fees:
        message.append_pair(136, str(len(fees)))
        for fee in fees:
            message.append_pair(137, fee)
            message.append_pair(138, details.currency)
            message.append_pair(139, MISC_FEE_TYPE_REGULATORY)
    if problems:
        raise ProblemError(*problems)
    encoded: bytes = message.encode()
    return encoded


def fix_confirmations_log(
    details: Iterable[ConfirmationDetails],
    *,
    sender: str,
    target: str,
    first_seq_num: int = 1,
    sending_time: dt.datetime,
) -> bytes:
    """A FIX log of confirmations: one SOH-delimited message per line, numbered from
    `first_seq_num`. Every problem of every confirmation is raised together in one
    `ProblemError`, so nothing partial is produced."""
    lines: list[bytes] = []
    problems: list[Problem] = []
    for offset, one in enumerate(details):
        try:
            lines.append(
                fix_confirmation(
                    one,
                    sender=sender,
                    target=target,
                    seq_num=first_seq_num + offset,
                    sending_time=sending_time,
                )
            )
        except ProblemError as error:
            problems.extend(error.problems)
    if problems:
        raise ProblemError(*problems)
    return b"".join(line + b"\n" for line in lines)


def confirmation_html(details: ConfirmationDetails, *, sec_rule_10b10: bool = True) -> str:
    """The client's confirmation as a printable HTML page; every value is escaped.

    `sec_rule_10b10` adds the line that this is a confirmation under SEC Rule 10b-10, for a
    US broker-dealer.
    """
    buy = details.side is Side.BUY
    return _template().render(
        details=details,
        side_words="You bought" if buy else "You sold",
        net_label="Total you pay" if buy else "Total you receive",
        money=functools.partial(_money, currency=details.currency),
        quantity=_grouped(details.quantity),
        transact_time=details.transact_time.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        sec_rule_10b10=sec_rule_10b10,
    )


def confirmation_pdf(details: ConfirmationDetails, *, sec_rule_10b10: bool = True) -> bytes:
    """The client's confirmation as a PDF, rendered by WeasyPrint from `confirmation_html`."""
    # Imported here: WeasyPrint loads Pango and fonts, too slow for every import of this module.
    import weasyprint  # type: ignore[import-untyped]

    html = confirmation_html(details, sec_rule_10b10=sec_rule_10b10)
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def write_confirmation_documents(
    details: Iterable[ConfirmationDetails],
    directory: Path,
    *,
    pdf: bool = True,
    sec_rule_10b10: bool = True,
) -> list[Path]:
    """Write `<confirm_id>.html` (and `<confirm_id>.pdf`) for each confirmation into an
    existing `directory`; return the paths written, in order.

    Every file is replaced atomically. Before writing anything, raises `ProblemError` with
    `unsafe_file_name` for a confirm_id that is not a plain file name (letters, digits, "-",
    "_" and "." only, not starting with "."), or `duplicate_confirm_id` when two confirmations
    would write the same file. `unwritable_file` when the directory cannot be written.
    """
    confirmations = list(details)
    problems: list[Problem] = []
    seen: set[str] = set()
    for one in confirmations:
        name = one.confirm_id
        if (
            not _SAFE_FILE_NAME.fullmatch(name)
            or name.startswith(".")
            or len(name) > file_name_chars_max
        ):
            problems.append(
                Problem(
                    "unsafe_file_name",
                    f"confirm_id {name!r} is not a safe file name: 1 to {file_name_chars_max} "
                    'letters, digits, "-", "_" or ".", not starting with "."',
                    Source(str(directory), field="confirm_id"),
                )
            )
        elif name in seen:
            problems.append(
                Problem(
                    "duplicate_confirm_id",
                    f"confirm_id {name!r} appears more than once",
                    Source(str(directory), field="confirm_id"),
                )
            )
        seen.add(name)
    if problems:
        raise ProblemError(*problems)

    written: list[Path] = []
    for one in confirmations:
        html = confirmation_html(one, sec_rule_10b10=sec_rule_10b10)
        written.append(_write_atomically(directory / f"{one.confirm_id}.html", html.encode()))
        if pdf:
            document = confirmation_pdf(one, sec_rule_10b10=sec_rule_10b10)
            written.append(_write_atomically(directory / f"{one.confirm_id}.pdf", document))
    return written


def _write_atomically(path: Path, content: bytes) -> Path:
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as stream:
            temporary = Path(stream.name)
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.replace(path)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise ProblemError(
            Problem(
                "unwritable_file", f"cannot write the file: {error.strerror}", Source(str(path))
            )
        ) from error
    return path


@functools.cache
def _template() -> jinja2.Template:
    # Built on first use, not at import; the environment is immutable once loaded.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("backoffice.formats", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("confirmation.html.j2")


def _grouped(number: str) -> str:
    """A plain decimal with thousands separators, its decimals kept: "1234.50" -> "1,234.50"."""
    if not _PLAIN_DECIMAL.fullmatch(number):
        return number  # shown as given rather than guessed at
    return f"{Decimal(number):,}"


def _money(amount: str, *, currency: str) -> str:
    return f"{_grouped(amount)} {currency}"


def _utc_timestamp(moment: dt.datetime) -> str:
    """FIX UTCTimestamp to the millisecond: YYYYMMDD-HH:MM:SS.sss."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%Y%m%d-%H:%M:%S}.{utc.microsecond // 1000:03d}"


def _field_problem(details: ConfirmationDetails, tag: int, reason: str) -> Problem:
    return Problem(
        "invalid_fix_field",
        f"confirmation {details.confirm_id!r}: {tag_label(tag)} {reason}",
        Source(field=tag_label(tag)),
    )
