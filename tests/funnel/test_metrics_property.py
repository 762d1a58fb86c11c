"""The metrics engine against a plain pandas computation of metrics.md, on random event logs.

Hypothesis draws a few deals, each with a random path over a four-step map (re-entries and
skipped steps come naturally), random durations and gaps, logged or missing work minutes, an
outcome (open, won, lost) and, for open deals, an open last visit or not; then a random window
and "now". ``reference`` below recomputes the figures from the same log with pandas only
(nothing of the engine), straight from the definitions; both must agree.

The same logs are checked in working time too (``test_…_in_working_time``): the team gets a
Mon–Fri 09:00–17:30 calendar, the offsets are written from it (``tests.working_offsets``),
and the reference counts each duration as the difference of ``WorkingClock.w`` at its two
ends (whole seconds, so exact) instead of the timestamps.

Times sit on a half-minute grid and every non-zero time in step is a whole number of minutes
plus 30 s, while work is a whole number of minutes: so ``time_in_step − work_hours`` is never
a rounding hair away from zero, where SQLite's ``julianday`` (precise to about 1e-8 h) could
tip ``max(0, ·)`` the other way. "Now" is at least an hour after the last event for the same
reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from itertools import count

import pandas as pd
import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnel.metrics.engine import compute_bases, compute_metrics
from funnel.metrics.query import MetricsQuery
from funnel.models import DealStatus
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec, WorkingClock
from streams.models import Role
from streams.services import LaneSpec, StageSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, VisitFactory
from tests.working_offsets import fill_offsets

pytestmark = pytest.mark.django_db

ORIGIN = datetime(2025, 3, 1, tzinfo=UTC)
#: The map: (name, lane, planned process hours, planned lead hours), in order.
STEPS = [
    ("Qualify", "SDR", 1.0, 8.0),
    ("Discovery", "AE", 2.0, 24.0),
    ("Legal review", "AE", 0.5, 48.0),
    ("Proposal", "SDR", 3.0, 72.0),
]
#: Funnel stages as step indexes.
STAGES = [("Lead", [0]), ("Opportunity", [1, 2]), ("Closing", [3])]

_names = count(1)
#: The working calendar of the working-time property: Mon–Fri 09:00–17:30 in Berlin.
OFFICE = {
    "time_zone": "Europe/Berlin",
    "spans": [SpanSpec(day, time(9), time(17, 30)) for day in range(5)],
}
DAY_HOURS = 8.5


# --- the random event log -----------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    step: int  # index into STEPS
    gap_minutes: int  # after the previous visit's exit (or the deal's start)
    seconds: int  # time in step
    work_minutes: int | None


@dataclass(frozen=True)
class DealLog:
    start_minutes: int  # first entry, minutes after ORIGIN
    stays: tuple[Stay, ...]
    status: str
    last_open: bool  # an open deal still at its last step
    amount: int | None


@dataclass(frozen=True)
class Log:
    deals: tuple[DealLog, ...]
    window_start_minutes: int
    window_minutes: int
    now_after_minutes: int  # after the last event
    # Put a window edge on an event time (index into the sorted event times), so the
    # half-open boundaries are exercised; None keeps the drawn minute.
    snap_start: int | None
    snap_end: int | None


stays = st.builds(
    Stay,
    step=st.integers(0, len(STEPS) - 1),
    gap_minutes=st.sampled_from([0, 0, 0, 45]),
    # 0, or whole minutes plus 30 s (at least half an hour).
    seconds=st.one_of(st.just(0), st.integers(30, 6 * 24 * 60).map(lambda m: m * 60 + 30)),
    work_minutes=st.one_of(st.none(), st.integers(0, 600)),
)


@st.composite
def deal_logs(draw: st.DrawFn) -> DealLog:
    status = draw(st.sampled_from([DealStatus.OPEN, DealStatus.WON, DealStatus.LOST]))
    return DealLog(
        start_minutes=draw(st.integers(-20 * 24 * 60, 30 * 24 * 60)),
        stays=tuple(draw(st.lists(stays, min_size=1, max_size=6))),
        status=status,
        last_open=status == DealStatus.OPEN and draw(st.booleans()),
        amount=draw(st.sampled_from([None, 5_000, 12_000, 80_000])),
    )


logs = st.builds(
    Log,
    deals=st.lists(deal_logs(), min_size=1, max_size=6).map(tuple),
    window_start_minutes=st.integers(-10 * 24 * 60, 25 * 24 * 60),
    window_minutes=st.integers(60, 40 * 24 * 60),
    now_after_minutes=st.integers(60, 20 * 24 * 60),
    snap_start=st.one_of(st.none(), st.integers(0, 100)),
    snap_end=st.one_of(st.none(), st.integers(0, 100)),
)


def visit_table(log: Log) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log as rows: visits (deal, seq, step, entered, exited, work) and deals (deal,
    status, closed, amount). ``seq`` is the order of the deal's path."""
    visits, deals = [], []
    for d, deal_log in enumerate(log.deals):
        t = ORIGIN + timedelta(minutes=deal_log.start_minutes)
        last = len(deal_log.stays) - 1
        for i, stay in enumerate(deal_log.stays):
            entered = t + timedelta(minutes=stay.gap_minutes)
            exited = entered + timedelta(seconds=stay.seconds)
            is_open = i == last and deal_log.last_open
            visits.append(
                {
                    "deal": d,
                    "seq": i,
                    "step": stay.step,
                    "entered": entered,
                    "exited": None if is_open else exited,
                    "work": stay.work_minutes,
                }
            )
            t = exited
        deals.append(
            {
                "deal": d,
                "status": deal_log.status,
                "closed": None if deal_log.status == DealStatus.OPEN else t,
                "amount": deal_log.amount,
            }
        )
    visit_frame = pd.DataFrame(visits)
    for column in ("entered", "exited"):
        visit_frame[column] = pd.to_datetime(visit_frame[column], utc=True)
    visit_frame["work"] = visit_frame["work"].astype("float64")
    deal_frame = pd.DataFrame(deals)
    deal_frame["closed"] = pd.to_datetime(deal_frame["closed"], utc=True)
    return visit_frame, deal_frame


def times(log: Log, visits: pd.DataFrame) -> tuple[datetime, datetime, datetime]:
    """The window's start and end, and now."""
    events = sorted(
        {t.to_pydatetime() for t in pd.concat([visits["entered"], visits["exited"]]).dropna()}
    )
    start = ORIGIN + timedelta(minutes=log.window_start_minutes)
    if log.snap_start is not None:
        start = events[log.snap_start % len(events)]
    end = start + timedelta(minutes=log.window_minutes)
    if log.snap_end is not None and events[log.snap_end % len(events)] > start:
        end = events[log.snap_end % len(events)]
    latest = events[-1]
    minutes = math.ceil((latest - ORIGIN).total_seconds() / 60)
    now = ORIGIN + timedelta(minutes=minutes + log.now_after_minutes)
    return start, end, now


# --- the reference: metrics.md with pandas ------------------------------------------------


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def _w(clock: WorkingClock, moments: pd.Series) -> pd.Series:
    """W of each moment, in seconds (NaN where there is none: an open visit's exit)."""
    return pd.Series(
        [float("nan") if pd.isna(m) else float(clock.w(m.to_pydatetime())) for m in moments],
        index=moments.index,
        dtype="float64",
    )


def _none_if_nan(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def reference(
    visits: pd.DataFrame,
    deals: pd.DataFrame,
    start: datetime,
    end: datetime,
    now: datetime,
    clock: WorkingClock | None = None,
) -> dict:
    """metrics.md in elapsed time, or, with ``clock``, in its working time: each duration
    ``W(end) − W(start)``, the ``_days`` figures in working days of ``DAY_HOURS``."""
    start, end, now = pd.Timestamp(start), pd.Timestamp(end), pd.Timestamp(now)
    window_hours = (end - start).total_seconds() / 3600.0
    v = visits.merge(deals, on="deal").sort_values(["deal", "entered", "seq"])
    day = 24.0 if clock is None else DAY_HOURS

    def duration_hours(begin: pd.Series, finish: pd.Series) -> pd.Series:
        if clock is None:
            return _hours(finish - begin)
        return (_w(clock, finish) - _w(clock, begin)) / 3600.0

    v["h"] = duration_hours(v["entered"], v["exited"])
    planned = pd.Series([s[2] for s in STEPS])
    v["w"] = (v["work"] / 60.0).fillna(v["step"].map(planned))
    v["wait"] = (v["h"] - v["w"]).clip(lower=0.0)
    v["reentry"] = v.groupby(["deal", "step"]).cumcount() > 0
    v["last"] = ~v.duplicated("deal", keep="last")
    v["lost_here"] = v["last"] & (v["status"] == DealStatus.LOST)
    lanes = pd.Series([s[1] for s in STEPS])
    previous_lane = v.groupby("deal")["step"].shift().map(lanes)
    v["handoff"] = previous_lane.notna() & (previous_lane != v["step"].map(lanes))
    v["open"] = v["exited"].isna()
    completed_mask = (v["exited"] >= start) & (v["exited"] < end)
    entered_mask = (v["entered"] >= start) & (v["entered"] < end)
    lost_in_window = (
        (deals["status"] == DealStatus.LOST) & (deals["closed"] >= start) & (deals["closed"] < end)
    )
    lost_deals = set(deals.loc[lost_in_window, "deal"])
    overlap = (
        v["exited"].fillna(now).clip(upper=end) - v["entered"].clip(lower=start)
    ).dt.total_seconds().clip(lower=0) / 3600.0

    steps = []
    for s in range(len(STEPS)):
        at_step = v["step"] == s
        c = v[at_step & completed_mask]
        e = v[at_step & entered_mask]
        n = len(c)
        quantiles = c["h"].quantile([0.5, 0.85, 0.95]) if n else pd.Series([None] * 3)
        arrivals, reentries = len(e), int(e["reentry"].sum())
        steps.append(
            {
                "n_completed": n,
                "median_hours": _none_if_nan(quantiles.iloc[0]),
                "p85_hours": _none_if_nan(quantiles.iloc[1]),
                "p95_hours": _none_if_nan(quantiles.iloc[2]),
                "mean_hours": _none_if_nan(c["h"].mean()) if n else None,
                "median_work_hours": _none_if_nan(c["w"].median()) if n else None,
                "time_in_step_hours": float(c["h"].sum()),
                "work_hours": float(c["w"].sum()),
                "wait_hours": float(c["wait"].sum()),
                "work_logged": int(c["work"].notna().sum()),
                "flow_efficiency": (
                    float(c["w"].sum() / c["h"].sum()) if n and c["h"].sum() > 0 else None
                ),
                "arrivals": arrivals,
                "throughput_per_week": n / (window_hours / (7 * 24)),
                "wip_now": int(v.loc[at_step, "open"].sum()),
                "avg_wip": float(overlap[at_step].sum() / window_hours),
                "reentries": reentries,
                "pct_complete_accurate": 1 - reentries / arrivals if arrivals else None,
                "lost": int(c["lost_here"].sum()),
                "loss_rate": float(c["lost_here"].mean()) if n else None,
                "defects_hours": float(c.loc[c["reentry"], "h"].sum()),
                "handoffs": int(e["handoff"].sum()),
                "overproduction_hours": float(
                    v.loc[at_step & v["deal"].isin(lost_deals), "w"].sum()
                ),
            }
        )

    closed = deals[deals["closed"].notna() & (deals["closed"] >= start) & (deals["closed"] < end)]
    won = closed[closed["status"] == DealStatus.WON]
    first_entered = visits.groupby("deal")["entered"].min()
    cycles = duration_hours(won["deal"].map(first_entered), won["closed"]) / day
    medians = [s["median_hours"] for s in steps if s["median_hours"] is not None]
    summary = {
        "won": len(won),
        "closed": len(closed),
        "win_rate": len(won) / len(closed) if len(closed) else None,
        "sales_cycle_days": _none_if_nan(cycles.median()) if len(won) else None,
        "lead_time_hours": sum(medians) if medians else None,
    }

    cohort = first_entered[(first_entered >= start) & (first_entered < end)].index
    status = deals.set_index("deal")["status"]
    stages = []
    reached = []
    for _, stage_steps in STAGES:
        in_stage = v[v["deal"].isin(cohort) & v["step"].isin(stage_steps)]
        reached.append(in_stage["deal"].nunique())
    for k, (_, stage_steps) in enumerate(STAGES):
        in_stage = v[v["deal"].isin(cohort) & v["step"].isin(stage_steps)]
        per_deal = in_stage.groupby("deal").agg(open=("open", "any"), hours=("h", "sum"))
        left = per_deal[~per_deal["open"]]
        if k + 1 < len(STAGES):
            conversion = reached[k + 1] / reached[k] if reached[k] else None
        else:
            won_here = int((status[per_deal.index] == DealStatus.WON).sum())
            conversion = won_here / reached[k] if reached[k] else None
        stages.append(
            {
                "reached": reached[k],
                "conversion": conversion,
                "cumulative_conversion": reached[k] / reached[0] if reached[0] else None,
                "n_left": len(left),
                "median_days_in_stage": (
                    float((left["hours"] / day).median()) if len(left) else None
                ),
            }
        )
    return {"steps": steps, "summary": summary, "stages": stages, "cohort_deals": len(cohort)}


# --- the property -------------------------------------------------------------------------


def build(team, log: Log, visits: pd.DataFrame, deals: pd.DataFrame):
    """The log in the database, in a fresh stream; returns the stream and its steps."""
    stream = stream_create(
        team=team,
        name=f"Property stream {next(_names)}",
        lanes=[LaneSpec("SDR"), LaneSpec("AE")],
        steps=[
            StepSpec(name, lane, planned_process_hours=pt, planned_lead_hours=lt)
            for name, lane, pt, lt in STEPS
        ],
        stages=[StageSpec(name, [STEPS[i][0] for i in indexes]) for name, indexes in STAGES],
    )
    steps = list(stream.steps.order_by("position"))
    for row in deals.itertuples():
        path = visits[visits["deal"] == row.deal].sort_values("seq")
        deal = DealFactory(
            stream=stream,
            created_at=path["entered"].min().to_pydatetime(),
            status=row.status,
            closed_at=None if pd.isna(row.closed) else row.closed.to_pydatetime(),
            lost_reason="No budget" if row.status == DealStatus.LOST else "",
            amount=None if row.amount is None or pd.isna(row.amount) else Decimal(row.amount),
        )
        for visit in path.itertuples():  # in path order, so ids follow the path
            VisitFactory(
                deal=deal,
                step=steps[visit.step],
                entered_at=visit.entered.to_pydatetime(),
                exited_at=None if pd.isna(visit.exited) else visit.exited.to_pydatetime(),
                work_minutes=None if pd.isna(visit.work) else int(visit.work),
            )
    return stream, steps


def close(actual: float | int | None, expected: float | int | None):
    if expected is None:
        return actual is None
    return actual is not None and actual == pytest.approx(expected, rel=1e-6, abs=1e-9)


def assert_matches(engine: dict, expected: dict, where: str) -> None:
    wrong = {
        name: (engine[name], value)
        for name, value in expected.items()
        if not close(engine[name], value)
    }
    assert not wrong, f"{where}: engine vs reference {wrong}"


@pytest.fixture
def team(db: None):
    return TeamFactory()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=logs)
def test_the_engine_agrees_with_a_plain_computation_of_the_definitions(team, log: Log) -> None:
    visits, deals = visit_table(log)
    start, end, now = times(log, visits)
    expected = reference(visits, deals, start, end, now)
    with transaction.atomic():
        try:
            stream, steps = build(team, log, visits, deals)
            result = compute_metrics(
                MetricsQuery(stream_id=stream.pk, start=start, end=end), now=now
            )
        finally:
            transaction.set_rollback(True)  # every example starts from an empty database

    plain = result.as_plain()
    for i, step_expected in enumerate(expected["steps"]):
        assert plain["steps"][i]["step_id"] == steps[i].pk
        assert_matches(plain["steps"][i], step_expected, f"step {STEPS[i][0]}")
    assert_matches(plain["summary"], expected["summary"], "summary")
    for k, stage_expected in enumerate(expected["stages"]):
        assert_matches(plain["stages"][k], stage_expected, f"stage {STAGES[k][0]}")
    assert result.cohort_deals == expected["cohort_deals"]


@pytest.fixture
def office_team(db: None):
    team = TeamFactory()
    manager = MembershipFactory(team=team, role=Role.MANAGER).user
    calendar_create(team=team, by=manager, spec=CalendarSpec(name="Office", **OFFICE))
    return team


#: The figures that count time, compared in working time (the others are the elapsed ones).
WORKING_STEP_FIGURES = (
    "n_completed",
    "median_hours",
    "p85_hours",
    "p95_hours",
    "mean_hours",
    "time_in_step_hours",
    "wait_hours",
    "flow_efficiency",
    "defects_hours",
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=logs)
def test_the_engine_agrees_with_a_plain_computation_in_working_time(office_team, log: Log) -> None:
    visits, deals = visit_table(log)
    start, end, now = times(log, visits)
    expected = reference(visits, deals, start, end, now, clock=WorkingClock(**OFFICE))
    with transaction.atomic():
        try:
            stream, _ = build(office_team, log, visits, deals)
            fill_offsets(stream)
            query = MetricsQuery(stream_id=stream.pk, start=start, end=end)
            result = compute_bases(query, now=now)["working"]
        finally:
            transaction.set_rollback(True)

    plain = result.as_plain()
    for i, step_expected in enumerate(expected["steps"]):
        wanted = {k: v for k, v in step_expected.items() if k in WORKING_STEP_FIGURES}
        assert_matches(plain["steps"][i], wanted, f"step {STEPS[i][0]} (working time)")
    summary = {k: expected["summary"][k] for k in ("sales_cycle_days", "lead_time_hours")}
    assert_matches(plain["summary"], summary, "summary (working time)")
    for k, stage_expected in enumerate(expected["stages"]):
        wanted = {"median_days_in_stage": stage_expected["median_days_in_stage"]}
        assert_matches(plain["stages"][k], wanted, f"stage {STAGES[k][0]} (working time)")
