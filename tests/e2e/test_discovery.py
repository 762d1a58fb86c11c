"""The Discovery dashboard in Chromium, on the hand-worked log of
``tests/funnel/discovery/hand_log.py`` moved to the last weeks (so the default window holds
it), computed by the real job (eager Celery inside the live server's request). A manager
opens the dashboard, hides the rare moves, switches to the performance view, accepts a
deviation, and sees the map's conformance of the step it skipped to go up; on the map, the
toggle shows the discovered moves with their counts (and back), under the page's CSP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.funnel.discovery.hand_log import hand_log

from .conftest import login, save_screenshot
from .test_csp import WATCH

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: Close-ups of the graph, for people checking the drawing (not kept in the repository).
SHOTS = Path("/tmp/h8")


def _demo_marker(page: Page, slug: str, step_id: int) -> str:
    page.goto(f"/streams/{slug}/")
    marker = page.locator(f'.process-box[data-step-id="{step_id}"] .marker[data-marker$="%"]')
    expect(marker).to_have_count(1)
    return marker.get_attribute("data-marker")


def test_a_manager_discovers_hides_rare_moves_and_accepts_a_deviation(page: Page):
    # The log ends on 1 October 2026: moved so that it ends yesterday.
    shift = timezone.now() - timedelta(days=1) - datetime(2026, 10, 1, tzinfo=UTC)
    ns = hand_log(shift=timedelta(days=shift.days))
    slug, demo = ns.stream.slug, ns.steps["Demo"].pk
    page.add_init_script(WATCH)
    login(page, "manager", PASSWORD)
    page.goto(f"/dashboards/streams/{slug}/funnel/")
    page.locator(".board-tabs").get_by_role("link", name="Discovery").click()
    expect(page.locator("h1")).to_contain_text("Discovery")
    expect(page.locator("svg.dfg")).to_be_visible()
    edges = page.locator("svg.dfg .dfg-edge")
    expect(edges).to_have_count(8)
    expect(page.locator("#dfg-shown")).to_have_text("8 of 8 moves shown")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#chart-graph").screenshot(path=str(SHOTS / "discovery-graph-frequency.png"))
    # The slider hides the moves made once (Proposal → Qualify, Demo → Qualify).
    page.locator("#dfg-min").fill("2")
    expect(page.locator("#dfg-shown")).to_have_text("6 of 8 moves shown")
    expect(page.locator("svg.dfg .dfg-edge.dfg-hidden")).to_have_count(2)
    page.get_by_label("Performance (median time)").check()
    expect(page.locator("svg.dfg .dfg-self text")).to_contain_text(" h / ")
    page.locator("#chart-graph").screenshot(path=str(SHOTS / "discovery-graph-performance.png"))
    for key in ("variants", "rework", "deviations", "trend", "steps", "deals"):
        expect(page.locator(f"#chart-{key} .plot .main-svg").first).to_be_visible()
    save_screenshot(page, "discovery-1440x900")
    before = _demo_marker(page, slug, demo)
    page.goto(f"/dashboards/streams/{slug}/discovery/")
    row = page.locator('tr[data-deviation="skip-{}-{}"]'.format(ns.steps["Lead"].pk, demo))
    with page.expect_navigation():
        row.get_by_role("button", name="Accept").click()
    expect(page.locator(".message-success")).to_contain_text("Accepted")
    expect(row).to_contain_text("accepted")
    after = _demo_marker(page, slug, demo)
    assert int(after.rstrip("%")) > int(before.rstrip("%")), (before, after)
    # On the map (where _demo_marker left us), the discovered moves are drawn hidden.
    layer = page.locator("#map-frame .discovered-overlay")
    toggle = page.get_by_role("button", name="Show the discovered moves")
    expect(layer).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(layer).to_be_visible()
    expect(page.locator("#discovered-toggle")).to_have_attribute("aria-pressed", "true")
    expect(layer.locator(".discovered-edge")).to_have_count(8)
    expect(layer.locator(".discovered-edge text").first).to_have_text(
        layer.locator(".discovered-edge").first.get_attribute("data-count")
    )
    page.locator("#map-frame").screenshot(path=str(SHOTS / "map-discovered-moves.png"))
    page.locator("#discovered-toggle").click()
    expect(layer).to_be_hidden()
    expect(page.locator("#discovered-toggle")).to_have_text("Show the discovered moves")
    assert page.evaluate("window.__csp") == []
