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
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts import Chart, Tile
from funnel.dashboards.charts.common import _when
from funnel.dashboards.charts.quality import (
    _computed_at,
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
from funnel.qualification.models import CriteriaSet, LabSnapshot
from funnel.qualification.snapshots import (
    AT_CLOSE,
    lab_result_for,
    lab_snapshot_result,
    lab_view_from_params,
    lab_view_read,
)
from streams.models import Role, ValueStream


class LabViewForm(forms.Form):
    """The lab view a page shows; every field may be left out (the default view)."""

    start = forms.DateField(required=False, label="Closed from", widget=pages.DATE)
    end = forms.DateField(required=False, label="Closed before", widget=pages.DATE)
    as_of = forms.ChoiceField(required=False, label="As known at")

    def __init__(self, *args, steps: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["as_of"].choices = [
            ("", "Default step"),
            *[(str(pk), f"Reaching {name}") for pk, name in steps],
            (AT_CLOSE, "Closing (hindsight)"),
        ]

    def params(self) -> dict[str, str]:
        """The view's parameters as the lab reads them (empty ones left out)."""
        data = self.cleaned_data
        values = {
            "start": data["start"].isoformat() if data.get("start") else "",
            "end": data["end"].isoformat() if data.get("end") else "",
            "as_of": data.get("as_of") or "",
        }
        return {k: v for k, v in values.items() if v}


def stored_lab(stream: ValueStream, params: dict[str, str]) -> LabSnapshot | None:
    """The computed snapshot of a lab view as stored, fresh or not, without queuing anything
    (None: never computed, or ``params`` wrong). For pages that only show what the lab has
    found: the deal page, the kaizen plan of a rule."""
    try:
        _, key, _ = lab_view_from_params(stream, params)
    except ValidationError:
        return None
    return LabSnapshot.objects.filter(
        stream=stream, view_key=key, computed_at__isnull=False
    ).first()


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


def _split_texts(split: dict) -> dict:
    """The table's texts of a split (a criterion's met split, or one of its thresholds)."""
    return {
        "met_text": interval_pct(split["win_rate_met"]),
        "not_met_text": interval_pct(split["win_rate_not_met"]),
        "difference_text": difference_text(split["difference"]),
        "lift_text": lift_text(split["lift"]),
        "p_text": p_text(split["p"]),
        "q_text": p_text(split["q"]),
    }


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
        *coverage_charts(result, own_only=owner_id is not None),
    ]
    criteria = [
        {
            **c,
            **_split_texts(c),
            "verdict_label": verdict_label(c["verdict"]),
            # The other thresholds (the met level's is the criterion's own row).
            "threshold_rows": [
                {**t, **_split_texts(t)}
                for t in c.get("thresholds", [])
                if t["label"] != c["met_label"]
            ],
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


def window_text(view: dict) -> str:
    """The window of closing dates in words, its last day included: ``6 Dec 2025 – 5 Dec
    2026`` (UTC days, as the lab counts them)."""
    start, end = (_when(view[k].replace("Z", "+00:00")) for k in ("start", "end"))
    last = end - timedelta(microseconds=1)
    return f"{start:%-d %b %Y} – {last:%-d %b %Y}"


def _steps(stream: ValueStream) -> list[tuple[int, str]]:
    return list(stream.steps.order_by("position").values_list("pk", "name"))


def _lab_view(request: HttpRequest, stream: ValueStream) -> tuple[LabViewForm, dict, dict]:
    """The form read from the URL, the view's parameters (the default view's when the URL
    is wrong), and the errors by field."""
    return pages.form_view(LabViewForm(request.GET or None, steps=_steps(stream)))


def _board(stream: ValueStream, snapshot: LabSnapshot, owner_id: int | None, query: str):
    board = quality_board(
        stream, lab_result_for(snapshot.result, rep_id=owner_id), owner_id=owner_id
    )
    pages.link_csv(board.charts, "dashboards:quality_csv", stream, query)
    return board


@require_GET
def quality_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, owner_id = pages.page_stream(request, slug)
    view = _lab_view(request, stream)
    has_criteria = CriteriaSet.objects.filter(
        stream=stream, criteria__retired_at__isnull=True
    ).exists()
    can_kaizen = role in (Role.MANAGER, "admin")

    def board(snapshot: LabSnapshot, query: str) -> dict:
        return {
            # Built only when the template renders it: the rendered board is cached per
            # snapshot, viewer and zone (``board_key``), so a repeated read skips both.
            "board": SimpleLazyObject(lambda: _board(stream, snapshot, owner_id, query)),
            "closed_deals": snapshot.result["deals"]["closed"],
            "board_key": pages.board_key(stream, snapshot, owner_id, can_kaizen, query),
            "computed_at": _computed_at(snapshot.result),
            "view": snapshot.result["view"],
            "window_text": window_text(snapshot.result["view"]),
        }

    return pages.snapshot_page(
        request,
        stream,
        role,
        view,
        "funnel/dashboards/quality.html",
        read=lab_view_read if has_criteria else None,
        board=board,
        title={
            "key": "quality",
            "title": "Quality",
            "lede": "Which qualification criteria really go with winning, tested on the "
            "closed deals with intervals and without hindsight.",
        },
        has_criteria=has_criteria,
        can_kaizen=can_kaizen,
        lab_query=urlencode(view[1]),
    )


@require_GET
def quality_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The numbers one chart of the lab plots, as CSV, for the same view as the page."""
    stream, _, owner_id = pages.page_stream(request, slug)
    return pages.chart_csv(
        request,
        stream,
        _lab_view(request, stream),
        read=lab_view_read,
        chart_of=lambda snapshot: quality_board(
            stream, lab_result_for(snapshot.result, rep_id=owner_id), owner_id=owner_id
        ).chart(chart),
        missing="This lab view is not computed yet.",
        filename=f"{stream.slug}-quality-{chart}.csv",
    )


def lab_rule(
    stream: ValueStream, *, key: str, condition: str, step_id: int, params: dict[str, str]
) -> tuple[dict, dict] | None:
    """A walk-away rule of the stream's lab view ``params`` (``start``, ``end``, ``as_of``)
    named by its criterion key, condition and step, with that view (``result["view"]``);
    None when the view is not computed or has no such rule (or ``params`` are wrong). For the
    kaizen plan a rule is turned into."""
    snapshot = stored_lab(stream, params)
    if snapshot is None:
        return None
    for rule in snapshot.result.get("rules", []):
        if rule["key"] == key and rule["condition"] == condition and rule["step"] == step_id:
            return rule, snapshot.result["view"]
    return None


def deal_lab(deal) -> dict | None:
    """An open deal's win probability and the criteria that move it most, from the stream's
    default lab view when its model passed the evidence floor; None otherwise (no view, too
    few closed deals, or the deal not scored by it). Two queries."""
    snapshot = stored_lab(deal.stream, {})
    pipeline = (lab_snapshot_result(snapshot).get("open_deals") or {}) if snapshot else {}
    entry = (pipeline.get("deals") or {}).get(str(deal.pk)) if pipeline.get("model_ok") else None
    if entry is None:
        return None
    step_model = (pipeline.get("steps") or {}).get(str(entry.get("step")))
    return {
        "percent": round(100 * entry["probability"]),
        "step_model": step_model,
        "drivers": [
            {**d, "points": f"{100 * d['effect']:+.0f} points"} for d in entry["drivers"][:3]
        ],
        "computed_at": snapshot.computed_at,
        "as_of_name": snapshot.result["view"].get("as_of_name") or "closing",
    }
