"""Pages of standard work (docs/five-s.md): a stream's standard work page (each step's
checklist, the assets it relies on, adherence and win rate with and without it), the
managers' edits of it, and the deal page's checklist ticks."""

from __future__ import annotations

from collections.abc import Callable

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from funnel.assets.outcome_views import window_fields
from funnel.dashboards.charts.quality import interval_pct, p_text
from funnel.deals.views import deal_page
from funnel.eventlog.selectors import deals_visible_to
from funnel.standards.forms import ItemEditForm, ItemForm, StepAssetForm
from funnel.standards.metrics import Adherence
from funnel.standards.models import ChecklistItem, StepAsset
from funnel.standards.selectors import asset_url, stream_standards
from funnel.standards.services import (
    item_add,
    item_retire,
    item_update,
    step_asset_add,
    step_asset_remove,
    ticks_set,
)
from streams.forms import form_submit
from streams.ids import parse_id
from streams.models import ProcessStep, ValueStream
from streams.selectors import stream_can_edit, visible_stream

_MANAGERS = "Only the team's managers change a step's standard work."


def standards_page(
    request: HttpRequest, slug: str, *, status: int = 200, failed: tuple | None = None
) -> HttpResponse:
    stream = visible_stream(request.user, slug)
    can_edit = stream_can_edit(user=request.user, stream=stream)
    window, fields = window_fields(request.GET)
    rows = []
    for standard in stream_standards(stream, window):
        for link in standard.assets:
            link.url = asset_url(link)
        step_id = standard.step.pk
        item_form = ItemForm(auto_id=f"item{step_id}_%s")
        asset_form = StepAssetForm(team_id=stream.team_id, auto_id=f"asset{step_id}_%s")
        if failed and failed[1] == step_id:
            item_form = failed[2] if failed[0] == "item" else item_form
            asset_form = failed[2] if failed[0] == "asset" else asset_form
        items = [
            (
                item,
                failed[2]
                if failed and failed[0] == "edit" and failed[3] == item.pk
                else ItemEditForm(initial={"text": item.text}, auto_id=f"edit{item.pk}_%s"),
            )
            for item in standard.items
        ]
        rows.append(
            {
                "standard": standard,
                "items": items,
                "item_form": item_form,
                "asset_form": asset_form,
                "shown": _shown(standard.figures),
            }
        )
    return render(
        request,
        "funnel/standards/page.html",
        {
            "stream": stream,
            "rows": rows,
            "can_edit": can_edit,
            **fields,
        },
        status=400 if fields["errors"] else status,
    )


def _shown(figures: Adherence | None) -> dict:
    """The shares as the Quality dashboard writes them: ``47 % [41–52 %]``."""
    if figures is None:
        return {}
    return {
        "adherence": interval_pct(figures.adherence),
        "with": interval_pct(figures.win_rate_with),
        "without": interval_pct(figures.win_rate_without),
        "p": p_text(figures.p_value),
    }


def _back(stream: ValueStream, step_id: int) -> HttpResponse:
    return redirect(reverse("standards:page", args=[stream.slug]) + f"#step-{step_id}")


def _step_form(
    request: HttpRequest,
    slug: str,
    step_id: int,
    kind: str,
    make_form: Callable[[ValueStream], django_forms.Form],
    save: Callable[[ProcessStep, dict], object],
    done: str,
) -> HttpResponse:
    """Post one of a step's forms (``kind``: "item" or "asset"): ``save(step, data)`` (one
    service call), then back to the step with ``done``; else the page again (400) with the
    form and its errors at its step."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    step = get_object_or_404(stream.steps, pk=step_id)
    form = make_form(stream)
    ok, _ = form_submit(form, lambda data: save(step, data))
    if ok:
        messages.success(request, done.format(step=step.name))
        return _back(stream, step_id)
    return standards_page(request, slug, status=400, failed=(kind, step_id, form))


@require_POST
def item_add_view(request: HttpRequest, slug: str, step_id: int) -> HttpResponse:
    return _step_form(
        request,
        slug,
        step_id,
        "item",
        lambda stream: ItemForm(request.POST, auto_id=f"item{step_id}_%s"),
        lambda step, data: item_add(user=request.user, step=step, text=data["text"]),
        "Item added to {step}.",
    )


@require_POST
def item_edit_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Reword a checklist item (its ticks stay); a refused text comes back at its item (400)."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    item = get_object_or_404(ChecklistItem, pk=pk, step__stream=stream, retired_at__isnull=True)
    form = ItemEditForm(request.POST, auto_id=f"edit{pk}_%s")
    ok, _ = form_submit(
        form, lambda data: item_update(user=request.user, item=item, text=data["text"])
    )
    if ok:
        messages.success(request, "Item reworded; the ticks it had stay.")
        return _back(stream, item.step_id)
    return standards_page(request, slug, status=400, failed=("edit", item.step_id, form, pk))


@require_POST
def item_retire_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    item = get_object_or_404(ChecklistItem, pk=pk, step__stream=stream)
    item_retire(user=request.user, item=item)
    messages.success(request, f"“{item.text}” retired; the ticks it had stay.")
    return _back(stream, item.step_id)


@require_POST
def step_asset_add_view(request: HttpRequest, slug: str, step_id: int) -> HttpResponse:
    return _step_form(
        request,
        slug,
        step_id,
        "asset",
        lambda stream: StepAssetForm(
            request.POST, team_id=stream.team_id, auto_id=f"asset{step_id}_%s"
        ),
        lambda step, data: step_asset_add(user=request.user, step=step, asset=data["asset"]),
        "{step} now relies on that asset.",
    )


@require_POST
def step_asset_remove_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    link = get_object_or_404(StepAsset, pk=pk, step__stream=stream)
    step_asset_remove(user=request.user, link=link)
    messages.success(request, "Asset removed from the step's standard work.")
    return _back(stream, link.step_id)


@require_POST
def deal_checklist_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the ticks of the deal's checklist on one step (``step``, ``items``: the ids
    ticked); optional, never needed to move the deal."""
    deal = get_object_or_404(deals_visible_to(request.user), pk=pk)
    step = deal.stream.steps.filter(pk=parse_id(request.POST.get("step"))).first()
    item_ids = [parse_id(text) for text in request.POST.getlist("items")]
    try:
        if step is None:
            raise ValidationError({"step": "Choose a step of the deal's stream."})
        if None in item_ids:
            raise ValidationError({"items": "An item is not an id."})
        ticks_set(user=request.user, deal=deal, step=step, item_ids=item_ids)
    except ValidationError as exc:
        reasons = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return deal_page(request, deal, status=400, failed="checklist", checklist_error=reasons)
    messages.success(request, "Checklist saved.")
    return redirect(reverse("funnel:deal_detail", args=[deal.pk]) + "#standard-work")
