"""Usage against outcome on the pages (docs/assets.md, "Usage and outcome"): the asset page's
"Does it go with winning?" section and the library's "Usage and outcome" report
(``/assets/outcomes/``). The figures are ``funnel.assets.outcomes``'; this module only words
and draws them (the chart is a Plotly spec in the page as JSON, drawn by
``static/js/run_chart.js``: no inline script under the CSP)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from funnel.assets import outcomes, selectors
from funnel.assets.models import Asset
from funnel.assets.outcomes import Outcome, Side
from funnel.dashboards.charts.common import BLUE, FONT, GREY, GRID, INK
from funnel.dashboards.charts.quality import difference_text, interval_pct, p_text
from funnel.metrics.query import WORKING
from funnel.qualification.stats import MIN_SIDE

VERDICTS = {
    "too_few": "Not enough deals yet",
    "higher": "Won more often where it was used",
    "lower": "Won less often where it was used",
    "no_clear_difference": "No clear difference",
}


def _days_text(outcome: Outcome, side: Side) -> str:
    days = outcome.median_days(side)
    if days is None:
        return f"— (n = {side.time_n})"
    return f"{days:.1f} (n = {side.time_n})"


def shown(outcome: Outcome | None) -> dict | None:
    """An outcome in words for a table row; None for an asset on no step."""
    if outcome is None:
        return None
    verdict = outcome.verdict
    if verdict == "too_few":
        why = (
            f"Each side needs at least {MIN_SIDE} closed deals before we say anything "
            f"({outcome.used.n} with it, {outcome.other.n} without)."
        )
    elif verdict == "no_clear_difference":
        why = "The difference could be chance (Fisher's p ≥ 0.05)."
    else:
        why = "Unlikely to be chance alone (Fisher's p < 0.05), but still not proof of cause."
    return {
        "with": interval_pct(outcome.used.win_rate),
        "without": interval_pct(outcome.other.win_rate),
        "n_with": outcome.used.n,
        "n_without": outcome.other.n,
        "difference": difference_text(outcome.difference) if not outcome.too_few else "—",
        "p": p_text(outcome.p_value),
        "days_with": _days_text(outcome, outcome.used),
        "days_without": _days_text(outcome, outcome.other),
        "basis": "working days" if outcome.basis == WORKING else "calendar days",
        "verdict": verdict,
        "verdict_text": VERDICTS[verdict],
        "why": why,
    }


def chart_spec(outcome: Outcome | None) -> dict | None:
    """The win rate with and without the asset, each a point with its Wilson interval; None
    until both sides have a closed deal."""
    if outcome is None or not outcome.used.n or not outcome.other.n:
        return None
    sides = [
        (f"Used (n = {outcome.used.n})", outcome.used.win_rate, BLUE),
        (f"Not used (n = {outcome.other.n})", outcome.other.win_rate, GREY),
    ]
    rates = [rate for _, rate, _ in sides]
    values = [100 * rate["value"] for rate in rates]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": values,
                "y": [label for label, _, _ in sides],
                "marker": {"color": [c for *_, c in sides], "size": 12},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [100 * r["high"] - v for r, v in zip(rates, values, strict=True)],
                    "arrayminus": [v - 100 * r["low"] for r, v in zip(rates, values, strict=True)],
                    "color": INK,
                },
                "hovertemplate": "%{y}: %{x:.0f} % won<extra></extra>",
            }
        ],
        "layout": {
            "font": FONT,
            "height": 170,
            "margin": {"l": 140, "r": 16, "t": 8, "b": 40},
            "plot_bgcolor": "#fff",
            "paper_bgcolor": "#fff",
            "showlegend": False,
            "xaxis": {
                "range": [0, 100],
                "ticksuffix": " %",
                "gridcolor": GRID,
                "color": INK,
                "title": {"text": "closed deals won, 95 % interval"},
            },
            "yaxis": {"color": INK, "autorange": "reversed"},
        },
    }


def window_fields(params) -> tuple[outcomes.Window, dict]:
    """A report page's window of closing dates (``start`` and ``end`` of ``params``; the
    default window when one is wrong) and the fields of its form: ``window``, ``start`` and
    ``end`` as they were given (else the window's) and ``errors``, the reasons by field."""
    errors: dict[str, list[str]] = {}
    try:
        window = outcomes.window_from(params)
    except ValidationError as exc:
        errors, window = exc.message_dict, outcomes.default_window()
    given = window.params() | {k: params[k] for k in ("start", "end") if k in params}
    return window, {"window": window, **given, "errors": errors}


def asset_section(asset: Asset, params) -> dict:
    """The asset page's "Does it go with winning?" section over the window of ``params``
    (``start``, ``end``; the default window when they are left out or wrong)."""
    try:
        window, wrong = outcomes.window_from(params), False
    except ValidationError:
        window, wrong = outcomes.default_window(), True
    found = outcomes.asset_outcome(asset, window)
    return {
        "window": window,
        "wrong_window": wrong,
        "usage": outcomes.asset_usage(asset, window),
        "outcome": found,
        "shown": shown(found),
        "spec": chart_spec(found),
        "min_side": MIN_SIDE,
    }


def outcomes_page(request: HttpRequest) -> HttpResponse:
    """The library's "Usage and outcome" report of a team (``?team=``, ``start``, ``end``).
    A wrong date shows the default window with the reason beside the field (400)."""
    teams = selectors.library_teams(request.user)
    wanted = request.GET.get("team")
    team = next((t for t in teams if str(t.pk) == wanted), teams[0] if teams else None)
    window, fields = window_fields(request.GET)
    report = outcomes.team_report(team, window, request.user) if team else None
    rows = []
    if report:
        rows = [r | {"shown": shown(r["outcome"])} for r in report.assets]
    return render(
        request,
        "funnel/assets/outcomes.html",
        {
            "teams": teams,
            "team": team,
            **fields,
            "report": report,
            "rows": rows,
            "min_side": MIN_SIDE,
        },
        status=400 if fields["errors"] else 200,
    )
