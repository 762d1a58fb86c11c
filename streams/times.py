"""How the product shows a moment: in the viewer's time zone (activated for each request by
``vsm_project.timezones``) and labelled with it, ``2026-12-06 06:02 CET``. Pages use the
``moment`` template filter (``streams.templatetags.vsm``), messages ``when_text``; both share
this format, so a time reads the same in a message as on the page around it."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format

#: Date, time and the zone's abbreviation (``CET``, ``UTC``, or an offset such as ``+04``
#: for zones without one).
WHEN_FORMAT = "Y-m-d H:i T"


def when_text(value: datetime) -> str:
    """``value`` local to the active time zone, labelled with it; never raw ISO."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return date_format(local, WHEN_FORMAT)
