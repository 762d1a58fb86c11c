"""Reads of deals and visits, and who may see or change a deal."""

from __future__ import annotations

from collections.abc import Collection, Iterable
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

from funnel.eventlog.working import StreamCalendars, clock_of, stream_calendars
from funnel.metrics.engine import stream_basis
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


def stall_thresholds(step_ids: list[int], working: Collection[int] = ()) -> dict[int, float]:
    """Hours after which an open visit counts as stalled, per step (metrics.md §2 ``stalled``):
    the step's measured p85 time in step over the rolling default window, or, until the
    metrics engine has measured it, the step's planned lead time. The p85 is in working hours
    for the steps in ``working`` (those whose stream shows working time: ``working_now``)."""
    thresholds = dict(
        ProcessStep.objects.filter(pk__in=step_ids).values_list("pk", "planned_lead_hours")
    )
    measured = StepSnapshot.objects.filter(
        step_id__in=step_ids, snapshot__window_key=ROLLING_KEY, snapshot__filter_key=""
    ).values_list("step_id", "snapshot__basis", "figures")
    for step_id, basis, figures in measured:
        wanted = WORKING if step_id in working else ELAPSED
        if basis == wanted and figures.get("p85_hours") is not None:
            thresholds[step_id] = figures["p85_hours"]
    return thresholds


def working_now(steps: Iterable[ProcessStep], now: datetime) -> dict[int, int]:
    """W(now), in seconds, on each step's calendar (its lane's, else the team's default), for
    the steps whose stream shows working time (``stream_basis``): their open visits' age is
    ``W(now) − entered_w`` and they stall against the working p85. Other steps are left out."""
    found: dict[int, int] = {}
    calendars: dict[int, StreamCalendars | None] = {}  # per stream; None: elapsed time
    for step in steps:
        stream = step.stream
        if stream.pk not in calendars:
            working = stream_basis(stream) == WORKING
            calendars[stream.pk] = stream_calendars(stream.pk) if working else None
        known = calendars[stream.pk]
        key = known and (known.lanes.get(step.lane_id) or known.default)
        if key is not None:
            found[step.pk] = int(clock_of(key).w(now))
    return found


def age_hours(
    now: datetime, entered_at: datetime | None, now_w: int | None, entered_w: int | None
) -> float | None:
    """How long an open visit has been at its step: working hours when ``now_w`` (W(now) of
    its step's calendar, :func:`working_now`) is given."""
    if now_w is not None:
        return None if entered_w is None else (now_w - entered_w) / 3600
    return None if entered_at is None else (now - entered_at).total_seconds() / 3600


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
        .select_related("stream", "lane__calendar", "lane__stream")
        .order_by("stream__name", "position")
    )


def stalled_condition(
    *, thresholds: dict[int, float], now: datetime, now_w: dict[int, int] | None = None
) -> Q:
    """Deals annotated by :func:`deals_for_list` whose open visit has been at its step longer
    than the step's threshold (:func:`stall_thresholds`): one OR term per step; in working
    time for the steps of ``now_w`` (:func:`working_now`)."""
    condition = Q(pk__in=[])
    for step_id, hours in thresholds.items():
        if hours is None:
            continue
        if now_w and step_id in now_w:
            condition |= Q(
                current_step_id=step_id, step_entered_w__lt=now_w[step_id] - hours * 3600
            )
        else:
            condition |= Q(
                current_step_id=step_id, step_entered_at__lt=now - timedelta(hours=hours)
            )
    return condition


def deals_for_list(
    *,
    user: User,
    thresholds: dict[int, float],
    now: datetime,
    now_w: dict[int, int] | None = None,
) -> QuerySet[Deal]:
    """The deals the user may see, each with the step it is at (``current_step_id``), since
    when (``step_entered_at``, and its working-time offset ``step_entered_w``) and whether it
    is ``stalled``, all in the one query of a page (the open visit is found through the
    one-open-visit-per-deal index)."""
    open_visit = Visit.objects.filter(deal=OuterRef("pk"), exited_at__isnull=True)
    deals = deals_visible_to(user).annotate(
        current_step_id=Subquery(open_visit.values("step_id")[:1]),
        step_entered_at=Subquery(open_visit.values("entered_at")[:1]),
        step_entered_w=Subquery(open_visit.values("entered_w")[:1]),
    )
    stalled = stalled_condition(thresholds=thresholds, now=now, now_w=now_w)
    return deals.annotate(
        stalled=Case(
            When(stalled, then=Value(True)),
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
    working: bool = False  # ``hours_in_step`` in working hours (the stream's basis)


def deal_list_rows(
    deals: Iterable[Deal],
    *,
    steps: dict[int, ProcessStep],
    now: datetime,
    now_w: dict[int, int] | None = None,
) -> list[DealListRow]:
    """Rows of deals annotated by :func:`deals_for_list`, their steps taken from ``steps``
    (no query per row); the time at the step in working hours for the steps of ``now_w``."""
    rows = []
    for deal in deals:
        step_now_w = (now_w or {}).get(deal.current_step_id)
        hours = age_hours(now, deal.step_entered_at, step_now_w, deal.step_entered_w)
        step = steps.get(deal.current_step_id)
        rows.append(DealListRow(deal, step, hours, bool(deal.stalled), step_now_w is not None))
    return rows


@dataclass(frozen=True)
class PathEntry:
    visit: Visit
    #: To its exit, or to ``now`` while the deal is still there; in working hours when the
    #: timeline is in working time (None: the visit's offsets are not written yet).
    hours_in_step: float | None
    rework: bool  # the deal had visited this step before (a re-entry)
    event: None = None


@dataclass(frozen=True)
class HistoryEntry:
    """A close, an undone close or a reopen (``DealEvent``) among the deal's visits."""

    event: DealEvent
    at: datetime  # when it took effect: the (possibly back-dated) close, else when recorded


def deal_timeline(
    *, deal: Deal, now: datetime, now_w: dict[int, int] | None = None
) -> list[PathEntry | HistoryEntry]:
    """The deal's path with each visit's time in step and re-entries marked, and the changes
    of its outcome (closed, undone, reopened) where they happened. With ``now_w``
    (:func:`working_now` of the stream's steps) the times are working hours."""
    seen: set[int] = set()
    entries: list[tuple[datetime, int, PathEntry | HistoryEntry]] = []
    for visit in deal_path(deal=deal):
        if now_w is not None:
            end_w = visit.exited_w if visit.exited_at is not None else now_w.get(visit.step_id)
            hours = None
            if end_w is not None and visit.entered_w is not None:
                hours = (end_w - visit.entered_w) / 3600
        else:
            hours = ((visit.exited_at or now) - visit.entered_at).total_seconds() / 3600
        entry = PathEntry(visit, hours, visit.step_id in seen)
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
