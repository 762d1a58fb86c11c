"""Hardening (docs/security.md): login lockout (django-axes), API throttling, the
Content-Security-Policy with nonces, Permissions-Policy and ``Cache-Control: private,
no-store`` on everything that holds a team's data."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from kaizen.models import Phase
from tests.factories import PASSWORD
from tests.kaizen.conftest import cycle_at

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def main_pages(ns: SimpleNamespace) -> list[str]:
    cycle = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[0])
    slug = ns.stream_a.slug
    return [
        "/",
        f"/streams/{slug}/",
        f"/dashboards/streams/{slug}/funnel/",
        f"/dashboards/streams/{slug}/flow/",
        f"/dashboards/teams/{ns.team_a.slug}/",
        f"/kaizen/{cycle.pk}/",
        "/kaizen/",
        "/api/docs/",
    ]


# --- Login lockout --------------------------------------------------------------------------


@pytest.fixture
def lockout(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    yield settings
    call_command("axes_reset", verbosity=0)


def log_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_repeated_failed_logins_lock_the_username_out_with_a_message(lockout, team_setup):
    client = Client()
    name = team_setup.rep_a1.username
    for _ in range(2):
        assert log_in(client, name, "wrong").status_code == 200  # the form, with its error
    # The third failure reaches the limit: the page says so instead of the form.
    response = log_in(client, name, "wrong")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed log-ins" in html and name in html
    assert "ask an administrator to unlock it" in html
    # Locked out, even the right password is refused, and nobody is signed in.
    response = log_in(client, name, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked out.
    assert log_in(Client(), team_setup.rep_a2.username, PASSWORD).status_code == 302
    # An administrator's reset unlocks at once.
    call_command("axes_reset_username", name, verbosity=0)
    assert log_in(client, name, PASSWORD).status_code == 302


def test_a_successful_login_resets_the_count_of_failures(lockout, team_setup):
    client = Client()
    name = team_setup.rep_a1.username
    for _ in range(2):
        log_in(client, name, "wrong")
    assert log_in(client, name, PASSWORD).status_code == 302
    client = Client()
    for _ in range(2):
        assert log_in(client, name, "wrong").status_code == 200
    assert log_in(client, name, PASSWORD).status_code == 302


# --- API throttling -------------------------------------------------------------------------


@pytest.fixture
def low_rates(monkeypatch):
    cache.clear()  # the throttles count in the default cache
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": None})
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": None, "anon": "2/minute"})
    yield
    cache.clear()


def test_the_api_answers_429_with_retry_after_past_the_users_rate(low_rates, team_setup):
    client = APIClient()
    client.force_authenticate(team_setup.rep_a1)
    assert [client.get("/api/teams/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/teams/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "detail" in response.json()
    # The count is per user: another user is served.
    other = APIClient()
    other.force_authenticate(team_setup.rep_a2)
    assert other.get("/api/teams/").status_code == 200


def test_the_schema_documents_the_429_answer(team_setup):
    client = APIClient()
    client.force_authenticate(team_setup.manager_a)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "429" in schema["paths"]["/api/events/bulk/"]["post"]["responses"]
    assert "429" in schema["paths"]["/api/deals/"]["get"]["responses"]


# --- Content-Security-Policy and Permissions-Policy -------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>", re.IGNORECASE)


def test_every_main_page_sends_a_csp_and_gives_each_inline_script_its_nonce(team_setup):
    client = signed_in(team_setup.manager_a)
    for page in main_pages(team_setup):
        response = client.get(page)
        assert response.status_code == 200, page
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, page
        assert "object-src 'none'" in policy
        script_src = re.search(r"script-src ([^;]*)", policy).group(1)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        nonce = re.search(r"'nonce-([^']+)'", script_src)
        for attributes in INLINE_SCRIPT.findall(response.content.decode()):
            if 'type="application/json"' in attributes:
                continue  # data, never run
            assert nonce and f'nonce="{nonce.group(1)}"' in attributes, (page, attributes)


def test_the_job_page_script_runs_under_the_policy(team_setup):
    from streams.models import Job, JobState

    job = Job.objects.create(
        kind="import",
        team=team_setup.team_a,
        created_by=team_setup.manager_a,
        state=JobState.RUNNING,
    )
    response = signed_in(team_setup.manager_a).get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in response.content.decode()
    # A new nonce on every response.
    again = signed_in(team_setup.manager_a).get(f"/jobs/{job.pk}/")
    assert nonce not in again["Content-Security-Policy"]


def test_every_answer_turns_off_unused_browser_features(team_setup):
    for response in [
        Client().get(LOGIN),
        signed_in(team_setup.rep_a1).get("/"),
        APIClient().get("/api/teams/"),
    ]:
        policy = response["Permissions-Policy"]
        assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


# --- Cache-Control ----------------------------------------------------------------------------


def test_pages_the_api_and_exports_of_a_signed_in_user_are_never_stored(team_setup):
    ns = team_setup
    client = signed_in(ns.manager_a)
    slug = ns.stream_a.slug
    for path in [
        "/",
        f"/dashboards/streams/{slug}/funnel/",
        f"/dashboards/streams/{slug}/funnel/funnel.csv",
        f"/deals/export/{slug}.csv",
        "/api/teams/",
        "/api/schema/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-store", path
    # The API says so to a request without a sign-in too (its refusal holds no data, but a
    # shared cache must not keep an API answer either way).
    assert APIClient().get("/api/teams/")["Cache-Control"] == "private, no-store"


def test_the_login_page_and_static_files_keep_their_own_caching(team_setup):
    assert Client().get(LOGIN).get("Cache-Control", "") != "private, no-store"
    response = signed_in(team_setup.rep_a1).get("/static/js/no-such-file.js")
    assert response.get("Cache-Control", "") != "private, no-store"
