"""The value stream map drawing (``streams.drawing``): the SVG is parsed as XML and read
through its classes and ``data-*`` attributes, the way a browser test would."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from kaizen.models import KaizenCycle, Phase
from streams import explanations
from streams.drawing import (
    COL_W,
    format_hours,
    format_percent,
    format_ratio,
    format_work_hours,
    render_vsm_svg,
    stream_svg,
    truncate,
    vsm_map_data,
    wrap,
)
from streams.future_states import stream_draw_future_state
from streams.models import ProcessStep, StreamState, ValueStream
from streams.services import (
    LaneSpec,
    StageSpec,
    StepSpec,
    stream_create,
)
from tests.factories import TeamFactory, metrics_snapshot
from vsm_project import demo

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def find_all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{SVG}{tag}")
    return [el for el in found if cls is None or cls in (el.get("class") or "").split()]


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def lines_of(el: ET.Element) -> str:
    """The text of a wrapped label, its lines joined with spaces."""
    spans = el.findall(f"{SVG}tspan")
    return " ".join(t.text or "" for t in spans) if spans else text_of(el)


def own_title(el: ET.Element) -> str:
    title = el.find(f"{SVG}title")
    assert title is not None, f"{el.get('class')} has no <title>"
    return title.text or ""


def boxes(root: ET.Element) -> list[ET.Element]:
    return find_all(root, "g", "process-box")


def summary_values(root: ET.Element, kind: str) -> dict[str, str | None]:
    (box,) = find_all(root, "g", "summary-box")
    return {
        el.get("data-figure"): el.get("data-value")
        for el in box.iter(f"{SVG}text")
        if el.get("data-figure") and el.get("data-kind") == kind
    }


def summary_texts(root: ET.Element, kind: str) -> dict[str, str]:
    (box,) = find_all(root, "g", "summary-box")
    return {
        el.get("data-figure"): text_of(el)
        for el in box.iter(f"{SVG}text")
        if el.get("data-figure") and el.get("data-kind") == kind
    }


def box_row(box: ET.Element, key: str, kind: str) -> str | None:
    for row in box.iter(f"{SVG}g"):
        if row.get("data-row") == key:
            for el in row.iter(f"{SVG}text"):
                if el.get("data-kind") == kind:
                    return text_of(el)
    return None


def demo_stream(**kwargs) -> ValueStream:
    """The demo's current-state map (5 lanes, 8 steps, 4 stages), without deals."""
    return stream_create(
        team=TeamFactory(),
        name=kwargs.pop("name", "New business"),
        lanes=demo.LANES,
        steps=[s.spec for s in demo.STEPS],
        stages=demo.STAGES,
        target_won_deals_per_period=12,
        available_selling_hours_per_period=480,
        **kwargs,
    )


def step_ids(stream: ValueStream) -> list[int]:
    return list(stream.steps.order_by("position").values_list("id", flat=True))


# --------------------------------------------------------------------------------------
# formatting helpers (no database)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (None, "—"),
        (0, "0 h"),
        (0.005, "<1 min"),
        (0.25, "15 min"),
        (0.75, "45 min"),
        (0.999, "1 h"),  # 59.94 min rounds to an hour
        (2, "2 h"),
        (2.5, "2.5 h"),
        (23.5, "23.5 h"),
        (24, "1 d"),
        (36, "1.5 d"),
        (168, "7 d"),  # a week of elapsed time
        (201, "8.4 d"),
        (240, "10 d"),
        (1200, "50 d"),
    ],
)
def test_format_hours_picks_a_readable_unit_for_elapsed_time(hours, text):
    assert format_hours(hours) == text


def test_work_time_stays_in_hours_beyond_a_day():
    # 30 working hours are not 1.25 calendar days
    assert format_work_hours(30) == "30 h"
    assert format_work_hours(16) == "16 h"
    assert format_work_hours(0.75) == "45 min"
    assert format_work_hours(250) == "250 h"


def test_percent_formats():
    assert format_percent(72.0) == "72 %"
    assert format_percent(20.75598) == "20.8 %"
    assert format_percent(None) == "—"
    assert format_ratio(0.045139) == "4.5 %"
    assert format_ratio(None) == "—"


def test_long_names_wrap_to_two_lines_and_end_with_an_ellipsis():
    lines = wrap(
        "Executive sponsor alignment workshop with procurement and legal", 130, 12, bold=True
    )
    assert len(lines) == 2
    assert lines[-1].endswith("…")
    assert wrap("Negotiation", 130, 12, bold=True) == ["Negotiation"]
    assert truncate("Short", 100, 11) == "Short"
    assert truncate("A rather long funnel stage name", 60, 11).endswith("…")


def test_a_single_very_long_word_is_broken_not_overflowing():
    lines = wrap("Supercalifragilisticexpialidocious-qualification", 80, 12, bold=True)
    assert 1 < len(lines) <= 2
    assert lines[-1].endswith("…")


# --------------------------------------------------------------------------------------
# the drawing of the demo map
# --------------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def test_the_svg_is_a_self_contained_accessible_image():
    stream = demo_stream()
    root = parse(stream_svg(stream))
    assert root.tag == f"{SVG}svg"
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert root.get("role") == "img"
    assert (
        root.get("font-family") == "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"
    )
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}
    title_id, desc_id = root.get("aria-labelledby").split()
    assert ids[title_id].tag == f"{SVG}title" and "New business" in ids[title_id].text
    assert "Current state" in ids[title_id].text
    assert ids[desc_id].tag == f"{SVG}desc"
    assert str(stream.id) in title_id  # two maps on one page do not share ids
    # no external resources, no scripts, no stylesheet that would leak into the page
    assert not find_all(root, "script") and not find_all(root, "style")
    assert "href" not in stream_svg(stream)


def test_it_draws_one_box_per_step_in_map_order():
    stream = demo_stream()
    root = parse(stream_svg(stream))
    drawn = boxes(root)
    assert [int(b.get("data-step-id")) for b in drawn] == step_ids(stream)
    # one fixed-width column per step, left to right
    xs = [float(b.get("transform").split("(")[1].split(",")[0]) for b in drawn]
    assert all(b - a == pytest.approx(COL_W) for a, b in itertools.pairwise(xs))
    # box titles are the step names, the value class is a text tag as well as a colour
    assert [own_title(b).splitlines()[0] for b in drawn][:2] == [
        "1. Lead capture",
        "2. Lead nurturing",
    ]
    assert [b.get("data-value-class") for b in drawn] == [
        "VA",
        "NVA",
        "VA",
        "VA",
        "VA",
        "VA",
        "NVA",
        "W",
    ]
    tags = [text_of(find_all(b, "g", "value-class")[0].find(f"{SVG}text")) for b in drawn]
    assert tags[-1] == "W"


def test_each_box_shows_its_planned_figures():
    stream = demo_stream()
    negotiation = next(b for b in boxes(parse(stream_svg(stream))) if "Negotiation" in own_title(b))
    # Negotiation: PT 3 h, LT 240 h = 10 d, %C&A 70, WIP 18
    assert box_row(negotiation, "process_hours", "planned") == "3 h"
    assert box_row(negotiation, "lead_hours", "planned") == "10 d"
    assert box_row(negotiation, "pct_complete_accurate", "planned") == "70 %"
    assert box_row(negotiation, "wip", "planned") == "18"


def test_it_draws_the_lanes_in_position_order_with_their_cost():
    stream = demo_stream()
    root = parse(stream_svg(stream))
    lanes = find_all(root, "g", "lane")
    names = [lines_of(find_all(lane, "text", "lane-name")[0]) for lane in lanes]
    assert names == ["Marketing", "SDR", "Account Executive", "Sales Engineer", "Legal"]
    assert own_title(lanes[2]).startswith("Lane: Account Executive")
    assert [text_of(find_all(lane, "text", "lane-cost")[0]) for lane in lanes] == [
        "$60 / h",
        "$45 / h",
        "$95 / h",
        "$110 / h",
        "$150 / h",
    ]


def test_boxes_stand_in_their_lanes_band():
    stream = demo_stream()
    root = parse(stream_svg(stream))
    lane_tops = [float(lane.find(f"{SVG}rect").get("y")) for lane in find_all(root, "g", "lane")]
    lane_of = dict(stream.steps.values_list("id", "lane__position"))
    for box in boxes(root):
        y = float(box.get("transform").split(",")[1].rstrip(")"))
        position = lane_of[int(box.get("data-step-id"))]
        assert lane_tops[position - 1] < y < lane_tops[position - 1] + 30


def test_it_draws_a_band_per_funnel_stage():
    root = parse(stream_svg(demo_stream()))
    bands = find_all(root, "g", "stage-band")
    assert [text_of(b.find(f"{SVG}text")) for b in bands] == [
        "Lead",
        "Qualified",
        "Solution",
        "Commit",
    ]
    widths = {float(b.find(f"{SVG}rect").get("width")) for b in bands}
    assert widths == {2 * COL_W - 4}  # each stage spans the columns of its two steps


def test_a_map_without_stages_draws_no_stage_band():
    stream = stream_create(
        team=TeamFactory(),
        name="No stages",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Call", "AE", planned_process_hours=1, planned_lead_hours=2)],
    )
    assert find_all(parse(stream_svg(stream)), "g", "stage-band") == []


def test_it_draws_an_inventory_triangle_in_front_of_each_step_and_arrows_between_boxes():
    root = parse(stream_svg(demo_stream()))
    inventories = find_all(root, "g", "inventory")
    assert len(inventories) == 8
    wips = [text_of(find_all(i, "text", "wip")[0]) for i in inventories]
    assert wips == ["40", "120", "25", "20", "15", "12", "18", "8"]
    assert all(text_of(i.find(f"{SVG}text")) == "I" for i in inventories)
    (flow,) = find_all(root, "g", "flow")
    assert len(flow.findall(f"{SVG}path")) == 7  # between 8 consecutive boxes


def test_the_timeline_ladder_shows_each_steps_lead_and_process_time_and_the_totals():
    root = parse(stream_svg(demo_stream()))
    (ladder,) = find_all(root, "g", "timeline-ladder")
    lead = [text_of(t) for t in find_all(ladder, "text", "ladder-lt")]
    work = [text_of(t) for t in find_all(ladder, "text", "ladder-pt")]
    assert lead == ["1 d", "10 d", "3 d", "7 d", "7 d", "5 d", "10 d", "7 d"]
    assert work == ["15 min", "1 h", "45 min", "2 h", "3 h", "4 h", "3 h", "2 h"]
    assert [text_of(t) for t in find_all(ladder, "text", "ladder-total")] == ["= 50 d", "= 16 h"]


def test_the_summary_box_shows_the_hand_worked_planned_figures():
    root = parse(stream_svg(demo_stream()))
    planned = summary_values(root, "planned")
    # worked by hand in tests/streams/test_summary.py::test_the_demo_streams_planned_summary
    assert float(planned["lead_time_hours"]) == pytest.approx(1200)
    assert float(planned["process_time_hours"]) == pytest.approx(16)
    assert float(planned["activity_ratio"]) == pytest.approx(16 / 1200)
    assert float(planned["rolled_pct_complete_accurate"]) == pytest.approx(20.75598, abs=1e-5)
    assert float(planned["takt_hours"]) == pytest.approx(40)
    assert summary_texts(root, "planned") == {
        "lead_time_hours": "50 d",
        "process_time_hours": "16 h",
        "activity_ratio": "1.3 %",
        "rolled_pct_complete_accurate": "20.8 %",
        "takt_hours": "40 h",
    }


def test_every_summary_figure_explains_itself_in_a_tooltip():
    root = parse(stream_svg(demo_stream()))
    (box,) = find_all(root, "g", "summary-box")
    rows = {g.get("data-figure-row"): own_title(g) for g in find_all(box, "g", "summary-figure")}
    assert set(rows) == set(explanations.SUMMARY_FIGURES)
    for figure, key in explanations.SUMMARY_FIGURES.items():
        assert rows[figure] == explanations.ALL[key].tooltip
    assert "Total process time ÷ total lead time" in rows["activity_ratio"]


def test_takt_reads_not_set_without_targets():
    stream = stream_create(
        team=TeamFactory(),
        name="No targets",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Call", "AE", planned_process_hours=1, planned_lead_hours=2)],
    )
    root = parse(stream_svg(stream))
    assert summary_texts(root, "planned")["takt_hours"] == "not set"
    assert summary_values(root, "planned")["takt_hours"] is None


def test_the_title_line_names_the_stream_and_its_state():
    current = demo_stream()
    future = stream_draw_future_state(stream=current)
    assert future.state == StreamState.FUTURE
    for stream, state in [(current, "Current state"), (future, "Future state")]:
        root = parse(stream_svg(stream))
        title = text_of(find_all(root, "text", "map-title")[0])
        assert title.startswith("New business") and state in title


def test_the_legend_explains_classes_triangle_and_burst():
    root = parse(stream_svg(demo_stream()))
    (legend,) = find_all(root, "g", "legend")
    text = text_of(legend)
    for label in ("Value-add", "Necessary non-value-add", "Waste", "VA", "NVA", "W"):
        assert label in text
    kinds = [g.get("data-legend") for g in find_all(legend, "g", "legend-item")]
    assert {"value_class", "triangle", "burst"} <= set(kinds)


# --------------------------------------------------------------------------------------
# planned against measured
# --------------------------------------------------------------------------------------


def test_without_measurements_it_says_not_measured_yet():
    root = parse(stream_svg(demo_stream()))
    assert summary_values(root, "measured") == {}
    (box,) = find_all(root, "g", "summary-box")
    assert "not measured yet" in text_of(box)
    assert "not measured yet" in text_of(find_all(root, "g", "legend")[0])
    assert {b.get("data-measured") for b in boxes(root)} == {"none"}
    for b in boxes(root):
        assert box_row(b, "lead_hours", "measured") is None
        (note,) = find_all(b, "g", "not-measured")
        assert " ".join(t.text for t in note.iter(f"{SVG}tspan")) == "not measured yet"


def test_measured_figures_stand_beside_the_planned_ones():
    stream = demo_stream()
    steps = list(stream.steps.order_by("position"))
    old_start, old_end = NOW - timedelta(days=180), NOW - timedelta(days=90)
    start, end = NOW - timedelta(days=90), NOW
    # the previous period's snapshot must be ignored: the map reads the rolling default
    metrics_snapshot(
        stream,
        start=old_start,
        end=old_end,
        previous=True,
        steps={steps[3]: {"n_completed": 40, "median_hours": 999, "median_work_hours": 9}},
        lead_time_hours=9999,
        process_time_hours=1,
    )
    metrics_snapshot(
        stream,
        start=start,
        end=end,
        steps={
            # Discovery meeting: measured LT 201 h (8.4 d) against 168 h planned
            steps[3]: {
                "n_completed": 40,
                "n_entered": 40,
                "median_hours": 201,
                "median_work_hours": 2.4,
                "pct_complete_accurate": 0.81,
                "wip_now": 23,
            },
            # Negotiation: only 3 completed visits → low sample
            steps[6]: {
                "n_completed": 3,
                "n_entered": 3,
                "median_hours": 223,
                "median_work_hours": 3,
                "pct_complete_accurate": 0.727,
                "wip_now": 14,
            },
        },
        lead_time_hours=1391.5,
        process_time_hours=17.75,
        activity_ratio=17.75 / 1391.5,
        rolled_pct_complete_accurate=0.182,
    )
    root = parse(stream_svg(stream))
    by_id = {int(b.get("data-step-id")): b for b in boxes(root)}

    discovery = by_id[steps[3].id]
    assert discovery.get("data-measured") == "yes"
    assert box_row(discovery, "lead_hours", "planned") == "7 d"
    assert box_row(discovery, "lead_hours", "measured") == "8.4 d"
    assert box_row(discovery, "process_hours", "measured") == "2.4 h"
    assert box_row(discovery, "pct_complete_accurate", "measured") == "81 %"
    assert box_row(discovery, "wip", "measured") == "23"
    assert not find_all(discovery, "g", "not-measured")

    negotiation = by_id[steps[6].id]
    assert negotiation.get("data-measured") == "low-sample"
    assert "(n=3)" in text_of(negotiation)
    assert box_row(negotiation, "lead_hours", "measured") == "9.3 d"

    # a step without a snapshot in the latest window
    assert by_id[steps[0].id].get("data-measured") == "none"
    assert find_all(by_id[steps[0].id], "g", "not-measured")

    measured = summary_values(root, "measured")
    assert float(measured["lead_time_hours"]) == pytest.approx(1391.5)
    assert float(measured["process_time_hours"]) == pytest.approx(17.75)
    assert float(measured["activity_ratio"]) == pytest.approx(17.75 / 1391.5)
    assert float(measured["rolled_pct_complete_accurate"]) == pytest.approx(18.2)
    assert float(measured["takt_hours"]) == pytest.approx(40)
    assert summary_texts(root, "measured")["lead_time_hours"] == "58 d"
    (box,) = find_all(root, "g", "summary-box")
    assert "not measured yet" not in text_of(box)
    assert "2024-12-01 – 2025-03-01" in text_of(box)


# --------------------------------------------------------------------------------------
# kaizen bursts, waste markers
# --------------------------------------------------------------------------------------


def test_a_burst_is_drawn_only_on_steps_with_an_open_kaizen_cycle():
    stream = demo_stream()
    other = demo_stream(name="Other stream")
    steps = list(stream.steps.order_by("position"))
    day = date(2025, 1, 6)
    KaizenCycle.objects.create(
        stream=stream, step=steps[1], title="Shorter nurture", planned_on=day
    )
    KaizenCycle.objects.create(
        stream=stream,
        step=steps[4],
        title="Demo script",
        phase=Phase.DO,
        planned_on=day,
        change_date=day,
    )
    KaizenCycle.objects.create(
        stream=stream,
        step=steps[7],
        title="Standard contract",
        phase=Phase.CLOSED,
        planned_on=day,
        change_date=day,
        closed_on=day + timedelta(days=30),
    )
    KaizenCycle.objects.create(stream=stream, step=None, title="Stream-wide", planned_on=day)
    KaizenCycle.objects.create(
        stream=other, step=other.steps.get(position=1), title="Elsewhere", planned_on=day
    )

    root = parse(stream_svg(stream))
    with_burst = [
        int(b.get("data-step-id")) for b in boxes(root) if find_all(b, "g", "kaizen-burst")
    ]
    assert with_burst == [steps[1].id, steps[4].id]
    (burst,) = find_all(boxes(root)[1], "g", "kaizen-burst")
    assert len(burst.find(f"{SVG}polygon").get("points").split()) == 24  # a 12-point star


def test_motion_waste_and_unused_talent_are_marked():
    stream = demo_stream()
    steps = list(stream.steps.order_by("position"))
    ProcessStep.objects.filter(id=steps[2].id).update(motion_waste=True)
    ProcessStep.objects.filter(id=steps[5].id).update(motion_waste=True, unused_talent=True)
    root = parse(stream_svg(stream))
    markers = {
        int(b.get("data-step-id")): [m.get("data-marker") for m in find_all(b, "g", "marker")]
        for b in boxes(root)
    }
    assert markers[steps[2].id] == ["MW"]
    assert markers[steps[5].id] == ["MW", "UT"]
    assert markers[steps[0].id] == []


def test_hand_off_points_of_the_lead_waterfall_are_marked_with_their_stage():
    from funnel.leads.models import Handoff, Side

    stream = demo_stream()
    steps = list(stream.steps.order_by("position"))
    ProcessStep.objects.filter(id=steps[2].id).update(motion_waste=True)
    Handoff.objects.create(
        stream=stream,
        position=1,
        step=steps[2],
        offered_stage="MQL",
        accepted_stage="SAL",
        giver=Side.MARKETING,
        receiver=Side.SDR,
        sla_minutes=240,
    )
    Handoff.objects.create(
        stream=stream,
        position=2,
        step=steps[3],
        offered_stage="Sales qualified",
        giver=Side.SDR,
        receiver=Side.SALES,
        sla_minutes=2400,
        pull=True,
    )
    root = parse(stream_svg(stream))
    by_step = {int(b.get("data-step-id")): b for b in boxes(root)}
    pills = {
        step.id: [m.get("data-marker") for m in find_all(by_step[step.id], "g", "marker")]
        for step in steps[:4]
    }
    assert pills == {
        steps[0].id: [],
        steps[1].id: [],
        steps[2].id: ["MW", "MQL"],
        steps[3].id: ["Sale"],
    }
    (mql,) = [
        m for m in find_all(by_step[steps[2].id], "g", "marker") if m.get("data-marker") == "MQL"
    ]
    assert text_of(mql.find(f"{SVG}title")) == (
        "Hand-off: leads arrive here as MQL, from Marketing to SDR. Accepted, they become SAL. "
        "SLA: accept or turn down within 4 working hours."
    )
    (pull,) = find_all(by_step[steps[3].id], "g", "marker")
    assert text_of(pull.find(f"{SVG}title")) == (
        "Hand-off: leads arrive here as Sales qualified, from SDR to Sales. "
        "SLA: accept or turn down within 5 working days. "
        "Sellers pull from here (the ready-for-sales queue)."
    )


# --------------------------------------------------------------------------------------
# escaping, edge cases, size
# --------------------------------------------------------------------------------------


def test_names_with_markup_are_escaped_everywhere():
    nasty = "<script>alert(1)</script>"
    stream = stream_create(
        team=TeamFactory(),
        name='Tom & Jerry\'s "best" <b>stream</b>',
        lanes=[LaneSpec('R&D <i>"lab"</i>', Decimal("10")), LaneSpec("O'Brien & Co")],
        steps=[
            StepSpec(nasty, 'R&D <i>"lab"</i>', planned_process_hours=1, planned_lead_hours=2),
            StepSpec(
                "Q&A </text><script>x</script>",
                "O'Brien & Co",
                planned_process_hours=1,
                planned_lead_hours=2,
                notes="<img src=x onerror=alert(1)>",
            ),
        ],
        stages=[StageSpec('<Stage> & "co"', [nasty])],
    )
    svg = stream_svg(stream)
    assert "<script" not in svg
    assert "<b>" not in svg and "<i>" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = parse(svg)  # still well-formed
    assert not find_all(root, "script")
    first, second = boxes(root)
    assert own_title(first).splitlines()[0] == f"1. {nasty}"
    assert "Notes: <img src=x onerror=alert(1)>" in own_title(second)
    assert text_of(find_all(root, "text", "map-title")[0]).startswith(
        'Tom & Jerry\'s "best" <b>stream</b>'
    )
    (band,) = find_all(root, "g", "stage-band")
    assert text_of(band.find(f"{SVG}text")) == '<Stage> & "co"'
    lane_names = [own_title(lane) for lane in find_all(root, "g", "lane")]
    assert lane_names[0].startswith('Lane: R&D <i>"lab"</i>')
    assert lane_names[1].startswith("Lane: O'Brien & Co")


def test_an_empty_map_renders_a_friendly_message():
    stream = stream_create(team=TeamFactory(), name="Blank", lanes=[LaneSpec("AE")], steps=[])
    root = parse(stream_svg(stream))
    assert boxes(root) == []
    assert "This map has no steps yet" in text_of(find_all(root, "g", "empty-map")[0])
    assert len(find_all(root, "g", "lane")) == 1
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0


def test_a_map_without_lanes_or_steps_renders_too():
    stream = stream_create(team=TeamFactory(), name="Nothing", lanes=[], steps=[])
    root = parse(stream_svg(stream))
    assert "This map has no steps yet" in text_of(root)


def test_a_200_step_map_renders_every_box_at_a_fixed_width():
    lanes = [LaneSpec(f"Lane {k}") for k in range(1, 6)]
    specs = [
        StepSpec(
            f"Step {i} with a fairly long name to wrap",
            f"Lane {i % 5 + 1}",
            value_class=("value_add", "necessary_nva", "waste")[i % 3],
            planned_process_hours=0.5,
            planned_lead_hours=24,
            planned_wip=i,
        )
        for i in range(1, 201)
    ]
    stream = stream_create(team=TeamFactory(), name="Long", lanes=lanes, steps=specs)
    root = parse(stream_svg(stream))
    assert [int(b.get("data-step-id")) for b in boxes(root)] == step_ids(stream)
    assert len(find_all(root, "g", "inventory")) == 200
    assert int(root.get("width")) > 200 * COL_W
    # the height does not grow with the number of steps: 5 lanes stay 5 bands
    assert int(root.get("height")) < 800
    # 200 × 0.5 h = 100 h of work; 200 × 24 h = 4800 h = 200 d
    planned = summary_values(root, "planned")
    assert float(planned["process_time_hours"]) == pytest.approx(100)
    assert float(planned["lead_time_hours"]) == pytest.approx(4800)


def test_reading_the_map_takes_a_fixed_number_of_queries(django_assert_num_queries):
    stream = demo_stream()
    # lanes, steps (with stages), latest stream snapshot (none yet), open kaizen cycles,
    # the lead waterfall's hand-off steps, the asset library's count per step, the latest
    # discovery view's conformance per step
    with django_assert_num_queries(7):
        data = vsm_map_data(stream)
    assert len(data.steps) == 8 and len(data.lanes) == 5 and len(data.stages) == 4
    assert data.measured is None and data.burst_step_ids == frozenset()
    # rendering runs no query at all
    with django_assert_num_queries(0):
        render_vsm_svg(data)
    # (the map page reads one more: the discovered moves it overlays, streams.hooks
    # .discovered_edges, through the same latest discovery view; the drawing's data does not)


def test_every_explanation_has_a_label_what_why_and_how():
    assert {
        "process_time",
        "lead_time",
        "pct_complete_accurate",
        "wip",
        "inventory_triangle",
        "value_add",
        "necessary_nva",
        "waste",
        "activity_ratio",
        "total_lead_time",
        "total_process_time",
        "rolled_pct_complete_accurate",
        "takt_time",
        "kaizen_burst",
        "funnel_stage",
        "planned_vs_measured",
    } <= set(explanations.ALL)
    for key, item in explanations.ALL.items():
        assert item.key == key
        assert item.label and item.what and item.why and item.how


def test_the_discovered_moves_are_an_extra_hidden_layer_with_their_counts():
    stream = demo_stream()
    data = vsm_map_data(stream)
    ids = [step.id for step in data.steps]
    assert "discovered-overlay" not in render_vsm_svg(data)
    assert "discovered-overlay" not in render_vsm_svg(data, [])
    moves = [(ids[0], ids[1], 12), (ids[3], ids[1], 3), (ids[2], ids[2], 1), (ids[0], 999999, 5)]
    svg = render_vsm_svg(data, moves)
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    [layer] = root.findall(".//s:g[@class='discovered-overlay']", ns)
    assert layer.get("display") == "none"
    edges = layer.findall("s:g[@class='discovered-edge']", ns)
    # a move to a step the map does not draw is left out
    got = {(int(e.get("data-source")), int(e.get("data-target"))): e for e in edges}
    assert set(got) == {(ids[0], ids[1]), (ids[3], ids[1]), (ids[2], ids[2])}
    assert [got[(ids[0], ids[1])].get("data-kind"), got[(ids[3], ids[1])].get("data-kind")] == [
        "ahead",
        "back",
    ]
    assert got[(ids[2], ids[2])].get("data-kind") == "self"
    assert got[(ids[0], ids[1])].find("s:text", ns).text == "12"
    assert "3 times" in got[(ids[3], ids[1])].find("s:title", ns).text
    assert "again once" in got[(ids[2], ids[2])].find("s:title", ns).text
    # the line width follows the count; every label lies inside the drawing
    widths = {k: float(e.find("s:path", ns).get("stroke-width")) for k, e in got.items()}
    assert widths[(ids[0], ids[1])] == 4 and widths[(ids[2], ids[2])] < widths[(ids[3], ids[1])]
    height = float(root.get("height"))
    for e in edges:
        assert 0 < float(e.find("s:text", ns).get("y")) < height
