"""Who sees the cockpit where: the home page and the team's dashboard page, by role, and the
empty states (docs/cockpit.md "Who sees what")."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def page(user, url: str = "/"):
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_leadership_and_managers_get_the_cockpit_on_the_home_page(hand):
    for user in (hand.leader, hand.manager):
        html = page(user).content.decode()
        assert f'data-cockpit-team="{hand.team.slug}"' in html
        assert f'data-cockpit-stream="{hand.stream.slug}"' in html
        assert 'data-figure-link="win_rate">67%</a>' in html
        # Every figure links to its dashboard.
        for key, url in (
            ("pipeline", f"/deals/?stream={hand.stream.pk}"),
            ("win_rate", reverse("dashboards:board", args=[hand.stream.slug, "funnel"])),
            ("stalled", reverse("dashboards:board", args=[hand.stream.slug, "flow"])),
            ("worst_step", reverse("dashboards:board", args=[hand.stream.slug, "waste"])),
        ):
            assert f'href="{url}" data-figure-link="{key}"' in html


def test_a_rep_gets_no_team_wide_cockpit(hand):
    home = page(hand.rep).content.decode()
    assert "data-cockpit-team" not in home
    team_page = page(hand.rep, reverse("dashboards:team", args=[hand.team.slug]))
    assert team_page.status_code == 200
    assert "data-cockpit-team" not in team_page.content.decode()


def test_the_team_page_carries_the_cockpit_and_other_teams_are_404(hand):
    response = page(hand.leader, reverse("dashboards:team", args=[hand.team.slug]))
    html = response.content.decode()
    assert f'data-cockpit-team="{hand.team.slug}"' in html
    assert 'data-figure-link="stalled">1</a>' in html
    assert (
        page(hand.leader, reverse("dashboards:team", args=[hand.other_team.slug])).status_code
        == 404
    )
    # Another team's manager never sees this team's figures on their home page.
    other = page(hand.other_manager).content.decode()
    assert f'data-cockpit-team="{hand.team.slug}"' not in other
    assert f'data-cockpit-team="{hand.other_team.slug}"' in other


def test_a_stream_without_deals_and_a_team_without_streams_say_so(hand):
    # The other team's stream has no deal at all.
    html = page(hand.other_manager).content.decode()
    assert "No deals in this stream yet" in html
    lonely = TeamFactory(name="No streams")
    leader = UserFactory(username="lonely-leader")
    MembershipFactory(user=leader, team=lonely, role=Role.LEADERSHIP)
    html = page(leader).content.decode()
    assert "This team has no current value stream yet" in html
    assert "A manager of the team maps it." in html


def test_a_change_is_written_in_words_beside_its_arrow(hand):
    html = page(hand.leader).content.decode()
    assert '<span aria-hidden="true">▲</span> up 16.7 pts on the previous 90 days (better)' in html


def test_figures_not_stored_yet_are_computed_in_the_background(hand, settings):
    """A page view reads stored snapshots only; the first one starts the dashboards' job
    (eager here, so the figures are there on the same view)."""
    from funnel.models import MetricsSnapshot
    from streams.models import Job

    assert not MetricsSnapshot.objects.filter(stream=hand.stream).exists()
    html = page(hand.leader).content.decode()
    assert Job.objects.filter(kind="dashboard view").count() == 1
    assert 'data-figure-link="win_rate">67%</a>' in html


def test_a_future_state_stream_is_left_out(hand):
    future = stream_create(
        team=hand.team,
        name="Hand future",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Qualify", "AE", planned_process_hours=1, planned_lead_hours=8)],
        state="future",
    )
    html = page(hand.leader).content.decode()
    assert f'data-cockpit-stream="{future.slug}"' not in html


def test_the_kept_figures_follow_a_new_kaizen_cycle_and_new_events(hand):
    from funnel.models import MetricsState
    from kaizen.services import cycle_plan
    from tests.kaizen.cockpit.conftest import NOW

    assert "No kaizen cycle is improving this step yet" in page(hand.leader).content.decode()
    cycle_plan(
        user=hand.manager,
        stream=hand.stream,
        title="Shorter proposals",
        metric="time_in_step",
        step=hand.propose,
        now=NOW,
    )
    html = page(hand.leader).content.decode()
    assert "Shorter proposals" in html
    later = NOW + timedelta(minutes=2)
    MetricsState.objects.update_or_create(stream=hand.stream, defaults={"changed_at": later})
    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        assert "new events are being counted" in page(hand.leader).content.decode()


def _forecast_tile(html: str) -> str:
    return html.split('data-figure="forecast"', 1)[1].split('<div class="kpi"', 1)[0]


def test_a_missing_forecast_is_asked_for_once_and_shown_once_its_job_ran(hand):
    """No default forecast stored: the leadership's page view queues the Forecast dashboard's
    job (a worker would take it: queueing is held here), a second view joins it, the tile
    says it is being computed; once the job ran the tile shows the chance."""
    from unittest import mock

    from funnel.forecasts.models import ForecastSnapshot
    from funnel.forecasts.snapshots import FORECAST_JOB, FORECAST_TASK
    from funnel.forecasts.view import DEFAULT_KEY
    from streams.models import Job, JobState
    from vsm_project.background import task_named

    # Q2's target: 1 won deal (1 per 91 days); C and G were won in it: 100 % likely.
    hand.stream.target_won_deals_per_period, hand.stream.period_days = 1, 91
    hand.stream.save()
    assert not ForecastSnapshot.objects.filter(stream=hand.stream).exists()
    with mock.patch("funnel.view_jobs.enqueue", return_value=True) as queued:
        first = _forecast_tile(page(hand.leader).content.decode())
        again = _forecast_tile(page(hand.leader).content.decode())
    (job,) = Job.objects.filter(kind=FORECAST_JOB)
    assert queued.call_count == 1 and queued.call_args.args == (FORECAST_TASK, job.pk)
    assert (job.state, job.created_by, job.params["view_key"]) == (
        JobState.QUEUED,
        hand.leader,
        DEFAULT_KEY,
    )
    for tile in (first, again):
        assert 'data-figure-link="forecast">being computed</a>' in tile
        assert "Refresh in a minute; the Forecast dashboard shows its progress." in tile
        assert "not computed yet" not in tile
        assert f'href="{reverse("dashboards:forecast", args=[hand.stream.slug])}"' in tile
    task_named(FORECAST_TASK).apply((job.pk,))  # the worker
    tile = _forecast_tile(page(hand.leader).content.decode())
    assert 'data-figure-link="forecast">100% likely</a>' in tile
    assert "to reach 1 won deals by 30 Jun 2025: 2 won so far" in tile
    assert Job.objects.filter(kind=FORECAST_JOB).count() == 1


def test_without_a_worker_the_first_page_view_shows_the_chance(hand):
    """Eager Celery (no broker): the job runs in the request, as the dashboard's does."""
    from funnel.forecasts.snapshots import FORECAST_JOB
    from streams.models import Job, JobState

    tile = _forecast_tile(page(hand.manager).content.decode())
    assert 'data-figure-link="forecast">no target set</a>' in tile  # computed, no target
    assert Job.objects.get(kind=FORECAST_JOB).state == JobState.DONE
    page(hand.manager)
    assert Job.objects.filter(kind=FORECAST_JOB).count() == 1  # stored: not asked again


def test_a_failed_forecast_job_says_so_and_the_home_page_answers(hand):
    from unittest import mock

    with mock.patch(
        "funnel.forecasts.snapshots.forecast_with_record", side_effect=RuntimeError("boom")
    ):
        response = page(hand.leader)
    assert response.status_code == 200
    tile = _forecast_tile(response.content.decode())
    assert 'data-figure-link="forecast">not computed</a>' in tile
    assert "Computing it failed; the Forecast dashboard says why." in tile
