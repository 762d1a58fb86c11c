"""The summary box at the right of the ladder: the planned figures against the measured ones
(metrics.md §3), each with its tooltip, and the measurement window in the footnote."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from streams import explanations
from streams.drawing.data import VsmMap
from streams.drawing.formatting import format_hours, format_percent, format_ratio, format_work_hours
from streams.drawing.geometry import SUMMARY_ROW_H, SUMMARY_W, SummaryBox, SummaryRow, Text


def _raw(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}"


def _summary(data: VsmMap, x: float, bottom: float) -> SummaryBox:
    planned = data.planned_summary
    measured = data.measured.summary if data.measured is not None else None
    working = data.measured is not None and data.measured.working
    figures = [
        # In working time the measured lead time stays in working hours (see _step_rows).
        ("lead_time_hours", "Total lead time", format_hours),
        ("process_time_hours", "Total process time", format_work_hours),
        ("activity_ratio", "Activity ratio", format_ratio),
        ("rolled_pct_complete_accurate", "Rolled %C&A", format_percent),
        ("takt_hours", "Takt time", format_work_hours),
    ]
    height = 34 + 20 + len(figures) * SUMMARY_ROW_H + 12
    top = bottom - height
    first = top + 54
    rows = []
    for i, (figure, label, fmt) in enumerate(figures):
        p_value = getattr(planned, figure)
        m_value = getattr(measured, figure) if measured is not None else None
        not_set = figure == "takt_hours"
        rows.append(
            SummaryRow(
                figure=figure,
                y=first + i * SUMMARY_ROW_H,
                label=label,
                tooltip=explanations.ALL[explanations.SUMMARY_FIGURES[figure]].tooltip,
                planned="not set" if (not_set and p_value is None) else fmt(p_value),
                planned_value=_raw(p_value),
                measured=None
                if measured is None
                else (
                    "not set"
                    if (not_set and m_value is None)
                    else (format_work_hours if working and fmt is format_hours else fmt)(m_value)
                ),
                measured_value=_raw(m_value),
            )
        )
    if data.measured is not None:
        # Days in the viewer's time zone, as the page around the drawing shows them.
        m = data.measured
        start, end = _day(m.window_start), _day(m.window_end)
        if measured is None:
            footnote = f"No completed visits {start} – {end} yet"
        else:
            footnote = f"Measured {start} – {end}, as of {_day(m.computed_at)}"
    else:
        footnote = "Measured figures appear once the metrics have run."
    rows_top = first - 14
    planned_x = x + 180
    return SummaryBox(
        x=x,
        y=top,
        width=SUMMARY_W,
        height=height,
        title=Text(x + 12, top + 22, "Summary"),
        steps_note=Text(
            x + SUMMARY_W - 12, top + 22, f"{planned.steps} step{'s' if planned.steps != 1 else ''}"
        ),
        header_y=top + 40,
        label_x=x + 12,
        planned_x=planned_x,
        measured_x=x + SUMMARY_W - 12,
        measured_mid=planned_x + (SUMMARY_W - 12 - 180) / 2 + 4,
        not_measured_y=rows_top + len(figures) * SUMMARY_ROW_H / 2 + 4,
        rows=rows,
        measured=measured is not None,
        footnote=Text(x + 12, top + height - 9, footnote),
        header_tooltip=explanations.ALL["planned_vs_measured"].tooltip,
        not_measured="no data yet" if data.measured is not None else "not measured yet",
    )
