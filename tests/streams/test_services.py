from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from streams.future_states import stream_draw_future_state
from streams.models import StreamState, ValueStream
from streams.services import (
    LaneSpec,
    StageSpec,
    StepSpec,
    stream_create,
)
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

LANES = [LaneSpec("SDR", Decimal("40")), LaneSpec("Account Executive", Decimal("90"))]
STEPS = [
    StepSpec("Qualification call", "SDR", planned_process_hours=0.5, planned_lead_hours=24),
    StepSpec(
        "Discovery meeting", "Account Executive", planned_process_hours=2, planned_lead_hours=72
    ),
    StepSpec("Proposal", "Account Executive", planned_process_hours=4, planned_lead_hours=48),
]


def create(**overrides):
    kwargs = {"team": TeamFactory(), "name": "New business", "lanes": LANES, "steps": STEPS}
    return stream_create(**(kwargs | overrides))


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_it_creates_lanes_steps_and_stages_in_map_order():
    stream = create(
        stages=[
            StageSpec("Qualified", ["Qualification call", "Discovery meeting"]),
            StageSpec("Proposal", ["Proposal"]),
        ],
        target_won_deals_per_period=10,
        available_selling_hours_per_period=400,
    )
    steps = list(
        stream.steps.order_by("position").values_list(
            "position", "name", "lane__name", "stage__name"
        )
    )
    assert steps == [
        (1, "Qualification call", "SDR", "Qualified"),
        (2, "Discovery meeting", "Account Executive", "Qualified"),
        (3, "Proposal", "Account Executive", "Proposal"),
    ]
    assert list(stream.lanes.values_list("name", "hourly_cost")) == [
        ("SDR", Decimal("40.00")),
        ("Account Executive", Decimal("90.00")),
    ]
    # takt = 400 available hours / 10 target wins = 40 h per won deal
    assert stream.planned_takt_hours == 40
    assert stream.slug


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"currency": "dollars"}, "currency"),
        ({"target_won_deals_per_period": 0}, "target_won_deals_per_period"),
        ({"available_selling_hours_per_period": -5}, "available_selling_hours_per_period"),
        ({"lanes": [LaneSpec("SDR"), LaneSpec("SDR")]}, "lanes[1].name"),
        ({"lanes": [LaneSpec("SDR", Decimal("-1"))], "steps": []}, "lanes[0].hourly_cost"),
        ({"steps": [StepSpec("A", "Nowhere")]}, "steps[0].lane"),
        ({"steps": [StepSpec("A", "SDR"), StepSpec("A", "SDR")]}, "steps[1].name"),
        (
            {"steps": [StepSpec("A", "SDR", planned_process_hours=-1)]},
            "steps[0].planned_process_hours",
        ),
        (
            {"steps": [StepSpec("A", "SDR", planned_process_hours=5, planned_lead_hours=2)]},
            "steps[0].planned_lead_hours",
        ),
        ({"steps": [StepSpec("A", "SDR", planned_lead_hours=1e7)]}, "steps[0].planned_lead_hours"),
        (
            {"steps": [StepSpec("A", "SDR", planned_pct_complete_accurate=120)]},
            "steps[0].planned_pct_complete_accurate",
        ),
        ({"steps": [StepSpec("A", "SDR", value_class="sparkle")]}, "steps[0].value_class"),
        ({"stages": [StageSpec("Split", ["Qualification call", "Proposal"])]}, "stages[0].steps"),
        (
            {
                "stages": [
                    StageSpec("Late", ["Proposal"]),
                    StageSpec("Early", ["Discovery meeting"]),
                ]
            },
            "stages[1].steps",
        ),
        ({"stages": [StageSpec("Ghost", ["Nope"])]}, "stages[0].steps"),
        ({"stages": [StageSpec("Empty", [])]}, "stages[0].steps"),
    ],
)
def test_it_names_the_field_and_stores_nothing_on_bad_input(overrides, field):
    with pytest.raises(ValidationError) as excinfo:
        create(**overrides)
    assert field in errors_of(excinfo), errors_of(excinfo)
    assert errors_of(excinfo)[field][0]  # a reason, in words
    assert not ValueStream.objects.exists()


def test_it_refuses_a_second_current_stream_with_the_same_name_in_a_team():
    stream = create()
    with pytest.raises(ValidationError) as excinfo:
        create(team=stream.team)
    assert "already has" in errors_of(excinfo)["name"][0]


def test_it_draws_a_linked_future_state_with_a_copy_of_the_map():
    current = create(stages=[StageSpec("All", [s.name for s in STEPS])])
    future = stream_draw_future_state(stream=current)
    assert future.state == StreamState.FUTURE
    assert future.drawn_from == current
    assert future.slug != current.slug
    copied = list(
        future.steps.values_list(
            "position", "name", "lane__name", "stage__name", "planned_lead_hours"
        )
    )
    original = list(
        current.steps.values_list(
            "position", "name", "lane__name", "stage__name", "planned_lead_hours"
        )
    )
    assert copied == original
    assert set(future.steps.values_list("lane__stream", flat=True)) == {future.pk}


def test_it_draws_a_future_state_only_from_a_current_state():
    future = stream_draw_future_state(stream=create())
    with pytest.raises(ValidationError) as excinfo:
        stream_draw_future_state(stream=future)
    assert "stream" in errors_of(excinfo)


def test_a_future_state_keeps_the_hand_recorded_wastes():
    current = create(steps=[StepSpec("A", "SDR", motion_waste=True, unused_talent=True)])
    future = stream_draw_future_state(stream=current)
    step = future.steps.get()
    assert (step.motion_waste, step.unused_talent) == (True, True)


def test_it_trims_a_name_before_checking_it_is_free():
    stream = create()
    with pytest.raises(ValidationError) as excinfo:
        create(team=stream.team, name="  New business  ")
    assert "already has" in errors_of(excinfo)["name"][0]
