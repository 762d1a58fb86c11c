"""Path facts (funnel.eventlog.paths): every writer of visits stores the same facts as recomputing
them from the whole path in SQL."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import time_machine

from funnel.eventlog.paths import deal_paths_refresh, path_facts
from funnel.eventlog.services import deal_close, deal_create, deal_move
from funnel.importing import ImportOptions, import_events
from funnel.models import Deal, Visit
from tests.factories import BASE_TIME, TeamFactory, make_stream
from vsm_project.demo import demo_seed

pytestmark = pytest.mark.django_db

T0 = BASE_TIME


def facts(stream) -> tuple[list[tuple], list[tuple]]:
    visits = list(
        Visit.objects.filter(deal__stream=stream)
        .order_by("deal_id", "entered_at", "id")
        .values_list("deal__external_id", "step__name", "reentry", "previous_step__name", "is_last")
    )
    deals = list(
        Deal.objects.filter(stream=stream)
        .order_by("id")
        .values_list("external_id", "first_entered_at")
    )
    return visits, deals


def assert_as_recomputed(stream) -> None:
    stored = facts(stream)
    deal_paths_refresh()
    assert stored == facts(stream)


def test_path_facts_of_sorted_arrays():
    # Deal 0: A B A C; deal 1: B; deal 2: C C.
    deal = np.array([0, 0, 0, 0, 1, 2, 2])
    step = np.array([10, 11, 10, 12, 11, 12, 12])
    reentry, previous, is_last = path_facts(deal, step)
    assert reentry.tolist() == [False, False, True, False, False, False, True]
    assert previous.tolist() == [-1, 10, 11, 10, -1, -1, 12]
    assert is_last.tolist() == [False, False, False, True, True, False, True]


def test_the_services_store_the_facts_of_each_appended_visit():
    stream = make_stream(TeamFactory(), n_steps=3)
    a, b, c = stream.steps.order_by("position")
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        deal = deal_create(stream=stream, name="Rework", created_at=T0, first_step=a)
        for days, step in ((1, b), (2, a), (3, c)):
            deal_move(deal=deal, step=step, at=T0 + timedelta(days=days))
        deal_close(deal=deal, outcome="lost", at=T0 + timedelta(days=4), lost_reason="Budget")
        later = deal_create(stream=stream, name="No step yet", created_at=T0)
        deal_move(deal=later, step=b, at=T0 + timedelta(days=2))

    visits, deals = facts(stream)
    assert visits == [
        (deal.external_id, "Step 1", False, None, False),
        (deal.external_id, "Step 2", False, "Step 1", False),
        (deal.external_id, "Step 1", True, "Step 2", False),
        (deal.external_id, "Step 3", False, "Step 1", True),
        (later.external_id, "Step 2", False, None, True),
    ]
    assert deals == [
        (deal.external_id, T0),
        (later.external_id, T0 + timedelta(days=2)),
    ]
    assert_as_recomputed(stream)


CSV = b"""deal_id,step,entered_at,exited_at
D-1,Step 1,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z
D-1,Step 2,2025-03-04T09:00:00Z,2025-03-05T09:00:00Z
D-1,Step 1,2025-03-05T09:00:00Z,
D-2,Step 3,2025-03-06T09:00:00Z,
"""


def test_the_import_stores_the_facts_of_new_and_changed_paths():
    stream = make_stream(TeamFactory(), n_steps=3)
    options = ImportOptions(format="visits")
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        import_events(stream=stream, data=CSV, options=options)
        visits, deals = facts(stream)
        assert visits == [
            ("D-1", "Step 1", False, None, False),
            ("D-1", "Step 2", False, "Step 1", False),
            ("D-1", "Step 1", True, "Step 2", True),
            ("D-2", "Step 3", False, None, True),
        ]
        assert [first.isoformat() for _, first in deals] == [
            "2025-03-03T09:00:00+00:00",
            "2025-03-06T09:00:00+00:00",
        ]
        # D-1's path grows a visit in front and loses its rework; D-2 moves on.
        grown = (
            b"deal_id,step,entered_at,exited_at\n"
            b"D-1,Step 3,2025-03-02T09:00:00Z,2025-03-03T09:00:00Z\n"
            b"D-1,Step 1,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z\n"
            b"D-1,Step 2,2025-03-04T09:00:00Z,\n"
            b"D-2,Step 3,2025-03-06T09:00:00Z,2025-03-07T09:00:00Z\n"
            b"D-2,Step 3,2025-03-07T09:00:00Z,\n"
        )
        import_events(stream=stream, data=grown, options=options)
    visits, deals = facts(stream)
    assert visits == [
        ("D-1", "Step 3", False, None, False),
        ("D-1", "Step 1", False, "Step 3", False),
        ("D-1", "Step 2", False, "Step 1", True),
        ("D-2", "Step 3", False, None, False),
        ("D-2", "Step 3", True, "Step 3", True),
    ]
    assert deals[0][1].isoformat() == "2025-03-02T09:00:00+00:00"
    assert_as_recomputed(stream)


def test_the_demo_seed_stores_the_facts_of_its_simulated_paths():
    result = demo_seed(deals=60)
    stream = Deal.objects.filter(external_id="DEMO-000001").get().stream
    visits, _ = facts(stream)
    assert len(visits) == result.visits
    assert any(reentry for _, _, reentry, _, _ in visits), "the demo has rework"
    assert_as_recomputed(stream)
