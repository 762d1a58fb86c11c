"""The one check of a date or time a client sends in a parameter or a body: its UTC offset
must be one PostgreSQL can store (within ±15:59). Python accepts offsets up to ±23:59, so
without this check an offset of +16:00 reached the database and answered 500.

Every reader of client times calls :func:`utc_offset_error` before parsing: the metrics and
dashboard parameters (``funnel.api_metrics``), the API's time fields and its date filters
(``funnel.api``), and so the bulk events, which use the API's fields.
"""

from __future__ import annotations

import re
from datetime import timedelta

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
