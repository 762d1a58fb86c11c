"""Conformance per step on the map, from the latest default Discovery view."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from funnel.discovery.map_markers import conformance_markers, discovered_edges
from funnel.discovery.models import AcceptedDeviation
from funnel.discovery.snapshots import discovery_view_read
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db


# The default view is the 90 days up to now: now is a week after the hand log's window.
@time_machine.travel("2026-09-28T00:00Z", tick=False)
def test_markers_follow_the_default_view_and_acceptance(client):
    ns = hand_log()
    assert conformance_markers(ns.stream) == {}  # nothing computed: no pill
    discovery_view_read(ns.stream, {"start": "2026-09-07", "end": "2026-09-21"})
    assert conformance_markers(ns.stream) == {}  # only the default view counts
    snapshot, _ = discovery_view_read(ns.stream, {})
    by_step = {r["step"]: r for r in snapshot.result["conformance"]["by_step"]}
    markers = conformance_markers(ns.stream)
    for step_id, [(symbol, tooltip)] in markers.items():
        assert symbol == f"{round(100 * by_step[step_id]['share'])}%"
        assert f"of {by_step[step_id]['arrivals']} arrivals" in tooltip
    demo = ns.steps["Demo"].pk
    before = by_step[demo]["conforming"]
    AcceptedDeviation.objects.create(
        stream=ns.stream,
        kind="skip",
        source=ns.steps["Lead"],
        target=ns.steps["Demo"],
        accepted_at=timezone.now(),
    )
    snapshot, _ = discovery_view_read(ns.stream, {})
    after = {r["step"]: r for r in snapshot.result["conformance"]["by_step"]}[demo]["conforming"]
    assert after > before
    client.force_login(ns.manager)
    html = client.get(reverse("streams:detail", args=[ns.stream.slug])).content.decode()
    assert f'data-marker="{conformance_markers(ns.stream)[demo][0][0]}"' in html


@time_machine.travel("2026-09-28T00:00Z", tick=False)
def test_the_map_page_overlays_the_discovered_moves_once_a_view_exists(client):
    ns = hand_log()
    client.force_login(ns.manager)
    url = reverse("streams:detail", args=[ns.stream.slug])
    assert discovered_edges(ns.stream) is None  # nothing computed: no overlay
    html = client.get(url).content.decode()
    assert "discovered-overlay" not in html and 'id="discovered-toggle"' not in html
    assert 'id="discovery-link"' in html  # the dashboard is one link away
    snapshot, _ = discovery_view_read(ns.stream, {})
    edges = discovered_edges(ns.stream)
    expected = [
        (e["source"], e["target"], e["transitions"]) for e in snapshot.result["graph"]["edges"]
    ]
    assert edges == expected and edges
    html = client.get(url).content.decode()
    # drawn hidden; the toggle is a real button, itself hidden until the script shows it
    assert '<g class="discovered-overlay" display="none"' in html
    assert 'id="discovered-toggle" aria-pressed="false"' in html
    for source, target, count in edges:
        assert f'data-source="{source}" data-target="{target}" data-count="{count}"' in html
    assert html.count('class="discovered-edge"') == len(edges)
    # the downloaded SVG stays the map alone
    svg = client.get(reverse("streams:svg", args=[ns.stream.slug])).content.decode()
    assert "discovered-overlay" not in svg
