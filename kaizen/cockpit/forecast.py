"""Forecast against target on the cockpit: read from the latest default Forecast view
(``funnel.forecasts``: ``ForecastSnapshot`` with the default view's key), never computed here.

When no default forecast is stored for the stream yet, a page view of the cockpit asks for it
as the Forecast dashboard does when it opens (``read_forecast`` of the default view: its
background job is queued, or joined when one already runs, by whoever may read the stream,
leadership included) and the tile says it is "being computed", linking to the Forecast
dashboard, which shows the job's progress; the cockpit is not kept in the cache meanwhile, so
the next page view after the job shows the chance. Without a worker (no broker) the job runs
in the request, as the dashboard's does, and the chance shows at once. The digest (built in
the background) asks for nothing: without a stored forecast it says "not computed yet".

Its change is against the forecast stored the week before this one was made (``ForecastRecord``,
recorded once a week with its chance of reaching the target), in whole points, when that
forecast was for the same quarter: the chance of a new quarter starts again and is not compared
with the old one.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.urls import reverse

from funnel.forecasts.models import ForecastRecord, ForecastSnapshot, RecordKind
from funnel.forecasts.snapshots import read_forecast
from funnel.forecasts.view import DEFAULT_KEY, monday, quarter_end, stream_zone
from kaizen.cockpit.changes import Change, change_of
from streams.models import JobState, ValueStream

#: What the forecast's change is against.
LAST_WEEK = "last week's forecast"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastFigure:
    """``computed``: a default forecast is stored; ``has_target``: the stream sets a target;
    ``computing``: none is stored and its job is queued or running; ``failed``: none is stored
    and its job failed (the Forecast dashboard says why; a later read tries again)."""

    url: str
    computed: bool = False
    computing: bool = False
    failed: bool = False
    has_target: bool = False
    probability: float | None = None
    target: int | None = None
    won_so_far: int | None = None
    expected: float | None = None
    period_end: date | None = None
    #: The chance's change in points against last week's stored forecast of the same quarter.
    change: Change | None = None

    def _missing(self) -> tuple[str, str] | None:
        """``(value, detail)`` of a tile with no chance to show (not computed, or no target);
        None when there is one."""
        if not self.computed:
            if self.computing:
                return (
                    "being computed",
                    "Refresh in a minute; the Forecast dashboard shows its progress.",
                )
            if self.failed:
                return "not computed", "Computing it failed; the Forecast dashboard says why."
            return "not computed yet", "Open the Forecast dashboard to compute it."
        if not self.has_target:
            return "no target set", "A manager sets the stream's target of won deals on the map."
        return None

    @property
    def waiting(self) -> bool:
        """Whether the tile waits on the forecast's job (the cockpit is not cached then)."""
        return self.computing or self.failed

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


def last_week_probability(
    stream: ValueStream, made_at: datetime, period_end: date | None
) -> float | None:
    """The chance of reaching the target in the forecast stored in the week before the one
    ``made_at`` is in, when it was made in the quarter ending ``period_end`` (a day of the
    stream's time zone, as the forecast's target reads it); None otherwise."""
    if period_end is None:
        return None
    record = (
        ForecastRecord.objects.filter(
            stream=stream,
            kind=RecordKind.WINS,
            week=monday(made_at) - timedelta(days=7),
            target_probability__isnull=False,
        )
        .only("made_at", "target_probability")
        .first()
    )
    if record is None:
        return None
    if quarter_end(record.made_at.astimezone(stream_zone(stream)).date()) != period_end:
        return None
    return record.target_probability


def _percent(chance: float | None) -> int | None:
    """A chance in whole percent, as the tile shows it."""
    return None if chance is None else round(100 * chance)


def forecast_figure(
    stream: ValueStream,
    *,
    request: bool = False,
    user: object = None,
    now: datetime | None = None,
) -> ForecastFigure:
    """The target attainment of the stream's latest default forecast (one query; the same
    read as ``funnel.forecasts.snapshots.deal_forecasts``), and its change against the
    forecast stored the week before it was made (:func:`last_week_probability`), in whole
    points as the tile shows the chances (Monte Carlo noise under half a point is no change).

    ``request`` (a page view): when none is stored, ask for the default view as the Forecast
    dashboard does (``read_forecast``: its job queued for ``user``, or joined when one runs)
    and say it is being computed; a job that ran at once (no worker) gives the chance now."""
    figure = stored_figure(stream)
    if figure.computed or not request:
        return figure
    try:
        _, job = read_forecast(stream, {}, user=user, now=now)
    except Exception:
        # Run in the request for want of a worker, the job failed (it says why): the home
        # page still answers.
        log.exception("The default forecast of stream %s could not be computed", stream.pk)
        return ForecastFigure(url=figure.url, failed=True)
    if job is None or job.state == JobState.DONE:
        figure = stored_figure(stream)  # computed meanwhile, or in this request
        if figure.computed:
            return figure
    failed = job is not None and job.state == JobState.FAILED
    return ForecastFigure(url=figure.url, computing=not failed, failed=failed)


def stored_figure(stream: ValueStream) -> ForecastFigure:
    """:func:`forecast_figure` of what is stored only (nothing is asked for)."""
    url = forecast_url(stream)
    found = (
        ForecastSnapshot.objects.filter(
            stream=stream, view_key=DEFAULT_KEY, computed_at__isnull=False
        )
        .values_list("result", "computed_at")
        .first()
    )
    if not found or not found[0]:
        return ForecastFigure(url=url)
    result, computed_at = found
    target = result.get("target")
    if not target:
        return ForecastFigure(url=url, computed=True)
    end = target.get("period_end")
    period_end = date.fromisoformat(end[:10]) if end else None
    probability = _number(target.get("probability"))
    change = change_of(
        _percent(probability),
        _percent(last_week_probability(stream, computed_at, period_end)),
        lambda points: f"{points:.0f} pts",
        more_is_better=True,
        before=LAST_WEEK,
    )
    return ForecastFigure(
        url=url,
        computed=True,
        has_target=True,
        change=change,
        probability=probability,
        target=int(target.get("target") or 0),
        won_so_far=int(target.get("won_so_far") or 0),
        expected=_number(target.get("expected")),
        period_end=period_end,
    )
