"""Times in Chromium: every time of day a page shows is in the viewer's zone and labelled
with it (the map's "as of", the People page's "invited", the kaizen Check's "as of" and its
comments), and no seeded Check is dated after now."""

from __future__ import annotations

import re
import zoneinfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from funnel.models import MetricsSnapshot
from kaizen.models import CycleCheck, CycleComment
from streams.models import Invitation
from streams.people.services import profile_set_time_zone
from streams.times import when_text
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
LABELLED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T")


def berlin(moment) -> str:
    with timezone.override(BERLIN):
        return when_text(moment)


def test_every_time_a_manager_sees_is_in_their_zone_and_labelled(page, demo):
    from django.contrib.auth import get_user_model

    manager = get_user_model().objects.get(username="manager")
    profile_set_time_zone(user=manager, time_zone="Europe/Berlin")
    login(page, "manager", DEMO_PASSWORD)
    expect(page.locator("#tz-label")).to_have_text("Times in Europe/Berlin · change")

    # The map's summary: "as of" with the zone.
    page.goto(f"/streams/{demo.stream_slug}/")
    snapshot = MetricsSnapshot.objects.get(
        stream__slug=demo.stream_slug, window_key="last-90d", filter_key="", basis="elapsed"
    )
    asof = page.locator("p.asof")
    expect(asof).to_contain_text(f"as of {berlin(snapshot.computed_at)}.")
    save_screenshot(page, "times-map-asof-1440x900")

    # The People page: "invited" with the zone.
    page.goto("/teams/acme-sales/people/")
    page.get_by_label("Email", exact=True).fill("eve@example.com")
    page.get_by_role("button", name="Send the invitation").click()
    sent_at = Invitation.objects.get(user__username="eve@example.com").sent_at
    row = page.locator('li.person[data-user="eve@example.com"]')
    expect(row).to_contain_text(f"invited {berlin(sent_at)}")
    save_screenshot(page, "times-people-invited-1440x900")

    # A kaizen cycle: the Check's "as of" (never after now) and the comments, with the zone.
    check = CycleCheck.objects.select_related("cycle").order_by("-computed_at").first()
    assert check.computed_at <= timezone.now()
    page.goto(f"/kaizen/{check.cycle_id}/")
    expect(page.locator("p.asof")).to_contain_text(f"As of {berlin(check.computed_at)}")
    comment = CycleComment.objects.select_related("cycle").first()
    page.goto(f"/kaizen/{comment.cycle_id}/")
    expect(page.locator("ul.comments li").first).to_contain_text(berlin(comment.created_at))
    for text in page.locator("ul.comments time").all_inner_texts():
        assert LABELLED.fullmatch(text), text
    save_screenshot(page, "times-kaizen-comments-1440x900")
