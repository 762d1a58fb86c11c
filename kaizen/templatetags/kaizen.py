"""Template filters for kaizen figures: a metric's value in its unit, the Check's effect and
p-value, in the same words as the map (``streams.drawing`` formats)."""

from __future__ import annotations

import math

from django import template

from kaizen.metrics import spec
from kaizen.models import Direction
from kaizen.stats import MIN_ITEMS
from streams.drawing import format_hours, format_percent, format_ratio
from streams.templatetags.vsm import accessible

register = template.Library()


def _unknown(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@register.filter
def metric_value(value: float | None, metric: str) -> str:
    """``7 d`` (time in step), ``42.5 d`` (sales cycle), ``85.0 %`` (shares); ``—`` unknown."""
    if _unknown(value):
        return "—"
    unit = spec(metric).unit
    if unit == "hours":
        return format_hours(value)
    if unit == "days":
        return f"{value:.1f} d"
    return format_ratio(value)


@register.filter
def effect(value: float | None, metric: str) -> str:
    """Durations: the relative change of the medians (``−50 %``); shares: the difference in
    percentage points (``+12.0 points``)."""
    if _unknown(value):
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    if spec(metric).is_proportion:
        return f"{sign}{abs(value) * 100:.1f}\u00a0points"
    return f"{sign}{abs(value) * 100:.0f}\u00a0%"


def change_words(before: float | None, after: float | None, *, metric: str, aim: str) -> str:
    """Which way a figure moved and whether that is better, in words, so a shorter lead time
    never reads like a worsening: ``50 % shorter: better (lower is the aim)``. Durations say
    shorter/longer with the relative change; shares say higher/lower in points. ``""`` when
    either value is unknown."""
    if _unknown(before) or _unknown(after):
        return ""
    m = spec(metric)
    if after == before:
        return "no change"
    went_down = after < before
    if m.is_proportion:
        size = f"{abs(after - before) * 100:.1f}\u00a0points {'lower' if went_down else 'higher'}"
    else:
        relative = f"{abs(after - before) / before * 100:.0f}\u00a0% " if before else ""
        size = f"{relative}{'shorter' if went_down else 'longer'}"
    better = went_down == (aim == Direction.DECREASE)
    aim_words = "lower is the aim" if aim == Direction.DECREASE else "higher is the aim"
    return f"{size}: {'better' if better else 'worse'} ({aim_words})"


@register.simple_tag
def check_change(check, cycle) -> str:
    """The Check's before → after with the direction and the better/worse word spelled out:
    ``8.8 d → 4.4 d, 50 % shorter: better (lower is the aim)``."""
    words = change_words(
        check.value_before, check.value_after, metric=cycle.metric, aim=cycle.direction
    )
    went = (
        f"{metric_value(check.value_before, cycle.metric)} → "
        f"{metric_value(check.value_after, cycle.metric)}"
    )
    return f"{went}, {words}" if words else went


def _map_value(value: float | None, unit: str) -> str:
    if _unknown(value):
        return "none"
    return format_hours(value) if unit == "hours" else format_percent(value)


def _plan_moved(before: float | None, after: float | None, hours: bool) -> str:
    if _unknown(before) or _unknown(after) or before == after:
        return ""
    if hours:
        return "a longer plan" if after > before else "a shorter plan"
    return "a higher plan" if after > before else "a lower plan"


@register.simple_tag
def standard_change(standard: dict) -> str:
    """What adopting wrote on the future-state map, against what the current-state map plans
    (as the map and the compare page show it), with the direction in words: ``planned lead
    time of Discovery: 7 d on the current-state map → 4.4 d on the future-state map (the new
    standard), a shorter plan than today's``. When the future state held another target
    before (a 3 d plan never reached), the sentence says that it replaces it. Standards
    recorded before the current-state value was kept are worded against the future state's
    previous plan."""
    hours = standard.get("unit") == "hours"
    unit = standard.get("unit")
    what = "planned lead time" if hours else "planned %C&A"
    step = standard.get("step_name")
    before, after = standard.get("before"), standard.get("after")
    if "current" not in standard:
        text = (
            f"{what} of {step}: {_map_value(before, unit)} (the future state's previous plan) "
            f"→ {_map_value(after, unit)} (the new standard)"
        )
        moved = _plan_moved(before, after, hours)
        return f"{text}, {moved} than before" if moved else text
    current = standard["current"]
    text = (
        f"{what} of {step}: {_map_value(current, unit)} on the current-state map → "
        f"{_map_value(after, unit)} on the future-state map (the new standard)"
    )
    moved = _plan_moved(current, after, hours)
    if moved:
        text = f"{text}, {moved} than today's"
    if not _unknown(before) and before not in (current, after):
        text = f"{text}; it replaces the future state's earlier plan of {_map_value(before, unit)}"
    return text


@register.filter
def p_value(value: float | None) -> str:
    if _unknown(value):
        return "not tested"
    if value < 0.001:
        return "p < 0.001"
    return f"p = {value:.3f}"


@register.filter
def items(metric: str) -> str:
    """What one item of the metric's sample is, plural: ``completed visits``."""
    return spec(metric).items


VERDICT_WORDS = {
    "improved": "Improved",
    "worse": "Worse",
    "inconclusive": "Inconclusive",
    "insufficient_data": "Not enough data yet",
}


@register.simple_tag
def check_sentence(check, cycle) -> str:
    """The Check in one plain sentence, as the cycle page leads with it."""
    metric = cycle.metric
    m = spec(metric)
    items_ = m.items
    if check.verdict == "insufficient_data":
        parts = []
        if check.needed_before:
            parts.append(f"{check.needed_before} more before the change")
        if check.needed_after:
            parts.append(f"{check.needed_after} more after it")
        again = " It is computed again as new deals arrive." if cycle.is_open else ""
        return (
            f"The Check needs at least {MIN_ITEMS} {items_} on each side of the change; it has "
            f"{check.n_before} before and {check.n_after} after. Needed: {' and '.join(parts)}."
            + again
        )
    what = m.label if m.is_proportion else f"the median {m.label.lower()}"
    words = change_words(check.value_before, check.value_after, metric=metric, aim=cycle.direction)
    went = (
        f"{what} went from {metric_value(check.value_before, metric)} to "
        f"{metric_value(check.value_after, metric)}"
        + (f", {words}" if words else f" ({effect(check.effect, metric)})")
    )
    evidence = (
        f"{p_value(check.p_value)}, with {check.n_before} {items_} before the change and "
        f"{check.n_after} after"
    )
    if check.verdict == "inconclusive":
        return (
            f"{went[0].upper()}{went[1:]}; {evidence}. That is within what chance alone "
            "produces (p ≥ 0.05), so no change can be claimed."
        )
    return f"{went[0].upper()}{went[1:]}; {evidence}."


@register.filter
def verdict_label(verdict: str) -> str:
    return VERDICT_WORDS.get(verdict, verdict)


@register.filter
def outcome_label(outcome: str) -> str:
    """The short name of an Act decision: Adopted, Adapted, Abandoned."""
    return outcome.capitalize() if outcome else ""


# One rule for tying a field to its help and errors, shared with the other apps' forms.
register.filter("accessible", accessible)
