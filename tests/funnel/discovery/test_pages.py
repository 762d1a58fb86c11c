"""The Discovery dashboard's page, CSV and accept form on the hand-worked log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from funnel.discovery.models import AcceptedDeviation
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db

VIEW = "start=2026-09-07&end=2026-09-21&as_of=2026-10-01"


@pytest.fixture
def ns():
    return hand_log()


def _page(client, ns, user, query=VIEW):
    client.force_login(user)
    return client.get(reverse("dashboards:discovery", args=[ns.stream.slug]) + "?" + query)


def test_page_draws_the_graph_tables_and_accept_form(client, ns):
    response = _page(client, ns, ns.manager)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="dfg"' in html
    assert html.count('class="dfg-edge') == 8
    assert 'class="dfg-edge dfg-back"' in html and 'class="dfg-edge dfg-self"' in html
    for key in ("design", "variants", "rework", "deviations", "trend", "steps", "deals"):
        assert f'id="chart-{key}"' in html
    assert "Skipped steps: Lead → Demo" in html
    assert 'action="/dashboards/streams/' in html and "Accept<span" in html
    assert "<script>" not in html and 'style="' not in html


def test_reader_roles(client, ns):
    assert _page(client, ns, ns.leader).status_code == 200
    html = _page(client, ns, ns.rep).content.decode()
    assert "Accept<span" not in html  # a rep reads, never accepts
    assert _page(client, ns, ns.rep, f"{VIEW}&owner={ns.manager.pk}").status_code == 403
    assert _page(client, ns, ns.outsider).status_code == 404
    assert _page(client, ns, ns.manager, "start=2026-13-01").status_code == 400


def test_csv_of_a_table(client, ns):
    client.force_login(ns.manager)
    url = reverse("dashboards:discovery_csv", args=[ns.stream.slug, "variants"])
    response = client.get(f"{url}?{VIEW}")
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("variant,path,deals,share_pct")
    assert lines[1].startswith("#1,Lead → Qualify → Demo → Proposal → Close,2,")
    graph = reverse("dashboards:discovery_csv", args=[ns.stream.slug, "graph"])
    assert client.get(f"{graph}?{VIEW}").status_code == 200
    design = reverse("dashboards:discovery_csv", args=[ns.stream.slug, "design"])
    rows = client.get(f"{design}?{VIEW}").content.decode().splitlines()
    # The four designed moves, then the four the map does not draw.
    assert rows[1:5] == [
        "Lead → Qualify,designed,4,4",
        "Qualify → Demo,designed,6,5",
        "Demo → Proposal,designed,5,4",
        "Proposal → Close,designed,4,4",
    ]
    assert len(rows) == 9 and "Lead → Demo,not on the map (further on),2,2" in rows
    missing = reverse("dashboards:discovery_csv", args=[ns.stream.slug, "nope"])
    assert client.get(f"{missing}?{VIEW}").status_code == 404


def test_accept_and_take_back(client, ns):
    url = reverse("dashboards:discovery_accept", args=[ns.stream.slug])
    pair = {"kind": "skip", "source": ns.steps["Lead"].pk, "target": ns.steps["Demo"].pk}
    client.force_login(ns.rep)
    assert client.post(url, pair).status_code == 403
    client.force_login(ns.manager)
    bad = client.post(url, pair | {"kind": "wrong"})
    assert bad.status_code == 400 and b"kind" in bad.content
    other = client.post(url, pair | {"target": "999999"})
    assert other.status_code == 400 and b"target" in other.content
    assert not AcceptedDeviation.objects.exists()
    response = client.post(url, pair | {"query": VIEW + "&evil=1"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?{VIEW}#deviations")
    html = _page(client, ns, ns.manager).content.decode()
    assert "Take back<span" in html
    assert 'data-tile="conforming"' in html and "3 of 7 deals" in html
    client.post(url, pair | {"accept": "0"})
    assert not AcceptedDeviation.objects.exists()
