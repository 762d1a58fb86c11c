"""People of a team: invitations by email with Django's set-password token, role changes and
deactivation that never leave a team without a manager, per role; the People pages with
their confirmations and post/redirect/get; the invitation page where the person sets a
password; and each person's time zone."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from streams.models import InactiveMembership, Invitation, Membership, Role, UserProfile
from streams.people.services import (
    member_change_role,
    member_deactivate,
    member_invite,
    member_reactivate,
    profile_set_time_zone,
)

pytestmark = pytest.mark.django_db
BASE = "http://testserver/"
LINK = re.compile(r"http://testserver(/accounts/invitation/[^/\s]+/[^/\s]+/)")


def _membership(ns, user):
    return Membership.objects.get(team=ns.team_a, user=user)


# --- Services -------------------------------------------------------------------------------


def test_inviting_someone_new_creates_a_passwordless_member_and_emails_a_set_password_link(
    team_setup, django_capture_on_commit_callbacks
):
    ns = team_setup
    with django_capture_on_commit_callbacks(execute=True):
        invitation = member_invite(
            team=ns.team_a,
            by=ns.manager_a,
            email="Ana.Ortiz@example.com",
            role=Role.REP,
            name="Ana  Ortiz",
            base_url=BASE,
        )
    user = invitation.user
    assert (user.username, user.email, user.get_full_name()) == (
        "ana.ortiz@example.com",
        "Ana.Ortiz@example.com",
        "Ana Ortiz",
    )
    assert not user.has_usable_password() and user.is_active
    assert _membership(ns, user).role == Role.REP
    assert (invitation.invited_by, invitation.accepted_at) == (ns.manager_a, None)
    [email] = mail.outbox
    assert email.to == ["Ana.Ortiz@example.com"] and "Team A" in email.subject
    assert "as rep" in email.body and "username ana.ortiz@example.com" in email.body
    assert LINK.search(email.body)


def test_no_email_is_sent_when_the_invitation_is_refused(team_setup):
    ns = team_setup
    with pytest.raises(ValidationError) as refused:
        member_invite(
            team=ns.team_a, by=ns.manager_a, email="not-an-email", role="boss", base_url=BASE
        )
    assert set(refused.value.message_dict) == {"email", "role"}  # every error at once
    assert not mail.outbox and not Invitation.objects.exists()


def test_an_existing_member_or_a_deactivated_one_is_not_invited_twice(team_setup):
    ns = team_setup
    ns.rep_a1.email = "rep@example.com"
    ns.rep_a1.save()
    with pytest.raises(ValidationError, match="already a member of Team A"):
        member_invite(
            team=ns.team_a, by=ns.manager_a, email="REP@example.com", role="rep", base_url=BASE
        )
    member_deactivate(membership=_membership(ns, ns.rep_a1), by=ns.manager_a)
    with pytest.raises(ValidationError, match="was deactivated in Team A"):
        member_invite(
            team=ns.team_a, by=ns.manager_a, email="rep@example.com", role="rep", base_url=BASE
        )


def test_someone_with_an_account_is_added_to_the_team_and_told_without_a_link(
    team_setup, django_capture_on_commit_callbacks
):
    ns = team_setup
    ns.rep_b.email = "b@example.com"
    ns.rep_b.save()
    with django_capture_on_commit_callbacks(execute=True):
        member_invite(
            team=ns.team_a, by=ns.manager_a, email="b@example.com", role="leadership", base_url=BASE
        )
    assert _membership(ns, ns.rep_b).role == Role.LEADERSHIP
    assert not LINK.search(mail.outbox[0].body) and "Log in as rep-b" in mail.outbox[0].body


@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_the_teams_managers_manage_its_people(team_setup, who):
    ns = team_setup
    user = getattr(ns, who)
    member = _membership(ns, ns.rep_a2)
    attempts = [
        lambda: member_invite(
            team=ns.team_a, by=user, email="x@example.com", role="rep", base_url=BASE
        ),
        lambda: member_change_role(membership=member, by=user, role=Role.MANAGER),
        lambda: member_deactivate(membership=member, by=user),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert _membership(ns, ns.rep_a2).role == Role.REP and not Invitation.objects.exists()


def test_the_last_manager_is_never_demoted_nor_deactivated_even_by_themselves(team_setup):
    ns = team_setup
    mine = _membership(ns, ns.manager_a)
    with pytest.raises(ValidationError, match="last manager") as refused:
        member_change_role(membership=mine, by=ns.manager_a, role=Role.REP)
    assert "role" in refused.value.message_dict
    with pytest.raises(ValidationError, match="last manager"):
        member_deactivate(membership=mine, by=ns.manager_a)
    assert _membership(ns, ns.manager_a).role == Role.MANAGER
    # With a second manager, the first may step down.
    member_change_role(membership=_membership(ns, ns.rep_a1), by=ns.manager_a, role="manager")
    member_change_role(membership=mine, by=ns.manager_a, role=Role.REP)
    assert _membership(ns, ns.manager_a).role == Role.REP


def test_deactivating_removes_access_keeps_the_role_and_reactivating_restores_it(team_setup):
    ns = team_setup
    inactive = member_deactivate(membership=_membership(ns, ns.rep_a1), by=ns.manager_a)
    ns.rep_a1.refresh_from_db()
    assert not Membership.objects.filter(user=ns.rep_a1).exists()
    assert (inactive.role, inactive.deactivated_by) == (Role.REP, ns.manager_a)
    assert not ns.rep_a1.is_active  # in no team any more: cannot log in
    assert ns.deal_a1.owner == ns.rep_a1  # their deals stay theirs

    membership = member_reactivate(inactive=inactive, by=ns.manager_a)
    ns.rep_a1.refresh_from_db()
    assert membership.role == Role.REP and ns.rep_a1.is_active
    assert not InactiveMembership.objects.exists()


def test_a_member_of_two_teams_deactivated_in_one_still_logs_in(team_setup):
    ns = team_setup
    Membership.objects.create(user=ns.rep_a1, team=ns.team_b, role=Role.REP)
    member_deactivate(membership=_membership(ns, ns.rep_a1), by=ns.manager_a)
    ns.rep_a1.refresh_from_db()
    assert ns.rep_a1.is_active


def test_a_time_zone_is_an_iana_name_and_the_browser_never_overrides_a_chosen_one(team_setup):
    user = team_setup.rep_a1
    with pytest.raises(ValidationError, match="not a time zone name"):
        profile_set_time_zone(user=user, time_zone="Mars/Olympus")
    assert profile_set_time_zone(user=user, time_zone="Europe/Berlin", only_if_unset=True)
    assert not profile_set_time_zone(user=user, time_zone="Asia/Tokyo", only_if_unset=True)
    assert profile_set_time_zone(user=user, time_zone="America/New_York")
    assert UserProfile.objects.get(user=user).time_zone == "America/New_York"


# --- Pages ----------------------------------------------------------------------------------


def test_the_people_page_lists_members_with_role_and_status_for_managers_only(client, team_setup):
    ns = team_setup
    member_invite(
        team=ns.team_a, by=ns.manager_a, email="new@example.com", role="rep", base_url=BASE
    )
    member_deactivate(membership=_membership(ns, ns.rep_a2), by=ns.manager_a)
    client.force_login(ns.manager_a)
    html = client.get("/teams/team-a/people/").content.decode()
    for name in ("manager-a", "rep-a1", "leader-a", "new@example.com", "rep-a2"):
        assert f'data-user="{name}"' in html
    assert "Invited, no password yet" in html and "Deactivated" in html
    assert "Reactivate…" in html and "Send the invitation again" in html
    for who, status in (("rep_a1", 403), ("leader_a", 403), ("manager_b", 404)):
        client.force_login(getattr(ns, who))
        assert client.get("/teams/team-a/people/").status_code == status
        response = client.post("/teams/team-a/people/", {"email": "z@example.com", "role": "rep"})
        assert response.status_code == status
    assert not get_user_model().objects.filter(email="z@example.com").exists()


def test_the_invite_form_redirects_after_success_and_shows_every_error_at_once(
    client, team_setup, django_capture_on_commit_callbacks
):
    ns = team_setup
    client.force_login(ns.manager_a)
    response = client.post("/teams/team-a/people/", {"email": "nope", "role": "chief"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="invite_email_error"' in html and 'id="invite_role_error"' in html
    assert 'href="#invite_email"' in html and 'aria-invalid="true"' in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/teams/team-a/people/", {"email": "ana@example.com", "role": "rep", "name": "Ana"}
        )
    assert response.status_code == 302 and response.url == "/teams/team-a/people/"
    assert len(mail.outbox) == 1
    page = client.get(response.url).content.decode()
    assert "Invitation sent to ana@example.com as rep." in page


def test_changing_a_role_and_refusing_the_last_manager_on_the_page(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    rep = _membership(ns, ns.rep_a1)
    response = client.post(f"/teams/team-a/people/{rep.pk}/role/", {"role": "leadership"})
    assert response.status_code == 302
    assert _membership(ns, ns.rep_a1).role == Role.LEADERSHIP
    mine = _membership(ns, ns.manager_a)
    response = client.post(f"/teams/team-a/people/{mine.pk}/role/", {"role": "rep"})
    assert response.status_code == 400 and "last manager" in response.content.decode()
    assert f'id="member{mine.pk}_role_error"' in response.content.decode()


def test_deactivation_is_confirmed_first_then_done_and_reactivation_too(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    rep = _membership(ns, ns.rep_a1)
    confirm = client.get(f"/teams/team-a/people/{rep.pk}/deactivate/")
    name = ns.rep_a1.get_full_name() or ns.rep_a1.username
    assert f"Deactivate {name}?" in confirm.content.decode()
    assert Membership.objects.filter(pk=rep.pk).exists()  # a GET changes nothing
    response = client.post(f"/teams/team-a/people/{rep.pk}/deactivate/")
    assert response.status_code == 302
    inactive = InactiveMembership.objects.get(user=ns.rep_a1)
    assert (
        f"Reactivate {name}?"
        in client.get(f"/teams/team-a/people/former/{inactive.pk}/reactivate/").content.decode()
    )
    response = client.post(f"/teams/team-a/people/former/{inactive.pk}/reactivate/")
    assert response.status_code == 302 and _membership(ns, ns.rep_a1).role == Role.REP
    mine = _membership(ns, ns.manager_a)
    response = client.post(f"/teams/team-a/people/{mine.pk}/deactivate/")
    assert response.status_code == 400 and "last manager" in response.content.decode()


def test_the_invited_person_sets_a_password_once_through_the_link(
    client, team_setup, django_capture_on_commit_callbacks
):
    ns = team_setup
    with django_capture_on_commit_callbacks(execute=True):
        member_invite(
            team=ns.team_a, by=ns.manager_a, email="ana@example.com", role="rep", base_url=BASE
        )
    path = LINK.search(mail.outbox[0].body).group(1)
    form_page = client.get(path, follow=True)
    assert "Choose a password for the username" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 200 and "This password is too short" in weak.content.decode()
    # The rules speak on the field where the password was chosen, not on its confirmation.
    form = weak.context["form"]
    assert any("too short" in e for e in form.errors["new_password1"])
    assert "new_password2" not in form.errors
    assert "New password: This password is too short" in weak.content.decode()
    differ = client.post(set_url, {"new_password1": "Kaizen-flow-42", "new_password2": "Kaizen"})
    assert list(differ.context["form"].errors) == ["new_password2"]
    done = client.post(
        set_url, {"new_password1": "Kaizen-flow-42", "new_password2": "Kaizen-flow-42"}
    )
    assert done.status_code == 302 and done.url == "/accounts/login/"
    assert Invitation.objects.get().accepted_at is not None
    assert client.login(username="ana@example.com", password="Kaizen-flow-42")
    client.logout()
    again = client.get(path, follow=True).content.decode()
    assert "This link no longer works" in again


def test_the_password_page_reports_the_rules_on_the_new_password_field(client, team_setup):
    user = team_setup.rep_a1
    user.set_password("Old-pass-2026!")
    user.save()
    client.force_login(user)
    response = client.post(
        "/accounts/password/",
        {"old_password": "Old-pass-2026!", "new_password1": "short", "new_password2": "short"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "new_password1" in errors and "new_password2" not in errors


def test_the_account_page_sets_the_time_zone_and_every_page_says_which(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    home = client.get("/").content.decode()
    assert "Times in UTC · change" in home and 'id="tz-propose"' in home
    response = client.post("/accounts/settings/", {"time_zone": "Nowhere/Else"})
    assert response.status_code == 400 and 'id="id_time_zone_error"' in response.content.decode()
    response = client.post("/accounts/settings/", {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302 and response.url == "/accounts/settings/"
    home = client.get("/").content.decode()
    assert "Times in Europe/Berlin · change" in home and 'id="tz-propose"' not in home


def test_the_browser_proposes_a_zone_only_while_none_is_set(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    bad = client.post("/accounts/time-zone/", {"time_zone": "<script>"})
    assert bad.status_code == 400 and "time_zone" in bad.json()
    first = client.post("/accounts/time-zone/", {"time_zone": "Asia/Tokyo"}).json()
    second = client.post("/accounts/time-zone/", {"time_zone": "Europe/Paris"}).json()
    assert first == {"stored": True, "time_zone": "Asia/Tokyo"}
    assert second == {"stored": False, "time_zone": "Asia/Tokyo"}
    assert "Times in Asia/Tokyo" in client.get("/").content.decode()


def test_a_back_dated_move_is_read_in_the_persons_time_zone(client, team_setup):
    """The deal page names the person's zone; a time typed there is that zone's wall clock."""
    from datetime import UTC, datetime

    from funnel.models import Visit

    ns = team_setup
    profile_set_time_zone(user=ns.rep_a1, time_zone="America/New_York")
    client.force_login(ns.rep_a1)
    page = client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    assert 'name="tz" class="tz" value="America/New_York"' in page
    assert 'When it happened <span class="muted">(America/New_York)</span>' in page
    # Without the page's tz field (no JavaScript, an old page), the active zone reads it too.
    for body in (
        {"step": ns.steps_a[1].pk, "at": "2025-01-07T09:30", "tz": "America/New_York"},
        {"step": ns.steps_a[2].pk, "at": "2025-01-07T10:30"},
    ):
        response = client.post(f"/deals/{ns.deal_a1.pk}/move/", body)
        assert response.status_code == 302, response.content.decode()[:2000]
    entered = list(
        Visit.objects.filter(deal=ns.deal_a1, step__in=ns.steps_a[1:])
        .order_by("entered_at")
        .values_list("entered_at", flat=True)
    )
    # 09:30 and 10:30 in New York (UTC−5 in January) are 14:30 and 15:30 UTC.
    assert entered == [
        datetime(2025, 1, 7, 14, 30, tzinfo=UTC),
        datetime(2025, 1, 7, 15, 30, tzinfo=UTC),
    ]


def test_the_login_page_names_each_missing_field(client, db):
    html = client.post("/accounts/login/", {"username": "", "password": ""}).content.decode()
    assert "Username: This field is required." in html
    assert "Password: This field is required." in html


def test_the_browser_proposes_its_zone_with_the_login_itself(client, team_setup):
    user = team_setup.rep_a1
    user.set_password("Kaizen-flow-42")
    user.save()
    page = client.get("/accounts/login/").content.decode()
    assert 'name="time_zone" id="login-time-zone"' in page and "js/timezone.js" in page
    client.post(
        "/accounts/login/",
        {"username": "rep-a1", "password": "Kaizen-flow-42", "time_zone": "Mars/Base"},
    )
    assert not UserProfile.objects.filter(user=user).exclude(time_zone="").exists()
    client.logout()
    client.post(
        "/accounts/login/",
        {"username": "rep-a1", "password": "Kaizen-flow-42", "time_zone": "Europe/Lisbon"},
    )
    home = client.get("/").content.decode()
    assert "Times in Europe/Lisbon · change" in home and 'id="tz-propose"' not in home
    client.logout()
    # A zone once set is never overridden by a browser elsewhere.
    client.post(
        "/accounts/login/",
        {"username": "rep-a1", "password": "Kaizen-flow-42", "time_zone": "Asia/Tokyo"},
    )
    assert UserProfile.objects.get(user=user).time_zone == "Europe/Lisbon"
