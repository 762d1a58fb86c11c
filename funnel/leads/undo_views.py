"""The undo of a hand-off decision on the pages (docs/leads.md "Undo"):

- ``POST /streams/<slug>/handoffs/decisions/<pk>/undo/`` (:func:`undo`): calls
  ``funnel.leads.undo.handoff_undo`` and goes back to ``next`` (a page of this site), else the
  deal page;
- :func:`board_undo_offer`: the Undo the hand-off board shows with the success message of the
  user's last decision there (``templates/funnel/leads/_undo.html``), while its window lasts.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from funnel.deals.forms import HandoffUndoForm
from funnel.leads.models import HandoffDecision
from funnel.leads.undo import UndoOffer, handoff_undo, undo_offer
from streams.forms import apply_service_errors
from streams.selectors import streams_visible_to

#: The session's last decision made on the board, offered for undo while its window lasts.
UNDO_SESSION_KEY = "leads_undo"


def board_undo_offer(request: HttpRequest) -> UndoOffer | None:
    """The user's own undo of their last decision on the board, while they may still undo it
    and nothing has followed it."""
    decision_id = request.session.get(UNDO_SESSION_KEY)
    decision = (
        HandoffDecision.objects.filter(pk=decision_id).select_related("deal").first()
        if isinstance(decision_id, int)
        else None
    )
    if decision is None:
        return None
    return undo_offer(deal=decision.deal, user=request.user, decision_id=decision.pk, own_only=True)


@require_POST
def undo(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Undo a hand-off decision: the decider's own within its window, from the board's success
    message or the deal page; a manager's later, with a reason, from the deal page (a refused
    reason is shown next to its field, status 400; other refusals are messages). The service
    checks who may (403 otherwise)."""
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    decision = (
        HandoffDecision.objects.select_related("deal", "visit__step")
        .filter(pk=pk, deal__stream=stream)
        .first()
    )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = ""
    if decision is None:
        messages.error(request, "This decision has been undone already.")
        return redirect(back or reverse("leads:board", args=[stream.slug]))
    deal = decision.deal
    form = HandoffUndoForm(request.POST)
    if form.is_valid():
        try:
            handoff_undo(decision=decision, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            if request.POST.get("form") == "handoff_undo":  # the deal page's form: shown there
                from funnel.deals.views import deal_page

                apply_service_errors(form, exc)
                return deal_page(
                    request, deal, status=400, failed="handoff_undo", handoff_undo_form=form
                )
            for message in exc.messages:
                messages.error(request, message)
        else:
            request.session.pop(UNDO_SESSION_KEY, None)
            messages.success(
                request,
                f"Undone: “{deal.name}” waits at {decision.visit.step.name} again, undecided.",
            )
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(back or reverse("funnel:deal_detail", args=[deal.pk]))
