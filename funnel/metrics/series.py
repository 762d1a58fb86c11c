"""What the dashboard charts plot beyond the figures of metrics.md: series over time, points
and histograms, for one stream, window and filter set (the same ``MetricsQuery`` as the
figures). Computed by :func:`compute_series`, stored beside the figures in the set's snapshot
(``MetricsSnapshot.series``, by ``funnel.metrics.snapshots``) and read back by the
dashboards, which never read raw visits.

Each set has its series in both time bases: the cycle times, the time-in-step histogram
and the aging open visits count durations in the set's basis (``MetricsQuery.basis``); the
other series are counts and dates, the same in both (``compute_series(like=…)`` copies them).

Everything here is plain data: ints, floats, ISO strings, lists and dicts keyed by ids as
strings (JSON object keys), so a stored series reads back as the same object.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from funnel.metrics import sql
from funnel.metrics.engine import (
    DEAL,
    VISIT,
    WORKING_HOURS,
    Context,
    in_window,
    past_handoff,
)
from funnel.metrics.query import WORKING, MetricsQuery
from funnel.metrics.results import MetricsResult
from funnel.metrics.stats import XmR, quantiles, xmr

#: Edges, in hours, of the time-in-step histogram bins: < 1 h, 1–2 h, 2–4 h, 4–8 h, 8 h–1 d,
#: 1–2 d, 2–4 d, 4–7 d, 1–2 wk, 2–4 wk, 4–8 wk, and ≥ 8 weeks (the last bin is open-ended).
#: Doubling bins, because times in step are skewed: most visits are short, a few very long.
TIME_BIN_EDGES_HOURS: tuple[float, ...] = (0, 1, 2, 4, 8, 24, 48, 96, 168, 336, 672, 1344)
TIME_BIN_LABELS: tuple[str, ...] = (
    "< 1 h",
    "1–2 h",
    "2–4 h",
    "4–8 h",
    "8 h–1 d",
    "1–2 d",
    "2–4 d",
    "4–7 d",
    "1–2 wk",
    "2–4 wk",
    "4–8 wk",
    "≥ 8 wk",
)
#: The aging chart shows at most this many open visits per step, the oldest first.
AGING_PER_STEP = 150
#: The cycle-time scatterplot shows at most this many won deals, the latest closes; its
#: percentile lines are over all of them.
CYCLE_POINTS = 1500


@dataclass
class CumulativeFlow:
    """Cumulative flow diagram, one value per day of the window.

    ``days[k]`` is the ISO date (in UTC) of the day that starts ``k`` × 24 h after the window
    start. ``reached[step_id][k]`` is how many deals, from the window start to the end of day
    ``k``, reached that step for the first time (re-entries do not count again). In a stream
    that deals go through in order the lines do not cross, and the vertical gap between two
    lines is the work in progress between those steps; a step that deals skip gives a lower
    line. ``won[k]`` counts the deals won up to the end of day ``k``.
    """

    days: list[str] = field(default_factory=list)
    reached: dict[str, list[int]] = field(default_factory=dict)
    won: list[int] = field(default_factory=list)


@dataclass
class CycleTimes:
    """Deals won in the window (``n``): one point each (``deal_id``, ``closed_at`` ISO,
    ``days`` of sales cycle = close − first visit) for the latest ``CYCLE_POINTS`` closes,
    oldest first; and the p50/p85/p95 of ``days`` over all ``n``."""

    n: int = 0
    points: list[dict] = field(default_factory=list)  # {"deal_id", "closed_at", "days"}
    p50: float | None = None
    p85: float | None = None
    p95: float | None = None


@dataclass
class TimeInStep:
    """Per step, how many visits completed in the window fell in each bin of
    ``TIME_BIN_EDGES_HOURS`` (``counts[step_id]`` has one count per bin)."""

    counts: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Throughput:
    """Weekly counts: week ``k`` starts ``k`` × 7 days after the window start (``weeks[k]``,
    ISO date in UTC); a trailing part-week is left out so every point is a whole week.
    ``won``/``lost``: deals closed so in that week; with a ready-for-sales hand-off on the map,
    ``lost`` counts the deals lost past it and ``leads_lost`` the leads lost before it
    (metrics.md §3; empty without one). ``limits``: XmR limits of ``won``."""

    weeks: list[str] = field(default_factory=list)
    won: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    limits: XmR = field(default_factory=XmR)
    leads_lost: list[int] = field(default_factory=list)


@dataclass
class Aging:
    """The open visits now, per step: ``counts[step_id]`` of all of them and, in ``items``, the
    ``AGING_PER_STEP`` oldest of each step (``deal_id``, ``step_id``, ``age_hours`` in the
    step, ``amount`` or None, ``stalled``), oldest first; ``thresholds[step_id]`` the stall
    threshold used (the step's p85, else its planned lead time; None: never stalled)."""

    items: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, float | None] = field(default_factory=dict)


@dataclass
class CohortPeriod:
    """The funnel of the deals whose first visit fell in one calendar month (UTC) of the
    window: ``period`` "YYYY-MM", cohort size, ``reached[stage_id]`` and how many were won."""

    period: str
    deals: int = 0
    reached: dict[str, int] = field(default_factory=dict)
    won: int = 0


@dataclass
class ChartSeries:
    """Every series of one set, with when it was computed (``computed_at``) and when the
    "now" part (``aging``) was (``now_at``)."""

    computed_at: str
    now_at: str
    cumulative_flow: CumulativeFlow = field(default_factory=CumulativeFlow)
    cycle_times: CycleTimes = field(default_factory=CycleTimes)
    time_in_step: TimeInStep = field(default_factory=TimeInStep)
    throughput: Throughput = field(default_factory=Throughput)
    aging: Aging = field(default_factory=Aging)
    cohorts: list[CohortPeriod] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ChartSeries:
        throughput = dict(data.get("throughput") or {})
        throughput["limits"] = XmR(**(throughput.get("limits") or {}))
        return cls(
            computed_at=data["computed_at"],
            now_at=data["now_at"],
            cumulative_flow=CumulativeFlow(**(data.get("cumulative_flow") or {})),
            cycle_times=CycleTimes(**(data.get("cycle_times") or {})),
            time_in_step=TimeInStep(**(data.get("time_in_step") or {})),
            throughput=Throughput(**throughput),
            aging=Aging(**(data.get("aging") or {})),
            cohorts=[CohortPeriod(**c) for c in data.get("cohorts") or []],
        )


# --- Computing ------------------------------------------------------------------------------


def compute_series(
    query: MetricsQuery,
    *,
    now: datetime,
    result: MetricsResult,
    like: ChartSeries | None = None,
) -> ChartSeries:
    """Every series of ``query`` at ``now``. ``result`` is the same set's figures (its stall
    thresholds mark the stalled open visits). ``like``: the same set's series in the other
    basis, whose series without durations are taken over instead of computed again."""
    ctx = Context(query, now)
    if like is not None:
        return replace(
            like,
            computed_at=now.isoformat(),
            now_at=now.isoformat(),
            cycle_times=_cycle_times(ctx),
            time_in_step=_time_in_step(ctx),
            aging=aging_of(ctx, result),
        )
    (time_in_step, cohorts), (flow, cycle_times, throughput, aging) = sql.both(
        lambda: (_time_in_step(ctx), _cohorts(ctx)),
        lambda: (_cumulative_flow(ctx), _cycle_times(ctx), _throughput(ctx), aging_of(ctx, result)),
    )
    return ChartSeries(
        computed_at=now.isoformat(),
        now_at=now.isoformat(),
        cumulative_flow=flow,
        cycle_times=cycle_times,
        time_in_step=time_in_step,
        throughput=throughput,
        aging=aging,
        cohorts=cohorts,
    )


def refresh_aging(
    series: ChartSeries, *, query: MetricsQuery, now: datetime, result: MetricsResult
) -> ChartSeries:
    """Redo the part that depends on "now" (the aging open visits), for the periodic refresh."""
    series.aging = aging_of(Context(query, now), result)
    series.now_at = now.isoformat()
    return series


def _iso_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _hours_after_start(column: str) -> str:
    return f"({sql.epoch_hours(column)} - %(start_h)s)"


def _cumulative_flow(ctx: Context) -> CumulativeFlow:
    days = max(1, math.ceil(ctx.window_hours / 24))
    start = ctx.start.astimezone(UTC)
    day = sql.floor_int(f"{_hours_after_start('v.entered_at')} / 24.0")
    rows = sql.fetch(
        f"SELECT v.step_id, {day}, SUM(CASE WHEN v.reentry THEN 0 ELSE 1 END) "
        f"{ctx.visits_only_from} AND {in_window('v.entered_at')} GROUP BY v.step_id, {day}",
        ctx.params,
    )
    index = {step.id: i for i, step in enumerate(ctx.steps)}
    firsts = np.zeros((len(ctx.steps), days), dtype=np.int64)
    for step_id, k, n in rows:
        firsts[index[step_id], min(int(k), days - 1)] += int(n)
    won_day = sql.floor_int(f"{_hours_after_start('d.closed_at')} / 24.0")
    won = np.zeros(days, dtype=np.int64)
    for k, n in sql.fetch(
        f"SELECT {won_day}, COUNT(*) FROM {DEAL} d WHERE d.stream_id = %(stream)s"
        f"{ctx.deal_where} AND d.status = 'won' AND {in_window('d.closed_at')} "
        f"GROUP BY {won_day}",
        ctx.params,
    ):
        won[min(int(k), days - 1)] += int(n)
    reached = np.cumsum(firsts, axis=1)
    return CumulativeFlow(
        days=[_iso_day(start + timedelta(days=k)) for k in range(days)],
        reached={str(step.id): reached[i].tolist() for i, step in enumerate(ctx.steps)},
        won=np.cumsum(won).tolist(),
    )


def _iso_of_hours(hours: float) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=float(hours))).isoformat()


def _cycle_times(ctx: Context) -> CycleTimes:
    closed = sql.epoch_hours("d.closed_at")
    if ctx.query.basis == WORKING:
        days = (
            f"CAST(d.closed_w - d.first_entered_w AS DOUBLE PRECISION) / 3600 / {ctx.day_hours!r}"
        )
        known = "d.closed_w IS NOT NULL AND d.first_entered_w IS NOT NULL"
    else:
        days = f"({closed} - {sql.epoch_hours('d.first_entered_at')}) / 24.0"
        known = "d.first_entered_at IS NOT NULL"
    rows = sql.fetch(
        f"SELECT d.id, {closed}, {days} "
        f"FROM {DEAL} d WHERE d.stream_id = %(stream)s{ctx.deal_where} AND d.status = 'won' "
        f"AND {in_window('d.closed_at')} AND {known} "
        f"ORDER BY d.closed_at, d.id",
        ctx.params,
    )
    days = [float(d) for _, _, d in rows]
    p50, p85, p95 = quantiles(days, (0.5, 0.85, 0.95))
    return CycleTimes(
        n=len(rows),
        points=[
            {"deal_id": pk, "closed_at": _iso_of_hours(h), "days": float(d)}
            for pk, h, d in rows[-CYCLE_POINTS:]
        ],
        p50=p50,
        p85=p85,
        p95=p95,
    )


def _time_in_step(ctx: Context) -> TimeInStep:
    if ctx.query.basis == WORKING:
        h = f"({WORKING_HOURS})"
    else:
        h = f"({sql.epoch_hours('v.exited_at')} - {sql.epoch_hours('v.entered_at')})"
    edges = TIME_BIN_EDGES_HOURS[1:]
    bin_of = (
        "CASE "
        + " ".join(f"WHEN {h} < {edge} THEN {i}" for i, edge in enumerate(edges))
        + f" ELSE {len(edges)} END"
    )
    counts = {str(step.id): [0] * len(TIME_BIN_LABELS) for step in ctx.steps}
    for step_id, k, n in sql.fetch(
        f"SELECT v.step_id, {bin_of}, COUNT(*) {ctx.visits_only_from} "
        f"AND {in_window('v.exited_at')} AND {h} IS NOT NULL GROUP BY v.step_id, {bin_of}",
        ctx.params,
    ):
        counts[str(step_id)][int(k)] = int(n)
    return TimeInStep(counts=counts)


def _throughput(ctx: Context) -> Throughput:
    weeks = int(ctx.window_hours // (7 * 24))
    start = ctx.start.astimezone(UTC)
    week = sql.floor_int(f"{_hours_after_start('d.closed_at')} / 168.0")
    won, lost, leads_lost = [0] * weeks, [0] * weeks, [0] * weeks
    closed = (
        f"FROM {DEAL} d WHERE d.stream_id = %(stream)s{ctx.deal_where} "
        f"AND {in_window('d.closed_at')}"
    )
    for status, k, n in sql.fetch(
        f"SELECT d.status, {week}, COUNT(*) {closed} AND d.status IN ('won', 'lost') "
        f"GROUP BY d.status, {week}",
        ctx.params,
    ):
        if int(k) < weeks:  # the trailing part-week is left out
            (won if status == "won" else lost)[int(k)] = int(n)
    if ctx.selling_step_ids:  # the lost split into deals past the hand-off and leads
        leads_lost, lost = lost, [0] * weeks
        for k, n in sql.fetch(
            f"SELECT {week}, COUNT(*) {closed} AND d.status = 'lost' "
            f"AND {past_handoff(ctx)} GROUP BY {week}",
            ctx.params,
        ):
            if int(k) < weeks:
                lost[int(k)] = int(n)
                leads_lost[int(k)] -= int(n)
    return Throughput(
        weeks=[_iso_day(start + timedelta(days=7 * k)) for k in range(weeks)],
        won=won,
        lost=lost,
        limits=xmr(won),
        leads_lost=leads_lost if ctx.selling_step_ids else [],
    )


def aging_of(ctx: Context, result: MetricsResult) -> Aging:
    """The open visits now (``Aging``), stalled against the thresholds of ``result``."""
    thresholds = {s.step_id: s.stall_threshold_hours for s in result.steps}
    now_h = sql.hours_since_epoch(ctx.now)
    working = ctx.query.basis == WORKING
    rows = sql.fetch(
        f"SELECT v.deal_id, v.step_id, {sql.epoch_hours('v.entered_at')}, d.amount, v.entered_w "
        f"{ctx.visits_from} AND v.exited_at IS NULL ORDER BY v.entered_at, v.id",
        ctx.params,
    )
    counts: dict[str, int] = {str(step.id): 0 for step in ctx.steps}
    items = []
    for deal_id, step_id, entered_h, amount, entered_w in rows:  # oldest first
        key = str(step_id)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > AGING_PER_STEP:
            continue
        if working:  # W(now) − W(entered) of the step's calendar; unknown without offsets
            if entered_w is None or step_id not in ctx.now_w:
                continue
            age = (ctx.now_w[step_id] - entered_w) / 3600
        else:
            age = now_h - float(entered_h)
        threshold = thresholds.get(step_id)
        items.append(
            {
                "deal_id": deal_id,
                "step_id": step_id,
                "age_hours": age,
                "amount": None if amount is None else float(amount),
                "stalled": threshold is not None and age > threshold,
            }
        )
    return Aging(
        items=items,
        counts=counts,
        thresholds={str(step.id): thresholds.get(step.id) for step in ctx.steps},
    )


def _cohorts(ctx: Context) -> list[CohortPeriod]:
    month = sql.utc_month("d.first_entered_at")
    cohort = (
        f"SELECT d.id AS deal_id, d.status AS status, {month} AS period FROM {DEAL} d "
        f"WHERE d.stream_id = %(stream)s{ctx.deal_where} AND {in_window('d.first_entered_at')}"
    )
    periods = {
        period: CohortPeriod(period=period, deals=int(n), won=int(won or 0))
        for period, n, won in sql.fetch(
            f"SELECT period, COUNT(*), SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) "
            f"FROM ({cohort}) c GROUP BY period",
            ctx.params,
        )
    }
    for period, stage_id, n in sql.fetch(
        f"SELECT c.period, {ctx.stage_of}, COUNT(DISTINCT c.deal_id) FROM ({cohort}) c "
        f"JOIN {VISIT} v ON v.deal_id = c.deal_id "
        f"WHERE v.step_id IN ({ctx.staged_step_ids}) AND v.entered_at >= %(start)s "
        f"GROUP BY 1, 2",  # the month and the stage
        ctx.params,
    ):
        periods[period].reached[str(stage_id)] = int(n)
    return [periods[k] for k in sorted(periods)]
