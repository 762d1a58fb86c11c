"""An empty update is a write like any other: ``PATCH {}`` on every endpoint that takes a
PATCH answers 403 to a member whose role may not change the object (404 to another team's
user), never a 200 that reads as "allowed"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from kaizen.models import Phase
from kaizen.services import cycle_plan
from streams.models import FunnelStage
from tests.kaizen.conftest import NOW, cycle_at

pytestmark = pytest.mark.django_db

ROLES = ("manager_a", "rep_a1", "rep_a2", "leader_a", "manager_b")


def patch_empty(ns: SimpleNamespace, role: str, path: str) -> int:
    client = APIClient()
    client.force_authenticate(user=getattr(ns, role))
    return client.patch(path, {}, format="json").status_code


def answers(ns: SimpleNamespace, path: str) -> dict[str, int]:
    return {role: patch_empty(ns, role, path) for role in ROLES}


def test_an_empty_update_of_a_kaizen_plan_is_refused_to_whoever_may_not_change_it(team_setup):
    ns = team_setup
    planned = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[0])
    assert answers(ns, f"/api/kaizen-cycles/{planned.pk}/") == {
        "manager_a": 200,
        "rep_a1": 403,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }
    proposed = cycle_plan(
        user=ns.rep_a1,
        stream=ns.stream_a,
        step=ns.steps_a[0],
        title="Faster demos",
        metric="time_in_step",
        planned_on=NOW.date(),
        window_days=28,
        now=NOW,
    )
    # The rep who proposed a plan may change it; another rep may not.
    assert answers(ns, f"/api/kaizen-cycles/{proposed.pk}/") == {
        "manager_a": 200,
        "rep_a1": 200,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }


def test_an_empty_update_of_a_cycle_past_plan_is_for_managers_only(team_setup):
    ns = team_setup
    doing = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[0])
    assert answers(ns, f"/api/kaizen-cycles/{doing.pk}/") == {
        "manager_a": 200,
        "rep_a1": 403,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }


def test_an_empty_update_of_a_deal_is_for_its_owner_and_the_managers(team_setup):
    ns = team_setup
    # A rep sees only their own deals: another rep's is not found.
    assert answers(ns, f"/api/deals/{ns.deal_a1.pk}/") == {
        "manager_a": 200,
        "rep_a1": 200,
        "rep_a2": 404,
        "leader_a": 403,
        "manager_b": 404,
    }


@pytest.mark.parametrize("kind", ["streams", "lanes", "steps", "stages"])
def test_an_empty_update_of_the_map_is_refused_to_all_but_its_editors(team_setup, kind):
    ns = team_setup
    stage = FunnelStage.objects.create(stream=ns.stream_a, name="Lead", position=1)
    obj = {
        "streams": ns.stream_a,
        "lanes": ns.steps_a[0].lane,
        "steps": ns.steps_a[0],
        "stages": stage,
    }[kind]
    got = answers(ns, f"/api/{kind}/{obj.pk}/")
    # A manager's empty edit lacks the map's version (400 naming it); nobody else gets that far.
    assert got == {
        "manager_a": 400,
        "rep_a1": 403,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }


def test_an_empty_role_change_is_refused_to_all_but_the_teams_managers(team_setup):
    ns = team_setup
    membership = ns.rep_a1.memberships.get(team=ns.team_a)
    # A manager's empty change names the missing role (400); nobody else gets that far.
    assert answers(ns, f"/api/members/{membership.pk}/") == {
        "manager_a": 400,
        "rep_a1": 403,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }


@pytest.mark.parametrize(
    "move", ["start-do", "start-check", "start-act", "adopt", "adapt", "abandon"]
)
def test_a_phase_move_with_an_empty_body_is_refused_to_all_but_managers(team_setup, move):
    """The body is read after the role: leadership and reps hear 403, not a 400 about it."""
    ns = team_setup
    planned = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[0])
    got = {}
    for role in ROLES:
        client = APIClient()
        client.force_authenticate(user=getattr(ns, role))
        got[role] = client.post(f"/api/kaizen-cycles/{planned.pk}/{move}/", {}, "json").status_code
    # A manager gets as far as the body or the phase (400); nobody else does.
    assert got == {
        "manager_a": 400,
        "rep_a1": 403,
        "rep_a2": 403,
        "leader_a": 403,
        "manager_b": 404,
    }
