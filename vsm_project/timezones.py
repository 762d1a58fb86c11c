"""The signed-in person's time zone, activated for each request.

``UserTimeZoneMiddleware`` activates the person's time zone (``streams.models.UserProfile``)
for the request, so every time Django renders (templates, forms, ``timezone.localtime``,
``localdate``) is in it, and datetimes typed into forms are read in it. The zone is cached in
the session: one profile read per session, none per request; the account page and the
browser's proposal update the session when they store a zone. Without a zone, the default
(``TIME_ZONE``, UTC) applies and ``request.time_zone_unset`` asks the page to propose the
browser's.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from streams.people.selectors import available_time_zones, user_time_zone
from streams.people.views import SESSION_TIME_ZONE


class UserTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = ""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            zone = request.session.get(SESSION_TIME_ZONE)
            if zone is None:
                zone = user_time_zone(user)
                request.session[SESSION_TIME_ZONE] = zone
        request.time_zone_unset = bool(user is not None and user.is_authenticated and not zone)
        if zone and zone in available_time_zones():
            timezone.activate(zoneinfo.ZoneInfo(zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
