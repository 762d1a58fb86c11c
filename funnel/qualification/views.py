"""The stream's criteria page (``/streams/<slug>/criteria/``): everyone of the team reads the
criteria and their versions; managers start from a preset (asked to confirm when that retires
scored criteria), add, edit, retire, restore and reorder criteria. Every post calls one service
of ``funnel.qualification.services`` and redirects back (post/redirect/get); a refused form is
shown again with the reason next to its field (status 400)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from funnel.common.pages import button_post, form_page
from funnel.qualification.forms import CriterionForm, PresetForm, ReorderForm
from funnel.qualification.models import Criterion, Preset
from funnel.qualification.presets import PRESETS
from funnel.qualification.selectors import criteria_all, criteria_set_of
from funnel.qualification.services import (
    criteria_reorder,
    criteria_set_preview,
    criteria_set_start,
    criterion_create,
    criterion_restore,
    criterion_retire,
    criterion_update,
)
from streams.forms import form_submit
from streams.models import ValueStream
from streams.selectors import stream_can_edit, visible_stream

_EDIT_FIELDS = ("name", "question", "scale", "met_level", "known_by", "weight")


_MANAGERS = "Only the team's managers change its qualification criteria."


def _criterion(stream: ValueStream, pk: int) -> Criterion:
    return get_object_or_404(
        Criterion.objects.select_related("criteria_set"), criteria_set__stream=stream, pk=pk
    )


def _page(request: HttpRequest, stream: ValueStream, status: int = 200, **forms) -> HttpResponse:
    criteria_set = criteria_set_of(stream)
    criteria = criteria_all(criteria_set) if criteria_set else []
    active = [c for c in criteria if c.retired_at is None]
    return render(
        request,
        "funnel/qualification/criteria.html",
        {
            "stream": stream,
            "criteria_set": criteria_set,
            "active": active,
            "retired": [c for c in criteria if c.retired_at is not None],
            "can_edit": stream_can_edit(user=request.user, stream=stream),
            "presets": [(value, label, PRESETS[value]) for value, label in Preset.choices],
            "preset_form": forms.get("preset_form") or PresetForm(),
            "form": forms.get("form") or CriterionForm(stream=stream),
        },
        status=status,
    )


def criteria_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request, visible_stream(request.user, slug))


def criteria_preset(request: HttpRequest, slug: str) -> HttpResponse:
    """Start from a preset. When that retires criteria with scores, a page names them and asks
    to confirm first."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    form = PresetForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return _page(
            request, stream, status=400 if request.method == "POST" else 200, preset_form=form
        )
    preset = form.cleaned_data["preset"]
    preview = criteria_set_preview(stream=stream)
    if preview["retired"] and not form.cleaned_data["confirm_retire"]:
        return render(
            request,
            "funnel/qualification/preset_confirm.html",
            {
                "stream": stream,
                "preset": preset,
                "preset_label": Preset(preset).label,
                "preview": preview,
            },
        )
    started, _ = form_submit(
        form,
        lambda data: criteria_set_start(
            stream=stream,
            preset=data["preset"],
            user=request.user,
            confirm_retire=data["confirm_retire"],
        ),
    )
    if not started:
        return _page(request, stream, status=400, preset_form=form)
    messages.success(request, f"Criteria set from {Preset(preset).label}.")
    return redirect("qualification:criteria", slug=stream.slug)


@require_POST
def criterion_add(request: HttpRequest, slug: str) -> HttpResponse:
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    form = CriterionForm(request.POST, stream=stream)
    added, criterion = form_submit(
        form,
        lambda data: criterion_create(
            stream=stream, user=request.user, **{k: data[k] for k in _EDIT_FIELDS}
        ),
    )
    if not added:
        return _page(request, stream, status=400, form=form)
    messages.success(request, f"Added “{criterion.name}”.")
    return redirect("qualification:criteria", slug=stream.slug)


def criterion_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Edit one criterion; a change of meaning of a scored criterion makes a new version."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    criterion = _criterion(stream, pk)
    initial = {name: getattr(criterion, name) for name in _EDIT_FIELDS}
    form = CriterionForm(request.POST or None, stream=stream, initial=initial)

    def saved(new: Criterion) -> HttpResponse:
        if new.pk != criterion.pk:
            messages.success(
                request,
                f"Saved as version {new.version}: the scores given under version "
                f"{criterion.version} keep its wording.",
            )
        else:
            messages.success(request, f"Saved “{new.name}”.")
        return redirect("qualification:criteria", slug=stream.slug)

    return form_page(
        request,
        form,
        lambda data: criterion_update(
            criterion=criterion, user=request.user, **{k: data[k] for k in _EDIT_FIELDS}
        ),
        saved,
        "funnel/qualification/criterion_form.html",
        {"stream": stream, "criterion": criterion},
    )


def _button(request: HttpRequest, slug: str, pk: int, call, done: str) -> HttpResponse:
    """A retire or restore button: one service call, its refusal as a message."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    criterion = _criterion(stream, pk)
    return button_post(
        request,
        lambda: call(criterion=criterion, user=request.user),
        done.format(name=criterion.name),
        redirect("qualification:criteria", slug=stream.slug),
    )


@require_POST
def criterion_retire_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _button(request, slug, pk, criterion_retire, "Retired “{name}”; its scores are kept.")


@require_POST
def criterion_restore_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _button(request, slug, pk, criterion_restore, "Restored “{name}”.")


@require_POST
def criterion_move(request: HttpRequest, slug: str) -> HttpResponse:
    """Move one criterion up or down the order."""
    stream = visible_stream(request.user, slug, refusal=_MANAGERS)
    active = Criterion.objects.filter(criteria_set__stream=stream, retired_at__isnull=True)
    form = ReorderForm(request.POST, criteria=active)
    if not form.is_valid():
        messages.error(request, "Choose a criterion and a direction.")
        return redirect("qualification:criteria", slug=stream.slug)
    order = list(active.order_by("position", "id").values_list("pk", flat=True))
    i = order.index(form.cleaned_data["criterion"].pk)
    j = i - 1 if form.cleaned_data["direction"] == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
        criteria_reorder(stream=stream, user=request.user, order=order)
    return redirect("qualification:criteria", slug=stream.slug)
