"""The demo stream's qualification: a MEDDPICC set with known-by steps and the team's weights,
and scores for the simulated deals (``vsm_project.demo``), with signals planted for the lab.

Scores are drawn after the deal's path and outcome are simulated, from a random generator of
their own (so the paths are the same with or without them). For each criterion a deal is
*met* (Validated or Confirmed) with a chance that depends on its outcome for the planted
criteria (Economic buyer, Champion, Identified pain: the lab finds that they go with winning)
and not for the others (no effect). Paper process is weighted 5 by the team and has no
effect: the myth the lab must call out; Identified pain is unweighted and has one. Paper
process is met by half the deals and known by Proposal, so that by Negotiation both sides are
large: the lab calls "no effect" only when its interval rules out an effect that matters,
which at the ~75 % win rate of the deals reaching Negotiation takes about 1,500 deals
(``seed_demo --deals 1500``; with the default 500 it says "cannot tell yet").

A met criterion is scored Validated or Confirmed; an unmet one Identified, Unknown, or never.
Most scores are given on time (in the step before the criterion's known-by step, or at it),
some late (one or two steps after), some never (the deal did not get that far yet, or the rep
never found out). Every score is dated inside the visit it was given in, so the lab's "as of
step S" sees only what was known then.

Reps also record their own win probability for some deals (:func:`demo_win_calls`), and are
over-optimistic, as reps are: about 70 % on average where about half as many deals are won, a
little higher for the deals that go on to win; so the Quality dashboard's gut-feel chart has
something to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.utils import timezone

from funnel.models import Deal, DealStatus
from funnel.qualification.models import Criterion, ScoreSource
from funnel.qualification.services import criteria_set_start
from streams.models import ProcessStep, ValueStream


@dataclass(frozen=True)
class DemoCriterion:
    known_by: str  # the step's name
    weight: int | None
    #: The chance the deal meets it, when the deal is won and when lost; open deals: the mean.
    met_won: float
    met_lost: float


DEMO_CRITERIA = {
    "Metrics": DemoCriterion("Discovery meeting", 3, 0.45, 0.45),
    "Economic buyer": DemoCriterion("Proposal & ROI model", 4, 0.80, 0.30),
    "Decision criteria": DemoCriterion("Solution demo", 2, 0.50, 0.50),
    "Decision process": DemoCriterion("Proposal & ROI model", 3, 0.40, 0.40),
    "Paper process": DemoCriterion("Proposal & ROI model", 5, 0.50, 0.50),
    "Identified pain": DemoCriterion("Discovery meeting", None, 0.75, 0.35),
    "Champion": DemoCriterion("Solution demo", 4, 0.70, 0.30),
    "Competition": DemoCriterion("Solution demo", 2, 0.55, 0.55),
}
#: The planted criteria: those whose met chance differs by outcome.
PLANTED = tuple(name for name, c in DEMO_CRITERIA.items() if c.met_won != c.met_lost)
#: Of the scores given: the share given late (one or two steps after the known-by step).
LATE = 0.2
#: Of the unmet criteria: the share never scored (the others: Identified or Unknown).
NEVER = 0.5
#: The columns of a score row, in the order :func:`demo_scores` writes them.
SCORE_COLUMNS = (
    "deal_id",
    "criterion_id",
    "level",
    "note",
    "scored_at",
    "recorded_at",
    "step_id",
    "scored_by_id",
    "scored_by_name",
    "source",
)


#: Of the deals: the share whose owner records a win call.
WIN_CALL_SHARE = 0.4
#: The reps' mean call, in percent, and how far it leans with the outcome to come.
WIN_CALL_MEAN, WIN_CALL_LEAN = 70, 8
#: The columns of a win call row, in the order :func:`demo_win_calls` writes them.
WIN_CALL_COLUMNS = ("deal_id", "probability", "called_at", "called_by_id")


def demo_criteria_setup(stream: ValueStream, manager) -> list[tuple[Criterion, DemoCriterion]]:
    """Give the stream the MEDDPICC set with the demo's known-by steps and weights."""
    criteria_set = criteria_set_start(stream=stream, preset="meddpicc", user=manager)
    steps = {s.name: s for s in ProcessStep.objects.filter(stream=stream)}
    criteria = list(criteria_set.criteria.order_by("position"))
    for criterion in criteria:
        spec = DEMO_CRITERIA[criterion.name]
        criterion.known_by, criterion.weight = steps[spec.known_by], spec.weight
    Criterion.objects.bulk_update(criteria, ["known_by", "weight"])
    return [(c, DEMO_CRITERIA[c.name]) for c in criteria]


def demo_scores(
    rng: np.random.Generator,
    deals: list[Deal],
    paths: list[list[tuple]],
    steps: list[ProcessStep],
    criteria: list[tuple[Criterion, DemoCriterion]],
    anchor: datetime,
    names: dict[int, str],
) -> list[tuple]:
    """The score rows (values in the order of :data:`SCORE_COLUMNS`) of ``deals``, from
    their ``paths`` (``(step index, entered, exited, work)`` as simulated); ``names``: the
    owners' names by user id. The draws of a chunk are taken at once."""
    position = {s.pk: i for i, s in enumerate(steps)}
    draws = rng.random((len(deals), len(criteria), 6))
    now = timezone.now()
    rows: list[tuple] = []
    for k, (deal, path) in enumerate(zip(deals, paths, strict=True)):
        if not path:
            continue
        for j, (criterion, spec) in enumerate(criteria):
            if deal.status == DealStatus.WON:
                p_met = spec.met_won
            elif deal.status == DealStatus.LOST:
                p_met = spec.met_lost
            else:
                p_met = (spec.met_won + spec.met_lost) / 2
            draw_met, draw_level, draw_never, draw_when, draw_late, draw_at = draws[k, j]
            met = draw_met < p_met
            if not met and draw_never < NEVER:
                continue
            level = (2 if draw_level < 0.6 else 3) if met else (1 if draw_level < 0.7 else 0)
            due = position[criterion.known_by_id]
            if draw_late < LATE:
                target = due + (1 if draw_when < 0.6 else 2)
            else:
                target = due - (1 if draw_when < 0.5 else 0)
            visit = next((v for v in path if v[0] >= target), None)
            if visit is None:
                continue  # the deal has not got that far (yet): not scored
            _, entered, exited, _ = visit
            end = exited if exited is not None else anchor
            at = entered + (end - entered) * (0.1 + 0.8 * float(draw_at))
            rows.append(
                (
                    deal.pk,
                    criterion.pk,
                    level,
                    "",
                    at,
                    now,
                    steps[visit[0]].pk,
                    deal.owner_id,
                    names.get(deal.owner_id, ""),
                    ScoreSource.PAGE,
                )
            )
    return rows


def demo_win_calls(
    rng: np.random.Generator, deals: list[Deal], paths: list[list[tuple]], anchor: datetime
) -> list[tuple]:
    """The win call rows (values in the order of :data:`WIN_CALL_COLUMNS`) of ``deals``: for
    about :data:`WIN_CALL_SHARE` of them, one call by the owner inside the deal's last visit
    (before the close; an open deal's current one), of :data:`WIN_CALL_MEAN` % ± 15, leaning
    :data:`WIN_CALL_LEAN` points up for a deal that is won and down for one that is lost,
    rounded to 5 %."""
    draws = rng.random((len(deals), 3))
    lean = {DealStatus.WON: WIN_CALL_LEAN, DealStatus.LOST: -WIN_CALL_LEAN}
    rows: list[tuple] = []
    for k, (deal, path) in enumerate(zip(deals, paths, strict=True)):
        if not path or draws[k, 0] >= WIN_CALL_SHARE:
            continue
        call = WIN_CALL_MEAN + lean.get(deal.status, 0) + 30 * (float(draws[k, 1]) - 0.5)
        _, entered, exited, _ = path[-1]
        end = exited if exited is not None else anchor
        at = entered + (end - entered) * (0.1 + 0.8 * float(draws[k, 2]))
        rows.append((deal.pk, int(min(95, max(5, 5 * round(call / 5)))), at, deal.owner_id))
    return rows
