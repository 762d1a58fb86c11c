"""The dashboards' time switch (``time=elapsed|working``; docs/dashboards.md): in the URL, in
the filter bar, defaulting to the stream's ``time_basis``, and named by the charts and tiles.
The figures come from the real engine on the hand-worked log of ``test_metrics_working``."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from funnel.models import MetricsSnapshot
from streams.models import Role
from tests.factories import PASSWORD, MembershipFactory
from tests.funnel.test_metrics import vsm  # noqa: F401 (a fixture)
from tests.funnel.test_metrics_working import NOW, log  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
WINDOW = "period=custom&start=2026-03-23&end=2026-05-11&tz=Europe/Berlin"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def page(ns, board: str, query: str, *, role: str = Role.MANAGER):
    user = MembershipFactory(team=ns.team, role=role).user
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    with time_machine.travel(NOW, tick=False):
        return client.get(f"/dashboards/streams/{ns.stream.slug}/{board}/?{query}")


def selected_time(html: str) -> str:
    select = re.search(r'<select id="f-time".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="(\w+)" selected>', select).group(1)


def test_the_funnel_board_switches_to_working_time_and_keeps_it_in_the_url(log):  # noqa: F811
    elapsed = page(log, "funnel", WINDOW)
    working = page(log, "funnel", WINDOW + "&time=working")
    assert (elapsed.status_code, working.status_code) == (200, 200)
    assert selected_time(elapsed.content.decode()) == "elapsed"
    html = working.content.decode()
    assert selected_time(html) == "working"
    assert 'data-time-basis="working"' in html
    # The sales cycle tile in working days: median 1.5 working hours = 0.18 working days.
    assert "0.2 working days" in html
    assert "3.7 calendar days" in elapsed.content.decode()  # 89 h
    share = re.search(r'data-copy-link="([^"]+)"', html).group(1)
    assert "time=working" in share
    # Both bases were stored by the first view: switching computed nothing more.
    assert set(MetricsSnapshot.objects.values_list("basis", flat=True)) == {"elapsed", "working"}


def test_the_flow_board_names_working_hours_and_keeps_littles_law_elapsed(log):  # noqa: F811
    html = page(log, "flow", WINDOW + "&time=working").content.decode()
    assert "working days at the current step" in html  # the aging chart
    assert "by time spent there (working hours)" in html  # the time-in-step histograms
    assert "Always in elapsed time" in html  # Little's law


def test_the_default_is_the_streams_time_basis(log):  # noqa: F811
    log.stream.time_basis = "working"
    log.stream.save(update_fields=["time_basis"])
    html = page(log, "waste", WINDOW).content.decode()
    assert selected_time(html) == "working"
    assert "working hours (summed over deals)" in html
    assert selected_time(page(log, "waste", WINDOW + "&time=elapsed").content.decode()) == (
        "elapsed"
    )


def test_a_rep_switches_their_own_view(log):  # noqa: F811
    response = page(log, "me", WINDOW + "&time=working", role=Role.REP)
    assert response.status_code == 200
    assert selected_time(response.content.decode()) == "working"


@pytest.mark.parametrize("value", ["business", "hours"])
def test_a_bad_time_is_refused_naming_it(log, value):  # noqa: F811
    response = page(log, "funnel", WINDOW + f"&time={value}")
    assert response.status_code == 400
    assert "<strong>time</strong>: &#x27;" in response.content.decode()


def test_working_time_without_a_calendar_is_refused_naming_time(vsm):  # noqa: F811
    response = page(vsm, "funnel", "time=working")
    assert response.status_code == 400
    html = response.content.decode()
    assert "<strong>time</strong>: The team has no working calendar" in html
    assert selected_time(html) == "elapsed"  # the default view is shown


def test_the_team_board_names_working_days_and_velocity_per_working_day(log):  # noqa: F811
    user = MembershipFactory(team=log.team, role=Role.MANAGER).user
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    with time_machine.travel(NOW, tick=False):
        working = client.get(f"/dashboards/teams/{log.team.slug}/?{WINDOW}&time=working")
        elapsed = client.get(f"/dashboards/teams/{log.team.slug}/?{WINDOW}")
    assert (working.status_code, elapsed.status_code) == (200, 200)
    html = working.content.decode()
    # The streams table's sales cycle (median 1.5 working hours = 0.18 working days).
    assert re.search(r"0\.2 working d</td>", html)
    assert "per working day" in html
    assert "working d</td>" not in elapsed.content.decode()
    assert "per working day" not in elapsed.content.decode()
