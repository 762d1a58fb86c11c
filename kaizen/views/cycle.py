"""A cycle's page (``/kaizen/<pk>/``): the PDCA record with one form per phase, the Check with
its run chart, comments; the Check's status the page polls while it is being computed; and
the scaffolding every form and button of the page posts through (:func:`submit_form`,
:func:`cycle_form`, :func:`cycle_button`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kaizen.charts import chart_rows, chart_scale, limits_text, run_chart_html
from kaizen.checks import RunChart
from kaizen.forms import (
    AbandonForm,
    ActForm,
    AdaptForm,
    AdoptForm,
    CommentForm,
    DoForm,
    DoNotesForm,
    PlanForm,
    show_service_errors,
)
from kaizen.metrics import spec
from kaizen.models import KaizenCycle, Phase
from kaizen.selectors import (
    check_needs_override,
    cycle_can_comment,
    cycle_can_edit_plan,
    cycle_can_manage,
    cycle_check_due,
    cycle_overdue,
    cycles_visible_to,
    possible_owners,
)
from streams.forms import form_submit
from streams.selectors import latest_future_state


def get_cycle(request: HttpRequest, pk: int) -> KaizenCycle:
    """The cycle, among those the user can see (404 otherwise)."""
    return get_object_or_404(cycles_visible_to(request.user), pk=pk)


PHASE_STEPS = [
    (Phase.PLAN, "Plan", "state the problem, measure the baseline, plan a countermeasure"),
    (Phase.DO, "Do", "make the change and record when it started"),
    (Phase.CHECK, "Check", "compare after the change with before"),
    (Phase.ACT, "Act", "adopt, adapt or abandon"),
]


def cycle_page(
    request: HttpRequest, cycle: KaizenCycle, status: int = 200, **forms
) -> HttpResponse:
    """The cycle page; ``forms`` are bound forms to show in place of blank ones (with their
    errors), by their name in the context, and ``action_error`` a refusal to show."""
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
    return cycle_page(request, get_cycle(request, pk))


def cycle_check_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Whether the Check is stored yet (the page polls this while it is being computed)."""
    cycle = get_cycle(request, pk)
    check = getattr(cycle, "check_result", None)
    return JsonResponse(
        {
            "ready": check is not None,
            "computed_at": check.computed_at.isoformat() if check else None,
            "verdict": check.verdict if check else None,
        }
    )


def submit_form(
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
    ok, shown = form_submit(form, save, show_service_errors)
    if ok:
        message = done(shown) if callable(done) else done
        if message:
            messages.success(request, message)
        return redirect(reverse("kaizen:detail", args=[shown.pk]) + anchor)
    return cycle_page(request, get_cycle(request, cycle.pk), status=400, **{name: form})


Act = Callable[[HttpRequest, KaizenCycle], object]


def cycle_button(
    *, done: str | Callable[[KaizenCycle], str], to_board: bool = False
) -> Callable[[Act], Callable[[HttpRequest, int], HttpResponse]]:
    """Make the view of a button of the cycle page that posts no fields (move to Check,
    withdraw) from its service call: the decorated ``act(request, cycle)`` calls one service.
    The view takes POST only and finds the cycle (404 if not visible). A refusal re-renders the
    cycle page, read afresh, with the reason (status 400); otherwise ``done`` is the success
    message (or makes it from the cycle) and the cycle is shown next, or the board with
    ``to_board``."""

    def decorate(act: Act) -> Callable[[HttpRequest, int], HttpResponse]:
        @require_POST
        @wraps(act)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            cycle = get_cycle(request, pk)
            try:
                act(request, cycle)
            except ValidationError as exc:
                return cycle_page(
                    request, get_cycle(request, pk), status=400, action_error=" ".join(exc.messages)
                )
            messages.success(request, done(cycle) if callable(done) else done)
            if to_board:
                return redirect("kaizen:board")
            return redirect("kaizen:detail", pk=cycle.pk)

        return view

    return decorate


Save = Callable[[HttpRequest, KaizenCycle, dict[str, Any]], KaizenCycle]


def cycle_form(
    name: str,
    form_class: type[Form],
    *,
    done: str | Callable[[KaizenCycle], str],
    form_kwargs: Callable[[KaizenCycle], dict[str, Any]] | None = None,
    anchor: str = "",
) -> Callable[[Save], Callable[[HttpRequest, int], HttpResponse]]:
    """Make the view of one form of the cycle page from its service call: the decorated
    ``save(request, cycle, data)`` gets the form's cleaned data and returns the cycle to show
    next. The view takes POST only, finds the cycle (404 if not visible), binds
    ``form_class`` to the post (with ``form_kwargs(cycle)`` if given) and runs
    :func:`submit_form` with ``name``, ``done`` and ``anchor``."""

    def decorate(save: Save) -> Callable[[HttpRequest, int], HttpResponse]:
        @require_POST
        @wraps(save)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            cycle = get_cycle(request, pk)
            extra = form_kwargs(cycle) if form_kwargs else {}
            return submit_form(
                request,
                cycle,
                form_class(request.POST, **extra),
                name=name,
                save=lambda data: save(request, cycle, data),
                done=done,
                anchor=anchor,
            )

        return view

    return decorate
