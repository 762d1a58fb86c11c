"""The one check of a date or time a client sends in a parameter or a body: its UTC offset
must be one PostgreSQL can store (within ±15:59). Python accepts offsets up to ±23:59, so
without this check an offset of +16:00 reached the database and answered 500.

Every reader of client times calls :func:`utc_offset_error` before parsing: the metrics and
dashboard parameters (``funnel.api.metrics``), the API's time fields and its date filters
(``funnel.api``), and so the bulk events, which use the API's fields.

The same readers, and the date fields of the deal and kaizen forms, refuse a date outside
:data:`EARLIEST_YEAR`..:data:`LATEST_YEAR` with :func:`date_range_error`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

#: The largest UTC offset PostgreSQL's ``timestamptz`` takes.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
_OFFSET = re.compile(
    r"\d[T ]?\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$"
)


def utc_offset_error(raw: str) -> str | None:
    """The reason the UTC offset written at the end of ``raw`` is out of range, or None
    (also for text that is not a time at all: parsing reports that)."""
    found = _OFFSET.search(raw.strip())
    if found is None:
        return None
    hours, minutes = int(found["h"]), int(found["m"])
    if timedelta(hours=hours, minutes=minutes) <= MAX_UTC_OFFSET and minutes < 60:
        return None
    return (
        f"The UTC offset {found['sign']}{found['h']}:{found['m']} is out of range: offsets run "
        "from -15:59 to +15:59 (e.g. 2025-03-01T09:00:00+01:00)."
    )


# --- The range of dates a client may write ------------------------------------------------

#: The years a date or time sent by a client may fall in. Python's dates end at year 1 and
#: 9999, so a window reaching past them (its previous period, a time zone's offset) raised
#: OverflowError: a 500. No sales figure is older than 1970 or planned beyond 2100.
EARLIEST_YEAR = 1970
LATEST_YEAR = 2100


def date_range_error(value: date) -> str | None:
    """The reason ``value`` (a date or a date-time) is outside the years a client may write,
    or None."""
    if EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return None
    return (
        f"{value.isoformat()[:10]} is out of range: dates run from {EARLIEST_YEAR}-01-01 "
        f"to {LATEST_YEAR}-12-31."
    )


def moment_from_text(raw: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC time; a date is midnight and a time
    without offset is read in ``zone``. ``ValueError`` with the reason, in words, for text
    that is not one, an offset out of range, or a date outside the years a client may write
    (checked before any arithmetic, which would overflow at year 1 or 9999)."""
    if reason := utc_offset_error(raw):
        raise ValueError(reason)
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            f"'{raw}' is not an ISO 8601 date or time (e.g. 2025-03-01 or "
            "2025-03-01T09:00:00+01:00)."
        ) from None
    if reason := date_range_error(parsed):
        raise ValueError(reason)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)
