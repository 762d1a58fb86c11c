"""The metrics a kaizen cycle can target, and how each is read: its unit, the items it is
measured over, the direction that counts as better, the planned figure of the map it becomes
when adopted, and where the metrics engine's result holds it (for the baseline).

Pure: no database. Values are in the metric's unit everywhere (hours, days, or a fraction
0–1 for proportions), as in the metrics engine's results.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnel.metrics.results import MetricsResult
from kaizen.models import Direction, Metric

DURATION = "duration"
PROPORTION = "proportion"


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    #: ``duration``: Mann–Whitney U on raw durations; ``proportion``: Fisher's exact test.
    kind: str
    #: ``hours``, ``days`` or ``fraction``.
    unit: str
    #: ``step``: needs a step; ``stream``: a figure of the whole stream.
    scope: str
    better: str
    #: What one item of the sample is, plural ("completed visits").
    items: str
    #: For proportions: what counts as a success, and the window rule of the items.
    success: str
    #: How the Check reads the metric, in plain words (shown on the cycle page).
    explanation: str
    #: The future-state map's planned field adopting it sets, with that field's unit.
    map_field: str | None = None
    map_unit: str | None = None

    @property
    def is_proportion(self) -> bool:
        return self.kind == PROPORTION

    def to_map_value(self, value: float | None) -> float | None:
        """A value of the metric in the map field's unit (%C&A is 0–100 on the map)."""
        if value is None:
            return None
        return value * 100.0 if self.map_unit == "percent" else value


def _duration(key: str, label: str, *, unit: str, **fields: str) -> MetricSpec:
    """A duration metric (hours or days): compared with Mann–Whitney U; shorter is better,
    and there is no success to count."""
    return MetricSpec(key, label, DURATION, unit, better=Direction.DECREASE, success="", **fields)


def _proportion(key: str, label: str, **fields: str) -> MetricSpec:
    """A proportion metric (a fraction 0–1): compared with Fisher's exact test; higher is
    better."""
    return MetricSpec(key, label, PROPORTION, "fraction", better=Direction.INCREASE, **fields)


METRICS: dict[str, MetricSpec] = {
    metric.key: metric
    for metric in (
        _duration(
            Metric.TIME_IN_STEP,
            "Time in step",
            unit="hours",
            scope="step",
            items="completed visits",
            explanation="Time in step (exit − entry) of the step's visits completed in each "
            "window; the effect is the relative change of the median.",
            map_field="planned_lead_hours",
            map_unit="hours",
        ),
        _proportion(
            Metric.PCT_COMPLETE_ACCURATE,
            "%C&A",
            scope="step",
            items="visits entering the step",
            success="not a re-entry (no rework)",
            explanation="Share of the visits entering the step in each window that are not a "
            "re-entry (rework); the effect is the difference of the shares.",
            map_field="planned_pct_complete_accurate",
            map_unit="percent",
        ),
        _proportion(
            Metric.CONVERSION,
            "Step conversion",
            scope="step",
            items="completed visits",
            success="the deal was not lost at the step",
            explanation="Share of the step's visits completed in each window whose deal was "
            "not lost there (1 − loss rate); the effect is the difference of the shares.",
        ),
        _duration(
            Metric.SALES_CYCLE,
            "Sales cycle",
            unit="days",
            scope="stream",
            items="won deals",
            explanation="Days from a deal's first entry to its win, for deals won in each "
            "window; the effect is the relative change of the median.",
        ),
        _proportion(
            Metric.WIN_RATE,
            "Win rate",
            scope="stream",
            items="closed deals",
            success="won",
            explanation="Won ÷ (won + lost) over the deals closed in each window (with a "
            "ready-for-sales hand-off on the map, the deals that got past it); the effect is "
            "the difference of the rates.",
        ),
    )
}


def spec(metric: str) -> MetricSpec:
    return METRICS[metric]


def value_from_result(
    result: MetricsResult, *, metric: str, step_id: int | None
) -> tuple[float | None, int]:
    """The metric and its sample size in a metrics engine result (the baseline of a plan):
    ``(None, 0)`` when the step has no figures there."""
    summary = result.summary
    if metric == Metric.SALES_CYCLE:
        return summary.sales_cycle_days, summary.won
    if metric == Metric.WIN_RATE:
        return summary.deals_win_rate, summary.deals_closed
    step = next((s for s in result.steps if s.step_id == step_id), None)
    if step is None:
        return None, 0
    if metric == Metric.TIME_IN_STEP:
        return step.median_hours, step.n_completed
    if metric == Metric.PCT_COMPLETE_ACCURATE:
        return step.pct_complete_accurate, step.n_entered
    if metric == Metric.CONVERSION:
        return (None if step.loss_rate is None else 1.0 - step.loss_rate), step.n_completed
    raise ValueError(f"unknown metric {metric!r}")
