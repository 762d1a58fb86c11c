"""Server-side permissions of the HTML pages, per role (the API has its own tests)."""

from __future__ import annotations

import pytest

from streams.services import job_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/deals/", "/streams/anything/", "/jobs/1/", "/admin/"])
def test_every_page_but_login_needs_authentication(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/" in response.url


@pytest.mark.parametrize("url", ["/api/docs/", "/api/schema/", "/api/deals/"])
def test_the_api_and_its_docs_need_authentication(client, url):
    assert client.get(url).status_code in (401, 403)


def test_the_login_page_is_public(client):
    assert client.get("/accounts/login/").status_code == 200


def test_a_rep_sees_their_own_deal_but_not_another_reps(client, team_setup):
    client.force_login(team_setup.rep_a1)
    assert client.get(f"/deals/{team_setup.deal_a1.pk}/").status_code == 200
    assert client.get(f"/deals/{team_setup.deal_a2.pk}/").status_code == 404
    listing = client.get("/deals/").content.decode()
    assert team_setup.deal_a1.name in listing and team_setup.deal_a2.name not in listing


@pytest.mark.parametrize("who", ["manager_a", "leader_a"])
def test_managers_and_leadership_see_every_deal_of_their_team(client, team_setup, who):
    client.force_login(getattr(team_setup, who))
    for deal in (team_setup.deal_a1, team_setup.deal_a2):
        assert client.get(f"/deals/{deal.pk}/").status_code == 200


@pytest.mark.parametrize("who", ["manager_a", "rep_a1", "leader_a"])
def test_nobody_sees_another_teams_streams_or_deals(client, team_setup, who):
    client.force_login(getattr(team_setup, who))
    assert client.get(f"/deals/{team_setup.deal_b.pk}/").status_code == 404
    assert client.get(f"/streams/{team_setup.stream_b.slug}/").status_code == 404
    home = client.get("/").content.decode()
    assert "Team B" not in home and "Sales B" not in home
    assert team_setup.deal_b.name not in client.get("/deals/").content.decode()


def test_only_managers_get_the_edit_controls_and_the_editor(client, team_setup):
    slug = team_setup.stream_a.slug
    client.force_login(team_setup.manager_a)
    page = client.get(f"/streams/{slug}/").content.decode()
    assert f'href="/streams/{slug}/edit/"' in page and "Draw the future state" in page
    assert client.get(f"/streams/{slug}/edit/").status_code == 200
    for viewer in (team_setup.rep_a1, team_setup.leader_a):
        client.force_login(viewer)
        page = client.get(f"/streams/{slug}/").content.decode()
        assert "/edit/" not in page and "Draw the future state" not in page
        assert client.get(f"/streams/{slug}/edit/").status_code == 403
        assert client.post(f"/streams/{slug}/future/").status_code == 403


def test_home_lists_each_team_with_the_users_role(client, team_setup):
    client.force_login(team_setup.leader_a)
    home = client.get("/").content.decode()
    assert "Team A" in home and 'data-role="leadership"' in home and "Sales A" in home


def test_leadership_cannot_reach_the_admin(client, team_setup):
    client.force_login(team_setup.leader_a)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_a_job_is_visible_to_its_team_and_creator_only(client, team_setup):
    job = job_create(
        kind="import", params={}, total=10, team=team_setup.team_a, created_by=team_setup.manager_a
    )
    client.force_login(team_setup.rep_a1)
    body = client.get(f"/jobs/{job.pk}/?format=json").json()
    assert body["state"] == "queued" and body["total"] == 10 and body["percent"] == 0
    client.force_login(team_setup.rep_b)
    assert client.get(f"/jobs/{job.pk}/?format=json").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/admin/streams/team/",
        "/admin/streams/membership/",
        "/admin/streams/valuestream/",
        "/admin/streams/processstep/",
        "/admin/streams/job/",
        "/admin/funnel/deal/",
        "/admin/funnel/visit/",
        "/admin/funnel/metricssnapshot/",
        "/admin/kaizen/kaizencycle/",
        "/admin/streams/invitation/",
        "/admin/streams/inactivemembership/",
        "/admin/streams/userprofile/",
    ],
)
def test_the_admin_lists_every_domain_table(admin_client, team_setup, url):
    assert admin_client.get(url).status_code == 200


def test_the_admin_shows_a_metrics_snapshot_read_only(admin_client, team_setup):
    from funnel.metrics.query import MetricsQuery
    from funnel.metrics.snapshots import metrics_read, metrics_stored

    metrics_read(MetricsQuery(stream_id=team_setup.stream_a.pk), now=team_setup.later)
    snapshot = team_setup.stream_a.metrics_snapshots.get()
    response = admin_client.get(f"/admin/funnel/metricssnapshot/{snapshot.pk}/change/")
    assert response.status_code == 200
    assert "last-90d" in response.content.decode()
    assert admin_client.get("/admin/funnel/metricssnapshot/add/").status_code == 403
    assert metrics_stored(MetricsQuery(stream_id=team_setup.stream_a.pk)) is not None


def test_the_admin_shows_a_deal_with_its_visits(admin_client, team_setup):
    response = admin_client.get(f"/admin/funnel/deal/{team_setup.deal_a1.pk}/change/")
    assert response.status_code == 200
    assert team_setup.steps_a[0].name in response.content.decode()


def test_the_admin_shows_a_stream_with_its_lanes_and_steps(admin_client, team_setup):
    response = admin_client.get(f"/admin/streams/valuestream/{team_setup.stream_a.pk}/change/")
    assert response.status_code == 200
    assert "Step 3" in response.content.decode()


def test_a_missing_page_is_a_friendly_404_inside_the_layout(client, team_setup):
    client.force_login(team_setup.rep_a1)
    response = client.get(f"/deals/{team_setup.deal_a2.pk}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "belongs to a team or an owner you cannot see" in body
    assert 'href="/deals/"' in body  # the navigation is there
    assert team_setup.deal_a2.name not in body


def test_amounts_show_thousands_separators(client, team_setup):
    client.force_login(team_setup.manager_a)
    assert "10,000 USD" in client.get(f"/deals/{team_setup.deal_a1.pk}/").content.decode()
