"""How figures and names read on the map: durations, percentages, ratios and counts, and the
text measurement that sizes, truncates and wraps names to fit their boxes. The templatetags
and the dashboards use the same functions, so a figure reads the same everywhere."""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal


def _trim(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_hours(hours: float | None, *, elapsed: bool = True) -> str:
    """A duration in the unit people read best: ``45 min`` below an hour, ``2.5 h`` below a
    day; from a day on, elapsed time (lead time) in calendar days of 24 h (``7 d``), while
    work time (process time, takt) stays in hours (``30 h``), since 30 working hours are not
    1.3 days. ``—`` when unknown."""
    if hours is None or math.isnan(hours):
        return "—"
    if hours <= 0:
        return "0 h"
    minutes = round(hours * 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24 or not elapsed:
        return f"{_trim(hours, 1 if hours < 100 else 0)} h"
    days = hours / 24
    return f"{_trim(days, 1 if days < 10 else 0)} d"


def format_work_hours(hours: float | None) -> str:
    """Work time (process time, takt time): never in days."""
    return format_hours(hours, elapsed=False)


def format_percent(percent: float | None) -> str:
    """A value already in percent (0–100), with one decimal when it has one: ``72 %``."""
    if percent is None or math.isnan(percent):
        return "—"
    return f"{_trim(percent, 1)} %"


def format_ratio(ratio: float | None) -> str:
    """A ratio (0–1) as a percentage: ``0.04514`` → ``4.5 %``."""
    return format_percent(None if ratio is None else 100 * ratio)


def format_count(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{round(value):,}"


def format_money_per_hour(amount: Decimal | None, currency: str) -> str | None:
    if amount is None:
        return None
    symbols = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
    number = _trim(float(amount), 2)
    if currency in symbols:
        return f"{symbols[currency]}{number} / h"
    return f"{number} {currency} / h"


# Glyph advance widths in em of DejaVu Sans, the font ``system-ui`` falls back to on Linux
# (measured in headless Chromium). It is one of the widest sans-serif fonts, so text sized by
# it also fits in Segoe UI, San Francisco or Roboto. Bold is about 11 % wider.
_GLYPH_GROUPS = (
    (0.28, "ijl'"),
    (0.29, "IJ"),
    (0.32, " ,.·"),
    (0.34, "/:;\\|"),
    (0.35, "f"),
    (0.36, "-"),
    (0.39, "t()[]"),
    (0.40, "!"),
    (0.41, "r"),
    (0.46, '"'),
    (0.50, "*_`"),
    (0.52, "s"),
    (0.53, "z?"),
    (0.55, "c"),
    (0.56, "L"),
    (0.58, "kF"),
    (0.59, "vxy"),
    (0.60, "P"),
    (0.61, "aoTY"),
    (0.62, "e"),
    (0.63, "bdghnpquES"),
    (0.64, "0123456789${}"),
    (0.66, "K"),
    (0.68, "AV"),
    (0.69, "BRXZ"),
    (0.70, "C"),
    (0.73, "U"),
    (0.75, "HN"),
    (0.77, "D"),
    (0.78, "G&"),
    (0.79, "OQ"),
    (0.82, "w"),
    (0.84, "#+<=>^~÷×"),
    (0.86, "M"),
    (0.95, "%"),
    (0.97, "m"),
    (0.99, "W"),
    (1.00, "@…—"),
)
_GLYPH_EM = {ch: em for em, chars in _GLYPH_GROUPS for ch in chars}
_BOLD = 1.11


def _glyph_em(ch: str) -> float:
    em = _GLYPH_EM.get(ch)
    if em is not None:
        return em
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    return 0.7 if ch.isalpha() else 0.84


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated rendered width of ``text`` in px at font ``size``."""
    return sum(_glyph_em(ch) for ch in text) * size * (_BOLD if bold else 1.0)


def truncate(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """``text`` cut to fit ``width`` px, ending with an ellipsis when cut."""
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(text: str, width: float, size: float, *, bold: bool = False, lines: int = 2) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` px, words kept whole where they fit;
    the last line ends with an ellipsis when the text does not fit."""
    words = text.split()
    out: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold=bold) <= width:
            current = candidate
            continue
        if current:
            out.append(current)
            current = word
        else:  # a single word longer than a line: break it
            current = word
        while text_width(current, size, bold=bold) > width and len(out) < lines - 1:
            cut = len(current)
            while cut > 1 and text_width(current[:cut], size, bold=bold) > width:
                cut -= 1
            out.append(current[:cut])
            current = current[cut:]
        if len(out) >= lines - 1 and i < len(words) - 1:
            rest = " ".join([current, *words[i + 1 :]])
            out.append(truncate(rest, width, size, bold=bold))
            return out
    if current:
        out.append(truncate(current, width, size, bold=bold) if len(out) == lines - 1 else current)
    return out[:lines] or [""]
