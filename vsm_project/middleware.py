"""Response headers every page and API answer carries (docs/security.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Handler = Callable[[HttpRequest], HttpResponse]


def privacy_headers(get_response: Handler) -> Handler:
    """``Permissions-Policy`` on every response; ``Cache-Control: private, no-store`` on every
    answer to a signed-in user and under ``/api/`` (pages, the API and exports hold a team's
    data: no shared or browser cache may keep them). Static files are left to WhiteNoise's
    long-lived caching."""
    static = "/" + settings.STATIC_URL.lstrip("/")

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if request.path.startswith(static):
            return response
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            response["Cache-Control"] = "private, no-store"
        return response

    return middleware
