"""Helpers for the kaizen tests: cycles at a given phase, built through the services."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from funnel.eventlog.paths import deal_paths_refresh
from funnel.models import Visit
from kaizen.models import KaizenCycle, Metric, Phase
from kaizen.selectors import check_needs_override
from kaizen.services import (
    cycle_check,
    cycle_plan,
    cycle_start_act,
    cycle_start_check,
    cycle_start_do,
)
from tests.factories import DealFactory

#: "Now" in the kaizen tests: a Monday noon, long after BASE_TIME (2025-01-06).
NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
TODAY = NOW.date()
CHANGE = date(2025, 3, 3)
CHANGE_AT = datetime(2025, 3, 3, tzinfo=UTC)
#: The override ``cycle_at`` writes when the Check has insufficient data.
OVERRIDE = "No data yet; the team adopts the change on judgement."


def visits_halving(stream, step, *, n: int = 20, change_at: datetime = CHANGE_AT) -> None:
    """``n`` visits of ``step`` completed in each of the 28 days before and after
    ``change_at``: 10 … 10+n−1 h before, half that after (the median halves)."""
    deals, rows = [], []
    for side, factor in ((-1, 1.0), (0, 0.5)):
        for k in range(n):
            exited = change_at + timedelta(days=28 * side + 28 * k / n, hours=12)
            hours = (10 + k) * factor
            deal = DealFactory(stream=stream, created_at=exited - timedelta(hours=hours))
            deals.append(deal.pk)
            rows.append(
                Visit(
                    deal=deal,
                    step=step,
                    entered_at=exited - timedelta(hours=hours),
                    exited_at=exited,
                )
            )
    Visit.objects.bulk_create(rows)
    deal_paths_refresh(deals)


def cycle_at(
    phase: str,
    *,
    stream,
    user,
    step=None,
    metric: str = Metric.TIME_IN_STEP,
    planned_on: date = date(2025, 2, 20),
    change_date: date = CHANGE,
    now: datetime = NOW,
    **plan,
) -> KaizenCycle:
    """A cycle of ``stream`` taken through the services up to ``phase`` (Check computed on
    the way to Act)."""
    cycle = cycle_plan(
        user=user,
        stream=stream,
        step=step,
        title=plan.pop("title", "Shorter waits"),
        metric=metric,
        planned_on=planned_on,
        window_days=plan.pop("window_days", 28),
        now=now,
        **plan,
    )
    if phase == Phase.PLAN:
        return cycle
    cycle = cycle_start_do(cycle=cycle, user=user, change_date=change_date, now=now)
    if phase == Phase.DO:
        return cycle
    cycle = cycle_start_check(cycle=cycle, user=user, now=now)
    check = cycle_check(cycle_id=cycle.pk, now=now)
    if phase == Phase.CHECK:
        return cycle
    # Without data (most tests need none) acting needs the manager's written override.
    reason = OVERRIDE if check_needs_override(check) else ""
    return cycle_start_act(cycle=cycle, user=user, override_reason=reason)


@pytest.fixture
def ns(team_setup):
    """``team_setup`` (tests/conftest.py) with a future state drawn from Sales A."""
    from streams.future_states import stream_draw_future_state

    team_setup.future_a = stream_draw_future_state(stream=team_setup.stream_a)
    return team_setup
