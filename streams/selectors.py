"""Reads of teams, roles and streams, and the permission rules every page and API call uses.

Roles are per team (``Membership``): a *manager* edits the streams and deals of the team, a
*rep* sees the team's streams and only their own deals, *leadership* reads everything of the
team and edits nothing. Django staff are admins and see everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from streams.metrics import MapSummary, StepFigures, map_summary
from streams.models import FunnelStage, Membership, Role, Team, ValueStream

User = AbstractBaseUser | AnonymousUser


def team_ids_with_role(user: User, roles: tuple[str, ...] = tuple(Role.values)) -> list[int]:
    """Ids of the teams in which ``user`` has one of ``roles``."""
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True)
    )


def role_in_team(user: User, team_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()
    )


def teams_visible_to(user: User) -> QuerySet[Team]:
    if user.is_authenticated and user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(id__in=team_ids_with_role(user))


def members_visible_to(user: User) -> QuerySet:
    """The users of the teams ``user`` can see, once each: whom an API input may name as the
    owner of a deal or a kaizen cycle (the services then check the role in its team)."""
    return get_user_model().objects.filter(memberships__team__in=teams_visible_to(user)).distinct()


def streams_visible_to(user: User) -> QuerySet[ValueStream]:
    """Every member of a team sees the team's maps; reps see the map, not others' deals."""
    streams = ValueStream.objects.select_related("team", "drawn_from")
    if user.is_authenticated and user.is_staff:
        return streams
    return streams.filter(team_id__in=team_ids_with_role(user))


def stream_can_edit(*, user: User, stream: ValueStream) -> bool:
    """Managers of the stream's team and admins edit a map; reps and leadership only view."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, stream.team_id) == Role.MANAGER


def require_stream_edit(user: User, stream: ValueStream, refusal: str) -> None:
    """``PermissionDenied(refusal)`` unless ``user`` edits ``stream`` (:func:`stream_can_edit`):
    the check of the services that only the team's managers call."""
    if not stream_can_edit(user=user, stream=stream):
        raise PermissionDenied(refusal)


def visible_stream(user: User, slug: str, *, refusal: str = "") -> ValueStream:
    """The stream ``slug`` among those ``user`` sees (:func:`streams_visible_to`), else
    ``Http404``; with ``refusal``, one the user also edits (:func:`require_stream_edit`): how a
    stream's pages look up the stream of their URL."""
    stream = get_object_or_404(streams_visible_to(user), slug=slug)
    if refusal:
        require_stream_edit(user, stream, refusal)
    return stream


def home_memberships(user: User) -> list[dict]:
    """The home page: each of the user's teams with the user's role and the team's streams."""
    memberships = Membership.objects.filter(user=user).select_related("team")
    teams = [
        {"team": m.team, "role": m.get_role_display(), "role_code": m.role} for m in memberships
    ]
    if user.is_staff:
        member_team_ids = {t["team"].id for t in teams}
        teams += [
            {"team": team, "role": "Admin", "role_code": "admin"}
            for team in Team.objects.exclude(id__in=member_team_ids)
        ]
    streams_by_team: dict[int, list[ValueStream]] = {}
    streams = (
        ValueStream.objects.filter(team__in=[t["team"] for t in teams])
        .select_related("drawn_from")
        .annotate(step_count=Count("steps"))
        .order_by("name", "state")
    )
    for stream in streams:
        streams_by_team.setdefault(stream.team_id, []).append(stream)
    for entry in teams:
        entry["streams"] = streams_by_team.get(entry["team"].id, [])
    return teams


def stream_steps(stream: ValueStream) -> list:
    """The map's steps in order, with their lane and stage loaded."""
    return list(stream.steps.select_related("lane", "stage").order_by("position"))


def planned_figures(step) -> StepFigures:
    return StepFigures(
        process_hours=step.planned_process_hours,
        lead_hours=step.planned_lead_hours,
        pct_complete_accurate=step.planned_pct_complete_accurate,
        wip=step.planned_wip,
    )


def planned_summary(stream: ValueStream, steps: list | None = None) -> MapSummary:
    """The summary box from the figures the manager planned (metrics.md §3)."""
    steps = stream_steps(stream) if steps is None else steps
    return map_summary(
        [planned_figures(step) for step in steps],
        available_hours=stream.available_selling_hours_per_period,
        target_wins=stream.target_won_deals_per_period,
    )


def teams_managed_by(user: User) -> QuerySet[Team]:
    """Teams in which ``user`` may create value streams."""
    if user.is_authenticated and user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(id__in=team_ids_with_role(user, (Role.MANAGER,)))


@dataclass(frozen=True)
class StepComparison:
    name: str
    current: object | None  # ProcessStep of the current state, None when the step is new
    future: object | None  # ProcessStep of the future state, None when the step was removed

    @property
    def changed_fields(self) -> list[str]:
        if self.current is None or self.future is None:
            return []
        return [
            field
            for field in COMPARED_FIELDS
            if getattr(self.current, field) != getattr(self.future, field)
        ]


COMPARED_FIELDS = (
    "value_class",
    "planned_process_hours",
    "planned_lead_hours",
    "planned_pct_complete_accurate",
    "planned_wip",
)


def compare_states(current: ValueStream, future: ValueStream) -> list[StepComparison]:
    """Steps of both maps matched by name: the future's order first, then removed steps."""
    current_steps = {step.name: step for step in stream_steps(current)}
    rows = [
        StepComparison(step.name, current_steps.pop(step.name, None), step)
        for step in stream_steps(future)
    ]
    rows += [StepComparison(name, step, None) for name, step in current_steps.items()]
    return rows


def latest_future_state(stream: ValueStream) -> ValueStream | None:
    return stream.future_states.order_by("-created_at").first()


@dataclass(frozen=True)
class StageSpan:
    stage: FunnelStage
    first_step_id: int | None
    last_step_id: int | None


def stage_spans(stream: ValueStream, steps: list) -> list[StageSpan]:
    """Each funnel stage with the first and last of its steps in ``steps`` (map order)."""
    spans = []
    for stage in stream.stages.all():
        covered = [step.pk for step in steps if step.stage_id == stage.pk]
        spans.append(
            StageSpan(stage, covered[0] if covered else None, covered[-1] if covered else None)
        )
    return spans
