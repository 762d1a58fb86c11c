"""The lab's snapshots: a lab view is computed by a background job (``funnel.tasks.compute_lab``)
into a ``LabSnapshot`` and read from there by the pages and the API, never computed inside a
request (docs/qualification.md, "The lab").

- :func:`lab_view_from_params` reads ``start``, ``end`` and ``as_of`` into a
  :class:`~funnel.qualification.lab.LabView` and its canonical ``view_key``.
- :func:`lab_signature` sums up what a result depends on: the stream's scores, criteria, win
  calls, its recorded change of deals and visits (``MetricsState.changed_at``) and steps, and
  the day for a rolling window. A snapshot whose signature differs is *stale*.
- :func:`lab_view_read` returns the snapshot and, when it is missing or stale, the job that
  computes it (queued, or joined when one already runs for that view). A stale snapshot is
  still returned, to show while the new one is computed. With eager Celery (development,
  tests) the job has run when it returns. Nothing recomputes a view nobody reads: freshness
  is checked on read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from funnel.models import Deal, MetricsState
from funnel.qualification.lab import RESULT_FORMAT, LabView, compute_lab
from funnel.qualification.models import Criterion, CriterionScore, LabSnapshot, WinCall
from funnel.view_jobs import (
    SnapshotKind,
    param_moments,
    view_job_params,
)
from streams.ids import parse_id
from streams.models import ProcessStep, ValueStream

AT_CLOSE = "close"
#: The default window: the last 365 days, up to the end of today (UTC).
DEFAULT_DAYS = 365
LAB_JOB = "lab view"
LAB_TASK = "funnel.tasks.compute_lab"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_as_of(stream: ValueStream) -> int | None:
    """The latest known-by step among the stream's active criteria; None (at close) without."""
    return (
        Criterion.objects.filter(
            criteria_set__stream=stream, retired_at__isnull=True, known_by__isnull=False
        )
        .order_by("-known_by__position")
        .values_list("known_by_id", flat=True)
        .first()
    )


def lab_view_from_params(
    stream: ValueStream, params: Any, *, now: datetime | None = None
) -> tuple[LabView, str, bool]:
    """``(view, view_key, rolling)`` from ``start``, ``end`` (ISO dates or date-times, UTC
    unless they say otherwise; end exclusive; without both, the last 365 days up to the end
    of today) and ``as_of`` (a step id of this stream, ``close``, or empty for the default).
    A ``ValidationError`` naming each bad parameter."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    moments = param_moments(params, ("start", "end"), errors)
    rolling = moments["start"] is None and moments["end"] is None
    end = moments["end"] or datetime.combine(now.astimezone(UTC).date(), time(), UTC) + timedelta(
        days=1
    )
    start = moments["start"] or end - timedelta(days=DEFAULT_DAYS)
    if not errors and end <= start:
        errors["end"] = "The window ends after it starts."
    raw_as_of = (params.get("as_of") or "").strip()
    as_of: int | None
    if raw_as_of == AT_CLOSE:
        as_of = None
    elif not raw_as_of:
        as_of = default_as_of(stream)
    elif (as_of := parse_id(raw_as_of)) is None:
        errors["as_of"] = f"'{raw_as_of[:40]}' is not a step id nor '{AT_CLOSE}'."
    elif not ProcessStep.objects.filter(stream=stream, pk=as_of).exists():
        errors["as_of"] = f"Step {raw_as_of} is not a step of this stream."
        as_of = None
    if errors:
        raise ValidationError(errors)
    window = f"last-{DEFAULT_DAYS}d" if rolling else f"{_stamp(start)}/{_stamp(end)}"
    key = f"{window}@{AT_CLOSE if as_of is None else as_of}"
    return LabView(start=start, end=end, as_of=as_of), key, rolling


def lab_signature(stream: ValueStream, *, day: str = "") -> str:
    """What the stream's lab results depend on, hashed (``day``: today, for a rolling view)."""
    criteria = list(
        Criterion.objects.filter(criteria_set__stream=stream)
        .order_by("pk")
        .values_list(
            "pk", "key", "name", "scale", "met_level", "known_by_id", "weight", "retired_at"
        )
    )
    parts = [
        RESULT_FORMAT,
        day,
        # Scores and win calls are only added (a deal's deletion takes its own with it, and
        # changes the deals' count): the highest id says whether there are new ones.
        CriterionScore.objects.filter(criterion_id__in=[c[0] for c in criteria]).aggregate(
            last=Max("id")
        ),
        criteria,
        WinCall.objects.filter(deal__stream=stream)
        .order_by("-id")
        .values_list("id", flat=True)
        .first(),
        # Every write that changes what the lab reads of deals and visits (create, move, log
        # work, close, reopen, undo, import, an edit of amount or owner) records the stream's
        # change here (``metrics_changed``); one row, where counting the deals took 18 ms at
        # 100,000 deals.
        MetricsState.objects.filter(stream=stream).values_list("changed_at", flat=True).first(),
        list(
            ProcessStep.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "name", "planned_process_hours")
        ),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _day(rolling: bool, now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat() if rolling else ""


def lab_job_params(stream: ValueStream, view: LabView, key: str, rolling: bool) -> dict:
    """What the job computing ``view`` needs (its ``key`` names the stream and the view)."""
    return view_job_params(stream, view, key) | {"as_of": view.as_of, "rolling": rolling}


def _lab_fields(stream: ValueStream, params: dict, now: datetime) -> dict:
    view = LabView(
        start=datetime.fromisoformat(params["start"]),
        end=datetime.fromisoformat(params["end"]),
        as_of=params["as_of"],
    )
    result = compute_lab(stream, view)
    deals = (result.get("open_deals") or {}).pop("deals", {})
    return {"result": result, "open_deals": deals}


def _lab_job_signature(stream: ValueStream, params: dict, now: datetime) -> str:
    return lab_signature(stream, day=_day(params.get("rolling", False), now))


LAB = SnapshotKind(
    model=LabSnapshot,
    signature=_lab_job_signature,
    compute=_lab_fields,
    counted=lambda result: ("closed deals", result["deals"]["closed"]),
    job=LAB_JOB,
    task=LAB_TASK,
    # The open deals' probabilities are read only when asked for (lab_snapshot_result).
    defer=("open_deals",),
    view_from_params=lab_view_from_params,
    job_params=lab_job_params,
    reading="Reading the closed deals",
    storing="Storing the lab",
)


#: The snapshot of the view the parameters name and, when it is missing or stale, the job that
#: computes it (``SnapshotKind.read``); the job's body, which returns the view's closed deals.
lab_view_read = LAB.read
lab_job_run = LAB.run


def lab_snapshot_result(snapshot: LabSnapshot) -> dict:
    """The snapshot's whole result, with the open deals' probabilities (stored apart, in
    ``LabSnapshot.open_deals``) back in ``open_deals.deals``."""
    result = snapshot.result
    if "open_deals" not in result:
        return result
    # A result stored before the column existed keeps its deals inside; otherwise the column
    # (empty when no open deal got a probability).
    deals = snapshot.open_deals or result["open_deals"].get("deals") or {}
    return result | {"open_deals": result["open_deals"] | {"deals": deals}}


def lab_result_for(result: dict, *, rep_id: int | None) -> dict:
    """``result`` as a user sees it: a rep (``rep_id``) only their own row of the coverage by
    rep, only their own open deals' probabilities and the pipeline figures (expected value,
    unweighted pipeline, counts) of their own open deals; everyone else all of it."""
    if rep_id is None:
        return result
    coverage = result.get("coverage") or {}
    seen = dict(result)
    seen["coverage"] = coverage | {
        "by_rep": [r for r in coverage.get("by_rep", []) if r.get("owner") == rep_id]
    }
    open_deals = result.get("open_deals") or {}
    if open_deals:
        # The pipeline figures over the rep's own open deals only (none: zeros).
        by_owner = open_deals.get("by_owner") or {}
        own_figures = by_owner.get(str(rep_id)) or {
            "expected_value": 0.0 if open_deals.get("model_ok") else None,
            "pipeline": 0.0 if open_deals.get("model_ok") else None,
            "deals_scored": 0,
            "deals_open": 0,
            "pipeline_all": 0.0,
        }
        open_deals = {k: v for k, v in open_deals.items() if k != "by_owner"} | own_figures
        seen["open_deals"] = open_deals
    if open_deals.get("deals"):
        own = {
            str(pk)
            for pk in Deal.objects.filter(
                owner_id=rep_id, pk__in=[int(k) for k in open_deals["deals"]]
            ).values_list("pk", flat=True)
        }
        seen["open_deals"] = open_deals | {
            "deals": {k: v for k, v in open_deals["deals"].items() if k in own}
        }
    return seen
