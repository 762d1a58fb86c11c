"""A walk-away rule turned into a kaizen plan states its hypothesis and its target: the
fixture's rule (Economic buyer still Unknown: 73 deals, 3 won, 412.5 rep hours, 38,000 USD
won, the others winning 31 %) over a 365-day window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from funnel.qualification.models import LabSnapshot
from tests.factories import DealFactory, VisitFactory
from tests.funnel.qualification.test_lab_pages import client_for, kaizen_link, lab  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def ns(lab):  # noqa: F811 - test_lab_pages' stream A with the hand-written lab stored
    return lab


def _closed_at_step(ns, *, won: int, lost: int) -> None:
    """Closed deals of stream A inside the fixture's window that reached ``ns.step``."""
    created = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
    for i in range(won + lost):
        deal = DealFactory(
            stream=ns.stream_a, created_at=created, **{"won" if i < won else "lost": True}
        )
        VisitFactory(deal=deal, step=ns.step, entered_at=created, exited=True)


def test_the_plan_states_the_hypothesis_and_targets_the_others_win_rate(ns):
    # 200 deals reached the step: the rule's 73 (3 won) and 127 others (39 won): 42 won in
    # all, 21 %. A deal that never reached the step, or closed before the window, is not one.
    _closed_at_step(ns, won=42, lost=158)
    DealFactory(
        stream=ns.stream_a,
        won=True,
        created_at=datetime.fromisoformat("2026-03-02T09:00:00+00:00"),
    )
    early = DealFactory(stream=ns.stream_a, won=True)  # closed in January 2025
    VisitFactory(deal=early, step=ns.step, exited=True)
    initial = client_for(ns.manager_a).get(kaizen_link(ns)).context["form"].initial
    assert initial["prediction"] == (
        f"If we walk away from deals where Economic buyer is still Unknown at {ns.step.name}, "
        "we save about 412 rep hours per year and give up about 38,000 USD of revenue; win "
        "rate of the deals we keep rises from 21 % to 31 %."
    )
    assert (initial["target_value"], initial["direction"]) == (31.0, "increase")
    assert initial["metric"] == "win_rate"


def test_a_shorter_window_is_scaled_to_a_year_and_without_deals_the_start_is_left_out(ns):
    # Half a year (182.5 days): hours and revenue double.
    start = datetime.fromisoformat(ns.result["view"]["end"]) - timedelta(days=182.5)
    view = ns.result["view"] | {"start": start.isoformat()}
    LabSnapshot.objects.filter(pk=ns.snapshot.pk).update(result=ns.result | {"view": view})
    initial = client_for(ns.manager_a).get(kaizen_link(ns)).context["form"].initial
    assert initial["prediction"].endswith(
        "we save about 825 rep hours per year and give up about 76,000 USD of revenue; win "
        "rate of the deals we keep rises to 31 %."
    )


def test_the_saved_plan_keeps_the_hypothesis_target_and_the_measured_baseline(ns):
    from kaizen.models import KaizenCycle

    client = client_for(ns.manager_a)
    form = client.get(kaizen_link(ns)).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    response = client.post("/kaizen/new/", data)
    assert response.status_code == 302, response.context["form"].errors
    cycle = KaizenCycle.objects.get()
    assert cycle.prediction.startswith("If we walk away from deals where Economic buyer")
    assert (cycle.target_value, cycle.direction, cycle.metric) == (0.31, "increase", "win_rate")
