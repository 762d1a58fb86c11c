"""What the queue, separation and waste figures of the Leads dashboard read alike
(``capacity``, ``separation``, ``waste``; docs/metrics.md §8): the view's case filter, the
stream's hand-offs in map order, its sellers, durations in the view's basis, ISO weeks and
rates with their Wilson interval.

"Nothing after ``as_of``": a visit counts once it has entered at or before ``as_of``, a
decision once it was decided at or before it; a visit is open at ``as_of`` when it has not
exited by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import F, FloatField, Q
from django.db.models.functions import Cast

from funnel.eventlog.working import stream_calendars
from funnel.leads.models import Handoff, SellerLimit, Waterfall
from funnel.leads.selectors import label_of
from funnel.leads.view import LeadsView
from funnel.qualification.stats import wilson


def case_q(view: LeadsView, prefix: str = "deal__") -> Q:
    """The view's ``source`` and ``owner`` filters on the case, reached through ``prefix``
    (``"deal__"`` from a visit or a decision, ``""`` from a deal)."""
    q = Q()
    if view.source:
        q &= Q(**{f"{prefix}source": view.source})
    if view.owner_id is not None:
        q &= Q(**{f"{prefix}owner_id": view.owner_id})
    return q


def undecided_q(view: LeadsView) -> Q:
    """An arrival (a visit at a hand-off step) with no decision made by ``as_of``."""
    return Q(handoff_decision__isnull=True) | Q(handoff_decision__decided_at__gt=view.as_of)


def open_q(view: LeadsView) -> Q:
    """A visit entered by ``as_of`` and not exited by then."""
    return Q(entered_at__lte=view.as_of) & (Q(exited_at__isnull=True) | Q(exited_at__gt=view.as_of))


def in_window(view: LeadsView, field: str) -> Q:
    """``field`` in ``[start, end)`` and at or before ``as_of``."""
    return Q(**{f"{field}__gte": view.start, f"{field}__lt": view.end, f"{field}__lte": view.as_of})


@dataclass(frozen=True)
class StreamHandoffs:
    """The stream's hand-offs in map order (their steps' positions and lanes read with them)
    and the waterfall's recycle (nurture) step."""

    all: list[Handoff]
    recycle_step_id: int | None = None

    @property
    def pull(self) -> Handoff | None:
        return next((h for h in self.all if h.pull), None)

    @property
    def step_ids(self) -> list[int]:
        return [h.step_id for h in self.all]


def stream_handoffs(view: LeadsView) -> StreamHandoffs:
    recycle = (
        Waterfall.objects.filter(stream_id=view.stream_id)
        .values_list("recycle_step_id", flat=True)
        .first()
    )
    return StreamHandoffs(
        list(Handoff.objects.filter(stream_id=view.stream_id).select_related("step")), recycle
    )


def sellers(view: LeadsView, *, every: bool = False) -> list[tuple[int, str, int]]:
    """``(user id, label, WIP limit)`` of the stream's sellers (the users with a seller
    limit), by label (as ``selectors.seller_load``); with an owner filter, that owner only
    (unless ``every``)."""
    rows = SellerLimit.objects.filter(stream_id=view.stream_id).select_related("user")
    if view.owner_id is not None and not every:
        rows = rows.filter(user_id=view.owner_id)
    out = [(row.user_id, label_of(row.user), row.wip_limit) for row in rows]
    return sorted(out, key=lambda row: (row[1].lower(), row[0]))


def user_labels(ids) -> dict[int, str]:
    """Labels of the users with these ids, in one query."""
    users = get_user_model().objects.filter(pk__in=[i for i in ids if i is not None])
    return {user.pk: label_of(user) for user in users}


def response_hours(view: LeadsView, prefix: str = ""):
    """A decision's response in hours of the view's basis (working: ``response_w``, empty
    without a calendar), as an ORM expression."""
    column = "response_w" if view.working else "response_seconds"
    return Cast(F(f"{prefix}{column}"), FloatField()) / 3600.0


def as_of_w(view: LeadsView, lane_id: int) -> int | None:
    """W(``as_of``) on the calendar of lane ``lane_id`` (its own, else the team's default);
    None without a calendar."""
    return stream_calendars(view.stream_id).lane_w(lane_id, view.as_of)


def monday(moment: datetime) -> str:
    """The ISO week (its Monday, UTC) of an aware instant, as ``YYYY-MM-DD``."""
    day = moment.astimezone(UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def rate(successes: int, n: int) -> dict:
    """``{"rate", "low", "high"}``: ``successes ÷ n`` with its Wilson 95 % interval (all None
    for ``n == 0``)."""
    interval = wilson(successes, n)
    if interval is None:
        return {"rate": None, "low": None, "high": None}
    value, low, high = interval
    return {"rate": value, "low": low, "high": high}


def share(part: float, whole: float) -> float | None:
    return part / whole if whole else None
