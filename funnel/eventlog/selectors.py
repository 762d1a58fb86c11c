"""Reads of deals and visits, and who may see or change a deal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    Count,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from funnel.metrics.query import ELAPSED, LOW_SAMPLE, ROLLING_KEY, WORKING, MetricsQuery
from funnel.metrics.snapshots import metrics_stored
from funnel.models import Deal, DealEvent, DealEventKind, DealStatus, StepSnapshot, Visit
from streams.calendars.selectors import team_default_calendar
from streams.metrics import MapSummary, MeasuredMap, StepFigures
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import (
    User,
    role_in_team,
    stream_can_edit,
    streams_visible_to,
    team_ids_with_role,
)


def deals_visible_to(user: User) -> QuerySet[Deal]:
    """Managers and leadership see the deals of their teams; reps only their own."""
    deals = Deal.objects.select_related("stream", "stream__team", "owner")
    if not user.is_authenticated:
        return deals.none()
    if user.is_staff:
        return deals
    whole_team = team_ids_with_role(user, (Role.MANAGER, Role.LEADERSHIP))
    as_rep = team_ids_with_role(user, (Role.REP,))
    return deals.filter(
        Q(stream__team_id__in=whole_team) | Q(stream__team_id__in=as_rep, owner=user)
    )


def deal_can_edit(*, user: User, deal: Deal) -> bool:
    """Admins, managers of the deal's team, and the rep who owns it."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    role = role_in_team(user, deal.stream.team_id)
    return role == Role.MANAGER or (role == Role.REP and deal.owner_id == user.pk)


def visits_visible_to(user: User) -> QuerySet[Visit]:
    return Visit.objects.filter(deal__in=deals_visible_to(user)).select_related("step", "actor")


def deal_path(*, deal: Deal) -> list[Visit]:
    """The deal's visits in the order it made them (metrics.md §1)."""
    return list(
        deal.visits.select_related("step", "step__lane", "actor").order_by("entered_at", "id")
    )


def deal_open_visit(*, deal: Deal) -> Visit | None:
    return deal.visits.select_related("step").filter(exited_at__isnull=True).first()


def open_deal_counts(*, user: User, stream_ids: list[int]) -> dict[int, int]:
    """Open deals per stream that ``user`` may see (a rep's own, a manager's whole team)."""
    return dict(
        deals_visible_to(user)
        .filter(stream_id__in=stream_ids, status=DealStatus.OPEN)
        .order_by()
        .values_list("stream_id")
        .annotate(n=Count("id"))
        .values_list("stream_id", "n")
    )


def measured_map(stream: ValueStream, basis: str = ELAPSED) -> MeasuredMap | None:
    """The measured figures of ``stream``'s steps (the map's "measured" column) from the
    rolling default window's snapshot in ``basis`` (elapsed when the team has no calendar);
    None until the metrics engine has run."""
    if basis == WORKING and team_default_calendar(stream.team_id) is None:
        basis = ELAPSED
    result = metrics_stored(MetricsQuery(stream_id=stream.pk, basis=basis))
    if result is None:
        return None
    steps = {
        s.step_id: StepFigures(
            process_hours=s.median_work_hours,
            lead_hours=s.median_hours,
            pct_complete_accurate=_percent(s.pct_complete_accurate),
            wip=s.wip_now,
            n=s.n_completed,
            low_sample=s.n_completed < LOW_SAMPLE,
        )
        for s in result.steps
        if s.n_completed or s.n_entered or s.n_open
    }
    summary = MapSummary(
        lead_time_hours=result.summary.lead_time_hours or 0.0,
        process_time_hours=result.summary.process_time_hours or 0.0,
        activity_ratio=result.summary.activity_ratio,
        rolled_pct_complete_accurate=_percent(result.summary.rolled_pct_complete_accurate),
        takt_hours=stream.planned_takt_hours,
        steps=len(steps),
    )
    return MeasuredMap(
        computed_at=result.computed_at,
        window_start=result.window_start,
        window_end=result.window_end,
        steps=steps,
        summary=summary,
        basis=basis,
    )


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def stall_thresholds(step_ids: list[int]) -> dict[int, float]:
    """Hours after which an open visit counts as stalled, per step (metrics.md §2 ``stalled``):
    the step's measured p85 time in step over the rolling default window, or, until the
    metrics engine has measured it, the step's planned lead time."""
    thresholds = dict(
        ProcessStep.objects.filter(pk__in=step_ids).values_list("pk", "planned_lead_hours")
    )
    measured = StepSnapshot.objects.filter(
        step_id__in=step_ids, snapshot__window_key=ROLLING_KEY, snapshot__filter_key=""
    ).values_list("step_id", "figures")
    for step_id, figures in measured:
        if figures.get("p85_hours") is not None:
            thresholds[step_id] = figures["p85_hours"]
    return thresholds


def deal_owner_choices(team_ids: Iterable[int]) -> QuerySet[User]:
    """Who may own a deal of these teams: their managers and reps, by username."""
    return (
        get_user_model()
        .objects.filter(
            memberships__team_id__in=list(team_ids), memberships__role__in=(Role.MANAGER, Role.REP)
        )
        .distinct()
        .order_by("username")
    )


def deal_can_reopen(*, user: User, deal: Deal) -> bool:
    """Managers of the deal's team and admins reopen a deal once it is closed (reps undo their
    own close within minutes instead: ``funnel.eventlog.services.deal_close_undo``)."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, deal.stream.team_id) == Role.MANAGER


# --- The deals list -----------------------------------------------------------------------


def deal_list_steps(user: User) -> list[ProcessStep]:
    """The steps a deal the user sees can be at: those of their current-state streams."""
    streams = streams_visible_to(user).filter(state=StreamState.CURRENT)
    return list(
        ProcessStep.objects.filter(stream__in=streams)
        .select_related("stream")
        .order_by("stream__name", "position")
    )


def stalled_condition(*, thresholds: dict[int, float], now: datetime) -> Q:
    """Deals annotated by :func:`deals_for_list` whose open visit has been at its step longer
    than the step's threshold (:func:`stall_thresholds`): one OR term per step."""
    condition = Q(pk__in=[])
    for step_id, hours in thresholds.items():
        if hours is not None:
            condition |= Q(
                current_step_id=step_id, step_entered_at__lt=now - timedelta(hours=hours)
            )
    return condition


def deals_for_list(*, user: User, thresholds: dict[int, float], now: datetime) -> QuerySet[Deal]:
    """The deals the user may see, each with the step it is at (``current_step_id``), since
    when (``step_entered_at``) and whether it is ``stalled``, all in the one query of a page
    (the open visit is found through the one-open-visit-per-deal index)."""
    open_visit = Visit.objects.filter(deal=OuterRef("pk"), exited_at__isnull=True)
    deals = deals_visible_to(user).annotate(
        current_step_id=Subquery(open_visit.values("step_id")[:1]),
        step_entered_at=Subquery(open_visit.values("entered_at")[:1]),
    )
    return deals.annotate(
        stalled=Case(
            When(stalled_condition(thresholds=thresholds, now=now), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def deal_sources(deals: QuerySet[Deal]) -> list[str]:
    """The distinct lead sources among ``deals``, for the list's source filter."""
    return list(
        deals.exclude(source="").order_by("source").values_list("source", flat=True).distinct()
    )


@dataclass(frozen=True)
class DealListRow:
    deal: Deal
    step: ProcessStep | None  # where the deal is now; None when at no step
    hours_in_step: float | None
    stalled: bool


def deal_list_rows(
    deals: Iterable[Deal], *, steps: dict[int, ProcessStep], now: datetime
) -> list[DealListRow]:
    """Rows of deals annotated by :func:`deals_for_list`, their steps taken from ``steps``
    (no query per row)."""
    rows = []
    for deal in deals:
        entered = deal.step_entered_at
        hours = (now - entered).total_seconds() / 3600 if entered is not None else None
        step = steps.get(deal.current_step_id)
        rows.append(DealListRow(deal, step, hours, bool(deal.stalled)))
    return rows


@dataclass(frozen=True)
class PathEntry:
    visit: Visit
    hours_in_step: float  # to its exit, or to ``now`` while the deal is still there
    rework: bool  # the deal had visited this step before (a re-entry)
    event: None = None


@dataclass(frozen=True)
class HistoryEntry:
    """A close, an undone close or a reopen (``DealEvent``) among the deal's visits."""

    event: DealEvent
    at: datetime  # when it took effect: the (possibly back-dated) close, else when recorded


def deal_timeline(*, deal: Deal, now: datetime) -> list[PathEntry | HistoryEntry]:
    """The deal's path with each visit's time in step and re-entries marked, and the changes
    of its outcome (closed, undone, reopened) where they happened."""
    seen: set[int] = set()
    entries: list[tuple[datetime, int, PathEntry | HistoryEntry]] = []
    for visit in deal_path(deal=deal):
        end = visit.exited_at or now
        entry = PathEntry(
            visit, (end - visit.entered_at).total_seconds() / 3600, visit.step_id in seen
        )
        entries.append((visit.entered_at, 0, entry))
        seen.add(visit.step_id)
    for event in deal.events.select_related("actor").order_by("recorded_at", "id"):
        at = event.closed_at if event.kind == DealEventKind.CLOSED else event.recorded_at
        entries.append((at or event.recorded_at, 1, HistoryEntry(event, at or event.recorded_at)))
    # Stable: visits keep their path order, events their recorded order.
    entries.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in entries]


def streams_for_new_deals(user: User) -> QuerySet[ValueStream]:
    """Current-state streams in which ``user`` may create deals (their team's managers and
    reps; admins everywhere)."""
    streams = ValueStream.objects.filter(state=StreamState.CURRENT).select_related("team")
    if user.is_authenticated and user.is_staff:
        return streams
    return streams.filter(team_id__in=team_ids_with_role(user, (Role.MANAGER, Role.REP)))


def streams_importable_by(user: User) -> list[ValueStream]:
    """Current-state streams the user may import history into: those whose map they edit."""
    streams = streams_visible_to(user).filter(state=StreamState.CURRENT)
    return [s for s in streams if stream_can_edit(user=user, stream=s)]


def streams_exportable_by(user: User) -> list[ValueStream]:
    """Streams whose whole event log the user may export: an export holds every deal of the
    team, so managers, leadership and admins only (not reps)."""
    streams = streams_visible_to(user).filter(state=StreamState.CURRENT)
    if user.is_staff:
        return list(streams)
    return list(
        streams.filter(team_id__in=team_ids_with_role(user, (Role.MANAGER, Role.LEADERSHIP)))
    )
