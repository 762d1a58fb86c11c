"""Query parameters of the deal and visit lists: filters, ``ordering`` and pagination.

Time filters are half-open windows ``[<name>_after, <name>_before)`` (metrics.md) and need a
time zone; an unknown ``ordering`` field or a malformed filter value is a 400 naming it.
:class:`StableOrderingFilter` and :class:`EventLogPagination` are shared with the kaizen API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, QuerySet
from django.db.models.expressions import OrderBy
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from funnel.api.serializers import AwareDateTimeField
from funnel.eventlog.moments import date_range_error, utc_offset_error
from funnel.models import Deal, DealStatus, Visit
from streams.api import IdFilter

_NAIVE_TIME = AwareDateTimeField.default_error_messages["naive"]


class AwareIsoDateTimeField(IsoDateTimeField):
    """django-filter's ISO 8601 field, refusing a time without a zone instead of reading it
    in the server's zone (as :class:`AwareDateTimeField` does for request bodies)."""

    default_error_messages = {"naive": _NAIVE_TIME}

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str):
            if reason := utc_offset_error(value):
                raise DjangoValidationError(reason, code="offset")
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # reported as an invalid date/time by the parent
            if parsed is not None and (reason := date_range_error(parsed)):
                raise DjangoValidationError(reason, code="range")
            if parsed is not None and timezone.is_naive(parsed):
                raise DjangoValidationError(self.error_messages["naive"], code="naive")
        return super().to_python(value)


class AwareIsoDateTimeRangeField(RangeField):
    widget = DateRangeWidget  # the query parameters <name>_after and <name>_before

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((AwareIsoDateTimeField(), AwareIsoDateTimeField()), *args, **kwargs)


class WindowFilter(filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` (inclusive) and ``<name>_before`` (exclusive): the half-open window
    ``[after, before)`` of metrics.md, so consecutive windows never count a row twice.
    Either bound may be left out; times need a zone."""

    field_class = AwareIsoDateTimeRangeField

    def filter(self, qs: QuerySet, value: slice | None) -> QuerySet:
        if not value:
            return qs
        if value.start is not None:
            qs = qs.filter(**{f"{self.field_name}__gte": value.start})
        if value.stop is not None:
            qs = qs.filter(**{f"{self.field_name}__lt": value.stop})
        return qs


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (also ``1`` / ``0``); anything else is an error, not ignored."""

    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise DjangoValidationError("Use true or false.", code="invalid") from None


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # django-filter's BooleanWidget turns an unknown value into "no filter".
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


def _id_filter(label: str, **kwargs: Any) -> IdFilter:
    """An :class:`IdFilter` whose label reaches the schema (its class-level INT annotation
    alone would drop it)."""
    described = {"type": "integer", "description": label}
    return extend_schema_field(described)(IdFilter(label=label, **kwargs))


def _window(field: str, verb: str) -> WindowFilter:
    """``<field>_after`` / ``<field>_before``: a half-open window of the field's times."""
    return WindowFilter(
        label=f"{verb} in [{field}_after, {field}_before); ISO 8601 with a time zone"
    )


class DealFilter(filters.FilterSet):
    stream = _id_filter("Stream id", field_name="stream_id")
    owner = _id_filter("Owner (user) id", field_name="owner_id")
    status = filters.ChoiceFilter(choices=DealStatus.choices)
    step = _id_filter("Step id: deals at that step now (an open visit there)", method="filter_step")
    created_at = _window("created_at", "Created")
    closed_at = _window("closed_at", "Closed")

    class Meta:
        model = Deal
        fields = ["stream", "owner", "status", "step", "created_at", "closed_at"]

    def filter_step(self, queryset: QuerySet[Deal], name: str, value: int) -> QuerySet[Deal]:
        # One filter() call, so both conditions hold for the same visit; a deal has at most
        # one open visit, so no duplicates.
        return queryset.filter(visits__step_id=value, visits__exited_at__isnull=True)


class VisitFilter(filters.FilterSet):
    deal = _id_filter("Deal id", field_name="deal_id")
    step = _id_filter("Step id", field_name="step_id")
    stream = _id_filter("Stream id", field_name="step__stream_id")
    open = StrictBooleanFilter(
        field_name="exited_at",
        lookup_expr="isnull",
        label="true: visits still open (no exited_at, the deal is there now); false: ended",
    )
    entered_at = _window("entered_at", "Entered")
    exited_at = _window("exited_at", "Exited")

    class Meta:
        model = Visit
        fields = ["deal", "step", "stream", "open", "entered_at", "exited_at"]


class StableOrderingFilter(OrderingFilter):
    """DRF's ``ordering`` (comma-separated fields, ``-`` for descending) with three changes:
    an unknown field is a 400 naming ``ordering`` instead of being ignored; empty values sort
    last either way (the same on PostgreSQL and SQLite); the id breaks ties, so pages of
    equal values neither overlap nor skip rows. Without ``ordering`` the model's default
    order applies."""

    def remove_invalid_fields(
        self, queryset: QuerySet, fields: list[str], view: APIView, request: Request
    ) -> list[str]:
        valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        fields = [term for term in fields if term]
        unknown = [term for term in fields if term.lstrip("-") not in valid]
        if unknown:
            raise serializers.ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(unknown)}; use {', '.join(sorted(valid))}."
                    ]
                }
            )
        return fields

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        if not request.query_params.get(self.ordering_param, "").strip():
            return queryset
        ordering = self.get_ordering(request, queryset, view) or []
        terms: list[OrderBy] = [
            F(term[1:]).desc(nulls_last=True)
            if term.startswith("-")
            else F(term).asc(nulls_last=True)
            for term in ordering
        ]
        if not {term.lstrip("-") for term in ordering} & {"id", "pk"}:
            terms.append(F("id").asc())
        return queryset.order_by(*terms)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["description"] = (
                "Comma-separated fields to order by, `-` for descending: "
                f"{', '.join(view.ordering_fields)}. Empty values come last; the id breaks "
                "ties. An unknown field is a 400."
            )
        return parameters


class EventLogPagination(PageNumberPagination):
    """``page`` (from 1) and ``page_size`` (default 50, at most 500)."""

    page_size_query_param = "page_size"
    page_size_query_description = "Results per page: 50 unless given, at most 500."
    max_page_size = 500


#: The list endpoints' filter backends: the FilterSet, then ``ordering``.
LIST_BACKENDS = [filters.DjangoFilterBackend, StableOrderingFilter]
