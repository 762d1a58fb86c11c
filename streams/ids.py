"""An id typed into a query string or a link: ASCII digits only (``"²".isdigit()`` is true,
but ``int("²")`` fails) and no larger than a database bigint (SQLite and PostgreSQL refuse a
larger number with an error instead of finding nothing)."""

from __future__ import annotations

#: The largest id a bigint column holds.
ID_MAX = 2**63 - 1


def parse_id(text: str | None) -> int | None:
    """The id ``text`` holds, or None when it is not one (empty, not plain digits, too large)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= ID_MAX else None
