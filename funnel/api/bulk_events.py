"""``POST /api/events/bulk/``: many event-log writes (create_deal, move, log_work, close) in
one request, applied in order, all or nothing, through ``funnel.eventlog.bulk.events_apply``.

A refusal answers ``{errors: [{index, field, reason}], applied: 0}``, 400 for bad input and
403 for an event the user may not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.serializers import AwareDateTimeField
from funnel.eventlog.bulk import (
    EVENT_TYPES,
    MAX_EVENTS,
    MAX_FAILED_EVENTS,
    EventError,
    EventsRefused,
    events_apply,
)
from funnel.models import DealStatus
from streams.ids import ID_MAX


def _id_field(help_text: str, **kwargs: Any) -> serializers.IntegerField:
    # A number larger than a database id names nothing and must not reach the query.
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, help_text=help_text, **kwargs)


class _EventSerializer(serializers.Serializer):
    """Type checks of one event; the rules are ``funnel.eventlog.bulk``'s and the services'. A field
    the event type does not use is an error, since a misspelt optional field would otherwise
    be dropped without a word."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            kind = self.initial_data.get("type")
            raise serializers.ValidationError(
                {name: [f"A {kind} event has no field {name}."] for name in unknown}
            )
        return attrs


class CreateDealEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["create_deal"])
    stream = _id_field("A value stream you can see.")
    external_id = serializers.CharField(
        max_length=64,
        help_text="The deal's id in the CRM, unique in the stream; later events of the batch "
        "may name the deal by stream and external_id.",
    )
    name = serializers.CharField(max_length=200)
    account = serializers.CharField(max_length=200, required=False, allow_blank=True)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    owner = _id_field(
        "User id of a manager or rep of the stream's team. Reps may only name themselves; a "
        "deal a rep creates is theirs by default.",
        required=False,
        allow_null=True,
    )
    source = serializers.CharField(max_length=40, required=False, allow_blank=True)
    created_at = AwareDateTimeField(
        required=False, help_text="When the deal was created in the CRM; now when omitted."
    )
    first_step = _id_field(
        "A step of the stream; the deal enters it at created_at.", required=False, allow_null=True
    )


class _DealEventSerializer(_EventSerializer):
    """An event on an existing deal, named by ``deal`` or by ``stream`` and ``external_id``
    (a deal created earlier in the same batch included)."""

    deal = _id_field("The deal's id; or name it by stream and external_id.", required=False)
    stream = _id_field("With external_id, names the deal instead of deal.", required=False)
    external_id = serializers.CharField(
        max_length=64, required=False, help_text="With stream, names the deal instead of deal."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        by_ref = {"stream", "external_id"} & set(attrs)
        if "deal" in attrs and by_ref:
            raise serializers.ValidationError(
                {"deal": ["Name the deal by id or by stream and external_id, not both."]}
            )
        if "deal" not in attrs and not by_ref:
            raise serializers.ValidationError(
                {"deal": ["Name the deal: its id as deal, or stream and external_id."]}
            )
        missing = {"stream", "external_id"} - by_ref if by_ref else set()
        if missing:
            raise serializers.ValidationError(
                {name: ["Give stream and external_id together."] for name in missing}
            )
        return attrs


class MoveEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["move"])
    step = _id_field("A step of the deal's stream.")
    at = AwareDateTimeField(required=False, help_text="When the deal moved; now when omitted.")


class LogWorkEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["log_work"])
    minutes = serializers.IntegerField(
        help_text="Hands-on minutes to add to the deal's open visit."
    )


class CloseEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["close"])
    outcome = serializers.ChoiceField(choices=[DealStatus.WON, DealStatus.LOST])
    at = AwareDateTimeField(required=False, help_text="When the deal closed; now when omitted.")
    lost_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


_EVENT_SERIALIZERS: dict[str, type[_EventSerializer]] = {
    "create_deal": CreateDealEventSerializer,
    "move": MoveEventSerializer,
    "log_work": LogWorkEventSerializer,
    "close": CloseEventSerializer,
}
assert set(_EVENT_SERIALIZERS) == set(EVENT_TYPES)


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="Event",
        serializers=_EVENT_SERIALIZERS,
        resource_type_field_name="type",
    )
)
class EventField(serializers.Field):
    """One event: checked by the serializer its ``type`` names."""

    default_error_messages = {"not_an_object": "An event is a JSON object with a type."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("not_an_object")
        kind = data.get("type")
        serializer_class = _EVENT_SERIALIZERS.get(kind) if isinstance(kind, str) else None
        if serializer_class is None:
            reason = "An event needs a type" if kind is None else f"{kind!r} is not an event type"
            raise serializers.ValidationError(
                {"type": [f"{reason}; use {', '.join(EVENT_TYPES)}."]}
            )
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


class EventListField(serializers.ListField):
    """A list refused by its length before its items are checked: no point checking 50,000
    events to refuse them all."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class EventBatchSerializer(serializers.Serializer):
    events = EventListField(
        child=EventField(),
        allow_empty=False,
        max_length=MAX_EVENTS,
        help_text=f"Up to {MAX_EVENTS} events, applied in order.",
    )


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The event's position in the batch, from 0.")
    type = serializers.ChoiceField(choices=list(EVENT_TYPES))
    deal = serializers.IntegerField(help_text="The deal the event created or changed.")
    external_id = serializers.CharField(help_text="That deal's id in the CRM.")
    visit = serializers.IntegerField(
        allow_null=True,
        help_text="create_deal: the visit opened at first_step; move: the visit it opened; "
        "log_work: the visit the work was added to; close: the visit it ended. Null when "
        "there is none.",
    )


class EventBatchResultSerializer(serializers.Serializer):
    applied = serializers.IntegerField(help_text="How many events were applied: all of them.")
    results = EventResultSerializer(many=True)


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        allow_null=True, help_text="The failing event's position; null: the batch itself."
    )
    field = serializers.CharField(
        allow_null=True, help_text="The field at fault; null: the event as a whole."
    )
    reason = serializers.CharField()


class EventBatchErrorSerializer(serializers.Serializer):
    errors = EventErrorSerializer(many=True)
    applied = serializers.IntegerField(help_text="Always 0: nothing of the batch was stored.")


def _shape_errors(
    detail: Any, index: int | None = None, field: str | None = None
) -> list[EventError]:
    """Flatten DRF's nested error detail of a batch serializer into :class:`EventError` rows
    (the list, ``events`` or ``scores`` → row index → field → reasons)."""
    if isinstance(detail, Mapping):
        rows: list[EventError] = []
        for key, value in detail.items():
            if index is None and isinstance(key, int):
                rows += _shape_errors(value, key, None)
            elif key in ("non_field_errors", "__all__"):
                rows += _shape_errors(value, index, field)
            else:
                rows += _shape_errors(value, index, key)
        return rows
    if isinstance(detail, list):
        return [row for item in detail for row in _shape_errors(item, index, field)]
    return [EventError(index, field, str(detail))]


def _refusal(errors: list[EventError], status_code: int) -> Response:
    failing = sorted({e.index for e in errors if e.index is not None})[:MAX_FAILED_EVENTS]
    shown = [e for e in errors if e.index is None or e.index in failing]
    rows = [{"index": e.index, "field": e.field, "reason": e.reason} for e in shown]
    return Response({"errors": rows, "applied": 0}, status=status_code)


_BATCH_EXAMPLE = {
    "events": [
        {
            "type": "create_deal",
            "stream": 1,
            "external_id": "CRM-1042",
            "name": "Acme renewal",
            "amount": "12500.00",
            "created_at": "2025-01-06T09:00:00+00:00",
            "first_step": 1,
        },
        {
            "type": "move",
            "stream": 1,
            "external_id": "CRM-1042",
            "step": 2,
            "at": "2025-01-08T09:00:00+00:00",
        },
        {"type": "log_work", "stream": 1, "external_id": "CRM-1042", "minutes": 45},
        {"type": "move", "deal": 7, "step": 3, "at": "2025-01-09T14:30:00+00:00"},
        {"type": "close", "deal": 7, "outcome": "lost", "lost_reason": "No budget"},
    ]
}


class EventBatchView(APIView):
    """Many event-log writes in one request, applied in order, all or nothing."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]  # a list of typed objects has no form encoding

    @extend_schema(
        summary="Apply many events at once, all or nothing",
        description=(
            f"Applies up to {MAX_EVENTS} events in order in one transaction: `create_deal`, "
            "`move`, `log_work` (on the deal's open visit) and `close`, each with the same "
            "rules and permissions as the single-deal endpoints. A `move`, `log_work` or "
            "`close` names its deal by `deal` (id) or by `stream` and `external_id`, so a "
            "batch can create a deal and then move it.\n\n"
            "If any event fails, nothing is stored. 400 lists the errors of every failing "
            f"event (up to {MAX_FAILED_EVENTS} events; later errors may follow from an "
            "earlier failure), each as `{index, field, reason}`; a deal, stream, step or "
            "owner you cannot see is not found (400). 403 when an event asks for something "
            "you may not do (leadership writes nothing, a rep only acts on their own deals), "
            "with that event's index. Without a sign-in the answer is 401/403 `{detail}`, as "
            "everywhere in this API."
        ),
        request=EventBatchSerializer,
        responses={
            200: EventBatchResultSerializer,
            400: EventBatchErrorSerializer,
            403: EventBatchErrorSerializer,
        },
        examples=[
            OpenApiExample(
                "Create a deal, move it, log work; move and close another",
                value=_BATCH_EXAMPLE,
                request_only=True,
            ),
            OpenApiExample(
                "Applied",
                value={
                    "applied": 2,
                    "results": [
                        {
                            "index": 0,
                            "type": "create_deal",
                            "deal": 12,
                            "external_id": "CRM-1042",
                            "visit": 40,
                        },
                        {
                            "index": 1,
                            "type": "move",
                            "deal": 12,
                            "external_id": "CRM-1042",
                            "visit": 41,
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "The third event is invalid: nothing stored",
                value={
                    "errors": [
                        {
                            "index": 2,
                            "field": "at",
                            "reason": "2999-01-01 00:00 UTC is in the future.",
                        }
                    ],
                    "applied": 0,
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "Not allowed",
                value={
                    "errors": [
                        {
                            "index": 0,
                            "field": None,
                            "reason": "Only the team's managers and reps create deals.",
                        }
                    ],
                    "applied": 0,
                },
                response_only=True,
                status_codes=["403"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            data = request.data
        except ParseError as exc:
            # Malformed JSON answers in the batch's documented shape, as any other refusal.
            return _refusal([EventError(None, None, str(exc.detail))], status.HTTP_400_BAD_REQUEST)
        serializer = EventBatchSerializer(data=data)
        if not serializer.is_valid():
            return _refusal(_shape_errors(serializer.errors), status.HTTP_400_BAD_REQUEST)
        try:
            results = events_apply(user=request.user, events=serializer.validated_data["events"])
        except EventsRefused as refused:
            code = status.HTTP_403_FORBIDDEN if refused.forbidden else status.HTTP_400_BAD_REQUEST
            return _refusal(refused.errors, code)
        return Response({"applied": len(results), "results": results})
