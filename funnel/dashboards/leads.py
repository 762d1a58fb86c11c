"""The Leads dashboard (``/dashboards/streams/<slug>/leads/``): a stream's demand waterfall,
hand-offs, pull and their wastes, read from its stored snapshot (``LeadsSnapshot``, computed
by a background job, never here: ``funnel.leads.snapshots``) and drawn by
``funnel.dashboards.charts.leads``, ``leads_pull`` and ``leads_waste``; and the CSV of each
of its charts.

Its filters are the Leads view's (docs/leads.md "Leads result"): the window (``start``,
``end``: days, ``end`` not included; default the last 90 days), the as-of day (``as_of``),
the lead ``source``, the case's ``owner`` and the time basis (``time``). A wrong one
re-renders the default view with the reason beside the field, with status 400 (the CSV
answers 400 naming it).

Who sees what: every member of the team reads the dashboard (leadership only reads). A rep
sees the stream's figures, but of the breakdowns by person (SLA by rep, prospecting and
skipped hand-offs by seller, the sellers' WIP) only their own row; they may narrow the view
to their own cases (``owner`` = themselves), and asking for another rep's is a 403, as on
the other dashboards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts import Chart, Tile
from funnel.dashboards.charts.leads import (
    as_of,
    flow_chart,
    leads_tiles,
    response_chart,
    sla_breakdown_chart,
    sla_chart,
    sla_week_chart,
    waterfall_chart,
)
from funnel.dashboards.charts.leads_pull import (
    capacity_chart,
    prospecting_chart,
    prospecting_rep_chart,
    sellers_chart,
    skipped_chart,
    skipped_rep_chart,
    verdict_text,
)
from funnel.dashboards.charts.leads_waste import (
    first_touch_chart,
    reasons_chart,
    waste_summary_chart,
)
from funnel.dashboards.content import team_reps
from funnel.dashboards.views import OWN_ONLY
from funnel.deals.forms import SOURCES
from funnel.leads.models import LeadsSnapshot, Waterfall
from funnel.leads.snapshots import leads_view_read
from streams.models import Role, ValueStream

TIME_CHOICES = [
    ("", "Default"),
    ("elapsed", "Elapsed time"),
    ("working", "Working time"),
]
#: The sections of the page, each with the charts it shows in order.
SECTIONS = (
    ("waterfall", "The waterfall", ("waterfall", "flow")),
    ("handoffs", "Hand-offs: response times", ("response",)),
    ("sla", "SLA attainment", ("sla", "sla_rep", "sla_source", "sla_week")),
    ("queue", "Ready for sales: the queue and the sellers' capacity", ("capacity", "sellers")),
    (
        "separation",
        "Prospecting apart from selling",
        ("prospecting", "prospecting_rep", "skipped", "skipped_rep"),
    ),
    ("waste", "What the hand-offs waste", ("waste_summary", "first_touch", "reasons")),
)


class LeadsViewForm(forms.Form):
    """The Leads view a page shows; every field may be left out (the default view)."""

    start = forms.DateField(required=False, label="From", widget=pages.DATE)
    end = forms.DateField(required=False, label="Before (not included)", widget=pages.DATE)
    as_of = forms.DateField(required=False, label="As of (start of day, UTC)", widget=pages.DATE)
    source = forms.ChoiceField(required=False, label="Source")
    owner = forms.ChoiceField(
        required=False,
        label="Owner",
        error_messages={"invalid_choice": "No such rep in this team."},
    )
    time = forms.ChoiceField(required=False, label="Time", choices=TIME_CHOICES)

    def __init__(self, *args, reps: list, own_id: int | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        chosen = (self.data.get("source") or "") if self.is_bound else ""
        sources = [*SOURCES, *([chosen] if chosen and chosen not in SOURCES else [])]
        self.fields["source"].choices = [
            ("", "All sources"),
            *[(s, s.capitalize()) for s in sources],
        ]
        if own_id is not None:  # a rep: everyone's cases, or their own
            self.fields["owner"].choices = [("", "Everyone"), (str(own_id), "My cases")]
        else:
            self.fields["owner"].choices = [("", "Everyone"), *[(str(p.id), p.name) for p in reps]]

    def params(self) -> dict[str, str]:
        """The view's parameters as ``leads_view_from_params`` reads them (empty ones left
        out)."""
        data = self.cleaned_data
        values = {
            "start": data["start"].isoformat() if data.get("start") else "",
            "end": data["end"].isoformat() if data.get("end") else "",
            "as_of": data["as_of"].isoformat() if data.get("as_of") else "",
            "source": data.get("source") or "",
            "owner": data.get("owner") or "",
            "time": data.get("time") or "",
        }
        return {k: v for k, v in values.items() if v}


def leads_result_for(result: dict, *, rep_id: int | None) -> dict:
    """``result`` as a user sees it: a rep (``rep_id``) only their own row of every breakdown
    by person (SLA by rep, prospecting and skipped hand-offs by seller, sellers' WIP);
    everyone else all of it."""
    if rep_id is None:
        return result

    def own(rows: list[dict], key: str) -> list[dict]:
        return [r for r in rows or [] if str(r.get(key)) == str(rep_id)]

    seen = dict(result)
    seen["sla"] = [s | {"by_rep": own(s.get("by_rep"), "key")} for s in result.get("sla") or []]
    if result.get("queue"):
        seen["queue"] = result["queue"] | {"sellers": own(result["queue"].get("sellers"), "user")}
    separation = result.get("separation") or {}
    if separation:
        seen["separation"] = separation | {
            "by_rep": own(separation.get("by_rep"), "user"),
            "skipped_by_rep": own(separation.get("skipped_by_rep"), "user"),
        }
    return seen


@dataclass
class LeadsBoard:
    """What the Leads dashboard shows of one result."""

    result: dict
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    @property
    def by_key(self) -> dict[str, Chart]:
        return {c.key: c for c in self.charts}

    def chart(self, key: str) -> Chart | None:
        return self.by_key.get(key)

    @property
    def sections(self) -> list[dict]:
        charts = self.by_key
        return [
            {"key": key, "title": title, "charts": [charts[c] for c in keys if c in charts]}
            for key, title, keys in SECTIONS
        ]

    @property
    def verdict(self) -> str:
        return verdict_text(self.result.get("queue") or {})


def leads_board(
    result: dict, *, own_only: bool = False, deal_url: Callable[[int], str] | None = None
) -> LeadsBoard:
    """The tiles and charts of a Leads ``result``; ``own_only``: the result holds only the
    viewer's own rows of the breakdowns by person (``leads_result_for``), and those charts
    say so; ``deal_url``: a deal's page, for the ping-pong examples."""
    charts = [
        waterfall_chart(result),
        flow_chart(result),
        response_chart(result),
        sla_chart(result),
        sla_breakdown_chart(result, by="by_rep", own_only=own_only),
        sla_breakdown_chart(result, by="by_source"),
        sla_week_chart(result),
        capacity_chart(result),
        sellers_chart(result, own_only=own_only),
        prospecting_chart(result),
        prospecting_rep_chart(result, own_only=own_only),
        skipped_chart(result),
        skipped_rep_chart(result, own_only=own_only),
        waste_summary_chart(result, deal_url),
        first_touch_chart(result),
        reasons_chart(result),
    ]
    return LeadsBoard(result=result, tiles=leads_tiles(result), charts=charts)


def has_leads(result: dict) -> bool:
    """Whether the view holds anything to chart: a lead created, a stage reached, a decision,
    an arrival or a lead waiting."""
    waste = result.get("waste") or {}
    return bool(
        sum(c.get("created", 0) for c in result.get("cohorts") or [])
        or any(any((w.get("reached") or {}).values()) for w in result.get("flow") or [])
        or any(h.get("n") or h.get("waiting_now") for h in result.get("response") or [])
        or (waste.get("never_touched") or {}).get("arrivals")
        or (result.get("queue") or {}).get("waiting")
    )


def _leads_view(
    request: HttpRequest, stream: ValueStream, rep_id: int | None
) -> tuple[LeadsViewForm, dict, dict]:
    """The form read from the URL, the view's parameters (the default view's when the URL is
    wrong) and the errors by field. A rep naming another rep of the team as ``owner`` is a
    403; a user who is no rep of the team is refused by name."""
    reps = team_reps(stream.team_id)
    owner = request.GET.get("owner")
    others = {str(p.id) for p in reps} - {str(rep_id)}
    if rep_id is not None and owner in others:
        raise PermissionDenied(OWN_ONLY)
    return pages.form_view(LeadsViewForm(request.GET or None, reps=reps, own_id=rep_id))


def _board(stream: ValueStream, snapshot: LeadsSnapshot, rep_id: int | None, query: str):
    board = leads_board(
        leads_result_for(snapshot.result, rep_id=rep_id),
        own_only=rep_id is not None,
        deal_url=pages.deal_url,
    )
    pages.link_csv(board.charts, "dashboards:leads_csv", stream, query)
    return board


def window_text(view: dict) -> str:
    """The window in words, its last moment's day included, in UTC: ``3 Sep – 1 Dec 2026``."""
    start = as_of({"view": {"as_of": view["start"]}})
    end = as_of({"view": {"as_of": view["end"]}})
    last = end - timedelta(microseconds=1)
    return f"{start:%-d %b %Y} – {last:%-d %b %Y} (UTC)"


def view_context(result: dict) -> dict:
    """What a page on the Leads view's filters says of a result's view: the view, its window
    in words and the moment its figures are as of."""
    return {
        "view": result["view"],
        "window_text": window_text(result["view"]),
        "as_of_at": as_of(result),
    }


@require_GET
def leads_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, rep_id = pages.page_stream(request, slug)
    view = _leads_view(request, stream, rep_id)
    has_waterfall = Waterfall.objects.filter(stream=stream).exists()

    def board(snapshot: LeadsSnapshot, query: str) -> dict:
        return {
            # Built only when the template renders it: the rendered board is cached per
            # snapshot, viewer and zone (``board_key``), so a repeated read skips it.
            "board": SimpleLazyObject(lambda: _board(stream, snapshot, rep_id, query)),
            "has_stages": bool(snapshot.result.get("stages")),
            "has_leads": has_leads(snapshot.result),
            "board_key": pages.board_key(stream, snapshot, rep_id, query),
            "computed_at": snapshot.computed_at,
            **view_context(snapshot.result),
        }

    return pages.snapshot_page(
        request,
        stream,
        role,
        view,
        "funnel/dashboards/leads.html",
        read=leads_view_read if has_waterfall else None,
        board=board,
        title={
            "key": "leads",
            "title": "Leads",
            "lede": "How leads flow from first touch to a seller: the waterfall, how fast each "
            "hand-off answers, whether marketing produces what sales can pull, and what the "
            "hand-offs waste.",
        },
        has_waterfall=has_waterfall,
        can_edit=role in (Role.MANAGER, "admin"),
    )


@require_GET
def leads_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The numbers one chart of the Leads dashboard plots, as CSV, for the same view as the
    page."""
    stream, _, rep_id = pages.page_stream(request, slug)
    return pages.chart_csv(
        request,
        stream,
        _leads_view(request, stream, rep_id),
        read=leads_view_read,
        chart_of=lambda snapshot: leads_board(
            leads_result_for(snapshot.result, rep_id=rep_id), own_only=rep_id is not None
        ).chart(chart),
        missing="This view of the Leads dashboard is not computed yet.",
        filename=f"{stream.slug}-leads-{chart}.csv",
    )
