"""Serializers of the deal and visit endpoints: what a deal, a visit and a deal's history
look like in an answer, and the bodies of create, edit, move, log work, close and reopen.

Times in request bodies go through :class:`AwareDateTimeField`, which refuses a time without
a zone (the bulk events reuse it, see ``funnel.api.bulk_events``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from funnel.eventlog.moments import date_range_error, utc_offset_error
from funnel.models import Deal, DealEvent, DealStatus, Visit
from streams.api.common import ScopedToUser, refuse_unknown_fields
from streams.models import ProcessStep, ValueStream
from streams.selectors import User, members_visible_to, streams_visible_to

UserModel = get_user_model()


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 timestamp that must carry its time zone.

    DRF would silently read a naive time in the server's zone; we refuse it instead, since
    a rep in another zone would record every step change hours off. Times in the future are
    refused by the services.
    """

    default_error_messages = {
        "naive": "The time needs a time zone (for example 2026-03-01T09:00:00+00:00).",
    }

    def to_internal_value(self, value: Any) -> datetime:
        parsed = value
        if isinstance(value, str):
            if reason := utc_offset_error(value):
                raise serializers.ValidationError(reason, code="offset")
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # DRF reports it as an invalid datetime below.
        if isinstance(parsed, datetime) and (reason := date_range_error(parsed)):
            raise serializers.ValidationError(reason, code="range")
        if isinstance(parsed, datetime) and timezone.is_naive(parsed):
            self.fail("naive")
        return super().to_internal_value(value)


class DealSerializer(serializers.ModelSerializer):
    current_step = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The step the deal is at (its open visit); empty when at no step.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "stream",
            "external_id",
            "name",
            "account",
            "amount",
            "owner",
            "owner_name",
            "source",
            "created_at",
            "status",
            "closed_at",
            "lost_reason",
            "expected_close_date",
            "next_step",
            "current_step",
            "updated_at",
        ]
        read_only_fields = fields


class DealCreateSerializer(ScopedToUser, serializers.Serializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    name = serializers.CharField(max_length=200)
    external_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The deal's id in the CRM; generated when empty.",
    )
    account = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True, default=None
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=UserModel.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A manager or rep of the stream's team. Reps may only name themselves; "
        "a deal a rep creates is theirs by default.",
    )
    source = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    created_at = AwareDateTimeField(
        required=False, help_text="When the deal was created in the CRM; now when omitted."
    )
    first_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A step of the stream; the deal enters it at created_at.",
    )

    def scope_to(self, user: User) -> None:
        streams = streams_visible_to(user)
        self.fields["stream"].queryset = streams
        self.fields["first_step"].queryset = ProcessStep.objects.filter(stream__in=streams)
        self.fields["owner"].queryset = members_visible_to(user)


class DealUpdateSerializer(ScopedToUser, serializers.ModelSerializer):
    """The descriptive fields of a deal, and its owner (managers only). Stream, status and
    the path's times change through their own operations, so naming them here is an error
    rather than silently ignored."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=UserModel.objects.none(),
        required=False,
        allow_null=True,
        help_text="Reassign the deal (the team's managers only) to a manager or rep of its team.",
    )

    class Meta:
        model = Deal
        fields = [
            "name",
            "account",
            "amount",
            "source",
            "expected_close_date",
            "next_step",
            "owner",
        ]
        # Blank names and negative amounts reach deal_update, which reports every field.
        extra_kwargs = {
            "name": {"allow_blank": True},
            "amount": {"min_value": 0},
            "next_step": {"allow_null": True},
        }

    def scope_to(self, user: User) -> None:
        self.fields["owner"].queryset = members_visible_to(user)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(self, default="This field cannot be changed here.")
        return attrs


class DealMoveSerializer(ScopedToUser, serializers.Serializer):
    step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(), help_text="A step of the deal's stream."
    )
    at = AwareDateTimeField(required=False, help_text="When the deal moved; now when omitted.")

    def scope_to(self, user: User) -> None:
        self.fields["step"].queryset = ProcessStep.objects.filter(
            stream__in=streams_visible_to(user)
        )


class DealLogWorkSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        help_text="Hands-on minutes to add to the deal's current step."
    )


class DealCloseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[DealStatus.WON, DealStatus.LOST])
    at = AwareDateTimeField(required=False, help_text="When the deal closed; now when omitted.")
    lost_reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class DealReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the deal is reopened; kept in its history."
    )


class DealEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealEvent
        fields = [
            "id",
            "kind",
            "recorded_at",
            "actor",
            "status",
            "closed_at",
            "lost_reason",
            "reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {"help_text": "The outcome the close set, or the undo/reopen took away."}
        }


class VisitSerializer(serializers.ModelSerializer):
    step_name = serializers.CharField(source="step.name", read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "deal",
            "step",
            "step_name",
            "entered_at",
            "exited_at",
            "work_minutes",
            "actor",
            "actor_name",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
