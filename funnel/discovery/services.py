"""Writes of process discovery: accepting a deviation and taking the acceptance back
(docs/discovery.md "Accepted deviations"). Both refuse a kind or step the stream does not
have with a ``ValidationError`` naming the field, and store nothing then."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from funnel.discovery.models import AcceptedDeviation, DeviationKind
from streams.ids import parse_id
from streams.models import ProcessStep, ValueStream

NOTE_MAX = AcceptedDeviation._meta.get_field("note").max_length


def _step(stream: ValueStream, raw: object, name: str, errors: dict) -> ProcessStep | None:
    text = str(raw or "").strip()
    if not text:
        return None
    pk = parse_id(text)
    step = ProcessStep.objects.filter(stream=stream, pk=pk).first() if pk else None
    if step is None:
        errors[name] = f"'{text[:40]}' is not a step of this stream."
    return step


def _pair(stream: ValueStream, kind: str, source: object, target: object) -> tuple:
    errors: dict[str, str] = {}
    if kind not in DeviationKind.values:
        errors["kind"] = f"'{str(kind)[:40]}' is not a kind of deviation; use one of " + (
            ", ".join(DeviationKind.values) + "."
        )
    first = _step(stream, source, "source", errors)
    second = _step(stream, target, "target", errors)
    if not errors and first is None and second is None:
        errors["target"] = "Name the step the deviation goes from, to, or both."
    if errors:
        raise ValidationError(errors)
    return first, second


def deviation_accept(
    *, stream: ValueStream, kind: str, source: object, target: object, user, note: str = ""
) -> AcceptedDeviation:
    """Accept the deviation ``kind`` from ``source`` to ``target`` (step ids; empty: the
    start, the end); accepting one already accepted updates its note."""
    first, second = _pair(stream, kind, source, target)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"A note is at most {NOTE_MAX} characters."})
    found = AcceptedDeviation.objects.filter(
        stream=stream, kind=kind, source=first, target=second
    ).first()
    if found is not None:
        found.note = note
        found.save(update_fields=["note"])
        return found
    try:
        with transaction.atomic():
            return AcceptedDeviation.objects.create(
                stream=stream,
                kind=kind,
                source=first,
                target=second,
                note=note,
                accepted_by=user if getattr(user, "is_authenticated", False) else None,
                accepted_at=timezone.now(),
            )
    except IntegrityError:  # accepted by someone else a moment before
        return AcceptedDeviation.objects.get(stream=stream, kind=kind, source=first, target=second)


def deviation_unaccept(*, stream: ValueStream, kind: str, source: object, target: object) -> int:
    """Take back the acceptance of a deviation; the rows removed (0 when there was none)."""
    first, second = _pair(stream, kind, source, target)
    deleted, _ = AcceptedDeviation.objects.filter(
        stream=stream, kind=kind, source=first, target=second
    ).delete()
    return deleted
