"""Pages of the map: view, edit, create, draw the future state, compare, download.

Editing happens through the REST API (``streams.api``), called by ``static/js/map_editor.js``;
the editor page renders the forms and re-renders its body after each save.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import explanations
from streams.calendars.selectors import team_default_calendar, working_time_rewrites
from streams.drawing import render_vsm_svg, stream_svg, vsm_map_data
from streams.forms import FutureStateForm, StreamCreateForm, form_submit
from streams.future_states import stream_draw_another_future_state, stream_future_state_open
from streams.hooks import discovered_edges, measured_map, stream_panels
from streams.models import StreamState, ValueClass, ValueStream
from streams.selectors import (
    compare_states,
    latest_future_state,
    planned_summary,
    stage_spans,
    stream_can_edit,
    stream_steps,
    streams_visible_to,
    teams_managed_by,
)
from streams.services import TIME_BASES, stream_create


def _visible_stream(request: HttpRequest, slug: str) -> ValueStream:
    return get_object_or_404(streams_visible_to(request.user), slug=slug)


def _editable_stream(request: HttpRequest, slug: str) -> ValueStream:
    stream = _visible_stream(request, slug)
    if not stream_can_edit(user=request.user, stream=stream):
        raise PermissionDenied("Only the team's managers edit this map.")
    return stream


def stream_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The value stream map: the drawing, the summary box (planned against measured), the
    steps, and what every figure means."""
    stream = _visible_stream(request, slug)
    # The measured figures in the time asked for (?time=elapsed|working), else the stream's
    # default; without a team calendar there is only elapsed time.
    working_available = team_default_calendar(stream.team_id) is not None
    basis = request.GET.get("time") or stream.time_basis
    if basis not in TIME_BASES or not working_available:
        basis = "elapsed"
    # One load serves the drawing and the summary cards beside it.
    data = vsm_map_data(stream, basis)
    measured = data.measured
    discovered = discovered_edges(stream) if stream.state == StreamState.CURRENT else None
    return render(
        request,
        "streams/stream_detail.html",
        {
            "stream": stream,
            "steps": stream_steps(stream),
            # The discovered moves as a hidden layer the page's toggle shows (one query).
            "svg": render_vsm_svg(data, discovered),
            "discovered": bool(discovered),
            "planned": data.planned_summary,
            "measured": measured,
            "measured_steps": measured.steps if measured else {},
            "basis": basis,
            "working_available": working_available,
            # A calendar change being rewritten into this stream's working time: its progress.
            "rewrites": (
                working_time_rewrites(stream.team_id, stream_id=stream.pk)
                if working_available
                else []
            ),
            "can_edit": stream_can_edit(user=request.user, stream=stream),
            "future": latest_future_state(stream) if stream.state == StreamState.CURRENT else None,
            "explanations": explanations.ALL,
            # Cards the higher apps add (streams.hooks): the latest 5S audit score.
            "panels": stream_panels(stream, request.user),
        },
    )


def stream_svg_download(request: HttpRequest, slug: str) -> HttpResponse:
    """The map as a standalone SVG file (``?download=1`` saves it)."""
    stream = _visible_stream(request, slug)
    response = HttpResponse(stream_svg(stream), content_type="image/svg+xml; charset=utf-8")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{stream.slug}.svg"'
    return response


def stream_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """The map editor (managers). ``?fragment=1`` returns only the part the editor's script
    swaps in after each save."""
    stream = _editable_stream(request, slug)
    steps = stream_steps(stream)
    context = {
        "stream": stream,
        "steps": steps,
        "lanes": list(stream.lanes.all()),
        "calendars": list(stream.team.calendars.all()),
        "stages": stage_spans(stream, steps),
        "value_classes": ValueClass.choices,
        "svg": stream_svg(stream),
        "explanations": explanations.ALL,
    }
    template = "streams/_editor_body.html" if request.GET.get("fragment") else "streams/edit.html"
    return render(request, template, context)


def stream_new(request: HttpRequest) -> HttpResponse:
    """Create an empty map, then go on to the editor."""
    teams = teams_managed_by(request.user)
    if not teams.exists():
        raise PermissionDenied("Only managers create value streams.")
    form = StreamCreateForm(
        request.POST or None,
        teams=teams,
        initial={"team": request.GET.get("team") or teams.first().pk},
    )
    if request.method == "POST":
        ok, stream = form_submit(
            form,
            lambda data: stream_create(
                team=data["team"],
                name=data["name"],
                description=data["description"],
                period_days=data["period_days"],
                target_won_deals_per_period=data["target_won_deals_per_period"],
                available_selling_hours_per_period=data["available_selling_hours_per_period"],
                currency=data["currency"],
                lanes=[],
                steps=[],
            ),
        )
        if ok:
            messages.success(request, f"Map “{stream.name}” created. Add its lanes and steps.")
            return redirect("streams:edit", slug=stream.slug)
    status = 400 if form.is_bound else 200  # refused: shown again with every error
    return render(request, "streams/new.html", {"form": form}, status=status)


@require_POST
def stream_future(request: HttpRequest, slug: str) -> HttpResponse:
    """Open the current-state map's future state, drawing it (a copy of the current state)
    only when it has none; a second one is asked for on its own page, with a name."""
    stream = _editable_stream(request, slug)
    try:
        future, drawn = stream_future_state_open(stream=stream)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("streams:detail", slug=stream.slug)
    if not drawn:
        return redirect("streams:detail", slug=future.slug)
    messages.success(request, "Future state drawn as a copy of the current state: change it here.")
    return redirect("streams:edit", slug=future.slug)


def stream_future_another(request: HttpRequest, slug: str) -> HttpResponse:
    """Draw one more future state on purpose, under a name of its own (managers)."""
    stream = _editable_stream(request, slug)
    if stream.state != StreamState.CURRENT:
        raise Http404("A future state is drawn from a current-state map.")
    existing = list(stream.future_states.order_by("created_at"))
    form = FutureStateForm(request.POST or None)
    if request.method == "POST":
        ok, future = form_submit(
            form, lambda data: stream_draw_another_future_state(stream=stream, name=data["name"])
        )
        if ok:
            messages.success(request, f"Future state “{future.name}” drawn: change it here.")
            return redirect("streams:edit", slug=future.slug)
    status = 400 if form.is_bound else 200
    return render(
        request,
        "streams/future_another.html",
        {"stream": stream, "form": form, "existing": existing},
        status=status,
    )


def stream_compare(request: HttpRequest, slug: str) -> HttpResponse:
    """The current and the future state side by side: summary boxes and per-step changes."""
    stream = _visible_stream(request, slug)
    if stream.state == StreamState.FUTURE:
        current, future = stream.drawn_from, stream
    else:
        current, future = stream, latest_future_state(stream)
    if current is None or future is None:
        messages.info(request, "This map has no future state to compare with yet.")
        return redirect("streams:detail", slug=stream.slug)
    return render(
        request,
        "streams/compare.html",
        {
            "stream": stream,
            "current": current,
            "future": future,
            "current_summary": planned_summary(current),
            "current_measured": measured_map(current),
            "future_summary": planned_summary(future),
            "rows": compare_states(current, future),
            "explanations": explanations.ALL,
        },
    )
