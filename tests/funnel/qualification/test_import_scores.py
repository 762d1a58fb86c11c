"""Criteria scores in an import: one column per criterion, optionally dated."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest
import time_machine

from funnel.importing import ImportOptions, ImportRejected, import_events, read_table, validate
from funnel.models import Deal
from funnel.qualification.models import CriterionScore, LevelScale
from funnel.qualification.services import criteria_set_start, criterion_create
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def stream():
    team = TeamFactory(name="Acme")
    manager = UserFactory(username="morgan")
    MembershipFactory(user=manager, team=team, role=Role.MANAGER)
    stream = stream_create(
        team=team,
        name="New business",
        lanes=[LaneSpec("Account Executive")],
        steps=[
            StepSpec(s, "Account Executive", planned_lead_hours=8)
            for s in ("Prospecting", "Qualification", "Proposal")
        ],
    )
    criteria_set_start(stream=stream, preset="bant", user=manager)
    criterion_create(stream=stream, user=manager, name="Signed NDA", scale=LevelScale.YES_NO)
    return stream


def _csv(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


FILE = _csv(
    """
    deal_id,step,entered_at,exited_at,outcome,closed_at,Budget,budget date,AUTHORITY,Signed NDA
    D-1,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,,,,,,
    D-1,Qualification,2025-03-04T09:00:00Z,2025-03-06T09:00:00Z,won,2025-03-06T09:00:00Z,validated,2025-03-05T10:00:00Z,,
    D-2,Prospecting,2025-03-05T10:00:00Z,,,,1,,Confirmed,yes
    """
)


def _run(stream, data):
    return import_events(stream=stream, data=data, options=ImportOptions(format="visits"))


def test_criteria_columns_become_scores_with_their_dates_and_steps(stream):
    result = _run(stream, FILE)
    assert result.scores_written == 4
    rows = {
        (s.deal.external_id, s.criterion.name): (
            s.level,
            s.scored_at,
            s.step.name if s.step else None,
            s.source,
        )
        for s in CriterionScore.objects.select_related("deal", "criterion", "step")
    }
    assert rows == {
        ("D-1", "Budget"): (2, datetime(2025, 3, 5, 10, tzinfo=UTC), "Qualification", "import"),
        ("D-2", "Budget"): (1, NOW, "Prospecting", "import"),
        ("D-2", "Authority"): (3, NOW, "Prospecting", "import"),
        ("D-2", "Signed NDA"): (1, NOW, "Prospecting", "import"),
    }
    # Importing the same file again adds nothing.
    assert _run(stream, FILE).scores_written == 0
    assert CriterionScore.objects.count() == 4


def test_a_dry_run_counts_the_scores_and_writes_none(stream):
    checked = validate(stream, read_table(FILE), ImportOptions(format="visits"))
    assert checked.scores_written == 4 and not CriterionScore.objects.exists()


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ("maybe,,,", "Budget", "'maybe' is not a level of Budget"),
        ("5,,,", "Budget", "'5' is not a level of Budget"),
        ("1,2999-01-01,,", "budget date", "in the future"),
        (",,,perhaps", "Signed NDA", "'perhaps' is not a level of Signed NDA"),
    ],
)
def test_a_bad_level_or_date_is_a_row_error_naming_the_column(stream, cells, column, reason):
    data = _csv(
        f"""
        deal_id,step,entered_at,Budget,budget date,AUTHORITY,Signed NDA
        D-1,Prospecting,2025-03-03T09:00:00Z,{cells}
        """
    )
    with pytest.raises(ImportRejected) as exc:
        _run(stream, data)
    (error,) = exc.value.errors
    assert (error.row, error.column) == (2, column) and reason in error.reason
    assert not Deal.objects.exists() and not CriterionScore.objects.exists()


def test_a_closed_deals_score_needs_a_date_before_its_close(stream):
    data = _csv(
        """
        deal_id,step,entered_at,exited_at,outcome,closed_at,Budget,Budget at
        D-1,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,lost,2025-03-04T09:00:00Z,Identified,
        D-2,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,lost,2025-03-04T09:00:00Z,Identified,2025-03-05T09:00:00Z
        """
    )
    with pytest.raises(ImportRejected) as exc:
        _run(stream, data)
    assert [(e.row, e.column) for e in exc.value.errors] == [(2, "Budget"), (3, "Budget")]
    assert "give the date" in exc.value.errors[0].reason
    assert "after deal D-2 closed" in exc.value.errors[1].reason
    assert not Deal.objects.exists() and not CriterionScore.objects.exists()
