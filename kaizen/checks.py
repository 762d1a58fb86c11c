"""The Check of a kaizen cycle over the event log (metrics.md §6): the metric's raw items in
the baseline window ``[change − L, change)`` and the after window ``[change, change + L)``
(or up to now), the statistics of ``kaizen.stats``, and the weekly run chart with XmR limits.

This reads raw visits and deals, so it runs in a Celery task (``kaizen.tasks``); pages and
the API read the stored result (``CycleCheck``). Entry point: :func:`check_compute`.

Items and the time that places each one in a window (the same rules as the metrics engine):

- time in step: the step's visits, by ``exited_at`` (completed visits), ``exited − entered``
  in hours (in working time: ``exited_w − entered_w``, the stored working-time offsets);
- %C&A: the step's visits, by ``entered_at``, a success when not a re-entry;
- conversion: the step's visits, by ``exited_at``, a success unless the deal was lost while
  at the step (lost, and this was its last visit);
- sales cycle: the stream's deals won, by ``closed_at``, ``closed − first entered`` in days
  (in working time: ``closed_w − first_entered_w`` in working days of the team's calendar);

The durations are counted in the basis the Check is asked for (the stream's default,
``funnel.metrics.engine.stream_basis``); items without working-time offsets are left out of
a working-time sample.
- win rate: the stream's deals won or lost, by ``closed_at``, a success when won.

A change date is a day: the change starts at 00:00 UTC that day. The run chart's weeks start
at the change and count back and forward from it, so the change falls on a week boundary;
its XmR natural process limits (mean ± 2.66 × mean moving range) are those of the baseline
weeks, drawn across the after weeks too, so a point after the change outside them is a signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.fields import BooleanField

from funnel.metrics.engine import selling_step_ids, working_day_hours
from funnel.metrics.query import ELAPSED, WORKING
from funnel.metrics.stats import xmr
from funnel.models import Deal, DealStatus, Visit
from kaizen.metrics import DURATION, spec
from kaizen.models import Metric
from kaizen.stats import Comparison, compare_durations, compare_proportions
from streams.models import ValueStream

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Sample:
    """The items of a metric in a window: when each counts (seconds since the epoch) and its
    value (a duration in the metric's unit, or 1.0 / 0.0 for a success / failure)."""

    at: np.ndarray
    value: np.ndarray

    def split(self, boundary: datetime) -> tuple[Sample, Sample]:
        cut = self.at < boundary.timestamp()
        return Sample(self.at[cut], self.value[cut]), Sample(self.at[~cut], self.value[~cut])

    def __len__(self) -> int:
        return int(self.at.size)


def _seconds(values: list[datetime]) -> np.ndarray:
    return np.array([v.timestamp() for v in values], dtype=float)


def _spans(rows: list[tuple], per: float) -> Sample:
    """Rows ``(at, since)``: each item counts at ``at`` and lasts from ``since`` to it, in
    units of ``per`` seconds."""
    at = _seconds([r[0] for r in rows])
    return Sample(at, (at - _seconds([r[1] for r in rows])) / per)


def _working_spans(rows: list[tuple], per: float) -> Sample:
    """Rows ``(at, start_w, end_w)``: each item counts at ``at`` and lasts the working seconds
    from ``start_w`` to ``end_w``, in units of ``per`` seconds."""
    return Sample(
        _seconds([r[0] for r in rows]), np.array([(r[2] - r[1]) / per for r in rows], dtype=float)
    )


def _successes(rows: list[tuple], success: Callable[[Any], bool]) -> Sample:
    """Rows ``(at, x)``: each item counts at ``at``, 1.0 when ``success(x)`` else 0.0."""
    return Sample(
        _seconds([r[0] for r in rows]), np.array([1.0 if success(r[1]) else 0.0 for r in rows])
    )


def metric_sample(
    *,
    metric: str,
    stream_id: int,
    step_id: int | None,
    start: datetime,
    end: datetime,
    basis: str = ELAPSED,
) -> Sample:
    """The raw items of ``metric`` counted in ``[start, end)`` (see the module docstring),
    durations in ``basis``: one narrow query, finished in numpy."""
    working = basis == WORKING
    if metric in (Metric.TIME_IN_STEP, Metric.PCT_COMPLETE_ACCURATE, Metric.CONVERSION):
        if step_id is None:
            return Sample(np.array([]), np.array([]))
        visits = Visit.objects.filter(step_id=step_id)
        if metric == Metric.TIME_IN_STEP and working:
            rows = list(
                visits.filter(
                    exited_at__gte=start,
                    exited_at__lt=end,
                    entered_w__isnull=False,
                    exited_w__isnull=False,
                ).values_list("exited_at", "entered_w", "exited_w")
            )
            return _working_spans(rows, 3600.0)
        if metric == Metric.TIME_IN_STEP:
            rows = list(
                visits.filter(exited_at__gte=start, exited_at__lt=end).values_list(
                    "exited_at", "entered_at"
                )
            )
            return _spans(rows, 3600.0)
        if metric == Metric.PCT_COMPLETE_ACCURATE:
            rows = list(
                visits.filter(entered_at__gte=start, entered_at__lt=end).values_list(
                    "entered_at", "reentry"
                )
            )
            return _successes(rows, lambda reentry: not reentry)
        rows = list(
            visits.filter(exited_at__gte=start, exited_at__lt=end)
            .annotate(
                lost_here=Case(
                    When(Q(deal__status=DealStatus.LOST) & Q(is_last=True), then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                )
            )
            .values_list("exited_at", "lost_here")
        )
        return _successes(rows, lambda lost_here: not lost_here)
    deals = Deal.objects.filter(stream_id=stream_id, closed_at__gte=start, closed_at__lt=end)
    if metric == Metric.SALES_CYCLE and working:
        team_id = ValueStream.objects.values_list("team_id", flat=True).get(pk=stream_id)
        rows = list(
            deals.filter(
                status=DealStatus.WON, first_entered_w__isnull=False, closed_w__isnull=False
            ).values_list("closed_at", "first_entered_w", "closed_w")
        )
        return _working_spans(rows, working_day_hours(team_id) * 3600.0)
    if metric == Metric.SALES_CYCLE:
        rows = list(
            deals.filter(status=DealStatus.WON, first_entered_at__isnull=False).values_list(
                "closed_at", "first_entered_at"
            )
        )
        return _spans(rows, 86400.0)
    if metric == Metric.WIN_RATE:
        closed = deals.filter(status__in=[DealStatus.WON, DealStatus.LOST])
        if selling := selling_step_ids(stream_id):  # the deals past the hand-off (§3)
            past = Visit.objects.filter(deal=OuterRef("pk"), step_id__in=selling)
            closed = closed.filter(Q(status=DealStatus.WON) | Exists(past))
        rows = list(closed.values_list("closed_at", F("status")))
        return _successes(rows, lambda status: status == DealStatus.WON)
    raise ValueError(f"unknown metric {metric!r}")


def summarize(metric: str, sample: Sample) -> tuple[float | None, int]:
    """The metric over a sample: the median duration, or the share of successes; and n."""
    if not len(sample):
        return None, 0
    if spec(metric).kind == DURATION:
        return float(np.median(sample.value)), len(sample)
    return float(sample.value.mean()), len(sample)


def compare(metric: str, before: Sample, after: Sample, *, direction: str) -> Comparison:
    if spec(metric).kind == DURATION:
        return compare_durations(before.value, after.value, direction=direction)
    return compare_proportions(
        hits_before=int(before.value.sum()),
        n_before=len(before),
        hits_after=int(after.value.sum()),
        n_after=len(after),
        direction=direction,
    )


# --- Run chart ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekPoint:
    start: datetime
    #: The week's median (durations) or share of successes; None without items.
    value: float | None
    n: int
    after: bool
    #: The week is cut by the window's start or end (fewer days than seven).
    partial: bool
    #: An after week outside the baseline's natural process limits.
    signal: bool = False


@dataclass(frozen=True)
class RunChart:
    change_at: datetime
    weeks: list[WeekPoint] = field(default_factory=list)
    #: XmR of the baseline weeks: mean, mean moving range, upper and lower limits.
    mean: float | None = None
    mean_moving_range: float | None = None
    upper: float | None = None
    lower: float | None = None

    def as_json(self) -> dict:
        data = asdict(self)
        data["change_at"] = self.change_at.isoformat()
        for week in data["weeks"]:
            week["start"] = week["start"].isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunChart | None:
        if not data:
            return None
        return cls(
            change_at=datetime.fromisoformat(data["change_at"]),
            weeks=[
                WeekPoint(**{**w, "start": datetime.fromisoformat(w["start"])})
                for w in data["weeks"]
            ],
            mean=data.get("mean"),
            mean_moving_range=data.get("mean_moving_range"),
            upper=data.get("upper"),
            lower=data.get("lower"),
        )


def run_chart(
    metric: str, sample: Sample, *, baseline_start: datetime, change_at: datetime, end: datetime
) -> RunChart:
    """The weekly series of ``sample`` over ``[baseline_start, end)``, weeks counted from
    ``change_at``, with the baseline weeks' XmR limits."""
    duration = spec(metric).kind == DURATION
    first = -math.ceil((change_at - baseline_start) / WEEK)
    last = math.ceil((end - change_at) / WEEK)  # exclusive
    index = np.floor((sample.at - change_at.timestamp()) / WEEK.total_seconds()).astype(int)
    weeks = []
    for k in range(first, last):
        start = change_at + k * WEEK
        values = sample.value[index == k]
        value = None
        if values.size:
            value = float(np.median(values)) if duration else float(values.mean())
        weeks.append(
            WeekPoint(
                start=start,
                value=value,
                n=int(values.size),
                after=k >= 0,
                partial=start < baseline_start or start + WEEK > end,
            )
        )
    limits = xmr([w.value for w in weeks if not w.after and w.value is not None])
    if limits.upper is not None:
        weeks = [
            WeekPoint(
                **{
                    **asdict(w),
                    "signal": w.after
                    and w.value is not None
                    and not limits.lower <= w.value <= limits.upper,
                }
            )
            for w in weeks
        ]
    return RunChart(
        change_at=change_at,
        weeks=weeks,
        mean=limits.mean,
        mean_moving_range=limits.mean_moving_range,
        upper=limits.upper,
        lower=limits.lower,
    )


# --- The Check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    metric: str
    baseline_start: datetime
    change_at: datetime
    after_end: datetime
    comparison: Comparison
    chart: RunChart
    basis: str = ELAPSED


def change_moment(day: date) -> datetime:
    """When a change dated ``day`` started: 00:00 UTC that day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def check_windows(
    *, change_date: date, window_days: int, now: datetime
) -> tuple[datetime, datetime, datetime]:
    """``(change − L, change, end of after)``; the after window ends at change + L, or now
    if sooner (and is empty before the change)."""
    change_at = change_moment(change_date)
    length = timedelta(days=window_days)
    return change_at - length, change_at, max(change_at, min(change_at + length, now))


def check_compute(
    *,
    metric: str,
    stream_id: int,
    step_id: int | None,
    change_date: date,
    window_days: int,
    direction: str,
    now: datetime,
    basis: str = ELAPSED,
) -> CheckResult:
    """metrics.md §6 for one cycle, from the event log, durations in ``basis``."""
    baseline_start, change_at, after_end = check_windows(
        change_date=change_date, window_days=window_days, now=now
    )
    sample = metric_sample(
        metric=metric,
        stream_id=stream_id,
        step_id=step_id,
        start=baseline_start,
        end=after_end,
        basis=basis,
    )
    before, after = sample.split(change_at)
    return CheckResult(
        metric=metric,
        baseline_start=baseline_start,
        change_at=change_at,
        after_end=after_end,
        comparison=compare(metric, before, after, direction=direction),
        chart=run_chart(
            metric, sample, baseline_start=baseline_start, change_at=change_at, end=after_end
        ),
        basis=basis,
    )
