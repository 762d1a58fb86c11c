"""The leads pages of a stream (docs/leads.md):

- ``/streams/<slug>/leads/setup/``: the waterfall (a preset, each hand-off's step, stages,
  sides, SLA and escalation typed as working time, pull, the recycle step), the three reason
  lists and the sellers' WIP limits (managers only);
- ``/streams/<slug>/handoffs/``: the hand-off board, every undecided arrival oldest first with
  its age against the SLA; reps and managers accept, reject, recycle or disqualify (asked to
  confirm, naming the lead);
- ``/streams/<slug>/queue/``: the ready-for-sales queue; a seller pulls the next lead or a
  given one within their WIP limit;
- ``/streams/<slug>/handoffs/decisions/<pk>/undo/``: undo a decision (``funnel.leads.undo``),
  from the board's success message or the deal page.

Leadership reads the board and the queue; the services refuse their posts anyway. Every post
calls one service of ``funnel.leads.services`` and redirects (post/redirect/get); a refused
post shows the page again with the reason next to its field (status 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from funnel.common.pages import button_post
from funnel.eventlog.selectors import deal_owner_choices
from funnel.leads.board_rows import (
    arrival_items,
    board_row_html,
    csrf_field,
    queue_row_html,
    turn_down_form_html,
    turn_down_forms,
)
from funnel.leads.board_rows import duration_text as duration_text  # the pages' tests import it
from funnel.leads.forms import (
    CONVERSION_TEXT,
    HANDOFF_ROWS_EMPTY,
    DecisionForm,
    HandoffFormSet,
    PresetPickForm,
    ReasonAddForm,
    ReasonRenameForm,
    SellerLimitForm,
    StepLimitForm,
    WaterfallForm,
    format_working,
)
from funnel.leads.models import (
    WATERFALL_TERMS,
    DecisionKind,
    HandoffReason,
    ReasonKind,
    StepWipLimit,
    WaterfallPreset,
)
from funnel.leads.presets import PRESETS
from funnel.leads.selectors import (
    BOARD_LIMIT,
    cursor_of,
    handoff_board,
    handoffs_of,
    may_decide,
    may_manage,
    ready_queue,
    reasons_of,
    rights_of,
    seller_load,
    stages_of,
    waterfall_of,
)
from funnel.leads.services import handoff_decide, lead_pull
from funnel.leads.setup import (
    HandoffSpec,
    reason_create,
    reason_retire,
    reason_update,
    seller_limit_set,
    step_wip_limit_set,
    waterfall_save,
)
from funnel.leads.undo_views import UNDO_SESSION_KEY, board_undo_offer
from funnel.models import Visit
from streams.forms import apply_service_errors, form_submit
from streams.ids import parse_id
from streams.models import ValueStream
from streams.selectors import streams_visible_to

#: Rows a page of the hand-off board shows (the oldest first; the next page after its last row),
#: unless asked for the oldest BOARD_LIMIT at once.
BOARD_ROWS = 25
#: Rows a page of the ready-for-sales queue shows.
QUEUE_ROWS = 25
_HANDOFF_KEY = re.compile(r"^handoffs\.(\d+)\.(\w+)$")
#: A service's field name → the setup form's.
_HANDOFF_FIELDS = {"sla_minutes": "sla", "escalate_minutes": "escalate"}
_DONE = {
    DecisionKind.ACCEPT: "Accepted",
    DecisionKind.REJECT: "Rejected",
    DecisionKind.RECYCLE: "Recycled",
    DecisionKind.DISQUALIFY: "Disqualified",
}


def _stream(request: HttpRequest, slug: str, *, manage: bool = False) -> ValueStream:
    stream = get_object_or_404(streams_visible_to(request.user).select_related("team"), slug=slug)
    if manage and not may_manage(request.user, stream):
        raise PermissionDenied(
            "Only the team's managers set up the waterfall, its reasons and limits."
        )
    return stream


# --- Setup -------------------------------------------------------------------------------------


def _handoff_initial(stream: ValueStream, preset: str | None) -> tuple[str, list[dict], dict]:
    """The preset, the hand-off rows and the waterfall's fields the setup form starts with:
    the saved waterfall, or a preset's names (keeping the steps of saved hand-offs whose
    offered stage has the same name)."""
    waterfall = waterfall_of(stream)
    saved = handoffs_of(stream)
    if preset is None and waterfall is not None:
        rows = [
            {
                "step": h.step_id,
                "offered_stage": h.offered_stage,
                "accepted_stage": h.accepted_stage,
                "giver": h.giver,
                "receiver": h.receiver,
                "sla": h.sla_minutes,
                "escalate": h.escalate_minutes,
                "pull": h.pull,
            }
            for h in saved
        ]
        return (
            waterfall.preset,
            rows,
            {
                "preset": waterfall.preset,
                "inquiry_stage": waterfall.inquiry_stage,
                "won_stage": waterfall.won_stage,
                "recycle_step": waterfall.recycle_step_id,
            },
        )
    preset = preset or WaterfallPreset.SIRIUS_2006
    chosen = PRESETS[preset]
    by_stage = {h.offered_stage.lower(): h for h in saved}
    rows = []
    for spec in chosen.handoffs:
        old = by_stage.get(spec.offered_stage.lower())
        rows.append(
            {
                "step": old.step_id if old else None,
                "offered_stage": spec.offered_stage,
                "accepted_stage": spec.accepted_stage,
                "giver": spec.giver,
                "receiver": spec.receiver,
                "sla": old.sla_minutes if old else None,
                "escalate": old.escalate_minutes if old else None,
                "pull": spec.pull,
            }
        )
    return (
        preset,
        rows,
        {
            "preset": preset,
            "inquiry_stage": chosen.inquiry_stage,
            "won_stage": chosen.won_stage,
            "recycle_step": waterfall.recycle_step_id if waterfall else None,
        },
    )


def _setup_page(request: HttpRequest, stream: ValueStream, status: int = 200, **forms):
    preset_arg = request.GET.get("preset")
    preset_arg = preset_arg if preset_arg in WaterfallPreset.values else None
    preset, rows, initial = _handoff_initial(stream, preset_arg)
    form = forms.get("form") or WaterfallForm(stream=stream, initial=initial)
    # The team's own stages start with three empty rows, a saved or preset waterfall with one.
    spare = HandoffFormSet if rows else HANDOFF_ROWS_EMPTY
    formset = forms.get("formset") or spare(stream=stream, prefix="handoff", initial=rows)
    waterfall = waterfall_of(stream)
    reasons = list(reasons_of(stream, active=False).order_by("kind", "position", "id"))
    lists = []
    bound = forms.get("reason_add")
    # A refused new reason is shown in its list (in the first list when its kind is unknown).
    bound_kind = bound["kind"].value() if bound is not None else None
    if bound is not None and bound_kind not in ReasonKind.values:
        bound_kind = ReasonKind.REJECT
    for kind, label in ReasonKind.choices:
        add = bound if bound_kind == kind else None
        rename = forms.get("reason_rename")  # (reason id, bound form)
        lists.append(
            {
                "kind": kind,
                "label": label,
                "active": [
                    {
                        "reason": r,
                        "form": rename[1]
                        if rename and rename[0] == r.pk
                        else ReasonRenameForm(
                            initial={"label": r.label}, auto_id=f"id_reason{r.pk}_%s"
                        ),
                    }
                    for r in reasons
                    if r.kind == kind and r.retired_at is None
                ],
                "retired": [r for r in reasons if r.kind == kind and r.retired_at is not None],
                "add": add or ReasonAddForm(initial={"kind": kind}, auto_id=f"id_add_{kind}_%s"),
            }
        )
    loads = {load.user_id: load for load in seller_load(stream)}
    bound_limit = forms.get("seller_limit")  # (user id, bound form)
    sellers = []
    for member in deal_owner_choices({stream.team_id}).filter(is_active=True):
        load = loads.get(member.pk)
        sellers.append(
            {
                "user": member,
                "load": load,
                "form": bound_limit[1]
                if bound_limit and bound_limit[0] == member.pk
                else SellerLimitForm(
                    members=deal_owner_choices({stream.team_id}),
                    initial={"seller": member.pk, "wip_limit": load.limit if load else None},
                    auto_id=f"id_seller{member.pk}_%s",
                ),
            }
        )
    pull = next((h for h in handoffs_of(stream) if h.pull), None)
    step_form = forms.get("step_limit")
    if pull is not None and step_form is None:
        current = StepWipLimit.objects.filter(step=pull.step).first()
        step_form = StepLimitForm(
            stream=stream,
            initial={"step": pull.step_id, "wip_limit": current.wip_limit if current else None},
            auto_id="id_steplimit_%s",
        )
    return render(
        request,
        "funnel/leads/setup.html",
        {
            "stream": stream,
            "waterfall": waterfall,
            "preset": preset,
            "preset_loaded": preset_arg is not None,
            "pick_form": PresetPickForm(initial={"preset": preset}),
            "presets": [(value, label, PRESETS[value]) for value, label in WaterfallPreset.choices],
            "form": form,
            "formset": formset,
            "conversion": CONVERSION_TEXT,
            "stages": stages_of(stream),
            "saved_handoffs": [
                {"handoff": h, "sla": format_working(h.sla_minutes)} for h in handoffs_of(stream)
            ],
            "reason_lists": lists,
            "sellers": sellers,
            "pull": pull,
            "step_form": step_form if pull is not None else None,
        },
        status=status,
    )


def _save_waterfall(request: HttpRequest, stream: ValueStream, form, formset) -> bool:
    if not (form.is_valid() and formset.is_valid()):
        return False
    rows = [(i, f) for i, f in enumerate(formset.forms) if not f.blank]
    specs = [
        HandoffSpec(
            step=f.cleaned_data["step"],
            offered_stage=f.cleaned_data["offered_stage"],
            accepted_stage=f.cleaned_data["accepted_stage"],
            giver=f.cleaned_data["giver"],
            receiver=f.cleaned_data["receiver"],
            sla_minutes=f.cleaned_data["sla"],
            escalate_minutes=f.cleaned_data["escalate"],
            pull=f.cleaned_data["pull"],
        )
        for _, f in rows
    ]
    data = form.cleaned_data
    try:
        waterfall_save(
            stream=stream,
            user=request.user,
            handoffs=specs,
            **{name: data[name] for name in WATERFALL_TERMS},
        )
    except ValidationError as exc:
        for key, reasons in exc.message_dict.items():
            match = _HANDOFF_KEY.match(key)
            if match and int(match[1]) < len(rows):
                target = rows[int(match[1])][1]
                field = _HANDOFF_FIELDS.get(match[2], match[2])
                target.add_error(field if field in target.fields else None, reasons)
            elif key in form.fields:
                form.add_error(key, reasons)
            else:
                form.add_error(None, reasons)
        return False
    return True


def setup(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    if request.method != "POST":
        return _setup_page(request, stream)
    form = WaterfallForm(request.POST, stream=stream)
    formset = HandoffFormSet(request.POST, stream=stream, prefix="handoff")
    if not _save_waterfall(request, stream, form, formset):
        return _setup_page(request, stream, status=400, form=form, formset=formset)
    stages = " → ".join(stages_of(stream))
    messages.success(request, f"Waterfall saved: {stages}.")
    return redirect("leads:setup", slug=stream.slug)


def _setup_url(stream: ValueStream, anchor: str) -> str:
    return f"{reverse('leads:setup', args=[stream.slug])}#{anchor}"


def _setup_post(
    request: HttpRequest,
    stream: ValueStream,
    form,
    call: Callable[[dict], object],
    *,
    shown_as: dict,
    done: Callable[[dict, object], str],
    anchor: str,
) -> HttpResponse:
    """One small form of the setup page: its service call, then a message and back to its
    section; refused, the page again with the form (``shown_as``: how the page takes it)
    showing the reason next to its field (400)."""
    saved, result = form_submit(form, call)
    if not saved:
        return _setup_page(request, stream, status=400, **shown_as)
    messages.success(request, done(form.cleaned_data, result))
    return redirect(_setup_url(stream, anchor))


@require_POST
def reason_add(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    kind = request.POST.get("kind", "")
    kind = kind if kind in ReasonKind.values else ReasonKind.REJECT
    form = ReasonAddForm(request.POST, auto_id=f"id_add_{kind}_%s")
    return _setup_post(
        request,
        stream,
        form,
        lambda data: reason_create(
            stream=stream, user=request.user, kind=data["kind"], label=data["label"]
        ),
        shown_as={"reason_add": form},
        done=lambda _, reason: f"Added “{reason.label}” to the {reason.kind} reasons.",
        anchor=f"reasons-{kind}",
    )


def _reason(stream: ValueStream, pk: int) -> HandoffReason:
    return get_object_or_404(HandoffReason, stream=stream, pk=pk)


@require_POST
def reason_rename(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    reason = _reason(stream, pk)
    old = reason.label
    form = ReasonRenameForm(request.POST, auto_id=f"id_reason{reason.pk}_%s")
    return _setup_post(
        request,
        stream,
        form,
        lambda data: reason_update(reason=reason, user=request.user, label=data["label"]),
        shown_as={"reason_rename": (reason.pk, form)},
        done=lambda _, new: f"Renamed “{old}” to “{new.label}”.",
        anchor=f"reasons-{reason.kind}",
    )


@require_POST
def reason_retire_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    reason = _reason(stream, pk)
    return button_post(
        request,
        lambda: reason_retire(reason=reason, user=request.user),
        f"Retired “{reason.label}”; the decisions that gave it keep it.",
        redirect(_setup_url(stream, f"reasons-{reason.kind}")),
    )


def _limit_saved(data: dict, _) -> str:
    seller, limit = data["seller"], data["wip_limit"]
    name = seller.get_full_name() or seller.get_username()
    if limit is None:
        return f"{name} has no WIP limit now and cannot pull leads."
    return f"{name} may own {limit} open deals."


@require_POST
def seller_limit(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    members = deal_owner_choices({stream.team_id})
    seller_id = parse_id(request.POST.get("seller"))
    if seller_id is None or not members.filter(pk=seller_id).exists():
        messages.error(request, "Choose a rep or manager of the team.")
        return redirect(_setup_url(stream, "limits"))
    form = SellerLimitForm(request.POST, members=members, auto_id=f"id_seller{seller_id}_%s")
    return _setup_post(
        request,
        stream,
        form,
        lambda data: seller_limit_set(
            stream=stream, user=request.user, seller=data["seller"], wip_limit=data["wip_limit"]
        ),
        shown_as={"seller_limit": (seller_id, form)},
        done=_limit_saved,
        anchor="limits",
    )


@require_POST
def step_limit(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug, manage=True)
    form = StepLimitForm(request.POST, stream=stream, auto_id="id_steplimit_%s")
    return _setup_post(
        request,
        stream,
        form,
        lambda data: step_wip_limit_set(
            step=data["step"], user=request.user, wip_limit=data["wip_limit"]
        ),
        shown_as={"step_limit": form},
        done=lambda data, _: (
            f"“{data['step'].name}” has no WIP limit now."
            if data["wip_limit"] is None
            else f"“{data['step'].name}” holds at most {data['wip_limit']} pulled leads."
        ),
        anchor="limits",
    )


# --- The hand-off board ------------------------------------------------------------------------


def _after_param(request: HttpRequest) -> int | None:
    return parse_id(request.GET.get("after"))


def _board_page(
    request: HttpRequest,
    stream: ValueStream,
    status: int = 200,
    *,
    failed: int | None = None,
    decision_form: DecisionForm | None = None,
    problem: str = "",
) -> HttpResponse:
    user = request.user
    handoffs = handoffs_of(stream)
    chosen = parse_id(request.GET.get("handoff") or request.POST.get("back"))
    if chosen not in {h.pk for h in handoffs}:
        chosen = None
    # A page of BOARD_ROWS, oldest first, the next ones after the last shown (``after``); the
    # oldest BOARD_LIMIT at once when asked for all.
    everything = request.GET.get("rows") == "all"
    after = None if everything else _after_param(request)
    page = handoff_board(
        stream,
        limit=BOARD_LIMIT if everything else BOARD_ROWS,
        handoff_id=chosen,
        after=cursor_of(stream, after),
        handoffs=handoffs,
    )
    if failed is not None and not any(r.visit_id == failed for r in page.rows):
        # A refused decision on a row of a later page: the page starting at that row, so its
        # form shows again with the reason.
        at = cursor_of(stream, failed)
        if at is not None:
            after = failed
            page = handoff_board(
                stream,
                limit=BOARD_ROWS,
                handoff_id=chosen,
                after=(at[0], at[1] - 1),
                handoffs=handoffs,
            )
    counts = page.counts
    rows = arrival_items(page.rows, stream, failed)
    waterfall = waterfall_of(stream)
    rights = rights_of(user, stream)
    deciding, managing = rights.decide, rights.manage
    recycle_on = bool(waterfall and waterfall.recycle_step_id)
    csrf_input = csrf_field(request)
    turn_downs = (
        turn_down_forms(stream, recycle_on, managing, csrf_input=csrf_input, chosen=chosen)
        if deciding
        else []
    )
    queue_url = reverse("leads:queue", args=[stream.slug])
    for item in rows:
        if not item["failed"]:
            if turn_downs:
                item["turn_downs"] = turn_down_form_html(turn_downs, item)
            item["html"] = board_row_html(
                item,
                queue_url=queue_url,
                can_decide=deciding,
                can_pull=rights.pull,
                can_decide_pull=deciding and managing,
                chosen=chosen,
                csrf_input=csrf_input,
            )
    return render(
        request,
        "funnel/leads/board.html",
        {
            "stream": stream,
            "waterfall": waterfall,
            "handoffs": [{"handoff": h, "n": counts.get(h.pk, 0)} for h in handoffs],
            "chosen": chosen,
            "rows": rows,
            "total_all": sum(counts.values()),
            "waiting": page.total,
            "paged": after is not None,
            "more": page.more and not everything,
            "next_after": page.rows[-1].visit_id if page.rows else None,
            "cut": page.more and not everything and after is None,
            "read_all": min(page.total, BOARD_LIMIT),
            "breached": sum(1 for r in page.rows if r.breached),
            "can_decide": deciding,
            "can_decide_pull": deciding and managing,
            "can_pull": rights.pull,
            "can_manage": managing,
            "turn_downs": turn_downs,
            "csrf_input": csrf_input,
            "recycle_on": recycle_on,
            "failed": failed,
            "failed_shown": failed is not None and any(r.visit_id == failed for r in page.rows),
            "failed_kind": decision_form.data.get("kind", "") if decision_form else "",
            "failed_note": decision_form.data.get("note", "") if decision_form else "",
            "failed_errors": [
                message for errors in decision_form.errors.values() for message in errors
            ]
            if decision_form
            else [],
            "problem": problem,
            "undo": board_undo_offer(request),
        },
        status=status,
    )


def board(request: HttpRequest, slug: str) -> HttpResponse:
    return _board_page(request, _stream(request, slug))


def _back_to_board(stream: ValueStream, request: HttpRequest) -> str:
    url = reverse("leads:board", args=[stream.slug])
    back = parse_id(request.POST.get("back"))
    return f"{url}?handoff={back}" if back else url


@require_POST
def decide(request: HttpRequest, slug: str, visit_id: int) -> HttpResponse:
    """One decision on one arrival. Disqualifying closes the case: the first post answers
    with a page naming the lead and asking to confirm (a dialog asks on the board when
    JavaScript runs, and sends the form confirmed)."""
    stream = _stream(request, slug)
    if not may_decide(request.user, stream):
        raise PermissionDenied("Only the team's reps and managers decide on hand-offs.")
    visit = get_object_or_404(
        Visit.objects.select_related("deal", "step"), pk=visit_id, deal__stream=stream
    )
    deal = visit.deal
    form = DecisionForm(request.POST, stream=stream)
    if not form.is_valid():
        return _board_page(
            request, stream, 400, failed=visit.pk, decision_form=form, problem=deal.name
        )
    data = form.cleaned_data
    if (
        data["kind"] == DecisionKind.DISQUALIFY
        and data["reason"] is not None
        and not data["confirmed"]
    ):
        return render(
            request,
            "funnel/leads/disqualify_confirm.html",
            {
                "stream": stream,
                "deal": deal,
                "visit": visit,
                "data": data,
                "back": parse_id(request.POST.get("back")),
            },
        )
    try:
        decision = handoff_decide(
            visit=visit,
            kind=data["kind"],
            user=request.user,
            reason=data["reason"],
            note=data["note"],
        )
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _board_page(
            request, stream, 400, failed=visit.pk, decision_form=form, problem=deal.name
        )
    messages.success(request, _decided_text(data, deal, visit))
    request.session[UNDO_SESSION_KEY] = decision.pk
    return redirect(_back_to_board(stream, request))


def _decided_text(data: dict, deal, visit: Visit) -> str:
    kind, reason = data["kind"], data["reason"]
    text = f"{_DONE[kind]} “{deal.name}”"
    if reason is not None:
        text += f" ({reason.label})"
    now = Visit.objects.filter(deal=deal, exited_at__isnull=True).select_related("step").first()
    if kind == DecisionKind.ACCEPT:
        handoff = visit.step.handoff
        return text + (f": it is {handoff.accepted_stage} now." if handoff.accepted_stage else ".")
    if kind == DecisionKind.DISQUALIFY:
        return text + ": the case is closed as lost. A manager can reopen it from its page."
    return text + (f": it is back at {now.step.name}." if now else ".")


# --- The ready-for-sales queue -----------------------------------------------------------------


def _queue_page(
    request: HttpRequest, stream: ValueStream, status: int = 200, problem: str = ""
) -> HttpResponse:
    user = request.user
    by_probability = request.GET.get("order") == "probability"
    # A page of QUEUE_ROWS: oldest first the ones after the last shown (``after``); by
    # probability the ones from position ``start`` of the whole ordered queue.
    after = None if by_probability else _after_param(request)
    start = max(0, min(parse_id(request.GET.get("start")) or 0, 10**6)) if by_probability else 0
    handoffs = handoffs_of(stream)
    page = ready_queue(
        stream,
        limit=QUEUE_ROWS,
        by_probability=by_probability,
        after=cursor_of(stream, after),
        start=start,
        handoffs=handoffs,
    )
    loads = seller_load(stream)
    mine = next((load for load in loads if load.user_id == user.pk), None)
    pull = next((h for h in handoffs if h.pull), None)
    step_cap = StepWipLimit.objects.filter(step=pull.step).first() if pull else None
    rights = rights_of(user, stream, sellers={load.user_id for load in loads})
    managing, deciding = rights.manage, rights.decide
    # Without a computed lab view the queue is oldest first whatever was asked.
    by_probability = page.by_probability
    scored = by_probability or any(r.win_probability is not None for r in page.rows)
    csrf_input = csrf_field(request)
    rows = arrival_items(page.rows, stream)
    pull_url = reverse("leads:pull", args=[stream.slug])
    for item in rows:
        item["html"] = queue_row_html(
            item,
            pull_url=pull_url,
            any_probability=scored,
            can_pull=rights.pull,
            csrf_input=csrf_input,
        )
    return render(
        request,
        "funnel/leads/queue.html",
        {
            "stream": stream,
            "waterfall": waterfall_of(stream),
            "pull": pull,
            "rows": rows,
            "total": page.total,
            "any_probability": scored,
            "by_probability": by_probability,
            "paged": after is not None or start > 0,
            "more": page.more,
            "next_after": page.rows[-1].visit_id if page.rows else None,
            "next_start": start + QUEUE_ROWS,
            "first_shown": start + 1,
            "last_shown": start + len(page.rows),
            "loads": loads,
            "mine": mine,
            "can_pull": rights.pull,
            "can_decide": deciding,
            "can_manage": managing,
            # Every seller's load for managers and leadership; a rep sees their own.
            "show_sellers": managing or not deciding,
            "step_cap": step_cap,
            "csrf_input": csrf_input,
            "problem": problem,
        },
        status=status,
    )


def queue(request: HttpRequest, slug: str) -> HttpResponse:
    return _queue_page(request, _stream(request, slug))


@require_POST
def pull(request: HttpRequest, slug: str) -> HttpResponse:
    """Pull the next lead (no ``visit``) or the given one; the seller becomes its owner and
    goes to its page. A refusal is the service's message above the queue (status 400)."""
    stream = _stream(request, slug)
    if not may_decide(request.user, stream):
        raise PermissionDenied("Only the team's sellers pull leads.")
    visit = None
    raw = request.POST.get("visit", "")
    if raw:
        visit_id = parse_id(raw)
        visit = (
            Visit.objects.select_related("deal").filter(pk=visit_id, deal__stream=stream).first()
            if visit_id
            else None
        )
        if visit is None:
            return _queue_page(
                request, stream, 400, problem="That lead is not in this stream's queue."
            )
    try:
        decision = lead_pull(stream=stream, user=request.user, visit=visit)
    except ValidationError as exc:
        return _queue_page(request, stream, 400, problem=" ".join(exc.messages))
    deal = decision.deal
    messages.success(request, f"You pulled “{deal.name}”: it is yours now.")
    return redirect("funnel:deal_detail", pk=deal.pk)
