"""API wiring shared by every app: the DRF exception handler."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from streams.services import StaleVersionError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Services raise Django's ``ValidationError`` naming the field; the API answers 400 with
    ``{field: [reason]}`` instead of a 500.

    A map edit based on an older version of the map (``StaleVersionError``, a
    ``ValidationError``) answers 409 ``{"version": [reason], "current_version": N}`` instead,
    so an editor can tell "reload, someone else saved" from "fix your input".
    """
    if isinstance(exc, StaleVersionError):
        set_rollback()
        return Response(
            {"version": exc.message_dict["version"], "current_version": exc.current_version},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)
