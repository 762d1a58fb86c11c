"""The rep pages through Django's test client: what each role sees and may do."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from funnel.eventlog.selectors import stall_thresholds
from funnel.models import Deal, DealStatus, Visit
from tests.factories import BASE_TIME, DealFactory, VisitFactory, metrics_snapshot

pytestmark = pytest.mark.django_db

NOW = BASE_TIME + timedelta(days=3)  # the team_setup deals entered step 1 at BASE_TIME


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_stalled_uses_the_planned_lead_time_until_the_step_is_measured(team_setup):
    step = team_setup.steps_a[0]  # planned lead time 8 h
    assert stall_thresholds([step.pk]) == {step.pk: 8}
    start = BASE_TIME - timedelta(days=90)
    metrics_snapshot(
        team_setup.stream_a,
        start=start,
        end=BASE_TIME,
        steps={step: {"n_completed": 20, "p85_hours": 100}},
    )
    assert stall_thresholds([step.pk]) == {step.pk: 100}


def test_my_deals_lists_own_open_deals_with_time_in_step_and_stalled_first(client, team_setup):
    client.force_login(team_setup.rep_a1)
    rows = client.get("/deals/").context["rows"]
    assert [r.deal for r in rows] == [team_setup.deal_a1]
    # 3 days at a step planned to take 8 hours: stalled
    assert rows[0].hours_in_step == 72 and rows[0].stalled
    assert rows[0].step == team_setup.steps_a[0]
    fresh = DealFactory(
        stream=team_setup.stream_a, owner=team_setup.rep_a1, created_at=NOW - timedelta(hours=2)
    )
    VisitFactory(deal=fresh, step=team_setup.steps_a[0], entered_at=NOW - timedelta(hours=2))
    rows = client.get("/deals/").context["rows"]
    assert [(r.deal, r.stalled) for r in rows] == [(team_setup.deal_a1, True), (fresh, False)]


def test_a_rep_sees_my_deals_and_a_manager_the_team(client, team_setup):
    client.force_login(team_setup.rep_a1)
    page = client.get("/deals/").content.decode()
    assert "My deals" in page and team_setup.deal_a1.name in page
    assert team_setup.deal_a2.name not in page
    assert "Stalled" in page and "3 d" in page
    client.force_login(team_setup.manager_a)
    page = client.get("/deals/").content.decode()
    assert "Team deals" in page
    assert team_setup.deal_a1.name in page and team_setup.deal_a2.name in page


def test_the_owner_moves_a_deal_to_the_next_step(client, team_setup):
    client.force_login(team_setup.rep_a1)
    deal, steps = team_setup.deal_a1, team_setup.steps_a
    response = client.post(f"/deals/{deal.pk}/move/", {"step": steps[1].pk})
    assert response.status_code == 302
    assert list(deal.visits.order_by("entered_at").values_list("step", "exited_at")) == [
        (steps[0].pk, NOW),
        (steps[1].pk, None),
    ]


def test_a_move_in_a_time_zone_is_stored_as_the_right_instant(client, team_setup):
    client.force_login(team_setup.rep_a1)
    deal, steps = team_setup.deal_a1, team_setup.steps_a
    # 2025-01-07 10:00 in Berlin (UTC+1 in winter) is 09:00 UTC
    client.post(
        f"/deals/{deal.pk}/move/",
        {"step": steps[1].pk, "at": "2025-01-07T10:00", "tz": "Europe/Berlin"},
    )
    visit = deal.visits.get(step=steps[1])
    assert visit.entered_at == BASE_TIME + timedelta(days=1)


@pytest.mark.parametrize(
    ("url", "data", "field", "words"),
    [
        ("move", {"step": "STEP1", "at": "2025-01-05T08:00"}, "at", "cannot leave before"),
        ("move", {"step": "STEP1", "at": "2030-01-01T08:00"}, "at", "in the future"),
        ("move", {"step": "OTHER"}, "step", "Select a valid choice"),
        ("move", {"step": "STEP0"}, "step", "already at"),
        ("work", {"minutes": "-5"}, "minutes", "at least one minute"),
        ("work", {"minutes": "5000"}, "minutes", "more than a day"),
        ("close", {"outcome": "lost"}, "lost_reason", "Say why"),
        ("close", {"outcome": "won", "at": "2024-12-01T08:00"}, "at", "cannot close before"),
    ],
)
def test_a_refused_action_explains_itself_and_changes_nothing(
    client, team_setup, url, data, field, words
):
    client.force_login(team_setup.rep_a1)
    deal = team_setup.deal_a1
    steps = {
        "STEP0": team_setup.steps_a[0].pk,
        "STEP1": team_setup.steps_a[1].pk,
        "OTHER": team_setup.steps_b[1].pk,
    }
    data = {k: steps.get(v, v) for k, v in data.items()}
    before = list(Visit.objects.values_list("pk", "step", "exited_at", "work_minutes"))
    response = client.post(f"/deals/{deal.pk}/{url}/", data)
    assert response.status_code == 400
    form = response.context[{"move": "move_form", "work": "work_form", "close": "close_form"}[url]]
    assert words in " ".join(form.errors[field]), form.errors
    assert list(Visit.objects.values_list("pk", "step", "exited_at", "work_minutes")) == before
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_actions_on_a_closed_deal_are_refused(client, team_setup):
    client.force_login(team_setup.rep_a1)
    deal = team_setup.deal_a1
    client.post(
        f"/deals/{deal.pk}/close/", {"outcome": "lost", "lost_reason": "Timing", "confirmed": "1"}
    )
    response = client.post(f"/deals/{deal.pk}/move/", {"step": team_setup.steps_a[1].pk})
    assert response.status_code == 400
    assert "a closed deal cannot move" in response.content.decode()
    assert deal.visits.count() == 1


@pytest.mark.parametrize(("who", "status"), [("rep_a2", 404), ("leader_a", 403), ("rep_b", 404)])
def test_only_the_owner_and_managers_act_on_a_deal(client, team_setup, who, status):
    client.force_login(getattr(team_setup, who))
    deal = team_setup.deal_a1
    for url, data in (
        ("move", {"step": team_setup.steps_a[1].pk}),
        ("work", {"minutes": 5}),
        ("close", {"outcome": "won"}),
    ):
        assert client.post(f"/deals/{deal.pk}/{url}/", data).status_code == status
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.visits.count() == 1


def test_leadership_sees_the_deal_without_actions(client, team_setup):
    client.force_login(team_setup.leader_a)
    page = client.get(f"/deals/{team_setup.deal_a1.pk}/").content.decode()
    assert "Quick actions" not in page and "Path" in page


def test_a_rep_creates_a_deal_they_own(client, team_setup):
    client.force_login(team_setup.rep_a1)
    form = client.get("/deals/new/").context["form"]
    assert "owner" not in form.fields
    response = client.post(
        "/deals/new/", {"first_step": team_setup.steps_a[0].pk, "name": "Initech", "amount": "1200"}
    )
    deal = Deal.objects.get(name="Initech")
    assert response.url == f"/deals/{deal.pk}/"
    assert deal.owner == team_setup.rep_a1
    assert deal.visits.get().entered_at == NOW


def test_a_manager_assigns_a_new_deal_to_a_rep(client, team_setup):
    client.force_login(team_setup.manager_a)
    client.post(
        "/deals/new/",
        {"first_step": team_setup.steps_a[0].pk, "name": "Umbrella", "owner": team_setup.rep_a2.pk},
    )
    assert Deal.objects.get(name="Umbrella").owner == team_setup.rep_a2


@pytest.mark.parametrize("data", [{"name": ""}, {"amount": "-3"}, {"first_step": "OTHER"}])
def test_a_bad_new_deal_names_the_field_and_stores_nothing(client, team_setup, data):
    client.force_login(team_setup.rep_a1)
    body = {"first_step": team_setup.steps_a[0].pk, "name": "Soylent"} | data
    if body["first_step"] == "OTHER":
        body["first_step"] = team_setup.steps_b[0].pk
    count = Deal.objects.count()
    response = client.post("/deals/new/", body)
    assert response.status_code == 400  # refused forms answer 400, as everywhere
    assert set(data) & set(response.context["form"].errors)
    assert Deal.objects.count() == count


def test_leadership_cannot_open_the_new_deal_form(client, team_setup):
    client.force_login(team_setup.leader_a)
    assert client.get("/deals/new/").status_code == 403
