"""The Check over the event log (metrics.md §6): which visits and deals fall in the baseline
window ``[change − L, change)`` and the after window ``[change, change + L)``, the verdict,
and the weekly run chart with its XmR limits.

Change on 2025-03-03 (a Monday), L = 28 days: baseline [2025-02-03, 2025-03-03), after
[2025-03-03, 2025-03-31). Times are literal; "now" is given, never the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from funnel.eventlog.paths import deal_paths_refresh
from funnel.models import Deal, DealStatus, Visit
from kaizen.checks import check_compute, check_windows
from kaizen.models import Direction, Metric, Verdict
from tests.factories import DealFactory, PullHandoffFactory, TeamFactory, make_stream

pytestmark = pytest.mark.django_db

CHANGE = date(2025, 3, 3)
CHANGE_AT = datetime(2025, 3, 3, tzinfo=UTC)
LATER = datetime(2025, 6, 1, tzinfo=UTC)  # "now": both windows are complete


@pytest.fixture
def stream():
    return make_stream(TeamFactory(), n_steps=3)


@pytest.fixture
def steps(stream):
    return list(stream.steps.order_by("position"))


def add_path(stream, visits, *, status=DealStatus.OPEN, closed_at=None):
    """A deal with ``visits`` = [(step, entered, exited)], path facts refreshed."""
    created = visits[0][1] if visits else closed_at - timedelta(days=1)
    deal = DealFactory(
        stream=stream,
        created_at=created,
        status=status,
        closed_at=closed_at,
        lost_reason="No budget" if status == DealStatus.LOST else "",
    )
    Visit.objects.bulk_create(
        Visit(deal=deal, step=step, entered_at=entered, exited_at=exited)
        for step, entered, exited in visits
    )
    deal_paths_refresh([deal.pk])
    return deal


def completed_visits(stream, step, *, exits, hours):
    """One deal per visit at ``step``, leaving at each of ``exits`` after ``hours``."""
    for exited, h in zip(exits, hours, strict=True):
        add_path(stream, [(step, exited - timedelta(hours=h), exited)])


def spread(start: datetime, n: int, days: int = 28) -> list[datetime]:
    """``n`` times spread evenly over ``days`` days from ``start`` (12:00 each)."""
    return [start + timedelta(days=days * k / n, hours=12) for k in range(n)]


def check(stream, step, metric=Metric.TIME_IN_STEP, direction=Direction.DECREASE, **kwargs):
    return check_compute(
        metric=metric,
        stream_id=stream.pk,
        step_id=step.pk if step else None,
        change_date=kwargs.pop("change_date", CHANGE),
        window_days=kwargs.pop("window_days", 28),
        direction=direction,
        now=kwargs.pop("now", LATER),
    )


def test_the_windows_are_l_days_either_side_of_the_change_or_up_to_now():
    assert check_windows(change_date=CHANGE, window_days=28, now=LATER) == (
        datetime(2025, 2, 3, tzinfo=UTC),
        CHANGE_AT,
        datetime(2025, 3, 31, tzinfo=UTC),
    )
    ten_days_in = CHANGE_AT + timedelta(days=10, hours=5)
    assert check_windows(change_date=CHANGE, window_days=28, now=ten_days_in)[2] == ten_days_in
    # Before the change there is no after window yet.
    early = CHANGE_AT - timedelta(days=1)
    assert check_windows(change_date=CHANGE, window_days=28, now=early)[2] == CHANGE_AT


def test_time_in_step_halving_after_the_change_is_an_improvement(stream, steps):
    step = steps[1]
    before_hours = [10 + k for k in range(20)]  # 10 … 29 h, median 19.5 h
    after_hours = [h / 2 for h in before_hours]  # 5 … 14.5 h, median 9.75 h
    completed_visits(
        stream, step, exits=spread(CHANGE_AT - timedelta(days=28), 20), hours=before_hours
    )
    completed_visits(stream, step, exits=spread(CHANGE_AT, 20), hours=after_hours)
    # Not counted: another step's visits, visits leaving before the baseline or after the
    # after window, and visits still open.
    completed_visits(stream, steps[0], exits=spread(CHANGE_AT, 5), hours=[100] * 5)
    completed_visits(stream, step, exits=[CHANGE_AT - timedelta(days=29)], hours=[500])
    completed_visits(stream, step, exits=[CHANGE_AT + timedelta(days=28)], hours=[500])
    add_path(stream, [(step, CHANGE_AT, None)])

    result = check(stream, step)
    c = result.comparison

    assert (c.n_before, c.n_after) == (20, 20)
    assert (c.value_before, c.value_after) == (19.5, 9.75)
    assert c.effect == pytest.approx(-0.5)  # the median halved: −50 %
    assert c.p_value < 0.001
    assert c.verdict == Verdict.IMPROVED


def test_time_in_step_without_a_change_is_inconclusive(stream, steps):
    step = steps[1]
    hours = [10 + k for k in range(20)]
    completed_visits(stream, step, exits=spread(CHANGE_AT - timedelta(days=28), 20), hours=hours)
    completed_visits(stream, step, exits=spread(CHANGE_AT, 20), hours=hours[::-1])

    c = check(stream, step).comparison

    assert (c.value_before, c.value_after) == (19.5, 19.5)
    assert c.effect == 0
    assert c.p_value == pytest.approx(1.0)
    assert c.verdict == Verdict.INCONCLUSIVE


def test_a_check_soon_after_the_change_says_how_many_more_visits_it_needs(stream, steps):
    step = steps[1]
    completed_visits(
        stream, step, exits=spread(CHANGE_AT - timedelta(days=28), 14), hours=[20] * 14
    )
    completed_visits(stream, step, exits=spread(CHANGE_AT, 6, days=6), hours=[8] * 6)

    result = check(stream, step, now=CHANGE_AT + timedelta(days=7))
    c = result.comparison

    assert result.after_end == CHANGE_AT + timedelta(days=7)
    assert (c.n_before, c.n_after) == (14, 6)
    assert c.verdict == Verdict.INSUFFICIENT_DATA
    assert (c.needed_before, c.needed_after) == (0, 4)
    assert c.p_value is None
    assert c.effect == pytest.approx(-0.6)  # 20 h → 8 h, shown but not judged


def test_pct_complete_accurate_counts_entering_visits_that_are_not_reentries(stream, steps):
    first, second = steps[0], steps[1]
    # Before: 6 deals visit step 2, are sent back from step 3 and enter step 2 again at the
    # spread times e (02-03 12:00, 02-08 08:00 … 02-27 16:00). Their first visits entered at
    # e − 3 d: the earliest (01-31) is outside the window, so 5 first visits + 6 re-entries
    # enter in the window: 11, of which 5 are not re-entries.
    for k, entered in enumerate(spread(CHANGE_AT - timedelta(days=28), 6)):
        add_path(
            stream,
            [
                (second, entered - timedelta(days=3), entered - timedelta(days=2)),
                (steps[2], entered - timedelta(days=2), entered),
                (second, entered, entered + timedelta(hours=k + 1)),
            ],
        )
    # After: 11 deals enter step 2 once, and one deal enters it, is sent back and enters it
    # again: 13 entering, 12 not re-entries.
    for entered in spread(CHANGE_AT, 11):
        add_path(stream, [(first, entered - timedelta(days=1), entered), (second, entered, None)])
    add_path(
        stream,
        [
            (second, CHANGE_AT + timedelta(days=1), CHANGE_AT + timedelta(days=2)),
            (steps[2], CHANGE_AT + timedelta(days=2), CHANGE_AT + timedelta(days=3)),
            (second, CHANGE_AT + timedelta(days=3), None),
        ],
    )

    c = check(stream, second, Metric.PCT_COMPLETE_ACCURATE, Direction.INCREASE).comparison

    assert (c.n_before, c.n_after) == (11, 13)
    assert c.value_before == pytest.approx(5 / 11)
    assert c.value_after == pytest.approx(12 / 13)
    assert c.effect == pytest.approx(12 / 13 - 5 / 11)


def test_conversion_counts_completed_visits_whose_deal_was_not_lost_there(stream, steps):
    step = steps[1]
    # Before: 10 completed visits at step 2, 6 of them the end of a lost deal → 40 %.
    for k, exited in enumerate(spread(CHANGE_AT - timedelta(days=28), 10)):
        lost = k < 6
        add_path(
            stream,
            [(step, exited - timedelta(days=1), exited)]
            + ([] if lost else [(steps[2], exited, None)]),
            status=DealStatus.LOST if lost else DealStatus.OPEN,
            closed_at=exited if lost else None,
        )
    # After: 10 completed, none lost there (one deal lost later, at step 3) → 100 %.
    for k, exited in enumerate(spread(CHANGE_AT, 10)):
        later = exited + timedelta(days=1)
        add_path(
            stream,
            [
                (step, exited - timedelta(days=1), exited),
                (steps[2], exited, later if k == 0 else None),
            ],
            status=DealStatus.LOST if k == 0 else DealStatus.OPEN,
            closed_at=later if k == 0 else None,
        )

    c = check(stream, step, Metric.CONVERSION, Direction.INCREASE).comparison

    assert (c.n_before, c.n_after) == (10, 10)
    assert (c.value_before, c.value_after) == (0.4, 1.0)
    # Fisher, 4 of 10 against 10 of 10: P(X = k) ∝ C(14, k)·C(6, 10 − k), k = 4…10 →
    # 1001, 12012, 45045, 68640, 45045, 12012, 1001 (sum 184,756); the observed table
    # (k = 10) and the opposite extreme (k = 4) are the least likely: p = 2002 / 184,756.
    assert c.p_value == pytest.approx(2002 / 184_756, rel=1e-9)
    assert c.verdict == Verdict.IMPROVED


def test_sales_cycle_and_win_rate_count_the_deals_closed_in_each_window(stream, steps):
    step = steps[0]
    # Won before: 10 deals, 30 days from first entry to win; after: 10 deals, 15 days.
    for closed in spread(CHANGE_AT - timedelta(days=28), 10):
        add_path(
            stream,
            [(step, closed - timedelta(days=30), closed)],
            status=DealStatus.WON,
            closed_at=closed,
        )
    for closed in spread(CHANGE_AT, 10):
        add_path(
            stream,
            [(step, closed - timedelta(days=15), closed)],
            status=DealStatus.WON,
            closed_at=closed,
        )
    # Lost: 10 before, 2 after.
    for closed in spread(CHANGE_AT - timedelta(days=28), 10):
        add_path(
            stream,
            [(step, closed - timedelta(days=5), closed)],
            status=DealStatus.LOST,
            closed_at=closed,
        )
    for closed in spread(CHANGE_AT, 2):
        add_path(
            stream,
            [(step, closed - timedelta(days=5), closed)],
            status=DealStatus.LOST,
            closed_at=closed,
        )
    # Another stream's wins do not count.
    other = make_stream(stream.team, n_steps=1)
    add_path(
        other,
        [(other.steps.get(), CHANGE_AT, CHANGE_AT + timedelta(days=1))],
        status=DealStatus.WON,
        closed_at=CHANGE_AT + timedelta(days=1),
    )

    cycle = check(stream, None, Metric.SALES_CYCLE).comparison
    assert (cycle.n_before, cycle.n_after) == (10, 10)
    assert (cycle.value_before, cycle.value_after) == (30.0, 15.0)
    assert cycle.effect == pytest.approx(-0.5)
    assert cycle.verdict == Verdict.IMPROVED

    rate = check(stream, None, Metric.WIN_RATE, Direction.INCREASE).comparison
    assert (rate.n_before, rate.n_after) == (20, 12)
    assert rate.value_before == pytest.approx(0.5)
    assert rate.value_after == pytest.approx(10 / 12)
    assert rate.effect == pytest.approx(10 / 12 - 0.5)
    assert Deal.objects.filter(stream=other).count() == 1


def test_with_a_ready_for_sales_hand_off_the_win_rate_counts_the_deals_past_it(stream, steps):
    first, queue, sell = steps  # the hand-off is the second step: the third is selling
    PullHandoffFactory(step=queue)
    before, after = spread(CHANGE_AT - timedelta(days=28), 4), spread(CHANGE_AT, 4)
    day = timedelta(days=1)
    # Before: 1 won; 1 lost past the hand-off; 2 leads lost at the first step or in the queue.
    add_path(stream, [(first, before[0] - day, before[0])], status=DealStatus.WON,
             closed_at=before[0])  # fmt: skip
    add_path(stream, [(first, before[1] - 2 * day, before[1] - day), (sell, before[1] - day,
             before[1])], status=DealStatus.LOST, closed_at=before[1])  # fmt: skip
    add_path(stream, [(first, before[2] - day, before[2])], status=DealStatus.LOST,
             closed_at=before[2])  # fmt: skip
    add_path(stream, [(queue, before[3] - day, before[3])], status=DealStatus.LOST,
             closed_at=before[3])  # fmt: skip
    # After: 2 won, 1 lost past it, 1 lead lost.
    for t in after[:2]:
        add_path(stream, [(sell, t - day, t)], status=DealStatus.WON, closed_at=t)
    add_path(stream, [(sell, after[2] - day, after[2])], status=DealStatus.LOST,
             closed_at=after[2])  # fmt: skip
    add_path(stream, [(first, after[3] - day, after[3])], status=DealStatus.LOST,
             closed_at=after[3])  # fmt: skip

    rate = check(stream, None, Metric.WIN_RATE, Direction.INCREASE).comparison

    # Before 1 of 2 deals, after 2 of 3; the three leads lost before the hand-off are out.
    assert (rate.n_before, rate.n_after) == (2, 3)
    assert (rate.value_before, rate.value_after) == (0.5, pytest.approx(2 / 3))


def test_the_run_chart_has_weekly_points_from_the_change_with_baseline_xmr_limits(stream, steps):
    step = steps[1]
    # Baseline weekly medians 10, 12, 10, 12 h (two visits a week, same time in step):
    # mean 11, moving ranges 2, 2, 2 → limits 11 ± 2.66 × 2 = 5.68 … 16.32.
    for week, hours in enumerate([10, 12, 10, 12]):
        start = CHANGE_AT - timedelta(days=28 - 7 * week)
        completed_visits(
            stream,
            step,
            exits=[start + timedelta(days=1), start + timedelta(days=3)],
            hours=[hours] * 2,
        )
    # After: 6, 5, (none), 4 h: the last two points are signals below the lower limit.
    for week, hours in [(0, 6), (1, 5), (3, 4)]:
        start = CHANGE_AT + timedelta(days=7 * week)
        completed_visits(stream, step, exits=[start + timedelta(days=2)], hours=[hours])

    chart = check(stream, step).chart

    assert chart.change_at == CHANGE_AT
    assert [w.start for w in chart.weeks] == [
        CHANGE_AT + timedelta(days=7 * k) for k in range(-4, 4)
    ]
    assert [w.value for w in chart.weeks] == [10, 12, 10, 12, 6, 5, None, 4]
    assert [w.n for w in chart.weeks] == [2, 2, 2, 2, 1, 1, 0, 1]
    assert [w.after for w in chart.weeks] == [False] * 4 + [True] * 4
    assert chart.mean == pytest.approx(11)
    assert chart.mean_moving_range == pytest.approx(2)
    assert chart.upper == pytest.approx(16.32)
    assert chart.lower == pytest.approx(5.68)
    assert [w.signal for w in chart.weeks] == [False] * 5 + [True, False, True]
    assert not any(w.partial for w in chart.weeks)


def test_a_partial_week_at_now_is_marked(stream, steps):
    chart = check(stream, steps[1], now=CHANGE_AT + timedelta(days=10)).chart
    assert [(w.after, w.partial) for w in chart.weeks][-2:] == [(True, False), (True, True)]
    assert all(w.value is None for w in chart.weeks)
    assert chart.upper is None  # no baseline points, no limits
