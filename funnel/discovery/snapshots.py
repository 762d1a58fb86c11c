"""The Discovery dashboard's snapshots: a view (docs/discovery.md "Result") is computed by a
background job (``funnel.tasks.compute_discovery``) into a ``DiscoverySnapshot`` and read from
there by the page and the API, never computed inside a request, as the Leads dashboard's are.

A view's parameters are the Leads view's (``funnel.leads.snapshots.leads_view_from_params``:
``start``, ``end``, ``as_of``, ``source``, ``owner``, ``time``), so the two dashboards share a
form and a URL. The signature hashes the stream's recorded change of deals and visits, its
steps, its calendars and its accepted deviations (accepting one makes the views stale), and,
for a view as of now, the five minutes it is read in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from funnel.discovery.conformance import conformance
from funnel.discovery.graph import directly_follows, rework, variants
from funnel.discovery.log import DiscoveryView, map_steps, traces
from funnel.discovery.models import AcceptedDeviation, DiscoverySnapshot
from funnel.eventlog.working import calendar_signature
from funnel.leads.snapshots import (
    _view_of_job,
    leads_job_params,
    leads_view_from_params,
    live_signature,
    view_dict,
)
from funnel.models import MetricsState
from funnel.view_jobs import SnapshotKind
from streams.models import ProcessStep, ValueStream

#: The version of the result's layout (docs/discovery.md "Result").
RESULT_FORMAT = 1
DISCOVERY_JOB = "discovery view"
DISCOVERY_TASK = "funnel.tasks.compute_discovery"


def accepted_keys(stream_id: int) -> set[tuple[str, int | None, int | None]]:
    return set(
        AcceptedDeviation.objects.filter(stream_id=stream_id).values_list(
            "kind", "source_id", "target_id"
        )
    )


def discovery_signature(stream: ValueStream, *, tick: str = "") -> str:
    """What the stream's Discovery results depend on, hashed."""
    parts = [
        RESULT_FORMAT,
        tick,
        stream.time_basis,
        MetricsState.objects.filter(stream=stream).values_list("changed_at", flat=True).first(),
        list(
            ProcessStep.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "name", "position", "lane_id")
        ),
        sorted(accepted_keys(stream.pk), key=repr),
        calendar_signature(stream),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def compute_discovery(view: DiscoveryView) -> dict:
    """Every figure of the Discovery dashboard for ``view`` (docs/discovery.md "Result")."""
    steps = map_steps(view.stream_id)
    found = traces(view)
    return {
        "format": RESULT_FORMAT,
        "view": view_dict(view),
        "steps": [{"id": s.id, "name": s.name, "order": s.order} for s in steps],
        "graph": directly_follows(found, steps),
        "variants": variants(found),
        "rework": rework(found, steps),
        "conformance": conformance(
            found, steps, accepted=accepted_keys(view.stream_id), start=view.start, end=view.end
        ),
    }


def _compute(stream: ValueStream, params: dict, now: datetime) -> dict:
    return {"result": compute_discovery(_view_of_job(params, now))}


DISCOVERY = SnapshotKind(
    model=DiscoverySnapshot,
    signature=live_signature(discovery_signature),
    compute=_compute,
    counted=lambda result: ("deals", result["variants"]["deals"]),
    reading="Reading the deals' paths",
    storing="Storing the Discovery figures",
    job=DISCOVERY_JOB,
    task=DISCOVERY_TASK,
    view_from_params=leads_view_from_params,
    job_params=leads_job_params,
)

discovery_view_read = DISCOVERY.read
discovery_job_run = DISCOVERY.run
