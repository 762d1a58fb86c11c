"""Kaizen pages: the board (cycles by phase, the team's improvement history) and a cycle's
page (the PDCA record with one form per phase, the Check with its run chart, comments).

Every action posts a small form to its own view, which calls one service; a refused action
re-renders the cycle page with the reason next to the field (status 400). The Check is read
as stored, never computed on a page view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kaizen.charts import chart_rows, chart_scale, limits_text, run_chart_html
from kaizen.checks import RunChart
from kaizen.forms import (
    SERVICE_FIELD,
    AbandonForm,
    ActForm,
    AdaptForm,
    AdoptForm,
    BoardFilterForm,
    CommentForm,
    DoForm,
    DoNotesForm,
    PlanForm,
    show_service_errors,
)
from kaizen.metrics import spec
from kaizen.models import KaizenCycle, Phase
from kaizen.selectors import (
    board_columns,
    check_needs_override,
    cycle_can_comment,
    cycle_can_edit_plan,
    cycle_can_manage,
    cycle_check_due,
    cycle_overdue,
    cycles_visible_to,
    improvement_history,
    owners_visible_to,
    possible_owners,
    streams_for_cycles,
)
from kaizen.services import (
    cycle_abandon,
    cycle_adapt,
    cycle_adopt,
    cycle_comment_add,
    cycle_delete,
    cycle_plan,
    cycle_start_act,
    cycle_start_check,
    cycle_start_do,
    cycle_update,
    plan_problems,
)
from streams.models import Role
from streams.selectors import latest_future_state, streams_visible_to, team_ids_with_role


def board(request: HttpRequest) -> HttpResponse:
    """Cycles as cards in Plan, Do, Check, Act and Closed, filtered by stream and owner, with
    overdue flags; below, the improvement history of the same cycles."""
    cycles = cycles_visible_to(request.user)
    form = BoardFilterForm(
        request.GET or None,
        streams=streams_visible_to(request.user).filter(kaizen_cycles__isnull=False).distinct(),
        owners=owners_visible_to(request.user),
    )
    if form.is_valid():
        if form.cleaned_data["stream"]:
            cycles = cycles.filter(stream=form.cleaned_data["stream"])
        if form.cleaned_data["owner"]:
            cycles = cycles.filter(owner=form.cleaned_data["owner"])
    today = timezone.localdate()
    columns = board_columns(cycles, today=today)
    return render(
        request,
        "kaizen/board.html",
        {
            "form": form,
            "columns": columns,
            "overdue": sum(card.overdue for column in columns for card in column.cards),
            "history": improvement_history(cycles, today=today),
            "can_create": streams_for_cycles(request.user).exists(),
            "filtered": form.is_bound and form.is_valid() and any(form.cleaned_data.values()),
        },
    )


def _owners_for(user) -> object | None:
    """The owner choices a manager gets (their teams' managers and reps); None for a rep,
    whose proposals are their own."""
    if user.is_staff:
        return (
            get_user_model()
            .objects.filter(memberships__role__in=[Role.MANAGER, Role.REP])
            .distinct()
            .order_by("username")
        )
    teams = team_ids_with_role(user, (Role.MANAGER,))
    if not teams:
        return None
    return (
        get_user_model()
        .objects.filter(
            memberships__team_id__in=teams, memberships__role__in=[Role.MANAGER, Role.REP]
        )
        .distinct()
        .order_by("username")
    )


def cycle_new(request: HttpRequest) -> HttpResponse:
    """Plan a cycle (managers), or propose one (reps)."""
    streams = list(streams_for_cycles(request.user))
    if not streams:
        raise PermissionDenied("Only the team's managers and reps plan kaizen cycles.")
    owners = _owners_for(request.user)
    initial = {"window_days": 56}
    if request.GET.get("where"):
        initial["where"] = request.GET["where"]
    elif len(streams) == 1:
        initial["where"] = f"{streams[0].pk}"
    form = PlanForm(request.POST or None, streams=streams, owners=owners, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            cycle = cycle_plan(
                user=request.user, stream=form.cleaned_data["stream"], **form.plan_fields()
            )
        except ValidationError as exc:
            show_service_errors(form, exc)
        else:
            messages.success(request, "Plan saved, with the baseline measured now.")
            return redirect("kaizen:detail", pk=cycle.pk)
    elif request.method == "POST":
        _name_the_other_problems(form, timezone.localdate())
    status = 400 if form.is_bound else 200
    return render(request, "kaizen/cycle_new.html", {"form": form}, status=status)


def _name_the_other_problems(form: PlanForm, planned_on) -> None:
    """A plan refused by the form: add what the service would also refuse in the fields the
    form accepted, so every problem is named at once rather than one round at a time."""
    data = getattr(form, "cleaned_data", {})
    stream = data.get("stream")
    if stream is None:
        return
    values = {name: data.get(name) for name in ("title", "step", "metric", "target_value")}
    values |= {name: data.get(name) for name in ("target_date", "window_days", "owner")}
    problems = plan_problems(stream=stream, values=values, planned_on=planned_on)
    for name, message in problems.items():
        field = SERVICE_FIELD.get(name, name)
        if field in form.fields and field not in form.errors and name in data:
            form.add_error(field, message)


def _cycle(request: HttpRequest, pk: int) -> KaizenCycle:
    return get_object_or_404(cycles_visible_to(request.user), pk=pk)


PHASE_STEPS = [
    (Phase.PLAN, "Plan", "state the problem, measure the baseline, plan a countermeasure"),
    (Phase.DO, "Do", "make the change and record when it started"),
    (Phase.CHECK, "Check", "compare after the change with before"),
    (Phase.ACT, "Act", "adopt, adapt or abandon"),
]


def _cycle_page(
    request: HttpRequest, cycle: KaizenCycle, status: int = 200, **forms
) -> HttpResponse:
    user = request.user
    metric = spec(cycle.metric)
    check = getattr(cycle, "check_result", None)
    chart = RunChart.from_json(check.series) if check is not None else None
    can_manage = cycle_can_manage(user=user, cycle=cycle)
    can_edit_plan = cycle_can_edit_plan(user=user, cycle=cycle)
    phase = cycle.phase
    order = [p for p, _, _ in PHASE_STEPS]
    suggested = None
    if check is not None and metric.map_field:
        suggested = metric.to_map_value(check.value_after)
        suggested = None if suggested is None else round(suggested, 1)
    context = {
        "cycle": cycle,
        "metric": metric,
        "check": check,
        "chart_html": run_chart_html(chart, metric, div_id="run-chart") if chart else "",
        "chart_rows": chart_rows(chart, metric) if chart else [],
        "chart_unit": chart_scale(chart, metric).unit if chart else "",
        "chart_limits": limits_text(chart, metric) if chart else "",
        "check_pending": check is None and phase == Phase.CHECK,
        "phases": [
            {
                "code": code,
                "label": label,
                "what": what,
                "done": phase == Phase.CLOSED or order.index(code) < order.index(phase),
                "current": code == phase,
            }
            for code, label, what in PHASE_STEPS
        ],
        "overdue": cycle_overdue(cycle, timezone.localdate()),
        "check_due": cycle_check_due(cycle, timezone.localdate()),
        "can_manage": can_manage,
        "can_edit_plan": can_edit_plan,
        "can_comment": cycle_can_comment(user=user, cycle=cycle),
        "comments": list(cycle.comments.select_related("author")),
        "follow_ups": list(cycle.follow_ups.order_by("pk")),
        "future": latest_future_state(cycle.stream),
    }
    if can_edit_plan:
        owners = possible_owners(cycle.stream) if can_manage else None
        context["plan_form"] = forms.get("plan_form") or PlanForm(
            streams=[cycle.stream], owners=owners, cycle=cycle
        )
    if can_manage and phase == Phase.PLAN:
        context["do_form"] = forms.get("do_form") or DoForm(
            initial={"change_date": timezone.localdate()}
        )
    if can_manage and phase in (Phase.DO, Phase.CHECK, Phase.ACT):
        context["notes_form"] = forms.get("notes_form") or DoNotesForm(
            initial={
                "change_description": cycle.change_description,
                "do_notes": cycle.do_notes,
            }
        )
    needs_override = check_needs_override(check)
    context["needs_override"] = needs_override
    if can_manage and phase == Phase.CHECK and check is not None:
        context["act_form"] = forms.get("act_form") or ActForm(needs_override=needs_override)
    if can_manage and phase == Phase.ACT:
        context["adopt_form"] = forms.get("adopt_form") or AdoptForm(
            cycle=cycle, needs_override=needs_override, initial={"planned_value": suggested}
        )
        context["adapt_form"] = forms.get("adapt_form") or AdaptForm()
        context["abandon_form"] = forms.get("abandon_form") or AbandonForm()
    if context["can_comment"]:
        context["comment_form"] = forms.get("comment_form") or CommentForm()
    context["action_error"] = forms.get("action_error")
    return render(request, "kaizen/cycle_detail.html", context, status=status)


def cycle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_page(request, _cycle(request, pk))


def cycle_check_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Whether the Check is stored yet (the page polls this while it is being computed)."""
    cycle = _cycle(request, pk)
    check = getattr(cycle, "check_result", None)
    return JsonResponse(
        {
            "ready": check is not None,
            "computed_at": check.computed_at.isoformat() if check else None,
            "verdict": check.verdict if check else None,
        }
    )


@require_POST
def cycle_plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    if not cycle_can_edit_plan(user=request.user, cycle=cycle):
        raise PermissionDenied("Only the team's managers and the rep who proposed it change it.")
    owners = (
        possible_owners(cycle.stream) if cycle_can_manage(user=request.user, cycle=cycle) else None
    )
    form = PlanForm(request.POST, streams=[cycle.stream], owners=owners)
    if not form.is_valid():
        _name_the_other_problems(form, cycle.planned_on)
    return _submit(
        request,
        cycle,
        form,
        name="plan_form",
        save=lambda data: cycle_update(cycle=cycle, user=request.user, **form.plan_fields()),
        done="Plan saved.",
    )


@require_POST
def cycle_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    try:
        cycle_delete(cycle=cycle, user=request.user)
    except ValidationError as exc:
        return _cycle_page(request, cycle, status=400, action_error=" ".join(exc.messages))
    messages.success(request, f"“{cycle.title}” withdrawn.")
    return redirect("kaizen:board")


def _submit(
    request: HttpRequest,
    cycle: KaizenCycle,
    form: Form,
    *,
    name: str,
    save: Callable[[dict[str, Any]], KaizenCycle],
    done: str | Callable[[KaizenCycle], str],
    anchor: str = "",
) -> HttpResponse:
    """Post/redirect/get for one form of the cycle page. A valid form goes to ``save``, which
    calls one service and returns the cycle to show next; ``done`` is the success message (or
    makes it from that cycle), and an empty one flashes nothing. A form or service refusal
    re-renders the cycle page, read afresh, with the errors next to the fields (status 400);
    ``name`` is the form's name in the page's context."""
    if form.is_valid():
        try:
            shown = save(form.cleaned_data)
        except ValidationError as exc:
            show_service_errors(form, exc)
        else:
            message = done(shown) if callable(done) else done
            if message:
                messages.success(request, message)
            return redirect(reverse("kaizen:detail", args=[shown.pk]) + anchor)
    return _cycle_page(request, _cycle(request, cycle.pk), status=400, **{name: form})


@require_POST
def cycle_do(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    return _submit(
        request,
        cycle,
        DoForm(request.POST),
        name="do_form",
        save=lambda data: cycle_start_do(cycle=cycle, user=request.user, **data),
        done="Do: the change is under way. Move to Check when it has run.",
    )


@require_POST
def cycle_notes(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    return _submit(
        request,
        cycle,
        DoNotesForm(request.POST),
        name="notes_form",
        save=lambda data: cycle_update(cycle=cycle, user=request.user, **data),
        done="Notes saved.",
    )


def _phase_move(request: HttpRequest, pk: int, move, done: str) -> HttpResponse:
    cycle = _cycle(request, pk)
    try:
        move(cycle)
    except ValidationError as exc:
        return _cycle_page(
            request, _cycle(request, pk), status=400, action_error=" ".join(exc.messages)
        )
    messages.success(request, done)
    return redirect("kaizen:detail", pk=cycle.pk)


@require_POST
def cycle_check(request: HttpRequest, pk: int) -> HttpResponse:
    return _phase_move(
        request,
        pk,
        lambda cycle: cycle_start_check(cycle=cycle, user=request.user),
        "Check: comparing after the change with before.",
    )


def _act_done(cycle: KaizenCycle) -> str:
    done = "Act: adopt, adapt or abandon the change."
    if cycle.evidence_override:
        done += " The team acts without evidence; the reason is on record."
    return done


@require_POST
def cycle_act(request: HttpRequest, pk: int) -> HttpResponse:
    """Check → Act; with a Check of insufficient data, only with a written override."""
    cycle = _cycle(request, pk)
    form = ActForm(
        request.POST,
        needs_override=check_needs_override(getattr(cycle, "check_result", None)),
    )
    return _submit(
        request,
        cycle,
        form,
        name="act_form",
        save=lambda data: cycle_start_act(
            cycle=cycle, user=request.user, override_reason=data.get("override_reason", "")
        ),
        done=_act_done,
    )


def _adopt_done(cycle: KaizenCycle) -> str:
    done = "Adopted as the new standard."
    if cycle.adopted_without_evidence:
        done = "Adopted without evidence: the reason is on record, and the cycle is "
        done += "left out of the measured figures."
    if cycle.adopted_standard:
        done += f" The future-state map “{cycle.adopted_standard['stream_name']}” has it."
    return done


@require_POST
def cycle_adopt_view(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    form = AdoptForm(
        request.POST,
        cycle=cycle,
        needs_override=check_needs_override(getattr(cycle, "check_result", None)),
    )
    return _submit(
        request,
        cycle,
        form,
        name="adopt_form",
        save=lambda data: cycle_adopt(
            cycle=cycle,
            user=request.user,
            standard=data["standard"],
            planned_value=data.get("planned_value"),
            override_reason=data.get("override_reason") or "",
        ),
        done=_adopt_done,
    )


@require_POST
def cycle_adapt_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Adapt closes the cycle and opens a follow-up in Plan: the follow-up is shown next."""
    cycle = _cycle(request, pk)
    return _submit(
        request,
        cycle,
        AdaptForm(request.POST),
        name="adapt_form",
        save=lambda data: cycle_adapt(cycle=cycle, user=request.user, **data),
        done="Adapted: here is the follow-up cycle, in Plan.",
    )


@require_POST
def cycle_abandon_view(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle(request, pk)
    return _submit(
        request,
        cycle,
        AbandonForm(request.POST),
        name="abandon_form",
        save=lambda data: cycle_abandon(cycle=cycle, user=request.user, reason=data["reason"]),
        done="Abandoned; the reason is on record.",
    )


@require_POST
def cycle_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """A comment flashes no message: the page opens at the comments, where it now stands."""
    cycle = _cycle(request, pk)

    def save(data: dict[str, Any]) -> KaizenCycle:
        cycle_comment_add(cycle=cycle, user=request.user, body=data["body"])
        return cycle

    return _submit(
        request,
        cycle,
        CommentForm(request.POST),
        name="comment_form",
        save=save,
        done="",
        anchor="#comments",
    )
