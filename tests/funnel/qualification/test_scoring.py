"""Criteria sets and scores: the rules of docs/qualification.md, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from funnel.eventlog.bulk import EventsRefused
from funnel.eventlog.selectors import deals_for_list
from funnel.eventlog.services import deal_close, deal_move
from funnel.qualification.models import Criterion, CriterionScore, LevelScale, WinCall
from funnel.qualification.presets import PRESETS
from funnel.qualification.selectors import deals_coverage, overdue_condition
from funnel.qualification.services import (
    criteria_reorder,
    criteria_set_start,
    criterion_create,
    criterion_restore,
    criterion_retire,
    criterion_update,
    score_create,
    scores_bulk,
    win_call_create,
)

pytestmark = pytest.mark.django_db


def _fields(exc: pytest.ExceptionInfo) -> set[str]:
    return set(exc.value.message_dict)


# --- Criteria sets --------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["bant", "meddic", "meddpicc", "champ", "spiced"])
def test_a_preset_gives_its_criteria_with_questions_and_no_weights(team_setup, preset):
    criteria_set = criteria_set_start(
        stream=team_setup.stream_a, preset=preset, user=team_setup.manager_a
    )
    criteria_set.refresh_from_db()
    assert (criteria_set.preset, criteria_set.updated_by) == (preset, team_setup.manager_a)
    criteria = list(criteria_set.criteria.order_by("position"))
    assert [c.name for c in criteria] == [p.name for p in PRESETS[preset]]
    assert all(c.question.endswith("?") for c in criteria)
    assert {(c.scale, c.met_level, c.weight, c.version) for c in criteria} == {
        (LevelScale.EVIDENCE, 2, None, 1)
    }


def test_the_presets_spell_their_acronyms():
    """Written out, so that a preset losing or gaining a letter fails (the test above only
    compares the set with the list it came from)."""
    names = {key: [c.name for c in criteria] for key, criteria in PRESETS.items()}
    assert names == {
        "bant": ["Budget", "Authority", "Need", "Timeline"],
        "meddic": [
            "Metrics",
            "Economic buyer",
            "Decision criteria",
            "Decision process",
            "Identified pain",
            "Champion",
        ],
        "meddpicc": [
            "Metrics",
            "Economic buyer",
            "Decision criteria",
            "Decision process",
            "Paper process",
            "Identified pain",
            "Champion",
            "Competition",
        ],
        "champ": ["Challenges", "Authority", "Money", "Prioritisation"],
        "spiced": ["Situation", "Pain", "Impact", "Critical event", "Decision"],
        "custom": [],
    }


@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_the_teams_managers_set_criteria(team_setup, who):
    with pytest.raises(PermissionDenied):
        criteria_set_start(stream=team_setup.stream_a, preset="bant", user=getattr(team_setup, who))
    assert not Criterion.objects.exists()


def test_a_new_preset_retires_scored_criteria_only_when_confirmed(qual):
    scored = qual.crit
    score_create(deal=qual.deal_a1, criterion=scored, level=1, user=qual.rep_a1)
    with pytest.raises(ValidationError) as exc:
        criteria_set_start(stream=qual.stream_a, preset="meddic", user=qual.manager_a)
    assert "Metrics" in exc.value.message_dict["preset"][0]
    assert qual.stream_a.criteria_set.criteria.filter(retired_at__isnull=True).count() == 8

    criteria_set_start(
        stream=qual.stream_a, preset="meddic", user=qual.manager_a, confirm_retire=True
    )
    rows = list(qual.stream_a.criteria_set.criteria.all())
    # The 7 unscored MEDDPICC criteria are gone, Metrics v1 is retired with its score, and
    # MEDDIC's Metrics continues its key as version 2.
    assert len(rows) == 1 + 6
    scored.refresh_from_db()
    assert scored.retired_at is not None and scored.scores.count() == 1
    metrics = [r for r in rows if r.key == "metrics"]
    assert sorted(r.version for r in metrics) == [1, 2]


def test_two_active_criteria_of_one_name_are_refused(qual):
    with pytest.raises(ValidationError) as exc:
        criterion_create(stream=qual.stream_a, user=qual.manager_a, name="champion")
    assert _fields(exc) == {"name"}
    with pytest.raises(ValidationError) as exc:
        criterion_update(criterion=qual.crit, user=qual.manager_a, name="Champion")
    assert _fields(exc) == {"name"}


def test_known_by_must_be_a_step_of_the_stream(qual):
    with pytest.raises(ValidationError) as exc:
        criterion_create(
            stream=qual.stream_a, user=qual.manager_a, name="Timing", known_by=qual.steps_b[0]
        )
    assert _fields(exc) == {"known_by"}
    c = criterion_create(
        stream=qual.stream_a,
        user=qual.manager_a,
        name="Timing",
        scale=LevelScale.YES_NO,
        known_by=qual.steps_a[1],
        weight=3,
    )
    assert (c.met_level, c.key, c.position) == (1, "timing", 8)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weight": 6}, "weight"),
        ({"met_level": 0}, "met_level"),
        ({"scale": "x"}, "scale"),
        ({"name": " "}, "name"),
        ({"owner": 1}, "owner"),
    ],
)
def test_bad_criterion_fields_are_named(qual, changes, field):
    with pytest.raises(ValidationError) as exc:
        criterion_update(criterion=qual.crit, user=qual.manager_a, **changes)
    assert field in _fields(exc)


def test_changing_the_meaning_of_a_scored_criterion_makes_a_new_version(qual):
    crit = qual.crit
    score = score_create(deal=qual.deal_a1, criterion=crit, level=2, user=qual.rep_a1)
    # Weight and known-by do not change what a score meant: in place.
    same = criterion_update(criterion=crit, user=qual.manager_a, weight=4, known_by=qual.steps_a[1])
    assert same.pk == crit.pk and same.weight == 4
    new = criterion_update(criterion=crit, user=qual.manager_a, question="Numbers agreed?")
    crit.refresh_from_db()
    assert crit.retired_at is not None and crit.question != "Numbers agreed?"
    assert (new.key, new.version, new.weight, new.known_by, new.position) == (
        crit.key,
        2,
        4,
        qual.steps_a[1],
        crit.position,
    )
    score.refresh_from_db()
    assert score.criterion_id == crit.pk  # the score keeps the version it was given under
    # A retired version is not edited.
    with pytest.raises(ValidationError) as exc:
        criterion_update(criterion=crit, user=qual.manager_a, weight=1)
    assert _fields(exc) == {"criterion"}


def test_an_unscored_criterion_is_edited_in_place(qual):
    new = criterion_update(criterion=qual.crit, user=qual.manager_a, name="Measured gain")
    assert new.pk == qual.crit.pk and new.version == 1 and new.key == "metrics"


def test_retire_and_restore(qual):
    crit = criterion_retire(criterion=qual.crit, user=qual.manager_a)
    assert crit.retired_at is not None
    with pytest.raises(ValidationError):
        criterion_retire(criterion=crit, user=qual.manager_a)
    restored = criterion_restore(criterion=crit, user=qual.manager_a)
    assert restored.retired_at is None and restored.position == 8
    # A version whose key has a newer active version is not restored.
    score_create(deal=qual.deal_a1, criterion=restored, level=1, user=qual.rep_a1)
    criterion_update(criterion=restored, user=qual.manager_a, name="Metrics v2")
    with pytest.raises(ValidationError) as exc:
        criterion_restore(criterion=restored, user=qual.manager_a)
    assert _fields(exc) == {"criterion"}
    with pytest.raises(PermissionDenied):
        criterion_retire(criterion=qual.criteria[1], user=qual.rep_a1)


def test_reorder(qual):
    order = [c.pk for c in reversed(qual.criteria)]
    criteria_reorder(stream=qual.stream_a, user=qual.manager_a, order=order)
    assert (
        list(
            Criterion.objects.filter(retired_at__isnull=True)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        == order
    )
    with pytest.raises(ValidationError) as exc:
        criteria_reorder(stream=qual.stream_a, user=qual.manager_a, order=order[1:])
    assert _fields(exc) == {"order"}


# --- Scores ---------------------------------------------------------------------------------


def test_a_rep_scores_their_own_deal_and_each_score_is_a_new_row(qual):
    first = score_create(
        deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1, note="CFO named"
    )
    second = score_create(deal=qual.deal_a1, criterion=qual.crit, level=3, user=qual.manager_a)
    assert CriterionScore.objects.count() == 2
    first.refresh_from_db()
    assert (first.level, first.note, first.step_id, first.source) == (
        1,
        "CFO named",
        qual.steps_a[0].pk,
        "page",
    )
    assert second.scored_by == qual.manager_a


@pytest.mark.parametrize("who", ["rep_a2", "leader_a", "manager_b"])
def test_others_cannot_score_a_deal(qual, who):
    with pytest.raises(PermissionDenied):
        score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=getattr(qual, who))
    assert not CriterionScore.objects.exists()


def test_bad_scores_are_refused_naming_the_field(qual):
    other = criteria_set_start(stream=qual.stream_b, preset="bant", user=qual.manager_b)
    cases = [
        ({"criterion": other.criteria.first()}, "criterion"),
        ({"level": 4}, "level"),
        ({"level": -1}, "level"),
        ({"scored_at": timezone.now() + timedelta(hours=1)}, "scored_at"),
        ({"scored_at": qual.t - timedelta(days=1)}, "scored_at"),
    ]
    for change, field in cases:
        args = {"deal": qual.deal_a1, "criterion": qual.crit, "level": 1, "user": qual.rep_a1}
        with pytest.raises(ValidationError) as exc:
            score_create(**{**args, **change})
        assert _fields(exc) == {field}, change
    retired = criterion_retire(criterion=qual.criteria[1], user=qual.manager_a)
    with pytest.raises(ValidationError) as exc:
        score_create(deal=qual.deal_a1, criterion=retired, level=1, user=qual.rep_a1)
    assert _fields(exc) == {"criterion"}
    deal_close(deal=qual.deal_a1, outcome="won", actor=qual.rep_a1)
    with pytest.raises(ValidationError) as exc:
        score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1)
    assert _fields(exc) == {"deal"}
    assert not CriterionScore.objects.exists()


def test_the_step_of_a_back_dated_score_is_where_the_deal_was_then(qual):
    deal_move(deal=qual.deal_a1, step=qual.steps_a[1], at=qual.later, actor=qual.rep_a1)
    before = score_create(
        deal=qual.deal_a1,
        criterion=qual.crit,
        level=1,
        user=qual.rep_a1,
        scored_at=qual.later - timedelta(hours=1),
    )
    at_move = score_create(
        deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1, scored_at=qual.later
    )
    now = score_create(deal=qual.deal_a1, criterion=qual.crit, level=2, user=qual.rep_a1)
    assert [before.step_id, at_move.step_id, now.step_id] == [
        qual.steps_a[0].pk,
        qual.steps_a[1].pk,
        qual.steps_a[1].pk,
    ]


def test_bulk_scores_are_all_or_nothing_with_each_error_indexed(qual):
    rows = [
        {"deal": qual.deal_a1, "criterion": qual.crit, "level": 1},
        {"deal": qual.deal_a2, "criterion": qual.crit, "level": 9},
        {
            "deal": qual.deal_a1,
            "criterion": qual.criteria[1],
            "level": 2,
            "scored_at": timezone.now() + timedelta(days=1),
        },
    ]
    with pytest.raises(EventsRefused) as exc:
        scores_bulk(user=qual.manager_a, rows=rows)
    assert [(e.index, e.field) for e in exc.value.errors] == [(1, "level"), (2, "scored_at")]
    assert not exc.value.forbidden and not CriterionScore.objects.exists()
    with pytest.raises(EventsRefused) as exc:
        scores_bulk(user=qual.rep_a1, rows=rows[:2])
    assert exc.value.forbidden and exc.value.errors[0].index == 1
    made = scores_bulk(user=qual.manager_a, rows=[rows[0], {**rows[1], "level": 3}])
    assert [s.source for s in made] == ["api", "api"] and CriterionScore.objects.count() == 2


def test_win_calls(qual):
    call = win_call_create(deal=qual.deal_a1, probability=70, user=qual.rep_a1)
    assert WinCall.objects.get().probability == call.probability == 70
    with pytest.raises(ValidationError) as exc:
        win_call_create(deal=qual.deal_a1, probability=101, user=qual.rep_a1)
    assert _fields(exc) == {"probability"}
    with pytest.raises(PermissionDenied):
        win_call_create(deal=qual.deal_a1, probability=50, user=qual.leader_a)


# --- Coverage and overdue -------------------------------------------------------------------


def test_coverage_and_overdue_by_hand(qual):
    """Criteria known by step 1 (Metrics), step 2 (Economic buyer), step 3 (Decision criteria),
    and a yes/no one by step 1 (Budget). deal_a1 at step 3: all four due; Metrics Identified
    (known), Budget answered No (known: any answer), Economic buyer never scored (overdue:
    3 > 2), Decision criteria Unknown (due, not overdue) → 2/4 known, overdue: Economic buyer.
    deal_a2 at step 1: Metrics and Budget due; Metrics scored Unknown (not known, not
    overdue: the deal is at its known-by step) → 0/2, nothing overdue."""
    metrics, buyer, criteria = qual.criteria[0], qual.criteria[1], qual.criteria[2]
    steps = qual.steps_a
    for c, step in [(metrics, steps[0]), (buyer, steps[1]), (criteria, steps[2])]:
        criterion_update(criterion=c, user=qual.manager_a, known_by=step)
    budget = criterion_create(
        stream=qual.stream_a,
        user=qual.manager_a,
        name="Budget",
        scale=LevelScale.YES_NO,
        known_by=steps[0],
    )
    for step in steps[1:]:
        deal_move(deal=qual.deal_a1, step=step, actor=qual.manager_a)
    for c, level in [(metrics, 1), (budget, 0), (criteria, 0)]:
        score_create(deal=qual.deal_a1, criterion=c, level=level, user=qual.rep_a1)
    score_create(deal=qual.deal_a2, criterion=metrics, level=0, user=qual.rep_a2)

    now = timezone.now()
    deals = list(deals_for_list(user=qual.manager_a, thresholds={}, now=now))
    coverage = deals_coverage(deals, positions={s.pk: s.position for s in steps})
    a1, a2 = coverage[qual.deal_a1.pk], coverage[qual.deal_a2.pk]
    assert (a1.known, a1.due, a1.overdue) == (2, 4, ["Economic buyer"])
    assert (a2.known, a2.due, a2.overdue) == (0, 2, [])
    overdue = deals_for_list(user=qual.manager_a, thresholds={}, now=now).filter(
        overdue_condition()
    )
    assert list(overdue.values_list("pk", flat=True)) == [qual.deal_a1.pk]
    # Scoring it clears the flag, in both.
    score_create(deal=qual.deal_a1, criterion=buyer, level=2, user=qual.rep_a1)
    assert (
        not deals_for_list(user=qual.manager_a, thresholds={}, now=now)
        .filter(overdue_condition())
        .exists()
    )
