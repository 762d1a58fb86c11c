"""Writes of qualification: a stream's criteria set (start from a preset, add, edit, retire,
restore, reorder criteria), scores of deals against its criteria, and reps' win calls.

Each function validates first and raises ``ValidationError({field: reason})`` (every field at
once), then writes in one transaction; ``PermissionDenied`` when the user may not do it at all.
The rules are those of docs/qualification.md:

- managers of the stream's team (and admins) edit its criteria;
- editing the name, question, scale or met level of a criterion that has scores retires that
  version and adds the next one with the same ``key``; other edits, and any edit of a
  criterion without scores, change the row in place;
- a score is a new row, never an update: on an open deal the user may edit
  (``deal_can_edit``), against an active criterion of the deal's stream, with a level of its
  scale, dated not in the future nor before the deal was created; its ``step`` is where the
  deal was at ``scored_at``, read from the deal's visits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from funnel.eventlog.bulk import EventError, EventsRefused
from funnel.eventlog.selectors import deal_can_edit
from funnel.eventlog.services import deal_lock
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import (
    SCALE_LEVELS,
    SCALE_MET_LEVEL,
    CriteriaSet,
    Criterion,
    CriterionScore,
    LevelScale,
    Preset,
    ScoreSource,
    WinCall,
)
from funnel.qualification.presets import PRESETS
from streams.models import ProcessStep, StreamState, ValueStream
from streams.selectors import require_stream_edit
from streams.times import when_text

#: A score or win call may be dated this far ahead of the server's clock (a phone's clock).
CLOCK_SKEW = timedelta(minutes=1)
#: The most scores one bulk request may hold.
MAX_SCORES = 1000
#: The fields whose change alters what a score meant: a scored criterion gets a new version.
MEANING_FIELDS = ("name", "question", "scale", "met_level")
_MANAGERS_ONLY = "Only the team's managers change its qualification criteria."


def _raise(errors: Mapping[str, str]) -> None:
    if errors:
        raise ValidationError(dict(errors))


_Service = TypeVar("_Service", bound=Callable[..., Any])


def _names_unique(service: _Service) -> _Service:
    """``service`` (a write of criteria, its transaction inside) with the database's
    uniqueness refusal as a ``ValidationError`` naming ``name``: the services check names
    first, and the constraints only refuse what a simultaneous write slipped past them."""

    @functools.wraps(service)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return service(*args, **kwargs)
        except IntegrityError as exc:
            raise ValidationError(
                {
                    "name": "Another active criterion of the set has this name (in any case), "
                    "saved at the same moment: reload the criteria and choose another name."
                }
            ) from exc

    return run  # type: ignore[return-value]


def _person(user: AbstractBaseUser | None) -> str:
    if user is None:
        return ""
    return (user.get_full_name() or user.get_username())[:120]


def _touch(criteria_set: CriteriaSet, user: AbstractBaseUser | None) -> None:
    criteria_set.updated_by = user
    criteria_set.save(update_fields=["updated_by", "updated_at"])


def _active(criteria_set: CriteriaSet):
    return criteria_set.criteria.filter(retired_at__isnull=True)


def _has_scores(criterion: Criterion) -> bool:
    return CriterionScore.objects.filter(criterion=criterion).exists()


# --- The criteria set -----------------------------------------------------------------------


def _check_fields(
    *,
    criteria_set: CriteriaSet | None,
    stream: ValueStream,
    values: Mapping[str, Any],
    exclude_key: str | None = None,
) -> dict[str, str]:
    """The field rules of a criterion (new or edited): a name, not the name of another active
    criterion of the set; a scale, a met level on it; a known-by step of the stream; a weight
    of 0–5."""
    errors: dict[str, str] = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "A criterion needs a name."
    elif len(name) > 80:
        errors["name"] = "A name has at most 80 characters."
    elif criteria_set is not None:
        taken = _active(criteria_set).filter(name__iexact=name)
        if exclude_key is not None:
            taken = taken.exclude(key=exclude_key)
        if taken.exists():
            errors["name"] = f"The set already has a criterion named “{name}”."
    if len(values.get("question") or "") > 300:
        errors["question"] = "A question has at most 300 characters."
    scale = values.get("scale")
    if scale not in LevelScale.values:
        errors["scale"] = f"Choose a scale: {', '.join(LevelScale.values)}."
    else:
        levels = SCALE_LEVELS[LevelScale(scale)]
        met = values.get("met_level")
        if not isinstance(met, int) or not 1 <= met < len(levels):
            errors["met_level"] = (
                f"The met level is one of {', '.join(levels[1:])} (1 to {len(levels) - 1})."
            )
    step = values.get("known_by")
    if step is not None and step.stream_id != stream.pk:
        errors["known_by"] = f"Step “{step.name}” is not a step of {stream.name}."
    weight = values.get("weight")
    if weight is not None and not (isinstance(weight, int) and 0 <= weight <= 5):
        errors["weight"] = "A weight is a whole number from 0 (does not matter) to 5."
    return errors


def _free_key(criteria_set: CriteriaSet, name: str) -> str:
    """A key no version of the set uses yet, from ``name``."""
    base = slugify(name)[:50] or "criterion"
    used = set(criteria_set.criteria.values_list("key", flat=True))
    key, n = base, 2
    while key in used:
        key, n = f"{base}-{n}", n + 1
    return key


def _next_version(criteria_set: CriteriaSet, key: str) -> int:
    top = criteria_set.criteria.filter(key=key).aggregate(top=Max("version"))["top"]
    return (top or 0) + 1


def _next_position(criteria_set: CriteriaSet) -> int:
    top = _active(criteria_set).aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


def criteria_set_preview(*, stream: ValueStream) -> dict[str, list[Criterion]]:
    """What starting a preset over the stream's set would do to its active criteria: those
    with scores are ``retired`` (their scores stay), those without are ``removed``."""
    try:
        criteria_set = stream.criteria_set
    except CriteriaSet.DoesNotExist:
        return {"retired": [], "removed": []}
    active = list(_active(criteria_set))
    scored = set(
        CriterionScore.objects.filter(criterion__in=active).values_list("criterion_id", flat=True)
    )
    return {
        "retired": [c for c in active if c.pk in scored],
        "removed": [c for c in active if c.pk not in scored],
    }


@_names_unique
@transaction.atomic
def criteria_set_start(
    *,
    stream: ValueStream,
    preset: str,
    user: AbstractBaseUser,
    confirm_retire: bool = False,
) -> CriteriaSet:
    """Give ``stream`` the criteria of ``preset`` (BANT, MEDDIC, MEDDPICC, CHAMP, SPICED; the
    team's own: none, to add one by one).

    A stream that already has a set keeps it: its active criteria without scores are removed
    (nothing refers to them), those with scores are retired (their scores keep the version
    they were given under), and the preset's criteria are added. A preset criterion whose name
    matches an earlier criterion's key continues that key with the next version, so the lab
    follows it across the change. Retiring scored criteria needs ``confirm_retire``: without
    it the start is refused, naming them, so a page can ask first.
    """
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    errors: dict[str, str] = {}
    if preset not in PRESETS:
        errors["preset"] = f"Choose a preset: {', '.join(Preset.values)}."
    if stream.state != StreamState.CURRENT:
        errors["stream"] = "Criteria belong to the current state, where deals flow."
    _raise(errors)
    preview = criteria_set_preview(stream=stream)
    if preview["retired"] and not confirm_retire:
        names = ", ".join(c.name for c in preview["retired"])
        raise ValidationError(
            {
                "preset": f"This retires {len(preview['retired'])} criteria that have scores "
                f"({names}); their scores are kept. Confirm to go on."
            }
        )
    criteria_set, _ = CriteriaSet.objects.select_for_update().get_or_create(stream=stream)
    now = timezone.now()
    Criterion.objects.filter(pk__in=[c.pk for c in preview["removed"]]).delete()
    Criterion.objects.filter(pk__in=[c.pk for c in preview["retired"]]).update(retired_at=now)
    for position, item in enumerate(PRESETS[preset]):
        key = slugify(item.name)[:60]
        scale = LevelScale.EVIDENCE
        Criterion.objects.create(
            criteria_set=criteria_set,
            key=key,
            version=_next_version(criteria_set, key),
            name=item.name,
            question=item.question,
            scale=scale,
            met_level=SCALE_MET_LEVEL[scale],
            position=position,
        )
    criteria_set.preset, criteria_set.updated_by = preset, user
    criteria_set.save(update_fields=["preset", "updated_by", "updated_at"])
    return criteria_set


@_names_unique
@transaction.atomic
def criterion_create(
    *,
    stream: ValueStream,
    user: AbstractBaseUser,
    name: str,
    question: str = "",
    scale: str = LevelScale.EVIDENCE,
    met_level: int | None = None,
    known_by: ProcessStep | None = None,
    weight: int | None = None,
) -> Criterion:
    """Add a criterion to the stream's set (created, as the team's own, if it has none), last.
    The set's row is locked first, so two additions at once check their names one after the
    other."""
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    if met_level is None and scale in LevelScale.values:
        met_level = SCALE_MET_LEVEL[LevelScale(scale)]
    criteria_set, _ = CriteriaSet.objects.select_for_update().get_or_create(
        stream=stream, defaults={"preset": Preset.CUSTOM}
    )
    values = {
        "name": name,
        "question": question,
        "scale": scale,
        "met_level": met_level,
        "known_by": known_by,
        "weight": weight,
    }
    errors = _check_fields(criteria_set=criteria_set, stream=stream, values=values)
    if stream.state != StreamState.CURRENT:
        errors["stream"] = "Criteria belong to the current state, where deals flow."
    _raise(errors)
    criterion = Criterion.objects.create(
        criteria_set=criteria_set,
        key=_free_key(criteria_set, name),
        name=name.strip(),
        question=question.strip(),
        scale=scale,
        met_level=met_level,
        known_by=known_by,
        weight=weight,
        position=_next_position(criteria_set),
    )
    _touch(criteria_set, user)
    return criterion


def _locked(criterion: Criterion) -> Criterion:
    return (
        Criterion.objects.select_for_update()
        .select_related("criteria_set__stream")
        .get(pk=criterion.pk)
    )


@_names_unique
@transaction.atomic
def criterion_update(*, criterion: Criterion, user: AbstractBaseUser, **changes: Any) -> Criterion:
    """Change a criterion's ``name``, ``question``, ``scale``, ``met_level``, ``known_by``,
    ``weight`` or ``position`` (only those given). Returns the criterion as it is now: the
    same row, or its new version when a meaning field of a scored criterion changed."""
    criterion = _locked(criterion)
    stream = criterion.criteria_set.stream
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    allowed = {*MEANING_FIELDS, "known_by", "weight", "position"}
    unknown = sorted(set(changes) - allowed)
    errors = {name: "This field cannot be changed here." for name in unknown}
    if criterion.retired_at is not None:
        errors["criterion"] = "This version is retired: restore it, or edit the active one."
    current = {name: getattr(criterion, name) for name in allowed}
    values = {**current, **{k: v for k, v in changes.items() if k in allowed}}
    if isinstance(values["name"], str):
        values["name"] = values["name"].strip()
    if isinstance(values["question"], str):
        values["question"] = values["question"].strip()
    if "scale" in changes and "met_level" not in changes and changes["scale"] in LevelScale.values:
        values["met_level"] = SCALE_MET_LEVEL[LevelScale(changes["scale"])]
    errors.update(
        _check_fields(
            criteria_set=criterion.criteria_set,
            stream=stream,
            values=values,
            exclude_key=criterion.key,
        )
    )
    position = values["position"]
    if not isinstance(position, int) or position < 0:
        errors["position"] = "A position is a whole number from 0."
    _raise(errors)
    meaning_changed = any(values[f] != current[f] for f in MEANING_FIELDS)
    if meaning_changed and _has_scores(criterion):
        criterion.retired_at = timezone.now()
        criterion.save(update_fields=["retired_at"])
        fields = {name: values[name] for name in allowed}
        criterion = Criterion.objects.create(
            criteria_set=criterion.criteria_set,
            key=criterion.key,
            version=_next_version(criterion.criteria_set, criterion.key),
            **fields,
        )
    else:
        for name in allowed:
            setattr(criterion, name, values[name])
        criterion.save()
    _touch(criterion.criteria_set, user)
    return criterion


@transaction.atomic
def criterion_retire(*, criterion: Criterion, user: AbstractBaseUser) -> Criterion:
    """Take a criterion off the deal page and the lab's default view; its scores stay."""
    criterion = _locked(criterion)
    require_stream_edit(user, criterion.criteria_set.stream, _MANAGERS_ONLY)
    _raise({"criterion": "This criterion is already retired."} if criterion.retired_at else {})
    criterion.retired_at = timezone.now()
    criterion.save(update_fields=["retired_at"])
    _touch(criterion.criteria_set, user)
    return criterion


@_names_unique
@transaction.atomic
def criterion_restore(*, criterion: Criterion, user: AbstractBaseUser) -> Criterion:
    """Bring a retired version back, last in the order, if no active criterion has its key
    (a newer version) or its name."""
    criterion = _locked(criterion)
    criteria_set = criterion.criteria_set
    require_stream_edit(user, criteria_set.stream, _MANAGERS_ONLY)
    errors: dict[str, str] = {}
    if criterion.retired_at is None:
        errors["criterion"] = "This criterion is active."
    elif _active(criteria_set).filter(key=criterion.key).exists():
        errors["criterion"] = "A newer version of this criterion is active: edit that one."
    elif _active(criteria_set).filter(name__iexact=criterion.name).exists():
        errors["name"] = f"An active criterion is named “{criterion.name}”: rename one first."
    _raise(errors)
    criterion.position = _next_position(criteria_set)
    criterion.retired_at = None
    criterion.save(update_fields=["retired_at", "position"])
    _touch(criteria_set, user)
    return criterion


@transaction.atomic
def criteria_reorder(
    *, stream: ValueStream, user: AbstractBaseUser, order: Sequence[int]
) -> list[Criterion]:
    """Put the stream's active criteria in ``order`` (their ids, each once, all of them)."""
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    criteria_set = CriteriaSet.objects.filter(stream=stream).first()
    active = {c.pk: c for c in _active(criteria_set)} if criteria_set else {}
    if len(set(order)) != len(order) or set(order) != set(active):
        raise ValidationError({"order": "List every active criterion of the set once."})
    for position, pk in enumerate(order):
        active[pk].position = position
    Criterion.objects.bulk_update(list(active.values()), ["position"])
    _touch(criteria_set, user)
    return [active[pk] for pk in order]


# --- Scores -------------------------------------------------------------------------------


def _check_at(name: str, at: datetime, deal: Deal, errors: dict[str, str]) -> None:
    if timezone.is_naive(at):
        errors[name] = "The time needs a time zone (for example 2026-03-01T09:00:00+00:00)."
    elif at > timezone.now() + CLOCK_SKEW:
        errors[name] = f"{when_text(at)} is in the future."
    elif at < deal.created_at:
        errors[name] = f"{when_text(at)} is before the deal was created."


def _check_deal(deal: Deal, user: AbstractBaseUser | None, errors: dict[str, str]) -> None:
    """A closed deal is refused; so is a deal the user may not edit (``PermissionDenied``)."""
    if user is not None and not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers score this deal.")
    if deal.status != DealStatus.OPEN:
        errors["deal"] = f"The deal is {deal.status}; a closed deal cannot be scored."


def step_at(visits: Iterable[Visit], at: datetime) -> int | None:
    """The step id the deal of ``visits`` was at, at ``at``: the latest visit entered at or
    before it and not left by then; None when it was at no step."""
    found = None
    for visit in sorted(visits, key=lambda v: (v.entered_at, v.pk or 0)):
        if visit.entered_at <= at and (visit.exited_at is None or visit.exited_at > at):
            found = visit.step_id
    return found


def score_build(
    *,
    deal: Deal,
    criterion: Criterion,
    level: Any,
    note: str = "",
    user: AbstractBaseUser | None,
    scored_at: datetime | None = None,
    source: str = ScoreSource.PAGE,
    check_user: bool = True,
    visits: Iterable[Visit] | None = None,
) -> CriterionScore:
    """An unsaved score after every rule of scoring, or ``ValidationError``: what
    :func:`score_create`, :func:`scores_bulk` and the import share. ``check_user`` False
    skips the deal permission (the import checks its user once, for the stream);
    ``visits``: the deal's visits when the caller has them already."""
    errors: dict[str, str] = {}
    _check_deal(deal, user if check_user else None, errors)
    scored_at = scored_at or timezone.now()
    if criterion.criteria_set.stream_id != deal.stream_id:
        errors["criterion"] = f"“{criterion.name}” is a criterion of another stream."
    elif criterion.retired_at is not None:
        errors["criterion"] = f"“{criterion.name}” is retired; score its active version."
    levels = criterion.levels
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < len(levels):
        choices = ", ".join(f"{i} ({label})" for i, label in enumerate(levels))
        errors["level"] = f"“{level}” is not a level of {criterion.name}: use {choices}."
    _check_at("scored_at", scored_at, deal, errors)
    if len(note or "") > 500:
        errors["note"] = "A note has at most 500 characters."
    if source not in ScoreSource.values:
        errors["source"] = f"Choose a source: {', '.join(ScoreSource.values)}."
    _raise(errors)
    if visits is None:
        visits = deal.visits.all()
    return CriterionScore(
        deal=deal,
        criterion=criterion,
        level=level,
        note=(note or "").strip(),
        scored_at=scored_at,
        step_id=step_at(visits, scored_at),
        scored_by=user,
        scored_by_name=_person(user),
        source=source,
    )


@transaction.atomic
def score_create(
    *,
    deal: Deal,
    criterion: Criterion,
    level: int,
    user: AbstractBaseUser,
    note: str = "",
    scored_at: datetime | None = None,
    source: str = ScoreSource.PAGE,
) -> CriterionScore:
    """Score ``deal`` against ``criterion``: a new row, the earlier scores stay."""
    deal = deal_lock(deal)
    criterion = Criterion.objects.select_related("criteria_set").get(pk=criterion.pk)
    score = score_build(
        deal=deal,
        criterion=criterion,
        level=level,
        note=note,
        user=user,
        scored_at=scored_at,
        source=source,
    )
    score.save()
    return score


@transaction.atomic
def scores_bulk(
    *, user: AbstractBaseUser, rows: Sequence[Mapping[str, Any]], source: str = ScoreSource.API
) -> list[CriterionScore]:
    """Many scores at once, all or none. Each row holds ``deal`` and ``criterion`` (objects
    the caller found among those the user can see), ``level``, and optionally ``note`` and
    ``scored_at``. Every failing row is reported as :class:`EventError` (its index, the field,
    the reason) in :class:`EventsRefused`; a row the user may not score refuses the batch at
    once with ``forbidden``."""
    deal_ids = {row["deal"].pk for row in rows}
    deals = Deal.objects.select_for_update().select_related("stream").in_bulk(deal_ids)
    visits: dict[int, list[Visit]] = {pk: [] for pk in deal_ids}
    for visit in Visit.objects.filter(deal_id__in=deal_ids):
        visits[visit.deal_id].append(visit)
    may_edit: dict[int, bool] = {}
    errors: list[EventError] = []
    built: list[CriterionScore] = []
    for index, row in enumerate(rows):
        deal = deals[row["deal"].pk]
        if deal.pk not in may_edit:
            may_edit[deal.pk] = deal_can_edit(user=user, deal=deal)
        if not may_edit[deal.pk]:
            raise EventsRefused(
                [
                    EventError(
                        index,
                        "deal",
                        "Only the deal's owner and the team's managers score this deal.",
                    )
                ],
                forbidden=True,
            )
        try:
            built.append(
                score_build(
                    deal=deal,
                    criterion=row["criterion"],
                    level=row["level"],
                    note=row.get("note", ""),
                    user=user,
                    scored_at=row.get("scored_at"),
                    source=source,
                    check_user=False,
                    visits=visits[deal.pk],
                )
            )
        except ValidationError as exc:
            for field, reasons in exc.message_dict.items():
                errors += [EventError(index, field, reason) for reason in reasons]
    if errors:
        raise EventsRefused(errors)
    return CriterionScore.objects.bulk_create(built)


@transaction.atomic
def win_call_create(
    *,
    deal: Deal,
    probability: int,
    user: AbstractBaseUser,
    called_at: datetime | None = None,
) -> WinCall:
    """Record ``user``'s own win probability (0–100 %) for an open deal they may edit."""
    deal = deal_lock(deal)
    errors: dict[str, str] = {}
    _check_deal(deal, user, errors)
    called_at = called_at or timezone.now()
    if not isinstance(probability, int) or not 0 <= probability <= 100:
        errors["probability"] = "A probability is a whole number of percent, 0 to 100."
    _check_at("called_at", called_at, deal, errors)
    _raise(errors)
    return WinCall.objects.create(
        deal=deal, probability=probability, called_at=called_at, called_by=user
    )
