"""The 5S audit's scores (docs/five-s.md): pure functions over (S, answer) pairs.

- an S scores the mean of its answers ÷ 4 × 100 (percent);
- the audit scores the mean of the five S scores, each S weighing the same whatever its
  number of questions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kaizen.fives.models import MAX_SCORE, FiveS


@dataclass(frozen=True)
class Scores:
    by_s: dict[str, float]
    overall: float


def audit_scores(answers: Iterable[tuple[str, int]]) -> Scores:
    """Per S and overall, in percent rounded to 0.1. Every S must have an answer (the services
    keep at least one question per S)."""
    totals: dict[str, list[int]] = {s: [] for s in FiveS.values}
    for s, score in answers:
        totals[s].append(score)
    missing = [s for s, values in totals.items() if not values]
    if missing:
        raise ValueError(f"No answer for {', '.join(missing)}")
    by_s = {s: round(100 * sum(v) / (len(v) * MAX_SCORE), 1) for s, v in totals.items()}
    overall = round(sum(by_s.values()) / len(by_s), 1)
    return Scores(by_s=by_s, overall=overall)
