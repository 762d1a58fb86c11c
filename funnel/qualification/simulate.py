"""Synthetic qualification histories with a known truth, written in bulk: the lab's tests,
its benchmark (bench/lab.py) and anything else that needs many scored deals fast.

Each deal gets a hidden true level (0 … 3) per criterion; its chance of winning is
``logit(base) + Σ effect_k · (level_k / 3 − ½)``, so a criterion with effect 0 is pure noise.
The deal walks the stream's steps in order (a won deal all of them, a lost one stops at a
random step), one to five days per step. Each criterion is scored with its true level on
time (before the deal first reaches the criterion's known-by step), late (after it) or never,
so the as-of rule matters. Optional win calls are noisy guesses of the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import transaction
from django.utils.text import slugify

from funnel.eventlog.paths import path_facts
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import (
    CriteriaSet,
    Criterion,
    CriterionScore,
    Preset,
    ScoreSource,
    WinCall,
)
from streams.models import ProcessStep, ValueStream

DAY = 86400.0
BATCH = 5000


@dataclass(frozen=True)
class Simulated:
    closed: int
    won: int
    open: int
    visits: int
    scores: int
    criteria: list[Criterion]


def _moments(seconds: np.ndarray, origin: datetime) -> list[datetime]:
    return [origin + timedelta(seconds=float(s)) for s in seconds]


@transaction.atomic
def simulate_lab(
    stream: ValueStream,
    *,
    closed: int,
    effects: Sequence[float],
    open_deals: int = 0,
    start: datetime,
    days: int = 300,
    base: float = 0.3,
    weights: Sequence[int | None] | None = None,
    known_by: int = 1,
    on_time: float = 0.7,
    late: float = 0.2,
    owners: Sequence[int] = (),
    win_calls: bool = False,
    seed: int = 0,
) -> Simulated:
    """Write ``closed`` closed and ``open_deals`` open deals with visits and scores into
    ``stream`` (which needs two steps or more). ``effects``: one log-odds effect per
    criterion; the stream's active criteria are used when it has as many, else a set
    ``C1 … Cn`` is created with ``weights`` and known by the step at index ``known_by``.
    Deals are created over ``days`` days from ``start``."""
    rng = np.random.default_rng(seed)
    steps = list(ProcessStep.objects.filter(stream=stream).order_by("position"))
    criteria = _criteria(stream, len(effects), weights, steps[min(known_by, len(steps) - 1)])
    k = len(criteria)
    total = closed + open_deals
    truth = rng.integers(0, 4, size=(total, k))
    logit = np.log(base / (1 - base)) + (truth / 3 - 0.5) @ np.asarray(effects, dtype=float)
    won = rng.random(total) < 1 / (1 + np.exp(-logit))
    is_open = np.zeros(total, dtype=bool)
    is_open[closed:] = True
    # Paths: how many steps each deal visits, and when it enters each.
    n_steps = len(steps)
    depth = np.where(won & ~is_open, n_steps, rng.integers(1, n_steps + 1, total))
    created = rng.random(total) * days * DAY
    stay = rng.uniform(1, 5, size=(total, n_steps)) * DAY
    enter = created[:, None] + np.concatenate([np.zeros((total, 1)), stay.cumsum(1)[:, :-1]], 1)
    closed_at = created + stay[:, :].cumsum(1)[np.arange(total), depth - 1]
    # Scores: on time before the first entry to the known-by step, late after it, or never.
    known_at = np.array([steps.index(c.known_by) if c.known_by in steps else 0 for c in criteria])
    due = enter[:, known_at]  # total × k
    reach = depth[:, None] > known_at[None, :]
    end = np.where(is_open, created + days * DAY, closed_at)[:, None]
    due = np.where(reach, due, end)
    when = rng.random((total, k))
    kind = rng.random((total, k))
    scored_at = np.where(
        kind < on_time,
        created[:, None] + when * (due - created[:, None]) * 0.99,
        due + 1 + when * (end - due - 1),
    )
    scored = (kind < on_time + late) & (scored_at <= end)

    deals = Deal.objects.bulk_create(
        [
            Deal(
                stream=stream,
                external_id=f"SIM-{seed}-{i:07d}",
                name=f"Simulated deal {i}",
                amount=Decimal(int(rng.integers(5, 200)) * 1000),
                owner_id=owners[i % len(owners)] if owners else None,
                created_at=start + timedelta(seconds=float(created[i])),
                status=DealStatus.OPEN
                if is_open[i]
                else (DealStatus.WON if won[i] else DealStatus.LOST),
                closed_at=None if is_open[i] else start + timedelta(seconds=float(closed_at[i])),
                first_entered_at=start + timedelta(seconds=float(created[i])),
            )
            for i in range(total)
        ],
        batch_size=BATCH,
    )
    ids = np.array([d.pk for d in deals], dtype=np.int64)
    # Visits, in deal then path order, with their path facts.
    rows_deal = np.repeat(np.arange(total), depth)
    rows_pos = np.concatenate([np.arange(d) for d in depth])
    step_ids = np.array([s.pk for s in steps], dtype=np.int64)
    reentry, previous, is_last = path_facts(ids[rows_deal], step_ids[rows_pos])
    minutes = rng.integers(10, 240, len(rows_deal))
    logged = rng.random(len(rows_deal)) < 0.6
    visits = []
    for j, (i, p) in enumerate(zip(rows_deal, rows_pos, strict=True)):
        last = p == depth[i] - 1
        exit_s = (closed_at[i] if not is_open[i] else None) if last else enter[i, p] + stay[i, p]
        visits.append(
            Visit(
                deal_id=int(ids[i]),
                step_id=int(step_ids[p]),
                entered_at=start + timedelta(seconds=float(enter[i, p])),
                exited_at=None if exit_s is None else start + timedelta(seconds=float(exit_s)),
                work_minutes=int(minutes[j]) if logged[j] else None,
                reentry=bool(reentry[j]),
                previous_step_id=None if previous[j] < 0 else int(previous[j]),
                is_last=bool(is_last[j]),
            )
        )
    Visit.objects.bulk_create(visits, batch_size=BATCH)
    di, ci = np.nonzero(scored)
    CriterionScore.objects.bulk_create(
        (
            CriterionScore(
                deal_id=int(ids[i]),
                criterion_id=criteria[c].pk,
                level=int(truth[i, c]),
                scored_at=start + timedelta(seconds=float(scored_at[i, c])),
                source=ScoreSource.IMPORT,
            )
            for i, c in zip(di, ci, strict=True)
        ),
        batch_size=BATCH,
    )
    if win_calls:
        guess = np.clip(np.where(won, 0.6, 0.3) + rng.normal(0, 0.2, total), 0.01, 0.99)
        WinCall.objects.bulk_create(
            (
                WinCall(
                    deal_id=int(ids[i]),
                    probability=round(guess[i] * 100),
                    called_at=start + timedelta(seconds=float(enter[i, 0] + 3600)),
                )
                for i in range(total)
            ),
            batch_size=BATCH,
        )
    return Simulated(
        closed=closed,
        won=int((won & ~is_open).sum()),
        open=open_deals,
        visits=len(visits),
        scores=len(di),
        criteria=criteria,
    )


def _criteria(
    stream: ValueStream, k: int, weights: Sequence[int | None] | None, known_by: ProcessStep
) -> list[Criterion]:
    criteria_set, _ = CriteriaSet.objects.get_or_create(
        stream=stream, defaults={"preset": Preset.CUSTOM}
    )
    active = list(criteria_set.criteria.filter(retired_at__isnull=True).select_related("known_by"))
    if len(active) == k:
        return active
    return [
        Criterion.objects.create(
            criteria_set=criteria_set,
            key=slugify(f"c{i + 1}"),
            name=f"C{i + 1}",
            known_by=known_by,
            weight=weights[i] if weights else None,
            position=len(active) + i,
        )
        for i in range(k)
    ]
