"""The people API: members, deactivated members and invitations, per role, in the schema."""

from __future__ import annotations

import pytest
from django.core import mail

from streams.models import InactiveMembership, Invitation, Membership, Role

pytestmark = pytest.mark.django_db


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def test_a_manager_invites_changes_a_role_deactivates_and_reactivates_through_the_api(
    api_client, team_setup, django_capture_on_commit_callbacks
):
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/invitations/",
            {"team": ns.team_a.pk, "email": "ana@example.com", "role": "rep", "name": "Ana"},
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["email"], body["role"], body["status"]) == ("ana@example.com", "rep", "pending")
    assert "/accounts/invitation/" in mail.outbox[0].body

    members = client.get(f"/api/members/?team={ns.team_a.pk}").json()["results"]
    ana = next(m for m in members if m["username"] == "ana@example.com")
    assert (ana["role"], ana["status"]) == ("rep", "invited")
    response = client.patch(f"/api/members/{ana['id']}/", {"role": "leadership"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "leadership"
    response = client.post(f"/api/members/{ana['id']}/deactivate/")
    assert response.status_code == 200
    inactive = response.json()
    assert inactive["role"] == "leadership"
    response = client.post(f"/api/inactive-members/{inactive['id']}/reactivate/")
    assert response.status_code == 201 and response.json()["role"] == "leadership"


def test_the_api_refuses_bad_input_naming_the_field_and_keeps_the_last_manager(
    api_client, team_setup
):
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    response = client.post(
        "/api/invitations/",
        {"team": ns.team_a.pk, "email": "nope", "role": "rep"},
        format="json",
    )
    assert response.status_code == 400 and "email" in response.json()
    mine = Membership.objects.get(user=ns.manager_a)
    response = client.patch(f"/api/members/{mine.pk}/", {"role": "rep"}, format="json")
    assert response.status_code == 400 and "last manager" in response.json()["role"][0]
    response = client.post(f"/api/members/{mine.pk}/deactivate/")
    assert response.status_code == 400 and "member" in response.json()
    assert Membership.objects.get(user=ns.manager_a).role == Role.MANAGER


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_reps_and_leadership_neither_read_nor_write_the_people_as_on_the_page(
    api_client, team_setup, who
):
    # The People page answers them 403; the API must not list the emails the page withholds.
    ns = team_setup
    client = _as(api_client, getattr(ns, who))
    rep = Membership.objects.get(user=ns.rep_a2)
    client.force_login(getattr(ns, who))
    assert client.get(f"/teams/{ns.team_a.slug}/people/").status_code == 403
    for url in (
        "/api/members/",
        f"/api/members/?team={ns.team_a.pk}",
        f"/api/members/{rep.pk}/",
        "/api/inactive-members/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "@" not in response.content.decode(), url
    assert (
        client.patch(f"/api/members/{rep.pk}/", {"role": "manager"}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/members/{rep.pk}/deactivate/").status_code == 403
    response = client.post(
        "/api/invitations/",
        {"team": ns.team_a.pk, "email": "x@example.com", "role": "rep"},
        format="json",
    )
    assert response.status_code == 403
    assert client.get("/api/invitations/").status_code == 403
    assert Membership.objects.get(pk=rep.pk).role == Role.REP
    assert not Invitation.objects.exists()


def test_managers_and_staff_read_their_teams_members_with_emails(api_client, team_setup):
    ns = team_setup
    ns.rep_a2.email = "rep-a2@example.com"
    ns.rep_a2.save()
    manager = _as(api_client, ns.manager_a)
    members = manager.get("/api/members/").json()["results"]
    assert {m["username"] for m in members} >= {"manager-a", "rep-a1", "rep-a2", "leader-a"}
    assert "rep-b" not in {m["username"] for m in members}
    mine = next(m for m in members if m["username"] == "rep-a2")
    assert (mine["email"], mine["role"]) == ("rep-a2@example.com", "rep")
    assert manager.get(f"/api/members/{mine['id']}/").json()["email"] == "rep-a2@example.com"
    # Another team's members stay out of sight: 404, or nothing in a list.
    other = Membership.objects.get(user=ns.rep_b)
    assert manager.get(f"/api/members/{other.pk}/").status_code == 404
    assert manager.get(f"/api/members/?team={ns.team_b.pk}").json()["results"] == []

    from tests.factories import UserFactory

    staff = _as(api_client, UserFactory(username="staffer", is_staff=True))
    names = {m["username"] for m in staff.get("/api/members/").json()["results"]}
    assert {"rep-a2", "rep-b"} <= names


def test_a_manager_of_one_team_and_rep_of_another_reads_only_the_team_they_manage(
    api_client, team_setup
):
    ns = team_setup
    Membership.objects.create(user=ns.manager_a, team=ns.team_b, role=Role.REP)
    client = _as(api_client, ns.manager_a)
    names = {m["username"] for m in client.get("/api/members/").json()["results"]}
    assert "rep-a1" in names and "rep-b" not in names
    assert client.get(f"/api/members/?team={ns.team_b.pk}").status_code == 403
    other = Membership.objects.get(user=ns.rep_b)
    assert client.get(f"/api/members/{other.pk}/").status_code == 403


def test_another_teams_people_are_not_found(api_client, team_setup):
    ns = team_setup
    client = _as(api_client, ns.manager_b)
    rep = Membership.objects.get(user=ns.rep_a1)
    assert client.get(f"/api/members/{rep.pk}/").status_code == 404
    assert (
        client.patch(f"/api/members/{rep.pk}/", {"role": "rep"}, format="json").status_code == 404
    )
    assert client.post(f"/api/members/{rep.pk}/deactivate/").status_code == 404
    response = client.post(
        "/api/invitations/",
        {"team": ns.team_a.pk, "email": "x@example.com", "role": "rep"},
        format="json",
    )
    assert response.status_code == 400 and "team" in response.json()
    assert not InactiveMembership.objects.exists()


def test_the_people_endpoints_are_in_the_schema(api_client, team_setup):
    schema = _as(api_client, team_setup.rep_a1).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/members/",
        "/api/members/{id}/",
        "/api/members/{id}/deactivate/",
        "/api/inactive-members/{id}/reactivate/",
        "/api/invitations/",
        "/api/invitations/{id}/resend/",
    ):
        assert path in paths, path
    assert "patch" in paths["/api/members/{id}/"]


def test_an_email_too_long_for_a_username_or_a_bad_filter_is_a_400(api_client, team_setup):
    client = _as(api_client, team_setup.manager_a)
    long_email = "a" * 140 + "@example.com"  # valid, but 152 characters
    response = client.post(
        "/api/invitations/",
        {"team": team_setup.team_a.pk, "email": long_email, "role": "rep"},
        format="json",
    )
    assert response.status_code == 400 and "at most 150" in response.json()["email"][0]
    assert client.get("/api/members/?team=abc").status_code == 400
    assert client.get("/api/members/?team=999999").json()["results"] == []
