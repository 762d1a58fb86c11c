"""People pages: a team's members with their role and status, the invitation form, role
changes, deactivation and reactivation (each confirmed); the account page (time zone); the
browser's time-zone proposal; and the page where an invited person sets their password.

Every form posts to its own URL, which calls one service and redirects (post/redirect/get);
a refused form is shown again with every error next to its field (status 400).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from streams.forms import confirmed_post, form_submit
from streams.hooks import account_panels
from streams.models import InactiveMembership, Invitation, Membership, Team
from streams.people.forms import InvitationPasswordForm, InviteForm, RoleForm, TimeZoneForm
from streams.people.selectors import (
    team_can_manage_people,
    team_people,
    teams_people_visible_to,
    user_time_zone,
)
from streams.people.services import (
    invitation_accept,
    invitation_resend,
    member_change_role,
    member_deactivate,
    member_invite,
    member_reactivate,
    profile_set_time_zone,
)
from streams.selectors import teams_visible_to

#: The session key the time-zone middleware reads (``vsm_project.middleware``).
SESSION_TIME_ZONE = "time_zone"


def remember_time_zone(sender: object, request: HttpRequest | None, user, **kwargs) -> None:
    """At login (``user_logged_in`` receiver): a person without a time zone gets the one
    their browser sent with the login form (``static/js/timezone.js``), and their zone goes
    into the session, so no later page needs a request of its own to propose it."""
    if request is None or not hasattr(request, "session"):
        return
    zone = user_time_zone(user)
    proposed = request.POST.get("time_zone", "") if request.method == "POST" else ""
    if not zone and proposed:
        try:
            profile_set_time_zone(user=user, time_zone=proposed, only_if_unset=True)
        except ValidationError:
            pass  # not a zone name: the pages propose the browser's again
        else:
            zone = user_time_zone(user)
    request.session[SESSION_TIME_ZONE] = zone


def _team(request: HttpRequest, slug: str) -> Team:
    team = get_object_or_404(teams_visible_to(request.user), slug=slug)
    if not team_can_manage_people(user=request.user, team=team):
        raise PermissionDenied("Only the team's managers manage its people.")
    return team


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _people_page(
    request: HttpRequest,
    team: Team,
    *,
    invite_form: InviteForm | None = None,
    role_forms: dict[int, RoleForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    people = team_people(team)
    role_forms = role_forms or {}
    rows = []
    for person in people:
        form = None
        if person.membership is not None:
            form = role_forms.get(person.membership.pk) or RoleForm(
                member_id=person.membership.pk, initial={"role": person.role}
            )
        rows.append({"person": person, "role_form": form})
    return render(
        request,
        "streams/people.html",
        {
            "team": team,
            "rows": rows,
            "invite_form": invite_form or InviteForm(),
            "active_count": sum(1 for p in people if p.status != "deactivated"),
        },
        status=status,
    )


def team_people_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The team's people; posting the invitation form invites someone."""
    team = _team(request, slug)
    if request.method != "POST":
        return _people_page(request, team)
    form = InviteForm(request.POST)
    ok, invitation = form_submit(
        form,
        lambda data: member_invite(team=team, by=request.user, base_url=_base_url(request), **data),
    )
    if ok:
        messages.success(
            request,
            f"Invitation sent to {invitation.user.email} as "
            f"{invitation.get_role_display().lower()}.",
        )
        return redirect("people:team", slug=team.slug)
    return _people_page(request, team, invite_form=form, status=400)


def _membership(team: Team, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "team"), team=team, pk=pk)


@require_POST
def member_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _team(request, slug)
    membership = _membership(team, pk)
    form = RoleForm(request.POST, member_id=membership.pk)
    ok, changed = form_submit(
        form,
        lambda data: member_change_role(membership=membership, by=request.user, role=data["role"]),
    )
    if ok:
        who = changed.user.get_full_name() or changed.user.username
        messages.success(request, f"{who} is now {changed.get_role_display().lower()}.")
        return redirect("people:team", slug=team.slug)
    return _people_page(request, team, role_forms={membership.pk: form}, status=400)


def member_deactivate_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Confirm, then take the member out of the team."""
    team = _team(request, slug)
    membership = _membership(team, pk)
    done, _, error = confirmed_post(
        request, lambda: member_deactivate(membership=membership, by=request.user)
    )
    if done:
        who = membership.user.get_full_name() or membership.user.username
        messages.success(request, f"{who} is deactivated in {team.name}.")
        return redirect("people:team", slug=team.slug)
    return render(
        request,
        "streams/people_confirm.html",
        {"team": team, "user_shown": membership.user, "action": "deactivate", "error": error},
        status=400 if error else 200,
    )


def member_reactivate_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _team(request, slug)
    inactive = get_object_or_404(
        InactiveMembership.objects.select_related("user"), team=team, pk=pk
    )
    done, membership, error = confirmed_post(
        request, lambda: member_reactivate(inactive=inactive, by=request.user)
    )
    if done:
        who = membership.user.get_full_name() or membership.user.username
        messages.success(
            request, f"{who} is back in {team.name} as {membership.get_role_display().lower()}."
        )
        return redirect("people:team", slug=team.slug)
    return render(
        request,
        "streams/people_confirm.html",
        {
            "team": team,
            "user_shown": inactive.user,
            "role": inactive.get_role_display(),
            "action": "reactivate",
            "error": error,
        },
        status=400 if error else 200,
    )


@require_POST
def invitation_resend_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _team(request, slug)
    invitation = get_object_or_404(Invitation.objects.select_related("user"), team=team, pk=pk)
    try:
        invitation_resend(invitation=invitation, by=request.user, base_url=_base_url(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Invitation sent again to {invitation.user.email}.")
    return redirect("people:team", slug=team.slug)


# --- The account: time zone -------------------------------------------------------------------


def account_settings(request: HttpRequest) -> HttpResponse:
    """The person's own settings: the time zone every time is shown in."""
    current = user_time_zone(request.user)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": current or "UTC"})
    if request.method == "POST":
        ok, _ = form_submit(
            form, lambda data: profile_set_time_zone(user=request.user, time_zone=data["time_zone"])
        )
        if ok:
            request.session[SESSION_TIME_ZONE] = form.cleaned_data["time_zone"]
            messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
            return redirect("people:account")
    return render(
        request,
        "streams/account.html",
        {"form": form, "current": current, "panels": account_panels(request.user)},
        status=400 if form.is_bound else 200,
    )


@require_POST
def time_zone_propose(request: HttpRequest) -> JsonResponse:
    """The browser's time zone, posted once by ``static/js/timezone.js`` while the person has
    none; never overrides a zone they chose."""
    try:
        stored = profile_set_time_zone(
            user=request.user, time_zone=request.POST.get("time_zone", ""), only_if_unset=True
        )
    except ValidationError as exc:
        return JsonResponse({"time_zone": exc.messages}, status=400)
    zone = user_time_zone(request.user)
    if request.session.get(SESSION_TIME_ZONE) != zone:
        request.session[SESSION_TIME_ZONE] = zone
    return JsonResponse({"stored": stored, "time_zone": zone})


# --- The invitation: set a password -------------------------------------------------------------


class InvitationAcceptView(PasswordResetConfirmView):
    """Django's set-password-from-a-token page, for an invitation: the person chooses a
    password, the invitation is accepted, and they log in."""

    template_name = "registration/invitation_accept.html"
    form_class = InvitationPasswordForm
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        invitation_accept(user=form.user)
        messages.success(
            self.request, f"Password set. Log in with the username {form.user.username}."
        )
        return response


def people_home(request: HttpRequest) -> HttpResponse:
    """``/teams/``: straight to the People page of the one team one manages, else a list."""
    teams = list(teams_people_visible_to(request.user).distinct())
    if len(teams) == 1:
        return redirect("people:team", slug=teams[0].slug)
    if not teams:
        raise PermissionDenied("Only managers manage the people of a team.")
    return render(request, "streams/people_teams.html", {"teams": teams})
