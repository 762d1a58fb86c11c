"""The kaizen board (``/kaizen/``): cycles as cards by phase, and the improvement history."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from kaizen.forms import BoardFilterForm
from kaizen.selectors import (
    board_columns,
    cycles_visible_to,
    improvement_history,
    owners_visible_to,
    streams_for_cycles,
)
from streams.selectors import streams_visible_to


def board(request: HttpRequest) -> HttpResponse:
    """Cycles as cards in Plan, Do, Check, Act and Closed, filtered by stream and owner, with
    overdue flags; below, the improvement history of the same cycles."""
    cycles = cycles_visible_to(request.user)
    form = BoardFilterForm(
        request.GET or None,
        streams=streams_visible_to(request.user).filter(kaizen_cycles__isnull=False).distinct(),
        owners=owners_visible_to(request.user),
    )
    if form.is_valid():
        if form.cleaned_data["stream"]:
            cycles = cycles.filter(stream=form.cleaned_data["stream"])
        if form.cleaned_data["owner"]:
            cycles = cycles.filter(owner=form.cleaned_data["owner"])
    today = timezone.localdate()
    columns = board_columns(cycles, today=today)
    return render(
        request,
        "kaizen/board.html",
        {
            "form": form,
            "columns": columns,
            "overdue": sum(card.overdue for column in columns for card in column.cards),
            "history": improvement_history(cycles, today=today),
            "can_create": streams_for_cycles(request.user).exists(),
            "filtered": form.is_bound and form.is_valid() and any(form.cleaned_data.values()),
        },
    )
