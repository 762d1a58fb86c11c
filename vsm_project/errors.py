"""The app's own error pages, and JSON for API clients.

Django's default handlers render ``templates/403.html``, ``404.html`` and ``500.html``; these
wrap them so that a request to the API (``/api/…``) or one that asks for JSON gets the same
``{"detail": …}`` body DRF gives, instead of an HTML page a script cannot read. DRF views
answer their own errors; these cover what never reaches a view (an unknown URL under
``/api/``, a crash in middleware).

``NoTracebackFor4xx`` keeps the log readable: Django logs a ``PermissionDenied`` with its
traceback, although "not allowed" is an ordinary answer, not a fault.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        detail = str(exception) or "You do not have permission to perform this action."
        return JsonResponse({"detail": detail}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"detail": "Something went wrong on the server. The error has been logged."},
            status=500,
        )
    return defaults.server_error(request)


class NoTracebackFor4xx(logging.Filter):
    """Drop the traceback of a logged 4xx answer (403, 404, 400): the line saying which
    request was refused stays, the stack of an expected refusal goes. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
