"""A piece of text a service requires: a checklist item, a 5S question, a kaizen comment."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def required_text(
    value: str | None, *, field: str, missing: str, limit: int, too_long: str = ""
) -> str:
    """``value`` without its outer white space. Refused on ``field`` (the form's or the API's
    field name) when nothing is left (``missing`` says what to write) or when over ``limit``
    characters (``too_long``; by default "At most {limit} characters.")."""
    text = (value or "").strip()
    if not text:
        raise ValidationError({field: missing})
    if len(text) > limit:
        raise ValidationError({field: too_long or f"At most {limit} characters."})
    return text
