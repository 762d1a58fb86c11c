"""The moves of a cycle through Do, Check and Act (with the notes kept from Do on), and the
Act decisions: adopt, adapt, abandon. Each posts one form of the cycle page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kaizen.forms import AbandonForm, ActForm, AdaptForm, AdoptForm, DoForm, DoNotesForm
from kaizen.models import KaizenCycle
from kaizen.selectors import check_needs_override
from kaizen.services import (
    cycle_abandon,
    cycle_adapt,
    cycle_adopt,
    cycle_start_act,
    cycle_start_check,
    cycle_start_do,
    cycle_update,
)
from kaizen.views.cycle import cycle_button, cycle_form


@cycle_form("do_form", DoForm, done="Do: the change is under way. Move to Check when it has run.")
def cycle_do(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    return cycle_start_do(cycle=cycle, user=request.user, **data)


@cycle_form("notes_form", DoNotesForm, done="Notes saved.")
def cycle_notes(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    return cycle_update(cycle=cycle, user=request.user, **data)


@cycle_button(done="Check: comparing after the change with before.")
def cycle_check(request: HttpRequest, cycle: KaizenCycle) -> None:
    """Do → Check (the Check itself is computed in the background)."""
    cycle_start_check(cycle=cycle, user=request.user)


def _needs_override(cycle: KaizenCycle) -> dict[str, Any]:
    """The decision forms ask for an override reason only when the Check needs one."""
    return {"needs_override": check_needs_override(getattr(cycle, "check_result", None))}


def _act_done(cycle: KaizenCycle) -> str:
    done = "Act: adopt, adapt or abandon the change."
    if cycle.evidence_override:
        done += " The team acts without evidence; the reason is on record."
    return done


@cycle_form("act_form", ActForm, done=_act_done, form_kwargs=_needs_override)
def cycle_act(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    """Check → Act; with a Check of insufficient data, only with a written override."""
    return cycle_start_act(
        cycle=cycle, user=request.user, override_reason=data.get("override_reason", "")
    )


def _adopt_done(cycle: KaizenCycle) -> str:
    done = "Adopted as the new standard."
    if cycle.adopted_without_evidence:
        done = "Adopted without evidence: the reason is on record, and the cycle is "
        done += "left out of the measured figures."
    if cycle.adopted_standard:
        done += f" The future-state map “{cycle.adopted_standard['stream_name']}” has it."
    return done


@cycle_form(
    "adopt_form",
    AdoptForm,
    done=_adopt_done,
    form_kwargs=lambda cycle: {"cycle": cycle, **_needs_override(cycle)},
)
def cycle_adopt_view(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    return cycle_adopt(
        cycle=cycle,
        user=request.user,
        standard=data["standard"],
        planned_value=data.get("planned_value"),
        override_reason=data.get("override_reason") or "",
    )


@cycle_form("adapt_form", AdaptForm, done="Adapted: here is the follow-up cycle, in Plan.")
def cycle_adapt_view(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    """Adapt closes the cycle and opens a follow-up in Plan: the follow-up is shown next."""
    return cycle_adapt(cycle=cycle, user=request.user, **data)


@cycle_form("abandon_form", AbandonForm, done="Abandoned; the reason is on record.")
def cycle_abandon_view(
    request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]
) -> KaizenCycle:
    return cycle_abandon(cycle=cycle, user=request.user, reason=data["reason"])
