from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Concat

from funnel.eventlog.working import (
    epoch_seconds,
    step_keys,
    step_lanes,
    stream_calendars,
    visit_offsets,
)
from funnel.leads.models import HandoffDecision, SellerLimit
from funnel.leads.selectors import seller_load
from funnel.leads.separation import separation_figures
from funnel.leads.view import LeadsView
from funnel.models import Deal, DealStatus, Visit
from kaizen.models import KaizenCycle
from streams.models import Membership, StreamState, Team, ValueStream
from tests.shared_data import shared_data
from vsm_project.demo import DEMO_PASSWORD, demo_seed
from vsm_project.demo_leads import SEPARATION_CHANGE_DAYS_AGO

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
    for row in HandoffDecision.objects.order_by(
        "deal__external_id", "visit__entered_at"
    ).values_list(
        "deal__external_id",
        "visit__step__name",
        "kind",
        "reason__label",
        "actor__username",
        "decided_at",
        "response_seconds",
        "response_w",
    ):
        h.update(repr(row).encode())
    return h.hexdigest()


def test_it_gives_identical_data_for_the_same_seed_and_different_data_for_another():
    demo_seed(deals=120, seed=5, anchor=ANCHOR)
    first = digest()
    demo_seed(deals=120, seed=5, anchor=ANCHOR)
    assert digest() == first
    assert Deal.objects.count() == 120 + 6 * 120  # reseeding replaces, never duplicates
    demo_seed(deals=120, seed=6, anchor=ANCHOR)
    assert digest() != first


def test_it_creates_the_team_roles_future_state_and_kaizen_cycles():
    result = demo_seed(deals=10, anchor=ANCHOR)
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {
        "manager": "manager",
        "alice": "rep",
        "bob": "rep",
        "carol": "rep",
        "nora": "rep",
        "ivan": "rep",
        "tess": "rep",
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

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.check_password(DEMO_PASSWORD)


def test_the_command_prints_progress_and_the_demo_logins(capsys):
    call_command("seed_demo", "--deals", "30", "--seed", "3", "--anchor", ANCHOR.isoformat())
    out = capsys.readouterr().out
    assert "30 of 30 deals" in out and "[100.0%] 180 of 180 leads" in out
    assert "Seeded 30 deals" in out
    for username in ("manager", "alice", "bob", "carol", "nora", "vp", "admin"):
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
    SellerLimit.objects.filter(user__username="bob").update(wip_limit=77)
    teams, deals, visits, decisions = (
        Team.objects.count(),
        Deal.objects.count(),
        Visit.objects.count(),
        HandoffDecision.objects.count(),
    )

    call_command("seed_demo", "--if-missing", *SMALL)  # the second `make run`

    out = capsys.readouterr().out
    assert "already there: nothing changed" in out
    assert f"  manager  {DEMO_PASSWORD}" in out  # the logins are printed either way
    deal.refresh_from_db()
    assert deal.name == "Renamed by the manager"
    assert (
        Team.objects.count(),
        Deal.objects.count(),
        Visit.objects.count(),
        HandoffDecision.objects.count(),
    ) == (teams, deals, visits, decisions)
    assert SellerLimit.objects.get(user__username="bob").wip_limit == 77


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
    assert "teams 1," in out and "value streams 2," in out and "deals and leads 140," in out
    assert f"hand-off decisions {HandoffDecision.objects.count()}," in out
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
    assert digest() != before and Deal.objects.count() == 20 + 120
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


# --- the leads demo (vsm_project/demo_leads.py) ---------------------------------------------


# The tests that read the shared demo come last in the module: its transaction stays open
# until the module ends, and the tests above need an empty database.
@pytest.fixture(scope="module")
def seeded_once(django_db_setup, django_db_blocker):
    """The default demo (500 deals, 3,000 leads), seeded once for the tests that read it."""
    with shared_data(django_db_blocker):  # rolled back after the module
        yield demo_seed(anchor=ANCHOR)


@pytest.fixture
def leads_demo(seeded_once):
    """The default demo and its stream's steps by name."""
    stream = ValueStream.objects.get(slug=seeded_once.stream_slug)
    return seeded_once, stream, {s.name: s for s in stream.steps.all()}


def test_the_default_demo_has_rework_losses_and_open_deals_at_every_step(seeded_once):
    result = seeded_once  # the defaults: 500 deals, seed 42
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


def test_reps_differ_in_speed_and_win_rate(seeded_once):
    rates = {}
    for rep in ("alice", "carol"):
        closed = Deal.objects.filter(owner__username=rep).exclude(status=DealStatus.OPEN)
        rates[rep] = closed.filter(status=DealStatus.WON).count() / closed.count()
    assert rates["alice"] > rates["carol"]


def test_the_leads_demo_has_a_waterfall_reasons_and_decisions_of_every_kind(leads_demo):
    result, stream, steps = leads_demo
    assert stream.waterfall.preset == "sirius_2006"
    assert stream.waterfall.recycle_step == steps["Lead nurturing"]
    mql, sql = stream.handoffs.order_by("position")
    assert (mql.step, mql.offered_stage, mql.accepted_stage, mql.giver, mql.receiver) == (
        steps["Qualification call"],
        "MQL",
        "SAL",
        "marketing",
        "sdr",
    )
    assert (mql.sla_minutes, mql.escalate_minutes, mql.pull) == (240, 480, False)
    assert (sql.step, sql.offered_stage, sql.accepted_stage, sql.giver, sql.receiver) == (
        steps["Discovery meeting"],
        "SQL",
        "Opportunity",
        "sdr",
        "sales",
    )
    assert (sql.sla_minutes, sql.escalate_minutes, sql.pull) == (2400, 4800, True)
    assert set(stream.handoff_reasons.values_list("kind", flat=True)) == {
        "reject",
        "recycle",
        "disqualify",
    }
    counts = dict(
        HandoffDecision.objects.values_list("handoff__offered_stage", "kind")
        .annotate(n=Count("id"))
        .values_list(Concat("handoff__offered_stage", Value(" "), "kind"), "n")
    )
    for kind in ("accept", "reject", "recycle", "disqualify"):
        assert counts.get(f"MQL {kind}", 0) > 0, kind
    for kind in ("accept", "reject", "disqualify"):
        assert counts.get(f"SQL {kind}", 0) > 0, kind
    assert result.decisions == HandoffDecision.objects.count()
    # several thousand leads from a few sources; most never past nurturing or disqualified at
    # the MQL hand-off
    leads = Deal.objects.filter(external_id__startswith="LEAD-")
    assert result.leads == leads.count() == 3000
    assert leads.values("source").distinct().count() == 4
    offered_sql = Visit.objects.filter(step=steps["Discovery meeting"]).values("deal")
    assert leads.exclude(pk__in=offered_sql).count() > 0.8 * leads.count()
    # some recycled that were offered at SQL later
    recycled = HandoffDecision.objects.filter(kind="recycle")
    later_sql = Visit.objects.filter(
        step=steps["Discovery meeting"],
        deal__in=recycled.values("deal"),
        entered_at__gt=Subquery(
            recycled.filter(deal=OuterRef("deal")).order_by("decided_at").values("decided_at")[:1]
        ),
    )
    assert later_sql.exists()


def _next_visits() -> dict[int, Visit | None]:
    """Each visit's next visit on its case's path."""
    following: dict[int, Visit | None] = {}
    last_of: dict[int, Visit] = {}
    for visit in Visit.objects.order_by("deal_id", "entered_at", "id"):
        before = last_of.get(visit.deal_id)
        if before is not None:
            following[before.pk] = visit
        following[visit.pk] = None
        last_of[visit.deal_id] = visit
    return following


def test_every_arrival_at_a_hand_off_has_the_decision_its_path_shows(leads_demo):
    _, stream, steps = leads_demo
    handoff_steps = {h.step_id: h for h in stream.handoffs.all()}
    position = {s.pk: s.position for s in steps.values()}
    following = _next_visits()
    prev_step: dict[int, int] = {}
    for visit_id, nxt in following.items():
        if nxt is not None:
            prev_step[nxt.pk] = visit_id
    visits = {v.pk: v for v in Visit.objects.select_related("deal")}
    decisions = {d.visit_id: d for d in HandoffDecision.objects.select_related("reason")}
    calendars = stream_calendars(stream.pk)
    keys = step_keys(calendars, step_lanes(stream.pk))
    undecided_open = 0
    for visit in visits.values():
        if visit.step_id not in handoff_steps:
            assert visit.pk not in decisions
            continue
        decision = decisions.get(visit.pk)
        nxt = following[visit.pk]
        if decision is None:  # undecided arrivals are still waiting
            assert visit.exited_at is None
            undecided_open += 1
            continue
        assert decision.handoff == handoff_steps[visit.step_id]
        assert decision.deal_id == visit.deal_id
        assert decision.response_seconds == int(
            (decision.decided_at - visit.entered_at).total_seconds()
        )
        _, decided_w = visit_offsets(
            keys,
            np.array([visit.step_id]),
            epoch_seconds([visit.entered_at]),
            epoch_seconds([decision.decided_at]),
        )
        assert decision.response_w == int(decided_w[0]) - visit.entered_w
        # W counts whole seconds (epoch seconds floored): a second more at most
        assert 0 <= decision.response_w <= decision.response_seconds + 1
        if decision.kind == "accept":
            assert nxt is None or position[nxt.step_id] > position[visit.step_id]
            assert visit.exited_at is None or decision.decided_at < visit.exited_at
            continue
        assert decision.decided_at == visit.exited_at
        if decision.kind == "disqualify":
            assert nxt is None and visit.deal.status == DealStatus.LOST
            assert visit.deal.closed_at == visit.exited_at
            assert visit.deal.lost_reason == decision.reason.label
        elif decision.kind == "recycle":
            assert nxt.step == steps["Lead nurturing"]
        else:  # reject: back to the step it came from
            came_from = visits[prev_step[visit.pk]]
            assert nxt.step_id == came_from.step_id != steps["Lead nurturing"].pk
    assert undecided_open > 0  # some leads are waiting, e.g. in the ready-for-sales queue
    assert HandoffDecision.objects.count() + undecided_open == sum(
        1 for v in visits.values() if v.step_id in handoff_steps
    )


def test_sdrs_differ_in_response_and_sellers_are_at_and_under_their_limits(leads_demo):
    _, stream, _ = leads_demo
    mql = stream.handoffs.get(offered_stage="MQL")
    breach_rate = {}
    for sdr in ("nora", "ivan", "tess"):
        decided = HandoffDecision.objects.filter(handoff=mql, actor__username=sdr)
        late = decided.filter(response_w__gt=mql.sla_minutes * 60).count()
        breach_rate[sdr] = late / decided.count()
    assert 0 < breach_rate["nora"] < breach_rate["ivan"] < breach_rate["tess"]
    sql = stream.handoffs.get(offered_stage="SQL")
    assert HandoffDecision.objects.filter(handoff=sql, response_w__gt=sql.sla_minutes * 60).exists()

    loads = {load.label: load for load in seller_load(stream)}
    assert set(loads) == {"Alice Moreau", "Bob Okafor", "Carol Lindqvist"}
    # a seller's WIP: the open cases they own (what a pull is checked against)
    for load in loads.values():
        owned = Deal.objects.filter(stream=stream, owner=load.user_id, status=DealStatus.OPEN)
        assert load.wip == owned.count() > 0
    limits = {name: load.limit for name, load in loads.items()}
    wip = {name: load.wip for name, load in loads.items()}
    at = [name for name in limits if wip[name] == limits[name]]
    under = [name for name in limits if wip[name] < limits[name]]
    assert at and under and len(at) + len(under) == 3


def test_the_sellers_prospecting_share_falls_after_the_checklist_cycle(leads_demo):
    """Sellers' hours (logged work of visits they are the actor of) at lead steps ÷ all their
    hours, per week of entry: higher in the eight weeks before the change of the SDRs'
    qualification checklist than in the last eight weeks, and falling after it."""
    _, stream, steps = leads_demo
    cycle = KaizenCycle.objects.get(title="Qualification checklist for SDRs")
    change = datetime.combine(cycle.change_date, datetime.min.time(), tzinfo=UTC)
    assert change.date() == (ANCHOR - timedelta(days=SEPARATION_CHANGE_DAYS_AGO)).date()
    sellers = SellerLimit.objects.filter(stream=stream).values("user")
    lead_positions = {
        steps[n].position for n in ("Lead capture", "Lead nurturing", "Qualification call")
    }
    weekly: dict[int, list[float]] = {}
    for entered, minutes, pos in Visit.objects.filter(
        actor__in=sellers, work_minutes__isnull=False
    ).values_list("entered_at", "work_minutes", "step__position"):
        week = (entered - ANCHOR).days // 7
        hours = weekly.setdefault(week, [0.0, 0.0])
        hours[0] += minutes / 60
        hours[1] += minutes / 60 if pos in lead_positions else 0.0
    share = {week: lead / total for week, (total, lead) in weekly.items() if total}
    change_week = (change - ANCHOR).days // 7
    before = [share[w] for w in range(change_week - 8, change_week) if w in share]
    last = [share[w] for w in range(-8, 0) if w in share]
    assert len(before) == len(last) == 8
    assert np.mean(before) > 0.1 > np.mean(last)
    after = sorted(w for w in share if change_week <= w < 0)
    slope = np.polyfit(after, [share[w] for w in after], 1)[0]
    assert slope < 0
    # The Leads dashboard says so too: over the weeks from the change, and over the default
    # view (the last 90 days), the sellers' prospecting share falls.
    for start in (change, ANCHOR - timedelta(days=90)):
        view = LeadsView(stream_id=stream.pk, start=start, end=ANCHOR, as_of=ANCHOR)
        separation = separation_figures(view)
        assert separation["trend_per_week"] < 0, start
        weekly = [w["share"] for w in separation["prospecting_share"]]
        assert np.mean(weekly[:4]) > np.mean(weekly[-4:])


def test_the_demo_stores_its_default_forecast_so_the_cockpit_shows_the_chance(seeded_once):
    """The seed computes the default Forecast view as its job does (a done ``Job``), so the
    cockpit's "forecast against target" reads a chance on a fresh demo, asking for nothing."""
    from funnel.forecasts.models import ForecastSnapshot
    from funnel.forecasts.snapshots import FORECAST_JOB
    from funnel.forecasts.view import DEFAULT_KEY
    from kaizen.cockpit.forecast import forecast_figure
    from streams.models import Job, JobState
    from vsm_project.demo import DEMO_TEAM_SLUG
    from vsm_project.demo_forecasts import demo_default_forecast_add

    stream = ValueStream.objects.get(slug=seeded_once.stream_slug)
    snapshot = ForecastSnapshot.objects.get(stream=stream, view_key=DEFAULT_KEY)
    assert snapshot.computed_at is not None and snapshot.source_signature
    assert snapshot.result["target"]["target"] > 0
    assert snapshot.result["track_record"]["count"] > 0  # the back-test beside it
    assert Job.objects.get(pk=snapshot.job_id).kind == FORECAST_JOB
    assert Job.objects.get(pk=snapshot.job_id).state == JobState.DONE
    figure = forecast_figure(stream, request=True)
    assert figure.computed and figure.has_target
    assert re.fullmatch(r"\d+% likely", figure.value)
    assert Job.objects.filter(kind=FORECAST_JOB).count() == 1  # nothing asked for
    assert demo_default_forecast_add(team_slug=DEMO_TEAM_SLUG) is False  # stored: kept
