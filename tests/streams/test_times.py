"""Every time of day the product shows is in the viewer's zone and labelled with it: the
``moment`` filter, and the pages that show one (the map's "as of", the People page's
"invited", the map's version conflict)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from streams.models import Invitation, Membership, Role
from streams.people.services import profile_set_time_zone
from streams.templatetags.vsm import moment
from streams.times import when_text
from tests.factories import UserFactory, metrics_snapshot

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
MORNING = datetime(2026, 12, 6, 5, 2, tzinfo=UTC)  # 06:02 in Berlin (CET, winter)


def test_a_moment_is_local_and_labelled_with_its_zone():
    with timezone.override(BERLIN):
        assert moment(MORNING) == (
            '<time datetime="2026-12-06T05:02:00+00:00">2026-12-06 06:02 CET</time>'
        )
        assert when_text(datetime(2026, 7, 1, 5, 2, tzinfo=UTC)) == "2026-07-01 07:02 CEST"
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        assert when_text(MORNING) == "2026-12-06 14:02 JST"
    with timezone.override(UTC):
        assert when_text(MORNING) == "2026-12-06 05:02 UTC"
    assert moment(None) == ""


def test_the_map_summary_says_as_of_when_in_the_viewers_zone(client, team_setup):
    stream, step = team_setup.stream_a, team_setup.steps_a[0]
    metrics_snapshot(
        stream,
        start=MORNING - timedelta(days=90),
        end=MORNING,
        steps={step: {"n_completed": 12, "median_hours": 30, "n_entered": 10}},
        lead_time_hours=30,
        process_time_hours=2,
        activity_ratio=0.07,
        rolled_pct_complete_accurate=80,
    )
    profile_set_time_zone(user=team_setup.leader_a, time_zone="Europe/Berlin")
    client.force_login(team_setup.leader_a)
    html = client.get(f"/streams/{stream.slug}/").content.decode()
    assert 'as of <time datetime="2026-12-06T05:02:00+00:00">2026-12-06 06:02 CET</time>' in html


def test_the_people_page_says_when_someone_was_invited_in_the_managers_zone(client, team_setup):
    ns = team_setup
    dana = UserFactory(username="dana@example.com", email="dana@example.com")
    dana.set_unusable_password()
    dana.save()
    Membership.objects.create(user=dana, team=ns.team_a, role=Role.REP)
    Invitation.objects.create(
        team=ns.team_a, user=dana, role=Role.REP, invited_by=ns.manager_a, sent_at=MORNING
    )
    profile_set_time_zone(user=ns.manager_a, time_zone="Europe/Berlin")
    client.force_login(ns.manager_a)
    html = client.get(f"/teams/{ns.team_a.slug}/people/").content.decode()
    assert "invited <time" in html and "2026-12-06 06:02 CET</time>" in html


def test_a_map_edited_by_someone_else_names_the_time_with_its_zone(team_setup):
    from streams.services import StaleVersionError

    stream = team_setup.stream_a
    type(stream).objects.filter(pk=stream.pk).update(updated_at=MORNING)
    stream.refresh_from_db()
    with timezone.override(BERLIN):
        message = StaleVersionError(stream, 1).messages[0]
    assert "at 2026-12-06 06:02 CET since you opened it" in message
