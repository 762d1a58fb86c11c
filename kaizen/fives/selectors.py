"""Reads of the 5S audit and who may do what (docs/five-s.md).

Every member of the stream's team reads its questions and audits (reps and leadership
included); the team's managers (and admins) run and edit audits and edit the questions;
other teams see nothing (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from kaizen.fives.defaults import DEFAULT_QUESTIONS
from kaizen.fives.models import FiveS, FiveSAnswer, FiveSAudit, FiveSQuestion
from kaizen.models import Direction, Metric
from streams.models import ValueStream
from streams.selectors import User, stream_can_edit, streams_visible_to


def fives_can_run(*, user: User, stream: ValueStream) -> bool:
    """The team's managers (and admins) run audits and edit the questions."""
    return stream_can_edit(user=user, stream=stream)


def audits_visible_to(user: User) -> QuerySet[FiveSAudit]:
    return FiveSAudit.objects.filter(stream__in=streams_visible_to(user)).select_related(
        "stream", "auditor"
    )


def questions_visible_to(user: User) -> QuerySet[FiveSQuestion]:
    return FiveSQuestion.objects.filter(stream__in=streams_visible_to(user))


def active_questions(stream: ValueStream) -> list[FiveSQuestion]:
    """The stream's active questions, in S order then position; the defaults (unsaved, no
    id) for a stream that has none yet."""
    order = {s: i for i, s in enumerate(FiveS.values)}
    questions = list(FiveSQuestion.objects.filter(stream=stream, retired_at__isnull=True))
    if not questions and not FiveSQuestion.objects.filter(stream=stream).exists():
        questions = [
            FiveSQuestion(stream=stream, s=s, text=text)
            for s, texts in DEFAULT_QUESTIONS.items()
            for text in texts
        ]
    return sorted(questions, key=lambda q: (order[q.s], q.position, q.pk or 0))


def audit_history(stream: ValueStream) -> list[FiveSAudit]:
    """The stream's audits, oldest first."""
    return list(
        FiveSAudit.objects.filter(stream=stream)
        .select_related("auditor")
        .order_by("audited_on", "id")
    )


def audit_findings(audit: FiveSAudit) -> list[FiveSAnswer]:
    """The answers of ``audit`` scored 2 of 4 or lower, or given a note."""
    return [answer for answer in audit.answers.all() if answer.is_finding]


@dataclass(frozen=True)
class StreamFiveS:
    """What the stream's page shows: the latest score and its trend."""

    latest: FiveSAudit
    previous: FiveSAudit | None
    #: The last audits' overall scores, oldest first (at most 8).
    scores: list[float]
    #: The sparkline's polyline points in a 120 × 32 box (0 % at the bottom).
    points: str

    @property
    def change(self) -> float | None:
        if self.previous is None:
            return None
        return round(self.latest.score - self.previous.score, 1)


def stream_five_s(stream: ValueStream) -> StreamFiveS | None:
    """The latest audit of ``stream``, the one before it and the trend; None: never audited."""
    audits = list(FiveSAudit.objects.filter(stream=stream).order_by("-audited_on", "-id")[:8])
    if not audits:
        return None
    audits.reverse()
    scores = [a.score for a in audits]
    step = 120 / max(len(scores) - 1, 1)
    points = " ".join(f"{i * step:.1f},{32 - 32 * v / 100:.1f}" for i, v in enumerate(scores))
    return StreamFiveS(
        latest=audits[-1],
        previous=audits[-2] if len(audits) > 1 else None,
        scores=scores,
        points=points,
    )


def finding_visible_to(user: User, answer_id: int) -> FiveSAnswer | None:
    return (
        FiveSAnswer.objects.filter(pk=answer_id, audit__stream__in=streams_visible_to(user))
        .select_related("audit", "audit__stream")
        .first()
    )


def finding_plan(answer: FiveSAnswer) -> dict:
    """The kaizen plan a finding suggests (the form's initial values, as the qualification
    lab's walk-away rule gives them): the whole stream, its win rate, the finding as the
    problem and the audit's scores as the current condition. Nothing is written until the
    manager saves."""
    audit = answer.audit
    s_label = FiveS(answer.s).label
    note = f" The auditor noted: {answer.note}" if answer.note else ""
    return {
        "where": f"{audit.stream_id}",
        "title": f"5S {s_label}: {answer.question_text}"[:200],
        "metric": Metric.WIN_RATE,
        "direction": Direction.INCREASE,
        "problem": (
            f"5S audit of {audit.audited_on:%Y-%m-%d}, {s_label}: “{answer.question_text}” "
            f"scored {answer.score} of 4.{note}"
        ),
        "current_condition": (
            f"{s_label} scored {audit.s_score(answer.s):g} % and the whole audit "
            f"{audit.score:g} % on {audit.audited_on:%Y-%m-%d}."
        ),
    }
