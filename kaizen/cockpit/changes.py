"""A figure's change against the previous period, as an arrow and as words.

The arrow is for the eye and hidden from screen readers; the words say the same thing
("up 5.0 pts on the previous 90 days, better"), so nobody has to read a colour or a glyph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from funnel.dashboards.charts import Tile

ARROWS = {"up": "▲", "down": "▼", "flat": "■"}


@dataclass(frozen=True)
class Change:
    """``trend``: up, down or flat; ``amount``: the size of the change as the dashboards
    write it ("5.0 pts", "12%"); ``good``: True better, False worse, None neither."""

    trend: str
    amount: str
    before: str
    good: bool | None = None
    also: str = ""  # a second quantity of the same figure ("and €12,000")

    @property
    def arrow(self) -> str:
        return ARROWS[self.trend]

    @property
    def verdict(self) -> str:
        return {True: "better", False: "worse"}.get(self.good, "")

    @property
    def words(self) -> str:
        """The change in words, e.g. "up 5.0 pts on the previous 90 days (better)"."""
        if self.trend == "flat":
            text = f"no change on {self.before}"
        else:
            direction = "up" if self.trend == "up" else "down"
            text = f"{direction} {self.amount}{self.also} on {self.before}"
        return f"{text} ({self.verdict})" if self.verdict else text

    @property
    def css(self) -> str:
        return {True: "good", False: "bad"}.get(self.good, "")

    def merged(self, other: Change | None) -> Change:
        """This change with ``other``'s amount beside it (the same figure in another unit)."""
        if other is None or other.trend == "flat" or self.trend == "flat":
            return self
        sign = "+" if other.trend == "up" else "−"
        return Change(self.trend, self.amount, self.before, self.good, f" ({sign}{other.amount})")


def change_of(
    now: float | None,
    before_value: float | None,
    fmt: Callable[[float], str],
    *,
    more_is_better: bool | None,
    before: str,
) -> Change | None:
    """The change from ``before_value`` to ``now``; None when either is unknown."""
    if now is None or before_value is None:
        return None
    diff = now - before_value
    if abs(diff) < 1e-9:
        return Change("flat", "", before)
    good = None if more_is_better is None else (diff > 0) == more_is_better
    return Change("up" if diff > 0 else "down", fmt(abs(diff)), before, good)


def change_from_tile(tile: Tile, before: str, unit: str = "") -> Change | None:
    """A dashboard tile's change ("+5.0 pts", "−12%", "no change") as a :class:`Change`:
    the cockpit shows exactly the change the dashboard shows, ``unit`` named after it where
    the tile's text has none ("4 deals")."""
    text = tile.change
    if not text:
        return None
    if text.startswith("no change"):
        return Change("flat", "", before)
    amount = text[1:]
    if unit:
        amount += " " + (unit.removesuffix("s") if amount == "1" else unit)
    return Change("up" if text.startswith("+") else "down", amount, before, tile.good)
