"""The writes of leads (funnel/leads/services.py): each decision's effect on the visits and the
case, the response time in working time, the waterfall, reasons and limits, and every refusal
of bad input (docs/leads.md)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from funnel.leads.models import (
    MAX_SLA_MINUTES,
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    SellerLimit,
    Side,
)
from funnel.leads.services import LeadTaken, handoff_decide, lead_pull
from funnel.leads.setup import (
    HandoffSpec,
    reason_create,
    reason_retire,
    reason_update,
    seller_limit_set,
    step_wip_limit_set,
    waterfall_save,
)
from funnel.models import Deal, DealStatus, Visit
from tests.factories import make_stream
from tests.funnel.leads.conftest import at, lead

pytestmark = pytest.mark.django_db


def path_of(visit: Visit) -> list[tuple[str, str | None]]:
    return [
        (v.step.name, v.exited_at and v.exited_at.isoformat())
        for v in Visit.objects.filter(deal=visit.deal_id).order_by("entered_at", "id")
    ]


def messages(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


# --- Decisions --------------------------------------------------------------------------------


def test_accept_keeps_the_visit_and_records_the_response(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    decision = handoff_decide(
        visit=visit, kind="accept", user=leads.sdr, at=at("2026-06-09T09:45Z")
    )
    assert decision.kind == DecisionKind.ACCEPT and decision.handoff == leads.mql
    assert decision.response_seconds == 45 * 60
    assert decision.response_w is None  # the team has no calendar
    visit.refresh_from_db()
    assert visit.exited_at is None  # the lead stays at MQL, now accepted (SAL)
    assert decision.actor == leads.sdr and decision.reason is None


def test_reject_sends_the_lead_back_to_the_step_it_came_from(leads):
    visit = lead(
        leads,
        ("Capture", "2026-06-09T08:00Z"),
        ("Qualify", "2026-06-09T08:30Z"),
        ("MQL", "2026-06-09T09:00Z"),
    )
    handoff_decide(
        visit=visit,
        kind="reject",
        user=leads.sdr,
        reason=leads.reject_reason,
        note="No phone number",
        at=at("2026-06-09T10:00Z"),
    )
    assert path_of(visit) == [
        ("Capture", "2026-06-09T08:30:00+00:00"),
        ("Qualify", "2026-06-09T09:00:00+00:00"),
        ("MQL", "2026-06-09T10:00:00+00:00"),
        ("Qualify", None),  # back where it came from: a re-entry
    ]
    decision = HandoffDecision.objects.get(visit=visit)
    assert (decision.kind, decision.reason, decision.note) == (
        "reject",
        leads.reject_reason,
        "No phone number",
    )
    assert Visit.objects.get(deal=visit.deal_id, exited_at__isnull=True).reentry is True


def test_recycle_sends_the_lead_to_the_nurture_step(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    handoff_decide(
        visit=visit,
        kind="recycle",
        user=leads.sdr,
        reason=leads.recycle_reason,
        at=at("2026-06-09T11:00Z"),
    )
    assert path_of(visit)[-2:] == [("MQL", "2026-06-09T11:00:00+00:00"), ("Nurture", None)]
    assert Deal.objects.get(pk=visit.deal_id).status == DealStatus.OPEN


def test_disqualify_closes_the_case_as_lost_with_the_reason_label(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    handoff_decide(
        visit=visit,
        kind="disqualify",
        user=leads.manager,
        reason=leads.disqualify_reason,
        at=at("2026-06-09T12:00Z"),
    )
    deal = Deal.objects.get(pk=visit.deal_id)
    assert (deal.status, deal.lost_reason, deal.closed_at) == (
        DealStatus.LOST,
        leads.disqualify_reason.label,
        at("2026-06-09T12:00Z"),
    )
    assert path_of(visit)[-1] == ("MQL", "2026-06-09T12:00:00+00:00")


@pytest.mark.parametrize(
    ("arrived", "decided", "elapsed_h", "working_h"),
    [
        # A night: Tue 9 Jun 16:00 CEST → Wed 10 Jun 10:00; 16:00–17:30 and 09:00–10:00.
        ("2026-06-09T16:00+02:00", "2026-06-10T10:00+02:00", 18, 2.5),
        # A weekend: Fri 12 Jun 17:00 → Mon 15 Jun 09:30; 17:00–17:30 and 09:00–09:30.
        ("2026-06-12T17:00+02:00", "2026-06-15T09:30+02:00", 64.5, 1),
        # Ascension Day, Thu 14 May 2026, a public holiday in Germany: Wed 17:00 → Fri
        # 10:00; 17:00–17:30 on Wednesday, nothing on Thursday, 09:00–10:00 on Friday.
        ("2026-05-13T17:00+02:00", "2026-05-15T10:00+02:00", 41, 1.5),
    ],
)
def test_the_response_is_counted_in_working_time(
    leads_office, arrived, decided, elapsed_h, working_h
):
    ns = leads_office
    visit = lead(ns, ("Capture", "2026-05-01T08:00Z"), ("MQL", arrived))
    decision = handoff_decide(visit=visit, kind="accept", user=ns.sdr, at=at(decided))
    assert decision.response_seconds == elapsed_h * 3600
    assert decision.response_w == working_h * 3600


def test_a_lead_is_decided_once(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    handoff_decide(visit=visit, kind="accept", user=leads.sdr, at=at("2026-06-09T09:30Z"))
    with pytest.raises(LeadTaken) as exc:
        handoff_decide(visit=visit, kind="accept", user=leads.manager)
    assert messages(exc) == {"visit": [f"sdr accepted this lead at {_when('2026-06-09T09:30Z')}."]}


def _when(text: str) -> str:
    from streams.times import when_text

    return when_text(at(text))


# --- Bad input of decisions -------------------------------------------------------------------


def test_accepting_a_lead_that_is_not_at_a_hand_off_is_refused(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    assert messages(exc) == {"visit": ["The lead is at “Capture”, which is not a hand-off."]}
    assert not HandoffDecision.objects.exists()


def test_a_lead_that_left_the_hand_off_is_refused(leads):
    visit = lead(
        leads,
        ("Capture", "2026-06-09T08:00Z"),
        ("MQL", "2026-06-09T09:00Z"),
        ("Qualify", "2026-06-09T10:00Z"),
    )
    old = Visit.objects.get(deal=visit.deal_id, step__name="MQL")
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=old, kind="accept", user=leads.sdr)
    assert "The lead left “MQL”" in messages(exc)["visit"][0]


@pytest.mark.parametrize("kind", ["reject", "recycle", "disqualify"])
def test_turning_a_lead_down_needs_a_reason(leads, kind):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind=kind, user=leads.sdr)
    assert messages(exc) == {"reason": [f"Give a reason from the {kind} list to {kind} a lead."]}
    assert path_of(visit)[-1] == ("MQL", None) and not HandoffDecision.objects.exists()


def test_a_reason_of_the_wrong_kind_is_refused(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="reject", user=leads.sdr, reason=leads.recycle_reason)
    label = leads.recycle_reason.label
    assert messages(exc) == {
        "reason": [f"“{label}” is a recycle reason; reject takes one from the reject list."]
    }


def test_a_retired_reason_is_refused_and_nothing_is_written(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    reason_retire(reason=leads.disqualify_reason, user=leads.manager)
    with pytest.raises(ValidationError) as exc:
        handoff_decide(
            visit=visit, kind="disqualify", user=leads.sdr, reason=leads.disqualify_reason
        )
    assert "is retired" in messages(exc)["reason"][0]
    assert Deal.objects.get(pk=visit.deal_id).status == DealStatus.OPEN
    assert not HandoffDecision.objects.exists()


def test_a_reason_of_another_stream_and_an_accept_with_a_reason_are_refused(leads):
    other = HandoffReason.objects.create(
        stream=make_stream(leads.team, name="Other"), kind="reject", label="Elsewhere"
    )
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="reject", user=leads.sdr, reason=other)
    assert messages(exc) == {"reason": ["That reason belongs to another stream."]}
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="accept", user=leads.sdr, reason=leads.reject_reason)
    assert messages(exc) == {"reason": ["Accepting takes no reason."]}


def test_bad_kind_time_and_note_are_each_named(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="maybe", user=leads.sdr, at=at("2026-06-09T08:59Z"))
    errors = messages(exc)
    assert set(errors) == {"kind", "at"}
    assert "arrived at" in errors["at"][0]
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="accept", user=leads.sdr, note="x" * 501)
    assert messages(exc) == {"note": ["A note has at most 500 characters."]}


def test_recycling_without_a_nurture_step_is_refused(leads):
    leads.waterfall.recycle_step = None
    leads.waterfall.save()
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="recycle", user=leads.sdr, reason=leads.recycle_reason)
    assert messages(exc) == {"kind": ["Recycling is off: the waterfall has no nurture step."]}


def test_rejecting_a_lead_that_started_at_the_hand_off_is_refused(leads):
    visit = lead(leads, ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        handoff_decide(visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason)
    assert "no step to send it back to" in messages(exc)["kind"][0]


def test_who_may_decide(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    for user in (leads.leader, leads.outsider):
        with pytest.raises(PermissionDenied):
            handoff_decide(visit=visit, kind="accept", user=user)
    queued = lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    with pytest.raises(PermissionDenied):  # reps pull at the pull hand-off
        handoff_decide(visit=queued, kind="reject", user=leads.sdr, reason=leads.reject_reason)
    with pytest.raises(ValidationError) as exc:  # a manager too pulls to accept
        handoff_decide(visit=queued, kind="accept", user=leads.manager)
    assert "pulling" in messages(exc)["kind"][0]
    handoff_decide(visit=queued, kind="reject", user=leads.manager, reason=leads.reject_reason)
    assert path_of(queued)[-1] == ("Qualify", None)


# --- Pull -------------------------------------------------------------------------------------


def test_a_pull_takes_the_oldest_lead_and_makes_the_seller_its_owner(leads):
    younger = lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T10:00Z"))
    older = lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    decision = lead_pull(stream=leads.stream, user=leads.seller1)
    assert decision.visit_id == older.pk and decision.kind == DecisionKind.ACCEPT
    assert decision.handoff == leads.sql and decision.actor == leads.seller1
    assert Deal.objects.get(pk=older.deal_id).owner == leads.seller1
    second = lead_pull(stream=leads.stream, user=leads.seller1, visit=younger)
    assert second.visit_id == younger.pk
    assert Visit.objects.get(pk=younger.pk).exited_at is None


def test_a_pull_over_the_limit_says_the_count_and_the_limit(leads):
    for n in range(3):
        lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", f"2026-06-09T09:0{n}Z"))
    lead_pull(stream=leads.stream, user=leads.seller1)
    lead_pull(stream=leads.stream, user=leads.seller1)
    with pytest.raises(ValidationError) as exc:
        lead_pull(stream=leads.stream, user=leads.seller1)
    assert messages(exc) == {
        "seller": [
            "seller1 owns 2 open deals and the limit is 2: finish one before pulling another."
        ]
    }
    assert HandoffDecision.objects.count() == 2


def test_a_lead_another_seller_pulled_is_refused_naming_who(leads):
    visit = lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    first = lead_pull(stream=leads.stream, user=leads.seller1, visit=visit)
    with pytest.raises(LeadTaken) as exc:
        lead_pull(stream=leads.stream, user=leads.seller2, visit=visit)
    assert messages(exc) == {
        "visit": [f"seller1 pulled this lead at {_when_dt(first.decided_at)}."]
    }
    assert Deal.objects.get(pk=visit.deal_id).owner == leads.seller1


def _when_dt(moment) -> str:
    from streams.times import when_text

    return when_text(moment)


def test_pull_refusals(leads):
    mql = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    with pytest.raises(ValidationError) as exc:
        lead_pull(stream=leads.stream, user=leads.seller1, visit=mql)
    assert "not at the ready-for-sales queue" in messages(exc)["visit"][0]
    with pytest.raises(ValidationError) as exc:
        lead_pull(stream=leads.stream, user=leads.seller1)
    assert messages(exc) == {"visit": ["The ready-for-sales queue is empty."]}
    with pytest.raises(ValidationError) as exc:
        lead_pull(stream=leads.stream, user=leads.sdr)
    assert "has no WIP limit" in messages(exc)["seller"][0]
    with pytest.raises(PermissionDenied):
        lead_pull(stream=leads.stream, user=leads.leader)


def test_a_pull_over_the_steps_wip_limit_is_refused(leads):
    for n in range(2):
        lead(leads, ("Qualify", "2026-06-09T08:00Z"), ("SQL", f"2026-06-09T09:0{n}Z"))
    step_wip_limit_set(step=leads.steps["SQL"], user=leads.manager, wip_limit=1)
    lead_pull(stream=leads.stream, user=leads.seller1)
    with pytest.raises(ValidationError) as exc:
        lead_pull(stream=leads.stream, user=leads.seller2)
    assert messages(exc) == {
        "step": [
            "“SQL” holds 1 pulled leads and its limit is 1: move one on before pulling another."
        ]
    }


# --- Waterfall, reasons, limits ---------------------------------------------------------------


def _specs(ns, **changes):
    specs = [
        HandoffSpec(ns.steps["MQL"], "MQL", Side.MARKETING, Side.SDR, "SAL", 60, 240),
        HandoffSpec(ns.steps["SQL"], "SQL", Side.SDR, Side.SALES, "Opportunity", 120, pull=True),
    ]
    return specs


def _save(ns, handoffs, **kwargs):
    return waterfall_save(
        stream=ns.stream,
        user=kwargs.pop("user", ns.manager),
        preset=kwargs.pop("preset", "sirius_2006"),
        inquiry_stage=kwargs.pop("inquiry_stage", "Inquiry"),
        won_stage=kwargs.pop("won_stage", "Won"),
        recycle_step=kwargs.pop("recycle_step", ns.steps["Nurture"]),
        handoffs=handoffs,
    )


def test_saving_updates_hand_offs_in_place_by_step(leads):
    ids = {h.step_id: h.pk for h in Handoff.objects.filter(stream=leads.stream)}
    specs = _specs(leads)
    specs[0] = HandoffSpec(leads.steps["MQL"], "MQL*", Side.MARKETING, Side.SDR, "SAL", 30, None)
    specs.insert(0, HandoffSpec(leads.steps["Qualify"], "AQL", Side.MARKETING, Side.SDR, "TQL"))
    _save(leads, specs, preset="custom")
    after = list(Handoff.objects.filter(stream=leads.stream).order_by("position"))
    assert [(h.step.name, h.offered_stage, h.position) for h in after] == [
        ("MQL", "MQL*", 0),
        ("Qualify", "AQL", 1),
        ("SQL", "SQL", 2),
    ]
    assert after[0].pk == ids[leads.steps["MQL"].pk] and after[0].sla_minutes == 30
    assert after[2].pk == ids[leads.steps["SQL"].pk] and after[2].pull


def test_a_hand_off_with_decisions_cannot_be_removed(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    handoff_decide(visit=visit, kind="accept", user=leads.sdr, at=at("2026-06-09T09:30Z"))
    with pytest.raises(ValidationError) as exc:
        _save(leads, _specs(leads)[1:])
    assert messages(exc)["handoffs"] == [
        "These hand-offs have decisions and cannot be removed: MQL at “MQL” (1 decisions). "
        "Keep them (their step and history stay); change their names or SLA instead."
    ]
    assert Handoff.objects.filter(stream=leads.stream).count() == 2
    _save(leads, _specs(leads)[:1])  # the pull hand-off has no decisions: it goes
    assert list(
        Handoff.objects.filter(stream=leads.stream).values_list("offered_stage", flat=True)
    ) == ["MQL"]


def test_moving_the_ready_for_sales_hand_off_has_the_streams_figures_computed_again(leads):
    # The win rate of the deals past it counts from its step (docs/metrics.md §3).
    with mock.patch("funnel.leads.setup.metrics_changed") as changed:
        _save(leads, _specs(leads))  # the same pull step: nothing to recompute
        assert changed.call_count == 0
        _save(leads, _specs(leads)[:1])  # no pull hand-off any more
        changed.assert_called_once_with(stream_id=leads.stream.pk)


@pytest.mark.parametrize(
    ("sla", "escalate", "field", "words"),
    [
        (-5, None, "sla_minutes", "above 0"),
        (0, None, "sla_minutes", "above 0"),
        (MAX_SLA_MINUTES + 1, None, "sla_minutes", "check the unit"),
        (60, 60, "escalate_minutes", "more than 60 minutes, not 60"),
        (60, 30, "escalate_minutes", "more than 60 minutes, not 30"),
        (None, 30, "escalate_minutes", "needs an SLA"),
        (60, MAX_SLA_MINUTES + 1, "escalate_minutes", "check the unit"),
    ],
)
def test_a_bad_sla_is_refused_naming_the_hand_off_and_field(leads, sla, escalate, field, words):
    specs = _specs(leads)
    specs[1] = HandoffSpec(
        leads.steps["SQL"], "SQL", Side.SDR, Side.SALES, "Opportunity", sla, escalate, pull=True
    )
    with pytest.raises(ValidationError) as exc:
        _save(leads, specs)
    errors = messages(exc)
    assert list(errors) == [f"handoffs.1.{field}"] and words in errors[f"handoffs.1.{field}"][0]
    assert leads.stream.handoffs.get(pull=True).sla_minutes == 120  # nothing changed


def test_other_waterfall_input_is_refused(leads):
    specs = _specs(leads)
    specs.append(HandoffSpec(leads.steps["Discovery"], "", "boss", Side.SALES, pull=True))
    with pytest.raises(ValidationError) as exc:
        _save(leads, specs, preset="sirius_2099", won_stage=" ", recycle_step=leads.steps["MQL"])
    assert set(messages(exc)) == {
        "preset",
        "won_stage",
        "recycle_step",
        "handoffs.2.offered_stage",
        "handoffs.2.giver",
        "handoffs.2.pull",
    }
    with pytest.raises(PermissionDenied):
        _save(leads, _specs(leads), user=leads.sdr)


def test_reasons_are_retired_not_deleted_once_used(leads):
    reason = reason_create(stream=leads.stream, user=leads.manager, kind="reject", label="Bad fit")
    assert reason.position == 4  # after the four defaults
    with pytest.raises(ValidationError) as exc:
        reason_create(stream=leads.stream, user=leads.manager, kind="reject", label="bad FIT")
    assert messages(exc) == {"label": ["The reject list already has “bad FIT”."]}
    renamed = reason_update(reason=reason, user=leads.manager, label="Poor fit")
    assert renamed.pk == reason.pk  # unused: changed in place
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", "2026-06-09T09:00Z"))
    handoff_decide(visit=visit, kind="reject", user=leads.sdr, reason=renamed)
    newer = reason_update(reason=renamed, user=leads.manager, label="Not a fit")
    assert newer.pk != renamed.pk and newer.label == "Not a fit"
    renamed.refresh_from_db()
    assert renamed.retired_at is not None and renamed.label == "Poor fit"
    assert HandoffDecision.objects.get(visit=visit).reason == renamed
    reason_retire(reason=newer, user=leads.manager)
    assert HandoffReason.objects.filter(pk=newer.pk, retired_at__isnull=False).exists()
    with pytest.raises(ValidationError):
        reason_retire(reason=newer, user=leads.manager)
    with pytest.raises(ValidationError) as exc:
        reason_create(stream=leads.stream, user=leads.manager, kind="other", label="")
    assert set(messages(exc)) == {"kind", "label"}
    with pytest.raises(PermissionDenied):
        reason_create(stream=leads.stream, user=leads.leader, kind="reject", label="Late")


def test_seller_limits(leads):
    assert (
        seller_limit_set(
            stream=leads.stream, user=leads.manager, seller=leads.sdr, wip_limit=5
        ).wip_limit
        == 5
    )
    assert (
        seller_limit_set(stream=leads.stream, user=leads.manager, seller=leads.sdr, wip_limit=None)
        is None
    )
    assert not SellerLimit.objects.filter(user=leads.sdr).exists()
    for bad in (0, 501, -1, True):
        with pytest.raises(ValidationError) as exc:
            seller_limit_set(
                stream=leads.stream, user=leads.manager, seller=leads.sdr, wip_limit=bad
            )
        assert list(messages(exc)) == ["wip_limit"]
    with pytest.raises(ValidationError) as exc:
        seller_limit_set(stream=leads.stream, user=leads.manager, seller=leads.leader, wip_limit=3)
    assert list(messages(exc)) == ["seller"]
    with pytest.raises(PermissionDenied):
        seller_limit_set(stream=leads.stream, user=leads.sdr, seller=leads.sdr, wip_limit=3)


def test_the_first_waterfall_starts_with_the_default_reasons(leads):
    counts = {
        kind: HandoffReason.objects.filter(stream=leads.stream, kind=kind).count()
        for kind in ReasonKind.values
    }
    assert counts == {"reject": 4, "recycle": 4, "disqualify": 5}
