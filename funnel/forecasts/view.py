"""One forecast view of a stream: its parameters (:class:`ForecastView`, read from a request's
parameters by :func:`forecast_view_from_params`) and every figure the Forecast dashboard, the
deals list and the cockpit show (:func:`compute_forecast`; the payload's layout is in
docs/forecasts.md "The forecast payload").

The parameters:

- ``by``: the date the wins and revenue are counted to (inclusive, in the stream's zone: its
  team's default calendar's, else UTC); default the last day of the current calendar quarter;
- ``when_wins``: N of "when will we reach N more wins?"; default what is left to the stream's
  target in its current period, else 10;
- ``as_of``: forecast as the log stood at that instant (a back-look); default now;
- ``runs``: the Monte Carlo runs, 100 to 10,000 (default 10,000).
"""

from __future__ import annotations

import hashlib
import math
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError

from funnel.eventlog.moments import date_range_error
from funnel.forecasts.model import FlowModel, TimeAxis, measure
from funnel.forecasts.outcome import FLOW, combine_outcomes, lab_note, lab_probabilities
from funnel.forecasts.pipeline import (
    BANDS,
    Bands,
    NewDeals,
    fan,
    new_deals_for,
    wins_by,
    wins_needed,
)
from funnel.forecasts.simulation import LEVELS, RUNS, DealRuns, simulate_deals
from funnel.forecasts.target import Attainment, target_attainment
from funnel.models import Deal, DealStatus
from funnel.view_jobs import param_moments, param_text
from streams.calendars.selectors import team_default_calendar
from streams.ids import parse_id
from streams.models import ProcessStep, ValueStream

#: The bounds of ``runs`` (fewer than 100 gives bands that move by whole wins between reads;
#: more than 10,000 costs memory for no visible gain).
MIN_RUNS, MAX_RUNS = 100, RUNS
#: The bound of ``when_wins``.
MAX_WINS = 10_000
#: How far ahead ``by`` may be.
MAX_AHEAD = timedelta(days=731)
#: "When N more wins" is looked for up to this far ahead; later counts as not reached.
WHEN_HORIZON = timedelta(days=365)
#: N of "when N more wins" without a target.
DEFAULT_WINS = 10
#: The version of the payload's layout (docs/forecasts.md "The forecast payload").
RESULT_FORMAT = 1


@dataclass(frozen=True)
class ForecastView:
    """A forecast's parameters; None: the default (see the module docstring)."""

    by: date | None = None
    when_wins: int | None = None
    as_of: datetime | None = None
    runs: int = RUNS
    seed: int | None = None

    @property
    def key(self) -> str:
        """The view as a canonical string: the default view's is the same whatever the day
        (its ``by`` is "the quarter's end", its ``as_of`` "now")."""
        return "|".join(
            [
                f"by={self.by.isoformat() if self.by else 'quarter'}",
                f"wins={self.when_wins or 'auto'}",
                "as_of="
                + (
                    self.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if self.as_of
                    else "now"
                ),
                f"runs={self.runs}",
            ]
        )


#: The default view's key (what the deals list and the cockpit read).
DEFAULT_KEY = ForecastView().key


def stream_zone(stream: ValueStream) -> zoneinfo.ZoneInfo:
    """The zone a stream's dates are days of: its team's default calendar's, else UTC."""
    calendar = team_default_calendar(stream.team_id)
    name = getattr(calendar, "time_zone", "") or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def quarter_end(day: date) -> date:
    """The last day of ``day``'s calendar quarter."""
    last_month = (day.month - 1) // 3 * 3 + 3
    if last_month == 12:
        return date(day.year, 12, 31)
    return date(day.year, last_month + 1, 1) - timedelta(days=1)


def monday(moment: datetime) -> date:
    """The Monday (UTC) of ``moment``'s week."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def end_of_day(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant ``day`` ends in ``zone`` (midnight after it), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def _int_param(params: Any, name: str, low: int, high: int, errors: dict) -> int | None:
    raw = param_text(params, name, errors)
    if not raw:
        return None
    value = parse_id(raw) if raw.isdigit() else None
    if value is None or not low <= value <= high:
        errors[name] = f"'{raw[:40]}' is not a whole number from {low:,} to {high:,}."
        return None
    return value


def forecast_view_from_params(
    stream: ValueStream, params: Any, *, now: datetime
) -> tuple[ForecastView, str, bool]:
    """``(view, view_key, live)`` from query parameters (``by``, ``when_wins``, ``as_of``,
    ``runs``); ``live``: the view is as of now. ``ValidationError`` naming each bad one."""
    errors: dict[str, str] = {}
    as_of = param_moments(params, ("as_of",), errors)["as_of"]
    if as_of is not None and as_of > now:
        errors["as_of"] = "The as-of instant is in the future; nothing is known about it yet."
    by: date | None = None
    raw_by = param_text(params, "by", errors)
    if raw_by:
        try:
            by = date.fromisoformat(raw_by[:10]) if len(raw_by) == 10 else None
        except ValueError:
            by = None
        if by is None:
            errors["by"] = f"'{raw_by[:40]}' is not a date (YYYY-MM-DD)."
        elif date_range_error(by):
            errors["by"] = date_range_error(by)
    when_wins = _int_param(params, "when_wins", 1, MAX_WINS, errors)
    runs = _int_param(params, "runs", MIN_RUNS, MAX_RUNS, errors) or RUNS
    if by is not None and "by" not in errors and "as_of" not in errors:
        start = (as_of or now).astimezone(stream_zone(stream)).date()
        if by < start:
            errors["by"] = f"The date {by.isoformat()} is before the forecast's day ({start})."
        elif by - start > MAX_AHEAD:
            errors["by"] = f"The date is more than {MAX_AHEAD.days} days ahead."
    if errors:
        raise ValidationError(errors)
    view = ForecastView(by=by, when_wins=when_wins, as_of=as_of, runs=runs)
    return view, view.key, as_of is None


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def bands_dict(bands: Bands) -> dict:
    """A figure across the scenarios, JSON-able (None for "never")."""
    return {
        "mean": _finite(bands.mean),
        "median": _finite(bands.median),
        "bands": {
            str(round(level * 100)): [_finite(low), _finite(high)]
            for level, (low, high) in bands.bands.items()
        },
    }


def _day(moment: datetime | None, zone: zoneinfo.ZoneInfo) -> str | None:
    return moment.astimezone(zone).date().isoformat() if moment is not None else None


def _seed(stream: ValueStream, key: str, as_of: datetime) -> int:
    """A fixed seed per stream, view and day: the same view read twice in a day repeats."""
    text = f"{stream.pk}|{key}|{as_of.astimezone(UTC).date().isoformat()}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _deal_rows(
    stream: ValueStream,
    deal_runs: DealRuns,
    sources: np.ndarray,
    axis: TimeAxis,
    zone: zoneinfo.ZoneInfo,
) -> list[dict]:
    deals = deal_runs.deals
    probability = deal_runs.win_probability()
    close = deal_runs.close_quantiles(LEVELS)
    ids = [int(i) for i in deals.deal_ids]
    info = {
        row[0]: row[1:]
        for row in Deal.objects.filter(pk__in=ids).values_list("pk", "name", "owner_id", "amount")
    }
    steps = dict(ProcessStep.objects.filter(stream=stream).values_list("pk", "name"))
    step_ids = _step_ids(stream)
    instants = axis.instants(close.ravel()) if close.size else []
    rows = []
    for i, deal_id in enumerate(ids):
        name, owner, amount = info.get(deal_id, ("", None, None))
        step = step_ids[int(deals.steps[i])]
        rows.append(
            {
                "deal": deal_id,
                "name": name,
                "owner": owner,
                "step": step,
                "step_name": steps.get(step, ""),
                "amount": float(amount) if amount is not None else None,
                "win_probability": float(probability[i]),
                "source": str(sources[i]),
                "close": {
                    str(round(level * 100)): _day(instants[i * len(LEVELS) + j], zone)
                    for j, level in enumerate(LEVELS)
                },
            }
        )
    rows.sort(key=lambda r: (-r["win_probability"], r["deal"]))
    return rows


def _step_ids(stream: ValueStream) -> list[int]:
    """Step ids in the model's order (map order, as ``measure`` lays them out)."""
    return list(
        ProcessStep.objects.filter(stream=stream)
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    )


def fan_dates(start: date, by: date) -> list[date]:
    """The fan chart's dates: a week after ``start``, then every week, and ``by`` itself."""
    out = []
    day = start + timedelta(days=7)
    while day < by:
        out.append(day)
        day += timedelta(days=7)
    out.append(by)
    return out


def _quarter(day: date, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar quarter of ``day`` in ``zone``: ``[its first instant, its end)``."""
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    return start, end_of_day(quarter_end(day), zone)


def quarter_attainment(
    stream: ValueStream,
    deal_runs: DealRuns,
    model: FlowModel,
    axis: TimeAxis,
    day: date,
    zone: zoneinfo.ZoneInfo,
    *,
    seed: int | None,
    new: NewDeals | None,
) -> Attainment | None:
    """The stream's target attainment over the calendar quarter ``day`` is in (``zone``'s),
    from these runs (:func:`~funnel.forecasts.target.target_attainment`)."""
    period_start, period_end = _quarter(day, zone)
    return target_attainment(
        stream,
        deal_runs,
        model,
        axis,
        period_start=period_start,
        period_end=period_end,
        seed=seed,
        new=new,
    )


def _target(attained: Attainment | None, zone: zoneinfo.ZoneInfo) -> dict | None:
    if attained is None:
        return None
    total = bands_dict(attained.total)
    return {
        "period_start": _day(attained.period_start, zone),
        # The period's last day (its end is the midnight after it).
        "period_end": _day(attained.period_end - timedelta(microseconds=1), zone),
        "target": attained.target,
        "won_so_far": attained.won_so_far,
        "expected": total["mean"],
        "median": total["median"],
        "probability": attained.probability,
        "bands": total["bands"],
    }


def _wins_left(attained: Attainment | None) -> int | None:
    """What is left to the period's target (None without a target, or once reached)."""
    if attained is None:
        return None
    left = attained.target - attained.won_so_far
    return left if left > 0 else None


def _outcomes(
    stream: ValueStream, deal_runs: DealRuns, model, view: ForecastView, seed: int
) -> tuple[np.ndarray, str, str]:
    """Each open deal's outcome source, the payload's ``outcome_source`` and ``lab_note``:
    the lab's calibrated probability where it has one (``combine_outcomes`` redraws those
    deals' runs in place). A forecast as of a past instant uses the flow alone: the lab's
    stored probabilities are today's, hindsight then."""
    n = len(deal_runs.deals)
    if view.as_of is not None:
        note = (
            "Win probabilities come from the measured flow: a forecast as of a past instant "
            "does not use the qualification lab, whose probabilities are today's."
        )
        return np.full(n, FLOW, dtype=object), FLOW, note
    lab = lab_probabilities(stream, deal_runs.deals, model)
    outcomes = combine_outcomes(deal_runs, lab.probability, model, seed=seed)
    return outcomes.source, outcomes.outcome_source, lab_note(lab, outcomes)


def compute_forecast(stream: ValueStream, view: ForecastView, *, now: datetime) -> dict:
    """Every figure of one forecast view (docs/forecasts.md "The forecast payload")."""
    as_of = view.as_of or now
    zone = stream_zone(stream)
    model, open_deals, axis = measure(stream, now=as_of, as_of=view.as_of)
    seed = view.seed if view.seed is not None else _seed(stream, view.key, as_of)
    deal_runs = simulate_deals(model, open_deals, runs=view.runs, seed=seed)
    sources, outcome_source, note = _outcomes(stream, deal_runs, model, view, seed + 4)
    # The new deals' simulated fresh deals, once for every figure below.
    new = new_deals_for(model, seed + 5)
    today = as_of.astimezone(zone).date()
    by = view.by or quarter_end(today)
    total = wins_by(
        deal_runs, model, axis.hours_until(end_of_day(by, zone)), seed=seed + 1, new=new
    )
    dates = fan_dates(today, by)
    hours = [axis.hours_until(end_of_day(d, zone)) for d in dates]
    fan_bands = fan(deal_runs, model, hours, seed=seed + 2, new=new)
    # The target of the quarter ``by`` is in (the current one by default).
    attained = quarter_attainment(stream, deal_runs, model, axis, by, zone, seed=seed + 6, new=new)
    n = view.when_wins or _wins_left(attained) or DEFAULT_WINS
    when = wins_needed(
        deal_runs,
        model,
        n,
        horizon_hours=axis.hours_until(as_of + WHEN_HORIZON),
        seed=seed + 3,
        new=new,
    )
    reached = axis.instants([when.likely_by[level] for level in LEVELS])
    return {
        "format": RESULT_FORMAT,
        "view": {
            "key": view.key,
            "by": view.by.isoformat() if view.by else None,
            "when_wins": view.when_wins,
            "as_of": view.as_of.isoformat() if view.as_of else None,
            "runs": view.runs,
        },
        "as_of": as_of.isoformat(),
        "zone": str(zone),
        "basis": axis.basis,
        "runs": view.runs,
        "seed": seed,
        "window": {"start": model.start.isoformat(), "end": model.end.isoformat()},
        "outcome_source": outcome_source,
        "lab_note": note,
        "open_deals": len(open_deals),
        "unresolved_runs": int(deal_runs.unresolved),
        "arrivals_per_week": _finite(model.arrivals_per_hour * 24 * 7)
        if axis.basis == "elapsed"
        else None,
        "deals": _deal_rows(stream, deal_runs, sources, axis, zone),
        "wins_by": {
            "by": by.isoformat(),
            "wins": bands_dict(total.wins),
            "revenue": bands_dict(total.revenue),
            "expected_open_wins": total.expected_open_wins,
            "expected_new_wins": total.expected_new_wins,
        },
        "fan": [
            {"date": d.isoformat(), **{k: v for k, v in bands_dict(b).items() if k != "mean"}}
            for d, b in zip(dates, fan_bands, strict=True)
        ],
        "wins_needed": {
            "n": n,
            "reached_by": {
                str(round(level * 100)): _day(reached[i], zone) for i, level in enumerate(LEVELS)
            },
            "share_reached": when.reached,
            "within_days": WHEN_HORIZON.days,
        },
        "target": _target(attained, zone),
        "track_record": None,
        "summary": model.summary(),
        "won_so_far": _won_between(stream, as_of, zone),
        "bands": [round(level * 100) for level in BANDS],
    }


def _won_between(stream: ValueStream, as_of: datetime, zone: zoneinfo.ZoneInfo) -> dict:
    """The deals won since the start of ``as_of``'s quarter up to it (what the quarter has
    already brought, beside what the forecast adds)."""
    today = as_of.astimezone(zone).date()
    first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    won = Deal.objects.filter(
        stream=stream, status=DealStatus.WON, closed_at__gte=start, closed_at__lt=as_of
    )
    amounts = [float(a) for a in won.values_list("amount", flat=True) if a is not None]
    return {"since": first.isoformat(), "wins": won.count(), "revenue": sum(amounts)}
