"""Reading one cell: formulas, times, amounts, minutes and text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import numpy as np
from django.utils import timezone

from funnel.exporting import csv_safety
from funnel.importing.types import CLOCK_SKEW

# --- Cells -----------------------------------------------------------------------------------


class _Bad(Exception):
    """One cell is invalid; the message is the reason shown to the user."""


#: First characters of a cell that may be a formula or a neutralised one (csv_safety).
_CHECK_LEADS = frozenset("'" + csv_safety.FORMULA_LEADS + csv_safety.BLANKS)


_PLAIN = re.compile(r"[\d\s.,:/+\-TZtz]*\d[\d\s.,:/+\-TZtz]*")
_FORMULA_CHARS = "=+-@"


def _is_plain(text: str) -> bool:
    return not text or _PLAIN.fullmatch(text) is not None


def neutralise(cell: str) -> str:
    """Make ``cell`` safe to open in a spreadsheet (the rule every CSV shares:
    :func:`funnel.exporting.csv_safety.neutralise`)."""
    return csv_safety.neutralise(cell)


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise`; raise :class:`_Bad` for a cell that is a formula."""
    try:
        return csv_safety.unneutralise(cell)
    except csv_safety.FormulaError:
        shown = cell if len(cell) <= 40 else cell[:37] + "…"
        raise _Bad(
            f"'{shown}' looks like a spreadsheet formula; remove it (or prefix a ' to keep it "
            "as text)."
        ) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
NULL_TIME = np.iinfo(np.int64).max  # an open visit's exit: sorts after every time
_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:(?:[ T]+|,\s*)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)


def to_micros(value: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime."""
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class _Clock:
    """Parses the times of one import: zone, day order and "now" fixed at the start."""

    def __init__(self, zone: ZoneInfo, day_first: bool) -> None:
        self.zone = zone
        self.is_utc = zone.key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")
        self.day_first = day_first
        self.latest = to_micros(timezone.now() + CLOCK_SKEW)

    def parse(self, text: str) -> int:
        """The time ``text`` names, as microseconds since the epoch (UTC)."""
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            value = self._other_formats(text.strip())
        if value.tzinfo is None:
            value = self._localise(value)
        if value.year < 1900:
            raise _Bad(f"{text.strip()} is too long ago to be a date in a deal's history.")
        micros = (value - _EPOCH) // _US
        if micros > self.latest:
            raise _Bad(f"{text.strip()} is in the future.")
        return micros

    def _localise(self, naive: datetime) -> datetime:
        if self.is_utc:
            return naive.replace(tzinfo=UTC)
        aware = naive.replace(tzinfo=self.zone)
        if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise _Bad(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {self.zone.key} (the clocks moved "
                "forward then); check the time or the time zone."
            )
        return aware

    def _other_formats(self, text: str) -> datetime:
        if not text:
            raise _Bad("empty")
        if text.isascii() and text.isdigit():
            if len(text) >= 11:  # epoch milliseconds, as HubSpot exports them
                return _EPOCH + timedelta(milliseconds=int(text))
            if len(text) >= 9:
                return _EPOCH + timedelta(seconds=int(text))
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return value
        match = _DATE.fullmatch(text)
        if match is None:
            if re.fullmatch(r"\d{5}(\.\d+)?", text):
                raise _Bad(
                    f"'{text}' looks like an Excel date serial number; format the column as "
                    "dates before saving the CSV."
                )
            raise _Bad(
                f"'{text}' is not a date and time (use ISO 8601 like 2016-10-20T14:05:00Z, "
                "10/20/2016 14:05, 20.10.2016 or epoch milliseconds)."
            )
        a, b, c, sep = match["a"], int(match["b"]), match["c"], match["sep"]
        if len(a) == 4:
            year, month, day = int(a), b, int(c)
        else:
            if len(c) != 4:
                raise _Bad(f"'{text}': write the year with four digits.")
            year = int(c)
            if sep == "." or self.day_first:
                day, month = int(a), b
            else:
                month, day = int(a), b
        hour = int(match["H"] or 0)
        if match["ampm"]:
            if not 1 <= hour <= 12:
                raise _Bad(f"'{text}': hour {hour} with AM/PM.")
            hour = hour % 12 + (12 if match["ampm"][0] in "Pp" else 0)
        try:
            return datetime(
                year,
                month,
                day,
                hour,
                int(match["M"] or 0),
                int(match["S"] or 0),
                int((match["f"] or "0").ljust(6, "0")),
            )
        except ValueError as exc:
            hint = ""
            if month > 12 >= day and not self.day_first and sep != "." and len(a) != 4:
                hint = " Are the dates day first (20/10/2016)? Then choose day-first."
            raise _Bad(f"'{text}' is not a valid date ({exc}).{hint}") from exc


_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")


def _amount(text: str) -> Decimal | None:
    t = text.strip().replace(" ", "").replace("\u00a0", "")
    if not t:
        return None
    t = t.strip("$€£¥")
    if "," in t:
        if not _THOUSANDS.fullmatch(t.lstrip("-")):
            raise _Bad(f"'{text}' is not a number (use a dot for decimals: 12345.67).")
        t = t.replace(",", "")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise _Bad(f"'{text}' is not a number.") from None
    if not value.is_finite():
        raise _Bad(f"'{text}' is not a number.")
    if value < 0:
        raise _Bad(f"negative ({text}); amounts are zero or more.")
    value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    if value >= _MAX_AMOUNT:
        raise _Bad(f"too large ({text}); at most 999,999,999,999.99.")
    return value


_MAX_MINUTES = 2**31 - 1


def _minutes(text: str) -> int:
    t = text.strip()
    if t.isascii() and t.isdigit():
        value = int(t)
    else:
        try:
            number = float(t)
        except ValueError:
            raise _Bad(f"'{text}' is not a number of minutes.") from None
        if number < 0:
            raise _Bad(f"negative ({t}); work minutes are zero or more.")
        if number != int(number):
            raise _Bad(f"not a whole number of minutes ({t}).")
        value = int(number)
    if value > _MAX_MINUTES:
        raise _Bad(f"too large ({t} minutes).")
    return value


def _text(text: str, limit: int) -> str:
    t = text.strip()
    if len(t) > limit:
        raise _Bad(f"longer than {limit} characters ({len(t)}).")
    return t
