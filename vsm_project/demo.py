"""Demo data: the example stream of ``domain.md`` with simulated deal history.

``demo_seed`` replaces the demo team ("Acme Sales") with a current-state map, an improved
future state, a manager, three reps who sell and three who qualify leads, a leadership user,
an admin, eight kaizen cycles (every PDCA phase, one adopted with a measured improvement) and
``deals`` deals whose visits are simulated from one seeded random generator: lognormal times
in step scaled by each rep's speed, losses at every step, rework loops (a proposal sent back
from negotiation, a demo that needs a second discovery, a contract renegotiated), and open
deals wherever the simulation reaches the anchor time ("now"). Beside them, the leads of
``vsm_project.demo_leads``: a waterfall with two hand-offs, three SDRs, the sellers' WIP limits,
``leads`` leads that never became deals, and a hand-off decision for every arrival.

The same ``seed`` and ``anchor`` give the same rows. Visits are written with PostgreSQL's
COPY (or ``bulk_create`` on SQLite), a chunk of deals at a time, so 100,000 deals (about a
million visits) take minutes, in bounded memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from funnel.eventlog.paths import path_facts
from funnel.eventlog.services import event_log_analyze
from funnel.eventlog.working import (
    StreamCalendars,
    as_value,
    deal_offsets,
    epoch_seconds,
    offsets_adopt,
    step_keys,
    step_lanes,
    stream_calendars,
    visit_offsets,
)
from funnel.importing.writing import VISIT_COPY_COLUMNS as VISIT_COLUMNS
from funnel.leads.models import HandoffDecision
from funnel.metrics.snapshots import metrics_recompute_stream
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import CriterionScore, WinCall
from kaizen.models import KaizenCycle, Metric
from streams.calendars.services import seed_calendar
from streams.future_states import stream_draw_future_state
from streams.models import Membership, ProcessStep, Role, Team, ValueStream
from streams.services import LaneSpec, StageSpec, StepSpec, stream_create
from vsm_project.demo_assets import demo_assets_add
from vsm_project.demo_criteria import (
    SCORE_COLUMNS,
    WIN_CALL_COLUMNS,
    demo_criteria_setup,
    demo_scores,
    demo_win_calls,
)
from vsm_project.demo_five_s import demo_five_s_add
from vsm_project.demo_forecasts import demo_default_forecast_add, demo_forecasts_add
from vsm_project.demo_leads import (
    DECISION_COLUMNS,
    LEADS_PER_DEAL,
    SDRS,
    SEPARATION_CHANGE_DAYS_AGO,
    deal_decisions,
    decision_rows,
    demo_leads_setup,
    demo_seller_limits,
    simulate_leads,
)

DEMO_TEAM_SLUG = "acme-sales"
DEMO_PASSWORD = "lean-sales-demo"
CHUNK_DEALS = 2_000


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str | None  # None: the admin, who is staff and in no team
    speed: float = 1.0  # multiplies time in step
    loss_factor: float = 1.0  # multiplies the chance of losing the deal at a step
    sdr: bool = False  # a rep who qualifies leads (vsm_project.demo_leads), not a seller


USERS = (
    DemoUser("manager", "Morgan", "Reyes", Role.MANAGER),
    DemoUser("alice", "Alice", "Moreau", Role.REP, speed=0.75, loss_factor=0.8),
    DemoUser("bob", "Bob", "Okafor", Role.REP, speed=1.0, loss_factor=1.0),
    DemoUser("carol", "Carol", "Lindqvist", Role.REP, speed=1.35, loss_factor=1.25),
    *(DemoUser(name, first, last, Role.REP, sdr=True) for name, first, last, _ in SDRS),
    DemoUser("vp", "Vivian", "Park", Role.LEADERSHIP),
    DemoUser("admin", "Ada", "Admin", None),
)

LANES = (
    LaneSpec("Marketing", Decimal("60")),
    LaneSpec("SDR", Decimal("45")),
    LaneSpec("Account Executive", Decimal("95")),
    LaneSpec("Sales Engineer", Decimal("110")),
    LaneSpec("Legal", Decimal("150")),
)


@dataclass(frozen=True)
class DemoStep:
    spec: StepSpec
    loss: float  # chance that a deal is lost while at this step


VA, NVA, WASTE = "value_add", "necessary_nva", "waste"
STEPS = (
    DemoStep(StepSpec("Lead capture", "Marketing", VA, 0.25, 24, 95, 40), 0.04),
    DemoStep(StepSpec("Lead nurturing", "Marketing", NVA, 1.0, 240, 80, 120), 0.12),
    DemoStep(StepSpec("Qualification call", "SDR", VA, 0.75, 72, 85, 25), 0.10),
    DemoStep(StepSpec("Discovery meeting", "Account Executive", VA, 2.0, 168, 85, 20), 0.10),
    DemoStep(StepSpec("Solution demo", "Sales Engineer", VA, 3.0, 168, 80, 15), 0.10),
    DemoStep(StepSpec("Proposal & ROI model", "Account Executive", VA, 4.0, 120, 75, 12), 0.08),
    DemoStep(StepSpec("Negotiation", "Account Executive", NVA, 3.0, 240, 70, 18), 0.12),
    DemoStep(StepSpec("Contract review", "Legal", WASTE, 2.0, 168, 90, 8), 0.04),
)
#: The rework loops: step → (the step a deal there may be sent back to, the chance of it).
REWORK = {
    # Leads the SDR finds not ready are recycled to nurturing (MQL → SAL handoff rework).
    "Qualification call": ("Lead nurturing", 0.25),
    "Solution demo": ("Discovery meeting", 0.15),
    "Negotiation": ("Proposal & ROI model", 0.30),
    "Contract review": ("Negotiation", 0.10),
}
STAGES = (
    StageSpec("Lead", ["Lead capture", "Lead nurturing"]),
    StageSpec("Qualified", ["Qualification call", "Discovery meeting"]),
    StageSpec("Solution", ["Solution demo", "Proposal & ROI model"]),
    StageSpec("Commit", ["Negotiation", "Contract review"]),
)
#: The future state the team designed: faster scheduling, a standard contract, better proposals.
#: The discovery meeting's future plan is the standard its adopted kaizen cycle measured
#: (``_kaizen_cycles``), not a target of its own: the cycle's Act then reads 7 d (current
#: state) → 4.4 d (future state), as the map and the compare page do.
FUTURE_CHANGES = {
    "Lead nurturing": {"planned_lead_hours": 120, "planned_pct_complete_accurate": 90},
    "Solution demo": {"planned_lead_hours": 96},
    "Proposal & ROI model": {"planned_pct_complete_accurate": 90},
    "Contract review": {"planned_lead_hours": 48, "value_class": NVA},
}
SOURCES = ("inbound", "outbound", "referral", "event")
SOURCE_P = (0.45, 0.30, 0.15, 0.10)
LOST_REASONS = ("No budget", "Chose a competitor", "No decision", "Bad timing", "Went silent")
WORK_NOT_LOGGED = 0.25  # share of visits where the rep logged no work
HISTORY_DAYS = 365
MAX_VISITS_PER_DEAL = 25
#: The demo's adopted kaizen cycle (``_kaizen_cycles``): from this many days before the anchor
#: the discovery meeting is booked on the qualification call, and deals wait half as long for
#: it (``_improved``).
IMPROVED_STEP = "Discovery meeting"
IMPROVED_DAYS_AGO = 150
IMPROVED_FACTOR = 0.5

Progress = Callable[[int, int, str], None]


@dataclass
class SeedResult:
    deals: int
    leads: int
    visits: int
    decisions: int
    open_deals: int
    won: int
    lost: int
    stream_slug: str
    future_slug: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def demo_exists() -> bool:
    """Whether the demo team is there: ``seed_demo --if-missing`` (``make run``) then leaves it
    and everything the users made in it alone."""
    return Team.objects.filter(slug=DEMO_TEAM_SLUG).exists()


def demo_inventory() -> dict[str, int]:
    """What replacing the demo would delete: the demo team and everything made in it, as
    ``{what: how many}`` for the confirmation question of ``make demo-reset``."""
    streams = ValueStream.objects.filter(team__slug=DEMO_TEAM_SLUG)
    return {
        "teams": Team.objects.filter(slug=DEMO_TEAM_SLUG).count(),
        "memberships": Membership.objects.filter(team__slug=DEMO_TEAM_SLUG).count(),
        "value streams": streams.count(),
        "deals and leads": Deal.objects.filter(stream__in=streams).count(),
        "visits": Visit.objects.filter(deal__stream__in=streams).count(),
        "hand-off decisions": HandoffDecision.objects.filter(deal__stream__in=streams).count(),
        "kaizen cycles": KaizenCycle.objects.filter(stream__in=streams).count(),
    }


def default_anchor() -> datetime:
    """Start of the current UTC day: two seeds on one day give identical rows."""
    now = timezone.now().astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _users() -> dict[str, object]:
    user_model = get_user_model()
    # One hash for all: the password hasher is deliberately slow (seconds per hash).
    password_hash = make_password(DEMO_PASSWORD)
    users = {}
    for demo in USERS:
        user, _ = user_model.objects.get_or_create(username=demo.username)
        user.first_name, user.last_name = demo.first_name, demo.last_name
        user.email = f"{demo.username}@example.com"
        user.is_staff = user.is_superuser = demo.role is None
        user.password = password_hash
        user.save()
        users[demo.username] = user
    return users


@transaction.atomic
def _reset_and_map(users: dict) -> tuple[ValueStream, ValueStream]:
    Team.objects.filter(slug=DEMO_TEAM_SLUG).delete()
    team = Team.objects.create(name="Acme Sales", slug=DEMO_TEAM_SLUG)
    Membership.objects.bulk_create(
        Membership(user=users[d.username], team=team, role=d.role) for d in USERS if d.role
    )
    # Mon–Fri 09:00–17:30 in the site's zone with its country's holidays, before any visit, so
    # the visits are written with their working-time offsets (funnel.eventlog.working).
    seed_calendar(team)
    current = stream_create(
        team=team,
        name="New business",
        description=(
            "From first touch to signed contract for new customers: marketing and SDR generate "
            "and qualify leads, account executives and sales engineers sell, legal closes."
        ),
        lanes=LANES,
        steps=[s.spec for s in STEPS],
        stages=STAGES,
        period_days=30,
        target_won_deals_per_period=12,
        available_selling_hours_per_period=480,
        currency="USD",
    )
    future = stream_draw_future_state(stream=current)
    for name, changes in FUTURE_CHANGES.items():
        future.steps.filter(name=name).update(**changes)
    return current, future


def _simulate(
    rng: np.random.Generator, anchor: datetime, reps: list[DemoUser], n: int, offset: int
) -> Iterator[tuple[dict, list[tuple]]]:
    """Yield ``(deal fields, [(step index, entered, exited, work_minutes)])`` for n deals."""
    index_of = {s.spec.name: i for i, s in enumerate(STEPS)}
    history = timedelta(days=HISTORY_DAYS)
    improved_from = anchor - timedelta(days=IMPROVED_DAYS_AGO)
    for k in range(n):
        rep = reps[int(rng.integers(len(reps)))]
        # A quarter of the deals are recent, so every step has open deals "now".
        age = history * (rng.random() ** 1.6 if rng.random() < 0.25 else rng.random())
        created = anchor - age - timedelta(minutes=int(rng.integers(1, 600)))
        deal = {
            "external_id": f"DEMO-{offset + k + 1:06d}",
            "name": f"Opportunity {offset + k + 1}",
            "account": f"Account {int(rng.integers(1, 4000)):04d}",
            "amount": Decimal(int(rng.lognormal(np.log(24_000), 0.7) / 100) * 100),
            "source": SOURCES[int(rng.choice(len(SOURCES), p=SOURCE_P))],
            "owner": rep.username,
            "created_at": created,
            "status": DealStatus.OPEN,
            "closed_at": None,
            "lost_reason": "",
        }
        visits: list[tuple] = []
        i, entered = 0, created
        while True:
            step = STEPS[i]
            hours = rng.lognormal(np.log(step.spec.planned_lead_hours * rep.speed), 0.6)
            work_factor = rng.lognormal(0, 0.35)
            logged = rng.random() >= WORK_NOT_LOGGED
            minutes = round(step.spec.planned_process_hours * 60 * work_factor)
            work = minutes if logged else None
            exited = entered + timedelta(hours=float(hours))
            outcome_draw, rework_draw = rng.random(), rng.random()
            if exited >= anchor:
                visits.append((i, entered, None, work))
                break
            visits.append((i, entered, exited, work))
            if outcome_draw < step.loss * rep.loss_factor:
                deal.update(status=DealStatus.LOST, closed_at=exited)
                deal["lost_reason"] = LOST_REASONS[int(rng.integers(len(LOST_REASONS)))]
                break
            rework_to, rework = REWORK.get(step.spec.name, (None, 0.0))
            if rework_to and rework_draw < rework and len(visits) < MAX_VISITS_PER_DEAL:
                i = index_of[rework_to]
            elif i == len(STEPS) - 1:
                deal.update(status=DealStatus.WON, closed_at=exited)
                break
            else:
                i += 1
            entered = exited
        yield deal, _improved(deal, visits, improved_from, index_of[IMPROVED_STEP])


def _improved(deal: dict, visits: list[tuple], since: datetime, step: int) -> list[tuple]:
    """The path after the demo's kaizen change: a completed visit of the improved step that
    began on or after ``since`` takes ``IMPROVED_FACTOR`` of its time, and everything after it
    (later visits, the close) happens that much sooner. Done after the simulation, so the
    random draws, the path and which visits are open stay exactly as simulated."""
    shift = timedelta(0)
    out = []
    for i, entered, exited, work in visits:
        entered = entered - shift
        if exited is not None:
            exited = exited - shift
            if i == step and entered >= since:
                saved = (exited - entered) * (1 - IMPROVED_FACTOR)
                exited -= saved
                shift += saved
        out.append((i, entered, exited, work))
    if deal["closed_at"] is not None:
        deal["closed_at"] -= shift
    return out


def _write_chunk(
    batch: list[tuple[dict, list[tuple]]],
    stream: ValueStream,
    steps: list[ProcessStep],
    users: dict,
    actor_lane: dict[int, bool],
    calendars: StreamCalendars,
    keys: dict,
) -> tuple[int, list[Deal]]:
    """Write a chunk of simulated deals (or leads) and their visits; the number of visits,
    and the deals. A visit is ``(step index, entered, exited, work)``, a lead's has its
    actor's username after them."""
    now = timezone.now()
    firsts = [visits[0][1] if visits else None for _, visits in batch]
    first_w, closed_w = deal_offsets(
        calendars, epoch_seconds(firsts), epoch_seconds(f["closed_at"] for f, _ in batch)
    )
    deals = Deal.objects.bulk_create(
        Deal(
            stream=stream,
            **{**fields, "owner": users[fields["owner"]]},
            first_entered_at=first,
            first_entered_w=as_value(fw),
            closed_w=as_value(cw),
        )
        for (fields, _), first, fw, cw in zip(
            batch, firsts, first_w.tolist(), closed_w.tolist(), strict=True
        )
    )

    def actor(deal: Deal, i: int, named: list[str]) -> int | None:
        """A lead's visit names its actor ("": the lane); a deal's is its owner in an AE lane."""
        if named:
            return users[named[0]].pk if named[0] else None
        return deal.owner_id if actor_lane[i] else None

    rows = [
        (
            deal.pk,
            steps[i].pk,
            entered,
            exited,
            work,
            who,
            "" if who else steps[i].lane.name,
            now,
            now,
        )
        for deal, (_, visits) in zip(deals, batch, strict=True)
        for i, entered, exited, work, *named in visits
        for who in (actor(deal, i, named),)
    ]
    # The path facts (funnel.eventlog.paths) of the simulated paths, in the same order as rows.
    reentry, previous, is_last = path_facts(
        np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64)
    )
    # Their working-time offsets (funnel.eventlog.working), each on its step's calendar.
    entered_w, exited_w = visit_offsets(
        keys,
        np.array([r[1] for r in rows], np.int64),
        epoch_seconds(r[2] for r in rows),
        epoch_seconds(r[3] for r in rows),
    )
    rows = [
        (
            *row,
            bool(again),
            None if before < 0 else int(before),
            bool(last),
            as_value(ew),
            as_value(xw),
        )
        for row, again, before, last, ew, xw in zip(
            rows,
            reentry.tolist(),
            previous.tolist(),
            is_last.tolist(),
            entered_w.tolist(),
            exited_w.tolist(),
            strict=True,
        )
    ]
    # A row holds a visit's columns in the order the import writes them (VISIT_COLUMNS).
    _write_rows(Visit, VISIT_COLUMNS, rows)
    return len(rows), deals


def _write_rows(model: type, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``model``'s table: by COPY
    on PostgreSQL, else ``bulk_create`` (which stamps auto_now(_add) columns itself)."""
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        model.objects.bulk_create(
            (model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=5000
        )


def demo_seed(
    *,
    deals: int = 500,
    seed: int = 42,
    anchor: datetime | None = None,
    progress: Progress | None = None,
    leads: int | None = None,
) -> SeedResult:
    """Replace the demo team and its data; see the module docstring. ``leads``: the leads
    that never became deals (``vsm_project.demo_leads``; default six per deal)."""
    if deals < 0 or (leads is not None and leads < 0):
        raise ValueError("deals and leads must be zero or more")
    leads = LEADS_PER_DEAL * deals if leads is None else leads
    anchor = anchor or default_anchor()
    users = _users()
    current, future = _reset_and_map(users)
    steps = list(current.steps.select_related("lane").order_by("position"))
    actor_lane = {i: s.lane.name == "Account Executive" for i, s in enumerate(steps)}
    reps = [d for d in USERS if d.role == Role.REP and not d.sdr]
    rng = np.random.default_rng(seed)
    calendars = stream_calendars(current.pk)
    keys = step_keys(calendars, step_lanes(current.pk))
    offsets_adopt(calendars, current.pk)  # every visit below is written under these calendars

    # Qualification: a MEDDPICC set, and scores from a generator of their own (so the paths
    # above are the same with or without them), with signals planted for the lab.
    criteria = demo_criteria_setup(current, users["manager"])
    score_rng = np.random.default_rng(seed + 7919)
    call_rng = np.random.default_rng(seed + 104729)  # the reps' win calls, of their own too
    names = {u.pk: u.get_full_name() for u in users.values()}
    # Leads: the waterfall and its hand-offs, a decision for every arrival at one, and the
    # leads that never became deals, each from a generator of its own too.
    funnel = demo_leads_setup(
        current, steps, users, {d.username: d.speed for d in reps}, keys, anchor, LOST_REASONS
    )
    decision_rng = np.random.default_rng(seed + 15485863)
    decisions = 0

    visits = 0
    total = deals + leads
    simulated = _simulate(rng, anchor, reps, deals, 0)
    for start in range(0, deals, CHUNK_DEALS):
        batch = list(itertools.islice(simulated, CHUNK_DEALS))
        with transaction.atomic():
            plans = deal_decisions(decision_rng, batch, funnel)  # may set lost reasons
            written, made = _write_chunk(batch, current, steps, users, actor_lane, calendars, keys)
            visits += written
            paths = [path for _, path in batch]
            scores = demo_scores(score_rng, made, paths, steps, criteria, anchor, names)
            _write_rows(CriterionScore, SCORE_COLUMNS, scores)
            calls = demo_win_calls(call_rng, made, paths, anchor)
            _write_rows(WinCall, WIN_CALL_COLUMNS, calls)
            rows = decision_rows(funnel, made, paths, plans)
            _write_rows(HandoffDecision, DECISION_COLUMNS, rows)
            decisions += len(rows)
        if progress:
            done = start + len(batch)
            progress(done, total, f"{done:,} of {deals:,} deals, {visits:,} visits")
    process_hours = [float(s.planned_process_hours) for s in steps]
    simulated_leads = simulate_leads(
        np.random.default_rng(seed + 32452843), funnel, leads, process_hours
    )
    for start in range(0, leads, CHUNK_DEALS * 2):
        batch = list(itertools.islice(simulated_leads, CHUNK_DEALS * 2))
        with transaction.atomic():
            written, made = _write_chunk(
                [(f, v) for f, v, _ in batch], current, steps, users, actor_lane, calendars, keys
            )
            visits += written
            rows = decision_rows(funnel, made, [v for _, v, _ in batch], [p for *_, p in batch])
            _write_rows(HandoffDecision, DECISION_COLUMNS, rows)
            decisions += len(rows)
        if progress:
            done = start + len(batch)
            progress(deals + done, total, f"{done:,} of {leads:,} leads, {visits:,} visits")

    _kaizen_cycles(current, users, anchor)
    demo_assets_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor, seed=seed)
    demo_five_s_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor, seed=seed)
    demo_seller_limits(funnel)
    if progress:
        progress(total, total, "Computing the metrics")
    event_log_analyze()
    # The rows above bypass the services (COPY), so no recompute was scheduled: do it now.
    metrics_recompute_stream(stream_id=current.pk, now=timezone.now())
    if progress:
        progress(total, total, "Storing a year of weekly forecasts")
    demo_forecasts_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor, seed=seed)
    if progress:
        progress(total, total, "Computing the forecast against target")
    demo_default_forecast_add(team_slug=DEMO_TEAM_SLUG)
    counts = _status_counts(current)
    return SeedResult(
        deals=deals,
        leads=leads,
        visits=visits,
        decisions=decisions,
        open_deals=counts.get(DealStatus.OPEN, 0),
        won=counts.get(DealStatus.WON, 0),
        lost=counts.get(DealStatus.LOST, 0),
        stream_slug=current.slug,
        future_slug=future.slug,
    )


def _status_counts(stream: ValueStream) -> dict[str, int]:
    return dict(
        Deal.objects.filter(stream=stream)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def _kaizen_cycles(stream: ValueStream, users: dict, anchor: datetime) -> None:
    """Kaizen cycles in every phase, each taken through the services at its own moment of the
    story (``now`` = that day, 10:00 UTC, never after the anchor), so baselines, Checks and
    dates are what the event log said then:

    - adopted, with a measured improvement: booking the discovery meeting on the qualification
      call (the simulation halves the wait from ``IMPROVED_DAYS_AGO`` days before the anchor);
      the measured time in step becomes the planned lead time on the future-state map;
    - abandoned (no measurable change), adapted (and its follow-up, now in Check), one in Act
      past its target date, one in Do, a manager's plan and a rep's proposal, with comments.
    """
    from kaizen import services as kaizen

    steps = {s.name: s for s in stream.steps.all()}
    manager = users["manager"]

    def day(days_ago: int) -> datetime:
        # Never after the anchor: the default anchor is today 00:00 UTC, so "today, 10:00 UTC"
        # would date a Check in the future for anyone seeding before ten.
        return min(anchor - timedelta(days=days_ago) + timedelta(hours=10), anchor)

    def in_days(days: int) -> date:
        """A target date ``days`` after the anchor."""
        return (anchor + timedelta(days=days)).date()

    def plan(days_ago: int, step: str, **fields) -> KaizenCycle:
        return kaizen.cycle_plan(
            user=fields.pop("user", manager),
            stream=stream,
            step=steps[step],
            now=day(days_ago),
            **fields,
        )

    def act(cycle: KaizenCycle) -> KaizenCycle:
        # A Check with too few deals carries no decision: the manager writes why they act.
        thin = kaizen.CycleCheck.objects.get(cycle=cycle).verdict == "insufficient_data"
        reason = "Too few deals for the Check yet; the team decides on judgement." if thin else ""
        return kaizen.cycle_start_act(cycle=cycle, user=manager, override_reason=reason)

    def through_check(cycle: KaizenCycle, change_ago: int, check_ago: int, **do) -> KaizenCycle:
        cycle = kaizen.cycle_start_do(
            cycle=cycle, user=manager, change_date=day(change_ago).date(), now=day(change_ago), **do
        )
        cycle = kaizen.cycle_start_check(cycle=cycle, user=manager, now=day(check_ago))
        kaizen.cycle_check(cycle_id=cycle.pk, now=day(check_ago))
        return cycle

    # Adopted: the discovery meeting booked on the call.
    discovery = plan(
        170,
        "Discovery meeting",
        title="Book the discovery meeting on the qualification call",
        metric=Metric.TIME_IN_STEP,
        problem="Qualified deals wait about a week for the discovery meeting; some go cold.",
        current_condition="The SDR hands over by email; the AE proposes times a day or two later.",
        root_cause="Why the wait? The AE schedules after the handover.\nWhy after? The SDR cannot "
        "see AE calendars.\nWhy not? Calendars are not shared across lanes.\nWhy? Nobody owns the "
        "handover.\nWhy? The handover was never designed, it grew.",
        countermeasure="The SDR books the discovery meeting into the AE's calendar before ending "
        "the qualification call.",
        prediction="Median time at Discovery meeting halves within two months.",
        target_value=84,
        target_date=day(90).date(),
    )
    discovery = through_check(
        discovery, 150, 90, change_description="Shared AE calendars; SDR booking script."
    )
    discovery = act(discovery)
    after = discovery.check_result.value_after
    kaizen.cycle_adopt(
        cycle=discovery,
        user=manager,
        standard="The SDR books the discovery meeting on the qualification call, into the AE's "
        "shared calendar, within five working days.",
        planned_value=None if after is None else max(round(after), 4.0),
        now=day(85),
    )

    # Abandoned: no measurable change.
    nurture = plan(
        230,
        "Lead nurturing",
        title="Three-email nurture sequence instead of six",
        metric=Metric.PCT_COMPLETE_ACCURATE,
        problem="A quarter of the leads the SDRs call are sent back to nurturing.",
        countermeasure="Shorter, sharper sequence with a clear call to action.",
        prediction="Fewer leads recycled from qualification.",
    )
    nurture = through_check(nurture, 215, 150)
    nurture = act(nurture)
    kaizen.cycle_abandon(
        cycle=nurture,
        user=manager,
        reason="No measurable change: recycled leads come back as often as before. The issue is "
        "lead fit, not the length of the sequence.",
        now=day(145),
    )

    # Adapted, with its follow-up now in Check.
    checklist = plan(
        130,
        "Qualification call",
        title="Qualification checklist for SDRs",
        metric=Metric.CONVERSION,
        problem="Deals are lost at qualification after long calls that find no budget.",
        countermeasure="A one-page checklist: budget, authority, need, timing.",
    )
    # Since the checklist, sellers prospect and qualify less themselves (demo_leads).
    checklist = through_check(checklist, SEPARATION_CHANGE_DAYS_AGO, 60)
    checklist = act(checklist)
    follow_up = kaizen.cycle_adapt(
        cycle=checklist,
        user=manager,
        notes="Script the budget question; the checklist alone was skipped on busy days.",
        title="Qualification checklist v2: the budget question scripted",
        now=day(55),
    )
    through_check(follow_up, 40, 0)

    # In Act, past its target date.
    review = plan(
        100,
        "Proposal & ROI model",
        title="Peer review of every proposal before it goes out",
        metric=Metric.PCT_COMPLETE_ACCURATE,
        problem="Three in ten proposals come back from negotiation for rework.",
        countermeasure="A second AE reviews the ROI model and pricing before sending.",
        target_date=day(10).date(),
    )
    review = through_check(review, 90, 20)
    act(review)

    # In Do.
    slots = plan(
        30,
        "Solution demo",
        title="Pre-booked demo slots with sales engineers",
        metric=Metric.TIME_IN_STEP,
        problem="Demos wait for a sales engineer to be free.",
        countermeasure="Each sales engineer keeps two demo slots a day open for AEs to book.",
        target_value=72,
        target_date=in_days(30),
    )
    slots = kaizen.cycle_start_do(
        cycle=slots,
        user=manager,
        change_date=day(12).date(),
        change_description="Two slots a day per sales engineer, bookable in the shared calendar.",
        now=day(12),
    )
    kaizen.cycle_comment_add(
        cycle=slots, user=users["bob"], body="Booked two demos this week without waiting."
    )

    # Plans: the manager's, and a rep's proposal.
    plan(
        5,
        "Contract review",
        title="Standard contract template for deals under 50k",
        metric=Metric.TIME_IN_STEP,
        problem="Legal review of every contract takes a week; most are standard.",
        countermeasure="A pre-approved template; legal reviews only changes to it.",
        target_date=in_days(60),
    )
    proposal = plan(
        2,
        "Negotiation",
        user=users["alice"],
        title="Send the ROI model before the negotiation call",
        metric=Metric.WIN_RATE,
        problem="Buyers see the ROI model for the first time in the negotiation call.",
        countermeasure="Send it two days before, with a short video walk-through.",
    )
    kaizen.cycle_comment_add(
        cycle=proposal,
        user=manager,
        body="Good idea: let's start it once the contract template is running.",
    )


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, password, role) of every demo user, for printing."""
    return [(d.username, DEMO_PASSWORD, d.role or "admin (staff)") for d in USERS]
