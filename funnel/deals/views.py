"""Rep pages: the deals list, a deal's path with quick actions, creating and editing a deal,
closing it (asked twice), undoing a close and reopening a closed deal.

Every action posts a small form to its own view, which calls one service and redirects
(post/redirect/get); a refused action re-renders the deal page with the reason next to the
field (status 400).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from funnel.assets.selectors import deal_assets
from funnel.dashboards.quality import deal_lab
from funnel.deals.filters import FORECAST_SORTS, DealListFilter
from funnel.deals.forecasts import forecast_cells, forecast_order, list_forecasts
from funnel.deals.forms import (
    LOST_REASONS,
    SOURCES,
    CloseForm,
    DealCreateForm,
    DealEditForm,
    HandoffUndoForm,
    MoveForm,
    ReopenForm,
    WorkForm,
)
from funnel.deals.timeline import with_handoffs
from funnel.discovery.deal_path import deal_path_check
from funnel.eventlog.selectors import (
    age_hours,
    deal_can_edit,
    deal_can_reopen,
    deal_list_rows,
    deal_list_steps,
    deal_open_visit,
    deal_owner_choices,
    deal_sources,
    deal_timeline,
    deals_for_list,
    deals_visible_to,
    stall_thresholds,
    streams_exportable_by,
    streams_for_new_deals,
    streams_importable_by,
    working_now,
)
from funnel.eventlog.services import (
    UNDO_WINDOW,
    deal_close,
    deal_close_check,
    deal_close_undo,
    deal_create,
    deal_log_work,
    deal_move,
    deal_reopen,
    deal_undo_deadline,
    deal_update,
    deal_update_check,
)
from funnel.leads.models import DecisionKind
from funnel.leads.undo import undo_offer
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.forms import ScoreForm, WinCallForm
from funnel.qualification.models import CriterionScore, WinCall
from funnel.qualification.selectors import (
    deal_latest_win_call,
    deal_qualification,
    deal_score_history,
    deals_coverage,
)
from funnel.qualification.services import score_create, win_call_create
from funnel.standards.selectors import deal_checklist
from streams.forms import apply_service_errors, form_submit
from streams.models import Role
from streams.selectors import team_ids_with_role

PAGE_SIZE = 25

T = TypeVar("T")


def _sells(user) -> bool:
    """Reps see their own deals first; managers and leadership the team's."""
    return bool(team_ids_with_role(user, (Role.REP,))) and not user.is_staff


def _list_title(user) -> str:
    """The deal list's title, and so every breadcrumb back to it: a rep's own deals first,
    the team's for managers and leadership."""
    return "My deals" if _sells(user) else "Team deals"


def _owner_choices(user):
    """Whom the list can be narrowed to: managers and reps of the teams whose whole list the
    user sees; none for a rep, who sees only their own deals."""
    users = get_user_model().objects.filter(is_active=True)
    if user.is_staff:
        teams = None
    else:
        teams = team_ids_with_role(user, (Role.MANAGER, Role.LEADERSHIP))
        if not teams:
            return None
    users = users.filter(memberships__role__in=(Role.MANAGER, Role.REP))
    if teams is not None:
        users = users.filter(memberships__team__in=teams)
    return users.distinct().order_by("username")


def deal_list(request: HttpRequest) -> HttpResponse:
    """The deals the user may see: search by name or account; filter by status (open unless
    asked), step, rep, source and stalled; sort (also by the streams' latest forecasts:
    win probability, forecast close date); 25 a page. Filters live in the URL. The page
    costs the same few queries however many deals there are (steps, thresholds and owners
    once, one forecast per stream, then a count and the page's rows with their step and
    stalled flag; a forecast sort reads the ids, then the page's rows)."""
    user, now = request.user, timezone.now()
    steps = deal_list_steps(user)
    # Steps of streams shown in working time count their deals' time there in working hours.
    now_w = working_now(steps, now)
    thresholds = stall_thresholds([step.pk for step in steps], working=now_w)
    deals = deals_for_list(user=user, thresholds=thresholds, now=now, now_w=now_w)
    owners = _owner_choices(user)
    data = request.GET.copy()
    if data.get("scope") == "mine":  # the old "Mine" tab's links
        data["owner"] = str(user.pk)
    filterset = DealListFilter(
        data,
        queryset=deals,
        steps=steps,
        owners=owners if owners is not None else get_user_model().objects.none(),
        sources=deal_sources(deals),
        thresholds=thresholds,
        now=now,
        now_w=now_w,
    )
    if owners is None:
        del filterset.form.fields["owner"]  # a rep sees only their own deals
    forecasts, unforecast = list_forecasts(steps)
    sort = filterset.form.data["sort"]
    if sort in FORECAST_SORTS:  # by the streams' latest forecasts: the ids sorted here
        ids = forecast_order(filterset.qs.values_list("pk", flat=True), forecasts, sort)
        page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
        found = {deal.pk: deal for deal in filterset.qs.filter(pk__in=page.object_list)}
        page_deals = [found[pk] for pk in page.object_list if pk in found]
    else:
        page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
        page_deals = list(page.object_list)
    by_id = {step.pk: step for step in steps}
    # Each open deal's score coverage and overdue criteria, for the page in two queries.
    coverage = deals_coverage(page_deals, positions={s.pk: s.position for s in steps})
    for deal in page_deals:
        deal.coverage = coverage.get(deal.pk)
        deal.forecast = forecast_cells(forecasts.get(deal.pk))
    return render(
        request,
        "funnel/deal_list.html",
        {
            "filter": filterset,
            "form": filterset.form,
            "show_owner": owners is not None,
            "page": page,
            "rows": deal_list_rows(page_deals, steps=by_id, now=now, now_w=now_w),
            "show_coverage": any(c.due for c in coverage.values()),
            "forecast_sorts": FORECAST_SORTS,
            "unforecast": unforecast,
            "status": filterset.form.cleaned_data.get("status") or DealStatus.OPEN,
            "title": _list_title(user),
            "can_create": streams_for_new_deals(user).exists(),
            "can_import": bool(streams_importable_by(user)),
            "exportable": streams_exportable_by(user),
        },
    )


def _deal_for(request: HttpRequest, pk: int, *, edit: bool = False) -> Deal:
    deal = get_object_or_404(deals_visible_to(request.user), pk=pk)
    if edit and not deal_can_edit(user=request.user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers change this deal.")
    return deal


def _deal_page(
    request: HttpRequest, deal: Deal, status: int = 200, failed: str = "", **forms
) -> HttpResponse:
    """The deal page; ``failed`` names the form whose post was refused (its ``form`` field),
    so an error shared by two forms of the page (the time of a move, of a close) is shown
    once, next to the form that was sent."""
    now = timezone.now()
    visit = deal_open_visit(deal=deal)
    steps = list(
        deal.stream.steps.select_related("stream", "lane__calendar", "lane__stream").order_by(
            "position"
        )
    )
    # In working time when the stream shows it: W(now) of each step's calendar.
    now_w = working_now(steps, now)
    next_step = None
    if visit is None and steps:
        next_step = steps[0]
    elif visit is not None:
        later = [s for s in steps if s.position > visit.step.position]
        next_step = later[0] if later else None
    threshold = None
    hours_in_step = None
    if visit is not None:
        threshold = stall_thresholds([visit.step_id], working=now_w).get(visit.step_id)
        hours_in_step = age_hours(now, visit.entered_at, now_w.get(visit.step_id), visit.entered_w)
    can_edit = deal_can_edit(user=request.user, deal=deal)
    undo_until = deal_undo_deadline(deal=deal, user=request.user)
    # The case's latest hand-off decision, when the user may undo it (funnel.leads.undo).
    handoff_undo = undo_offer(deal=deal, user=request.user)
    if handoff_undo and handoff_undo.decision.kind == DecisionKind.DISQUALIFY:
        undo_until = None  # undoing the disqualify reopens the case, and takes the decision back
    context = {
        "deal": deal,
        "list_title": _list_title(request.user),
        "visit": visit,
        "hours_in_step": hours_in_step,
        "stalled": bool(
            threshold is not None and hours_in_step is not None and hours_in_step > threshold
        ),
        "threshold": threshold,
        "working": bool(now_w),
        "timeline": with_handoffs(deal_timeline(deal=deal, now=now, now_w=now_w or None), deal),
        "handoff_undo": handoff_undo,
        "handoff_undo_form": forms.get("handoff_undo_form") or HandoffUndoForm(),
        "can_edit": can_edit and deal.status == DealStatus.OPEN,
        "can_edit_details": can_edit,
        # While its closer may still undo, the page offers Undo rather than a reopen.
        "can_reopen": deal.status != DealStatus.OPEN
        and undo_until is None
        and deal_can_reopen(user=request.user, deal=deal),
        "undo_until": undo_until,
        "undo_minutes_left": (
            max(1, round((undo_until - now).total_seconds() / 60)) if undo_until else None
        ),
        "undo_window_minutes": int(UNDO_WINDOW.total_seconds() // 60),
        "steps": steps,
        "next_step": next_step,
        "failed": failed,
        "move_form": forms.get("move_form") or MoveForm(deal=deal, initial={"step": next_step}),
        "work_form": forms.get("work_form") or WorkForm(),
        "close_form": forms.get("close_form") or CloseForm(),
        "reopen_form": forms.get("reopen_form") or ReopenForm(),
        "lost_reasons": LOST_REASONS,
        # Qualification (funnel.qualification): each active criterion with its latest score.
        "qualification": deal_qualification(
            deal=deal,
            step_position=visit.step.position if visit and deal.status == DealStatus.OPEN else None,
        ),
        "score_history": deal_score_history(deal=deal),
        "score_form": forms.get("score_form"),
        "win_call": deal_latest_win_call(deal=deal),
        "win_call_form": forms.get("win_call_form") or WinCallForm(),
        # The lab's win probability and drivers (funnel.dashboards.quality), for an open deal.
        "deal_lab": deal_lab(deal) if deal.status == DealStatus.OPEN else None,
        # Standard work (funnel.standards): the current step's definition of done and ticks.
        "standard_work": deal_checklist(
            deal=deal, step=visit.step if visit else None, user=request.user
        ),
        "checklist_error": forms.get("checklist_error", ""),
        # The asset library (funnel.assets): the current step's assets first.
        "deal_assets": deal_assets(deal, request.user),
        # Its path against the map (funnel.discovery): fitness and deviations.
        "path_check": deal_path_check(deal),
    }
    return render(request, "funnel/deal_detail.html", context, status=status)


def deal_page(request: HttpRequest, deal: Deal, status: int = 200, failed: str = "", **forms):
    """The deal page (for another app's view refusing a form of it, e.g. the hand-off undo of
    ``funnel.leads.views``)."""
    return _deal_page(request, deal, status=status, failed=failed, **forms)


def _failed(request: HttpRequest) -> str:
    return request.POST.get("form", "")[:20]


def _post_form(
    request: HttpRequest,
    deal: Deal,
    form: Form,
    *,
    name: str,
    save: Callable[[dict], T],
    done: Callable[[T], str],
    anchor: str = "",
    failed: str | None = None,
) -> HttpResponse:
    """Post one form of the deal page: ``save`` (one service call, :func:`form_submit`) with
    the valid form's data; then ``done(what it returned)`` as the message and back to the deal
    page (at ``#anchor``), else the page again (400) with ``form`` as ``<name>_form`` and its
    errors, ``failed`` (default ``name``) marking the form that failed."""
    saved, result = form_submit(form, save)
    if saved:
        messages.success(request, done(result))
        url = reverse("funnel:deal_detail", args=[deal.pk])
        return redirect(f"{url}#{anchor}" if anchor else url)
    return _deal_page(
        request,
        deal,
        status=400,
        failed=name if failed is None else failed,
        **{f"{name}_form": form},
    )


def _deal_form(
    name: str,
    form_class: type[Form],
    *,
    done: Callable[[T], str],
    for_deal: bool = False,
    anchor: str = "",
    failed: Callable[[HttpRequest], str] | None = None,
) -> Callable[[Callable[[HttpRequest, Deal, dict], T]], Callable[[HttpRequest, int], HttpResponse]]:
    """Make the view of one form of the deal page from its service call, as
    ``kaizen.views.cycle.cycle_form`` does for the cycle page: the decorated
    ``save(request, deal, data)`` gets the form's cleaned data. The view takes POST only, finds
    the deal the user may edit (404, 403), binds ``form_class`` to the post (with the deal when
    ``for_deal``) and runs :func:`_post_form` with ``name``, ``done``, ``anchor`` and the form
    ``failed(request)`` names (default ``name``)."""

    def decorate(
        save: Callable[[HttpRequest, Deal, dict], T],
    ) -> Callable[[HttpRequest, int], HttpResponse]:
        @require_POST
        @wraps(save)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            deal = _deal_for(request, pk, edit=True)
            return _post_form(
                request,
                deal,
                form_class(request.POST, deal=deal) if for_deal else form_class(request.POST),
                name=name,
                save=lambda data: save(request, deal, data),
                done=done,
                anchor=anchor,
                failed=failed(request) if failed else None,
            )

        return view

    return decorate


def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _deal_page(request, _deal_for(request, pk))


@_deal_form(
    "move",
    MoveForm,
    for_deal=True,
    failed=_failed,
    done=lambda visit: f"Moved to {visit.step.name}.",
)
def deal_move_view(request: HttpRequest, deal: Deal, data: dict) -> Visit:
    return deal_move(deal=deal, step=data["step"], at=data["at"], actor=request.user)


@_deal_form(
    "score",
    ScoreForm,
    for_deal=True,
    anchor="qualification",
    done=lambda score: f"{score.criterion.name}: {score.criterion.levels[score.level]}.",
)
def deal_score_view(request: HttpRequest, deal: Deal, data: dict) -> CriterionScore:
    """Score one criterion of the deal (a new score row; the earlier ones stay)."""
    return score_create(
        deal=deal,
        criterion=data["criterion"],
        level=data["level"],
        note=data["note"],
        user=request.user,
    )


@_deal_form(
    "win_call",
    WinCallForm,
    anchor="win-call",
    done=lambda call: f"Your win probability: {call.probability} %.",
)
def deal_win_call_view(request: HttpRequest, deal: Deal, data: dict) -> WinCall:
    """Record the user's own win probability for the deal (kept beside the earlier ones)."""
    return win_call_create(deal=deal, probability=data["probability"], user=request.user)


@require_POST
def deal_log_work_view(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal_for(request, pk, edit=True)
    form = WorkForm(request.POST)
    return _post_form(
        request,
        deal,
        form,
        name="work",
        save=lambda data: deal_log_work(deal=deal, minutes=data["minutes"]),
        done=lambda visit: f"Logged {form.cleaned_data['minutes']} min on {visit.step.name}.",
    )


@require_POST
def deal_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Close a deal in two posts: the first (from the deal page's Won or Lost) is checked and
    answered with a page asking to confirm, naming the deal and the outcome; the second,
    from that page (or from the deal page's dialog when JavaScript runs) closes it."""
    deal = _deal_for(request, pk, edit=True)
    form = CloseForm(request.POST)
    failed = _failed(request) or request.POST.get("outcome", "")
    asking = form.is_valid() and not form.cleaned_data["confirmed"]
    if (
        asking
        and form_submit(
            form,
            lambda data: deal_close_check(
                deal=deal, outcome=data["outcome"], at=data["at"], lost_reason=data["lost_reason"]
            ),
        )[0]
    ):
        return render(
            request,
            "funnel/deal_close_confirm.html",
            {
                "deal": deal,
                "list_title": _list_title(request.user),
                "visit": deal_open_visit(deal=deal),
                "form": form,
                "data": form.cleaned_data,
                "raw_at": request.POST.get("at", ""),
                "undo_window_minutes": int(UNDO_WINDOW.total_seconds() // 60),
            },
        )

    def done(_: Deal) -> str:
        won = form.cleaned_data["outcome"] == DealStatus.WON
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        return ("Won. Well done!" if won else "Marked as lost.") + (
            f" You can undo this for {minutes} minutes."
        )

    return _post_form(
        request,
        deal,
        form,
        name="close",
        save=lambda data: deal_close(
            deal=deal,
            outcome=data["outcome"],
            at=data["at"],
            lost_reason=data["lost_reason"],
            actor=request.user,
        ),
        done=done,
        failed=failed,
    )


@require_POST
def deal_close_undo_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo one's own close within the undo window; a refusal (the window has passed) is a
    message on the deal page, which has nothing else to correct."""
    deal = _deal_for(request, pk, edit=True)
    try:
        deal = deal_close_undo(deal=deal, user=request.user)
    except ValidationError as exc:
        for reason in exc.message_dict.get("deal", exc.messages):
            messages.error(request, reason)
    else:
        visit = deal_open_visit(deal=deal)
        where = f" at {visit.step.name}" if visit else ""
        messages.success(request, f"Close undone: the deal is open again{where}.")
    return redirect("funnel:deal_detail", pk=deal.pk)


@require_POST
def deal_reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal_for(request, pk)
    if not deal_can_reopen(user=request.user, deal=deal):
        raise PermissionDenied("Only the team's managers reopen a closed deal.")
    return _post_form(
        request,
        deal,
        ReopenForm(request.POST),
        name="reopen",
        save=lambda data: deal_reopen(deal=deal, user=request.user, reason=data["reason"]),
        done=lambda _: "Reopened: the deal is open again and its history says why.",
    )


def _edit_owners(request: HttpRequest, deal: Deal):
    """Whom the deal can be reassigned to, when the user may reassign it (managers and
    admins): the managers and reps of its team."""
    user = request.user
    if not (user.is_staff or deal.stream.team_id in team_ids_with_role(user, (Role.MANAGER,))):
        return None
    return deal_owner_choices({deal.stream.team_id})


def deal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a deal's name, account, amount, source, expected close date and next step; the
    team's managers also reassign it. Every refused field is reported at once."""
    deal = _deal_for(request, pk, edit=True)
    owners = _edit_owners(request, deal)
    initial = {
        "name": deal.name,
        "account": deal.account,
        "amount": deal.amount,
        "source": deal.source,
        "expected_close_date": deal.expected_close_date,
        "next_step": deal.next_step or "",
        "owner": deal.owner_id,
    }
    form = DealEditForm(request.POST or None, initial=initial, owners=owners)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            changes = {key: form.cleaned_data[key] for key in form.fields}
            try:
                deal_update(deal=deal, user=request.user, **changes)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Deal saved.")
                return redirect("funnel:deal_detail", pk=deal.pk)
        else:
            # Report the service's objections to the fields that were well-formed too.
            valid = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
            try:
                deal_update_check(deal=deal, user=request.user, changes=valid)
            except ValidationError as exc:
                apply_service_errors(form, exc)
    return render(
        request,
        "funnel/deal_form.html",
        {"deal": deal, "form": form, "sources": SOURCES, "list_title": _list_title(request.user)},
        status=status,
    )


def deal_new(request: HttpRequest) -> HttpResponse:
    streams = list(streams_for_new_deals(request.user))
    if not streams:
        raise PermissionDenied("Only the team's managers and reps create deals.")
    can_assign = request.user.is_staff or bool(team_ids_with_role(request.user, (Role.MANAGER,)))
    form = DealCreateForm(request.POST or None, streams=streams, can_assign=can_assign)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        step = data["first_step"]
        owner = data.get("owner") or request.user
        if not can_assign and owner != request.user:
            raise PermissionDenied("A rep creates deals they own.")
        try:
            deal = deal_create(
                stream=step.stream,
                name=data["name"],
                account=data["account"],
                amount=data["amount"],
                source=data["source"],
                owner=owner,
                created_at=data["created_at"],
                first_step=step,
                actor=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Deal created at {step.name}.")
            return redirect("funnel:deal_detail", pk=deal.pk)
    context = {"form": form, "sources": SOURCES, "list_title": _list_title(request.user)}
    # A refused form answers 400, like every other form of the app.
    status = 400 if request.method == "POST" else 200
    return render(request, "funnel/deal_form.html", context, status=status)
