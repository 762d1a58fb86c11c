"""Response times and the SLA of the Leads dashboard (docs/metrics.md §8; layout in
docs/leads.md "Leads result").

- ``response``, per hand-off: the decisions made in the window, the median, p85 and p95 of
  their response hours (linear quantiles) and their histogram in the response bins
  (``funnel.leads.bins``), in the view's basis (working: ``response_w``, the working seconds
  of the step's lane calendar); ``waiting_now``: arrivals undecided at ``as_of`` whose visit
  is still open then.
- ``sla``, per hand-off with an SLA: the arrivals entered in the window that are *due* (decided
  by ``as_of``, or undecided then and older than the SLA) and *met* (decided within it), the
  rate with its Wilson interval, by rep (the decision's actor, else the case's owner), by
  source and by week of arrival. The SLA clock is the hand-off step's lane calendar (else the
  team's default) whatever the view's basis, elapsed time where the team has no calendar
  (docs/leads.md "Decisions and the SLA clock"). An arrival whose working offsets are not
  written is not judged.

The database does the counting: percentiles with ``funnel.metrics.sql.grouped``
(``percentile_cont`` on PostgreSQL), the SLA with one ``GROUP BY`` of hand-off, rep, source
and day whose few thousand rows are summed here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from funnel.eventlog.working import step_lanes, stream_calendars
from funnel.leads.bins import EDGES
from funnel.leads.view import LeadsView
from funnel.leads.waterfall_figures import (
    DEAL,
    DECISION,
    DIGITS,
    VISIT,
    HandoffRow,
    case_filter,
    day_of,
    filtered,
    handoff_name,
    hours,
    ids_sql,
    in_window,
    rows,
    stream_handoffs,
    view_params,
    week_of_day,
    window_weeks,
)
from funnel.metrics.sql import grouped, timestamp_param
from funnel.qualification.lab_data import owner_names
from funnel.qualification.stats import wilson

RESPONSE_QUANTILES = (0.5, 0.85, 0.95)
NO_OWNER = "No owner"
NO_SOURCE = "(no source)"


# --- Response -------------------------------------------------------------------------------


def _bin_sums(column: str) -> dict[str, str]:
    """SQL sums counting the rows of each response bin (``column`` in whole seconds)."""
    out = {}
    for i, low in enumerate(EDGES):
        cond = f"{column} >= {int(low * 3600)}"
        if i + 1 < len(EDGES):
            cond += f" AND {column} < {int(EDGES[i + 1] * 3600)}"
        out[f"b{i}"] = f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"
    return out


def _histogram(counts: dict | None) -> list[dict]:
    uppers = (*EDGES[1:], None)
    return [
        {"from_hours": low, "to_hours": high, "n": int((counts or {}).get(f"b{i}") or 0)}
        for i, (low, high) in enumerate(zip(EDGES, uppers, strict=True))
    ]


def response_figures(view: LeadsView) -> list[dict]:
    """``response``: per hand-off (map order), the decisions made in the window."""
    handoffs = stream_handoffs(view.stream_id)
    if not handoffs:
        return []
    params = view_params(view)
    seconds = "hd.response_w" if view.working else "hd.response_seconds"
    join = f" JOIN {DEAL} d ON d.id = hd.deal_id" if filtered(view) else ""
    figures = grouped(
        f"SELECT hd.handoff_id AS h, {seconds} AS s, "
        f"CAST({seconds} AS DOUBLE PRECISION) / 3600.0 AS hrs FROM {DECISION} hd{join} "
        f"WHERE hd.handoff_id IN ({ids_sql([h.pk for h in handoffs])}) "
        f"AND {in_window('hd.decided_at')}{case_filter(view)}",
        params,
        by="h",
        aggregates={"n": "COUNT(*)", **_bin_sums("s")},
        percentiles={"r": ("hrs", RESPONSE_QUANTILES)},
    )
    waiting = _waiting_now(view, handoffs)
    out = []
    for h in handoffs:
        found = figures.get(h.pk) or {}
        out.append(
            {
                "handoff": h.pk,
                "name": handoff_name(h),
                "n": int(found.get("n") or 0),
                **{
                    f"{name}_hours": hours(found.get(f"r_{q}"))
                    for name, q in zip(("median", "p85", "p95"), RESPONSE_QUANTILES, strict=True)
                },
                "histogram": _histogram(found),
                "waiting_now": waiting.get(h.step_id, 0),
            }
        )
    return out


def _waiting_now(view: LeadsView, handoffs: list[HandoffRow]) -> dict[int, int]:
    """Per hand-off step: arrivals undecided at ``as_of`` whose visit is open then."""
    join = f" JOIN {DEAL} d ON d.id = v.deal_id" if filtered(view) else ""
    return dict(
        rows(
            f"SELECT v.step_id, COUNT(*) FROM {VISIT} v{join} "
            f"WHERE v.step_id IN ({ids_sql([h.step_id for h in handoffs])}) "
            "AND v.entered_at <= %(as_of)s "
            "AND (v.exited_at IS NULL OR v.exited_at > %(as_of)s) "
            f"AND NOT EXISTS (SELECT 1 FROM {DECISION} hd WHERE hd.visit_id = v.id "
            f"AND hd.decided_at <= %(as_of)s){case_filter(view)} GROUP BY v.step_id",
            view_params(view),
        )
    )


# --- SLA ------------------------------------------------------------------------------------


def _due_met(view: LeadsView, handoffs: list[HandoffRow], params: dict) -> tuple[str, str]:
    """SQL for whether an arrival (``v``, with ``hd`` its decision by ``as_of``) is due and
    whether it is met (1 or 0), on the SLA clock of its step: working seconds of the step's
    calendar, elapsed seconds where it has none."""
    calendars = stream_calendars(view.stream_id)
    lanes = step_lanes(view.stream_id)
    due, met = [], []
    for h in handoffs:
        step, limit = int(h.step_id), int(h.sla_minutes) * 60
        as_of_w = calendars.lane_w(lanes[step], view.as_of)
        if calendars.lane_key(lanes[step]) is None or as_of_w is None:
            # Elapsed: undecided and older than the SLA is entered before as_of − SLA.
            params[f"cut_{step}"] = timestamp_param(view.as_of - timedelta(seconds=limit))
            decided_due, response = "1 = 1", "hd.response_seconds"
            undecided_due = f"v.entered_at < %(cut_{step})s"
        else:
            decided_due, response = "hd.response_w IS NOT NULL", "hd.response_w"
            undecided_due = f"v.entered_w IS NOT NULL AND {as_of_w} - v.entered_w > {limit}"
        due.append(
            f"WHEN v.step_id = {step} THEN (CASE WHEN hd.id IS NOT NULL "
            f"THEN (CASE WHEN {decided_due} THEN 1 ELSE 0 END) "
            f"WHEN {undecided_due} THEN 1 ELSE 0 END)"
        )
        met.append(
            f"WHEN v.step_id = {step} AND hd.id IS NOT NULL AND {response} <= {limit} THEN 1"
        )
    return f"CASE {' '.join(due)} ELSE 0 END", f"CASE {' '.join(met)} ELSE 0 END"


def _rate(due: int, met: int) -> dict:
    found = wilson(met, due)
    value, low, high = found if found is not None else (None, None, None)
    return {
        "due": due,
        "met": met,
        "rate": None if value is None else round(value, DIGITS),
        "low": None if low is None else round(low, DIGITS),
        "high": None if high is None else round(high, DIGITS),
    }


def sla_figures(view: LeadsView) -> list[dict]:
    """``sla``: per hand-off with an SLA (map order), its arrivals entered in the window."""
    handoffs = [h for h in stream_handoffs(view.stream_id) if h.sla_minutes]
    if not handoffs:
        return []
    params = view_params(view)
    due, met = _due_met(view, handoffs, params)
    found = rows(
        f"SELECT v.step_id, COALESCE(hd.actor_id, d.owner_id), d.source, "
        f"{day_of('v.entered_at')}, SUM({due}), SUM({met}) FROM {VISIT} v "
        f"JOIN {DEAL} d ON d.id = v.deal_id "
        # A decision on an arrival entered in the window is made at or after its start.
        f"LEFT JOIN {DECISION} hd ON hd.visit_id = v.id AND hd.decided_at <= %(as_of)s "
        f"AND hd.decided_at >= %(start)s "
        f"AND hd.handoff_id IN ({ids_sql([h.pk for h in handoffs])}) "
        f"WHERE v.step_id IN ({ids_sql([h.step_id for h in handoffs])}) "
        f"AND {in_window('v.entered_at')}{case_filter(view)} GROUP BY 1, 2, 3, 4",
        params,
    )
    weeks = window_weeks(view)
    zero = (0, 0)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_rep: dict[int, dict] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    by_source: dict[int, dict] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    by_week: dict[int, dict] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for step, rep, source, day, n_due, n_met in found:
        n_due, n_met = int(n_due or 0), int(n_met or 0)
        if not n_due:
            continue
        for bucket in (
            totals[step],
            by_rep[step][rep],
            by_source[step][source or ""],
            by_week[step][week_of_day(day)],
        ):
            bucket[0] += n_due
            bucket[1] += n_met
    names = owner_names({rep for reps in by_rep.values() for rep in reps if rep is not None})
    out = []
    for h in handoffs:
        reps = [
            {
                "key": None if rep is None else str(rep),
                "label": names.get(rep, NO_OWNER) if rep else NO_OWNER,
                **_rate(*c),
            }
            for rep, c in by_rep[h.step_id].items()
        ]
        sources = [
            {"key": source, "label": source or NO_SOURCE, **_rate(*c)}
            for source, c in sorted(by_source[h.step_id].items())
        ]
        out.append(
            {
                "handoff": h.pk,
                "name": handoff_name(h),
                "sla_hours": round(h.sla_minutes / 60, DIGITS),
                **_rate(*totals.get(h.step_id, zero)),
                "by_rep": sorted(reps, key=lambda r: (r["key"] is None, r["label"], r["key"])),
                "by_source": sources,
                "by_week": [
                    {"week": week, **_rate(*by_week[h.step_id].get(week, zero))} for week in weeks
                ],
            }
        )
    return out
