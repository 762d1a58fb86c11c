"""Writes of the 5S audit (docs/five-s.md): the team's questions and the audits.

Only the team's managers (and admins) write: each service raises ``PermissionDenied``
otherwise, and ``ValidationError({field: reason})`` for bad input before writing anything.
A stream's questions start as :data:`DEFAULT_QUESTIONS`, written the first time a manager
edits them or runs an audit (:func:`questions_ensure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from funnel.common.text import required_text
from kaizen.fives.defaults import DEFAULT_QUESTIONS
from kaizen.fives.models import MAX_SCORE, FiveS, FiveSAnswer, FiveSAudit, FiveSQuestion
from kaizen.fives.scoring import audit_scores
from streams.models import ValueStream
from streams.selectors import require_stream_edit

_MANAGERS_ONLY = "Only the team's managers run 5S audits and edit their questions."
MAX_TEXT = 300


def _defaults(stream: ValueStream) -> list[FiveSQuestion]:
    position = 0
    rows = []
    for s, texts in DEFAULT_QUESTIONS.items():
        for text in texts:
            position += 1
            rows.append(FiveSQuestion(stream=stream, s=s, text=text, position=position))
    return rows


def questions_ensure_all() -> int:
    """Write the default questions of every stream that never had any (idempotent; run after
    each ``migrate``, so streams made before the 5S audit existed get theirs without a data
    migration). Returns the number of streams given defaults."""
    missing = ValueStream.objects.exclude(pk__in=FiveSQuestion.objects.values("stream_id")).only(
        "pk"
    )
    done = 0
    for stream in missing:
        questions_ensure(stream=stream)
        done += 1
    return done


def on_stream_saved(sender, instance: ValueStream, created: bool, raw: bool = False, **kwargs):
    """A new stream gets its default questions at once (a ``post_save`` receiver, see
    ``kaizen.apps``), so no read ever has to write them; a fixture's stream (``raw``) brings
    its own."""
    if created and not raw:
        questions_ensure(stream=instance)


def questions_ensure(*, stream: ValueStream) -> None:
    """Write the default questions of a stream that never had any (idempotent)."""
    with transaction.atomic():
        ValueStream.objects.select_for_update().filter(pk=stream.pk).first()
        if FiveSQuestion.objects.filter(stream=stream).exists():
            return
        FiveSQuestion.objects.bulk_create(_defaults(stream))


def _clean_text(text: str) -> str:
    return required_text(text, field="text", missing="Write the question.", limit=MAX_TEXT)


def question_add(
    *, user: AbstractBaseUser, stream: ValueStream, s: str, text: str
) -> FiveSQuestion:
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    if s not in FiveS.values:
        raise ValidationError({"s": f"One of {', '.join(FiveS.values)}."})
    text = _clean_text(text)
    questions_ensure(stream=stream)
    last = FiveSQuestion.objects.filter(stream=stream).order_by("-position").first()
    return FiveSQuestion.objects.create(
        stream=stream, s=s, text=text, position=(last.position + 1) if last else 1
    )


def question_update(*, user: AbstractBaseUser, question: FiveSQuestion, text: str) -> FiveSQuestion:
    """Reword a question; audits made keep the words they were asked with."""
    require_stream_edit(user, question.stream, _MANAGERS_ONLY)
    if question.retired_at is not None:
        raise ValidationError({"text": "This question is retired."})
    question.text = _clean_text(text)
    question.save(update_fields=["text"])
    return question


def question_retire(*, user: AbstractBaseUser, question: FiveSQuestion) -> FiveSQuestion:
    """Retire a question (its answers stay); the last one of an S stays, so every S is scored."""
    require_stream_edit(user, question.stream, _MANAGERS_ONLY)
    if question.retired_at is not None:
        return question
    others = FiveSQuestion.objects.filter(
        stream_id=question.stream_id, s=question.s, retired_at__isnull=True
    ).exclude(pk=question.pk)
    if not others.exists():
        raise ValidationError(
            {"s": f"{question.get_s_display()} needs at least one question: add another first."}
        )
    question.retired_at = timezone.now()
    question.save(update_fields=["retired_at"])
    return question


def _checked_answers(
    stream: ValueStream, answers: Sequence[dict]
) -> list[tuple[FiveSQuestion, int, str]]:
    """``answers`` as (question, score, note), one for each active question of ``stream``;
    ``ValidationError`` naming ``answers`` (and the question) otherwise."""
    active = {q.pk: q for q in FiveSQuestion.objects.filter(stream=stream, retired_at__isnull=True)}
    checked, seen, problems = [], set(), []
    for item in answers:
        question = item.get("question")
        qid = getattr(question, "pk", question)
        score = item.get("score")
        if qid not in active:
            problems.append(f"Question {qid} is not an active question of this stream.")
            continue
        if qid in seen:
            problems.append(f"Question {qid} is answered twice.")
            continue
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_SCORE:
            problems.append(f"Question {qid}: the score is a whole number from 0 to {MAX_SCORE}.")
            continue
        seen.add(qid)
        checked.append((active[qid], score, (item.get("note") or "").strip()))
    unanswered = [q for pk, q in active.items() if pk not in seen]
    if unanswered and not problems:
        problems.append(
            "Answer every question; unanswered: " + "; ".join(q.text for q in unanswered[:5])
        )
    if problems:
        raise ValidationError({"answers": problems})
    return checked


def _check_date(audited_on: date) -> None:
    if audited_on > timezone.localdate():
        raise ValidationError({"audited_on": "An audit cannot be dated in the future."})


def _set_scores(audit: FiveSAudit, checked: list[tuple[FiveSQuestion, int, str]]) -> None:
    scores = audit_scores((q.s, score) for q, score, _ in checked)
    for s, value in scores.by_s.items():
        setattr(audit, f"score_{s}", value)
    audit.score = scores.overall


def _write_answers(audit: FiveSAudit, checked: list[tuple[FiveSQuestion, int, str]]) -> None:
    audit.answers.all().delete()
    FiveSAnswer.objects.bulk_create(
        FiveSAnswer(audit=audit, question=q, s=q.s, question_text=q.text, score=score, note=note)
        for q, score, note in checked
    )


def audit_create(
    *,
    user: AbstractBaseUser,
    stream: ValueStream,
    audited_on: date,
    answers: Sequence[dict],
    note: str = "",
) -> FiveSAudit:
    """Record an audit: one answer (0–4, with an optional note) per active question."""
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    _check_date(audited_on)
    questions_ensure(stream=stream)
    checked = _checked_answers(stream, answers)
    with transaction.atomic():
        audit = FiveSAudit(
            stream=stream, audited_on=audited_on, auditor=user, note=(note or "").strip()
        )
        _set_scores(audit, checked)
        audit.save()
        _write_answers(audit, checked)
    return audit


def audit_update(
    *,
    user: AbstractBaseUser,
    audit: FiveSAudit,
    audited_on: date | None = None,
    note: str | None = None,
    answers: Sequence[dict] | None = None,
) -> FiveSAudit:
    """Change an audit's date, note or answers (all of them at once, for the questions active
    now); its scores are computed again."""
    require_stream_edit(user, audit.stream, _MANAGERS_ONLY)
    if audited_on is not None:
        _check_date(audited_on)
    checked = _checked_answers(audit.stream, answers) if answers is not None else None
    with transaction.atomic():
        if audited_on is not None:
            audit.audited_on = audited_on
        if note is not None:
            audit.note = note.strip()
        if checked is not None:
            _set_scores(audit, checked)
            _write_answers(audit, checked)
        audit.save()
    return audit
