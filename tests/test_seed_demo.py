from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F

from funnel.models import Deal, DealStatus, Visit
from kaizen.models import KaizenCycle
from streams.models import Membership, StreamState, Team, ValueStream
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


# --- make run never deletes; make demo-reset asks first -------------------------------------

SMALL = ("--deals", "20", "--seed", "3", "--anchor", ANCHOR.isoformat())


def _edit_the_demo() -> Deal:
    """What a user of the demo does: rename a deal."""
    deal = Deal.objects.order_by("pk").first()
    deal.name = "Renamed by the manager"
    deal.save(update_fields=["name"])
    return deal


def test_if_missing_seeds_an_empty_database_and_later_keeps_the_users_edits(capsys):
    call_command("seed_demo", "--if-missing", *SMALL)
    assert "Seeded 20 deals" in capsys.readouterr().out
    deal = _edit_the_demo()
    teams, deals, visits = (
        Team.objects.count(),
        Deal.objects.count(),
        Visit.objects.count(),
    )

    call_command("seed_demo", "--if-missing", *SMALL)  # the second `make run`

    out = capsys.readouterr().out
    assert "already there: nothing changed" in out
    assert f"  manager  {DEMO_PASSWORD}" in out  # the logins are printed either way
    deal.refresh_from_db()
    assert deal.name == "Renamed by the manager"
    assert (Team.objects.count(), Deal.objects.count(), Visit.objects.count()) == (
        teams,
        deals,
        visits,
    )


def test_a_reset_without_confirmation_deletes_nothing_and_says_what_it_would_delete(
    capsys, monkeypatch
):
    call_command("seed_demo", *SMALL)
    deal = _edit_the_demo()
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # make demo-reset from a script

    with pytest.raises(CommandError, match=r"nothing was deleted.*--yes"):
        call_command("seed_demo", *SMALL)

    out = capsys.readouterr().out
    assert "teams 1," in out and "value streams 2," in out and "deals 20," in out
    assert f"visits {Visit.objects.count():,}," in out and (
        f"kaizen cycles {KaizenCycle.objects.count()}." in out
    )
    deal.refresh_from_db()
    assert deal.name == "Renamed by the manager"


def test_a_reset_answered_no_at_the_terminal_deletes_nothing(monkeypatch):
    call_command("seed_demo", *SMALL)
    deal = _edit_the_demo()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")

    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("seed_demo", *SMALL)

    deal.refresh_from_db()
    assert deal.name == "Renamed by the manager"


@pytest.mark.parametrize("confirm", ["--yes", "typed yes"])
def test_a_confirmed_reset_replaces_the_demo(confirm, monkeypatch):
    call_command("seed_demo", *SMALL)
    deal = _edit_the_demo()
    before = digest()
    args = list(SMALL)
    if confirm == "--yes":
        monkeypatch.setattr("sys.stdin.isatty", lambda: False)
        args.append("--yes")
    else:
        monkeypatch.setattr("sys.stdin.isatty", lambda: True)
        monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    call_command("seed_demo", *args)

    assert not Deal.objects.filter(pk=deal.pk).exists()
    assert not Deal.objects.filter(name="Renamed by the manager").exists()
    assert digest() != before and Deal.objects.count() == 20
    assert Team.objects.filter(slug="acme-sales").count() == 1


def test_make_run_seeds_only_when_missing_and_demo_reset_passes_yes_only_when_asked():
    root = Path(__file__).resolve().parent.parent
    makefile = (root / "Makefile").read_text()
    run = re.search(r"^run:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)
    assert "seed_demo --if-missing" in run

    def dry_run(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "--no-print-directory", "demo-reset", *args],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "--yes" not in dry_run() and "seed_demo" in dry_run()
    assert "seed_demo --yes" in dry_run("YES=1")
