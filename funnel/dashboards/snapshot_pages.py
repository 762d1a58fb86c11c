"""What the dashboards drawn from a stored snapshot share (the Quality dashboard,
``funnel.dashboards.quality``, and the Leads dashboard, ``funnel.dashboards.leads``): the
stream and the viewer's role, the view form's errors, the read that falls back to the default
view, the page's job state, tabs, cache key and status, the page itself (``snapshot_page``),
the charts' CSV links and the CSV of one chart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from funnel.dashboards.charts import Chart
from funnel.dashboards.views import TABS, _csv_response, _errors_response, _role
from streams.models import Job, JobState, Role, ValueStream
from streams.selectors import streams_visible_to

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
#: A snapshot view's read: ``read(stream, params, user=…) -> (snapshot, job)``.
Read = Callable[..., tuple[Any, Job | None]]


def page_stream(request: HttpRequest, slug: str) -> tuple[ValueStream, str | None, int | None]:
    """The stream (404 outside the user's teams), the user's role, and their id when they are
    a rep (whose view is limited)."""
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    role = _role(request, stream.team_id)
    return stream, role, request.user.pk if role == Role.REP else None


def form_view(form: forms.Form) -> tuple[forms.Form, dict, dict]:
    """The form read from the URL, the view's parameters (the default view's when the URL is
    wrong) and the errors by field."""
    if not form.is_bound:
        return form, {}, {}
    if form.is_valid():
        return form, form.params(), {}
    errors = {name: errors[0] for name, errors in form.errors.items()}
    return form, {}, errors


def field_errors(exc: ValidationError) -> dict[str, str]:
    return {name: messages[0] for name, messages in exc.message_dict.items()}


def read_or_default(
    read: Read, request: HttpRequest, stream: ValueStream, params: dict, errors: dict
) -> tuple[Any, Job | None]:
    """The stored snapshot of the view ``params`` name and the job computing it when it is
    missing or stale (``read``); a parameter the snapshot's engine refuses is added to
    ``errors`` and the default view read instead."""
    try:
        return read(stream, params, user=request.user)
    except ValidationError as exc:
        errors.update(field_errors(exc))
        return read(stream, {}, user=request.user)


def board_tabs(stream: ValueStream, role: str | None) -> list[tuple[str, str, str]]:
    """The dashboards' tabs (My view for a rep only)."""
    return [
        (key, label, reverse("dashboards:board", args=[stream.slug, key]))
        for key, label in TABS
        if key != "me" or role == Role.REP
    ]


def share_url(request: HttpRequest, query: str) -> str:
    return request.build_absolute_uri(request.path + (f"?{query}" if query else ""))


def page_context(
    request: HttpRequest,
    stream: ValueStream,
    role: str | None,
    *,
    title: dict,
    form: forms.Form,
    errors: dict,
    query: str,
    **extra: Any,
) -> dict:
    """What every snapshot dashboard's page starts from: the stream, its title, the tabs, the
    view form and its errors, the link to this view, and the page's own ``extra``."""
    return {
        "stream": stream,
        "title": title,
        "tabs": board_tabs(stream, role),
        "tab_query": "",
        "form": form,
        "errors": errors,
        "share_url": share_url(request, query),
        "query": query,
        **extra,
    }


def job_state(context: dict, snapshot: object | None, job: Job | None) -> None:
    """Say in ``context`` whether the view's job failed (``failed``), its first result is
    being computed (``preparing``) or a newer one is (``stale``)."""
    if job is not None and job.state == JobState.FAILED:
        context["failed"] = job
    elif snapshot is None and job is not None:
        context["preparing"] = job
    if snapshot is not None:
        # Stale while a job computes fresh figures (an eager job has already run).
        context["stale"] = job is not None and job.state in (JobState.QUEUED, JobState.RUNNING)


def board_key(stream: ValueStream, snapshot: Any, *viewer: object) -> str:
    """The rendered board's cache key: the snapshot as computed, and what the viewer sees of
    it (``viewer``), in the current time zone."""
    parts = (
        stream.pk,
        stream.slug,
        snapshot.pk,
        snapshot.view_key,
        snapshot.source_signature,
        snapshot.computed_at.timestamp(),
        *viewer,
        timezone.get_current_timezone_name(),
    )
    return "|".join(map(str, parts))


def page_status(errors: dict, context: dict) -> int:
    return 400 if errors else 202 if "preparing" in context else 200


def snapshot_page(
    request: HttpRequest,
    stream: ValueStream,
    role: str | None,
    view: tuple[forms.Form, dict, dict],
    template: str,
    *,
    read: Read | None,
    board: Callable[[Any, str], dict],
    **start: Any,
) -> HttpResponse:
    """A snapshot dashboard's page: the context it starts from (``page_context(**start)``
    with the ``view`` form's ``form_view``), the stored snapshot of the view its parameters
    name (``read_or_default(read)``; no ``read``: the stream has nothing to read, e.g. no
    waterfall), the job's state and, when there is a snapshot, what the page draws of it
    (``board(snapshot, query)``); 400 with the form's errors, 202 while the first result is
    being computed."""
    form, params, errors = view
    query = urlencode(params)
    context = page_context(request, stream, role, form=form, errors=errors, query=query, **start)
    snapshot, job = (None, None)
    if read is not None:
        snapshot, job = read_or_default(read, request, stream, params, errors)
    job_state(context, snapshot, job)
    if snapshot is not None:
        context |= {"has_board": True, **board(snapshot, query)}
    return render(request, template, context, status=page_status(errors, context))


def deal_url(pk: int) -> str:
    """The page of deal ``pk``, for the charts that link a deal (a dot, a row)."""
    return reverse("funnel:deal_detail", args=[pk])


def link_csv(charts: list[Chart], url_name: str, stream: ValueStream, query: str) -> None:
    """Give each chart the link to its CSV (``url_name``), for the same view."""
    for chart in charts:
        url = reverse(url_name, args=[stream.slug, chart.key])
        chart.csv_url = url + (f"?{query}" if query else "")


def chart_csv(
    request: HttpRequest,
    stream: ValueStream,
    view: tuple[forms.Form, dict, dict],
    *,
    read: Read,
    chart_of: Callable[[Any], Chart | None],
    missing: str,
    filename: str,
) -> HttpResponse:
    """The CSV of one chart of the view the ``view`` form's parameters name (``form_view``;
    ``chart_of(snapshot)``: None when the board has no such chart): 400 naming a wrong
    parameter, 404 (``missing``) while the view is not computed, the file ``filename``."""
    _, params, errors = view
    if errors:
        return _errors_response(errors)
    try:
        snapshot, _ = read(stream, params, user=request.user)
    except ValidationError as exc:
        return _errors_response(field_errors(exc))
    if snapshot is None:
        raise Http404(missing)
    found = chart_of(snapshot)
    if found is None:
        raise Http404("No such chart on this dashboard.")
    return _csv_response(found, filename)
