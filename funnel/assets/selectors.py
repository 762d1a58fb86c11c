"""Reads of the asset library and its permission rules (docs/assets.md, "Roles").

Every member of a team reads the team's accepted assets and downloads their files; nobody
sees another team's. A proposed (or declined) asset is seen by the team's managers and by
whoever proposed it. Managers (and admins) curate; reps and managers record usage on the deals
they may edit; leadership reads.

Review state, from ``review_due_at`` and now: *current* before it; *due* from it; *stale*
once it has been due ``ASSETS_STALE_AFTER_DAYS`` more days. A stale asset that nobody used on
a deal in ``ASSETS_UNUSED_DAYS`` is *suggested for retirement*.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from funnel.assets.models import (
    Asset,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
    ProposalState,
)
from funnel.eventlog.selectors import deal_open_visit, deals_visible_to
from streams.models import Membership, ProcessStep, Role, Team, ValueStream
from streams.selectors import User, role_in_team, team_ids_with_role, teams_visible_to


def stale_after() -> timedelta:
    return timedelta(days=settings.ASSETS_STALE_AFTER_DAYS)


def unused_after() -> timedelta:
    return timedelta(days=settings.ASSETS_UNUSED_DAYS)


def can_curate(user: User, team_id: int) -> bool:
    """Managers of the team and admins curate its library."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, team_id) == Role.MANAGER


def can_propose(user: User, team_id: int) -> bool:
    """Managers add assets and versions; reps propose them."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, team_id) in (Role.MANAGER, Role.REP)


def assets_visible_to(user: User) -> QuerySet[Asset]:
    """Accepted assets of the user's teams, and the proposals the user may see."""
    assets = Asset.objects.select_related("team", "owner", "reviewer")
    if not user.is_authenticated:
        return assets.none()
    if user.is_staff:
        return assets
    managed = team_ids_with_role(user, (Role.MANAGER,))
    return assets.filter(team_id__in=team_ids_with_role(user)).filter(
        Q(state=ProposalState.ACCEPTED) | Q(team_id__in=managed) | Q(created_by=user)
    )


def versions_visible_to(user: User) -> QuerySet[AssetVersion]:
    """Versions of the visible assets: accepted ones, and proposals for managers and authors."""
    versions = AssetVersion.objects.filter(asset__in=assets_visible_to(user)).select_related(
        "asset", "author"
    )
    if not user.is_authenticated or user.is_staff:
        return versions
    managed = team_ids_with_role(user, (Role.MANAGER,))
    return versions.filter(
        Q(state=ProposalState.ACCEPTED) | Q(asset__team_id__in=managed) | Q(author=user)
    )


def attachments_visible_to(user: User) -> QuerySet[AssetStep]:
    return AssetStep.objects.filter(asset__in=assets_visible_to(user)).select_related(
        "asset", "step", "step__stream"
    )


def usages_visible_to(user: User) -> QuerySet[AssetUsage]:
    """Usage on the deals the user sees (a rep: their own deals')."""
    return AssetUsage.objects.filter(
        asset__in=assets_visible_to(user), deal__in=deals_visible_to(user)
    ).select_related("asset", "deal", "user", "step")


def reviews_visible_to(user: User) -> QuerySet[AssetReview]:
    return AssetReview.objects.filter(asset__in=assets_visible_to(user)).select_related(
        "asset", "reviewed_by", "version"
    )


def library_teams(user: User) -> list[Team]:
    return list(teams_visible_to(user).order_by("name"))


def team_members(team: Team) -> QuerySet:
    """Whom an asset's owner or reviewer may be: the team's members."""
    return (
        get_user_model()
        .objects.filter(memberships__team=team)
        .distinct()
        .order_by("first_name", "username")
    )


def team_steps(team: Team) -> QuerySet[ProcessStep]:
    """The steps of the team's maps an asset may be attached to."""
    return (
        ProcessStep.objects.filter(stream__team=team)
        .select_related("stream")
        .order_by("stream__name", "position")
    )


def review_state(asset: Asset, now: datetime | None = None) -> str:
    """``current``, ``due`` or ``stale`` (see the module's docstring)."""
    now = now or timezone.now()
    if asset.review_due_at > now:
        return "current"
    return "stale" if asset.review_due_at + stale_after() <= now else "due"


def search(assets: QuerySet[Asset], text: str) -> QuerySet[Asset]:
    """Assets matching ``text`` in title, tags or description: PostgreSQL full-text search
    (English stemming, ranked with the title first), else a case-insensitive match."""
    text = text.strip()
    if not text:
        return assets
    if connection.vendor == "postgresql":
        vector = (
            SearchVector("title", weight="A", config="english")
            + SearchVector("tags", weight="B", config="english")
            + SearchVector("description", weight="C", config="english")
        )
        query = SearchQuery(text, search_type="websearch", config="english")
        return (
            assets.annotate(rank=SearchRank(vector, query))
            .filter(Q(rank__gt=0) | Q(title__icontains=text))
            .order_by("-rank", "title", "id")
        )
    return assets.filter(
        Q(title__icontains=text) | Q(tags__icontains=text) | Q(description__icontains=text)
    )


def filter_state(assets: QuerySet[Asset], state: str, now: datetime | None = None) -> QuerySet:
    """The library's status filter: active (the default), due, stale, retire (suggested),
    retired, proposed."""
    now = now or timezone.now()
    active = assets.filter(state=ProposalState.ACCEPTED, retired_at__isnull=True)
    if state == "due":
        return active.filter(review_due_at__lte=now, review_due_at__gt=now - stale_after())
    if state == "stale":
        return active.filter(review_due_at__lte=now - stale_after())
    if state == "retire":
        return retire_suggestions(active, now)
    if state == "retired":
        return assets.filter(retired_at__isnull=False)
    if state == "proposed":
        return assets.filter(state=ProposalState.PROPOSED)
    return active


def retire_suggestions(assets: QuerySet[Asset], now: datetime | None = None) -> QuerySet:
    """Active assets that are stale and that nobody used on a deal in ``ASSETS_UNUSED_DAYS``."""
    now = now or timezone.now()
    return (
        assets.filter(
            state=ProposalState.ACCEPTED,
            retired_at__isnull=True,
            review_due_at__lte=now - stale_after(),
        )
        .annotate(last_used=Max("usages__used_at"))
        .filter(Q(last_used__isnull=True) | Q(last_used__lt=now - unused_after()))
    )


def active_reviewer() -> Q:
    """Assets whose reviewer can be told a review is due: an active account still a member of
    the asset's team (see :attr:`Asset.reviewer_active`)."""
    member = Membership.objects.filter(user_id=OuterRef("reviewer_id"), team_id=OuterRef("team_id"))
    return Q(reviewer__isnull=False, reviewer__is_active=True) & Q(Exists(member))


def library_rows(assets: QuerySet[Asset], now: datetime | None = None) -> list[dict]:
    """The library's rows: each asset with its review state, current version, step count,
    usage count, whether it has an active reviewer and whether it is suggested for
    retirement."""
    now = now or timezone.now()
    assets = list(
        assets.annotate(
            step_count=Count("attachments", distinct=True),
            use_count=Count("usages", distinct=True),
            last_used=Max("usages__used_at"),
            reviewer_ok=ExpressionWrapper(active_reviewer(), output_field=BooleanField()),
        )
    )
    current = current_versions([a.pk for a in assets])
    rows = []
    for asset in assets:
        state = review_state(asset, now)
        unused = asset.last_used is None or asset.last_used < now - unused_after()
        rows.append(
            {
                "asset": asset,
                "review": state,
                "version": current.get(asset.pk),
                "reviewer_active": bool(asset.reviewer_ok),
                "retire_suggested": asset.retired_at is None
                and asset.state == ProposalState.ACCEPTED
                and state == "stale"
                and unused,
            }
        )
    return rows


def current_versions(asset_ids: list[int]) -> dict[int, AssetVersion]:
    """Each asset's accepted version with the highest number."""
    found: dict[int, AssetVersion] = {}
    for version in AssetVersion.objects.filter(
        asset_id__in=asset_ids, state=ProposalState.ACCEPTED
    ).order_by("asset_id", "-number"):
        found.setdefault(version.asset_id, version)
    return found


def asset_versions(asset: Asset, user: User) -> list[AssetVersion]:
    """The versions the user sees, newest first (proposals before accepted ones)."""
    return list(
        versions_visible_to(user)
        .filter(asset=asset)
        .select_related("author", "decided_by")
        .order_by("-created_at", "-id")
    )


def usage_own_only(user: User, team_id: int) -> bool:
    """A rep sees usage per person only for themselves, as in the Usage and outcome report
    (``funnel.assets.outcomes.sees_every_rep``); managers, leadership and admins see everyone."""
    return not (user.is_staff or role_in_team(user, team_id) != Role.REP)


def usage_by_user(asset: Asset, user: User) -> list[dict]:
    """How often each person used the asset, most first; a rep gets only their own row."""
    usages = AssetUsage.objects.filter(asset=asset)
    if usage_own_only(user, asset.team_id):
        usages = usages.filter(user=user)
    return list(
        usages.values("user__username", "user__first_name", "user__last_name")
        .annotate(uses=Count("id"), last=Max("used_at"))
        .order_by("-uses", "user__username")
    )


def active_attachments(**where) -> QuerySet[AssetStep]:
    """The attachments (filtered by ``where``) of accepted assets not retired: what a step
    shows."""
    return AssetStep.objects.filter(
        asset__state=ProposalState.ACCEPTED, asset__retired_at__isnull=True, **where
    )


def step_assets(step_ids: list[int]) -> dict[int, list[Asset]]:
    """The active assets attached to each step, by title."""
    found: dict[int, list[Asset]] = defaultdict(list)
    links = (
        active_attachments(step_id__in=step_ids)
        .select_related("asset")
        .order_by("asset__title", "asset_id")
    )
    for link in links:
        found[link.step_id].append(link.asset)
    return dict(found)


def step_asset_counts(stream: ValueStream) -> dict[int, int]:
    """The number of active assets attached to each step of ``stream`` that has any."""
    rows = active_attachments(step__stream=stream).values("step_id").annotate(n=Count("asset_id"))
    return {row["step_id"]: row["n"] for row in rows}


def deal_assets(deal, user: User) -> list[dict]:
    """The deal page's assets: those of the deal's current step first, then the other steps'
    of its stream, each with whether ``user`` already marked it used on this deal."""
    visit = deal_open_visit(deal=deal)
    current_step = visit.step_id if visit else None
    links = (
        active_attachments(step__stream_id=deal.stream_id)
        .select_related("asset", "step")
        .order_by("step__position", "asset__title")
    )
    used = set(
        AssetUsage.objects.filter(deal=deal, user=user).values_list("asset_id", flat=True)
        if user.is_authenticated
        else []
    )
    rows: dict[int, dict] = {}
    for link in links:
        row = rows.setdefault(
            link.asset_id,
            {"asset": link.asset, "steps": [], "here": False, "used": link.asset_id in used},
        )
        row["steps"].append(link.step)
        row["here"] = row["here"] or link.step_id == current_step
    current = current_versions(list(rows))
    for asset_id, row in rows.items():
        row["version"] = current.get(asset_id)
    return sorted(rows.values(), key=lambda r: (not r["here"], r["asset"].title.lower()))


def reviewers_due(now: datetime | None = None) -> QuerySet[Asset]:
    """Active assets that fell due and whose reviewer has not been told yet; a reviewer who
    left the team or whose account is deactivated is not told (the asset stays unclaimed, so
    a new reviewer is told at the next run)."""
    now = now or timezone.now()
    return (
        Asset.objects.filter(
            state=ProposalState.ACCEPTED,
            retired_at__isnull=True,
            review_due_at__lte=now,
            due_notified_at__isnull=True,
        )
        .filter(active_reviewer())
        .select_related("reviewer", "team")
    )


def is_member(user, team_id: int) -> bool:
    return Membership.objects.filter(user=user, team_id=team_id).exists()
