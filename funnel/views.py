"""Rep pages: My deals, a deal's path with quick actions, creating a deal.

Every action posts a small form to its own view, which calls one service; a refused action
re-renders the deal page with the reason next to the field (status 400).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from funnel.forms import LOST_REASONS, SOURCES, CloseForm, DealCreateForm, MoveForm, WorkForm
from funnel.models import Deal, DealStatus
from funnel.selectors import (
    deal_can_edit,
    deal_open_visit,
    deal_timeline,
    deals_visible_to,
    open_deal_rows,
    stall_thresholds,
    streams_exportable_by,
    streams_for_new_deals,
    streams_importable_by,
)
from funnel.services import deal_close, deal_create, deal_log_work, deal_move
from streams.forms import apply_service_errors
from streams.models import Role
from streams.selectors import team_ids_with_role


def _sells(user) -> bool:
    """Reps see their own deals first; managers and leadership the team's."""
    return bool(team_ids_with_role(user, (Role.REP,))) and not user.is_staff


def deal_list(request: HttpRequest) -> HttpResponse:
    """My deals: open deals with their current step, time in step and a stalled flag.
    ``?scope=team`` shows every open deal the user may see; ``?status=won|lost`` the closed."""
    status = request.GET.get("status", DealStatus.OPEN)
    if status in (DealStatus.WON, DealStatus.LOST):
        deals = deals_visible_to(request.user).filter(status=status).order_by("-closed_at", "id")
        page = Paginator(deals, 25).get_page(request.GET.get("page"))
        return render(request, "funnel/deal_closed.html", {"page": page, "status": status})
    scope = request.GET.get("scope") or ("mine" if _sells(request.user) else "team")
    rows = open_deal_rows(user=request.user, mine=scope == "mine", now=timezone.now())
    return render(
        request,
        "funnel/deal_list.html",
        {
            "rows": rows,
            "scope": scope,
            "stalled": sum(row.stalled for row in rows),
            "can_create": streams_for_new_deals(request.user).exists(),
            "can_import": bool(streams_importable_by(request.user)),
            "exportable": streams_exportable_by(request.user),
        },
    )


def _deal_for(request: HttpRequest, pk: int, *, edit: bool = False) -> Deal:
    deal = get_object_or_404(deals_visible_to(request.user), pk=pk)
    if edit and not deal_can_edit(user=request.user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers change this deal.")
    return deal


def _deal_page(request: HttpRequest, deal: Deal, status: int = 200, **forms) -> HttpResponse:
    now = timezone.now()
    visit = deal_open_visit(deal=deal)
    steps = list(deal.stream.steps.order_by("position"))
    next_step = None
    if visit is None and steps:
        next_step = steps[0]
    elif visit is not None:
        later = [s for s in steps if s.position > visit.step.position]
        next_step = later[0] if later else None
    threshold = stall_thresholds([visit.step_id]).get(visit.step_id) if visit else None
    hours_in_step = (now - visit.entered_at).total_seconds() / 3600 if visit else None
    context = {
        "deal": deal,
        "visit": visit,
        "hours_in_step": hours_in_step,
        "stalled": bool(threshold is not None and hours_in_step > threshold),
        "threshold": threshold,
        "timeline": deal_timeline(deal=deal, now=now),
        "can_edit": deal_can_edit(user=request.user, deal=deal) and deal.status == DealStatus.OPEN,
        "steps": steps,
        "next_step": next_step,
        "move_form": forms.get("move_form") or MoveForm(deal=deal, initial={"step": next_step}),
        "work_form": forms.get("work_form") or WorkForm(),
        "close_form": forms.get("close_form") or CloseForm(),
        "lost_reasons": LOST_REASONS,
    }
    return render(request, "funnel/deal_detail.html", context, status=status)


def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _deal_page(request, _deal_for(request, pk))


@require_POST
def deal_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal_for(request, pk, edit=True)
    form = MoveForm(request.POST, deal=deal)
    if form.is_valid():
        try:
            visit = deal_move(
                deal=deal,
                step=form.cleaned_data["step"],
                at=form.cleaned_data["at"],
                actor=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Moved to {visit.step.name}.")
            return redirect("funnel:deal_detail", pk=deal.pk)
    return _deal_page(request, deal, status=400, move_form=form)


@require_POST
def deal_log_work_view(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal_for(request, pk, edit=True)
    form = WorkForm(request.POST)
    if form.is_valid():
        try:
            visit = deal_log_work(deal=deal, minutes=form.cleaned_data["minutes"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request, f"Logged {form.cleaned_data['minutes']} min on {visit.step.name}."
            )
            return redirect("funnel:deal_detail", pk=deal.pk)
    return _deal_page(request, deal, status=400, work_form=form)


@require_POST
def deal_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal_for(request, pk, edit=True)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            deal_close(
                deal=deal,
                outcome=form.cleaned_data["outcome"],
                at=form.cleaned_data["at"],
                lost_reason=form.cleaned_data["lost_reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            won = form.cleaned_data["outcome"] == DealStatus.WON
            messages.success(request, "Won. Well done!" if won else "Marked as lost.")
            return redirect("funnel:deal_detail", pk=deal.pk)
    return _deal_page(request, deal, status=400, close_form=form)


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
    return render(request, "funnel/deal_new.html", {"form": form, "sources": SOURCES})
