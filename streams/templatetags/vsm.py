"""Template filters for the figures of the map: the same formatting as the SVG drawing
(``streams.drawing``), so a figure reads the same on the page and on the map."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django import template
from django.utils.html import format_html

from streams.drawing import format_hours, format_percent, format_ratio, format_work_hours
from streams.times import when_text

register = template.Library()

#: Elapsed time (lead time): ``45 min``, ``5.5 h``, ``7 d``.
register.filter("hours", format_hours)
#: Work time (process time, takt): never in days, ``30 h``.
register.filter("work_hours", format_work_hours)
#: A ratio (0–1) as a percentage: ``3.2 %``.
register.filter("percent", format_ratio)
#: A value already in percent (0–100): ``48.6 %``.
register.filter("pct", format_percent)


@register.filter
def person(user, missing: str = "—") -> str:
    """A person as the product names them everywhere: full name, else username; ``missing``
    when there is nobody (a deleted account: ``SET_NULL``). The template idiom
    ``user.get_full_name|default:user.username`` fails (a 500) when the user is None, since a
    filter's argument is not resolved silently."""
    if user is None:
        return missing
    return user.get_full_name() or user.get_username()


@register.filter
def moment(value: datetime | None) -> str:
    """A moment as the product shows it everywhere: ``<time datetime="…">2026-12-06 06:02
    CET</time>``, in the viewer's time zone and labelled with it (``UTC`` until they choose
    one), never a bare ``06:02`` that could be read in any zone."""
    if not isinstance(value, datetime):
        return ""
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), when_text(value))


@register.filter
def get(mapping: dict, key: object) -> object:
    return mapping.get(key) if mapping else None


def _delta(value: float | None, other: float | None, fmt: Callable[[float], str]) -> str:
    """The change from ``other`` to ``value``, signed and in ``fmt``'s unit."""
    if value is None or other is None:
        return ""
    diff = value - other
    if abs(diff) < 1e-9:
        return "no change"
    return ("+" if diff > 0 else "−") + fmt(abs(diff))


@register.filter
def delta_hours(value: float | None, other: float | None) -> str:
    """The change from ``other`` to ``value`` in elapsed time, e.g. ``−4 d``."""
    return _delta(value, other, format_hours)


@register.filter
def delta_work_hours(value: float | None, other: float | None) -> str:
    """The change from ``other`` to ``value`` in work time, e.g. ``+2 h``."""
    return _delta(value, other, format_work_hours)


@register.filter
def label(key: str) -> str:
    """``deals_created`` → ``Deals created``."""
    return str(key).replace("_", " ").capitalize()


@register.filter
def accessible(field) -> str:
    """The field's widget tied to its help and its errors (``aria-describedby``) and marked
    ``aria-invalid`` when refused, so a screen reader reads the reason with the field."""
    attrs: dict[str, str] = {}
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_help")
    if field.errors:
        described.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)
