"""The Leads dashboard's snapshots: a view (docs/leads.md "Leads result") is computed by a
background job (``funnel.tasks.compute_leads``) into a ``LeadsSnapshot`` and read from there
by the pages and the API, never computed inside a request, as the lab's are
(``funnel.qualification.snapshots``).

- :func:`leads_view_from_params` reads ``start``, ``end``, ``as_of``, ``source``, ``owner``
  and ``time`` into a :class:`~funnel.leads.view.LeadsView` and its canonical ``view_key``.
- :func:`leads_signature` sums up what a result depends on: the stream's recorded change of
  deals and visits (``MetricsState.changed_at``), its latest hand-off decision, its
  waterfall, hand-offs, reasons, seller limits, steps and calendars, and, for a view "as of
  now", the five minutes it was read in (ages and waiting leads grow with the clock). A
  snapshot whose signature differs is *stale*.
- :func:`leads_view_read` returns the snapshot and, when it is missing or stale, the job that
  computes it (queued, or joined when one already runs for the view). A stale snapshot is
  still returned, to show while the new one is computed. With eager Celery (development,
  tests) the job has run when it returns.
- :func:`compute_leads` puts the parts together: ``waterfall_figures`` and ``sla_figures``
  (the waterfall, flow, response and SLA), ``capacity`` (the ready-for-sales queue),
  ``separation`` (prospecting by sellers) and ``waste``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from funnel.eventlog.working import calendar_signature
from funnel.leads.models import HANDOFF_TERMS
from funnel.leads.view import LeadsView
from funnel.metrics.engine import NO_CALENDAR, stream_basis
from funnel.models import (
    Deal,
    Handoff,
    HandoffDecision,
    HandoffReason,
    LeadsSnapshot,
    MetricsState,
    SellerLimit,
    StepWipLimit,
    Waterfall,
)
from funnel.view_jobs import (
    SnapshotKind,
    param_moments,
    param_text,
    view_job_params,
)
from streams.calendars.selectors import team_default_calendar
from streams.ids import parse_id
from streams.models import ProcessStep, TimeBasis, ValueStream

#: The version of the result's layout (docs/leads.md "Leads result").
RESULT_FORMAT = 2
#: The default window: the last 90 days up to the as-of instant (now).
DEFAULT_DAYS = 90
LEADS_JOB = "leads view"
LEADS_TASK = "funnel.tasks.compute_leads"
#: A view "as of now" is computed again at most this often while nothing else changes: its
#: ages, waiting leads and due SLAs grow with the clock (the metrics' "now" figures are
#: refreshed as often).
NOW_EVERY = timedelta(minutes=5)
SOURCE_MAX = Deal._meta.get_field("source").max_length
NOW = "now"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def leads_view_from_params(
    stream: ValueStream, params: Any, *, now: datetime | None = None
) -> tuple[LeadsView, str, bool]:
    """``(view, view_key, live)`` from the query parameters:

    - ``start``, ``end``: ISO dates or date-times (UTC unless they say otherwise), the window
      ``[start, end)``; both or neither; without them, the 90 days up to the as-of instant;
    - ``as_of``: an ISO date or date-time, not in the future; default now;
    - ``source``: a lead source; ``owner``: a user id (the case's owner);
    - ``time``: ``elapsed`` or ``working`` (default the stream's basis; ``working`` needs a
      calendar).

    ``live`` says the view is "as of now" (its key holds ``now``, its as-of instant is the
    moment it is computed). A ``ValidationError`` naming each bad parameter."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    moments = param_moments(params, ("start", "end", "as_of"), errors)
    if (moments["start"] is None) != (moments["end"] is None) and not (
        {"start", "end"} & set(errors)
    ):
        missing = "end" if moments["end"] is None else "start"
        errors[missing] = "Give both start and end, or neither (the last 90 days)."
    live = moments["as_of"] is None
    as_of = moments["as_of"] or now
    if moments["as_of"] is not None and moments["as_of"] > now:
        errors["as_of"] = "The as-of instant is in the future; nothing is known about it yet."
    rolling = moments["start"] is None and moments["end"] is None
    end = moments["end"] or as_of
    start = moments["start"] or end - timedelta(days=DEFAULT_DAYS)
    if not errors and end <= start:
        errors["end"] = "The window ends after it starts."
    source = param_text(params, "source", errors)
    if len(source) > SOURCE_MAX:
        errors["source"] = f"A lead source is at most {SOURCE_MAX} characters."
    owner_id: int | None = None
    raw_owner = param_text(params, "owner", errors)
    if raw_owner:
        owner_id = parse_id(raw_owner)
        if owner_id is None:
            errors["owner"] = f"'{raw_owner[:40]}' is not a user id (a whole number)."
        elif not get_user_model().objects.filter(pk=owner_id).exists():
            errors["owner"] = f"There is no user {owner_id}."
    basis = param_text(params, "time", errors) or stream_basis(stream)
    if basis not in TimeBasis.values:
        errors["time"] = f"'{basis[:40]}' is not a time basis; use elapsed or working."
    elif basis == TimeBasis.WORKING and team_default_calendar(stream.team_id) is None:
        errors["time"] = NO_CALENDAR
    if errors:
        raise ValidationError(errors)
    window = f"last-{DEFAULT_DAYS}d" if rolling else f"{_stamp(start)}/{_stamp(end)}"
    key = "|".join(
        [
            window,
            NOW if live else _stamp(as_of),
            basis,
            f"owner={owner_id or ''}",
            # The source last: it is the only free text, and the key's length is bounded.
            f"source={hashlib.sha256(source.encode()).hexdigest()[:16] if source else ''}",
        ]
    )
    view = LeadsView(
        stream_id=stream.pk,
        start=start,
        end=end,
        as_of=as_of,
        source=source,
        owner_id=owner_id,
        basis=basis,
    )
    return view, key, live


def _tick(live: bool, now: datetime) -> str:
    """The five minutes ``now`` is in, for a view as of now ("" otherwise)."""
    if not live:
        return ""
    return str(int(now.timestamp() // NOW_EVERY.total_seconds()))


def live_signature(
    signature: Callable[..., str], tick: Callable[[bool, datetime], str] | None = None
) -> Callable[[ValueStream, dict, datetime], str]:
    """A snapshot kind's ``signature`` from a stream's signature function
    (``signature(stream, tick=...)``): a view as of now (its job's ``as_of`` is None) is signed
    with the period ``now`` is in, so its snapshot goes stale when the next period begins.
    ``tick`` names that period (default :func:`_tick`, the five minutes)."""

    def sign(stream: ValueStream, params: dict, now: datetime) -> str:
        return signature(stream, tick=(tick or _tick)(not params.get("as_of"), now))

    return sign


def leads_signature(stream: ValueStream, *, tick: str = "") -> str:
    """What the stream's Leads results depend on, hashed (``tick``: the five minutes a view
    as of now is read in)."""
    handoffs = list(
        Handoff.objects.filter(stream=stream)
        .order_by("pk")
        .values_list("pk", "position", "step_id", *HANDOFF_TERMS)
    )
    # Decisions are only added (never edited), and ids only grow: the latest id says whether
    # there is a new one (read backwards on the primary key: no scan of the decisions). One
    # deleted goes with its visit, which records a change of visits (below).
    last = (
        HandoffDecision.objects.filter(handoff_id__in=[h[0] for h in handoffs])
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    parts = [
        RESULT_FORMAT,
        tick,
        stream.time_basis,
        last,
        # Every write of deals and visits records the stream's change here
        # (``metrics_changed``): one row.
        MetricsState.objects.filter(stream=stream).values_list("changed_at", flat=True).first(),
        list(
            Waterfall.objects.filter(stream=stream).values_list(
                "preset", "inquiry_stage", "won_stage", "recycle_step_id", "updated_at"
            )
        ),
        handoffs,
        list(
            HandoffReason.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "kind", "label", "retired_at")
        ),
        list(
            SellerLimit.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "user_id", "wip_limit", "updated_at")
        ),
        list(
            StepWipLimit.objects.filter(step__stream=stream)
            .order_by("pk")
            .values_list("pk", "wip_limit")
        ),
        list(
            ProcessStep.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "name", "position", "lane_id", "planned_process_hours")
        ),
        calendar_signature(stream),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def leads_job_params(stream: ValueStream, view: LeadsView, key: str, live: bool) -> dict:
    """What the job computing ``view`` needs (its ``key`` names the stream and the view)."""
    return view_job_params(stream, view, key) | {
        "as_of": None if live else view.as_of.isoformat(),
        "rolling": key.startswith("last-"),
        "source": view.source,
        "owner": view.owner_id,
        "basis": view.basis,
    }


def _view_of_job(params: dict, now: datetime) -> LeadsView:
    """The view a job computes: a view as of now is computed as of the moment it runs (and a
    rolling one for the 90 days up to then)."""
    as_of = datetime.fromisoformat(params["as_of"]) if params.get("as_of") else now
    if params.get("rolling"):
        end, start = as_of, as_of - timedelta(days=DEFAULT_DAYS)
    else:
        start = datetime.fromisoformat(params["start"])
        end = datetime.fromisoformat(params["end"])
    return LeadsView(
        stream_id=params["stream"],
        start=start,
        end=end,
        as_of=as_of,
        source=params.get("source") or "",
        owner_id=params.get("owner"),
        basis=params.get("basis") or TimeBasis.ELAPSED,
    )


def _created(result: dict) -> int:
    return sum(c["created"] for c in result.get("cohorts", []))


LEADS = SnapshotKind(
    model=LeadsSnapshot,
    signature=live_signature(leads_signature),
    compute=lambda stream, params, now: {"result": compute_leads(_view_of_job(params, now))},
    counted=lambda result: ("cases created", _created(result)),
    reading="Reading the leads",
    storing="Storing the Leads figures",
    job=LEADS_JOB,
    task=LEADS_TASK,
    view_from_params=leads_view_from_params,
    job_params=leads_job_params,
)


#: The snapshot of the view the parameters name and, when it is missing or stale, the job that
#: computes it (``SnapshotKind.read``); the job's body, which returns the cases created in the
#: view's window.
leads_view_read = LEADS.read
leads_job_run = LEADS.run


def view_dict(view: LeadsView) -> dict:
    return {
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "as_of": view.as_of.isoformat(),
        "source": view.source,
        "owner": view.owner_id,
        "basis": view.basis,
    }


#: How many parts of a result are computed at once on PostgreSQL (each on a connection of
#: its own): their queries overlap one another's numpy work and round trips.
PARALLEL_PARTS = 3


def _on_own_connection(function: Callable[[], Any]) -> Any:
    try:
        return function()
    finally:
        connection.close()  # this thread's connection: Django's connections are per thread


def compute_leads(view: LeadsView) -> dict:
    """Every figure of the Leads dashboard for ``view`` (docs/leads.md "Leads result").

    On PostgreSQL, outside a transaction, the parts run side by side on connections of their
    own (``PARALLEL_PARTS`` at a time); inside one (a test), whose rows another connection
    would not see, and on SQLite, one after the other."""
    # The parts are imported here: each module reads the tables it needs, and the queue,
    # separation and waste parts are written beside this one.
    from funnel.leads.capacity import queue_figures
    from funnel.leads.separation import separation_figures
    from funnel.leads.sla_figures import response_figures, sla_figures
    from funnel.leads.waste import waste_figures
    from funnel.leads.waterfall_figures import cohort_figures, flow_figures, stages

    stage_list = stages(view.stream_id)
    parts: dict[str, Callable[[], Any]] = {
        # The longest first, so that the last to start are short.
        "cohorts": partial(cohort_figures, view, stage_list),
        "queue": partial(queue_figures, view),
        "waste": partial(waste_figures, view),
        "sla": partial(sla_figures, view),
        "separation": partial(separation_figures, view),
        "response": partial(response_figures, view),
        "flow": partial(flow_figures, view, stage_list),
    }
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        found = {name: part() for name, part in parts.items()}
    else:
        with ThreadPoolExecutor(max_workers=PARALLEL_PARTS) as pool:
            pending = {name: pool.submit(_on_own_connection, part) for name, part in parts.items()}
            found = {name: future.result() for name, future in pending.items()}
    return {
        "format": RESULT_FORMAT,
        "view": view_dict(view),
        "stages": stage_list,
        **{
            name: found[name]
            for name in ("cohorts", "flow", "response", "sla", "queue", "separation", "waste")
        },
    }
