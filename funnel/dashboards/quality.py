"""The Quality dashboard (``/dashboards/streams/<slug>/quality/``): a stream's qualification
lab, read from its stored snapshot (``LabSnapshot``, computed by a background job, never
here) and drawn by ``funnel.dashboards.charts.quality``; and the CSV of each of its charts.

Its filters are the lab view's (docs/qualification.md "The lab"): the window of closing
dates (``start``, ``end``: days, ``end`` not included) and the as-of step (``as_of``: a step
id, or ``close``). A wrong one re-renders the default view with the reason beside the field,
with status 400 (the CSV answers 400 naming it).

Who sees what: every member of the team reads the lab; a rep sees only their own row of the
coverage by rep; managers (and admins) get a "Turn into a kaizen cycle" button per rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from funnel.dashboards.charts import Chart, Tile
from funnel.dashboards.charts.quality import (
    calibration_chart,
    coverage_charts,
    difference_text,
    forest_chart,
    interval_pct,
    lab_tiles,
    lift_text,
    p_text,
    rules_chart,
    verdict_label,
    win_calls_chart,
    win_rates_chart,
)
from funnel.dashboards.content import stream_info
from funnel.dashboards.views import TABS, _csv_response, _errors_response, _role
from funnel.qualification.models import CriteriaSet, LabSnapshot
from streams.models import Job, JobState, Role, ValueStream
from streams.selectors import streams_visible_to

AT_CLOSE = "close"
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class LabViewForm(forms.Form):
    """The lab view a page shows; every field may be left out (the default view)."""

    start = forms.DateField(required=False, label="Closed from", widget=DATE)
    end = forms.DateField(required=False, label="Closed before", widget=DATE)
    as_of = forms.ChoiceField(required=False, label="As known at")

    def __init__(self, *args, steps: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["as_of"].choices = [
            ("", "Default step"),
            *[(str(pk), f"Reaching {name}") for pk, name in steps],
            (AT_CLOSE, "Closing (hindsight)"),
        ]

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "The window ends after it starts.")
        return data

    def params(self) -> dict[str, str]:
        """The view's parameters as the lab reads them (empty ones left out)."""
        data = self.cleaned_data
        values = {
            "start": data["start"].isoformat() if data.get("start") else "",
            "end": data["end"].isoformat() if data.get("end") else "",
            "as_of": data.get("as_of") or "",
        }
        return {k: v for k, v in values.items() if v}


def _lab_read(stream: ValueStream, params: dict[str, str]) -> tuple[LabSnapshot | None, Job | None]:
    """The stored lab snapshot of the view ``params`` names, or None, and the job computing
    it. Until the lab's snapshots module lands: the latest computed snapshot whose view
    matches the parameters given, and no job."""
    for snapshot in LabSnapshot.objects.filter(stream=stream, computed_at__isnull=False).order_by(
        "-computed_at"
    ):
        view = snapshot.result.get("view") or {}
        as_of = view.get("as_of")
        if (
            params.get("start", view.get("start", "")[:10]) == (view.get("start") or "")[:10]
            and params.get("end", view.get("end", "")[:10]) == (view.get("end") or "")[:10]
            and params.get("as_of", str(as_of)) == (AT_CLOSE if as_of is None else str(as_of))
        ):
            return snapshot, None
    return None, None


@dataclass
class QualityBoard:
    """What the Quality dashboard shows of one lab result."""

    result: dict
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    criteria: list[dict] = field(default_factory=list)
    myths: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)

    @property
    def computed_at(self) -> datetime | None:
        return self.charts[0].as_of if self.charts else None

    @property
    def by_key(self) -> dict[str, Chart]:
        return {c.key: c for c in self.charts}

    def chart(self, key: str) -> Chart | None:
        return self.by_key.get(key)


def quality_board(stream: ValueStream, result: dict, *, owner_id: int | None) -> QualityBoard:
    """The tiles, charts and lists of a lab ``result``; ``owner_id``: the rep whose coverage
    row alone is shown (None: every rep's)."""
    smap = stream_info(stream).smap
    charts = [
        forest_chart(result),
        win_rates_chart(result),
        calibration_chart(result),
        win_calls_chart(result),
        rules_chart(result, smap),
        *coverage_charts(result, owner_id=owner_id),
    ]
    criteria = [
        {
            **c,
            "verdict_label": verdict_label(c["verdict"]),
            "met_text": interval_pct(c["win_rate_met"]),
            "not_met_text": interval_pct(c["win_rate_not_met"]),
            "difference_text": difference_text(c["difference"]),
            "lift_text": lift_text(c["lift"]),
            "p_text": p_text(c["p"]),
            "q_text": p_text(c["q"]),
        }
        for c in result.get("criteria", [])
    ]
    rules = [
        {
            **r,
            "hours_text": f"{r['hours_after']:,.0f} h",
            "revenue_text": smap.money(r["revenue_won"]),
            "q_text": p_text(r["q"]),
        }
        for r in result.get("rules", [])
    ]
    return QualityBoard(
        result=result,
        tiles=lab_tiles(result, smap),
        charts=[c for c in charts if c is not None],
        criteria=criteria,
        myths=result.get("myths", []),
        rules=rules,
    )


def _steps(stream: ValueStream) -> list[tuple[int, str]]:
    return list(stream.steps.order_by("position").values_list("pk", "name"))


def _lab_view(request: HttpRequest, stream: ValueStream) -> tuple[LabViewForm, dict, dict]:
    """The form read from the URL, the view's parameters (the default view's when the URL
    is wrong), and the errors by field."""
    form = LabViewForm(request.GET or None, steps=_steps(stream))
    if not form.is_bound:
        return form, {}, {}
    if form.is_valid():
        return form, form.params(), {}
    errors = {name: errors[0] for name, errors in form.errors.items()}
    return form, {}, errors


def _quality_stream(request: HttpRequest, slug: str) -> tuple[ValueStream, str | None, int | None]:
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    role = _role(request, stream.team_id)
    return stream, role, request.user.pk if role == Role.REP else None


@require_GET
def quality_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, owner_id = _quality_stream(request, slug)
    form, params, errors = _lab_view(request, stream)
    query = urlencode(params)
    tabs = [
        (key, label, reverse("dashboards:board", args=[stream.slug, key]))
        for key, label in TABS
        if key != "me" or role == Role.REP
    ]
    has_criteria = CriteriaSet.objects.filter(
        stream=stream, criteria__retired_at__isnull=True
    ).exists()
    context = {
        "stream": stream,
        "title": {
            "key": "quality",
            "title": "Quality",
            "lede": "Which qualification criteria really go with winning, tested on the "
            "closed deals with intervals and without hindsight.",
        },
        "tabs": tabs,
        "tab_query": "",
        "form": form,
        "errors": errors,
        "has_criteria": has_criteria,
        "can_kaizen": role in (Role.MANAGER, "admin"),
        "lab_query": query,
        "share_url": request.build_absolute_uri(request.path + (f"?{query}" if query else "")),
    }
    snapshot, job = _lab_read(stream, params) if has_criteria else (None, None)
    if job is not None and job.state == JobState.FAILED:
        raise RuntimeError(f"Computing the lab failed: {job.error}")
    if snapshot is None and job is not None:
        context["preparing"] = job
    elif snapshot is not None:
        board = quality_board(stream, snapshot.result, owner_id=owner_id)
        for chart in board.charts:
            url = reverse("dashboards:quality_csv", args=[stream.slug, chart.key])
            chart.csv_url = url + (f"?{query}" if query else "")
        context |= {
            "board": board,
            "computed_at": board.computed_at,
            "view": snapshot.result["view"],
        }
    status = 400 if errors else 202 if "preparing" in context else 200
    return render(request, "funnel/dashboards/quality.html", context, status=status)


@require_GET
def quality_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The numbers one chart of the lab plots, as CSV, for the same view as the page."""
    stream, _, owner_id = _quality_stream(request, slug)
    _, params, errors = _lab_view(request, stream)
    if errors:
        return _errors_response(errors)
    snapshot, _ = _lab_read(stream, params)
    if snapshot is None:
        raise Http404("This lab view is not computed yet.")
    found = quality_board(stream, snapshot.result, owner_id=owner_id).chart(chart)
    if found is None:
        raise Http404("No such chart on this dashboard.")
    return _csv_response(found, f"{stream.slug}-quality-{chart}.csv")


def lab_rule(
    stream: ValueStream, *, key: str, condition: str, step_id: int, params: dict[str, str]
) -> tuple[dict, dict] | None:
    """A walk-away rule of the stream's lab view ``params`` (``start``, ``end``, ``as_of``)
    named by its criterion key, condition and step, with that view (``result["view"]``);
    None when the view is not computed or has no such rule (or ``params`` are wrong). For the
    kaizen plan a rule is turned into."""
    form = LabViewForm(params, steps=_steps(stream))
    if not form.is_valid():
        return None
    snapshot, _ = _lab_read(stream, form.params())
    if snapshot is None:
        return None
    for rule in snapshot.result.get("rules", []):
        if rule["key"] == key and rule["condition"] == condition and rule["step"] == step_id:
            return rule, snapshot.result["view"]
    return None


def deal_lab(deal) -> dict | None:
    """An open deal's win probability and the criteria that move it most, from the stream's
    default lab view when its model passed the evidence floor; None otherwise (no view, too
    few closed deals, or the deal not scored by it). One query."""
    snapshot, _ = _lab_read(deal.stream, {})
    pipeline = (snapshot.result.get("open_deals") or {}) if snapshot else {}
    entry = (pipeline.get("deals") or {}).get(str(deal.pk)) if pipeline.get("model_ok") else None
    if entry is None:
        return None
    return {
        "percent": round(100 * entry["probability"]),
        "drivers": [
            {**d, "points": f"{100 * d['effect']:+.0f} points"} for d in entry["drivers"][:3]
        ],
        "computed_at": snapshot.computed_at,
        "as_of_name": snapshot.result["view"].get("as_of_name") or "closing",
    }
