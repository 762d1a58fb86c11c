"""The dashboards' chart series (funnel.metrics.series) against hand-worked event logs, on the
map and helpers of test_metrics: the week [2025-03-03 00:00, 2025-03-10 00:00) UTC unless a
test says otherwise, now = 2025-03-12 00:00 UTC."""

from __future__ import annotations

import pytest

from funnel.metrics import series as series_module
from funnel.metrics.engine import compute_metrics
from funnel.metrics.query import MetricsQuery
from funnel.metrics.series import ChartSeries, compute_series
from funnel.metrics.snapshots import dashboard_read, metrics_recompute_stream, metrics_refresh_open
from funnel.metrics.stats import xmr
from funnel.models import MetricsSnapshot
from tests.factories import PullHandoffFactory
from tests.funnel.test_metrics import NOW, W_END, W_START, at, deal, lost, vsm, won

__all__ = ["vsm"]  # the fixture, used by name

pytestmark = pytest.mark.django_db


def charts(vsm, *, start=W_START, end=W_END, now=NOW) -> ChartSeries:
    query = MetricsQuery(stream_id=vsm.stream.pk, start=start, end=end)
    return compute_series(query, now=now, result=compute_metrics(query, now=now))


def test_xmr_limits_are_the_mean_plus_and_minus_2_66_mean_moving_ranges():
    # [5, 7, 6, 9]: mean 6.75; moving ranges 2, 1, 3 → mean 2; 6.75 ± 5.32.
    limits = xmr([5, 7, 6, 9])
    assert limits.mean == pytest.approx(6.75)
    assert limits.mean_moving_range == pytest.approx(2.0)
    assert limits.upper == pytest.approx(12.07)
    assert limits.lower == pytest.approx(1.43)
    assert xmr([4]).upper is None  # one value has no moving range


def test_the_cumulative_flow_counts_first_arrivals_per_step_by_day(vsm):
    q, d = vsm.qualify, vsm.discovery
    deal(  # Qualify Mar 3, Discovery Mar 4, back to Qualify Mar 5 (rework: not a new arrival)
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-04T09:00Z"),
        (d, "2025-03-04T09:00Z", "2025-03-05T09:00Z"),
        (q, "2025-03-05T09:00Z", None),
    )
    won(
        vsm,
        (q, "2025-03-05T10:00Z", "2025-03-06T10:00Z"),
        (d, "2025-03-06T10:00Z", "2025-03-08T10:00Z"),
    )
    deal(vsm, (q, "2025-02-20T09:00Z", None))  # arrived before the window

    flow = charts(vsm).cumulative_flow

    assert flow.days == [f"2025-03-{day:02d}" for day in range(3, 10)]
    #              Mar 3  4  5  6  7  8  9
    assert flow.reached[str(q.pk)] == [1, 1, 2, 2, 2, 2, 2]
    assert flow.reached[str(d.pk)] == [0, 1, 1, 2, 2, 2, 2]
    assert flow.reached[str(vsm.legal.pk)] == [0] * 7
    assert flow.won == [0, 0, 0, 0, 0, 1, 1]  # won when its last visit ended, Mar 8


def test_cycle_times_are_the_won_deals_of_the_window_with_their_percentiles(vsm):
    q, d = vsm.qualify, vsm.discovery
    won(
        vsm,
        (q, "2025-03-01T00:00Z", "2025-03-02T00:00Z"),
        (d, "2025-03-02T00:00Z", "2025-03-04T00:00Z"),
    )
    won(vsm, (q, "2025-02-25T00:00Z", "2025-03-07T00:00Z"))
    won(vsm, (q, "2025-02-20T00:00Z", "2025-03-02T00:00Z"))  # closed before the window
    lost(vsm, (q, "2025-03-03T00:00Z", "2025-03-05T00:00Z"))  # lost: not a cycle time

    cycle = charts(vsm).cycle_times

    # Mar 1 → Mar 4 = 3 days; Feb 25 → Mar 7 = 10 days. p50 = 6.5; p85 = 3 + 0.85 × 7 = 8.95.
    assert cycle.n == 2
    assert [(p["closed_at"], p["days"]) for p in cycle.points] == [
        ("2025-03-04T00:00:00+00:00", 3.0),
        ("2025-03-07T00:00:00+00:00", 10.0),
    ]
    assert (cycle.p50, cycle.p85, cycle.p95) == pytest.approx((6.5, 8.95, 9.65))


def test_time_in_step_counts_completed_visits_in_doubling_bins(vsm):
    q = vsm.qualify
    for entered, exited in [
        ("2025-03-03T09:00Z", "2025-03-03T09:30Z"),  # 0.5 h → "< 1 h"
        ("2025-03-03T10:00Z", "2025-03-03T11:00Z"),  # 1 h → "1–2 h" (a bin holds its low edge)
        ("2025-03-04T00:00Z", "2025-03-05T01:00Z"),  # 25 h → "1–2 d"
        ("2025-01-01T00:00Z", "2025-03-06T00:00Z"),  # 1,560 h → "≥ 8 wk"
        ("2025-03-06T00:00Z", None),  # open: not completed
    ]:
        deal(vsm, (q, entered, exited))

    counts = charts(vsm).time_in_step.counts[str(q.pk)]

    assert counts == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert len(counts) == len(series_module.TIME_BIN_LABELS)


def test_throughput_counts_whole_weeks_of_won_and_lost_deals_with_xmr_limits(vsm):
    q = vsm.qualify
    for status, exited in [
        ("won", "2025-03-04T12:00Z"),  # week 1
        ("lost", "2025-03-05T12:00Z"),  # week 1
        ("won", "2025-03-11T12:00Z"),  # week 2
        ("won", "2025-03-12T12:00Z"),  # week 2
        ("won", "2025-03-18T12:00Z"),  # Mar 17–19 is a part-week: left out
    ]:
        (won if status == "won" else lost)(vsm, (q, "2025-03-01T00:00Z", exited))

    throughput = charts(vsm, end=at("2025-03-19T00:00Z"), now=at("2025-03-20T00:00Z")).throughput

    assert throughput.weeks == ["2025-03-03", "2025-03-10"]
    assert (throughput.won, throughput.lost) == ([1, 2], [1, 0])
    # mean 1.5, moving range 1 → 1.5 ± 2.66.
    assert (throughput.limits.upper, throughput.limits.lower) == pytest.approx((4.16, -1.16))


def test_with_a_ready_for_sales_hand_off_the_leads_lost_before_it_are_counted_apart(vsm):
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    PullHandoffFactory(step=d)
    won(vsm, (p, "2025-03-03T12:00Z", "2025-03-04T12:00Z"))  # week 1
    lost(vsm, (p, "2025-03-04T12:00Z", "2025-03-05T12:00Z"))  # week 1, past Discovery
    lost(vsm, (q, "2025-03-04T12:00Z", "2025-03-05T13:00Z"))  # week 1, a lead
    lost(vsm, (d, "2025-03-10T12:00Z", "2025-03-11T12:00Z"))  # week 2, lost in the queue
    lost(vsm, (q, "2025-03-10T12:00Z", "2025-03-11T13:00Z"))  # week 2, a lead

    throughput = charts(vsm, end=at("2025-03-19T00:00Z"), now=at("2025-03-20T00:00Z")).throughput

    assert (throughput.won, throughput.lost, throughput.leads_lost) == ([1, 0], [1, 0], [1, 2])


def test_aging_lists_the_open_visits_oldest_first_and_marks_the_stalled(vsm, monkeypatch):
    q, d = vsm.qualify, vsm.discovery
    old = deal(vsm, (q, "2025-03-11T00:00Z", None))  # 24 h at Qualify: over its 8 h → stalled
    deal(vsm, (q, "2025-03-11T20:00Z", None))  # 4 h: not stalled
    fresh = deal(vsm, (q, "2025-03-11T22:00Z", None))  # 2 h: beyond the cap of 2 below
    deal(vsm, (d, "2025-03-11T12:00Z", None), amount="5000")  # 12 h of Discovery's 24 h
    monkeypatch.setattr(series_module, "AGING_PER_STEP", 2)

    aging = charts(vsm).aging

    assert aging.counts == {
        str(q.pk): 3,
        str(d.pk): 1,
        str(vsm.legal.pk): 0,
        str(vsm.proposal.pk): 0,
    }
    assert [(i["step_id"], i["stalled"]) for i in aging.items] == [
        (q.pk, True),
        (d.pk, False),
        (q.pk, False),
    ]
    assert [i["age_hours"] for i in aging.items] == pytest.approx([24.0, 12.0, 4.0])
    assert aging.items[0]["deal_id"] == old.pk and fresh.pk not in {
        i["deal_id"] for i in aging.items
    }
    assert aging.items[1]["amount"] == 5000.0
    # No completed visits → the thresholds are the planned lead times.
    assert aging.thresholds[str(q.pk)] == 8 and aging.thresholds[str(d.pk)] == 24


def test_cohorts_split_the_funnel_by_calendar_month_of_the_first_visit(vsm):
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    won(
        vsm,
        (q, "2025-02-25T00:00Z", "2025-02-26T00:00Z"),
        (d, "2025-02-26T00:00Z", "2025-03-04T00:00Z"),
        (p, "2025-03-04T00:00Z", "2025-03-05T00:00Z"),
    )
    deal(vsm, (q, "2025-02-27T00:00Z", None))
    deal(vsm, (q, "2025-03-04T00:00Z", "2025-03-05T00:00Z"), (d, "2025-03-05T00:00Z", None))
    deal(vsm, (q, "2025-02-10T00:00Z", None))  # before the window: no cohort

    cohorts = charts(vsm, start=at("2025-02-24T00:00Z")).cohorts

    lead, opportunity, closing = (str(s.pk) for s in (vsm.lead, vsm.opportunity, vsm.closing))
    assert [(c.period, c.deals, c.won, c.reached) for c in cohorts] == [
        ("2025-02", 2, 1, {lead: 2, opportunity: 1, closing: 1}),
        ("2025-03", 1, 0, {lead: 1, opportunity: 1}),
    ]


def test_series_are_stored_with_the_figures_read_back_and_their_aging_refreshed(vsm):
    q = vsm.qualify
    deal(vsm, (q, "2025-03-11T00:00Z", None))
    query = MetricsQuery(stream_id=vsm.stream.pk)  # the rolling window, at NOW

    metrics_recompute_stream(stream_id=vsm.stream.pk, now=NOW)
    _, stored = dashboard_read(query, now=NOW)

    assert stored.computed_at == NOW.isoformat()
    assert stored.aging.items[0]["age_hours"] == pytest.approx(24.0)
    later = at("2025-03-12T06:00Z")
    metrics_refresh_open(stream_id=vsm.stream.pk, now=later)
    _, refreshed = dashboard_read(query, now=later)
    assert refreshed.now_at == later.isoformat() and refreshed.computed_at == NOW.isoformat()
    assert refreshed.aging.items[0]["age_hours"] == pytest.approx(30.0)


def test_a_set_asked_for_the_first_time_gets_its_series_computed_once(
    vsm, django_assert_num_queries
):
    deal(vsm, (vsm.qualify, "2025-03-04T00:00Z", None))
    query = MetricsQuery(stream_id=vsm.stream.pk, start=W_START, end=W_END)

    result, first = dashboard_read(query, now=NOW)
    assert first.cumulative_flow.reached[str(vsm.qualify.pk)][-1] == 1
    assert MetricsSnapshot.objects.get(window_key=query.window_key).series == first.as_json()
    # Read again: the snapshot, its steps and stages, the stream's change time; no compute.
    with django_assert_num_queries(4):
        _, again = dashboard_read(query, now=NOW)
    assert again == first and result.summary.won == 0
