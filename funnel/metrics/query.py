"""What a metrics computation is asked for: one stream, one window, optional filters.

A window is half-open, ``[start, end)`` (metrics.md conventions). The default window is the
last 90 days, *rolling*: it ends when the figures are computed. Explicit windows come from the
API's ``start``/``end``. Filters narrow the deals (rep = deal owner, lead source, amount band)
or the steps (lane); the deal-level figures (win rate, sales cycle, velocity, funnel) ignore
the lane filter, since a deal is not in a lane.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.core.exceptions import ValidationError

DEFAULT_WINDOW = timedelta(days=90)
#: Key of the rolling default window in the snapshot tables.
ROLLING_KEY = "last-90d"
#: Key of the 90 days before it, kept fresh beside it for "change against the previous period".
PREVIOUS_KEY = "prev-90d"
#: The two time bases every duration is computed in (metrics.md "Working time"): elapsed
#: (calendar) time, and the working time of the team's calendars.
ELAPSED, WORKING = "elapsed", "working"
BASES = (ELAPSED, WORKING)
#: Below this many items a figure is still shown, flagged ``low_sample`` (metrics.md).
LOW_SAMPLE = 5


@dataclass(frozen=True)
class AmountBand:
    key: str
    label: str
    low: Decimal | None  # inclusive
    high: Decimal | None  # exclusive


AMOUNT_BANDS: dict[str, AmountBand] = {
    band.key: band
    for band in (
        AmountBand("small", "Under 10,000", None, Decimal(10_000)),
        AmountBand("medium", "10,000 – 50,000", Decimal(10_000), Decimal(50_000)),
        AmountBand("large", "50,000 – 250,000", Decimal(50_000), Decimal(250_000)),
        AmountBand("enterprise", "250,000 and over", Decimal(250_000), None),
    )
}


@dataclass(frozen=True)
class MetricsFilters:
    owner_id: int | None = None
    #: An owner who is not a user: the name an imported CRM file gave (``Deal.owner_name``).
    owner_name: str | None = None
    lane_id: int | None = None
    source: str | None = None
    amount_band: str | None = None

    def __post_init__(self) -> None:
        if self.amount_band is not None and self.amount_band not in AMOUNT_BANDS:
            raise ValidationError(
                {
                    "amount_band": f"'{self.amount_band}' is not an amount band; use one of "
                    + ", ".join(AMOUNT_BANDS)
                    + "."
                }
            )

    @property
    def key(self) -> str:
        """A canonical string naming the filters ("" when unfiltered), the snapshot key."""
        return urlencode(
            [(name, value) for name, value in self.as_dict().items() if value is not None]
        )

    def as_dict(self) -> dict[str, int | str | None]:
        return {
            "owner": self.owner_id,
            "owner_name": self.owner_name,
            "lane": self.lane_id,
            "source": self.source,
            "amount_band": self.amount_band,
        }

    @property
    def band(self) -> AmountBand | None:
        return AMOUNT_BANDS[self.amount_band] if self.amount_band else None


@dataclass(frozen=True)
class MetricsQuery:
    """One computation: a stream, a window and filters.

    ``start``/``end`` None means the rolling default window; ``previous`` selects the 90 days
    before it instead. ``basis`` is the time the durations are counted in, ``elapsed`` or
    ``working`` (the API's ``time``); one computation always produces both.
    """

    stream_id: int
    start: datetime | None = None
    end: datetime | None = None
    filters: MetricsFilters = MetricsFilters()
    previous: bool = False
    basis: str = ELAPSED

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValidationError(
                {"time": f"'{self.basis}' is not a time basis; use elapsed or working."}
            )
        if (self.start is None) != (self.end is None):
            missing = "end" if self.end is None else "start"
            raise ValidationError({missing: "Give both start and end, or neither."})
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValidationError({name: "The time needs a time zone, e.g. 2025-01-06T09:00Z."})
        if self.start is not None and self.end <= self.start:
            raise ValidationError({"end": "The window's end must be after its start."})
        if self.previous and self.start is not None:
            raise ValidationError({"start": "The previous period goes with the default window."})

    @property
    def is_rolling(self) -> bool:
        return self.start is None

    @property
    def window_key(self) -> str:
        if self.is_rolling:
            return PREVIOUS_KEY if self.previous else ROLLING_KEY
        return f"{self.start.astimezone(UTC).isoformat()}/{self.end.astimezone(UTC).isoformat()}"

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The ``[start, end)`` this query covers when computed at ``now``."""
        if not self.is_rolling:
            return self.start, self.end
        if self.previous:
            return now - 2 * DEFAULT_WINDOW, now - DEFAULT_WINDOW
        return now - DEFAULT_WINDOW, now
