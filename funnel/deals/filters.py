"""The deals list's search, filters and sort (``funnel.deals.views.deal_list``), read from the URL
so a filtered list can be bookmarked and shared. They narrow a queryset of
``funnel.eventlog.selectors.deals_for_list``; which deals a user may see is the selector's
business."""

from __future__ import annotations

from datetime import datetime

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from funnel.eventlog.selectors import stalled_condition
from funnel.leads.models import Handoff
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.selectors import overdue_condition
from streams.models import ProcessStep

ALL = "all"
STATUS_CHOICES = [(DealStatus.OPEN, "Open"), (DealStatus.WON, "Won"), (DealStatus.LOST, "Lost")]
STATUS_CHOICES.append((ALL, "Any status"))

#: Leads, deals or both (docs/leads.md "One event log": a case is a lead while its latest visit is
#: at a step before its stream's ready-for-sales hand-off, a deal from then on).
LEADS, DEALS = "leads", "deals"
CASES_CHOICES = [(ALL, "Leads and deals"), (LEADS, "Leads"), (DEALS, "Deals")]

#: Sort keys of the list: label and order (the id breaks ties, so pages never overlap).
SORTS: dict[str, tuple[str, list]] = {
    "stalled": (
        "Stalled first, then longest at their step",
        [F("stalled").desc(), F("step_entered_at").asc(nulls_last=True)],
    ),
    "newest": ("Newest first", [F("created_at").desc()]),
    "oldest": ("Oldest first", [F("created_at").asc()]),
    "name": ("Name A–Z", [F("name").asc()]),
    "amount": ("Largest amount", [F("amount").desc(nulls_last=True)]),
    "expected": ("Expected to close soonest", [F("expected_close_date").asc(nulls_last=True)]),
    "closed": ("Closed most recently", [F("closed_at").desc(nulls_last=True)]),
    # The forecast's sorts order by figures stored in a snapshot, not in the deals' table:
    # the view sorts the ids (funnel.deals.forecasts); newest first breaks ties.
    "win": ("Most likely to win first (forecast)", [F("created_at").desc()]),
    "forecast": ("Forecast to close soonest (50 %)", [F("created_at").desc()]),
}
#: The sorts by the stream's latest forecast (funnel.deals.forecasts.forecast_order).
FORECAST_SORTS = ("win", "forecast")
#: The sort when none is asked for: what needs attention among open deals, else the latest.
DEFAULT_SORT = {DealStatus.OPEN: "stalled", DealStatus.WON: "closed", DealStatus.LOST: "closed"}


#: A filter whose value is not one of its choices (an edited or stale link) is named with
#: this message and not applied: the list is shown as without it (for the status: open deals).
NOT_APPLIED = {
    "invalid_choice": "'%(value)s' is not one of the choices, so this filter is not applied."
}


class DealListFilter(django_filters.FilterSet):
    """An unknown sort is replaced by the default sort, silently (it narrows nothing). Any
    other filter with a value that is not one of its choices gets a message naming it and is
    left out (``NOT_APPLIED``); the status then falls back to open deals."""

    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or account"}),
    )
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES,
        method="filter_status",
        empty_label=None,
        error_messages={
            "invalid_choice": "'%(value)s' is not a status (open, won, lost or all), so open "
            "deals are shown."
        },
    )
    cases = django_filters.ChoiceFilter(
        choices=CASES_CHOICES,
        method="filter_cases",
        empty_label=None,
        label="Leads or deals",
        error_messages=NOT_APPLIED,
    )
    # Choices from the steps the view already read, not a query of their own.
    step = django_filters.ChoiceFilter(
        choices=[],
        label="At step",
        empty_label="Any step",
        method="filter_step",
        error_messages=NOT_APPLIED,
    )
    owner = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(),
        label="Rep",
        empty_label="Anyone",
        error_messages=NOT_APPLIED,
    )
    source = django_filters.ChoiceFilter(
        choices=[], empty_label="Any source", error_messages=NOT_APPLIED
    )
    stalled = django_filters.BooleanFilter(
        method="filter_stalled",
        label="Only stalled deals",
        widget=forms.CheckboxInput,
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        label="Only overdue criteria",
        widget=forms.CheckboxInput,
    )
    sort = django_filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _) in SORTS.items()],
        method="filter_sort",
        empty_label=None,
        label="Sort",
    )

    class Meta:
        model = Deal
        fields = ["q", "status", "cases", "step", "owner", "source", "stalled", "overdue", "sort"]

    def __init__(
        self,
        data,
        *args,
        steps: list[ProcessStep],
        owners: QuerySet,
        sources: list[str],
        thresholds: dict[int, float],
        now: datetime,
        now_w: dict[int, int] | None = None,
        **kwargs,
    ) -> None:
        data = data.copy()
        data.setdefault("status", DealStatus.OPEN)
        data.setdefault("cases", ALL)
        if data.get("sort") not in SORTS:  # absent or unknown: the status's default
            status = data["status"] if data["status"] in dict(STATUS_CHOICES) else DealStatus.OPEN
            data["sort"] = DEFAULT_SORT.get(status, "newest")
        super().__init__(data, *args, **kwargs)
        self.thresholds, self.now, self.now_w = thresholds, now, now_w
        self.steps = steps
        several = len({step.stream_id for step in steps}) > 1
        self.form.fields["step"].choices = [("", "Any step")] + [
            (
                str(step.pk),
                f"{step.stream.name} — {step.position}. {step.name}"
                if several
                else f"{step.position}. {step.name}",
            )
            for step in steps
        ]
        self.form.fields["owner"].queryset = owners
        self.form.fields["source"].choices = [("", "Any source")] + [(s, s) for s in sources]

    def filter_queryset(self, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
        # A refused status is not in cleaned_data: the default (open) applies, as the
        # message says, rather than no status filter at all (every deal).
        self.form.cleaned_data.setdefault("status", DealStatus.OPEN)
        return super().filter_queryset(queryset)

    @property
    def sort_label(self) -> str:
        """How the list is sorted, in words (for the table's caption)."""
        return SORTS[self.form.data["sort"]][0]

    def filter_search(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(account__icontains=value))

    def filter_status(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        return queryset if value == ALL else queryset.filter(status=value)

    def lead_step_ids(self) -> list[int]:
        """The steps of the list's streams before each one's ready-for-sales hand-off (one
        query, read only when leads or deals are asked for)."""
        pulls = dict(
            Handoff.objects.filter(
                stream_id__in={step.stream_id for step in self.steps}, pull=True
            ).values_list("stream_id", "step__position")
        )
        return [
            step.pk
            for step in self.steps
            if step.stream_id in pulls and step.position < pulls[step.stream_id]
        ]

    def filter_cases(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        if value not in (LEADS, DEALS):
            return queryset
        lead = Exists(
            Visit.objects.filter(
                deal=OuterRef("pk"), is_last=True, step_id__in=self.lead_step_ids()
            )
        )
        return queryset.filter(lead if value == LEADS else ~lead)

    def filter_step(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        return queryset.filter(current_step_id=int(value))

    def filter_stalled(self, queryset: QuerySet[Deal], name: str, value: bool) -> QuerySet[Deal]:
        if not value:
            return queryset
        return queryset.filter(
            stalled_condition(thresholds=self.thresholds, now=self.now, now_w=self.now_w)
        )

    def filter_overdue(self, queryset: QuerySet[Deal], name: str, value: bool) -> QuerySet[Deal]:
        """Open deals past the known-by step of a criterion still unknown to them."""
        return queryset.filter(overdue_condition()) if value else queryset

    def filter_sort(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        return queryset.order_by(*SORTS[value][1], "id")

    @property
    def narrowed(self) -> bool:
        """A filter other than the default status and sort narrows the list."""
        data = self.form.cleaned_data if self.form.is_bound and self.is_valid() else {}
        return data.get("cases", ALL) != ALL or any(
            data.get(key) for key in ("q", "step", "owner", "source", "stalled", "overdue")
        )
