"""Planning a cycle (``/kaizen/new/``), changing its plan, and withdrawing a plan."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from funnel.dashboards.charts.quality import interval_pct
from funnel.dashboards.quality import lab_rule
from funnel.qualification.selectors import closed_reaching
from kaizen.fives.selectors import finding_plan, finding_visible_to
from kaizen.forms import SERVICE_FIELD, PlanForm, show_service_errors
from kaizen.models import Direction, KaizenCycle, Metric
from kaizen.selectors import (
    cycle_can_edit_plan,
    cycle_can_manage,
    possible_owners,
    streams_for_cycles,
)
from kaizen.services import cycle_delete, cycle_plan, cycle_update, plan_problems
from kaizen.views.cycle import cycle_button, get_cycle, submit_form
from streams.ids import parse_id
from streams.models import Role
from streams.selectors import team_ids_with_role


def _owners_for(user) -> QuerySet | None:
    """The owner choices a manager gets (their teams' managers and reps); None for a rep,
    whose proposals are their own."""
    # One filter() call: the team and the role must be those of the same membership.
    membership: dict[str, object] = {"memberships__role__in": [Role.MANAGER, Role.REP]}
    if not user.is_staff:
        teams = team_ids_with_role(user, (Role.MANAGER,))
        if not teams:
            return None
        membership["memberships__team_id__in"] = teams
    return get_user_model().objects.filter(**membership).distinct().order_by("username")


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
    if request.GET.get("lab_rule") and request.method == "GET":
        initial |= _from_lab_rule(streams, request.GET)
    elif request.GET.get("five_s_finding") and request.method == "GET":
        initial |= _from_five_s_finding(request.user, streams, request.GET["five_s_finding"])
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


def _from_lab_rule(streams: list, params) -> dict:
    """The plan a walk-away rule of the qualification lab suggests (the Quality dashboard's
    "Turn into a kaizen cycle" link: ``where`` = stream:step, ``lab_rule`` the criterion's
    key, ``lab_condition``, and the lab view's ``start``, ``end``, ``as_of``). Only the form's
    initial values: nothing is written until the manager saves. Empty when the link names
    no rule of a stream the user plans for."""
    stream_id, _, step_text = params.get("where", "").partition(":")
    stream = next((s for s in streams if str(s.pk) == stream_id), None)
    step_id = parse_id(step_text)
    if stream is None or step_id is None:
        return {}
    view = {name: params[name] for name in ("start", "end", "as_of") if params.get(name)}
    found = lab_rule(
        stream,
        key=params["lab_rule"],
        condition=params.get("lab_condition", ""),
        step_id=step_id,
        params=view,
    )
    if found is None:
        return {}
    rule, window = found
    state = "is still Unknown" if rule["condition"] == "unknown" else "is not met"
    rate, others = rule["win_rate"], rule["others_win_rate"]

    money = f"{rule['revenue_won']:,.0f} {stream.currency}"
    return {
        "where": f"{stream.pk}:{rule['step']}",
        "title": f"Walk away when {rule['name']} {state} at {rule['step_name']}"[:200],
        "metric": Metric.WIN_RATE,
        # The aim: the deals kept win as the others at that step did.
        "direction": Direction.INCREASE,
        "target_value": round(others["value"] * 100, 1),
        "prediction": _hypothesis(stream, rule, window, state),
        "problem": (
            f"Walk away from deals where {rule['name']} {state} at {rule['step_name']}: "
            f"win rate {interval_pct(rate)} over {rule['n']} deals, "
            f"{rule['hours_after']:,.0f} rep hours after that step, {money} won among them."
        ),
        "current_condition": (
            f"Deals closed {window['start'][:10]} – {window['end'][:10]} (qualification lab): "
            f"{rule['won']} of the {rule['n']} deals where {rule['name']} {state} at "
            f"{rule['step_name']} were won, {interval_pct(rate)}, against "
            f"{interval_pct(others)} for the others (q = {rule['q']:.2g}). Reps keep working "
            "these deals after the step."
        ),
        "countermeasure": (
            f"At {rule['step_name']}, qualify out the deals where {rule['name']} {state}: "
            "close them as lost, or find it out before going on."
        ),
    }


def _from_five_s_finding(user, streams: list, text: str) -> dict:
    """The plan a 5S audit finding suggests (the audit page's "Turn into a kaizen cycle"
    link), the same way as a walk-away rule: the form's initial values only. Empty when the
    id names no finding of a stream the user plans for."""
    answer_id = parse_id(text)
    answer = finding_visible_to(user, answer_id) if answer_id is not None else None
    if answer is None or all(s.pk != answer.audit.stream_id for s in streams):
        return {}
    return finding_plan(answer)


def _hypothesis(stream, rule: dict, window: dict, state: str) -> str:
    """The rule as a hypothesis to test: the rep hours and revenue per year (the lab's window
    scaled to 365 days) and the win rate of the deals that reached the step, all of them
    now against the others (the deals kept)."""
    start, end = (datetime.fromisoformat(window[name]) for name in ("start", "end"))
    per_year = 365 / max((end - start).total_seconds() / 86400, 1)
    closed, won = closed_reaching(stream_id=stream.pk, step_id=rule["step"], start=start, end=end)
    now = f"from {round(100 * won / closed)} % " if closed else ""
    kept = round(100 * rule["others_win_rate"]["value"])
    return (
        f"If we walk away from deals where {rule['name']} {state} at {rule['step_name']}, "
        f"we save about {rule['hours_after'] * per_year:,.0f} rep hours per year and give up "
        f"about {rule['revenue_won'] * per_year:,.0f} {stream.currency} of revenue; win rate "
        f"of the deals we keep rises {now}to {kept} %."
    )


def _name_the_other_problems(form: PlanForm, planned_on: date) -> None:
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


@require_POST
def cycle_plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = get_cycle(request, pk)
    if not cycle_can_edit_plan(user=request.user, cycle=cycle):
        raise PermissionDenied("Only the team's managers and the rep who proposed it change it.")
    owners = (
        possible_owners(cycle.stream) if cycle_can_manage(user=request.user, cycle=cycle) else None
    )
    form = PlanForm(request.POST, streams=[cycle.stream], owners=owners)
    if not form.is_valid():
        _name_the_other_problems(form, cycle.planned_on)
    return submit_form(
        request,
        cycle,
        form,
        name="plan_form",
        save=lambda data: cycle_update(cycle=cycle, user=request.user, **form.plan_fields()),
        done="Plan saved.",
    )


@cycle_button(done=lambda cycle: f"“{cycle.title}” withdrawn.", to_board=True)
def cycle_delete_view(request: HttpRequest, cycle: KaizenCycle) -> None:
    """Withdraw a plan; the board is shown next."""
    cycle_delete(cycle=cycle, user=request.user)
