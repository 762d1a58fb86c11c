"""What the forecasts read from the event log (funnel/forecasts/model.py), against a
hand-worked log on ``test_metrics``'s map (Qualify → Discovery → Legal review → Proposal).
Window ``[2025-03-03, 2025-03-10)`` UTC (168 h), now 2025-03-12 00:00 UTC.

======  =========  ==========================================  =====  ==================
deal    step       stay                                        hours  then
======  =========  ==========================================  =====  ==================
A won   Qualify    3 Mar 09:00 → 17:00                         8      Discovery
A       Discovery  3 Mar 17:00 → 4 Mar 17:00                   24     won
B lost  Qualify    4 Mar 09:00 → 13:00                         4      lost
C       Qualify    5 Mar 09:00 → 11:00                         2      Discovery
C       Discovery  5 Mar 11:00 → 6 Mar 11:00                   24     back to Qualify
C       Qualify    open since 6 Mar 11:00                      133    (age now)
D       Qualify    open since 11 Mar 00:00 (after the window)  24     (age now)
E       Qualify    1 Mar 00:00 → 10:00 (before the window)     —      not counted
E       Discovery  1 Mar 10:00 → 3 Mar 10:00                   48     Proposal
E       Proposal   open since 3 Mar 10:00                      206    (age now)
======  =========  ==========================================  =====  ==================
"""

from __future__ import annotations

import numpy as np
import pytest

from funnel.forecasts.model import measure
from funnel.forecasts.simulation import simulate_deals
from tests.funnel.test_metrics import NOW, W_END, W_START, deal, lost, vsm, won  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(vsm):  # noqa: F811 (vsm: the fixture)
    q, d, p = vsm.qualify, vsm.discovery, vsm.proposal
    vsm.a = won(
        vsm,
        (q, "2025-03-03T09:00Z", "2025-03-03T17:00Z"),
        (d, "2025-03-03T17:00Z", "2025-03-04T17:00Z"),
        amount="30000",
    )
    vsm.b = lost(vsm, (q, "2025-03-04T09:00Z", "2025-03-04T13:00Z"))
    vsm.c = deal(
        vsm,
        (q, "2025-03-05T09:00Z", "2025-03-05T11:00Z"),
        (d, "2025-03-05T11:00Z", "2025-03-06T11:00Z"),
        (q, "2025-03-06T11:00Z", None),
    )
    vsm.d = deal(vsm, (q, "2025-03-11T00:00Z", None), amount=None)
    vsm.e = deal(
        vsm,
        (q, "2025-03-01T00:00Z", "2025-03-01T10:00Z"),
        (d, "2025-03-01T10:00Z", "2025-03-03T10:00Z"),
        (p, "2025-03-03T10:00Z", None),
    )
    return vsm


def test_it_counts_what_followed_each_visit_completed_in_the_window(log):
    model, _, _ = measure(log.stream, now=NOW, start=W_START, end=W_END)
    # Columns: Qualify, Discovery, Legal review, Proposal, won, lost.
    assert model.counts.tolist() == [
        [0, 2, 0, 0, 0, 1],
        [1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    assert model.basis == "elapsed"
    summary = model.summary()
    assert summary[1]["back"] == pytest.approx(1 / 3) and summary[1]["won"] == pytest.approx(1 / 3)


def test_it_keeps_the_completed_times_per_step_in_hours(log):
    model, _, _ = measure(log.stream, now=NOW, start=W_START, end=W_END)
    # (SQLite's julianday carries the times to a few microseconds.)
    times = [list(t) for t in model.durations]
    assert times[0] == pytest.approx([2.0, 4.0, 8.0], abs=1e-5)
    assert times[1] == pytest.approx([24.0, 24.0, 48.0], abs=1e-5)
    assert times[2:] == [[], []]


def test_it_measures_the_arrivals_and_the_won_amounts(log):
    model, _, _ = measure(log.stream, now=NOW, start=W_START, end=W_END)
    assert model.entries.tolist() == [3, 0, 0, 0]  # A, B and C entered in the window
    assert model.arrivals_per_hour == pytest.approx(3 / 168)
    assert model.won_amounts.tolist() == [30000.0]


def test_the_arrival_rate_counts_only_the_hours_since_the_log_began(log):
    # Window 24 Feb → 10 Mar (336 h), but the log's first visit is E's on 1 Mar 00:00: A, B,
    # C and E arrived in the 216 h since then, so the rate is 4 / 216, not 4 / 336.
    from datetime import UTC, datetime

    model, _, _ = measure(log.stream, now=NOW, start=datetime(2025, 2, 24, tzinfo=UTC), end=W_END)
    assert model.entries.tolist() == [4, 0, 0, 0]
    assert model.arrivals_per_hour == pytest.approx(4 / 216)


def test_it_reads_the_open_deals_with_their_age_at_their_step(log):
    _, open_deals, _ = measure(log.stream, now=NOW, start=W_START, end=W_END)
    assert open_deals.deal_ids.tolist() == [log.c.pk, log.d.pk, log.e.pk]
    assert open_deals.steps.tolist() == [0, 0, 3]
    assert open_deals.ages == pytest.approx([133.0, 24.0, 206.0])
    assert open_deals.has_amount.tolist() == [True, False, True]


def test_the_measured_model_runs(log):
    model, open_deals, axis = measure(log.stream, now=NOW, start=W_START, end=W_END)
    runs = simulate_deals(model, open_deals, runs=2000, seed=1)
    # E sits at Proposal, which has no measured exit: the map says it wins after its planned
    # 72 h; E is 206 h in already, older than that, so the 72 h are stretched by 206 ÷ 72.
    assert runs.win_probability()[2] == 1.0
    assert runs.close_quantiles()[2] == pytest.approx([206.0] * 3, abs=1e-3)
    assert axis.instants(np.array([206.0]))[0] == NOW.replace(day=20, hour=14)
    # C and D, at Qualify, are lost there a third of the time at least.
    assert np.all(runs.win_probability()[:2] < 0.7)
