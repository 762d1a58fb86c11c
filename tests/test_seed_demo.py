from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db.models import Count, F

from funnel.models import Deal, DealStatus, Visit
from kaizen.models import KaizenCycle
from streams.models import Membership, StreamState, ValueStream
from vsm_project.demo import DEMO_PASSWORD, demo_seed

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)


def digest() -> str:
    """A fingerprint of every demo row that does not depend on database ids."""
    h = hashlib.sha256()
    for row in Deal.objects.order_by("external_id").values_list(
        "external_id",
        "name",
        "account",
        "amount",
        "owner__username",
        "source",
        "created_at",
        "status",
        "closed_at",
        "lost_reason",
    ):
        h.update(repr(row).encode())
    for row in Visit.objects.order_by(
        "deal__external_id", "entered_at", "step__position"
    ).values_list(
        "deal__external_id",
        "step__name",
        "entered_at",
        "exited_at",
        "work_minutes",
        "actor__username",
        "actor_name",
    ):
        h.update(repr(row).encode())
    return h.hexdigest()


def test_it_gives_identical_data_for_the_same_seed_and_different_data_for_another():
    demo_seed(deals=120, seed=5, anchor=ANCHOR)
    first = digest()
    demo_seed(deals=120, seed=5, anchor=ANCHOR)
    assert digest() == first
    assert Deal.objects.count() == 120  # reseeding replaces, never duplicates
    demo_seed(deals=120, seed=6, anchor=ANCHOR)
    assert digest() != first


def test_the_default_demo_has_rework_losses_and_open_deals_at_every_step():
    result = demo_seed(anchor=ANCHOR)  # the defaults: 500 deals, seed 42
    stream = ValueStream.objects.get(slug=result.stream_slug)
    positions = set(stream.steps.values_list("position", flat=True))
    assert len(positions) == 8
    assert result.deals == 500 and result.visits == Visit.objects.count()

    open_at = set(
        Visit.objects.filter(exited_at__isnull=True).values_list("step__position", flat=True)
    )
    assert open_at == positions
    # A lost deal's last visit ends when the deal is lost: that is the step it was lost at.
    lost_at = set(
        Visit.objects.filter(
            deal__status=DealStatus.LOST, exited_at=F("deal__closed_at")
        ).values_list("step__position", flat=True)
    )
    assert lost_at == positions
    reentries = Visit.objects.values("deal", "step").annotate(n=Count("id")).filter(n__gt=1).count()
    assert reentries > 0
    # negotiation → proposal rework, as in domain.md
    assert (
        Visit.objects.filter(step__name="Proposal & ROI model")
        .values("deal")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    assert Visit.objects.filter(work_minutes__isnull=True).exists()  # some work not logged
    assert result.won > 0 and result.lost > 0 and result.open_deals > 0


def test_reps_differ_in_speed_and_win_rate():
    demo_seed(anchor=ANCHOR)
    rates = {}
    for rep in ("alice", "carol"):
        closed = Deal.objects.filter(owner__username=rep).exclude(status=DealStatus.OPEN)
        rates[rep] = closed.filter(status=DealStatus.WON).count() / closed.count()
    assert rates["alice"] > rates["carol"]


def test_it_creates_the_team_roles_future_state_and_kaizen_cycles():
    result = demo_seed(deals=10, anchor=ANCHOR)
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {
        "manager": "manager",
        "alice": "rep",
        "bob": "rep",
        "carol": "rep",
        "vp": "leadership",
    }
    future = ValueStream.objects.get(slug=result.future_slug)
    assert future.state == StreamState.FUTURE
    assert future.drawn_from.slug == result.stream_slug
    # the future state is an improvement: contract review planned shorter than today
    current_lt = future.drawn_from.steps.get(name="Contract review").planned_lead_hours
    assert future.steps.get(name="Contract review").planned_lead_hours < current_lt
    # one per phase, the adopted, abandoned and adapted closes and the adapted one's follow-up
    assert KaizenCycle.objects.count() == 8
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.check_password(DEMO_PASSWORD)


def test_the_command_prints_progress_and_the_demo_logins(capsys):
    call_command("seed_demo", "--deals", "30", "--seed", "3", "--anchor", ANCHOR.isoformat())
    out = capsys.readouterr().out
    assert "[100.0%] 30 of 30 deals" in out
    assert "Seeded 30 deals" in out
    for username in ("manager", "alice", "bob", "carol", "vp", "admin"):
        assert f"  {username}" in out
    assert DEMO_PASSWORD in out


def test_the_command_refuses_an_anchor_without_a_time_zone():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="time zone"):
        call_command("seed_demo", "--deals", "1", "--anchor", "2026-06-01T00:00:00")
