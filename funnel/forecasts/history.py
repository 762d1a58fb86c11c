"""The stream's event log read once and cut in memory at each back-test date (issue 19,
point 3; docs/forecasts.md "Back-tests").

:func:`funnel.forecasts.model.measure` with ``as_of=T`` reads the log as it stood at ``T``
with a handful of SQL queries (a window function over every path): about 2 s per date on the
demo at bench scale, so 52 weekly dates spent most of a minute in the database.
:class:`EventLog` reads the stream's visits and deals once, as plain numbers, and
:meth:`EventLog.as_of` gives, for any ``T``, exactly what ``measure(stream, now=T,
start=…, as_of=T)`` gives (a test checks it at instants cutting through visits, closes and
entries), with numpy masks: a few milliseconds per date.

Times are compared in whole milliseconds since 1970 (read from the database and rounded), so
two instants less than a millisecond apart count as one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from funnel.forecasts.model import (
    DEAL,
    DEFAULT_WINDOW,
    VISIT,
    FlowModel,
    OpenDeals,
    TimeAxis,
    _calendars,
    arrival_hours,
)
from funnel.metrics import sql
from funnel.metrics.engine import stream_basis
from funnel.metrics.query import ELAPSED, WORKING
from funnel.models import DealStatus
from streams.calendars.selectors import clock_for
from streams.models import ProcessStep, ValueStream

#: An exit or close that has not happened: later than any instant.
NEVER = np.iinfo(np.int64).max
_WON, _LOST, _OTHER = 1, 2, 0


def _ms(moment: datetime) -> int:
    return round(sql.hours_since_epoch(moment) * 3_600_000)


def _numbers(query: str, params: dict, columns: int) -> np.ndarray:
    """The rows of ``query`` as one float array (NULL → NaN)."""
    rows = sql.fetch(query, params)
    if not rows:
        return np.empty((0, columns))
    return np.array(rows, dtype=float).reshape(len(rows), columns)


def _ms_array(hours: np.ndarray) -> np.ndarray:
    """Epoch hours (NaN: never) as whole milliseconds."""
    values = np.asarray(hours, dtype=float)
    out = np.full(len(values), NEVER, dtype=np.int64)
    known = ~np.isnan(values)
    out[known] = np.rint(values[known] * 3_600_000).astype(np.int64)
    return out


class EventLog:
    """The visits and deals of ``stream``, read once (see the module)."""

    def __init__(self, stream: ValueStream, *, basis: str | None = None) -> None:
        self.stream = stream
        basis = basis or stream_basis(stream)
        default_calendar, self.step_calendars = _calendars(stream)
        if basis == WORKING and default_calendar is None:
            basis = ELAPSED
        self.basis = basis
        self.clock = clock_for(default_calendar) if basis == WORKING else None
        map_steps = list(
            ProcessStep.objects.filter(stream=stream)
            .order_by("position", "pk")
            .values_list("pk", "planned_lead_hours")
        )
        self.step_ids = tuple(pk for pk, _ in map_steps)
        self.planned_hours = np.array([float(h) for _, h in map_steps])
        index = {pk: i for i, pk in enumerate(self.step_ids)}
        self.n = len(self.step_ids)
        params = {"stream": stream.pk}
        # Numbers only, turned into one float array per query (NULL → NaN): per-column
        # Python conversions of 400,000 rows took seconds.
        deals = _numbers(
            f"SELECT d.id, CASE d.status WHEN '{DealStatus.WON}' THEN {_WON} "
            f"WHEN '{DealStatus.LOST}' THEN {_LOST} ELSE {_OTHER} END, "
            f"{sql.epoch_hours('d.closed_at')}, d.amount FROM {DEAL} d "
            f"WHERE d.stream_id = %(stream)s ORDER BY d.id",
            params,
            4,
        )
        self.deal_ids = deals[:, 0].astype(np.int64)
        self.deal_status = deals[:, 1].astype(np.int8)
        self.deal_closed = _ms_array(deals[:, 2])
        self.deal_has_amount = ~np.isnan(deals[:, 3])
        self.deal_amount = np.nan_to_num(deals[:, 3])
        visits = _numbers(
            f"SELECT v.deal_id, v.step_id, {sql.epoch_hours('v.entered_at')}, "
            f"{sql.epoch_hours('v.exited_at')}, v.entered_w, v.exited_w, "
            f"CASE WHEN v.previous_step_id IS NULL THEN 1 ELSE 0 END "
            f"FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id WHERE d.stream_id = %(stream)s "
            f"ORDER BY v.deal_id, v.entered_at, v.id",
            params,
            7,
        )
        self.deal = np.searchsorted(self.deal_ids, visits[:, 0].astype(np.int64))
        self.step_pk = visits[:, 1].astype(np.int64)
        lookup = np.full(int(self.step_pk.max(initial=0)) + 1, -1, dtype=np.int64)
        for pk, i in index.items():
            if pk < len(lookup):
                lookup[pk] = i
        self.step = lookup[self.step_pk]
        if (self.step < 0).any():
            raise KeyError("a visit to a step that is not on the stream's map")
        self.entered = _ms_array(visits[:, 2])
        self.exited = _ms_array(visits[:, 3])
        # Elapsed hours, as measure() computes them (differences of epoch hours).
        self.entered_h = visits[:, 2]
        self.exited_h = visits[:, 3]
        self.entered_w = visits[:, 4]
        self.exited_w = visits[:, 5]
        self.first = visits[:, 6] == 1
        m = len(visits)
        # The next visit of the same deal's path (-1: none), in (entered_at, id) order.
        same = np.zeros(m, dtype=bool)
        if m > 1:
            same[:-1] = self.deal[1:] == self.deal[:-1]
        self.next = np.where(same, np.arange(m) + 1, -1)

    def won_between(self, start: datetime, end: datetime) -> tuple[int, float]:
        """Deals won with ``closed_at`` in ``(start, end]`` and their amounts added up (as
        :func:`funnel.forecasts.backtest.actual`)."""
        hit = (
            (self.deal_status == _WON)
            & (self.deal_closed > _ms(start))
            & (self.deal_closed <= _ms(end))
        )
        return int(hit.sum()), float(self.deal_amount[hit].sum())

    def win_times_after(self, moment: datetime) -> np.ndarray:
        """The closes of the deals won after ``moment``, in ms since 1970, ascending."""
        hit = (self.deal_status == _WON) & (self.deal_closed > _ms(moment))
        hit &= self.deal_closed != NEVER
        return np.sort(self.deal_closed[hit])

    def as_of(
        self, moment: datetime, *, start: datetime | None = None
    ) -> tuple[FlowModel, OpenDeals, TimeAxis]:
        """What ``measure(stream, now=moment, start=start, as_of=moment)`` gives: the model
        over ``[start, moment)`` (default: the 180 days before) read from the log as it stood
        at ``moment``, the deals open then with their ages then, and the time axis."""
        n = self.n
        start = start or moment - DEFAULT_WINDOW
        t, s = _ms(moment), _ms(start)
        # Visits completed in the window (exited in [start, end); end = the moment).
        done = np.flatnonzero((self.exited >= s) & (self.exited < t) & (self.entered < t))
        nxt = self.next[done]
        has_next = nxt >= 0
        has_next[has_next] = self.entered[nxt[has_next]] < t
        closed_before = self.deal_closed[self.deal[done]] < t
        status = np.where(closed_before, self.deal_status[self.deal[done]], _OTHER)
        column = np.full(len(done), -1, dtype=np.int64)
        column[has_next] = self.step[nxt[has_next]]
        column[~has_next & (status == _WON)] = n
        column[~has_next & (status == _LOST)] = n + 1
        counted = column >= 0
        counts = np.bincount(
            self.step[done][counted] * (n + 2) + column[counted], minlength=n * (n + 2)
        ).reshape(n, n + 2)
        if self.basis == WORKING:
            hours = (self.exited_w[done] - self.entered_w[done]) / 3600
        else:
            hours = self.exited_h[done] - self.entered_h[done]
        keep = ~np.isnan(hours)
        times = np.maximum(hours[keep], 0.0)
        by_step = self.step[done][keep]
        order = np.lexsort((times, by_step))
        bounds = np.searchsorted(by_step[order], np.arange(n + 1))
        sorted_times = times[order]
        durations = tuple(sorted_times[bounds[i] : bounds[i + 1]] for i in range(n))
        entering = self.first & (self.entered >= s) & (self.entered < t)
        entries = np.bincount(self.step[entering], minlength=n).astype(np.int64)
        # (In whole milliseconds: a float's 08:59:59.99999 would lose a working second.)
        before = self.entered[self.entered < t]
        first = datetime.fromtimestamp(int(before.min()) / 1000, UTC) if len(before) else None
        window_hours = arrival_hours(self.clock, start, moment, first)
        won = (
            (self.deal_status == _WON)
            & (self.deal_closed >= s)
            & (self.deal_closed < t)
            & self.deal_has_amount
        )
        model = FlowModel(
            step_ids=self.step_ids,
            counts=counts,
            durations=durations,
            planned_hours=self.planned_hours,
            basis=self.basis,
            entries=entries,
            arrivals_per_hour=float(entries.sum()) / window_hours if window_hours > 0 else 0.0,
            won_amounts=self.deal_amount[won],
            start=start,
            end=moment,
            **self._entered(moment, s, t),
        )
        return model, self._open_deals(moment, t), TimeAxis(moment, self.clock)

    def _entered(self, moment: datetime, s: int, t: int) -> dict:
        """Per step, the visits entered in ``[s, t)``: the times of those completed before
        ``t`` and the ages at ``t`` of the others (as ``measure`` reads them: its completed
        visits entered in the window, and ``model._still_open``)."""
        entered = (self.entered >= s) & (self.entered < t)
        done = entered & (self.exited < t)
        still = np.flatnonzero(entered & (self.exited >= t))
        if self.basis == WORKING:
            hours = (self.exited_w - self.entered_w) / 3600
        else:
            hours = self.exited_h - self.entered_h
        done &= ~np.isnan(hours)
        ages = self._ages(moment, still)

        def by_step(values: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, ...]:
            values = np.maximum(values, 0.0)
            return tuple(np.sort(values[steps == i]) for i in range(self.n))

        return {
            "entered_times": by_step(hours[done], self.step[done]),
            "entered_open": by_step(ages, self.step[still]),
        }

    def _ages(self, moment: datetime, rows: np.ndarray) -> np.ndarray:
        """The hours the visits ``rows`` (an index or a mask) had been open at the moment, in
        the basis: in working time W(moment) of the step's calendar − the visit's offset where
        it has one."""
        ages = sql.hours_since_epoch(moment) - self.entered_h[rows]
        if self.basis == WORKING:
            now_w = {pk: clock_for(cal).w(moment) for pk, cal in self.step_calendars.items()}
            offsets = self.entered_w[rows]
            w_now = np.array([now_w.get(int(pk), np.nan) for pk in self.step_pk[rows]])
            known = ~np.isnan(offsets)
            ages = np.where(known, (w_now - np.nan_to_num(offsets)) / 3600, ages)
        return ages

    def _open_deals(self, moment: datetime, t: int) -> OpenDeals:
        """The deals open at the moment, in the visit they were in then (ordered by deal,
        entry and id, as measure() reads them), with their ages then."""
        rows = np.flatnonzero(
            (self.deal_closed[self.deal] >= t) & (self.entered < t) & (self.exited >= t)
        )
        deal = self.deal[rows]
        ages = self._ages(moment, rows)
        return OpenDeals(
            deal_ids=self.deal_ids[deal],
            steps=self.step[rows],
            ages=np.maximum(ages, 0.0),
            amounts=self.deal_amount[deal],
            has_amount=self.deal_has_amount[deal],
        )

    def hours_from(self, moment: datetime, later_ms: np.ndarray) -> np.ndarray:
        """Hours of the basis from ``moment`` to each instant of ``later_ms`` (ms)."""
        if self.clock is None:
            return (later_ms - _ms(moment)) / 3_600_000
        w_now = self.clock.w(moment)
        w = self.clock.offsets(later_ms / 1000.0)
        return (np.asarray(w, dtype=float) - w_now) / 3600
