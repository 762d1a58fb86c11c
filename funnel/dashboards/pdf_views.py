"""The "Download PDF" of every dashboard (``…/pdf/``), for the same view as the page
(docs/pdf.md). Each reads exactly what its page reads, with the page's permissions (another
team's stream is a 404, a rep naming another rep a 403), and hands the figures to
``funnel.dashboards.pdf``. A wrong filter is a 400 naming it; figures not computed yet are a
202 page that says so (the job computing them is started or joined, as the page does);
nothing is ever a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from funnel.dashboards import discovery, forecast, leads, quality, views
from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts.discovery import discovery_charts, discovery_tiles
from funnel.dashboards.charts.forecast import day_words, forecast_tiles, track_summary
from funnel.dashboards.content import BOARDS, TITLES, board_queries, team_board, team_reps
from funnel.dashboards.pdf import PdfDocument, PdfTable, chart_table, not_ready, pdf_response
from funnel.discovery.drawing import graph_svg
from funnel.discovery.snapshots import discovery_view_read
from funnel.forecasts.snapshots import read_forecast
from funnel.leads.models import Waterfall
from funnel.leads.snapshots import leads_view_read
from funnel.metrics.query import AMOUNT_BANDS
from funnel.qualification.models import CriteriaSet
from funnel.qualification.snapshots import lab_result_for, lab_view_read
from streams.models import Job, JobState, ValueStream
from streams.selectors import teams_visible_to

COMPUTING = (
    "The figures of this view are being computed in the background. Download the PDF again "
    "in a moment (the dashboard shows a progress bar meanwhile)."
)
FAILED = "Computing the figures of this view failed; the dashboard says why. Nothing to print."
#: The title of each snapshot dashboard's PDF, by its page's key.
TITLES_OF = {
    "quality": "Quality",
    "leads": "Leads",
    "discovery": "Discovery",
    "forecast": "Forecast",
}


def _stream_filter_pairs(filters, *, team_id: int, lanes, own_only: bool):
    values = filters.values
    reps = {str(p.id): p.name for p in team_reps(team_id)}
    pairs = [("Period", filters.period.label)]
    if values.get("owner"):
        pairs.append(("Rep", reps.get(values["owner"], values["owner"])))
    if values.get("owner_name"):
        pairs.append(("Owner (imported)", values["owner_name"]))
    if values.get("lane"):
        pairs.append(("Lane", {str(x.id): x.name for x in lanes}.get(values["lane"], "")))
    if values.get("source"):
        pairs.append(("Source", values["source"]))
    if values.get("amount_band") in AMOUNT_BANDS:
        pairs.append(("Deal size", AMOUNT_BANDS[values["amount_band"]].label))
    basis = "working time" if filters.basis == "working" else "elapsed (calendar) time"
    pairs.append(("Durations in", basis))
    if own_only:
        pairs.append(("Deals", "your own only"))
    return pairs


def _figures_or_page(request: HttpRequest, queries, *, team_id: int, title, subject, back):
    """None when the figures are stored (or were computed just now), else the page that
    says they are being computed, or that computing them failed."""
    try:
        stamp = views._stamp_or_job(request, queries, team_id=team_id)
    except RuntimeError:  # the job computing them failed
        return not_ready(
            request, title=title, subject=subject, message=FAILED, status=503, back=back
        )
    if isinstance(stamp, Job):
        return not_ready(request, title=title, subject=subject, message=COMPUTING, back=back)
    return None


@require_GET
def board_pdf(request: HttpRequest, slug: str, board: str) -> HttpResponse:
    """The Funnel, Flow, Waste dashboard or My view of a stream as one PDF."""
    if board not in BOARDS:
        raise Http404("No such dashboard.")
    stream = get_object_or_404(views.streams_visible_to(request.user), slug=slug)
    _, own_only, info, filters, errors, _ = views._stream_filters(request, stream, board)
    if errors:
        return views._errors_response(errors)
    title = TITLES[board]["title"]
    query = views._querystring(filters, own_only=own_only)
    back = reverse("dashboards:board", args=[stream.slug, board]) + (f"?{query}" if query else "")
    waiting = _figures_or_page(
        request,
        board_queries(board, filters),
        team_id=stream.team_id,
        title=title,
        subject=stream.name,
        back=back,
    )
    if waiting is not None:
        return waiting
    page = BOARDS[board](stream, info, filters, now=timezone.now())
    result = page.result
    document = PdfDocument(
        title=title,
        subject=stream.name,
        team=stream.team.name,
        lede=page.lede,
        period=views._period_text(filters, result.window_start, result.window_end),
        filters=_stream_filter_pairs(
            filters, team_id=stream.team_id, lanes=info.lanes, own_only=own_only
        ),
        computed_at=result.computed_at,
        stale=result.stale,
        tiles=page.tiles,
        tables=[chart_table(c) for c in page.charts],
        notes=page.notes,
        filename=f"{stream.slug}-{board}.pdf",
    )
    return pdf_response(request, document)


@require_GET
def team_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    """A team's dashboard (its streams side by side) as one PDF."""
    team = get_object_or_404(teams_visible_to(request.user), slug=slug)
    _, own_only, filters, errors, _, streams = views._team_filters(request, team)
    if errors:
        return views._errors_response(errors)
    if streams:
        queries = [
            replace(q, stream_id=s.pk) for s in streams for q in (filters.query, filters.previous)
        ]
        waiting = _figures_or_page(
            request,
            queries,
            team_id=team.pk,
            title="Team",
            subject=team.name,
            back=reverse("dashboards:team", args=[team.slug]),
        )
        if waiting is not None:
            return waiting
    page = team_board(team, streams, filters, now=timezone.now())
    first = page.streams[0].result if page.streams else None
    headline = PdfTable(
        title="Headline figures of each stream",
        columns=["Stream", "Win rate", "Closed", "Sales cycle (d)", "Open deals", "New deals"],
        rows=[
            [
                entry.name,
                "—"
                if entry.result.summary.deals_win_rate is None
                else f"{100 * entry.result.summary.deals_win_rate:.0f}%",
                str(entry.result.summary.deals_closed),
                "—"
                if entry.result.summary.sales_cycle_days is None
                else f"{entry.result.summary.sales_cycle_days:.1f}",
                str(entry.result.summary.open_deals),
                str(entry.result.cohort_deals),
            ]
            for entry in page.streams
        ],
        empty="" if page.streams else "This team has no current-state stream.",
    )
    headline.total_rows = len(headline.rows)
    document = PdfDocument(
        title="Team",
        subject=team.name,
        team=team.name,
        lede="The current-state streams of the team side by side.",
        period=views._period_text(filters, first.window_start, first.window_end) if first else "",
        filters=_stream_filter_pairs(filters, team_id=team.pk, lanes=[], own_only=own_only),
        computed_at=first.computed_at if first else None,
        stale=bool(first and first.stale),
        tiles=page.tiles,
        tables=[headline, *[chart_table(c) for c in page.charts]],
        filename=f"{team.slug}-team.pdf",
    )
    return pdf_response(request, document)


def form_pairs(form: forms.Form, params: dict[str, str]) -> list[tuple[str, str]]:
    """The view's parameters as (label, value) pairs, a choice by its label."""
    pairs = []
    for name, value in params.items():
        field = form.fields.get(name)
        if field is None:
            continue
        choices = dict(getattr(field, "choices", None) or [])
        pairs.append((str(field.label or name), str(choices.get(value, value))))
    return pairs


def _snapshot_or_page(request, stream, snapshot, job, *, title: str, back: str):
    if snapshot is not None:
        return None
    if job is not None and job.state == JobState.FAILED:
        return not_ready(
            request, title=title, subject=stream.name, message=FAILED, status=503, back=back
        )
    return not_ready(request, title=title, subject=stream.name, message=COMPUTING, back=back)


def _snapshot_document(
    stream: ValueStream, *, title: str, lede: str, form, params, window: str, snapshot, **kw
):
    return PdfDocument(
        title=title,
        subject=stream.name,
        team=stream.team.name,
        lede=lede,
        period=window,
        filters=form_pairs(form, params),
        computed_at=snapshot.computed_at,
        filename=f"{stream.slug}-{title.lower()}.pdf",
        **kw,
    )


def _snapshot_pdf(
    request: HttpRequest,
    stream: ValueStream,
    view: tuple[forms.Form, dict, dict],
    *,
    key: str,
    read,
    document: Callable[[Any], dict],
    missing: str = "",
) -> HttpResponse:
    """The PDF of a snapshot dashboard (its page: ``dashboards:key``) for the view the ``view``
    form's parameters name (``pages.form_view``): 400 naming a wrong filter; 404 saying
    ``missing`` when the stream has nothing to print (no ``read``); the page saying the
    figures are being computed or failed; else the document, titled as the page, of the
    stored snapshot (``document(snapshot)``: its lede, window, tiles, tables and notes)."""
    form, params, errors = view
    if errors:
        return views._errors_response(errors)
    title = TITLES_OF[key]
    back = reverse(f"dashboards:{key}", args=[stream.slug]) + _q(params)
    if read is None:
        return not_ready(
            request, title=title, subject=stream.name, message=missing, status=404, back=back
        )
    snapshot, answer = _stored(read, request, stream, params, title=title, back=back)
    if answer is not None:
        return answer
    return pdf_response(
        request,
        _snapshot_document(
            stream, title=title, form=form, params=params, snapshot=snapshot, **document(snapshot)
        ),
    )


@require_GET
def quality_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    """The Quality dashboard (the qualification lab) as one PDF."""
    stream, _, owner_id = pages.page_stream(request, slug)
    view = quality._lab_view(request, stream)
    criteria = CriteriaSet.objects.filter(stream=stream, criteria__retired_at__isnull=True)
    return _snapshot_pdf(
        request,
        stream,
        view,
        key="quality",
        read=lab_view_read if criteria.exists() else None,
        document=lambda snapshot: _quality_document(stream, owner_id, snapshot),
        missing="This stream has no qualification criteria, so the lab has nothing to print.",
    )


def _quality_document(stream: ValueStream, owner_id: int | None, snapshot) -> dict:
    board = quality.quality_board(
        stream, lab_result_for(snapshot.result, rep_id=owner_id), owner_id=owner_id
    )
    criteria = PdfTable(
        title="Each criterion, met and not met",
        how_to_read="Win rates with their 95 % intervals and the deals behind them (n); q is "
        "Fisher's p corrected for testing every criterion at once.",
        columns=["Criterion", "Met", "n", "Not met", "n", "Difference", "Lift", "q", "Verdict"],
        rows=[
            [
                c["name"],
                c["met_text"],
                str(c["n_met"]),
                c["not_met_text"],
                str(c["n_not_met"]),
                c["difference_text"],
                c["lift_text"],
                c["q_text"],
                c["verdict_label"],
            ]
            for c in board.criteria
        ],
        empty="" if board.criteria else "No criterion was scored on the closed deals.",
    )
    criteria.total_rows = len(criteria.rows)
    return {
        "lede": "Which qualification criteria really go with winning, tested on the closed "
        "deals with intervals and without hindsight.",
        "window": "Deals closed " + quality.window_text(snapshot.result["view"]),
        "tiles": board.tiles,
        "tables": [criteria, *[chart_table(c) for c in board.charts]],
        "notes": [m["text"] for m in board.myths],
    }


def _q(params: dict) -> str:
    query = urlencode(params)
    return f"?{query}" if query else ""


def _stored(read, request, stream, params, *, title: str, back: str):
    """``(snapshot, None)``: the stored snapshot of the view; or ``(None, answer)``: the 400
    naming a parameter the snapshot's engine refuses, or the page saying the figures are
    being computed or failed."""
    try:
        snapshot, job = read(stream, params, user=request.user)
    except ValidationError as exc:
        return None, views._errors_response(pages.field_errors(exc))
    return snapshot, _snapshot_or_page(request, stream, snapshot, job, title=title, back=back)


@require_GET
def leads_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    """The Leads dashboard as one PDF."""
    stream, _, rep_id = pages.page_stream(request, slug)
    view = leads._leads_view(request, stream, rep_id)

    def document(snapshot) -> dict:
        board = leads.leads_board(
            leads.leads_result_for(snapshot.result, rep_id=rep_id), own_only=rep_id is not None
        )
        return {
            "lede": "How leads flow from first touch to a seller: the waterfall, how fast each "
            "hand-off answers, whether marketing produces what sales can pull, and what the "
            "hand-offs waste.",
            "window": leads.window_text(snapshot.result["view"]),
            "tiles": board.tiles,
            "tables": [chart_table(c) for c in board.charts],
            "notes": [board.verdict] if board.verdict else [],
        }

    has_waterfall = Waterfall.objects.filter(stream=stream).exists()
    return _snapshot_pdf(
        request,
        stream,
        view,
        key="leads",
        read=leads_view_read if has_waterfall else None,
        document=document,
        missing="This stream has no lead waterfall, so the Leads dashboard has nothing to print.",
    )


@require_GET
def discovery_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    """The Discovery dashboard as one PDF, its graph drawn (our own SVG)."""
    stream, _, rep_id = pages.page_stream(request, slug)

    def document(snapshot) -> dict:
        result = snapshot.result
        tables = []
        for chart in discovery_charts(result, pages.deal_url):
            table = chart_table(chart)
            if chart.key == "graph" and result["graph"]["edges"]:
                table.svg = mark_safe(graph_svg(result))  # our own markup, every name escaped
            tables.append(table)
        return {
            "lede": discovery.TITLE["lede"],
            "window": leads.window_text(result["view"]),
            "tiles": discovery_tiles(result),
            "tables": tables,
        }

    view = leads._leads_view(request, stream, rep_id)
    return _snapshot_pdf(
        request, stream, view, key="discovery", read=discovery_view_read, document=document
    )


@require_GET
def forecast_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    """The Forecast dashboard as one PDF: each forecast with its back-tests' track record in
    words (how many, the typical error, whether the bands held)."""
    stream, _, rep_id = pages.page_stream(request, slug)
    return _snapshot_pdf(
        request,
        stream,
        forecast._form(request),
        key="forecast",
        read=read_forecast,
        document=lambda snapshot: _forecast_document(stream, rep_id, snapshot),
    )


def _forecast_document(stream: ValueStream, rep_id: int | None, snapshot) -> dict:
    result = forecast.forecast_for(snapshot.result, rep_id=rep_id)
    notes = []
    for chart_key, figures in forecast.FORECASTS.items():
        summary = track_summary(result, figures, stream.currency)
        label = {"by_date": "Wins and revenue by the date", "when": "When N more wins"}.get(
            chart_key, "Target attainment"
        )
        if summary is None:
            notes.append(f"{label}: no back-test yet.")
            continue
        error = f"; typical error {summary['typical_error']}" if summary["typical_error"] else ""
        notes.append(
            f"{label}: {summary['count']} back-tests{error}. {summary['verdicts']}".strip()
        )
    by = (result.get("wins_by") or {}).get("by")
    return {
        "lede": forecast.TITLE["lede"],
        "window": f"Wins and revenue by {day_words(by)}" if by else "",
        "tiles": forecast_tiles(result, stream.currency),
        "tables": [chart_table(c) for c in forecast._charts(stream, result)],
        "notes": notes,
    }
