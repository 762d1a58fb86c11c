"""Discovered against designed (docs/discovery.md) on the hand-worked log of ``hand_log``:
the comparison's figures worked by hand, the page (roles, states, links, no inline style) and
its API (roles, another team, a bad parameter, the schema).

By hand, over the window's deals A, A2, B, C, D, E, F (G started before it):

- moves: Lead→Qualify 4 (A, A2, C, D), Qualify→Demo 6 (A, A2, C, D twice, F), Demo→Proposal
  5 (A, A2, B, D twice), Proposal→Close 4 (A, A2, B, D): 19 along the map; off it
  Lead→Demo 2 (B, E; skips), Qualify→Qualify 2 (C, three visits in a row: one deal),
  Proposal→Qualify 1 (D), Demo→Qualify 1 (E): 6 of 25 (24 %);
- arrivals / as designed: Lead 6/6, Qualify 9/4 (C's two re-entries, D's re-entry, E out of
  order, F skipping Lead), Demo 8/5 (B and E skip, D's re-entry), Proposal 5/4, Close 4/4;
- F enters at Qualify and is won at Demo (its latest visit); the rest of the wins at Close.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from funnel.discovery.design import design_comparison, stages_off_map
from funnel.discovery.log import map_steps
from funnel.discovery.snapshots import compute_discovery
from funnel.models import ImportMapping
from streams.models import ProcessStep
from tests.funnel.discovery.hand_log import hand_log, view

pytestmark = pytest.mark.django_db

QUERY = "start=2026-09-07&end=2026-09-21&as_of=2026-10-01"
PARAMS = {"start": "2026-09-07", "end": "2026-09-21", "as_of": "2026-10-01"}


@pytest.fixture
def ns():
    ns = hand_log()
    ns.id = {name: step.pk for name, step in ns.steps.items()}
    ns.name = {step.pk: name for name, step in ns.steps.items()}
    return ns


def _design(ns, stages=None):
    return design_comparison(compute_discovery(view(ns)), stages)


def test_designed_moves_off_map_moves_and_conformance_by_hand(ns):
    design = _design(ns)
    name = ns.name
    assert [
        (name[m["source"]], name[m["target"]], m["transitions"], m["deals"])
        for m in design["designed_moves"]
    ] == [
        ("Lead", "Qualify", 4, 4),
        ("Qualify", "Demo", 6, 5),
        ("Demo", "Proposal", 5, 4),
        ("Proposal", "Close", 4, 4),
    ]
    off = {(name[m["source"]], name[m["target"]]): m for m in design["off_map_moves"]}
    assert {k: (m["kind"], m["transitions"], m["deals"]) for k, m in off.items()} == {
        ("Lead", "Demo"): ("skip", 2, 2),
        ("Qualify", "Qualify"): ("self", 2, 1),
        ("Proposal", "Qualify"): ("back", 1, 1),
        ("Demo", "Qualify"): ("back", 1, 1),
    }
    # C's three visits to Qualify in a row: two moves of one hour each.
    assert off[("Qualify", "Qualify")]["median_hours"] == pytest.approx(1.0)
    assert design["summary"] == {
        "steps": 5,
        "steps_visited": 5,
        "designed_moves": 4,
        "designed_moves_taken": 4,
        "moves": 25,
        "moves_as_designed": 19,
        "moves_off_map": 6,
        "share_off_map": pytest.approx(6 / 25),
    }
    steps = {name[r["step"]]: r for r in design["steps"]}
    assert {k: (r["arrivals"], r["conforming"]) for k, r in steps.items()} == {
        "Lead": (6, 6),
        "Qualify": (9, 4),
        "Demo": (8, 5),
        "Proposal": (5, 4),
        "Close": (4, 4),
    }
    # Wilson 95 % of 4 of 9, by hand: centre 0.4611, half-width 0.2723.
    qualify = steps["Qualify"]["share"]
    assert qualify["value"] == pytest.approx(4 / 9)
    assert (qualify["low"], qualify["high"]) == (
        pytest.approx(0.1888, abs=5e-4),
        pytest.approx(0.7334, abs=5e-4),
    )
    assert steps["Close"]["low_sample"] and not steps["Lead"]["low_sample"]
    assert [(name[r["step"]], r["deals"]) for r in design["entries_off_map"]] == [("Qualify", 1)]
    assert [(name[r["step"]], r["deals"]) for r in design["wins_off_map"]] == [("Demo", 1)]
    assert design["unvisited"] == [] and design["never_taken"] == []


def test_a_step_nobody_visits_and_a_designed_move_never_taken(ns):
    ProcessStep.objects.create(
        stream=ns.stream, name="Handover", position=99, lane=ns.steps["Close"].lane
    )
    handover = ProcessStep.objects.get(stream=ns.stream, name="Handover").pk
    assert [s.name for s in map_steps(ns.stream.pk)][-1] == "Handover"
    design = _design(ns)
    assert design["unvisited"] == [handover]
    assert design["never_taken"] == [{"source": ns.id["Close"], "target": handover}]
    assert design["summary"]["designed_moves_taken"] == 4
    assert design["summary"]["designed_moves"] == 5
    last = design["steps"][-1]
    assert (last["arrivals"], last["share"], last["low_sample"]) == (0, None, True)
    # Every win is now before the map's last step: A, A2, B, D at Close, F at Demo.
    wins = {ns.name[r["step"]]: r["deals"] for r in design["wins_off_map"]}
    assert wins == {"Close": 4, "Demo": 1}


def test_stages_the_imports_dropped_or_folded(ns):
    ImportMapping.objects.create(
        stream=ns.stream,
        source_key="a" * 64,
        format="transitions",
        filename="crm.csv",
        steps={
            "Discovery call": "ignore",
            "Negotiation": "Proposal",
            "Closed Won": "won",
            " demo ": "Demo",  # its own step, however spelled
            "Lead": "",
            "Old stage": "A step since removed",
        },
    )
    rows = stages_off_map(ns.stream)
    assert [(r["stage"], r["reading"], r["step"], r["source"]) for r in rows] == [
        ("Discovery call", "ignored", None, "crm.csv"),
        ("Negotiation", "folded", "Proposal", "crm.csv"),
    ]
    # The map gains a step of the folded stage's name: no longer something the map lacks.
    ProcessStep.objects.create(
        stream=ns.stream, name="negotiation", position=98, lane=ns.steps["Close"].lane
    )
    assert [r["stage"] for r in stages_off_map(ns.stream)] == ["Discovery call"]
    design = _design(ns, stages_off_map(ns.stream))
    assert design["stages_off_map"][0]["stage"] == "Discovery call"


def _page(client, ns, user, query=QUERY):
    client.force_login(user)
    return client.get(reverse("dashboards:discovery_design", args=[ns.stream.slug]) + "?" + query)


def test_page_sets_the_map_beside_the_deals(client, ns):
    response = _page(client, ns, ns.manager)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<li class="design-pair') == 5
    assert 'data-pct="44%"' in html  # Qualify: 4 of 9
    assert "95 % 19–73%" in html
    assert "→ Qualify: 2" in html and "not on the map: the same step again" in html
    assert "1 deal entered here</strong>, not at Lead" in html
    assert "1 deal won here</strong>, before Close" in html
    assert 'id="design-off-map"' in html and "Lead → Demo" in html
    assert "Every step of the map was visited." in html
    assert "<script>" not in html and 'style="' not in html
    # Linked from the Discovery dashboard (same view) and from the map.
    client.force_login(ns.manager)
    board = client.get(reverse("dashboards:discovery", args=[ns.stream.slug]) + "?" + QUERY)
    design_url = reverse("dashboards:discovery_design", args=[ns.stream.slug])
    assert f'href="{design_url}?{QUERY.replace("&", "&amp;")}"' in board.content.decode()
    the_map = client.get(reverse("streams:detail", args=[ns.stream.slug])).content.decode()
    assert f'href="{design_url}" id="design-link"' in the_map


def test_page_flags_a_step_nobody_visits(client, ns):
    ProcessStep.objects.create(
        stream=ns.stream, name="Handover", position=99, lane=ns.steps["Close"].lane
    )
    html = _page(client, ns, ns.manager).content.decode()
    assert 'data-flag="unvisited"' in html and 'data-flag="never-taken"' in html
    assert '<ul id="design-unvisited"><li>Handover</li></ul>' in html
    assert "<li>Close → Handover</li>" in html


def test_page_roles_states_and_bad_input(client, ns):
    assert _page(client, ns, ns.leader).status_code == 200
    assert _page(client, ns, ns.rep).status_code == 200
    assert _page(client, ns, ns.rep, f"{QUERY}&owner={ns.manager.pk}").status_code == 403
    assert _page(client, ns, ns.outsider).status_code == 404
    bad = _page(client, ns, ns.manager, "start=2026-13-01")
    assert bad.status_code == 400
    empty = _page(client, ns, ns.manager, "start=2020-01-01&end=2020-02-01&as_of=2026-10-01")
    assert empty.status_code == 200 and "No deals in this window" in empty.content.decode()
    client.logout()
    url = reverse("dashboards:discovery_design", args=[ns.stream.slug])
    assert client.get(url).status_code == 302  # to the login page


def _api(ns, user, **params):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    url = reverse("stream-discovery-design", args=[ns.stream.pk])
    return client.get(url, PARAMS | params)


def test_api_by_role_and_across_teams(ns):
    for user in (ns.manager, ns.rep, ns.leader):
        response = _api(ns, user)
        assert response.status_code == 200, response.content
        result = response.json()["result"]
        assert set(result) == {"format", "view", "steps", "design"}
        assert result["design"]["summary"]["moves_off_map"] == 6
        assert len(result["design"]["off_map_moves"]) == 4
    assert _api(ns, ns.outsider).status_code == 404
    assert _api(ns, None).status_code in (401, 403)
    bad = _api(ns, ns.manager, time="sideways")
    assert bad.status_code == 400 and "time" in bad.json()


def test_api_schema_lists_the_design_read(ns):
    client = APIClient()
    client.force_authenticate(ns.manager)
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    operation = schema["paths"]["/api/streams/{id}/discovery/design/"]["get"]
    assert operation["operationId"] == "streams_discovery_design_retrieve"
    fields = schema["components"]["schemas"]["DiscoveryDesign"]["properties"]
    assert {"unvisited", "never_taken", "off_map_moves", "stages_off_map"} <= set(fields)
