"""The metrics engine against hand-worked event logs: every figure of metrics.md §2–5.

Each test builds a small log with literal timestamps and states the expected figure worked
out in a comment. "Now" is frozen by passing ``now=`` to ``compute_metrics``. Unless a test
says otherwise the window is the week ``[2025-03-03 00:00, 2025-03-10 00:00)`` UTC (168 h)
and now is 2025-03-12 00:00 UTC.

The map (fixture ``vsm``): lanes SDR (50/h) and AE (100/h); steps

====  ============  ====  ===========  =======  ==========  ====================
pos   step          lane  value class  planned  planned LT  stage
====  ============  ====  ===========  =======  ==========  ====================
1     Qualify       SDR   value-add    1 h      8 h         Lead
2     Discovery     AE    value-add    2 h      24 h        Opportunity
3     Legal review  AE    waste        0.5 h    48 h        Opportunity (motion)
4     Proposal      AE    value-add    3 h      72 h        Closing (unused talent)
====  ============  ====  ===========  =======  ==========  ====================

and targets of 8 won deals in 160 available selling hours per period (takt 20 h).
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from funnel.metrics import sql
from funnel.metrics.engine import compute_metrics
from funnel.metrics.query import MetricsFilters, MetricsQuery
from funnel.metrics.results import MetricsResult
from funnel.models import Deal, DealStatus
from streams.models import Role, ValueClass
from streams.services import LaneSpec, StageSpec, StepSpec, stream_create
from tests.factories import (
    DealFactory,
    MembershipFactory,
    PullHandoffFactory,
    TeamFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    """A literal, timezone-aware timestamp: ``at("2025-03-03T09:00Z")``."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


W_START = at("2025-03-03T00:00Z")
W_END = at("2025-03-10T00:00Z")  # 168 h after W_START
NOW = at("2025-03-12T00:00Z")


@pytest.fixture
def vsm(db: None) -> SimpleNamespace:
    team = TeamFactory(name="Mid-market")
    stream = stream_create(
        team=team,
        name="Mid-market sales",
        lanes=[LaneSpec("SDR", hourly_cost=Decimal(50)), LaneSpec("AE", hourly_cost=Decimal(100))],
        steps=[
            StepSpec("Qualify", "SDR", planned_process_hours=1, planned_lead_hours=8),
            StepSpec("Discovery", "AE", planned_process_hours=2, planned_lead_hours=24),
            StepSpec(
                "Legal review",
                "AE",
                value_class=ValueClass.WASTE,
                planned_process_hours=0.5,
                planned_lead_hours=48,
                motion_waste=True,
            ),
            StepSpec(
                "Proposal", "AE", planned_process_hours=3, planned_lead_hours=72, unused_talent=True
            ),
        ],
        stages=[
            StageSpec("Lead", ["Qualify"]),
            StageSpec("Opportunity", ["Discovery", "Legal review"]),
            StageSpec("Closing", ["Proposal"]),
        ],
        target_won_deals_per_period=8,
        available_selling_hours_per_period=160,
    )
    ns = SimpleNamespace(team=team, stream=stream)
    ns.qualify, ns.discovery, ns.legal, ns.proposal = stream.steps.order_by("position")
    ns.sdr, ns.ae = stream.lanes.order_by("position")
    ns.lead, ns.opportunity, ns.closing = stream.stages.order_by("position")
    ns.rep_1 = MembershipFactory(team=team, role=Role.REP).user
    ns.rep_2 = MembershipFactory(team=team, role=Role.REP).user
    return ns


def deal(
    vsm: SimpleNamespace,
    *stays: tuple,
    status: str = DealStatus.OPEN,
    closed: str | None = None,
    amount: str | None = "10000",
    owner=None,
    source: str = "inbound",
) -> Deal:
    """A deal of the map's stream with its path. Each stay is ``(step, entered, exited)`` or
    ``(step, entered, exited, work_minutes)``, times as ISO strings, ``exited`` None for the
    open visit. A won or lost deal closes when its last visit exits unless ``closed`` says
    otherwise; the deal is created when it first enters a step."""
    entered = [at(stay[1]) for stay in stays]
    closed_at = None
    if status != DealStatus.OPEN:
        closed_at = at(closed) if closed else at(stays[-1][2])
    created = min(entered) if entered else closed_at
    made = DealFactory(
        stream=vsm.stream,
        created_at=created,
        status=status,
        closed_at=closed_at,
        lost_reason="No budget" if status == DealStatus.LOST else "",
        amount=None if amount is None else Decimal(amount),
        owner=owner,
        source=source,
    )
    for step, entered_at, exited_at, *work in stays:
        VisitFactory(
            deal=made,
            step=step,
            entered_at=at(entered_at),
            exited_at=at(exited_at) if exited_at else None,
            work_minutes=work[0] if work else None,
        )
    return made


def won(vsm: SimpleNamespace, *stays: tuple, **kwargs) -> Deal:
    return deal(vsm, *stays, status=DealStatus.WON, **kwargs)


def lost(vsm: SimpleNamespace, *stays: tuple, **kwargs) -> Deal:
    return deal(vsm, *stays, status=DealStatus.LOST, **kwargs)


def compute(
    vsm: SimpleNamespace,
    *,
    start: datetime = W_START,
    end: datetime = W_END,
    now: datetime = NOW,
    **filters,
) -> MetricsResult:
    query = MetricsQuery(
        stream_id=vsm.stream.pk, start=start, end=end, filters=MetricsFilters(**filters)
    )
    return compute_metrics(query, now=now)


# --- §2 per step: time in step ------------------------------------------------------------


def test_it_takes_percentiles_and_the_mean_of_time_in_step_over_visits_completed_in_the_window(
    vsm,
):
    d = vsm.discovery
    deal(vsm, (d, "2025-03-02T22:00Z", "2025-03-03T00:00Z"))  # 2 h, exits at the start: in
    deal(vsm, (d, "2025-03-04T09:00Z", "2025-03-04T12:00Z"))  # 3 h
    deal(vsm, (d, "2025-03-05T09:00Z", "2025-03-05T14:00Z"))  # 5 h
    deal(vsm, (d, "2025-03-06T08:00Z", "2025-03-06T18:00Z"))  # 10 h
    deal(vsm, (d, "2025-03-01T09:00Z", "2025-03-02T09:00Z"))  # exits before the window: out
    deal(vsm, (d, "2025-03-09T14:00Z", "2025-03-10T00:00Z"))  # exits at the end: out
    deal(vsm, (d, "2025-03-08T09:00Z", None))  # still there: not completed

    step = compute(vsm).step(d.pk)

    assert step.n_completed == 4
    # Sorted 2, 3, 5, 10 h: median at rank 1.5 → (3 + 5) / 2 = 4 h;
    # p85 at rank 2.55 → 5 + 0.55 × 5 = 7.75 h; p95 at rank 2.85 → 5 + 0.85 × 5 = 9.25 h.
    assert step.median_hours == pytest.approx(4.0)
    assert step.p85_hours == pytest.approx(7.75)
    assert step.p95_hours == pytest.approx(9.25)
    # (2 + 3 + 5 + 10) / 4 = 5 h.
    assert step.mean_hours == pytest.approx(5.0)
    assert step.time_in_step_hours == pytest.approx(20.0)


def test_a_step_without_completed_visits_has_no_durations(vsm):
    deal(vsm, (vsm.discovery, "2025-03-04T09:00Z", None))

    step = compute(vsm).step(vsm.discovery.pk)

    assert step.n_completed == 0
    assert (step.median_hours, step.p85_hours, step.mean_hours) == (None, None, None)
    assert step.flow_efficiency is None
    assert step.loss_rate is None
    assert step.throughput_per_week == 0.0


def test_work_hours_come_from_logged_minutes_else_from_the_planned_process_time(vsm):
    d = vsm.discovery  # planned process time 2 h
    deal(vsm, (d, "2025-03-04T09:00Z", "2025-03-04T13:00Z", 60))  # 4 h, 1 h work → wait 3 h
    deal(vsm, (d, "2025-03-05T09:00Z", "2025-03-05T11:00Z", 180))  # 2 h, 3 h work → wait 0
    deal(vsm, (d, "2025-03-06T09:00Z", "2025-03-06T14:00Z"))  # 5 h, not logged: 2 h → wait 3

    step = compute(vsm).step(d.pk)

    # Σ work = 1 + 3 + 2 = 6 h; Σ time in step = 4 + 2 + 5 = 11 h.
    assert step.work_hours == pytest.approx(6.0)
    assert step.time_in_step_hours == pytest.approx(11.0)
    # Wait never goes negative: 3 + max(0, 2 − 3) + 3 = 6 h.
    assert step.wait_hours == pytest.approx(6.0)
    # Flow efficiency = 6 / 11.
    assert step.flow_efficiency == pytest.approx(6 / 11)
    # Work hours 1, 3, 2 → median 2 h.
    assert step.median_work_hours == pytest.approx(2.0)
    assert step.work_logged == 2
    assert step.work_source == "mixed"


def test_work_source_says_whether_the_work_was_logged_or_planned(vsm):
    deal(vsm, (vsm.qualify, "2025-03-04T09:00Z", "2025-03-04T13:00Z"))  # not logged
    deal(vsm, (vsm.discovery, "2025-03-04T09:00Z", "2025-03-04T13:00Z", 30))  # logged

    result = compute(vsm)

    qualify, discovery = result.step(vsm.qualify.pk), result.step(vsm.discovery.pk)
    assert qualify.work_source == "planned"
    # Planned 1 h of a 4 h visit: wait 3 h, flow efficiency 1 / 4.
    assert qualify.work_hours == pytest.approx(1.0)
    assert qualify.wait_hours == pytest.approx(3.0)
    assert qualify.flow_efficiency == pytest.approx(0.25)
    assert discovery.work_source == "logged"
    # a step with no completed visit has no work to source
    assert result.step(vsm.legal.pk).work_source == "none"
    # 30 min logged of 4 h: 0.5 h work, 3.5 h wait, flow efficiency 0.125.
    assert discovery.work_hours == pytest.approx(0.5)
    assert discovery.wait_hours == pytest.approx(3.5)
    assert discovery.flow_efficiency == pytest.approx(0.125)


def test_logged_zero_minutes_is_zero_work_not_the_planned_time(vsm):
    deal(vsm, (vsm.qualify, "2025-03-04T09:00Z", "2025-03-04T13:00Z", 0))

    step = compute(vsm).step(vsm.qualify.pk)

    # 0 min logged → 0 h of work (not the planned 1 h); the whole 4 h is waiting.
    assert step.work_hours == 0.0
    assert step.wait_hours == pytest.approx(4.0)
    assert step.work_source == "logged"


# --- §2 per step: flow --------------------------------------------------------------------


def test_arrivals_count_visits_entering_in_the_half_open_window(vsm):
    q = vsm.qualify
    deal(vsm, (q, "2025-03-02T23:59Z", None))  # before the start: out
    deal(vsm, (q, "2025-03-03T00:00Z", None))  # at the start: in
    deal(vsm, (q, "2025-03-05T12:00Z", "2025-03-06T12:00Z"))  # in
    deal(vsm, (q, "2025-03-10T00:00Z", None))  # at the end: out

    step = compute(vsm).step(q.pk)

    assert step.arrivals == 2
    assert step.n_entered == 2


def test_throughput_per_week_divides_the_completed_visits_by_the_window_in_weeks(vsm):
    q = vsm.qualify
    deal(vsm, (q, "2025-03-03T09:00Z", "2025-03-04T09:00Z"))
    deal(vsm, (q, "2025-03-08T09:00Z", "2025-03-11T09:00Z"))
    deal(vsm, (q, "2025-03-15T09:00Z", "2025-03-16T09:00Z"))

    # Two weeks, three completed visits → 1.5 a week.
    step = compute(vsm, end=at("2025-03-17T00:00Z"), now=at("2025-03-20T00:00Z")).step(q.pk)

    assert step.throughput_per_week == pytest.approx(1.5)


def test_wip_now_counts_the_visits_open_at_the_moment_of_computation(vsm):
    deal(vsm, (vsm.discovery, "2025-01-10T09:00Z", None))
    deal(vsm, (vsm.discovery, "2025-03-11T09:00Z", None))
    deal(vsm, (vsm.discovery, "2025-03-04T09:00Z", "2025-03-05T09:00Z"))
    deal(vsm, (vsm.qualify, "2025-03-11T09:00Z", None))

    # The window is long past; WIP now is still what is open now.
    result = compute(vsm, start=at("2024-06-01T00:00Z"), end=at("2024-07-01T00:00Z"))

    assert result.step(vsm.discovery.pk).wip_now == 2
    assert result.step(vsm.discovery.pk).n_open == 2
    assert result.step(vsm.qualify.pk).wip_now == 1
    assert result.step(vsm.proposal.pk).wip_now == 0
    assert result.waste.open_visits == 3


def test_avg_wip_clips_every_visit_to_the_window(vsm):
    d = vsm.discovery
    deal(vsm, (d, "2025-03-01T00:00Z", "2025-03-04T00:00Z"))  # 72 h, 24 h of them inside
    deal(vsm, (d, "2025-03-09T00:00Z", None))  # open past the end: 24 h inside
    deal(vsm, (d, "2025-03-05T06:00Z", "2025-03-05T18:00Z"))  # 12 h, all inside
    deal(vsm, (d, "2025-03-02T00:00Z", "2025-03-11T00:00Z"))  # spans the window: 168 h
    deal(vsm, (d, "2025-02-20T00:00Z", "2025-03-02T12:00Z"))  # left before: 0
    deal(vsm, (d, "2025-03-10T06:00Z", None))  # came after: 0

    step = compute(vsm).step(d.pk)

    # (24 + 24 + 12 + 168) h / 168 h = 228 / 168 ≈ 1.357 deals on average.
    assert step.avg_wip == pytest.approx(228 / 168)
    assert step.n_overlap == 4
    # Completed in the window: 72 h and 12 h → throughput 2 / 168 per hour, mean 42 h;
    # Little's law ratio = (228 / 168) / (2 / 168 × 42) = 228 / 84 ≈ 2.714.
    assert step.littles_law_ratio == pytest.approx(228 / 84)


def test_avg_wip_counts_an_open_visit_only_up_to_now_when_the_window_reaches_past_now(vsm):
    deal(vsm, (vsm.discovery, "2025-03-04T00:00Z", None))

    step = compute(vsm, now=at("2025-03-06T00:00Z")).step(vsm.discovery.pk)

    # Open from 03-04 to now (03-06): 48 h of the 168 h window.
    assert step.avg_wip == pytest.approx(48 / 168)


def test_littles_law_ratio_is_near_one_for_a_stable_step(vsm):
    # One deal at a time, back to back, each for 24 h from noon to noon (2 → 3 March, …,
    # 9 → 10 March): WIP 1 the whole week; 7 of them leave in it.
    for day in range(2, 10):
        deal(vsm, (vsm.qualify, f"2025-03-{day:02d}T12:00Z", f"2025-03-{day + 1:02d}T12:00Z"))

    step = compute(vsm).step(vsm.qualify.pk)

    # avg WIP 168 / 168 = 1; throughput 7 / 168 per hour × mean 24 h = 1 → ratio 1.
    assert step.avg_wip == pytest.approx(1.0)
    assert step.littles_law_ratio == pytest.approx(1.0)


# --- §2 per step: quality and losses ------------------------------------------------------


def test_it_counts_a_reentry_as_rework(vsm):
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    deal(
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-03T11:00Z"),
        (d, "2025-03-03T11:00Z", "2025-03-04T11:00Z"),
        (q, "2025-03-04T11:00Z", "2025-03-04T14:00Z", 120),  # sent back: 3 h, 2 h work
        (d, "2025-03-04T14:00Z", "2025-03-05T14:00Z"),  # again: 24 h, planned 2 h work
        (p, "2025-03-05T14:00Z", None),
    )
    deal(
        vsm,
        (q, "2025-03-04T09:00Z", "2025-03-04T10:00Z"),
        (d, "2025-03-04T10:00Z", None),
    )

    result = compute(vsm)

    qualify, discovery = result.step(q.pk), result.step(d.pk)
    proposal, legal = result.step(p.pk), result.step(vsm.legal.pk)
    # Qualify: 3 visits entered, 1 a re-entry → %C&A 1 − 1/3 = 2/3. Same for Discovery.
    assert (qualify.arrivals, qualify.reentries) == (3, 1)
    assert qualify.pct_complete_accurate == pytest.approx(2 / 3)
    assert (discovery.arrivals, discovery.reentries) == (3, 1)
    assert discovery.pct_complete_accurate == pytest.approx(2 / 3)
    assert (proposal.reentries, proposal.pct_complete_accurate) == (0, 1.0)
    assert legal.pct_complete_accurate is None  # no visits entered
    # Rolled %C&A over the steps with a figure: 2/3 × 2/3 × 1 = 4/9.
    assert result.summary.rolled_pct_complete_accurate == pytest.approx(4 / 9)
    assert result.summary.n_entered_min == 0  # Legal review had no visits
    # Defects: time in step of the completed re-entries, 3 h at Qualify + 24 h at Discovery.
    assert qualify.defects_hours == pytest.approx(3.0)
    assert discovery.defects_hours == pytest.approx(24.0)
    assert result.waste.defects_hours == pytest.approx(27.0)
    assert result.waste.defects_count == 2
    # Money of the defects: their work hours × the lane's cost: 2 h × 50 + 2 h × 100 = 300.
    assert qualify.defects_cost == pytest.approx(100.0)
    assert discovery.defects_cost == pytest.approx(200.0)
    assert result.waste.defects_cost == pytest.approx(300.0)


def test_a_reentry_counts_when_the_first_visit_was_before_the_window(vsm):
    q = vsm.qualify
    deal(
        vsm,
        (q, "2025-02-20T09:00Z", "2025-02-21T09:00Z"),
        (vsm.discovery, "2025-02-21T09:00Z", "2025-03-04T00:00Z"),
        (q, "2025-03-04T00:00Z", "2025-03-04T05:00Z"),
    )

    step = compute(vsm).step(q.pk)

    # The one visit entering in the window is a re-entry → %C&A 1 − 1/1 = 0; 5 h of defects.
    assert (step.arrivals, step.reentries) == (1, 1)
    assert step.pct_complete_accurate == 0.0
    assert step.defects_hours == pytest.approx(5.0)


def test_a_skipped_step_is_neither_a_visit_nor_a_reentry(vsm):
    won(
        vsm,
        (vsm.qualify, "2025-03-03T09:00Z", "2025-03-04T09:00Z"),  # 24 h
        (vsm.proposal, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),  # 24 h; Discovery skipped
    )

    result = compute(vsm)

    discovery, proposal = result.step(vsm.discovery.pk), result.step(vsm.proposal.pk)
    assert (discovery.arrivals, discovery.n_completed, discovery.median_hours) == (0, 0, None)
    assert discovery.pct_complete_accurate is None
    assert (proposal.arrivals, proposal.reentries, proposal.pct_complete_accurate) == (1, 0, 1.0)
    # The ladder adds the steps that have a median: 24 h + 24 h = 48 h.
    assert result.summary.lead_time_hours == pytest.approx(48.0)
    # SDR → AE is one hand-off.
    assert proposal.handoffs == 1
    # The funnel: Lead and Closing reached, Opportunity skipped.
    lead, opportunity, closing = result.stages
    assert (lead.reached, opportunity.reached, closing.reached) == (1, 0, 1)
    assert lead.conversion == 0.0  # reached(Opportunity) / reached(Lead) = 0 / 1
    assert opportunity.conversion is None  # 1 / 0
    assert closing.conversion == 1.0  # won 1 / reached 1


def test_loss_rate_counts_a_deal_lost_at_its_first_step(vsm):
    q, d = vsm.qualify, vsm.discovery
    lost(vsm, (q, "2025-03-04T09:00Z", "2025-03-04T12:00Z"))  # lost at Qualify
    deal(vsm, (q, "2025-03-04T09:00Z", "2025-03-05T09:00Z"), (d, "2025-03-05T09:00Z", None))
    deal(vsm, (q, "2025-03-04T09:00Z", "2025-03-05T09:00Z"), (d, "2025-03-05T09:00Z", None))
    lost(
        vsm,
        (q, "2025-03-04T09:00Z", "2025-03-05T09:00Z", 30),
        (d, "2025-03-05T09:00Z", "2025-03-06T09:00Z", 90),  # lost at Discovery
    )

    result = compute(vsm)

    qualify, discovery = result.step(q.pk), result.step(d.pk)
    # Qualify: 4 completed visits, 1 was the last visit of a lost deal → 1/4.
    assert (qualify.n_completed, qualify.lost) == (4, 1)
    assert qualify.loss_rate == pytest.approx(0.25)
    # Discovery: 1 completed visit, lost there → 1/1.
    assert (discovery.n_completed, discovery.lost, discovery.loss_rate) == (1, 1, 1.0)
    assert result.summary.lost == 2


def test_open_visits_older_than_the_steps_p85_are_stalled(vsm):
    d, p = vsm.discovery, vsm.proposal
    deal(vsm, (d, "2025-03-03T00:00Z", "2025-03-03T10:00Z"))  # 10 h
    deal(vsm, (d, "2025-03-03T00:00Z", "2025-03-03T20:00Z"))  # 20 h
    deal(vsm, (d, "2025-03-03T00:00Z", "2025-03-04T06:00Z"))  # 30 h
    deal(vsm, (d, "2025-03-03T00:00Z", "2025-03-04T16:00Z"))  # 40 h
    # Now is 03-12 00:00.
    deal(vsm, (d, "2025-03-10T00:00Z", None), amount="20000")  # 48 h old: stalled
    deal(vsm, (d, "2025-03-10T12:00Z", None), amount=None)  # 36 h old: stalled, no amount
    deal(vsm, (d, "2025-03-11T00:00Z", None), amount="7000")  # 24 h old: not stalled
    deal(vsm, (p, "2025-03-08T00:00Z", None), amount="40000")  # 96 h old at Proposal
    deal(vsm, (p, "2025-03-09T00:00Z", None), amount="3000")  # exactly 72 h: not stalled

    result = compute(vsm)

    discovery, proposal = result.step(d.pk), result.step(p.pk)
    # Discovery's p85 of 10, 20, 30, 40 h: rank 2.55 → 30 + 0.55 × 10 = 35.5 h.
    assert discovery.stall_threshold_hours == pytest.approx(35.5)
    assert (discovery.wip_now, discovery.stalled) == (3, 2)
    assert discovery.stalled_amount == pytest.approx(20_000.0)  # 20,000 + no amount
    # Proposal has no completed visit: its planned lead time (72 h) is the threshold; the
    # age must exceed it.
    assert proposal.stall_threshold_hours == 72.0
    assert (proposal.wip_now, proposal.stalled) == (2, 1)
    assert proposal.stalled_amount == pytest.approx(40_000.0)
    # Inventory waste: 3 stalled visits worth 60,000.
    assert result.waste.inventory_count == 3
    assert result.waste.inventory_amount == pytest.approx(60_000.0)
    assert result.waste.open_visits == 5


def test_step_takt_divides_the_available_hours_by_the_arrivals_the_target_requires(vsm):
    q, d, legal, p = vsm.qualify, vsm.discovery, vsm.legal, vsm.proposal
    full_path = (
        (q, "2025-03-03T09:00Z", "2025-03-03T10:00Z"),
        (d, "2025-03-03T10:00Z", "2025-03-03T12:00Z"),
        (legal, "2025-03-03T12:00Z", "2025-03-03T13:00Z"),
        (p, "2025-03-03T13:00Z", "2025-03-03T15:00Z"),
    )
    won(vsm, *full_path)
    lost(vsm, *full_path)  # lost at Proposal
    lost(vsm, (q, "2025-03-04T09:00Z", "2025-03-04T10:00Z"))  # lost at Qualify

    result = compute(vsm)

    # Conversions (1 − loss rate): Qualify 2/3, Discovery 1, Legal 1, Proposal 1/2.
    # Stream takt = 160 h / 8 wins = 20 h.
    assert result.summary.takt_hours == pytest.approx(20.0)
    takts = [result.step(s.pk).step_takt_hours for s in (q, d, legal, p)]
    # Proposal: 8 / (1/2) = 16 arrivals needed → 160 / 16 = 10 h; Legal and Discovery the
    # same (their conversion is 1); Qualify: 8 / (2/3 × 1/2) = 24 → 160 / 24 ≈ 6.67 h.
    assert takts == pytest.approx([160 / 24, 10.0, 10.0, 10.0])


# --- §3 summary ---------------------------------------------------------------------------


def test_the_summary_ladder_adds_the_steps_medians(vsm):
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    deal(vsm, (q, "2025-03-03T09:00Z", "2025-03-03T11:00Z", 30))  # 2 h, 0.5 h work
    deal(vsm, (q, "2025-03-03T09:00Z", "2025-03-03T13:00Z", 90))  # 4 h, 1.5 h work
    deal(vsm, (d, "2025-03-04T00:00Z", "2025-03-04T10:00Z"))  # 10 h, planned 2 h
    deal(vsm, (d, "2025-03-04T00:00Z", "2025-03-04T20:00Z"))  # 20 h, planned 2 h
    deal(vsm, (d, "2025-03-04T00:00Z", "2025-03-05T06:00Z", 240))  # 30 h, 4 h work
    deal(vsm, (p, "2025-03-05T00:00Z", "2025-03-05T06:00Z", 180))  # 6 h, 3 h work

    summary = compute(vsm).summary

    # Medians: Qualify (2 + 4) / 2 = 3 h, Discovery 20 h, Legal none, Proposal 6 h → 29 h.
    assert summary.lead_time_hours == pytest.approx(29.0)
    # Median work: Qualify (0.5 + 1.5) / 2 = 1 h, Discovery 2 h, Proposal 3 h → 6 h.
    assert summary.process_time_hours == pytest.approx(6.0)
    # Activity ratio 6 / 29.
    assert summary.activity_ratio == pytest.approx(6 / 29)
    # The ladder's sample is its thinnest step: Legal review, with no visits.
    assert summary.n_ladder == 0


def test_win_rate_sales_cycle_and_pipeline_velocity_come_from_deals_closed_in_the_window(vsm):
    q, p = vsm.qualify, vsm.proposal
    won(  # 12 days from first entering to winning
        vsm,
        (q, "2025-02-20T00:00Z", "2025-02-25T00:00Z"),
        (p, "2025-02-25T00:00Z", "2025-03-04T00:00Z"),
        amount="10000",
    )
    won(vsm, (p, "2025-02-26T00:00Z", "2025-03-05T00:00Z"), amount="20000")  # 7 days
    won(vsm, (q, "2025-02-13T00:00Z", "2025-03-05T00:00Z"), amount="60000")  # 20 days
    lost(vsm, (q, "2025-03-01T00:00Z", "2025-03-06T00:00Z"))
    won(vsm, (q, "2025-03-01T00:00Z", "2025-03-10T00:00Z"))  # won at the end: out
    lost(vsm, (q, "2025-02-01T00:00Z", "2025-02-10T00:00Z"))  # lost before: out
    deal(vsm, (q, "2025-03-05T00:00Z", None))
    deal(vsm, (p, "2025-03-05T00:00Z", None))

    summary = compute(vsm).summary

    # 3 won, 1 lost in the window → 3 / 4; the denominator is shown.
    assert (summary.won, summary.lost, summary.closed) == (3, 1, 4)
    assert summary.win_rate == pytest.approx(0.75)
    # Cycles 12, 7, 20 days → median 12 days.
    assert summary.sales_cycle_days == pytest.approx(12.0)
    # Mean won amount (10,000 + 20,000 + 60,000) / 3 = 30,000.
    assert summary.mean_won_amount == pytest.approx(30_000.0)
    assert summary.won_with_amount == 3
    # Velocity: 2 open deals × 0.75 × 30,000 / 12 days = 3,750 a day.
    assert summary.open_deals == 2
    assert summary.pipeline_velocity_per_day == pytest.approx(3_750.0)


def test_without_closed_deals_there_is_no_win_rate_or_velocity(vsm):
    deal(vsm, (vsm.qualify, "2025-03-05T00:00Z", None))

    summary = compute(vsm).summary

    assert (summary.closed, summary.win_rate, summary.sales_cycle_days) == (0, None, None)
    assert summary.open_deals == 1
    assert summary.pipeline_velocity_per_day is None


def test_a_win_rate_of_zero_gives_a_velocity_of_zero_only_with_a_sales_cycle(vsm):
    lost(vsm, (vsm.qualify, "2025-03-04T00:00Z", "2025-03-05T00:00Z"))
    deal(vsm, (vsm.qualify, "2025-03-05T00:00Z", None))

    summary = compute(vsm).summary

    # 0 won / 1 closed = 0; no won deal → no cycle and no mean amount → no velocity.
    assert summary.win_rate == 0.0
    assert summary.sales_cycle_days is None
    assert summary.pipeline_velocity_per_day is None


def test_with_a_ready_for_sales_hand_off_the_win_rate_leaves_out_leads_lost_before_it(vsm):
    q, d, legal, p = vsm.qualify, vsm.discovery, vsm.legal, vsm.proposal
    # Discovery is the ready-for-sales queue: Legal review and Proposal are selling steps.
    PullHandoffFactory(step=d)
    won(
        vsm,
        (q, "2025-03-03T00:00Z", "2025-03-04T00:00Z"),
        (p, "2025-03-04T00:00Z", "2025-03-05T00:00Z"),
    )
    won(vsm, (q, "2025-03-03T00:00Z", "2025-03-06T00:00Z"))  # won with no selling step: a deal
    lost(
        vsm,
        (q, "2025-03-03T00:00Z", "2025-03-04T00:00Z"),
        (legal, "2025-03-04T00:00Z", "2025-03-05T00:00Z"),
    )
    lost(vsm, (q, "2025-03-03T00:00Z", "2025-03-04T00:00Z"))  # a lead disqualified
    lost(
        vsm,
        (q, "2025-03-03T00:00Z", "2025-03-04T00:00Z"),
        (d, "2025-03-04T00:00Z", "2025-03-05T00:00Z"),
    )  # lost in the queue
    # Lost at Proposal, but before the window: out of both rates.
    lost(vsm, (p, "2025-02-01T00:00Z", "2025-02-10T00:00Z"))

    summary = compute(vsm).summary

    # 2 won, 3 lost: 2 / 5 over every closed case, as before.
    assert (summary.won, summary.lost, summary.win_rate) == (2, 3, pytest.approx(0.4))
    # Past the hand-off: the 2 won and the 1 lost at Legal review → 2 / 3; 2 leads lost before.
    assert (summary.handoff, summary.selling_closed, summary.leads_lost) == (True, 3, 2)
    assert summary.selling_win_rate == pytest.approx(2 / 3)
    assert summary.figures()["selling_win_rate"] == {
        "value": pytest.approx(2 / 3), "n": 3, "low_sample": True
    }  # fmt: skip


def test_with_a_ready_for_sales_hand_off_the_open_deals_past_it_are_counted(vsm):
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    PullHandoffFactory(step=d)
    deal(vsm, (q, "2025-03-05T00:00Z", None))  # a lead
    deal(vsm, (q, "2025-03-04T00:00Z", "2025-03-05T00:00Z"), (d, "2025-03-05T00:00Z", None))
    deal(vsm, (p, "2025-03-05T00:00Z", None))  # past the queue
    # Past it once, then sent back to Qualify: a lead again (docs/leads.md, its latest visit).
    deal(vsm, (p, "2025-03-04T00:00Z", "2025-03-05T00:00Z"), (q, "2025-03-05T00:00Z", None))

    summary = compute(vsm).summary

    assert (summary.open_deals, summary.open_past_handoff) == (4, 1)
    assert compute(vsm, lane_id=vsm.sdr.pk).summary.open_past_handoff == 1  # deal-level


def test_without_a_ready_for_sales_hand_off_there_is_no_selling_win_rate(vsm):
    lost(vsm, (vsm.proposal, "2025-03-04T00:00Z", "2025-03-05T00:00Z"))

    summary = compute(vsm).summary

    assert (summary.selling_closed, summary.leads_lost, summary.selling_win_rate) == (0, 0, None)
    assert summary.win_rate == 0.0 and summary.open_past_handoff == 0
    assert summary.handoff is False


# --- §4 waste -----------------------------------------------------------------------------


def test_waiting_waste_adds_the_wait_of_every_completed_visit(vsm):
    deal(vsm, (vsm.qualify, "2025-03-04T09:00Z", "2025-03-04T13:00Z", 60))  # wait 3 h
    deal(vsm, (vsm.discovery, "2025-03-04T09:00Z", "2025-03-05T09:00Z"))  # 24 − 2 = 22 h
    deal(vsm, (vsm.proposal, "2025-03-04T09:00Z", None))  # open: not yet waiting waste

    waste = compute(vsm).waste

    # 3 + 22 = 25 h over 2 completed visits; waiting has no money (no labour is spent).
    assert waste.waiting_hours == pytest.approx(25.0)
    assert waste.waiting_visits == 2


def test_transport_counts_the_lane_changes_along_each_deals_path(vsm):
    q, d, legal, p = vsm.qualify, vsm.discovery, vsm.legal, vsm.proposal
    deal(  # SDR → AE → SDR → AE: 3 hand-offs
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-04T09:00Z"),
        (d, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),
        (q, "2025-03-05T09:00Z", "2025-03-06T09:00Z"),
        (p, "2025-03-06T09:00Z", None),
    )
    deal(  # AE → AE: none
        vsm,
        (d, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),
        (legal, "2025-03-05T09:00Z", None),
    )
    deal(vsm, (q, "2025-03-04T09:00Z", None))  # one step: none
    deal(  # the SDR → AE hand-off happens in the window, the deal started before
        vsm,
        (q, "2025-02-20T09:00Z", "2025-03-05T09:00Z"),
        (d, "2025-03-05T09:00Z", None),
    )

    result = compute(vsm)

    # 3 + 0 + 0 + 1 = 4 hand-offs over 4 deals moving in the window → 1 per deal.
    assert result.waste.transport_handoffs == 4
    assert result.waste.transport_deals == 4
    assert result.waste.transport_per_deal == pytest.approx(1.0)
    # Per step, counted at the step handed to: Discovery 2, Qualify 1, Proposal 1.
    handoffs = [result.step(s.pk).handoffs for s in (q, d, legal, p)]
    assert handoffs == [1, 2, 0, 1]


def test_extra_processing_is_the_time_in_steps_classed_as_waste(vsm):
    legal = vsm.legal  # value class "waste", planned 0.5 h
    deal(vsm, (legal, "2025-03-04T09:00Z", "2025-03-04T14:00Z", 60))  # 5 h, 1 h work
    deal(vsm, (legal, "2025-03-05T09:00Z", "2025-03-05T16:00Z"))  # 7 h, planned 0.5 h
    deal(vsm, (vsm.discovery, "2025-03-04T09:00Z", "2025-03-04T14:00Z"))  # value-add

    result = compute(vsm)

    # 5 + 7 = 12 h in Legal review; the value-add Discovery does not count.
    assert result.waste.extra_processing_hours == pytest.approx(12.0)
    assert result.waste.extra_processing_visits == 2
    assert result.step(vsm.discovery.pk).extra_processing_hours == 0.0
    # Money: the work hours in it, (1 + 0.5) h × 100 = 150.
    assert result.step(legal.pk).extra_processing_cost == pytest.approx(150.0)
    assert result.waste.extra_processing_cost == pytest.approx(150.0)


def test_overproduction_is_the_work_spent_on_deals_lost_in_the_window(vsm):
    q, d = vsm.qualify, vsm.discovery
    lost(vsm, (q, "2025-03-04T09:00Z", "2025-03-04T12:00Z"))  # planned 1 h
    lost(
        vsm,
        (q, "2025-02-25T09:00Z", "2025-03-05T09:00Z", 30),  # 0.5 h
        (d, "2025-03-05T09:00Z", "2025-03-06T09:00Z", 90),  # 1.5 h
    )
    lost(vsm, (q, "2025-02-01T09:00Z", "2025-02-02T09:00Z", 600))  # lost before: out
    won(vsm, (q, "2025-03-04T09:00Z", "2025-03-05T09:00Z", 600))  # won: out

    result = compute(vsm)

    # Qualify 1 + 0.5 = 1.5 h, Discovery 1.5 h → 3 h over 2 lost deals.
    assert result.step(q.pk).overproduction_hours == pytest.approx(1.5)
    assert result.step(d.pk).overproduction_hours == pytest.approx(1.5)
    assert result.waste.overproduction_hours == pytest.approx(3.0)
    assert result.waste.overproduction_deals == 2
    # Money: 1.5 h × 50 + 1.5 h × 100 = 225.
    assert result.waste.overproduction_cost == pytest.approx(225.0)


def test_motion_and_unused_talent_are_the_steps_marked_on_the_map(vsm):
    waste = compute(vsm).waste

    assert waste.motion_steps == [vsm.legal.pk]
    assert waste.unused_talent_steps == [vsm.proposal.pk]


def test_a_lane_without_an_hourly_cost_has_no_money_figures(vsm):
    vsm.ae.hourly_cost = None
    vsm.ae.save()
    deal(vsm, (vsm.legal, "2025-03-04T09:00Z", "2025-03-04T14:00Z", 60))

    result = compute(vsm)

    assert result.step(vsm.legal.pk).extra_processing_cost is None
    # Only the SDR lane has a cost, and nothing was wasted there: 0.
    assert result.waste.extra_processing_cost == 0.0


# --- §5 funnel ----------------------------------------------------------------------------


@pytest.fixture
def cohort(vsm) -> SimpleNamespace:
    """Four deals first entering in the window, and two that do not belong to its cohort."""
    q, d, legal, p = vsm.qualify, vsm.discovery, vsm.legal, vsm.proposal
    ns = SimpleNamespace()
    ns.a = won(
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-04T09:00Z"),  # Lead 1 day
        (d, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),  # Opportunity 1 day …
        (legal, "2025-03-05T09:00Z", "2025-03-06T09:00Z"),  # … + 1 day = 2 days
        (p, "2025-03-06T09:00Z", "2025-03-07T09:00Z"),  # Closing 1 day
    )
    ns.b = deal(
        vsm,
        (q, "2025-03-04T00:00Z", "2025-03-04T12:00Z"),  # Lead 0.5 day
        (d, "2025-03-04T12:00Z", "2025-03-06T12:00Z"),  # Opportunity 2 days
        (p, "2025-03-06T12:00Z", None),  # still in Closing
    )
    ns.c = lost(vsm, (q, "2025-03-05T00:00Z", "2025-03-05T06:00Z"))  # Lead 0.25 day
    ns.d = deal(vsm, (q, "2025-03-06T00:00Z", None))  # still in Lead
    # Not in the cohort: first visit before the window, and at its end.
    deal(vsm, (q, "2025-02-25T00:00Z", "2025-03-04T00:00Z"), (d, "2025-03-04T00:00Z", None))
    deal(vsm, (q, "2025-03-10T00:00Z", None))
    return ns


def test_the_funnel_counts_the_deals_of_the_cohort_reaching_each_stage(vsm, cohort):
    result = compute(vsm)

    lead, opportunity, closing = result.stages
    assert [s.stage_id for s in result.stages] == [
        vsm.lead.pk,
        vsm.opportunity.pk,
        vsm.closing.pk,
    ]
    assert (result.cohort_deals, result.cohort_won) == (4, 1)
    # Lead: A, B, C, D; Opportunity: A, B; Closing: A, B.
    assert (lead.reached, opportunity.reached, closing.reached) == (4, 2, 2)
    # Conversion: 2 / 4, 2 / 2, and for the last stage won / reached = 1 / 2.
    assert lead.conversion == pytest.approx(0.5)
    assert opportunity.conversion == pytest.approx(1.0)
    assert closing.conversion == pytest.approx(0.5)
    # Drop-off = 1 − conversion.
    assert [s.drop_off for s in result.stages] == pytest.approx([0.5, 0.0, 0.5])
    # Cumulative: reached / reached(Lead) = 4/4, 2/4, 2/4.
    assert [s.cumulative_conversion for s in result.stages] == pytest.approx([1.0, 0.5, 0.5])
    assert [s.n_first for s in result.stages] == [4, 4, 4]


def test_days_in_stage_is_the_median_over_the_deals_that_left_it(vsm, cohort):
    lead, opportunity, closing = compute(vsm).stages

    # Lead: A 1 day, B 0.5, C 0.25 left it (D is still there) → median 0.5 day.
    assert lead.n_left == 3
    assert lead.median_days_in_stage == pytest.approx(0.5)
    # Opportunity: A 1 + 1 = 2 days over two steps, B 2 days → 2 days.
    assert opportunity.n_left == 2
    assert opportunity.median_days_in_stage == pytest.approx(2.0)
    # Closing: only A left it, after 1 day.
    assert closing.n_left == 1
    assert closing.median_days_in_stage == pytest.approx(1.0)


def test_days_in_stage_add_every_visit_of_the_stage_rework_included(vsm):
    q, d = vsm.qualify, vsm.discovery
    deal(
        vsm,
        (q, "2025-03-03T00:00Z", "2025-03-03T12:00Z"),  # 0.5 day
        (d, "2025-03-03T12:00Z", "2025-03-04T12:00Z"),
        (q, "2025-03-04T12:00Z", "2025-03-05T00:00Z"),  # sent back: 0.5 day more
        (d, "2025-03-05T00:00Z", None),
    )

    lead = compute(vsm).stages[0]

    # Reached once, however often; 0.5 + 0.5 = 1 day in Lead.
    assert lead.reached == 1
    assert lead.median_days_in_stage == pytest.approx(1.0)


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def two_reps(vsm) -> None:
    q = vsm.qualify
    won(vsm, (q, "2025-03-04T00:00Z", "2025-03-04T02:00Z"), owner=vsm.rep_1, amount="5000")
    lost(vsm, (q, "2025-03-04T00:00Z", "2025-03-04T04:00Z"), owner=vsm.rep_1, amount="10000")
    won(
        vsm,
        (q, "2025-03-04T00:00Z", "2025-03-04T10:00Z"),
        owner=vsm.rep_2,
        source="outbound",
        amount="49999.99",
    )
    won(
        vsm,
        (q, "2025-03-04T00:00Z", "2025-03-04T20:00Z"),
        owner=vsm.rep_2,
        source="outbound",
        amount=None,
    )


def test_the_owner_filter_keeps_the_reps_deals(vsm, two_reps):
    result = compute(vsm, owner_id=vsm.rep_1.pk)

    qualify = result.step(vsm.qualify.pk)
    # rep_1: 2 h and 4 h → median 3 h; 1 won of 2 closed.
    assert qualify.n_completed == 2
    assert qualify.median_hours == pytest.approx(3.0)
    assert result.summary.win_rate == pytest.approx(0.5)
    assert result.stages[0].reached == 2


def test_the_source_filter_keeps_the_deals_of_that_lead_source(vsm, two_reps):
    result = compute(vsm, source="outbound")

    qualify = result.step(vsm.qualify.pk)
    # Outbound: 10 h and 20 h → median 15 h; both won.
    assert qualify.median_hours == pytest.approx(15.0)
    assert (result.summary.won, result.summary.closed) == (2, 2)


def test_the_amount_band_filter_is_low_inclusive_high_exclusive(vsm, two_reps):
    small = compute(vsm, amount_band="small")
    medium = compute(vsm, amount_band="medium")

    # Small (< 10,000): the 5,000 deal. Medium [10,000, 50,000): 10,000 and 49,999.99.
    # The deal without an amount is in no band.
    assert small.step(vsm.qualify.pk).n_completed == 1
    assert (small.summary.won, small.summary.lost) == (1, 0)
    assert medium.step(vsm.qualify.pk).n_completed == 2
    assert (medium.summary.won, medium.summary.lost) == (1, 1)
    # 4 h (the lost 10,000 deal) and 10 h → median 7 h.
    assert medium.step(vsm.qualify.pk).median_hours == pytest.approx(7.0)


def test_the_lane_filter_keeps_its_steps_and_ignores_the_deal_level_figures(vsm, cohort):
    whole = compute(vsm)
    sdr = compute(vsm, lane_id=vsm.sdr.pk)

    # Only the SDR lane's step.
    assert [s.step_id for s in sdr.steps] == [vsm.qualify.pk]
    assert sdr.step(vsm.qualify.pk) == whole.step(vsm.qualify.pk)
    # The ladder covers the lane's steps: Qualify's completed visits (A 24 h, B 12 h, C 6 h
    # and the deal from before the window, 168 h) → median (12 + 24) / 2 = 18 h.
    assert sdr.summary.lead_time_hours == pytest.approx(18.0)
    # A deal is not in a lane: win rate, sales cycle, open deals and the funnel are the same.
    for name in ("won", "lost", "win_rate", "sales_cycle_days", "open_deals"):
        assert getattr(sdr.summary, name) == getattr(whole.summary, name), name
    assert sdr.stages == whole.stages
    assert (sdr.cohort_deals, sdr.cohort_won) == (whole.cohort_deals, whole.cohort_won)


# --- sample sizes -------------------------------------------------------------------------


def test_every_figure_carries_its_sample_size_and_a_low_sample_flag(vsm):
    q = vsm.qualify
    for day in range(3, 8):  # five completed visits in the window
        deal(vsm, (q, f"2025-03-{day:02d}T00:00Z", f"2025-03-{day:02d}T06:00Z"))
    deal(vsm, (q, "2025-03-01T00:00Z", "2025-03-03T06:00Z"))  # entered before the window
    won(vsm, (vsm.discovery, "2025-03-03T00:00Z", "2025-03-04T00:00Z"))

    result = compute(vsm)
    figures = result.step(q.pk).figures()

    # Six completed visits → not low; five entering in the window → not low either.
    assert figures["median_hours"] == {"value": pytest.approx(6.0), "n": 6, "low_sample": False}
    assert figures["arrivals"] == {"value": 5, "n": 5, "low_sample": False}
    assert figures["wip_now"] == {"value": 0, "n": 0, "low_sample": True}
    assert figures["avg_wip"]["n"] == 6
    # Every figure in SAMPLES is reported, with the field named there as its n.
    step = result.step(q.pk)
    for name, n_field in type(step).SAMPLES.items():
        assert figures[name]["n"] == getattr(step, n_field)
        assert figures[name]["low_sample"] == (getattr(step, n_field) < 5)
    discovery = result.step(vsm.discovery.pk).figures()
    assert discovery["median_hours"] == {"value": pytest.approx(24.0), "n": 1, "low_sample": True}
    # The win rate's n is its denominator: 1 closed deal → low sample.
    summary = result.summary.figures()
    assert summary["win_rate"] == {"value": 1.0, "n": 1, "low_sample": True}
    assert summary["sales_cycle_days"] == {"value": pytest.approx(1.0), "n": 1, "low_sample": True}
    stages = [s.figures() for s in result.stages]
    assert stages[0]["reached"] == {"value": 5, "n": 5, "low_sample": False}
    assert stages[0]["cumulative_conversion"]["n"] == 5
    waste = result.waste.figures()
    assert waste["waiting_hours"]["n"] == 7  # completed visits, all steps


# --- time zones ---------------------------------------------------------------------------


def test_a_window_given_in_another_time_zone_is_the_same_instants(vsm):
    q = vsm.qualify
    # Berlin is UTC+1 in March before the 30th: the week starts 2025-03-02 23:00 UTC.
    deal(vsm, (q, "2025-03-02T20:00Z", "2025-03-02T22:30Z"))  # 23:30 Berlin, 2 March: out
    deal(vsm, (q, "2025-03-02T20:00Z", "2025-03-02T23:30Z"))  # 00:30 Berlin, 3 March: in
    deal(vsm, (q, "2025-03-09T20:00Z", "2025-03-09T22:59Z"))  # 23:59 Berlin, 9 March: in
    deal(vsm, (q, "2025-03-09T20:00Z", "2025-03-09T23:00Z"))  # 00:00 Berlin, 10 March: out

    start = datetime(2025, 3, 3, tzinfo=BERLIN)
    end = datetime(2025, 3, 10, tzinfo=BERLIN)
    berlin = compute(vsm, start=start, end=end)
    utc = compute(vsm, start=at("2025-03-02T23:00Z"), end=at("2025-03-09T23:00Z"))

    step = berlin.step(q.pk)
    # In: 3.5 h and 2.98 h (2 h 59 min).
    assert step.n_completed == 2
    assert step.mean_hours == pytest.approx((3.5 + 179 / 60) / 2)
    assert berlin.window_start == start
    assert berlin.as_plain() == utc.as_plain()


def test_a_visit_across_the_daylight_saving_change_lasts_its_real_duration(vsm):
    q = vsm.qualify
    # Berlin moves its clocks from 02:00 to 03:00 on 2025-03-30: 01:00 → 04:00 on the wall
    # clock is 00:00 → 02:00 UTC, 2 h.
    deal(
        vsm,
        (q, "2025-03-30T01:00+01:00", "2025-03-30T04:00+02:00", 30),
    )
    start = datetime(2025, 3, 24, tzinfo=BERLIN)  # 23 March 23:00 UTC
    end = datetime(2025, 3, 31, tzinfo=BERLIN)  # 30 March 22:00 UTC: the week has 167 h

    step = compute(vsm, start=start, end=end, now=at("2025-04-02T00:00Z")).step(q.pk)

    assert step.median_hours == pytest.approx(2.0)
    # Wait: 2 h − 0.5 h of work = 1.5 h.
    assert step.wait_hours == pytest.approx(1.5)
    # One visit in 167 h = 167 / 168 weeks → 168 / 167 a week.
    assert step.throughput_per_week == pytest.approx(168 / 167)
    # 2 h of WIP over 167 h.
    assert step.avg_wip == pytest.approx(2 / 167)


def test_a_lane_filter_keeps_the_step_takt_that_the_later_steps_of_the_map_give(vsm):
    q = vsm.qualify
    path = (
        (q, "2025-03-03T09:00Z", "2025-03-03T10:00Z"),
        (vsm.discovery, "2025-03-03T10:00Z", "2025-03-03T11:00Z"),
        (vsm.legal, "2025-03-03T11:00Z", "2025-03-03T12:00Z"),
        (vsm.proposal, "2025-03-03T12:00Z", "2025-03-03T14:00Z"),
    )
    won(vsm, *path)
    lost(vsm, *path)  # lost at Proposal

    sdr = compute(vsm, lane_id=vsm.sdr.pk)

    # Qualify, Discovery and Legal review convert 1, Proposal 1/2 (the last three are in the
    # AE lane, filtered out): required arrivals at Qualify 8 / (1 × 1 × 1 × 1/2) = 16 →
    # 160 h / 16 = 10 h, whichever lane is shown.
    assert sdr.step(q.pk).step_takt_hours == pytest.approx(10.0)
    assert sdr.step(q.pk) == compute(vsm).step(q.pk)


# --- Side by side on PostgreSQL -------------------------------------------------------------


def test_sql_both_runs_the_first_part_on_a_connection_of_its_own_outside_a_transaction(
    transactional_db,
):
    def backend() -> tuple[int, int | None]:
        """This thread, and the PostgreSQL server process serving its connection."""
        pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
        return threading.get_ident(), pid

    first, second = sql.both(backend, backend)
    if connection.vendor == "postgresql":
        assert first[0] != second[0] and first[1] != second[1]
    else:  # SQLite runs them one after the other
        assert first == second
    with transaction.atomic():  # another connection would not see uncommitted rows
        first, second = sql.both(backend, backend)
    assert first == second


def test_the_figures_are_the_same_computed_side_by_side_or_in_turn(vsm, transactional_db):
    q, d, legal = vsm.qualify, vsm.discovery, vsm.legal
    lost(
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-04T09:00Z", 30),
        (d, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),
        (q, "2025-03-05T09:00Z", "2025-03-06T09:00Z"),
    )
    won(
        vsm,
        (q, "2025-02-27T09:00Z", "2025-03-03T10:00Z"),
        (d, "2025-03-03T10:00Z", "2025-03-05T10:00Z", 90),
        (legal, "2025-03-05T10:00Z", "2025-03-08T10:00Z"),
    )
    deal(vsm, (d, "2025-03-06T09:00Z", None))

    assert not connection.in_atomic_block  # so on PostgreSQL the two parts run side by side
    side_by_side = compute(vsm)
    with transaction.atomic():
        in_turn = compute(vsm)

    assert side_by_side == in_turn
    assert side_by_side.summary.won == 1 and side_by_side.waste.transport_handoffs == 3
