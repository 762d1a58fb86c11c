"""The stream's measured behaviour, the input of every forecast (docs/forecasts.md "The model").

Read from the event log over a window ``[start, end)`` (default: the 180 days before now), in
the stream's default time basis (``funnel.metrics.engine.stream_basis``: working time when
the stream chooses it and its team has a calendar, else elapsed):

- per step, what followed each visit **completed in the window** (``exited_at`` in it, as in
  metrics.md §2): the deal's next visit's step (moving on, going back, or again the same
  step), or, for the deal's last visit, its outcome (won, lost). The counts are the
  transition chances;
- per step, the completed visits' times in step, in hours of the basis (working: the stored
  offsets, ``exited_w − entered_w``; a visit without them is left out, metrics.md "Working
  time");
- per step, the visits **entered** in the window: the times of those completed by its end and
  the ages then of those still open; the simulation draws their Kaplan–Meier estimate
  (:func:`survival_times`), so a visit still open counts as "longer than its age";
- the arrivals: deals whose first visit is in the window, by the step of that visit, and the
  rate per hour of the basis; the amounts of the deals won in the window (a new deal's
  revenue is drawn from them);
- the open deals now: their step, the age of their open visit in hours of the basis, amount.

Everything the simulation needs is in :class:`FlowModel`, plain numpy arrays, so tests build
one by hand (:func:`flow_model`) without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
from django.db.models import Min
from scipy import stats

from funnel.metrics import sql
from funnel.metrics.engine import stream_basis
from funnel.metrics.query import ELAPSED, WORKING
from funnel.models import Deal, DealStatus, Visit
from streams.calendars.selectors import clock_for, team_default_calendar
from streams.calendars.working_time import WorkingClock
from streams.models import Lane, ProcessStep, ValueStream

#: The window the behaviour is measured over, unless asked for another.
DEFAULT_WINDOW = timedelta(days=180)

VISIT = Visit._meta.db_table
DEAL = Deal._meta.db_table


@dataclass(frozen=True)
class FlowModel:
    """What the simulation draws from. ``S`` steps, indexed 0 … S−1 in map order.

    ``counts[s, j]``: completed visits to step ``s`` followed by a visit to step ``j``
    (``j < S``), by the deal's win (``j == S``) or by its loss (``j == S + 1``).
    ``durations[s]``: the completed times in step ``s``, hours of ``basis``, sorted.
    ``planned_hours[s]``: the map's planned lead time, used for a step without completed
    visits (see :meth:`probabilities` and :meth:`samples`).
    """

    step_ids: tuple[int, ...]
    counts: np.ndarray
    durations: tuple[np.ndarray, ...]
    planned_hours: np.ndarray
    basis: str = ELAPSED
    #: Deals whose first visit was in the window, by the step of that visit.
    entries: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: New deals per hour of the basis over the window.
    arrivals_per_hour: float = 0.0
    #: Amounts of the deals won in the window (a new deal's revenue is drawn from them).
    won_amounts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    start: datetime | None = None
    end: datetime | None = None
    #: Per step, the visits **entered** in the window: the times in step of those completed
    #: by its end (``entered_times``) and the ages at its end of those still open
    #: (``entered_open``), hours of the basis. When given, the times drawn are their
    #: Kaplan–Meier estimate (:meth:`samples`); empty (a model built by hand): the completed
    #: times are drawn.
    entered_times: tuple[np.ndarray, ...] = ()
    entered_open: tuple[np.ndarray, ...] = ()

    @property
    def n_steps(self) -> int:
        return len(self.step_ids)

    def probabilities(self) -> np.ndarray:
        """``counts`` as chances per row. A step without a measured exit follows the map: it
        moves on to the next step, and the last step wins (docs/forecasts.md)."""
        s = self.n_steps
        counts = np.asarray(self.counts, dtype=float)
        totals = counts.sum(axis=1)
        chances = np.zeros((s, s + 2))
        measured = totals > 0
        chances[measured] = counts[measured] / totals[measured, None]
        for step in np.flatnonzero(~measured):
            chances[step, step + 1] = 1.0  # step + 1 == s is the win column
        return chances

    def samples(self, step: int) -> np.ndarray:
        """The times a visit to ``step`` is drawn from, sorted, each as likely: the
        Kaplan–Meier estimate of the visits entered in the window (:func:`survival_times`),
        when the model has them and one of them completed; else its completed times; else
        the map's planned lead time alone."""
        return self._samples[step]

    @cached_property
    def _samples(self) -> tuple[np.ndarray, ...]:
        out = []
        for step in range(self.n_steps):
            times = self.durations[step]
            if self.entered_times and len(self.entered_times[step]):
                out.append(survival_times(self.entered_times[step], self.entered_open[step]))
            elif len(times):
                out.append(times)
            else:
                out.append(np.array([float(self.planned_hours[step])]))
        return tuple(out)

    def summary(self) -> list[dict]:
        """Per step: completed visits, the chances to move on / go back / stay / win / lose,
        and the median time; the figures a page shows beside the forecast."""
        chances = self.probabilities()
        rows = []
        for i, step_id in enumerate(self.step_ids):
            row = chances[i]
            rows.append(
                {
                    "step": step_id,
                    "completed": int(np.asarray(self.counts)[i].sum()),
                    "forward": float(row[i + 1 : self.n_steps].sum()),
                    "back": float(row[:i].sum()),
                    "repeat": float(row[i]),
                    "won": float(row[self.n_steps]),
                    "lost": float(row[self.n_steps + 1]),
                    "median_hours": (
                        float(np.median(self.durations[i])) if len(self.durations[i]) else None
                    ),
                    "times_n": len(self.durations[i]),
                }
            )
        return rows


def survival_times(completed: np.ndarray, still_open: np.ndarray) -> np.ndarray:
    """The Kaplan–Meier estimate of a step's time from its visits entered in the window:
    ``completed`` times and, right-censored, the ``still_open`` visits' ages at the window's
    end (scipy.stats.ecdf). A visit still open counts as "longer than its age", not as left
    out: leaving it out keeps only the visits short enough to have finished, which in a
    young log (or one whose deals arrive faster and faster) understates the times. Returned
    as one time per visit (completed and open), sorted and each as likely: the estimate's
    quantiles at (i + ½) ÷ m. When the longest visit is still open the estimate stops short
    of 1; the rest of its chance is put at the longest age seen (all the log can say is
    "at least that long")."""
    completed = np.asarray(completed, dtype=float)
    still_open = np.maximum(np.asarray(still_open, dtype=float), 0.0)
    if not len(still_open) or not len(completed):
        return np.sort(completed)
    found = stats.ecdf(stats.CensoredData(uncensored=completed, right=still_open)).cdf
    m = len(completed) + len(still_open)
    k = np.searchsorted(found.probabilities, (np.arange(m) + 0.5) / m, side="left")
    longest = max(float(completed.max()), float(still_open.max()))
    times = found.quantiles[np.minimum(k, len(found.quantiles) - 1)]
    return np.where(k < len(found.quantiles), times, longest)


def flow_model(
    step_ids: list[int] | tuple[int, ...],
    counts: np.ndarray | list,
    durations: list,
    *,
    planned_hours: list[float] | None = None,
    **extra: object,
) -> FlowModel:
    """A :class:`FlowModel` from plain lists (tests, benchmarks)."""
    n = len(step_ids)
    counts = np.asarray(counts, dtype=np.int64).reshape(n, n + 2)
    return FlowModel(
        step_ids=tuple(step_ids),
        counts=counts,
        durations=tuple(np.sort(np.asarray(d, dtype=float)) for d in durations),
        planned_hours=np.asarray(planned_hours or [8.0] * n, dtype=float),
        **extra,
    )


@dataclass(frozen=True)
class OpenDeals:
    """The open deals now: each one's deal id, step index, age at that step (hours of the
    basis) and amount (0 when it has none; ``has_amount`` says which)."""

    deal_ids: np.ndarray
    steps: np.ndarray
    ages: np.ndarray
    amounts: np.ndarray
    has_amount: np.ndarray

    def __len__(self) -> int:
        return len(self.deal_ids)


class TimeAxis:
    """Hours of the basis from ``now`` and back to instants. Elapsed: plain hours. Working:
    hours of the team's default calendar (W(t), streams.calendars), so a forecast of 16
    working hours from Friday afternoon lands on Tuesday."""

    def __init__(self, now: datetime, clock: WorkingClock | None = None) -> None:
        self.now = now
        self.clock = clock
        self._w_now = clock.w(now) if clock is not None else 0

    @property
    def basis(self) -> str:
        return WORKING if self.clock is not None else ELAPSED

    def hours_until(self, moment: datetime) -> float:
        if self.clock is None:
            return (moment - self.now).total_seconds() / 3600
        return (self.clock.w(moment) - self._w_now) / 3600

    def instants(self, hours: np.ndarray | list[float]) -> list[datetime | None]:
        """The instant ``hours`` of the basis after now (None for an infinite or missing
        value). Working: the first instant whose W reaches it, found on an hourly grid with
        linear interpolation inside the hour, for up to 30 years ahead."""
        values = np.asarray(hours, dtype=float)
        out: list[datetime | None] = [None] * len(values)
        finite = np.isfinite(values)
        if self.clock is None:
            for i in np.flatnonzero(finite):
                out[i] = self.now + timedelta(hours=float(values[i]))
            return out
        horizon = float(values[finite].max()) if finite.any() else 0.0
        base = self.now.timestamp()
        hours_needed = 24.0
        while True:
            grid = base + 3600.0 * np.arange(int(hours_needed) + 2)
            w = (self.clock.offsets(grid) - self._w_now) / 3600
            if w[-1] >= horizon or hours_needed > 24 * 366 * 30:
                break
            hours_needed *= 4
        for i in np.flatnonzero(finite):
            target = max(float(values[i]), 0.0)
            k = int(np.searchsorted(w, target, side="left"))
            if k >= len(grid):
                continue  # beyond 30 years: no date
            if k == 0:
                seconds = grid[0]
            else:
                lo, hi = w[k - 1], w[k]
                share = (target - lo) / (hi - lo) if hi > lo else 1.0
                seconds = grid[k - 1] + 3600.0 * share
            out[i] = datetime.fromtimestamp(float(seconds), tz=UTC)
        return out


def _calendars(stream: ValueStream) -> tuple[object | None, dict[int, object]]:
    """The team's default calendar and each step's (its lane's own, else the default)."""
    default = team_default_calendar(stream.team_id)
    if default is None:
        return None, {}
    lanes = {
        lane.pk: lane.calendar or default
        for lane in Lane.objects.filter(stream=stream).select_related("calendar")
    }
    steps = ProcessStep.objects.filter(stream=stream).values_list("pk", "lane_id")
    return default, {pk: lanes.get(lane_id, default) for pk, lane_id in steps}


def arrival_hours(
    clock: WorkingClock | None, start: datetime, end: datetime, first: datetime | None
) -> float:
    """The hours of the basis over which new deals are counted: ``[start, end)``, begun at
    the log's first visit ``first`` when that is later (none: no visit, no hours)."""
    if first is None:
        return 0.0
    start = max(start, first)
    if start >= end:
        return 0.0
    if clock is not None:
        return clock.working_seconds(start, end) / 3600
    return (end - start).total_seconds() / 3600


def measure(
    stream: ValueStream,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    basis: str | None = None,
    as_of: datetime | None = None,
) -> tuple[FlowModel, OpenDeals, TimeAxis]:
    """The stream's behaviour over ``[start, end)`` (default: the 180 days before ``now``),
    its open deals as of now, and the time axis of ``basis`` (default: the stream's).

    ``as_of``: read the log as it stood at that instant (back-tests, docs/forecasts.md
    "Back-tests"): only visits entered before it; a visit's exit and the deal's outcome only
    if they came before it (a visit still open then is open, a deal closed later is open);
    the window ends at it at the latest, and the open deals are those open then. Pass
    ``now=as_of`` for their ages at that instant."""
    basis = basis or stream_basis(stream)
    end = end or now
    if as_of is not None:
        end = min(end, as_of)
    start = start or end - DEFAULT_WINDOW
    default_calendar, step_calendars = _calendars(stream)
    if basis == WORKING and default_calendar is None:
        basis = ELAPSED  # no calendar, no working time (metrics.md "Without a calendar")
    map_steps = list(
        ProcessStep.objects.filter(stream=stream)
        .order_by("position", "pk")
        .values_list("pk", "planned_lead_hours")
    )
    index = {pk: i for i, (pk, _) in enumerate(map_steps)}
    n = len(map_steps)
    params = {
        "stream": stream.pk,
        "start": sql.timestamp_param(start),
        "end": sql.timestamp_param(end),
    }
    # As of an instant: the paths cut at it, and the outcome only of deals closed before it.
    # (The window's completed visits exited before ``end`` <= ``as_of`` already.)
    path_cut, status = "", "d.status"
    if as_of is not None:
        params["as_of"] = sql.timestamp_param(as_of)
        path_cut = "AND v.entered_at < %(as_of)s "
        status = "CASE WHEN d.closed_at < %(as_of)s THEN d.status ELSE 'open' END"
    exited = "v.exited_at >= %(start)s AND v.exited_at < %(end)s"
    hours = (
        "CAST(v.exited_w - v.entered_w AS DOUBLE PRECISION) / 3600"
        if basis == WORKING
        else f"{sql.epoch_hours('v.exited_at')} - {sql.epoch_hours('v.entered_at')}"
    )
    # Each completed visit with what followed it: the next visit's step in the deal's path
    # (a window function over the paths of the deals that completed a visit in the window).
    rows = sql.fetch(
        f"SELECT x.step_id, x.next_step, x.status, x.hours, x.fresh FROM ("
        f"SELECT v.step_id, v.exited_at, {status} AS status, {hours} AS hours, "
        f"CASE WHEN v.entered_at >= %(start)s THEN 1 ELSE 0 END AS fresh, "
        f"LEAD(v.step_id) OVER (PARTITION BY v.deal_id ORDER BY v.entered_at, v.id) "
        f"AS next_step FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id "
        f"WHERE d.stream_id = %(stream)s {path_cut}AND v.deal_id IN ("
        f"SELECT v.deal_id FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id "
        f"WHERE d.stream_id = %(stream)s AND {exited})) x "
        f"WHERE x.exited_at >= %(start)s AND x.exited_at < %(end)s",
        params,
    )
    counts = np.zeros((n, n + 2), dtype=np.int64)
    times: list[list[float]] = [[] for _ in range(n)]
    # Of those, the visits entered in the window too (for the Kaplan–Meier times, with the
    # visits entered in it and still open at its end: _still_open).
    fresh: list[list[float]] = [[] for _ in range(n)]
    for step_id, next_step, status, value, entered_in_window in rows:
        s = index[step_id]
        if value is not None:
            times[s].append(max(float(value), 0.0))
            if entered_in_window:
                fresh[s].append(max(float(value), 0.0))
        if next_step is not None:
            counts[s, index[next_step]] += 1
        elif status == DealStatus.WON:
            counts[s, n] += 1
        elif status == DealStatus.LOST:
            counts[s, n + 1] += 1
        # else: a completed last visit of an open deal (a path being repaired): no outcome.

    entries = np.zeros(n, dtype=np.int64)
    for step_id, count in sql.fetch(
        f"SELECT v.step_id, COUNT(*) FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id "
        f"WHERE d.stream_id = %(stream)s AND v.previous_step_id IS NULL "
        f"AND v.entered_at >= %(start)s AND v.entered_at < %(end)s GROUP BY v.step_id",
        params,
    ):
        entries[index[step_id]] += count
    clock = clock_for(default_calendar) if basis == WORKING else None
    # No deal can arrive before the log begins: the rate's window starts at the stream's first
    # visit when that is later (a young log, or a back-test date early in it), else a window
    # of 180 days over 60 days of log would read a third of the true rate.
    first = Visit.objects.filter(deal__stream=stream, entered_at__lt=end).aggregate(
        first=Min("entered_at")
    )["first"]
    window_hours = arrival_hours(clock, start, end, first)
    won_amounts = np.array(
        [
            float(a)
            for a in Deal.objects.filter(
                stream=stream,
                status=DealStatus.WON,
                closed_at__gte=start,
                closed_at__lt=end,
                amount__isnull=False,
            ).values_list("amount", flat=True)
        ]
    )
    entered_open = _still_open(stream, params, index, end, basis, step_calendars)
    model = FlowModel(
        step_ids=tuple(pk for pk, _ in map_steps),
        counts=counts,
        durations=tuple(np.sort(np.array(t, dtype=float)) for t in times),
        planned_hours=np.array([float(h) for _, h in map_steps]),
        basis=basis,
        entries=entries,
        arrivals_per_hour=float(entries.sum()) / window_hours if window_hours > 0 else 0.0,
        won_amounts=won_amounts,
        start=start,
        end=end,
        entered_times=tuple(np.sort(np.array(t, dtype=float)) for t in fresh),
        entered_open=entered_open,
    )
    open_deals = _open_deals(stream, index, now, basis, step_calendars, as_of)
    return model, open_deals, TimeAxis(now, clock)


def _still_open(
    stream: ValueStream,
    params: dict,
    index: dict[int, int],
    end: datetime,
    basis: str,
    calendars: dict,
) -> tuple[np.ndarray, ...]:
    """Per step, the visits entered in ``[start, end)`` and still open at ``end``: their ages
    then (working: W(end) of the step's calendar − ``entered_w``, else the elapsed age),
    sorted. (Those completed by then are among the window's completed visits.)"""
    rows = sql.fetch(
        f"SELECT v.step_id, {sql.epoch_hours('v.entered_at')}, v.entered_w FROM {VISIT} v "
        f"JOIN {DEAL} d ON d.id = v.deal_id WHERE d.stream_id = %(stream)s "
        f"AND v.entered_at >= %(start)s AND v.entered_at < %(end)s "
        f"AND (v.exited_at IS NULL OR v.exited_at >= %(end)s)",
        params,
    )
    found = np.array(rows, dtype=float).reshape(len(rows), 3)
    lookup = np.zeros(max(index, default=0) + 1, dtype=np.int64)
    lookup[list(index)] = list(index.values())
    step = lookup[found[:, 0].astype(np.int64)]
    ages = sql.hours_since_epoch(end) - found[:, 1]
    if basis == WORKING:
        end_w = np.array([clock_for(calendars[pk]).w(end) for pk in index], dtype=float)
        known = ~np.isnan(found[:, 2])
        ages[known] = (end_w[step[known]] - found[known, 2]) / 3600
    ages = np.maximum(ages, 0.0)
    return tuple(np.sort(ages[step == i]) for i in range(len(index)))


def _open_deals(
    stream: ValueStream,
    index: dict[int, int],
    now: datetime,
    basis: str,
    calendars: dict,
    as_of: datetime | None = None,
) -> OpenDeals:
    if as_of is None:
        where, params = "d.status = 'open' AND v.exited_at IS NULL", {"stream": stream.pk}
    else:
        # Open at the instant: not closed before it, and the visit it was in then.
        where = (
            "(d.closed_at IS NULL OR d.closed_at >= %(as_of)s) AND v.entered_at < %(as_of)s "
            "AND (v.exited_at IS NULL OR v.exited_at >= %(as_of)s)"
        )
        params = {"stream": stream.pk, "as_of": sql.timestamp_param(as_of)}
    rows = sql.fetch(
        f"SELECT d.id, d.amount, v.step_id, {sql.epoch_hours('v.entered_at')}, v.entered_w "
        f"FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id WHERE d.stream_id = %(stream)s "
        f"AND {where} ORDER BY d.id, v.entered_at, v.id",
        params,
    )
    now_h = sql.hours_since_epoch(now)
    now_w = (
        {step_id: clock_for(cal).w(now) for step_id, cal in calendars.items()}
        if basis == WORKING
        else {}
    )
    ages = []
    for _, _, step_id, entered_h, entered_w in rows:
        if basis == WORKING and entered_w is not None:
            ages.append((now_w[step_id] - entered_w) / 3600)
        else:
            # Elapsed, or a visit whose working offset is not written yet: its elapsed age.
            ages.append(now_h - float(entered_h))
    return OpenDeals(
        deal_ids=np.array([r[0] for r in rows], dtype=np.int64),
        steps=np.array([index[r[2]] for r in rows], dtype=np.int64),
        ages=np.maximum(np.array(ages, dtype=float), 0.0),
        amounts=np.array([float(r[1]) if r[1] is not None else 0.0 for r in rows]),
        has_amount=np.array([r[1] is not None for r in rows], dtype=bool),
    )
