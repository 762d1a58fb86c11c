"""factory_boy factories for every test. They respect the database constraints by default:

* positions of lanes and steps are the next free one in their stream;
* a step's lane belongs to the step's stream, a visit's step to its deal's stream;
* a deal is open with no ``closed_at`` unless built with ``won=True`` or ``lost=True``;
* a visit enters when its deal was created and is open (``exited_at`` empty) unless built
  with ``exited=True`` or an explicit ``exited_at``; a deal has at most one open visit.

Times are fixed and in the past (``BASE_TIME``), so no test depends on the wall clock. Users
have the password :data:`PASSWORD`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.db.models import Max, Model
from django.utils.text import slugify
from factory.django import DjangoModelFactory

from funnel.eventlog.paths import deal_paths_refresh
from funnel.leads.models import Handoff, Side
from funnel.models import Deal, DealStatus, Visit
from streams.models import Lane, Membership, ProcessStep, Role, Team, ValueStream
from streams.services import LaneSpec, StepSpec, stream_create

PASSWORD = "pass-123-word"
#: When factory deals are created; every other default time is derived from it.
BASE_TIME = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _next_position(model: type[Model], stream: ValueStream | None) -> int:
    """The next free ``position`` of ``model`` rows in ``stream`` (1 for an unsaved stream)."""
    if stream is None or stream.pk is None:
        return 1
    highest = model.objects.filter(stream=stream).aggregate(Max("position"))["position__max"]
    return (highest or 0) + 1


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: Any, create: bool, results: Any = None) -> None:
        # Store the hash set_password computed (factory_boy's implicit save is deprecated).
        if create and results:
            instance.save(update_fields=["password"])


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.REP


class ValueStreamFactory(DjangoModelFactory):
    """A bare stream (no lanes or steps); see :func:`make_stream` for a usable map."""

    class Meta:
        model = ValueStream

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Stream {n}")
    slug = factory.Sequence(lambda n: f"stream-{n}")


class LaneFactory(DjangoModelFactory):
    class Meta:
        model = Lane

    stream = factory.SubFactory(ValueStreamFactory)
    name = factory.Sequence(lambda n: f"Lane {n}")
    position = factory.LazyAttribute(lambda o: _next_position(Lane, o.stream))


class ProcessStepFactory(DjangoModelFactory):
    class Meta:
        model = ProcessStep

    stream = factory.SubFactory(ValueStreamFactory)
    lane = factory.SubFactory(LaneFactory, stream=factory.SelfAttribute("..stream"))
    position = factory.LazyAttribute(lambda o: _next_position(ProcessStep, o.stream))
    name = factory.Sequence(lambda n: f"Step {n}")
    planned_process_hours = 1.0
    planned_lead_hours = 8.0  # must be ≥ planned_process_hours


class DealFactory(DjangoModelFactory):
    class Meta:
        model = Deal

    class Params:
        won = factory.Trait(
            status=DealStatus.WON,
            closed_at=factory.LazyAttribute(lambda o: o.created_at + timedelta(days=14)),
        )
        lost = factory.Trait(
            status=DealStatus.LOST,
            closed_at=factory.LazyAttribute(lambda o: o.created_at + timedelta(days=14)),
            lost_reason="No budget",
        )

    stream = factory.SubFactory(ValueStreamFactory)
    external_id = factory.Sequence(lambda n: f"D-{n:06d}")
    name = factory.Sequence(lambda n: f"Deal {n}")
    account = factory.Sequence(lambda n: f"Account {n}")
    amount = Decimal("10000.00")
    owner = None
    source = "inbound"
    created_at = BASE_TIME
    status = DealStatus.OPEN
    closed_at = None
    lost_reason = ""


class VisitFactory(DjangoModelFactory):
    class Meta:
        model = Visit

    class Params:
        exited = factory.Trait(
            exited_at=factory.LazyAttribute(lambda o: o.entered_at + timedelta(days=2))
        )

    deal = factory.SubFactory(DealFactory)
    step = factory.SubFactory(ProcessStepFactory, stream=factory.SelfAttribute("..deal.stream"))
    entered_at = factory.LazyAttribute(lambda o: o.deal.created_at)
    exited_at = None
    work_minutes = None

    @classmethod
    def _after_postgeneration(cls, instance: Visit, create: bool, results: Any = None) -> None:
        # A visit written outside the services: its deal's path facts (funnel.eventlog.paths) are
        # recomputed, as the admin does.
        if create:
            deal_paths_refresh([instance.deal_id])
            instance.refresh_from_db(fields=["reentry", "previous_step", "is_last"])


class PullHandoffFactory(DjangoModelFactory):
    """The ready-for-sales hand-off (``pull``) of ``step``'s stream at ``step``: the steps after
    it are selling (docs/metrics.md §3)."""

    class Meta:
        model = Handoff

    step = factory.SubFactory(ProcessStepFactory)
    stream = factory.SelfAttribute("step.stream")
    position = 0
    offered_stage = "SQL"
    accepted_stage = "Opportunity"
    giver = Side.SDR
    receiver = Side.SALES
    sla_minutes = 60
    escalate_minutes = 120
    pull = True


_stream_numbers = itertools.count(1)


def make_stream(
    team: Team, n_steps: int = 3, *, name: str | None = None, **kwargs: Any
) -> ValueStream:
    """A stream of ``team`` with one lane ("Account Executive") and ``n_steps`` steps named
    "Step 1" … "Step n" (positions 1 … n), built by ``streams.services.stream_create``.

    Extra keyword arguments go to ``stream_create`` (``state``, ``stages`` …).
    """
    lane = "Account Executive"
    return stream_create(
        team=team,
        name=name or f"Sales stream {next(_stream_numbers)}",
        lanes=[LaneSpec(lane)],
        steps=[
            StepSpec(name=f"Step {i}", lane=lane, planned_process_hours=1, planned_lead_hours=8)
            for i in range(1, n_steps + 1)
        ],
        **kwargs,
    )


def metrics_snapshot(
    stream,
    *,
    start: datetime,
    end: datetime,
    steps: dict | None = None,
    previous: bool = False,
    **summary,
):
    """Store a rolling-default metrics snapshot of ``stream`` with the given figures, as the
    metrics engine would: ``steps`` maps a step to its ``StepMetrics`` figures, the keyword
    arguments are ``StreamSummary`` figures."""
    from funnel.metrics.query import MetricsQuery
    from funnel.metrics.results import MetricsResult, StepMetrics, StreamSummary, Waste
    from funnel.metrics.snapshots import metrics_store

    result = MetricsResult(
        query=MetricsQuery(stream_id=stream.pk, previous=previous),
        window_start=start,
        window_end=end,
        computed_at=end,
        now_at=end,
        steps=[StepMetrics(step_id=step.pk, **figures) for step, figures in (steps or {}).items()],
        summary=StreamSummary(**summary),
        waste=Waste(),
        stages=[],
    )
    return metrics_store(result, now=end)
