"""Calendar pages: a team's calendars (with the lanes' choice of calendar), one calendar with
its coming weeks, the create and edit form, closures added and removed one at a time, and
deletion with a confirmation.

Every member of the team reads them; the team's managers and staff change them (403 for the
others, 404 for another team's). Each form posts to its own URL, which calls one service and
redirects; a refused form is shown again with every error next to its field (status 400).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from streams.calendars.forms import CalendarForm, ClosureForm, LaneCalendarsForm
from streams.calendars.models import Closure, WorkingCalendar
from streams.calendars.selectors import (
    WEEKDAYS,
    calendar_can_edit,
    calendar_lanes,
    clock_for,
    coming_weeks,
    team_lanes,
    working_time_rewrites,
)
from streams.calendars.services import (
    calendar_create,
    calendar_delete,
    calendar_update,
    closure_add,
    closure_remove,
    lane_set_calendar,
)
from streams.forms import confirmed_post, form_submit
from streams.models import Team
from streams.selectors import teams_visible_to

STRIP_WEEKS = 6
EDIT_REFUSED = "Only the team's managers change its working calendars."


def _team(request: HttpRequest, slug: str, *, edit: bool = False) -> tuple[Team, bool]:
    team = get_object_or_404(teams_visible_to(request.user), slug=slug)
    can_edit = calendar_can_edit(user=request.user, team=team)
    if edit and not can_edit:
        raise PermissionDenied(EDIT_REFUSED)
    return team, can_edit


def _calendar(team: Team, pk: int) -> WorkingCalendar:
    return get_object_or_404(WorkingCalendar.objects.filter(team=team), pk=pk)


def _list_page(
    request: HttpRequest, team: Team, can_edit: bool, lanes_form=None, status: int = 200
) -> HttpResponse:
    calendars = list(team.calendars.prefetch_related("spans"))
    lanes = list(team_lanes(team.pk))
    for calendar in calendars:
        calendar.lane_count = calendar_lanes(calendar).count()
    return render(
        request,
        "streams/calendars/list.html",
        {
            "team": team,
            "can_edit": can_edit,
            "calendars": calendars,
            "lanes_form": lanes_form
            or (LaneCalendarsForm(lanes=lanes, calendars=calendars) if calendars else None),
            "weekdays": WEEKDAYS,
            "rewrites": working_time_rewrites(team.pk),
        },
        status=status,
    )


def calendar_list(request: HttpRequest, slug: str) -> HttpResponse:
    team, can_edit = _team(request, slug)
    return _list_page(request, team, can_edit)


@require_POST
def lane_calendars(request: HttpRequest, slug: str) -> HttpResponse:
    """Save every lane's choice of calendar (only the changed ones are written)."""
    team, can_edit = _team(request, slug, edit=True)
    calendars = {str(c.pk): c for c in team.calendars.all()}
    lanes = list(team_lanes(team.pk))
    form = LaneCalendarsForm(request.POST, lanes=lanes, calendars=calendars.values())
    if form.is_valid():
        changed = 0
        for lane in lanes:
            chosen = calendars.get(form.cleaned_data[f"lane_{lane.pk}"] or "")
            if (chosen.pk if chosen else None) != lane.calendar_id:
                lane_set_calendar(lane=lane, by=request.user, calendar=chosen)
                changed += 1
        messages.success(request, f"Calendars of {changed} lane(s) changed.")
        return redirect("calendars:list", slug=team.slug)
    return _list_page(request, team, can_edit, lanes_form=form, status=400)


def calendar_new(request: HttpRequest, slug: str) -> HttpResponse:
    team, _ = _team(request, slug, edit=True)
    initial = {f"hours_{day.lower()}": "09:00–17:30" for day in WEEKDAYS[:5]}
    initial["time_zone"] = timezone.get_current_timezone_name()
    form = CalendarForm(request.POST or None, initial=initial)
    if request.method == "POST":
        ok, calendar = form_submit(
            form,
            lambda data: calendar_create(team=team, by=request.user, spec=form.spec()),
            CalendarForm.apply_errors,
        )
        if ok:
            messages.success(request, f"Calendar “{calendar.name}” created.")
            return redirect("calendars:detail", slug=team.slug, pk=calendar.pk)
    return render(
        request,
        "streams/calendars/form.html",
        {"team": team, "form": form, "calendar": None},
        status=400 if form.is_bound else 200,
    )


def calendar_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One calendar: its coming weeks, closures and lanes; for managers, its edit form."""
    team, can_edit = _team(request, slug)
    calendar = _calendar(team, pk)
    form = None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(EDIT_REFUSED)
        form = CalendarForm(request.POST)
        ok, _ = form_submit(
            form,
            lambda data: calendar_update(
                calendar=calendar,
                by=request.user,
                spec=form.spec(),
                version=data["version"],
                replace_closures=False,
            ),
            CalendarForm.apply_errors,
        )
        if ok:
            messages.success(request, f"Calendar “{form.cleaned_data['name']}” saved.")
            return redirect("calendars:detail", slug=team.slug, pk=calendar.pk)
    return _detail_page(request, team, calendar, can_edit, form=form)


def _detail_page(
    request, team, calendar, can_edit, *, form=None, closure_form=None
) -> HttpResponse:
    if can_edit and form is None:
        form = CalendarForm(initial=CalendarForm.initial_for(calendar))
    today = timezone.now().astimezone(clock_for(calendar).zone).date()
    bound = (form is not None and form.is_bound) or (
        closure_form is not None and closure_form.is_bound
    )
    return render(
        request,
        "streams/calendars/detail.html",
        {
            "team": team,
            "calendar": calendar,
            "can_edit": can_edit,
            "form": form,
            "closure_form": closure_form or ClosureForm(),
            "weeks": coming_weeks(calendar, start=today, weeks=STRIP_WEEKS),
            "today": today,
            "spans_by_day": [
                (day, [s for s in calendar.spans.all() if s.weekday == n])
                for n, day in enumerate(WEEKDAYS)
            ],
            "lanes": calendar_lanes(calendar),
            "rewrites": working_time_rewrites(team.pk),
        },
        status=400 if bound else 200,
    )


@require_POST
def closure_new(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team, can_edit = _team(request, slug, edit=True)
    calendar = _calendar(team, pk)
    form = ClosureForm(request.POST)
    ok, closure = form_submit(
        form, lambda data: closure_add(calendar=calendar, by=request.user, spec=form.spec())
    )
    if ok:
        messages.success(request, f"Closure “{closure.label}” added.")
        return redirect("calendars:detail", slug=team.slug, pk=calendar.pk)
    return _detail_page(request, team, calendar, can_edit, closure_form=form)


@require_POST
def closure_delete(request: HttpRequest, slug: str, pk: int, closure_pk: int) -> HttpResponse:
    team, _ = _team(request, slug, edit=True)
    calendar = _calendar(team, pk)
    closure = get_object_or_404(Closure, calendar=calendar, pk=closure_pk)
    closure_remove(closure=closure, by=request.user)
    messages.success(request, f"Closure “{closure.label}” removed.")
    return redirect("calendars:detail", slug=team.slug, pk=calendar.pk)


def calendar_delete_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team, _ = _team(request, slug, edit=True)
    calendar = _calendar(team, pk)
    done, _, error = confirmed_post(
        request, lambda: calendar_delete(calendar=calendar, by=request.user)
    )
    if done:
        messages.success(request, f"Calendar “{calendar.name}” deleted.")
        return redirect("calendars:list", slug=team.slug)
    return render(
        request,
        "streams/calendars/delete.html",
        {"team": team, "calendar": calendar, "error": error},
        status=400 if error else 200,
    )
