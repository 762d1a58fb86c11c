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


# --- The schema's error answers -------------------------------------------------------------

_ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    "ValidationErrors": {
        "type": "object",
        "description": "The request was refused as invalid: each field at fault with its "
        "reasons (`{field: [reason, …]}`; `non_field_errors` for the request as a whole), or "
        "`{detail: reason}` for a request that could not be read (malformed JSON, a bad page).",
        "additionalProperties": {},
    },
    "ErrorDetail": {
        "type": "object",
        "description": "Why the request was not answered, in words.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
}
_ERROR_ANSWERS = {
    "400": ("ValidationErrors", "Invalid input: `{field: [reason, …]}` naming each field."),
    "401": ("ErrorDetail", "Not signed in (no session, no valid token)."),
    "403": ("ErrorDetail", "Signed in, but your role in the team does not allow this."),
    "404": (
        "ErrorDetail",
        "No such object among those you can see (another team's included), or no such page.",
    ),
    "429": ("ErrorDetail", "Too many requests: wait the seconds in `Retry-After`."),
}


def error_answers_hook(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the error answers it
    can give (400, 401, 403, 429, and 404 where the path names an object or the list is paged)
    with a shared component, unless the view documented its own (the bulk endpoint's
    ``{errors, applied}``)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_ERROR_COMPONENTS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, (component, description) in _ERROR_ANSWERS.items():
                paged = any(p.get("name") == "page" for p in operation.get("parameters", []))
                if code == "404" and "{" not in path and not paged:
                    continue  # 404: an object the path names, or a page past the last
                answer = responses.setdefault(code, {"description": description})
                answer.setdefault("description", description)
                answer.setdefault(
                    "content",
                    {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
                )
    return result
