"""Layer 2 of the drawing: :func:`vsm_layout` turns a :class:`VsmMap` into coordinates and
display strings: lane and stage bands, one fixed-width column per step with its data box, the
inventory triangles and flow arrows, the timeline ladder with its totals, and the legend."""

from __future__ import annotations

import math

from streams import explanations
from streams.drawing.data import VsmLane, VsmMap
from streams.drawing.formatting import (
    format_count,
    format_hours,
    format_money_per_hour,
    format_percent,
    format_ratio,
    format_work_hours,
    text_width,
    truncate,
    wrap,
)
from streams.drawing.geometry import (
    ARROW_Y,
    BEND_X,
    BOX_TITLE_H,
    BOX_TOP,
    BOX_W,
    BURST_CLEARANCE,
    COL_W,
    FONT,
    GAP_W,
    HEADER_H,
    LABEL_W,
    LADDER_H,
    LANE_H,
    MARGIN,
    MIN_WIDTH,
    ROW_H,
    STAGE_GAP,
    STAGE_H,
    SUMMARY_W,
    TOTALS_W,
    UNKNOWN_STYLE,
    VALUE_CLASS_STYLE,
    Arrow,
    DataRow,
    EmptyNote,
    Inventory,
    LaneBand,
    Layout,
    LegendItem,
    Marker,
    ProcessBox,
    StageBand,
    Text,
    _n,
    _points,
    burst_points,
    triangle_points,
)
from streams.drawing.summary import _summary
from streams.metrics import StepFigures
from streams.models import StreamState


def _lane_band_color(index: int) -> str:
    return "#f8f9fa" if index % 2 == 0 else "#ffffff"


def _step_rows(
    planned: StepFigures, measured: StepFigures | None, *, working: bool = False
) -> list[DataRow]:
    """The data box rows; ``y`` is relative to the box top. A measured lead time in working
    time stays in (working) hours, never in 24-hour days."""
    specs = [
        ("process_hours", "PT", "process_time", format_work_hours),
        ("lead_hours", "LT", "lead_time", format_hours),
        ("pct_complete_accurate", "%C&A", "pct_complete_accurate", format_percent),
        ("wip", "WIP", "wip", format_count),
    ]
    rows = []
    first = BOX_TITLE_H + 12 + ROW_H
    for i, (key, label, explanation_key, fmt) in enumerate(specs):
        text = explanations.ALL[explanation_key]
        rows.append(
            DataRow(
                key=key,
                y=first + i * ROW_H,
                label=label,
                planned=fmt(getattr(planned, key)),
                measured=None
                if measured is None
                else (format_work_hours if working and fmt is format_hours else fmt)(
                    getattr(measured, key)
                ),
                tooltip=f"{text.label}: {text.what}",
            )
        )
    return rows


def _legend(data: VsmMap) -> list[LegendItem]:
    items: list[LegendItem] = []
    x = float(MARGIN)
    size = 11

    def add(kind: str, label: str, tooltip: str, width_before: float, **kw: object) -> None:
        nonlocal x
        items.append(
            LegendItem(x=x, kind=kind, label=label, tooltip=tooltip, label_dx=width_before, **kw)
        )
        x += width_before + text_width(label, size) + 18

    for value_class, explanation_key in explanations.VALUE_CLASSES.items():
        style = VALUE_CLASS_STYLE[value_class]
        add(
            "value_class",
            style["label"],
            explanations.ALL[explanation_key].tooltip,
            style["tag_w"] + 5,
            style=style,
        )
    add("triangle", "Queue (planned WIP)", explanations.ALL["inventory_triangle"].tooltip, 24)
    add("arrow", "Push to next step", "The deal moves on to the next step.", 30)
    add("burst", "Kaizen under way", explanations.ALL["kaizen_burst"].tooltip, 24)
    add("marker", "Motion waste", explanations.ALL["motion_waste"].tooltip, 26, symbol="MW")
    add("marker", "Unused talent", explanations.ALL["unused_talent"].tooltip, 26, symbol="UT")
    if data.measured is None:
        add(
            "note",
            "Measured figures: not measured yet",
            explanations.ALL["planned_vs_measured"].tooltip,
            0,
        )
    return items


def vsm_layout(data: VsmMap, *, headroom: float = 0) -> Layout:
    """Coordinates and display strings of every element of the drawing; ``headroom``: room
    left empty between the legend line and the stages or lanes (the map page's overlay of the
    discovered moves arcs through it: ``streams.drawing.overlay``)."""
    uid = f"vsm-{data.stream_id if data.stream_id is not None else 'map'}"
    lanes = list(data.lanes)
    known_lane_ids = {lane.id for lane in lanes}
    for step in data.steps:  # defensive: a step whose lane was not loaded still gets a band
        if step.lane_id not in known_lane_ids:
            lanes.append(VsmLane(id=step.lane_id, name="(unknown lane)", position=10**6))
            known_lane_ids.add(step.lane_id)
    lane_index = {lane.id: i for i, lane in enumerate(lanes)}
    steps = data.steps
    stage_by_id = {stage.id: stage for stage in data.stages}

    has_stages = any(step.stage_id in stage_by_id for step in steps)
    stage_y = HEADER_H + headroom
    lanes_top = stage_y + (STAGE_H + STAGE_GAP if has_stages else 0)
    n_cols = len(steps)
    cols_left = MARGIN + LABEL_W
    steps_right = cols_left + n_cols * COL_W
    lane_right = steps_right + (TOTALS_W if steps else 0)
    lanes_bottom = lanes_top + LANE_H * max(len(lanes), 1 if not steps else 0)

    lane_bands = []
    for i, lane in enumerate(lanes):
        y = lanes_top + i * LANE_H
        name_lines = wrap(lane.name, LABEL_W - 20, 12.5, bold=True, lines=3)
        cost = format_money_per_hour(lane.hourly_cost, data.currency)
        block_h = len(name_lines) * 15 + (15 if cost else 0)
        first = y + (LANE_H - block_h) / 2 + 11
        lane_bands.append(
            LaneBand(
                y=y,
                height=LANE_H,
                fill=_lane_band_color(i),
                name_lines=[Text(MARGIN + 10, first + k * 15, t) for k, t in enumerate(name_lines)],
                cost=Text(MARGIN + 10, first + len(name_lines) * 15, cost) if cost else None,
                tooltip=f"Lane: {lane.name}"
                + (f" — one hour of its work costs {cost.replace(' / h', '')}" if cost else ""),
            )
        )

    # Stage bands: one per run of consecutive steps in the same stage.
    stage_bands = []
    run_start = 0
    for i in range(1, n_cols + 1):
        if i < n_cols and steps[i].stage_id == steps[run_start].stage_id:
            continue
        stage = stage_by_id.get(steps[run_start].stage_id)
        if stage is not None:
            x = cols_left + run_start * COL_W + GAP_W / 2
            width = (i - run_start) * COL_W - 4
            stage_bands.append(
                StageBand(
                    x=x,
                    width=width,
                    label=Text(
                        x + width / 2,
                        stage_y + 15,
                        truncate(stage.name, width - 12, 11.5, bold=True),
                    ),
                    full_name=stage.name,
                    tooltip=f"Funnel stage: {stage.name}. " + explanations.ALL["funnel_stage"].what,
                )
            )
        run_start = i

    measured_steps = data.measured.steps if data.measured is not None else {}
    boxes, inventories, arrows = [], [], []
    for i, step in enumerate(steps):
        col_x = cols_left + i * COL_W
        box_x = col_x + GAP_W
        lane_y = lanes_top + lane_index[step.lane_id] * LANE_H
        box_y = lane_y + BOX_TOP
        style = VALUE_CLASS_STYLE.get(step.value_class, UNKNOWN_STYLE)
        measured = measured_steps.get(step.id)
        has_burst = step.id in data.burst_step_ids
        # the burst covers the top-right corner: keep the title clear of it
        title_room = BOX_W - 14 - (BURST_CLEARANCE if has_burst else 0)
        title_mid = (BOX_W - (BURST_CLEARANCE if has_burst else 0)) / 2
        title_lines = wrap(step.name, title_room, 12, bold=True, lines=2)
        title_top = (BOX_TITLE_H - len(title_lines) * 14) / 2 + 11
        lane_name = lanes[lane_index[step.lane_id]].name
        tooltip_parts = [
            f"{step.position}. {step.name}",
            f"Lane: {lane_name}. {style['label']}.",
        ]
        if step.stage_id in stage_by_id:
            tooltip_parts.append(f"Funnel stage: {stage_by_id[step.stage_id].name}.")
        if step.notes:
            tooltip_parts.append(f"Notes: {step.notes}")
        if step.id in data.burst_step_ids:
            tooltip_parts.append("A kaizen cycle is open on this step.")
        markers = []
        marker_x = 6.0
        for flag, symbol, key in (
            (step.motion_waste, "MW", "motion_waste"),
            (step.unused_talent, "UT", "unused_talent"),
        ):
            if flag:
                markers.append(Marker(marker_x, symbol, explanations.ALL[key].tooltip))
                tooltip_parts.append(f"{explanations.ALL[key].label} recorded.")
                marker_x += 28
        for symbol, tooltip in data.step_markers.get(step.id, ()):
            markers.append(Marker(marker_x, symbol, tooltip))
            tooltip_parts.append(tooltip)
            marker_x += 28
        if measured is None:
            measured_header = None
            measured_tooltip = (
                "Not measured yet: no completed visits of this step in the latest metrics window."
            )
        elif measured.low_sample:
            measured_header = f"(n={measured.n})" if measured.n is not None else "(few)"
            measured_tooltip = (
                f"Measured from only {measured.n} completed visits (fewer than 5): read with care."
            )
        else:
            measured_header = "measured"
            measured_tooltip = (
                f"Measured from {measured.n} completed visits."
                if measured.n is not None
                else "Measured."
            )
        boxes.append(
            ProcessBox(
                step_id=step.id,
                x=box_x,
                y=box_y,
                full_name=step.name,
                tooltip="\n".join(tooltip_parts),
                title_lines=[
                    Text(title_mid, title_top + k * 14, t) for k, t in enumerate(title_lines)
                ],
                style=style,
                value_class_label=style["label"],
                rows=_step_rows(
                    step.planned,
                    measured,
                    working=data.measured is not None and data.measured.working,
                ),
                measured_header=measured_header,
                measured_tooltip=measured_tooltip,
                low_sample=bool(measured and measured.low_sample),
                markers=markers,
                burst_points=burst_points(BOX_W - 2, 1) if has_burst else None,
                burst_tooltip=f"Kaizen burst on {step.name}: "
                + explanations.ALL["kaizen_burst"].what,
            )
        )
        # The queue in front of the step, in its lane, right of where the arrow bends.
        tri_cx = col_x + BEND_X + (GAP_W - BEND_X) / 2 + 1
        tri_top = box_y + BOX_TITLE_H + 6
        wip = step.planned.wip
        inventories.append(
            Inventory(
                x=tri_cx,
                y=tri_top,
                points=triangle_points(tri_cx, tri_top),
                count=format_count(wip),
                tooltip=f"Queue in front of {step.name}: {format_count(wip)} deals planned (WIP).",
            )
        )
        if i > 0:
            prev = boxes[i - 1]
            start_x, start_y = prev.x + BOX_W, prev.y + ARROW_Y
            end_x, end_y = box_x - 1, box_y + ARROW_Y
            if start_y == end_y:
                path = f"M{_n(start_x)},{_n(start_y)} H{_n(end_x - 7)}"
            else:
                bend = col_x + BEND_X
                path = f"M{_n(start_x)},{_n(start_y)} H{_n(bend)} V{_n(end_y)} H{_n(end_x - 7)}"
            head = _points([(end_x, end_y), (end_x - 8, end_y - 4.5), (end_x - 8, end_y + 4.5)])
            arrows.append(Arrow(path=path, head=head))

    # Timeline ladder: lead time up (over the queue), process time down (under the box).
    ladder_top = lanes_bottom + 8
    upper, lower = ladder_top + 18, ladder_top + 36
    ladder_path = ""
    ladder_labels, ladder_pt_labels, ladder_totals, ladder_captions = [], [], [], []
    if steps:
        parts = [f"M{_n(cols_left)},{_n(upper)}"]
        for i, step in enumerate(steps):
            col_x = cols_left + i * COL_W
            box_x = col_x + GAP_W
            parts.append(f"H{_n(box_x)} V{_n(lower)} H{_n(box_x + BOX_W)}")
            if i < n_cols - 1:
                parts.append(f"V{_n(upper)}")
            ladder_labels.append(
                Text(col_x + GAP_W / 2, upper - 5, format_hours(step.planned.lead_hours))
            )
            ladder_pt_labels.append(
                Text(box_x + BOX_W / 2, lower + 13, format_work_hours(step.planned.process_hours))
            )
        ladder_path = " ".join(parts)
        ladder_captions = [
            Text(MARGIN + 10, upper + 4, "Lead time"),
            Text(MARGIN + 10, lower + 4, "Process time"),
        ]
        ladder_totals = [
            Text(
                steps_right + 10,
                upper + 4,
                f"= {format_hours(data.planned_summary.lead_time_hours)}",
            ),
            Text(
                steps_right + 10,
                lower + 4,
                f"= {format_work_hours(data.planned_summary.process_time_hours)}",
            ),
        ]
    bottom = ladder_top + LADDER_H if steps else lanes_bottom + 12

    summary = None
    width = lane_right + MARGIN
    if steps:
        summary_x = lane_right + 12
        summary = _summary(data, summary_x, bottom - 4)
        width = summary_x + SUMMARY_W + MARGIN
        # a short map: the summary box may be taller than lanes + ladder
        if summary.y < lanes_top:
            shift = lanes_top - summary.y
            summary = _summary(data, summary_x, bottom - 4 + shift)
            bottom += shift

    empty_message = None
    if not steps:
        lane_right = max(lane_right, cols_left + 460)
        left = cols_left + 24 if lanes else MARGIN
        note_w, note_h = lane_right - 24 - left, 44
        note_y = lanes_top + (lanes_bottom - lanes_top - note_h) / 2
        empty_message = EmptyNote(
            x=left,
            y=note_y,
            width=note_w,
            height=note_h,
            text=Text(left + note_w / 2, note_y + 27, "This map has no steps yet"),
        )
        width = lane_right + MARGIN

    legend_y = 41
    legend = _legend(data)
    legend_right = legend[-1].x + text_width(legend[-1].label, 11) + MARGIN if legend else 0
    width = max(width, MIN_WIDTH, legend_right)
    height = bottom + MARGIN - 4

    planned = data.planned_summary
    if steps:
        description = (
            f"{data.state_label} value stream map of {data.name}: {len(steps)} steps in "
            f"{len(lanes)} lanes. Planned total lead time {format_hours(planned.lead_time_hours)}, "
            f"process time {format_work_hours(planned.process_time_hours)}, activity ratio "
            f"{format_ratio(planned.activity_ratio)}."
        )
    else:
        description = f"{data.state_label} value stream map of {data.name}: no steps yet."

    return Layout(
        uid=uid,
        width=math.ceil(width),
        height=math.ceil(height),
        font=FONT,
        title=data.name,
        state_label=data.state_label,
        is_future=data.state == StreamState.FUTURE,
        description=description,
        legend_y=legend_y,
        legend=legend,
        empty_message=empty_message,
        lanes=lane_bands,
        lane_right=lane_right,
        lane_width=lane_right - MARGIN,
        stages=stage_bands,
        stage_y=stage_y,
        boxes=boxes,
        inventories=inventories,
        arrows=arrows,
        ladder_path=ladder_path,
        ladder_top=ladder_top,
        ladder_labels=ladder_labels,
        ladder_pt_labels=ladder_pt_labels,
        ladder_captions=ladder_captions,
        ladder_totals=ladder_totals,
        summary=summary,
    )
