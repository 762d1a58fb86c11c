"""The metrics engine: every figure of metrics.md §2–5 for one stream, window and filter set.

Each family of figures is one SQL query that filters, joins and aggregates in the database
(window conditions; the re-entry, hand-off and last-visit facts stored on each visit by
``funnel.eventlog.paths``; sums and counts; percentiles through ``funnel.metrics.sql``), then a few
lines of Python finish the ratios. Entry point: :func:`compute_metrics`.

Where each figure comes from:

- per step (§2): ``_visits`` (time in step, work, wait, losses, defects of the completed
  visits; arrivals, re-entries, %C&A, hand-offs of the entering ones; avg WIP), ``_open``
  (WIP now, stalled), finished in ``_steps``;
- summary (§3): ``_deals`` (win rate, the win rate of the deals past the ready-for-sales
  hand-off, sales cycle, mean won amount) and ``_summary``;
- waste (§4): the steps' shares, summed in ``_waste``; ``_lost_work`` for overproduction;
- funnel (§5): ``_funnel``.

Every duration is computed in both time bases in the same queries (metrics.md "Working
time"): beside each elapsed column the queries read the working-time offsets stored on the
rows (``Visit.entered_w``/``exited_w``, ``Deal.first_entered_w``/``closed_w``), so a working
duration is a subtraction too (``WORKING_HOURS``); the aggregates of working time carry the
suffix ``_w``. :func:`compute_bases` returns one result per basis; a team without a working
calendar gets the elapsed one only (``NO_CALENDAR`` says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from django.core.exceptions import ValidationError

from funnel.leads.models import Handoff
from funnel.metrics import sql
from funnel.metrics.query import ELAPSED, WORKING, MetricsQuery
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics, StreamSummary, Waste
from funnel.metrics.stats import littles_law_ratio, ratio, step_takts
from funnel.models import Deal, Visit
from streams.calendars.selectors import clock_for, team_default_calendar
from streams.models import FunnelStage, Lane, ProcessStep, ValueClass, ValueStream

VISIT = Visit._meta.db_table
DEAL = Deal._meta.db_table
#: A visit's logged work in hours, in floating point: ``work_minutes / 60.0`` would divide an
#: integer by a numeric, which PostgreSQL does in slow arbitrary precision on every row.
WORK_HOURS = "CAST(v.work_minutes AS DOUBLE PRECISION) / 60"
#: A completed visit's time in step in working hours: the difference of its working-time
#: offsets (seconds of its calendar's W); NULL while they are not written.
WORKING_HOURS = "CAST(v.exited_w - v.entered_w AS DOUBLE PRECISION) / 3600"
#: Why a stream has no working-time figures.
NO_CALENDAR = (
    "The team has no working calendar, so there is no working time to count: give it one "
    "(the team's Working calendars page) or use time=elapsed."
)


@dataclass(frozen=True)
class _MapStep:
    id: int
    lane_id: int
    stage_id: int | None
    value_class: str
    planned_process_hours: float
    planned_lead_hours: float
    hourly_cost: float | None
    motion_waste: bool
    unused_talent: bool


class Context:
    """The stream's map and the SQL pieces every query of one computation shares."""

    def __init__(self, query: MetricsQuery, now: datetime) -> None:
        self.query = query
        self.now = now
        self.stream = ValueStream.objects.get(pk=query.stream_id)
        self.start, self.end = query.window(now)
        filters = query.filters
        if (
            filters.lane_id is not None
            and not self.stream.lanes.filter(pk=filters.lane_id).exists()
        ):
            raise ValidationError({"lane": f"Lane {filters.lane_id} is not a lane of this stream."})
        steps = ProcessStep.objects.filter(stream_id=query.stream_id).order_by("position")
        #: Every step of the map, whatever the lane filter (hand-offs come from any lane, and
        #: deal-level figures such as the funnel ignore the lane filter).
        self.all_steps = [
            _MapStep(
                id=row[0],
                lane_id=row[1],
                stage_id=row[2],
                value_class=row[3],
                planned_process_hours=row[4],
                planned_lead_hours=row[5],
                hourly_cost=float(row[6]) if row[6] is not None else None,
                motion_waste=row[7],
                unused_talent=row[8],
            )
            for row in steps.values_list(
                "pk",
                "lane_id",
                "stage_id",
                "value_class",
                "planned_process_hours",
                "planned_lead_hours",
                "lane__hourly_cost",
                "motion_waste",
                "unused_talent",
            )
        ]
        self.steps = [
            step
            for step in self.all_steps
            if filters.lane_id is None or step.lane_id == filters.lane_id
        ]
        self.stage_ids = list(
            FunnelStage.objects.filter(stream_id=query.stream_id)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        # In UTC: two times with the same zone subtract as wall-clock times in Python, so a
        # Berlin week across the DST change would count 168 h instead of its real 167 h.
        self.window_hours = (
            self.end.astimezone(UTC) - self.start.astimezone(UTC)
        ).total_seconds() / 3600.0
        self.params: dict[str, object] = {
            "stream": query.stream_id,
            "start": sql.timestamp_param(self.start),
            "end": sql.timestamp_param(self.end),
            "start_h": sql.hours_since_epoch(self.start),
            "end_h": sql.hours_since_epoch(self.end),
            "now_h": sql.hours_since_epoch(now),
        }
        deal_where = []
        if filters.owner_id is not None:
            deal_where.append("d.owner_id = %(owner)s")
            self.params["owner"] = filters.owner_id
        if filters.owner_name is not None:
            # An imported owner who is not a user is known by name only; a deal owned by a
            # user is never that owner, whatever name it was imported under.
            deal_where.append("d.owner_id IS NULL AND d.owner_name = %(owner_name)s")
            self.params["owner_name"] = filters.owner_name
        if filters.source is not None:
            deal_where.append("d.source = %(source)s")
            self.params["source"] = filters.source
        band = filters.band
        if band is not None and band.low is not None:
            deal_where.append("d.amount >= %(amount_low)s")
            self.params["amount_low"] = float(band.low)
        if band is not None and band.high is not None:
            deal_where.append("d.amount < %(amount_high)s")
            self.params["amount_high"] = float(band.high)
        self.deal_where = "".join(f" AND {w}" for w in deal_where)
        #: The (lane-filtered) steps' ids as an SQL list.
        self.step_ids = ", ".join(str(step.id) for step in self.steps) or "NULL"
        # Visits of the (lane-filtered) steps of deals that pass the deal filters, with their
        # deals as ``d``. The steps are the stream's, and so are their visits' deals (a
        # database rule), so ``visits_only_from`` skips the join when no deal filter needs ``d``.
        self.visits_from = (
            f"FROM {VISIT} v JOIN {DEAL} d ON d.id = v.deal_id "
            f"WHERE v.step_id IN ({self.step_ids}) AND d.stream_id = %(stream)s{self.deal_where}"
        )
        self.visits_only_from = (
            self.visits_from
            if self.deal_where
            else f"FROM {VISIT} v WHERE v.step_id IN ({self.step_ids})"
        )
        # What the queries need of a visit's step, read from the map in hand rather than by
        # joining the step table on every row (a third of the per-step query's time).
        #: The visit's work in hours: logged, else the step's planned process time.
        self.work_hours = (
            f"COALESCE({WORK_HOURS}, "
            f"{sql.lookup('v.step_id', {m.id: m.planned_process_hours for m in self.steps})})"
        )
        lanes = {m.id: m.lane_id for m in self.all_steps}
        #: 1 when the visit came from a step of another lane (a hand-off).
        self.handoff = (
            f"CASE WHEN {sql.lookup('v.previous_step_id', lanes)} <> "
            f"{sql.lookup('v.step_id', lanes)} THEN 1 ELSE 0 END"
        )
        stages = {m.id: m.stage_id for m in self.all_steps if m.stage_id is not None}
        #: The funnel stage of the visit's step, and the steps that are in a stage.
        self.stage_of = sql.lookup("v.step_id", stages)
        self.staged_step_ids = ", ".join(map(str, stages)) or "NULL"

    @cached_property
    def selling_step_ids(self) -> list[int]:
        return selling_step_ids(self.query.stream_id, [m.id for m in self.all_steps])

    @cached_property
    def calendars(self) -> dict[int, object] | None:
        """The working calendar of each step of the map (its lane's own, else the team's
        default); None when the team has no calendar (no working-time figures then)."""
        default = team_default_calendar(self.stream.team_id)
        if default is None:
            return None
        lanes = Lane.objects.filter(stream_id=self.query.stream_id).select_related("calendar")
        by_lane = {lane.pk: lane.calendar or default for lane in lanes}
        return {m.id: by_lane.get(m.lane_id, default) for m in self.all_steps}

    @property
    def working(self) -> bool:
        """Whether working-time figures are computed (the team has a calendar)."""
        return self.calendars is not None

    @property
    def bases(self) -> tuple[str, ...]:
        return (ELAPSED, WORKING) if self.working else (ELAPSED,)

    @cached_property
    def now_w(self) -> dict[int, int]:
        """W(now) of each step's calendar, in seconds: an open visit's working age is
        W(now) − its ``entered_w``."""
        return {
            step_id: int(clock_for(calendar).w(self.now))
            for step_id, calendar in (self.calendars or {}).items()
        }

    @cached_property
    def day_hours(self) -> float:
        """The unit of the ``_days`` figures in working time (:func:`working_day_hours`)."""
        return working_day_hours(self.stream.team_id)

    def days(self, basis: str) -> float:
        """Hours in a day of ``basis``: 24 elapsed, ``day_hours`` working."""
        return self.day_hours if basis == WORKING else 24.0


def selling_step_ids(stream_id: int, step_ids: list[int] | None = None) -> list[int]:
    """The steps after the stream's ready-for-sales (``pull``) hand-off, in map order
    (``step_ids``: the map's steps in order, read when not given): a case that visited one of
    them reached selling (docs/leads.md, "a lead ... and a deal from then on"). Empty when the
    stream has no such hand-off."""
    step_id = (
        Handoff.objects.filter(stream_id=stream_id, pull=True)
        .values_list("step_id", flat=True)
        .first()
    )
    if step_id is None:
        return []
    if step_ids is None:
        step_ids = list(
            ProcessStep.objects.filter(stream_id=stream_id)
            .order_by("position")
            .values_list("pk", flat=True)
        )
    return step_ids[step_ids.index(step_id) + 1 :] if step_id in step_ids else []


def working_day_hours(team_id: int) -> float:
    """The working hours of a working day of the team's default calendar (its week's hours ÷
    its weekdays with hours; 8.5 for Mon–Fri 09:00–17:30): the unit of the ``_days`` figures
    in working time. 24 without a calendar."""
    default = team_default_calendar(team_id)
    spans = list(default.spans.all()) if default is not None else []
    seconds = sum(
        (s.end.hour * 3600 + s.end.minute * 60) - (s.start.hour * 3600 + s.start.minute * 60)
        for s in spans
    )
    days = len({s.weekday for s in spans})
    return seconds / 3600 / days if days else 24.0


def stream_basis(stream: ValueStream) -> str:
    """The basis a stream's figures are shown in by default: its ``time_basis``, elapsed
    while its team has no working calendar."""
    if stream.time_basis == WORKING and team_default_calendar(stream.team_id) is not None:
        return WORKING
    return ELAPSED


def in_window(column: str) -> str:
    return f"{column} >= %(start)s AND {column} < %(end)s"


def _completed_or_entered(alias: str) -> str:
    """Visit ``alias`` was completed or entered in the window."""
    return f"(({in_window(f'{alias}.exited_at')}) OR ({in_window(f'{alias}.entered_at')}))"


def _visits(ctx: Context) -> dict:
    """Per step, in one pass over its visits: the completed visits (``exited_at`` in the
    window: time in step, work, wait, losses, defects), the visits that entered in the window
    (arrivals, re-entries, hand-offs) and the hours every visit spent inside the window (for
    the time-average WIP; nearly the same rows)."""
    h = f"{sql.epoch_hours('v.exited_at')} - {sql.epoch_hours('v.entered_at')}"
    spans = "v.entered_at < %(end)s AND (v.exited_at > %(start)s OR v.exited_at IS NULL)"
    exited = f"COALESCE({sql.epoch_hours('v.exited_at')}, %(now_h)s)"
    inside = sql.greatest(
        "0",
        f"{sql.least(exited, '%(end_h)s')} - "
        f"{sql.greatest(sql.epoch_hours('v.entered_at'), '%(start_h)s')}",
    )
    inner = (
        f"SELECT v.step_id AS step_id, {h} AS h, "
        + (f"{WORKING_HOURS} AS hw, " if ctx.working else "")
        + f"{ctx.work_hours} AS w, "
        f"CASE WHEN {in_window('v.exited_at')} THEN 1 ELSE 0 END AS done, "
        f"CASE WHEN {in_window('v.entered_at')} THEN 1 ELSE 0 END AS came, "
        f"CASE WHEN {spans} THEN 1 ELSE 0 END AS spans, {inside} AS inside, "
        f"CASE WHEN v.work_minutes IS NULL THEN 0 ELSE 1 END AS logged, "
        # The deal was lost while at this step: this was its last visit and it is lost. The
        # deal is looked up only for completed last visits (a few percent of the rows), so no
        # deal join is needed unless a deal filter asks for one.
        f"CASE WHEN v.is_last AND {in_window('v.exited_at')} THEN "
        f"(CASE WHEN EXISTS (SELECT 1 FROM {DEAL} lost WHERE lost.id = v.deal_id "
        f"AND lost.status = 'lost') THEN 1 ELSE 0 END) ELSE 0 END AS lost_here, "
        f"CASE WHEN v.reentry THEN 1 ELSE 0 END AS reentry, "
        f"{ctx.handoff} AS handoff "
        f"{ctx.visits_only_from} AND ({_completed_or_entered('v')} OR ({spans}))"
    )
    working_aggregates = {
        "tis_w": "SUM(CASE WHEN done = 1 THEN hw ELSE 0 END)",
        "mean_w": "AVG(CASE WHEN done = 1 THEN hw END)",
        "wait_w": "SUM(CASE WHEN done = 1 AND hw > w THEN hw - w ELSE 0 END)",
        "defects_w": "SUM(CASE WHEN done = 1 AND reentry = 1 THEN hw ELSE 0 END)",
    }
    working_percentiles = {"h_w": ("CASE WHEN done = 1 THEN hw END", (0.5, 0.85, 0.95))}
    return sql.grouped(
        inner,
        ctx.params,
        by="step_id",
        aggregates={
            **(working_aggregates if ctx.working else {}),
            "n": "SUM(done)",
            "tis": "SUM(CASE WHEN done = 1 THEN h ELSE 0 END)",
            "mean": "AVG(CASE WHEN done = 1 THEN h END)",
            "work": "SUM(CASE WHEN done = 1 THEN w ELSE 0 END)",
            "wait": "SUM(CASE WHEN done = 1 AND h > w THEN h - w ELSE 0 END)",
            "logged": "SUM(done * logged)",
            "lost": "SUM(done * lost_here)",
            "defects": "SUM(CASE WHEN done = 1 AND reentry = 1 THEN h ELSE 0 END)",
            "defects_work": "SUM(CASE WHEN done = 1 AND reentry = 1 THEN w ELSE 0 END)",
            "arrivals": "SUM(came)",
            "reentries": "SUM(came * reentry)",
            "handoffs": "SUM(came * handoff)",
            "n_overlap": "SUM(spans)",
            "overlap_hours": "SUM(CASE WHEN spans = 1 THEN inside ELSE 0 END)",
        },
        percentiles={
            "h": ("CASE WHEN done = 1 THEN h END", (0.5, 0.85, 0.95)),
            "w": ("CASE WHEN done = 1 THEN w END", (0.5,)),
            **(working_percentiles if ctx.working else {}),
        },
    )


def _entering_deals(ctx: Context) -> int:
    """How many deals made the visits that entered in the window (transport per deal)."""
    return sql.fetch(
        f"SELECT COUNT(DISTINCT v.deal_id) {ctx.visits_only_from} AND {in_window('v.entered_at')}",
        ctx.params,
    )[0][0]


def _lost_work(ctx: Context) -> dict:
    """Σ work hours, per step, of deals lost in the window (overproduction)."""
    rows = sql.fetch(
        f"SELECT v.step_id, SUM({ctx.work_hours}) "
        f"{ctx.visits_from} AND d.status = 'lost' "
        f"AND d.closed_at >= %(start)s AND d.closed_at < %(end)s GROUP BY v.step_id",
        ctx.params,
    )
    return {step_id: float(hours) for step_id, hours in rows}


def past_handoff(ctx: Context, *, now: bool = False) -> str:
    """An SQL condition on a deal ``d`` of a stream with a ready-for-sales hand-off: it visited
    a step after the hand-off (metrics.md §3); with ``now``, its open visit is at one. In a
    ``WHERE`` clause, so that the database runs it as one semi-join, not a lookup per row (a
    ``CASE`` in the select list cost 0.8 s over the 3.6-million-visit demo's 300,000 closed
    cases, the semi-join 0.25 s)."""
    steps = ", ".join(map(str, ctx.selling_step_ids))
    open_visit = "sv.exited_at IS NULL AND " if now else ""
    return (
        f"EXISTS (SELECT 1 FROM {VISIT} sv WHERE sv.deal_id = d.id AND {open_visit}"
        f"sv.step_id IN ({steps}))"
    )


def _deals(ctx: Context) -> dict:
    """Deals closed in the window, by outcome: counts, amounts and cycle hours (elapsed, and
    working as ``cycle_w``); with a ready-for-sales hand-off, ``selling_n`` of the lost: how
    many of them got past it (:func:`past_handoff`; every won deal did)."""
    working = "CAST(d.closed_w - d.first_entered_w AS DOUBLE PRECISION) / 3600"
    closed_in_window = (
        f"FROM {DEAL} d WHERE d.stream_id = %(stream)s{ctx.deal_where} "
        "AND d.closed_at >= %(start)s AND d.closed_at < %(end)s"
    )
    inner = (
        "SELECT d.status AS status, d.amount AS amount, "
        + (f"{working} AS cycle_wh, " if ctx.working else "")
        + f"{sql.epoch_hours('d.closed_at')} - {sql.epoch_hours('d.first_entered_at')} AS cycle_h "
        f"{closed_in_window} AND d.status IN ('won', 'lost')"
    )
    deals = sql.grouped(
        inner,
        ctx.params,
        by="status",
        aggregates={"n": "COUNT(*)", "amount_n": "COUNT(amount)", "amount_mean": "AVG(amount)"},
        percentiles={
            "cycle": ("cycle_h", (0.5,)),
            **({"cycle_w": ("cycle_wh", (0.5,))} if ctx.working else {}),
        },
    )
    if ctx.selling_step_ids:
        deals.setdefault("lost", {})["selling_n"] = sql.fetch(
            f"SELECT COUNT(*) {closed_in_window} AND d.status = 'lost' AND {past_handoff(ctx)}",
            ctx.params,
        )[0][0]
    return deals


OpenVisit = tuple[int, float, float | None, int | None]


def _open(ctx: Context) -> tuple[list[OpenVisit], int, int]:
    """Open visits now (step, hours since epoch of entering, deal amount, working-time
    offset of entering); open deals; with a ready-for-sales hand-off, how many of those are
    at a step after it now (else 0)."""
    visits = sql.fetch(
        f"SELECT v.step_id, {sql.epoch_hours('v.entered_at')}, d.amount, v.entered_w "
        f"{ctx.visits_from} AND v.exited_at IS NULL",
        ctx.params,
    )
    open_deals = (
        f"FROM {DEAL} d WHERE d.stream_id = %(stream)s{ctx.deal_where} AND d.status = 'open'"
    )
    count = sql.fetch(f"SELECT COUNT(*) {open_deals}", ctx.params)[0][0]
    past = 0
    if ctx.selling_step_ids:
        past = sql.fetch(
            f"SELECT COUNT(*) {open_deals} AND {past_handoff(ctx, now=True)}", ctx.params
        )[0][0]
    return (
        [(s, float(e), float(a) if a is not None else None, w) for s, e, a, w in visits],
        count,
        past,
    )


def _funnel(ctx: Context) -> tuple[dict[str, list[StageMetrics]], int, int]:
    """metrics.md §5 over the cohort: deals (passing the deal filters) whose first visit is
    in the window; the stages in each basis (they differ in the days in stage only)."""
    cohort = (
        f"SELECT d.id AS deal_id, d.status AS status FROM {DEAL} d "
        f"WHERE d.stream_id = %(stream)s{ctx.deal_where} AND {in_window('d.first_entered_at')}"
    )
    size, won = sql.fetch(
        f"SELECT COUNT(*), SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) FROM ({cohort}) c",
        ctx.params,
    )[0]
    hours = f"{sql.epoch_hours('v.exited_at')} - {sql.epoch_hours('v.entered_at')}"
    per_deal_stage = (
        f"SELECT c.deal_id, c.status AS status, {ctx.stage_of} AS stage_id, "
        f"SUM(CASE WHEN v.exited_at IS NULL THEN 1 ELSE 0 END) AS open_visits, "
        f"SUM({hours}) AS hours"
        + (f", SUM({WORKING_HOURS}) AS hours_w " if ctx.working else " ")
        + f"FROM ({cohort}) c JOIN {VISIT} v ON v.deal_id = c.deal_id "
        f"WHERE v.step_id IN ({ctx.staged_step_ids}) "
        # Implied by the cohort (no visit before its first), but lets the index narrow the scan.
        f"AND v.entered_at >= %(start)s "
        f"GROUP BY 1, 2, 3"  # the deal, its status and the stage
    )
    per_stage = sql.grouped(
        per_deal_stage,
        ctx.params,
        by="stage_id",
        aggregates={
            "reached": "COUNT(*)",
            "won": "SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END)",
            "left": "SUM(CASE WHEN open_visits = 0 THEN 1 ELSE 0 END)",
        },
        percentiles={
            "days": ("CASE WHEN open_visits = 0 THEN hours / 24.0 END", (0.5,)),
            **(
                {
                    "days_w": (
                        f"CASE WHEN open_visits = 0 THEN hours_w / {ctx.day_hours!r} END",
                        (0.5,),
                    )
                }
                if ctx.working
                else {}
            ),
        },
    )
    reached = [int(per_stage.get(k, {}).get("reached") or 0) for k in ctx.stage_ids]
    first = reached[0] if reached else 0
    by_basis = {basis: [] for basis in ctx.bases}
    for i, stage_id in enumerate(ctx.stage_ids):
        row = per_stage.get(stage_id, {})
        if i + 1 < len(ctx.stage_ids):
            conversion = ratio(reached[i + 1], reached[i])
        else:
            conversion = ratio(int(row.get("won") or 0), reached[i])
        for basis, stages in by_basis.items():
            stages.append(
                StageMetrics(
                    stage_id=stage_id,
                    reached=reached[i],
                    conversion=conversion,
                    cumulative_conversion=ratio(reached[i], first),
                    drop_off=None if conversion is None else 1.0 - conversion,
                    n_left=int(row.get("left") or 0),
                    median_days_in_stage=_float(row.get(f"days{_suffix(basis)}_0.5")),
                    n_first=first,
                )
            )
    return by_basis, int(size or 0), int(won or 0)


def _suffix(basis: str) -> str:
    """The suffix of the working-time aggregates (``tis_w``, ``h_w_0.5`` …)."""
    return "_w" if basis == WORKING else ""


def _float(value: object) -> float | None:
    return None if value is None else float(value)


def _cost(hours: float, step: _MapStep) -> float | None:
    """Money of a waste: the *work* hours spent in it at the lane's hourly cost (waiting costs
    no labour, so it is measured in hours only)."""
    return None if step.hourly_cost is None else hours * step.hourly_cost


def _steps(ctx: Context, visits: dict, lost_work: dict, basis: str) -> list[StepMetrics]:
    """metrics.md §2 for every (lane-filtered) step, in map order, from the per-step rows of
    ``_visits`` and ``_lost_work``; durations in ``basis`` (counts, WIP, throughput and
    Little's law are elapsed in both)."""
    weeks = ctx.window_hours / (7 * 24)
    x = _suffix(basis)
    result = []
    for step in ctx.steps:
        c = visits.get(step.id, {})
        n = int(c.get("n") or 0)
        tis = float(c.get(f"tis{x}") or 0.0)
        work = float(c.get("work") or 0.0)
        wait = float(c.get(f"wait{x}") or 0.0)
        mean = _float(c.get(f"mean{x}"))
        elapsed_mean = _float(c.get("mean"))
        arrivals = int(c.get("arrivals") or 0)
        reentries = int(c.get("reentries") or 0)
        avg_wip = float(c.get("overlap_hours") or 0.0) / ctx.window_hours
        defects = float(c.get(f"defects{x}") or 0.0)
        lost = int(c.get("lost") or 0)
        is_waste = step.value_class == ValueClass.WASTE
        lost_hours = lost_work.get(step.id, 0.0)
        result.append(
            StepMetrics(
                step_id=step.id,
                n_completed=n,
                n_entered=arrivals,
                n_overlap=int(c.get("n_overlap") or 0),
                median_hours=_float(c.get(f"h{x}_0.5")),
                p85_hours=_float(c.get(f"h{x}_0.85")),
                p95_hours=_float(c.get(f"h{x}_0.95")),
                mean_hours=mean,
                time_in_step_hours=tis,
                median_work_hours=_float(c.get("w_0.5")),
                work_hours=work,
                wait_hours=wait,
                work_logged=int(c.get("logged") or 0),
                flow_efficiency=ratio(work, tis) if n else None,
                arrivals=arrivals,
                throughput_per_week=n / weeks,
                avg_wip=avg_wip,
                littles_law_ratio=littles_law_ratio(
                    avg_wip=avg_wip,
                    completed=n,
                    window_hours=ctx.window_hours,
                    mean_hours=elapsed_mean,
                ),
                reentries=reentries,
                pct_complete_accurate=1.0 - reentries / arrivals if arrivals else None,
                lost=lost,
                loss_rate=ratio(lost, n),
                defects_hours=defects,
                handoffs=int(c.get("handoffs") or 0),
                extra_processing_hours=tis if is_waste else 0.0,
                overproduction_hours=lost_hours,
                defects_cost=_cost(float(c.get("defects_work") or 0.0), step),
                extra_processing_cost=_cost(work if is_waste else 0.0, step),
                overproduction_cost=_cost(lost_hours, step),
            )
        )
    takts = _step_takts(ctx, {s.step_id: s.loss_rate for s in result})
    for metrics in result:
        metrics.step_takt_hours = takts[metrics.step_id]
    return result


def _step_takts(ctx: Context, loss_rates: dict[int, float | None]) -> dict[int, float | None]:
    """``step_takt_hours`` of the context's steps, given their loss rates.

    A step's takt depends on the conversion of every later step of the *map*, whichever lane
    it is in: under a lane filter the loss rates of the other lanes' steps are measured too.
    """
    steps = ctx.steps
    if ctx.query.filters.lane_id is not None:
        whole = Context(
            replace(ctx.query, filters=replace(ctx.query.filters, lane_id=None)), ctx.now
        )
        visits = _visits(whole)
        steps = whole.steps
        loss_rates = {
            m.id: ratio(
                int(visits.get(m.id, {}).get("lost") or 0),
                int(visits.get(m.id, {}).get("n") or 0),
            )
            for m in steps
        }
    takts = step_takts(
        available_hours=ctx.stream.available_selling_hours_per_period,
        target_wins=ctx.stream.target_won_deals_per_period,
        loss_rates=[loss_rates[m.id] for m in steps],
    )
    return dict(zip((m.id for m in steps), takts, strict=True))


def _summary(ctx: Context, steps: list[StepMetrics], deals: dict, basis: str) -> StreamSummary:
    won, lost = deals.get("won", {}), deals.get("lost", {})
    n_won, n_lost = int(won.get("n") or 0), int(lost.get("n") or 0)
    medians = [s.median_hours for s in steps if s.median_hours is not None]
    works = [s.median_work_hours for s in steps if s.median_work_hours is not None]
    cas = [s.pct_complete_accurate for s in steps if s.pct_complete_accurate is not None]
    lead = math.fsum(medians) if medians else None
    process = math.fsum(works) if works else None
    cycle_hours = _float(won.get(f"cycle{_suffix(basis)}_0.5"))
    selling_lost = int(lost.get("selling_n") or 0)
    selling_closed = n_won + selling_lost if ctx.selling_step_ids else 0
    return StreamSummary(
        n_ladder=min((s.n_completed for s in steps), default=0),
        n_entered_min=min((s.n_entered for s in steps), default=0),
        lead_time_hours=lead,
        process_time_hours=process,
        activity_ratio=ratio(process, lead),
        rolled_pct_complete_accurate=math.prod(cas) if cas else None,
        won=n_won,
        lost=n_lost,
        closed=n_won + n_lost,
        win_rate=ratio(n_won, n_won + n_lost),
        handoff=bool(ctx.selling_step_ids),
        selling_closed=selling_closed,
        leads_lost=n_lost - selling_lost if ctx.selling_step_ids else 0,
        selling_win_rate=ratio(n_won, selling_closed) if ctx.selling_step_ids else None,
        sales_cycle_days=None if cycle_hours is None else cycle_hours / ctx.days(basis),
        won_with_amount=int(won.get("amount_n") or 0),
        mean_won_amount=_float(won.get("amount_mean")),
        takt_hours=ctx.stream.planned_takt_hours,
        day_hours=ctx.days(basis),
    )


def _waste(ctx: Context, steps: list[StepMetrics], entering_deals: int, lost: int) -> Waste:
    def total_cost(name: str) -> float | None:
        costs = [getattr(s, name) for s in steps if getattr(s, name) is not None]
        return math.fsum(costs) if costs else None

    handoffs = sum(s.handoffs for s in steps)
    waste_steps = {m.id for m in ctx.steps if m.value_class == ValueClass.WASTE}
    return Waste(
        waiting_hours=math.fsum(s.wait_hours for s in steps),
        waiting_visits=sum(s.n_completed for s in steps),
        defects_hours=math.fsum(s.defects_hours for s in steps),
        defects_count=sum(s.reentries for s in steps),
        transport_handoffs=handoffs,
        transport_deals=entering_deals,
        transport_per_deal=ratio(handoffs, entering_deals),
        extra_processing_hours=math.fsum(s.extra_processing_hours for s in steps),
        extra_processing_visits=sum(s.n_completed for s in steps if s.step_id in waste_steps),
        overproduction_hours=math.fsum(s.overproduction_hours for s in steps),
        overproduction_deals=lost,
        defects_cost=total_cost("defects_cost"),
        extra_processing_cost=total_cost("extra_processing_cost"),
        overproduction_cost=total_cost("overproduction_cost"),
        motion_steps=[m.id for m in ctx.steps if m.motion_waste],
        unused_talent_steps=[m.id for m in ctx.steps if m.unused_talent],
    )


def apply_open_figures(
    ctx: Context,
    result: MetricsResult,
    open_now: tuple[list[OpenVisit], int, int] | None = None,
) -> None:
    """Fill the figures that depend on "now" (WIP now, stalled, inventory, open deals,
    pipeline velocity) into ``result``, using its steps' p85 as the stall thresholds;
    ``open_now`` is what ``_open`` returns, read here when not given. In working time an
    open visit's age is W(now) − its ``entered_w``, against the working p85.

    Kept apart so the periodic refresh can redo them without recomputing the window.
    """
    visits, open_deals, open_past = open_now if open_now is not None else _open(ctx)
    planned = {m.id: m.planned_lead_hours for m in ctx.steps}
    by_step = {s.step_id: s for s in result.steps}
    for metrics in result.steps:
        metrics.n_open = metrics.wip_now = metrics.stalled = 0
        metrics.stalled_amount = 0.0
        threshold = metrics.p85_hours
        if threshold is None and planned.get(metrics.step_id):
            threshold = planned[metrics.step_id]
        metrics.stall_threshold_hours = threshold
    now_h = sql.hours_since_epoch(ctx.now)
    working = result.query.basis == WORKING
    for step_id, entered_h, amount, entered_w in visits:
        metrics = by_step.get(step_id)
        if metrics is None:  # a step added to the map since the result was computed
            continue
        metrics.n_open += 1
        metrics.wip_now += 1
        threshold = metrics.stall_threshold_hours
        if working:
            now_w = ctx.now_w.get(step_id)
            age = None if entered_w is None or now_w is None else (now_w - entered_w) / 3600
        else:
            age = now_h - entered_h
        if threshold is not None and age is not None and age > threshold:
            metrics.stalled += 1
            metrics.stalled_amount += amount or 0.0
    waste, summary = result.waste, result.summary
    waste.open_visits = len(visits)
    waste.inventory_count = sum(s.stalled for s in result.steps)
    waste.inventory_amount = math.fsum(s.stalled_amount for s in result.steps)
    summary.open_deals = open_deals
    summary.open_past_handoff = open_past
    velocity = None
    if summary.win_rate is not None and summary.mean_won_amount is not None:
        velocity = ratio(
            open_deals * summary.win_rate * summary.mean_won_amount, summary.sales_cycle_days
        )
    summary.pipeline_velocity_per_day = velocity


def compute_metrics(query: MetricsQuery, *, now: datetime) -> MetricsResult:
    """Every figure of metrics.md §2–5 for ``query`` in its basis, computed from the visits at
    ``now`` (both bases are computed; :func:`compute_bases` keeps both).

    Raises ``ValidationError`` (naming the field) for a lane of another stream, or ``time``
    for working time without a calendar.
    """
    results = compute_bases(query, now=now)
    if query.basis not in results:
        raise ValidationError({"time": NO_CALENDAR})
    return results[query.basis]


def compute_bases(query: MetricsQuery, *, now: datetime) -> dict[str, MetricsResult]:
    """Every figure of metrics.md §2–5 for ``query``'s window and filters in each basis the
    stream has (elapsed; working when its team has a calendar), from the same queries."""
    ctx = Context(query, now)
    # The per-step query takes about as long as all the others together: they run side by
    # side on PostgreSQL.
    visits, (entering_deals, lost_work, deals, funnel, open_now) = sql.both(
        lambda: _visits(ctx),
        lambda: (_entering_deals(ctx), _lost_work(ctx), _deals(ctx), _funnel(ctx), _open(ctx)),
    )
    stages, cohort, cohort_won = funnel
    results = {}
    for basis in ctx.bases:
        steps = _steps(ctx, visits, lost_work, basis)
        summary = _summary(ctx, steps, deals, basis)
        result = results[basis] = MetricsResult(
            query=replace(query, basis=basis),
            window_start=ctx.start,
            window_end=ctx.end,
            computed_at=now,
            steps=steps,
            summary=summary,
            waste=_waste(ctx, steps, entering_deals, summary.lost),
            stages=stages[basis],
            cohort_deals=cohort,
            cohort_won=cohort_won,
            now_at=now,
        )
        apply_open_figures(ctx, result, open_now)
    return results


def refresh_open_figures(result: MetricsResult, *, now: datetime) -> MetricsResult:
    """Redo only the "now" figures of a stored result (for the periodic refresh)."""
    apply_open_figures(Context(result.query, now), result)
    result.now_at = now
    return result
