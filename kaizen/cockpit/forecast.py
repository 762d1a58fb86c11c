"""Forecast against target on the cockpit: read from the latest default Forecast view
(``funnel.forecasts``: ``ForecastSnapshot`` with the default view's key), never computed here.

Until a default forecast has been computed for the stream the cockpit says "not computed yet"
and links to the Forecast dashboard, which computes it in the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from django.urls import reverse

from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.view import DEFAULT_KEY
from streams.models import ValueStream


@dataclass(frozen=True)
class ForecastFigure:
    """``computed``: a default forecast is stored; ``has_target``: the stream sets a target."""

    url: str
    computed: bool = False
    has_target: bool = False
    probability: float | None = None
    target: int | None = None
    won_so_far: int | None = None
    expected: float | None = None
    period_end: date | None = None

    def _missing(self) -> tuple[str, str] | None:
        """``(value, detail)`` of a tile with no chance to show (not computed, or no target);
        None when there is one."""
        if not self.computed:
            return "not computed yet", "Open the Forecast dashboard to compute it."
        if not self.has_target:
            return "no target set", "A manager sets the stream's target of won deals on the map."
        return None

    @property
    def value(self) -> str:
        if missing := self._missing():
            return missing[0]
        if self.probability is None:
            return "—"
        return f"{100 * self.probability:.0f}% likely"

    @property
    def detail(self) -> str:
        if missing := self._missing():
            return missing[1]
        expected = "—" if self.expected is None else f"{self.expected:.1f}"
        end = f" by {self.period_end:%d %b %Y}" if self.period_end else ""
        return (
            f"to reach {self.target:,} won deals{end}: {self.won_so_far:,} won so far, "
            f"{expected} expected in all"
        )


def forecast_url(stream: ValueStream) -> str:
    """The Forecast dashboard of ``stream``."""
    return reverse("dashboards:forecast", args=[stream.slug])


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def forecast_figure(stream: ValueStream) -> ForecastFigure:
    """The target attainment of the stream's latest default forecast (one query; the same
    read as ``funnel.forecasts.snapshots.deal_forecasts``)."""
    url = forecast_url(stream)
    result = (
        ForecastSnapshot.objects.filter(
            stream=stream, view_key=DEFAULT_KEY, computed_at__isnull=False
        )
        .values_list("result", flat=True)
        .first()
    )
    if not result:
        return ForecastFigure(url=url)
    target = result.get("target")
    if not target:
        return ForecastFigure(url=url, computed=True)
    end = target.get("period_end")
    return ForecastFigure(
        url=url,
        computed=True,
        has_target=True,
        probability=_number(target.get("probability")),
        target=int(target.get("target") or 0),
        won_so_far=int(target.get("won_so_far") or 0),
        expected=_number(target.get("expected")),
        period_end=date.fromisoformat(end[:10]) if end else None,
    )
