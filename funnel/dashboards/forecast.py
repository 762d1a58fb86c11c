"""The Forecast dashboard (``/dashboards/streams/<slug>/forecast/``; docs/forecasts.md "The
Forecast dashboard"): how many deals and how much revenue will close by a date, when the
stream reaches N more wins, whether it is on track for its target, and each open deal's
chance and close dates, with the back-tests' track record beside every forecast. Read from
its stored snapshot (``funnel.forecasts.snapshots``, computed by a background job, never
here) and drawn by ``funnel.dashboards.charts.forecast``; the CSV of each chart.

Its filters live in the URL: ``by`` (the date the wins and revenue are counted to),
``when_wins`` (the N of "when will we reach N more wins") and ``as_of``. Every member of the
team reads the stream's forecasts; a rep's per-deal table (page, CSV and API) holds only
their own deals. Another team's stream is a 404.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts.forecast import (
    as_of,
    day_words,
    forecast_charts,
    forecast_tiles,
    track_summary,
)
from funnel.dashboards.content import team_reps
from funnel.forecasts.snapshots import read_forecast
from streams.models import ValueStream

TITLE = {
    "key": "forecast",
    "title": "Forecast",
    "lede": "How many deals and how much revenue will close by a date, when the next wins "
    "come, whether the target is in reach, and when each open deal will close: simulated "
    "from the stream's measured flow, each forecast beside its own track record.",
}
#: The charts set beside a track record, with the figures whose back-tests it shows.
FORECASTS = {"by_date": ("wins", "revenue"), "when": ("needed",), "target": ("wins",)}


class ForecastViewForm(forms.Form):
    """The forecast a page shows; every field may be left out (the default view)."""

    by = forms.DateField(
        required=False,
        label="Wins and revenue by",
        widget=pages.DATE,
        help_text="Default: the end of the quarter.",
    )
    when_wins = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        label="When will we reach … more wins",
        help_text="Default: what is left to the target, else 10.",
    )
    as_of = forms.DateField(required=False, label="As of (start of day, UTC)", widget=pages.DATE)

    def params(self) -> dict[str, str]:
        """The view's parameters as the forecast's reader takes them (empty ones left out)."""
        data = self.cleaned_data
        values = {
            "by": data["by"].isoformat() if data.get("by") else "",
            "when_wins": str(data["when_wins"]) if data.get("when_wins") else "",
            "as_of": data["as_of"].isoformat() if data.get("as_of") else "",
        }
        return {k: v for k, v in values.items() if v}


def forecast_for(result: dict, *, rep_id: int | None) -> dict:
    """``result`` as a user sees it: a rep (``rep_id``) only their own deals' rows; everyone
    else all of them. The stream's totals are the team's for every member."""
    if rep_id is None:
        return result
    return result | {"deals": [d for d in result.get("deals") or [] if d.get("owner") == rep_id]}


def owner_names(stream: ValueStream) -> dict[int, str]:
    return {person.id: person.name for person in team_reps(stream.team_id)}


def _charts(stream: ValueStream, result: dict) -> list:
    return forecast_charts(
        result,
        currency=stream.currency,
        deal_url=pages.deal_url,
        owner_names=owner_names(stream),
    )


def _board(stream: ValueStream, result: dict, query: str) -> dict:
    charts = _charts(stream, result)
    pages.link_csv(charts, "dashboards:forecast_csv", stream, query)
    by_key = {c.key: c for c in charts}
    return {
        "tiles": forecast_tiles(result, stream.currency),
        "fan": by_key["fan"],
        "track": by_key["track"],
        "backtests": by_key["backtests"],
        "forecasts": [
            (by_key[key], track_summary(result, figures, stream.currency))
            for key, figures in FORECASTS.items()
        ],
        "deals": by_key["deals"],
        # Beside the per-deal table: the close dates' back-test, else (a track record from
        # before they were back-tested) the wins'.
        "summary": track_summary(result, ("close_dates",), stream.currency)
        or track_summary(result, ("wins",), stream.currency),
    }


def _form(request: HttpRequest) -> tuple[ForecastViewForm, dict, dict]:
    return pages.form_view(ForecastViewForm(request.GET or None))


@require_GET
def forecast_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, rep_id = pages.page_stream(request, slug)

    def board(snapshot, query: str) -> dict:
        result = forecast_for(snapshot.result, rep_id=rep_id)
        return {
            "board": SimpleLazyObject(lambda: _board(stream, result, query)),
            "board_key": pages.board_key(stream, snapshot, rep_id, query),
            "computed_at": snapshot.computed_at,
            "result": result,
            "by_text": day_words((result.get("wins_by") or {}).get("by")),
            "as_of_at": as_of(result),
        }

    return pages.snapshot_page(
        request,
        stream,
        role,
        _form(request),
        "funnel/dashboards/forecast.html",
        read=read_forecast,
        board=board,
        title=TITLE,
        own_only=rep_id is not None,
    )


@require_GET
def forecast_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The rows of one chart of the Forecast dashboard, as CSV, for the same view (a rep's
    per-deal rows: their own deals only)."""
    stream, _, rep_id = pages.page_stream(request, slug)
    return pages.chart_csv(
        request,
        stream,
        _form(request),
        read=read_forecast,
        chart_of=lambda snapshot: {
            c.key: c for c in _charts(stream, forecast_for(snapshot.result, rep_id=rep_id))
        }.get(chart),
        missing="This view of the Forecast dashboard is not computed yet.",
        filename=f"{stream.slug}-forecast-{chart}.csv",
    )
