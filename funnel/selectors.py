"""Reads of deals and visits, and who may see or change a deal."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from funnel.models import Deal, DealStatus, StepSnapshot, Visit
from streams.metrics import MapSummary, MeasuredMap, StepFigures
from streams.models import Role, ValueStream
from streams.selectors import User, role_in_team, team_ids_with_role


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


def measured_map(stream: ValueStream) -> MeasuredMap | None:
    """The latest measured figures of ``stream``'s steps (the map's "measured" column), read
    from the newest stream snapshot's window; None until the metrics engine has run."""
    latest = stream.snapshots.order_by("-computed_at").first()
    if latest is None:
        return None
    rows = StepSnapshot.objects.filter(
        step__stream=stream, window_start=latest.window_start, window_end=latest.window_end
    )
    steps = {
        row.step_id: StepFigures(
            process_hours=row.median_work_hours,
            lead_hours=row.median_hours,
            pct_complete_accurate=row.pct_complete_accurate,
            wip=row.wip_now,
            n=row.n,
            low_sample=row.low_sample,
        )
        for row in rows
    }
    summary = MapSummary(
        lead_time_hours=latest.lead_time_hours or 0.0,
        process_time_hours=latest.process_time_hours or 0.0,
        activity_ratio=latest.activity_ratio,
        rolled_pct_complete_accurate=latest.rolled_pct_complete_accurate,
        takt_hours=stream.planned_takt_hours,
        steps=len(steps),
    )
    return MeasuredMap(
        computed_at=latest.computed_at,
        window_start=latest.window_start,
        window_end=latest.window_end,
        steps=steps,
        summary=summary,
    )
