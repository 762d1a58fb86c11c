"""The leads of the leads benchmark, built in bulk beside the demo's deals (``leads_build``).

The demo's own lead simulation (``vsm_project.demo_leads``) draws one lead at a time: right
for a few thousand, minutes for a million. Here a million leads are drawn at once with numpy
from the paths the demo's leads take (:data:`PATHS`, with the demo's shares, times and
actors), their ids reserved from the tables' sequences, and the cases, visits and decisions
written with COPY, a chunk at a time. The rules are the demo's: a decision for every arrival
at a hand-off, read off the path (accept before the visit ends; reject back where it came
from; recycle to nurturing; disqualify where the case is lost, its lost reason the reason's
label); the arrivals still open at the anchor wait undecided, as do the leads offered to sales
over the last ``QUEUE_DAYS`` days; the W offsets of every visit and decision as the demo
writes them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

#: The paths (steps C, N, Q, D: capture, nurturing, qualification call, discovery meeting;
#: a hand-off's decision after a colon) and the share of leads taking each.
PATHS = (
    (0.12, "C"),
    (0.38, "C N"),
    (0.20, "C N Q:disqualify"),
    (0.05, "C Q:disqualify"),
    (0.03, "C Q:reject C Q:disqualify"),
    (0.06, "C N Q:recycle N"),
    (0.05, "C N Q:recycle N Q:disqualify"),
    (0.04, "C N Q:accept D:reject Q:disqualify"),
    (0.04, "C N Q:accept D:disqualify"),
    (0.02, "C N Q:recycle N Q:accept D:disqualify"),
    (0.01, "C Q:accept D:reject Q:recycle N"),
)
STEPS = "CNQD"
KINDS = ("", "accept", "reject", "recycle", "disqualify")
SLOTS = max(len(p.split()) for _, p in PATHS)
SOURCES = ("inbound", "outbound", "referral", "event")
SOURCE_P = (0.45, 0.30, 0.10, 0.15)
#: Median hours: capture, nurturing; the SDRs' responses; the sellers' at the pull; the call.
CAPTURE_H, NURTURE_H, SDR_H, SELLER_H, CALL_H = 24.0, 200.0, (1.0, 2.5, 9.0), 20.0, 30.0
QUEUE_DAYS = 21
CHUNK = 100_000
LOST_EARLY = ("No reply after several attempts", "Unsubscribed", "Bad timing")


def _matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.full((len(PATHS), SLOTS), -1, np.int8)
    kinds = np.zeros((len(PATHS), SLOTS), np.int8)
    for t, (_, path) in enumerate(PATHS):
        for j, part in enumerate(path.split()):
            step, _, kind = part.partition(":")
            steps[t, j] = STEPS.index(step)
            kinds[t, j] = KINDS.index(kind)
    return steps, kinds, np.array([p for p, _ in PATHS])


def _us(moments: np.ndarray) -> list[str | None]:
    """Microseconds since the epoch (int64; ``NONE`` for none) as ISO 8601 UTC text."""
    text = np.datetime_as_string(moments.astype("datetime64[us]"), unit="us", timezone="UTC")
    return [None if m == NONE else t for m, t in zip(moments.tolist(), text.tolist(), strict=True)]


NONE = np.iinfo(np.int64).min


def _reserve(cursor, table: str, n: int) -> int:
    """The first of ``n`` ids reserved from ``table``'s id sequence."""
    cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
    first = cursor.fetchone()[0]
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [first + n])
    return first


def _copy(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def leads_build(n: int, *, anchor: datetime, seed: int = 2026, progress=print) -> dict:
    """Add ``n`` leads to the demo stream (which has its waterfall); replaces earlier ones."""
    from django.db import connection, transaction
    from django.utils import timezone

    from funnel.eventlog.paths import path_facts
    from funnel.eventlog.working import (
        deal_offsets,
        step_keys,
        step_lanes,
        stream_calendars,
        visit_offsets,
    )
    from funnel.importing.writing import VISIT_COPY_COLUMNS
    from funnel.leads.models import HandoffReason
    from streams.models import Membership, StreamState, ValueStream
    from vsm_project.demo import DEMO_TEAM_SLUG
    from vsm_project.demo_leads import (
        DECISION_COLUMNS,
        PROSPECT_AFTER,
        PROSPECT_CAPTURE,
        PROSPECT_QUALIFY,
        SDRS,
        SEPARATION_CHANGE_DAYS_AGO,
    )

    stream = ValueStream.objects.get(team__slug=DEMO_TEAM_SLUG, state=StreamState.CURRENT)
    with connection.cursor() as cursor:  # earlier leads (a million: not through the ORM)
        leads = "SELECT id FROM funnel_deal WHERE stream_id = %s AND external_id LIKE 'LEAD-%%'"
        for table in ("funnel_handoffdecision", "funnel_visit"):
            cursor.execute(f"DELETE FROM {table} WHERE deal_id IN ({leads})", [stream.pk])
        cursor.execute(f"DELETE FROM funnel_deal WHERE id IN ({leads})", [stream.pk])
    by_name = {s.name: s for s in stream.steps.select_related("lane")}
    names = ("Lead capture", "Lead nurturing", "Qualification call", "Discovery meeting")
    step_id = np.array([by_name[x].pk for x in names], np.int64)
    lane = [by_name[x].lane.name for x in names]
    process_h = np.array([float(by_name[x].planned_process_hours) for x in names])
    handoff = {h.step_id: h.pk for h in stream.handoffs.all()}
    reasons = {
        kind: np.array(
            list(
                HandoffReason.objects.filter(stream=stream, kind=kind)
                .order_by("position")
                .values_list("pk", flat=True)
            ),
            np.int64,
        )
        for kind in ("reject", "recycle", "disqualify")
    }
    labels = dict(HandoffReason.objects.filter(stream=stream).values_list("pk", "label"))
    users = dict(
        Membership.objects.filter(team=stream.team).values_list("user__username", "user_id")
    )
    sdr_ids = np.array([users[s[0]] for s in SDRS], np.int64)
    seller_ids = np.array([users[u] for u in ("alice", "bob", "carol")], np.int64)
    calendars = stream_calendars(stream.pk)
    keys = step_keys(calendars, step_lanes(stream.pk))
    path_steps, path_kinds, path_p = _matrices()
    rng = np.random.default_rng(seed)
    anchor_us = int(anchor.timestamp() * 1e6)
    change_us = anchor_us - SEPARATION_CHANGE_DAYS_AGO * 86400 * 10**6
    queue_us = anchor_us - QUEUE_DAYS * 86400 * 10**6
    hour = 3600 * 10**6
    totals = {"leads": 0, "visits": 0, "decisions": 0, "waiting_sql": 0}

    def prospect(at: np.ndarray, before: float) -> np.ndarray:
        done = np.clip((at - change_us) / (anchor_us - change_us), 0, 1)
        return np.where(at < change_us, before, before + (PROSPECT_AFTER - before) * done)

    now = timezone.now().isoformat()
    for offset in range(0, n, CHUNK):
        m = min(CHUNK, n - offset)
        t = rng.choice(len(PATHS), size=m, p=path_p)
        steps, kinds = path_steps[t], path_kinds[t]
        valid = steps >= 0
        sdr = rng.integers(len(SDRS), size=m)
        seller = rng.integers(len(seller_ids), size=m)
        source = rng.choice(len(SOURCES), size=m, p=SOURCE_P)
        recent = rng.random(m) < 0.25
        u = rng.random(m)
        age_us = (365 * 86400 * 10**6 * np.where(recent, u**1.6, u)).astype(np.int64)
        created = anchor_us - age_us - rng.integers(60, 36000, size=m) * 10**6
        # Each slot's response (hand-offs) and time in step, in microseconds.
        sdr_h = np.array(SDR_H)[sdr][:, None]
        response = np.where(
            steps == 2,
            rng.lognormal(np.log(sdr_h), 0.9, (m, SLOTS)),
            rng.lognormal(np.log(SELLER_H), 0.8, (m, SLOTS)),
        )
        hours = np.select(
            [steps == 0, steps == 1, (steps == 2) & (kinds == 1)],
            [
                rng.lognormal(np.log(CAPTURE_H), 0.6, (m, SLOTS)),
                rng.lognormal(np.log(NURTURE_H), 0.7, (m, SLOTS)),
                response + rng.lognormal(np.log(CALL_H), 0.6, (m, SLOTS)),
            ],
            response,
        )
        span = np.where(valid, (hours * hour).astype(np.int64), 0)
        entered = created[:, None] + np.concatenate(
            [np.zeros((m, 1), np.int64), np.cumsum(span, axis=1)[:, :-1]], axis=1
        )
        exited = entered + span
        decided = entered + (response * hour).astype(np.int64)
        # Open at the anchor: the first visit not over by then, or offered to sales lately.
        still = valid & ((exited >= anchor_us) | ((steps == 3) & (entered >= queue_us)))
        has_open = still.any(axis=1)
        first_open = np.where(has_open, still.argmax(axis=1), SLOTS)
        j = np.arange(SLOTS)[None, :]
        keep = valid & (j <= first_open[:, None])
        is_open = j == first_open[:, None]
        decision = keep & (kinds > 0) & (~is_open | ((kinds == 1) & (decided < anchor_us)))
        last = np.where(has_open, first_open, valid.sum(axis=1) - 1)
        rows_i = np.arange(m)
        last_kind = kinds[rows_i, last]
        closed = np.where(has_open, NONE, exited[rows_i, last])
        # Reasons of the decisions (and the lost reason of a case disqualified).
        reason = np.zeros((m, SLOTS), np.int64)
        for code, kind in ((2, "reject"), (3, "recycle"), (4, "disqualify")):
            pick = reasons[kind][rng.integers(len(reasons[kind]), size=(m, SLOTS))]
            reason = np.where(kinds == code, pick, reason)
        early = rng.integers(len(LOST_EARLY), size=m)
        lost_reason = [
            "" if o else (labels[int(reason[i, k])] if lk == 4 else LOST_EARLY[e])
            for i, (o, k, lk, e) in enumerate(
                zip(
                    has_open.tolist(),
                    last.tolist(),
                    last_kind.tolist(),
                    early.tolist(),
                    strict=True,
                )
            )
        ]
        # Actors: sellers prospecting outbound leads and taking calls (less after the change).
        draw = rng.random((m, SLOTS))
        seller_at = (
            (steps == 0) & (source[:, None] == 1) & (draw < prospect(entered, PROSPECT_CAPTURE))
        ) | ((steps == 2) & (draw < prospect(entered, PROSPECT_QUALIFY)))
        actor = np.where(
            seller_at,
            seller_ids[seller][:, None],
            np.where(steps == 2, sdr_ids[sdr][:, None], 0),
        )
        actor = np.where(is_open & (steps >= 2) & ~decision, 0, actor)
        work = np.round(
            process_h[np.maximum(steps, 0)] * 60 * rng.lognormal(0, 0.35, (m, SLOTS))
        ).astype(np.int64)
        logged = (rng.random((m, SLOTS)) >= 0.25) & ((steps < 2) | ((steps == 2) & (actor > 0)))
        decider = np.where(steps == 3, seller_ids[rng.integers(3, size=(m, SLOTS))], actor)
        decider = np.where(decider == 0, sdr_ids[sdr][:, None], decider)

        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor
            # The rows are consistent by construction: no foreign-key triggers (a bench
            # database's superuser only; they cost more than the COPY itself).
            raw.execute("SET LOCAL session_replication_role = replica")
            first_deal = _reserve(raw, "funnel_deal", m)
            deal_ids = first_deal + np.arange(m)
            first_w, closed_w = deal_offsets(
                calendars, created // 10**6, np.where(closed == NONE, NONE, closed // 10**6)
            )
            created_txt, closed_txt = _us(created), _us(closed)
            amount = (rng.lognormal(np.log(18_000), 0.7, m) / 100).astype(np.int64) * 100
            account = rng.integers(1, 200_000, size=m)
            status = np.where(has_open, "open", "lost")
            _copy(
                raw,
                "funnel_deal",
                (
                    "id",
                    "external_id",
                    "name",
                    "account",
                    "amount",
                    "source",
                    "created_at",
                    "status",
                    "closed_at",
                    "lost_reason",
                    "updated_at",
                    "owner_id",
                    "stream_id",
                    "first_entered_at",
                    "first_entered_w",
                    "closed_w",
                ),
                (
                    (
                        d,
                        f"LEAD-{offset + i + 1:07d}",
                        f"Lead {offset + i + 1}",
                        f"Prospect {a:06d}",
                        am,
                        SOURCES[s],
                        c,
                        st,
                        cl,
                        lr,
                        now,
                        o,
                        stream.pk,
                        c,
                        None if fw == NONE else fw,
                        None if cw == NONE else cw,
                    )
                    for i, (d, a, am, s, c, st, cl, lr, o, fw, cw) in enumerate(
                        zip(
                            deal_ids.tolist(),
                            account.tolist(),
                            amount.tolist(),
                            source.tolist(),
                            created_txt,
                            status.tolist(),
                            closed_txt,
                            lost_reason,
                            sdr_ids[sdr].tolist(),
                            first_w.tolist(),
                            closed_w.tolist(),
                            strict=True,
                        )
                    )
                ),
            )
            # The visits, in path order (row-major over the kept slots).
            li, sj = np.nonzero(keep)
            k = len(li)
            first_visit = _reserve(raw, "funnel_visit", k)
            visit_ids = first_visit + np.arange(k)
            v_deal = deal_ids[li]
            v_step = step_id[steps[li, sj]]
            v_in = entered[li, sj]
            v_open = is_open[li, sj]
            v_out = np.where(v_open, NONE, exited[li, sj])
            reentry, previous, is_last = path_facts(v_deal, v_step)
            in_w, out_w = visit_offsets(
                keys, v_step, v_in // 10**6, np.where(v_out == NONE, NONE, v_out // 10**6)
            )
            v_actor = actor[li, sj]
            v_work = np.where(logged[li, sj], work[li, sj], NONE)
            v_lane = [lane[x] for x in steps[li, sj].tolist()]
            _copy(
                raw,
                "funnel_visit",
                ("id", *VISIT_COPY_COLUMNS),
                (
                    (
                        vid,
                        d,
                        s,
                        a,
                        b,
                        None if w == NONE else w,
                        who or None,
                        "" if who else ln,
                        now,
                        now,
                        re,
                        None if p < 0 else p,
                        il,
                        None if ew == NONE else ew,
                        None if xw == NONE else xw,
                    )
                    for vid, d, s, a, b, w, who, ln, re, p, il, ew, xw in zip(
                        visit_ids.tolist(),
                        v_deal.tolist(),
                        v_step.tolist(),
                        _us(v_in),
                        _us(v_out),
                        v_work.tolist(),
                        v_actor.tolist(),
                        v_lane,
                        reentry.tolist(),
                        previous.tolist(),
                        is_last.tolist(),
                        in_w.tolist(),
                        out_w.tolist(),
                        strict=True,
                    )
                ),
            )
            # The decisions of the decided arrivals.
            chosen = decision[li, sj]
            at = decided[li, sj][chosen]
            d_step = v_step[chosen]
            d_in_w, d_at_w = visit_offsets(keys, d_step, v_in[chosen] // 10**6, at // 10**6)
            d_kind = kinds[li, sj][chosen]
            _copy(
                raw,
                "funnel_handoffdecision",
                DECISION_COLUMNS,
                (
                    (
                        vid,
                        handoff[s],
                        d,
                        KINDS[kd],
                        r or None,
                        "",
                        who,
                        txt,
                        (a - e) // 10**6,
                        None if ew == NONE or aw == NONE else aw - ew,
                    )
                    for vid, s, d, kd, r, who, txt, a, e, ew, aw in zip(
                        visit_ids[chosen].tolist(),
                        d_step.tolist(),
                        v_deal[chosen].tolist(),
                        d_kind.tolist(),
                        reason[li, sj][chosen].tolist(),
                        decider[li, sj][chosen].tolist(),
                        _us(at),
                        at.tolist(),
                        v_in[chosen].tolist(),
                        d_in_w.tolist(),
                        d_at_w.tolist(),
                        strict=True,
                    )
                ),
            )
        totals["leads"] += m
        totals["visits"] += k
        totals["decisions"] += int(chosen.sum())
        totals["waiting_sql"] += int((v_open & (steps[li, sj] == 3) & ~chosen).sum())
        progress(f"{offset + m:,} of {n:,} leads, {totals['visits']:,} visits")
    return totals
