"""The future state and empty data in Chromium: the map's button opens the linked future
state instead of copying it again; a second one is asked for on purpose, under its own name,
refused names shown next to the field; a stream whose metrics window has no completed visit
says "no data yet", never a measured 0 h, on the map page and in the drawing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from streams.models import ValueStream
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import metrics_snapshot
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_button_opens_the_future_state_and_a_second_needs_its_own_name(page, demo):
    current = ValueStream.objects.get(slug=demo.stream_slug)
    future = ValueStream.objects.get(slug=demo.future_slug)
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{current.slug}/")
    expect(page.get_by_role("button", name="Draw the future state")).to_have_count(0)
    page.get_by_role("link", name="Open the future state").click()
    expect(page).to_have_url(f"{page.url.split('/streams/')[0]}/streams/{future.slug}/")
    assert ValueStream.objects.filter(drawn_from=current).count() == 1

    # The current and the future state are told apart by name and by state, on every page.
    assert future.name == "New business — future state"
    page.goto(f"/streams/{current.slug}/compare/")
    expect(page.locator("#cur-title")).to_have_text("New business")
    expect(page.locator("#fut-title")).to_have_text("New business — future state")
    expect(page.locator(".badge.state-current")).to_have_text("Current state")
    expect(page.locator(".badge.state-future")).to_have_text("Future state")
    save_screenshot(page, "compare-names-1440x900")

    page.goto(f"/streams/{current.slug}/")
    page.get_by_role("link", name="Draw another future state…").click()
    expect(page.locator("h1")).to_have_text("Draw another future state")
    expect(page.locator("#existing-futures")).to_contain_text(
        "The current state “New business” already has a future state: "
        "“New business — future state” (future state)."
    )
    save_screenshot(page, "future-another-names-1440x900")
    page.get_by_role("button", name="Draw this future state").click()
    expect(page.locator("#id_name_error")).to_contain_text("required")
    page.get_by_label("Name of the new future state").fill(future.name)
    page.get_by_role("button", name="Draw this future state").click()
    expect(page.locator("#id_name_error")).to_contain_text("already has a future state")
    assert ValueStream.objects.filter(drawn_from=current).count() == 1
    page.get_by_label("Name of the new future state").fill("New business: self-serve trials")
    page.get_by_role("button", name="Draw this future state").click()
    second = ValueStream.objects.get(name="New business: self-serve trials")
    expect(page).to_have_url(f"{page.url.split('/streams/')[0]}/streams/{second.slug}/edit/")

    # The button now opens the latest one, still without copying.
    page.goto(f"/streams/{current.slug}/")
    page.get_by_role("link", name="Open the future state").click()
    expect(page.locator("h1")).to_contain_text("New business: self-serve trials")
    assert ValueStream.objects.filter(drawn_from=current).count() == 2


def test_a_stream_without_completed_visits_says_no_data_yet(page, demo):
    from streams.models import Team

    team = Team.objects.get(slug="acme-sales")
    stream = stream_create(
        team=team,
        name="Renewals",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Renewal call", "AE", planned_lead_hours=24)],
    )
    end = timezone.now()
    metrics_snapshot(
        stream,
        start=end - timedelta(days=90),
        end=end,
        steps={stream.steps.get(): {"n_completed": 0, "n_entered": 2, "n_open": 2, "wip_now": 2}},
        lead_time_hours=0.0,
        process_time_hours=0.0,
    )
    login(page, "vp", DEMO_PASSWORD)
    page.goto(f"/streams/{stream.slug}/")
    cards = page.locator(".summary-cards")
    expect(cards.locator(".measured em")).to_have_count(4)
    for text in cards.locator(".measured").all_inner_texts()[:4]:
        assert "no data yet" in text and "0 h" not in text
    expect(page.locator("#no-data-yet")).to_contain_text("No data yet")
    expect(page.locator("#map-frame .not-measured").last).to_contain_text("no data yet")
    save_screenshot(page, "map-no-data-yet-1440x900")
