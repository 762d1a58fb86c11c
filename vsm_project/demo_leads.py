"""The demo stream's leads (docs/leads.md): a Sirius 2006 waterfall, its two hand-offs, the
team's reason lists, three SDRs, the sellers' WIP limits, several thousand leads that never
become deals, and a decision for every arrival at a hand-off in the demo's history.

**The waterfall.** Qualification call is the MQL → SAL hand-off (marketing → SDR, SLA 4
working hours, escalated at 8); Discovery meeting the SQL → Opportunity one (SDR → sales, the
ready-for-sales queue sellers pull from, SLA 5 working days, escalated at 10). Recycled leads go
back to Lead nurturing.

**Decisions follow the paths.** A decision is read off each arrival's path (the deals of
``vsm_project.demo`` and the leads here alike): the next visit later in the map → *accept*,
decided before the visit ends; back to the step the lead came from → *reject*; to Lead
nurturing → *recycle*; the case lost there → *disqualify*, its lost reason the reason's label.
A reject, recycle or disqualify is decided when the visit ends (the lead moves then). An arrival
still open is accepted when its response time has passed by the anchor, else undecided (the
deals at the pull step are all pulled: they have their seller). The response time is the
decider's: each SDR has their own (:data:`SDRS`; Tess is slow and breaches the SLA often), the
sellers at the pull theirs. ``response_w`` is the difference of the W offsets of the step's
calendar, as the visits' offsets are.

**Leads** (:func:`simulate_leads`, a generator of their own, so the deals are the same with or
without them) enter Lead capture from the demo's sources; most are lost there or in nurturing,
or disqualified at the MQL hand-off; inbound and referral leads may skip nurturing (and be
rejected back to Lead capture for missing data); some are recycled and offered again; a few
reach the ready-for-sales queue, where sellers send some back, disqualify others, and, over the
last :data:`QUEUE_DAYS` days, at their limits, leave them waiting. A lead is owned by its SDR.

**Separation.** Before the SDRs' qualification checklist (the kaizen cycle changed
:data:`SEPARATION_CHANGE_DAYS_AGO` days before the anchor) the account executives prospect
outbound leads themselves and take qualification calls (visits at lead steps with the AE as
actor and logged work); after it, less and less: the prospecting share falls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Count

from funnel.eventlog.working import as_value, epoch_seconds, visit_offsets
from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffReason,
    ReasonKind,
    SellerLimit,
    Waterfall,
    WaterfallPreset,
)
from funnel.leads.presets import DEFAULT_REASONS, PRESETS
from funnel.models import Deal, DealStatus, Visit
from streams.models import ProcessStep, ValueStream

#: The SDRs: (username, first name, last name, median response in elapsed hours).
SDRS = (
    ("nora", "Nora", "Whitfield", 1.0),
    ("ivan", "Ivan", "Kowalski", 2.5),
    ("tess", "Tess", "Brandt", 9.0),
)
#: The sellers' (account executives') median response at the pull, in elapsed hours.
SELLER_RESPONSE_HOURS = 20.0
#: The sellers' WIP limit above their open deals at the anchor: at the limit, or under it.
SELLER_HEADROOM = {"alice": 0, "bob": 4, "carol": 0}
#: The stream's steps the waterfall names.
CAPTURE, NURTURE, QUALIFY, DISCOVER = (
    "Lead capture",
    "Lead nurturing",
    "Qualification call",
    "Discovery meeting",
)
#: The Sirius 2006 hand-offs' steps, SLAs and escalations (working minutes), in the preset's
#: order: MQL → SAL at the qualification call, SQL → Opportunity at the discovery meeting.
HANDOFF_SLAS = ((QUALIFY, 240, 480), (DISCOVER, 2400, 4800))
#: The team's reason lists: the defaults a waterfall starts with; ``demo_leads_setup`` adds the
#: demo's lost reasons to the disqualify list (the deals lost at a hand-off keep theirs).
REASONS = DEFAULT_REASONS
#: Leads per demo deal when ``demo_seed`` is not told how many.
LEADS_PER_DEAL = 6
#: The kaizen cycle after which sellers prospect less (the SDRs' qualification checklist).
SEPARATION_CHANGE_DAYS_AGO = 120
#: The chance a seller prospects an outbound lead (Lead capture) or takes a qualification call,
#: before the change; it falls linearly to :data:`PROSPECT_AFTER` at the anchor.
PROSPECT_CAPTURE, PROSPECT_QUALIFY, PROSPECT_AFTER = 0.6, 0.3, 0.03
#: Of the leads' qualification calls: the share accepted and offered to sales. Small: the
#: demo's deals are the leads sales took, and the leads' short visits at Discovery meeting must
#: not drown the deals' (the adopted kaizen cycle measures the time there).
SQL_SHARE = 0.06
#: Over the last this many days, sellers at their limits leave SQLs waiting in the queue.
QUEUE_DAYS = 21
MAX_LEAD_VISITS = 12
HISTORY_DAYS = 365
LEAD_SOURCES = ("inbound", "outbound", "referral", "event")
LEAD_SOURCE_P = (0.45, 0.30, 0.10, 0.15)
#: The columns of a decision row, in the order :func:`decision_rows` writes them.
DECISION_COLUMNS = (
    "visit_id",
    "handoff_id",
    "deal_id",
    "kind",
    "reason_id",
    "note",
    "actor_id",
    "decided_at",
    "response_seconds",
    "response_w",
)


@dataclass
class LeadsContext:
    """What the demo's decisions are written from: the waterfall's ids and the reasons."""

    stream: ValueStream
    step_index: dict[str, int]  # step name → its index in the map (the simulation's steps)
    step_ids: list[int]  # by index
    handoffs: dict[int, Handoff]  # step index → its hand-off
    reasons: dict[str, list[HandoffReason]]  # kind → the active list
    users: dict[str, object]
    sellers: list[str]
    seller_speed: dict[str, float]
    keys: dict
    change_at: datetime
    anchor: datetime
    by_label: dict[str, HandoffReason] = field(default_factory=dict)


def sdr_usernames() -> list[str]:
    return [s[0] for s in SDRS]


def demo_leads_setup(
    stream: ValueStream,
    steps: list[ProcessStep],
    users: dict,
    sellers: dict[str, float],
    keys: dict,
    anchor: datetime,
    lost_reasons: tuple[str, ...] = (),
) -> LeadsContext:
    """The waterfall, its hand-offs and the reason lists of ``stream``; ``sellers``: the
    account executives' usernames and speeds; ``keys``: each step's calendar;
    ``lost_reasons``: added to the disqualify list."""
    index = {s.name: i for i, s in enumerate(steps)}
    Waterfall.objects.create(
        stream=stream,
        preset=WaterfallPreset.SIRIUS_2006,
        recycle_step=steps[index[NURTURE]],
        updated_by=users["manager"],
    )
    # The preset's two hand-offs (MQL → SAL, SQL → Opportunity) at the demo's steps and SLAs.
    mql, sql = (
        Handoff.objects.create(
            stream=stream,
            position=position,
            step=steps[index[at]],
            sla_minutes=sla,
            escalate_minutes=escalate,
            **asdict(terms),
        )
        for position, (terms, (at, sla, escalate)) in enumerate(
            zip(PRESETS[WaterfallPreset.SIRIUS_2006].handoffs, HANDOFF_SLAS, strict=True),
            start=1,
        )
    )
    lists = {**REASONS, ReasonKind.DISQUALIFY: (*REASONS[ReasonKind.DISQUALIFY], *lost_reasons)}
    reasons = HandoffReason.objects.bulk_create(
        HandoffReason(stream=stream, kind=kind, label=label, position=k)
        for kind, labels in lists.items()
        for k, label in enumerate(dict.fromkeys(labels))
    )
    by_kind: dict[str, list[HandoffReason]] = {}
    for reason in reasons:
        by_kind.setdefault(reason.kind, []).append(reason)
    return LeadsContext(
        stream=stream,
        step_index=index,
        step_ids=[s.pk for s in steps],
        handoffs={index[QUALIFY]: mql, index[DISCOVER]: sql},
        reasons=by_kind,
        users=users,
        sellers=list(sellers),
        seller_speed=sellers,
        keys=keys,
        change_at=anchor - timedelta(days=SEPARATION_CHANGE_DAYS_AGO),
        anchor=anchor,
        by_label={r.label: r for r in by_kind[ReasonKind.DISQUALIFY]},
    )


# --- decisions ------------------------------------------------------------------------------

#: A planned decision: (the visit's index in its path, kind, reason id, actor's username,
#: decided_at).
Plan = tuple[int, str, int | None, str, datetime]


def _hours(rng: np.random.Generator, median: float, sigma: float = 0.9) -> timedelta:
    return timedelta(hours=float(rng.lognormal(np.log(median), sigma)))


def _reason(rng: np.random.Generator, ctx: LeadsContext, kind: str) -> HandoffReason:
    options = ctx.reasons[kind]
    return options[int(rng.integers(len(options)))]


def deal_decisions(
    rng: np.random.Generator, batch: list[tuple[dict, list[tuple]]], ctx: LeadsContext
) -> list[list[Plan]]:
    """The decisions of simulated deals (``(fields, [(step index, entered, exited, work)])``),
    one list per deal, read off their paths (module docstring). A deal lost at a hand-off gets
    the disqualify reason as its lost reason (``fields`` is updated)."""
    plans = []
    qualify, discover = ctx.step_index[QUALIFY], ctx.step_index[DISCOVER]
    for fields, path in batch:
        sdr = SDRS[int(rng.integers(len(SDRS)))]
        plan: list[Plan] = []
        for j, (i, entered, exited, _work) in enumerate(path):
            if i not in ctx.handoffs:
                continue
            if i == qualify:
                actor, response = sdr[0], _hours(rng, sdr[3])
            else:
                speed = ctx.seller_speed.get(fields["owner"], 1.0)
                actor, response = fields["owner"], _hours(rng, SELLER_RESPONSE_HOURS * speed, 0.8)
            if exited is None:  # still there: accepted once its response time has passed
                age = ctx.anchor - entered
                if i == discover:
                    plan.append(
                        (j, DecisionKind.ACCEPT, None, actor, entered + min(response, age / 2))
                    )
                elif response < age:
                    plan.append((j, DecisionKind.ACCEPT, None, actor, entered + response))
                continue
            nxt = path[j + 1][0] if j + 1 < len(path) else None
            if nxt is None:  # the case closed here: lost (a hand-off is never the last step)
                reason = ctx.by_label.get(fields["lost_reason"]) or _reason(
                    rng, ctx, ReasonKind.DISQUALIFY
                )
                fields["lost_reason"] = reason.label
                plan.append((j, DecisionKind.DISQUALIFY, reason.pk, actor, exited))
            elif nxt > i:
                plan.append(
                    (
                        j,
                        DecisionKind.ACCEPT,
                        None,
                        actor,
                        entered + min(response, (exited - entered) * 0.8),
                    )
                )
            elif nxt == ctx.step_index[NURTURE]:
                reason = _reason(rng, ctx, ReasonKind.RECYCLE)
                plan.append((j, DecisionKind.RECYCLE, reason.pk, actor, exited))
            else:
                reason = _reason(rng, ctx, ReasonKind.REJECT)
                plan.append((j, DecisionKind.REJECT, reason.pk, actor, exited))
        plans.append(plan)
    return plans


def decision_rows(
    ctx: LeadsContext, deals: list[Deal], paths: list[list[tuple]], plans: list[list[Plan]]
) -> list[tuple]:
    """The decision rows (values in the order of :data:`DECISION_COLUMNS`) of written
    ``deals``: their visits at the hand-off steps are read back (in path order) for their
    ids."""
    handoff_steps = {ctx.step_ids[i]: h for i, h in ctx.handoffs.items()}
    ids: dict[int, list[int]] = {}
    for visit_id, deal_id in (
        Visit.objects.filter(deal__in=[d.pk for d in deals], step__in=list(handoff_steps))
        .order_by("deal_id", "entered_at", "id")
        .values_list("id", "deal_id")
    ):
        ids.setdefault(deal_id, []).append(visit_id)
    picked = []
    for deal, path, plan in zip(deals, paths, plans, strict=True):
        if not plan:
            continue
        at_handoffs = [j for j, v in enumerate(path) if v[0] in ctx.handoffs]
        visit_of = dict(zip(at_handoffs, ids.get(deal.pk, []), strict=True))
        for j, kind, reason, actor, decided in plan:
            picked.append((deal, path[j], visit_of[j], kind, reason, actor, decided))
    if not picked:
        return []
    step = np.array([ctx.step_ids[p[1][0]] for p in picked], np.int64)
    entered_w, decided_w = visit_offsets(
        ctx.keys, step, epoch_seconds(p[1][1] for p in picked), epoch_seconds(p[6] for p in picked)
    )
    rows = []
    for (deal, visit, visit_id, kind, reason, actor, decided), ew, dw in zip(
        picked, entered_w.tolist(), decided_w.tolist(), strict=True
    ):
        ew, dw = as_value(ew), as_value(dw)
        rows.append(
            (
                visit_id,
                ctx.handoffs[visit[0]].pk,
                deal.pk,
                kind,
                reason,
                "",
                ctx.users[actor].pk,
                decided,
                int((decided - visit[1]).total_seconds()),
                None if ew is None or dw is None else dw - ew,
            )
        )
    return rows


# --- leads ----------------------------------------------------------------------------------


def _prospecting(ctx: LeadsContext, at: datetime, before: float) -> float:
    """The chance a seller does a lead step's work at ``at``: ``before`` until the change, then
    falling linearly to :data:`PROSPECT_AFTER` at the anchor."""
    if at < ctx.change_at:
        return before
    done = min(1.0, (at - ctx.change_at) / (ctx.anchor - ctx.change_at))
    return before + (PROSPECT_AFTER - before) * done


def simulate_leads(
    rng: np.random.Generator, ctx: LeadsContext, n: int, planned_process_hours: list[float]
) -> Iterator[tuple[dict, list[tuple], list[Plan]]]:
    """Yield ``(case fields, [(step index, entered, exited, work, actor)], decisions)`` for
    ``n`` leads (module docstring); ``actor`` is a username, or "" for the lane."""
    capture, nurture = ctx.step_index[CAPTURE], ctx.step_index[NURTURE]
    qualify, discover = ctx.step_index[QUALIFY], ctx.step_index[DISCOVER]
    history, anchor = timedelta(days=HISTORY_DAYS), ctx.anchor
    queue_from = anchor - timedelta(days=QUEUE_DAYS)
    lost_early = ("No reply after several attempts", "Unsubscribed", "Bad timing")
    for k in range(n):
        sdr = SDRS[int(rng.integers(len(SDRS)))]
        seller = ctx.sellers[int(rng.integers(len(ctx.sellers)))]
        age = history * (rng.random() ** 1.6 if rng.random() < 0.25 else rng.random())
        created = anchor - age - timedelta(minutes=int(rng.integers(1, 600)))
        source = LEAD_SOURCES[int(rng.choice(len(LEAD_SOURCES), p=LEAD_SOURCE_P))]
        fields = {
            "external_id": f"LEAD-{k + 1:06d}",
            "name": f"Lead {k + 1}",
            "account": f"Prospect {int(rng.integers(1, 20000)):05d}",
            "amount": Decimal(int(rng.lognormal(np.log(18_000), 0.7) / 100) * 100),
            "source": source,
            "owner": sdr[0],
            "created_at": created,
            "status": DealStatus.OPEN,
            "closed_at": None,
            "lost_reason": "",
        }
        visits: list[tuple] = []
        plan: list[Plan] = []
        i, entered, came_from = capture, created, None

        def lost(at: datetime, label: str, fields: dict = fields) -> None:
            fields.update(status=DealStatus.LOST, closed_at=at, lost_reason=label)

        while True:
            actor, draw = "", rng.random()
            work = round(planned_process_hours[i] * 60 * rng.lognormal(0, 0.35))
            if i == capture:
                if source == "outbound" and draw < _prospecting(ctx, entered, PROSPECT_CAPTURE):
                    actor = seller
                exited = entered + _hours(rng, 24, 0.6)
                if exited >= anchor:
                    visits.append((i, entered, None, work, actor))
                    break
                visits.append((i, entered, exited, work, actor))
                if rng.random() < 0.12:
                    lost(exited, lost_early[int(rng.integers(3))])
                    break
                hot = source in ("inbound", "referral") and rng.random() < 0.35
                nxt = qualify if hot else nurture
            elif i == nurture:
                exited = entered + _hours(rng, 200, 0.7)
                if exited >= anchor:
                    visits.append((i, entered, None, work, actor))
                    break
                visits.append((i, entered, exited, work, actor))
                if rng.random() < (0.6 if came_from == capture else 0.35):
                    lost(exited, lost_early[int(rng.integers(3))])
                    break
                nxt = qualify
            elif i == qualify:
                if draw < _prospecting(ctx, entered, PROSPECT_QUALIFY):
                    actor, response = seller, _hours(rng, 12)
                else:
                    actor, response = sdr[0], _hours(rng, sdr[3])
                decided = entered + response
                if decided >= anchor:  # still waiting for the SDR
                    visits.append((i, entered, None, None, ""))
                    break
                outcome = rng.random()
                full = len(visits) + 1 >= MAX_LEAD_VISITS
                if came_from == capture and outcome < 0.2:
                    kind, nxt = DecisionKind.REJECT, capture
                elif outcome < 0.55 or full:
                    kind, nxt = DecisionKind.DISQUALIFY, None
                elif outcome < 1 - SQL_SHARE:
                    kind, nxt = DecisionKind.RECYCLE, nurture
                else:
                    kind, nxt = DecisionKind.ACCEPT, discover
                exited = decided
                if kind == DecisionKind.ACCEPT:
                    exited = decided + _hours(rng, 30, 0.6)  # the call, then the hand-over
                if kind == DecisionKind.DISQUALIFY:
                    reason = _reason(rng, ctx, ReasonKind.DISQUALIFY)
                    plan.append((len(visits), kind, reason.pk, actor, decided))
                    visits.append((i, entered, exited, work, actor))
                    lost(exited, reason.label)
                    break
                reason_kind = {DecisionKind.REJECT: ReasonKind.REJECT}.get(kind, ReasonKind.RECYCLE)
                reason = None if kind == DecisionKind.ACCEPT else _reason(rng, ctx, reason_kind).pk
                plan.append((len(visits), kind, reason, actor, decided))
                if exited >= anchor:
                    visits.append((i, entered, None, work, actor))
                    break
                visits.append((i, entered, exited, work, actor))
            else:  # the ready-for-sales queue: sellers send leads back or disqualify them
                decider = ctx.sellers[int(rng.integers(len(ctx.sellers)))]
                speed = ctx.seller_speed[decider]
                decided = entered + _hours(rng, SELLER_RESPONSE_HOURS * speed, 0.8)
                if decided >= anchor or entered >= queue_from:
                    visits.append((i, entered, None, None, ""))
                    break
                full = len(visits) + 1 >= MAX_LEAD_VISITS
                if rng.random() < 0.5 and not full:
                    reason = _reason(rng, ctx, ReasonKind.REJECT)
                    plan.append((len(visits), DecisionKind.REJECT, reason.pk, decider, decided))
                    visits.append((i, entered, decided, None, ""))
                    nxt = qualify
                else:
                    reason = _reason(rng, ctx, ReasonKind.DISQUALIFY)
                    plan.append((len(visits), DecisionKind.DISQUALIFY, reason.pk, decider, decided))
                    visits.append((i, entered, decided, None, ""))
                    lost(decided, reason.label)
                    break
            came_from, i, entered = i, nxt, visits[-1][2]
        yield fields, visits, plan


# --- limits ---------------------------------------------------------------------------------


def demo_seller_limits(ctx: LeadsContext) -> dict[str, tuple[int, int]]:
    """Give each seller a WIP limit: their open deals at the anchor plus their headroom
    (:data:`SELLER_HEADROOM`: 0 is at the limit). ``{username: (open deals, limit)}``."""
    owners = {ctx.users[name].pk: name for name in ctx.sellers}
    open_deals = dict(
        Deal.objects.filter(stream=ctx.stream, status=DealStatus.OPEN, owner__in=list(owners))
        .values_list("owner")
        .annotate(n=Count("id"))
        .values_list("owner", "n")
    )
    limits = {}
    for user_id, name in owners.items():
        wip = open_deals.get(user_id, 0)
        limits[name] = (wip, max(1, min(500, wip + SELLER_HEADROOM.get(name, 2))))
    SellerLimit.objects.bulk_create(
        SellerLimit(stream=ctx.stream, user=ctx.users[name], wip_limit=limit)
        for name, (_wip, limit) in limits.items()
    )
    return limits
