"""The leads pages: the waterfall setup, the hand-off board and the ready-for-sales queue.
Who may see and do what, the messages of refused input (status 400, next to the field), and
never a 500. The stream is the ``leads`` fixture (tests/funnel/leads/conftest.py): MQL (SLA 60
working minutes, escalation 240) and SQL (the pull hand-off, SLA 120), sellers with limits of 2,
no calendar, so ages are elapsed time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.forms import ValidationError as FormError
from django.urls import reverse
from django.utils import timezone

from funnel.leads.forms import format_working, working_minutes
from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    SellerLimit,
    Waterfall,
)
from funnel.leads.services import handoff_decide, lead_pull
from funnel.leads.views import duration_text
from funnel.models import DealStatus
from funnel.qualification.models import LabSnapshot
from streams.models import ValueStream

from .conftest import lead

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def url(ns, name, **kwargs):
    return reverse(f"leads:{name}", kwargs={"slug": ns.stream.slug, **kwargs})


def at_mql(ns, name="Acme lead", **age):
    """A lead captured and offered at MQL ``age`` ago."""
    arrived = timezone.now() - timedelta(**age)
    return lead(
        ns,
        ("Capture", (arrived - timedelta(hours=1)).isoformat()),
        ("MQL", arrived.isoformat()),
        name=name,
    )


def at_sql(ns, name="Ready lead", **age):
    arrived = timezone.now() - timedelta(**age)
    return lead(
        ns,
        ("Capture", (arrived - timedelta(hours=3)).isoformat()),
        ("MQL", (arrived - timedelta(hours=2)).isoformat()),
        ("Qualify", (arrived - timedelta(hours=1)).isoformat()),
        ("SQL", arrived.isoformat()),
        name=name,
    )


# --- Durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("4 hours", 240),
        ("4 h", 240),
        ("1.5 hours", 90),
        ("90 minutes", 90),
        ("2 days", 960),  # 2 × 8 working hours × 60
        ("5 working days", 2400),
        ("60 days", 28800),  # the most: 60 × 8 × 60
        ("  3   Hours ", 180),
        ("", None),
    ],
)
def test_a_duration_in_words_is_working_minutes_with_8_hour_days(text, minutes):
    assert working_minutes(text) == minutes


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("4", "Give the unit too"),
        ("four hours", "Write a number and a unit"),
        ("2 weeks", "“weeks” is not a unit"),
        ("61 days", "At most 60 working days (480 working hours); “61 days” is 61 days."),
        ("0 minutes", "at least 1 working minute"),
    ],
)
def test_a_bad_duration_says_why(text, says):
    with pytest.raises(FormError) as caught:
        working_minutes(text)
    assert says in " ".join(caught.value.messages)


def test_minutes_are_written_back_in_the_largest_whole_unit():
    assert [format_working(m) for m in (None, 45, 60, 90, 240, 480, 960, 500)] == [
        "",
        "45 minutes",
        "1 hour",
        "1.5 hours",
        "4 hours",
        "1 day",
        "2 days",
        "500 minutes",
    ]
    # Ages: under an hour in minutes, under two days in hours, then days (8 h when working).
    assert duration_text(45, False) == "45 min"
    assert duration_text(90, False) == "1.5 h"
    assert duration_text(120, True) == "2 working h"
    assert duration_text(3 * 24 * 60, False) == "3 days"
    assert duration_text(20 * 60, True) == "2.5 working days"  # 20 h ÷ 8 h


# --- Who may see and do what ------------------------------------------------------------------


def test_only_managers_open_the_setup_and_only_the_team_sees_the_pages(client, leads):
    client.force_login(leads.manager)
    assert client.get(url(leads, "setup")).status_code == 200
    for who in (leads.sdr, leads.seller1, leads.leader):
        client.force_login(who)
        assert client.get(url(leads, "setup")).status_code == 403
        assert client.post(url(leads, "setup"), {}).status_code == 403
        assert client.get(url(leads, "board")).status_code == 200
        assert client.get(url(leads, "queue")).status_code == 200
    client.force_login(leads.outsider)
    for name in ("setup", "board", "queue"):
        assert client.get(url(leads, name)).status_code == 404


def test_leadership_reads_the_board_and_queue_without_buttons_and_its_posts_are_refused(
    client, leads
):
    visit = at_mql(leads, minutes=10)
    ready = at_sql(leads, minutes=10)
    client.force_login(leads.leader)
    board = client.get(url(leads, "board")).content.decode()
    assert "Acme lead" in board and "You read this board" in board
    assert "decide-cell" not in board and "Disqualify" not in board
    queue = client.get(url(leads, "queue")).content.decode()
    assert "Ready lead" in queue and "Pull next lead" not in queue
    assert "You read the queue" in queue
    decided = client.post(url(leads, "decide", visit_id=visit.pk), {"kind": "accept"})
    assert decided.status_code == 403
    assert client.post(url(leads, "pull"), {"visit": ready.pk}).status_code == 403
    assert not HandoffDecision.objects.exists()


def test_the_map_links_the_pages_for_the_roles_that_use_them(client, leads):
    detail = reverse("streams:detail", args=[leads.stream.slug])
    client.force_login(leads.sdr)
    page = client.get(detail).content.decode()
    assert url(leads, "board") in page and url(leads, "queue") in page
    assert url(leads, "setup") not in page
    client.force_login(leads.manager)
    assert url(leads, "setup") in client.get(detail).content.decode()


def test_without_a_waterfall_the_board_links_the_setup_for_managers_only(client, leads):
    Handoff.objects.filter(stream=leads.stream).delete()
    Waterfall.objects.filter(stream=leads.stream).delete()
    client.force_login(leads.manager)
    board = client.get(url(leads, "board")).content.decode()
    assert "No lead waterfall yet" in board and "Set up the waterfall" in board
    queue = client.get(url(leads, "queue")).content.decode()
    assert "No ready-for-sales queue yet" in queue
    client.force_login(leads.sdr)
    board = client.get(url(leads, "board")).content.decode()
    assert "No lead waterfall yet" in board and "A manager of the team sets it up." in board
    assert "Set up the waterfall" not in board


# --- The hand-off board ----------------------------------------------------------------------


def test_the_board_lists_arrivals_oldest_first_and_marks_a_breach_in_words(client, leads):
    at_mql(leads, "Fresh lead", minutes=10)
    at_mql(leads, "Old lead", hours=3)  # SLA 60 min, escalation 240: breached by 2 h
    at_mql(leads, "Ancient lead", hours=5)  # past the escalation too
    client.force_login(leads.sdr)
    page = client.get(url(leads, "board")).content.decode()
    assert page.index("Ancient lead") < page.index("Old lead") < page.index("Fresh lead")
    assert '3 waiting</strong>, <strong class="breach-text">2 past the SLA' in page
    assert "Breached by 2 h" in page  # 3 h − 1 h
    assert "Breached by 4 h" in page
    assert page.count("Escalated to the managers") == 1
    assert "Within the SLA" in page


def test_the_board_filters_by_hand_off(client, leads):
    at_mql(leads, "At MQL", minutes=5)
    at_sql(leads, "At SQL", minutes=5)
    client.force_login(leads.manager)
    page = client.get(url(leads, "board") + f"?handoff={leads.sql.pk}").content.decode()
    assert "At SQL" in page and "At MQL" not in page
    everything = client.get(url(leads, "board") + "?handoff=x").content.decode()
    assert "At SQL" in everything and "At MQL" in everything


def test_an_sdr_accepts_with_one_post(client, leads):
    visit = at_mql(leads, minutes=30)
    client.force_login(leads.sdr)
    answer = client.post(
        url(leads, "decide", visit_id=visit.pk), {"kind": "accept", "back": leads.mql.pk}
    )
    assert answer.status_code == 302
    assert answer["Location"] == url(leads, "board") + f"?handoff={leads.mql.pk}"
    decision = HandoffDecision.objects.get(visit=visit)
    assert (decision.kind, decision.actor, decision.reason) == ("accept", leads.sdr, None)
    page = client.get(answer["Location"]).content.decode()
    assert "Accepted “Acme lead”: it is SAL now." in page
    assert "Nothing waiting at this hand-off" in page


def test_a_reason_is_required_except_to_accept_and_the_server_says_so(client, leads):
    visit = at_mql(leads, minutes=30)
    client.force_login(leads.sdr)
    for kind in ("reject", "recycle", "disqualify"):
        answer = client.post(url(leads, "decide", visit_id=visit.pk), {"kind": kind})
        assert answer.status_code == 400
        page = answer.content.decode()
        assert f"Give a reason from the {kind} list to {kind} a lead." in page
        # The message is tied to the row's reason buttons and note, and the form is open.
        error_id = f"decide-error-{visit.pk}-{kind}"
        assert f'id="{error_id}"' in page and f'aria-describedby="{error_id}"' in page
        assert "“Acme lead” was not decided" in page
    assert not HandoffDecision.objects.exists()


def test_bad_decisions_are_400_with_the_reason_never_500(client, leads):
    visit = at_mql(leads, minutes=30)
    client.force_login(leads.sdr)
    decide = url(leads, "decide", visit_id=visit.pk)
    cases = [
        ({"kind": "maybe"}, "Select a valid choice"),
        ({}, "Choose accept, reject, recycle or disqualify."),
        ({"kind": "reject", "reason": "abc"}, "Choose one of the team&#x27;s reasons."),
        ({"kind": "reject", "reason": "99999999999999999999"}, "Choose one of the team"),
        (
            {"kind": "reject", "reason": leads.recycle_reason.pk},
            f"“{leads.recycle_reason.label}” is a recycle reason.",
        ),
        ({"kind": "accept", "note": "x" * 501}, "at most 500 characters"),
        ({"kind": "accept", "reason": leads.reject_reason.pk}, "Accepting takes no reason."),
    ]
    for data, says in cases:
        answer = client.post(decide, data)
        assert answer.status_code == 400, data
        assert says in answer.content.decode(), data
    assert client.post(url(leads, "decide", visit_id=10**12), {"kind": "accept"}).status_code == 404
    assert not HandoffDecision.objects.exists()


def test_a_reject_sends_the_lead_back_with_its_reason_and_note(client, leads):
    visit = at_mql(leads, minutes=30)
    client.force_login(leads.sdr)
    answer = client.post(
        url(leads, "decide", visit_id=visit.pk),
        {"kind": "reject", "reason": leads.reject_reason.pk, "note": "No phone number"},
    )
    assert answer.status_code == 302
    decision = HandoffDecision.objects.get(visit=visit)
    assert (decision.kind, decision.reason, decision.note) == (
        "reject",
        leads.reject_reason,
        "No phone number",
    )
    deal = visit.deal
    assert deal.visits.get(exited_at__isnull=True).step == leads.steps["Capture"]
    page = client.get(answer["Location"]).content.decode()
    assert f"Rejected “Acme lead” ({leads.reject_reason.label}): it is back at Capture." in page


def test_disqualify_asks_first_naming_the_lead_then_closes_the_case(client, leads):
    visit = at_mql(leads, minutes=30)
    client.force_login(leads.sdr)
    data = {"kind": "disqualify", "reason": leads.disqualify_reason.pk, "note": "Spam"}
    asked = client.post(url(leads, "decide", visit_id=visit.pk), data)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Disqualify “Acme lead”?" in page and leads.disqualify_reason.label in page
    assert not HandoffDecision.objects.exists()
    done = client.post(url(leads, "decide", visit_id=visit.pk), {**data, "confirmed": "1"})
    assert done.status_code == 302
    deal = visit.deal
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == (DealStatus.LOST, leads.disqualify_reason.label)
    # Sent again (a double tap): the lead is no longer waiting; said, not a 500.
    again = client.post(url(leads, "decide", visit_id=visit.pk), {**data, "confirmed": "1"})
    assert again.status_code == 400
    assert "disqualified this lead" in again.content.decode()


def test_a_rep_does_not_decide_at_the_pull_hand_off_a_manager_may_turn_it_down(client, leads):
    visit = at_sql(leads, minutes=5)
    client.force_login(leads.sdr)
    board = client.get(url(leads, "board")).content.decode()
    assert "Sellers pull it from the queue." in board
    refused = client.post(
        url(leads, "decide", visit_id=visit.pk),
        {"kind": "reject", "reason": leads.reject_reason.pk},
    )
    assert refused.status_code == 403
    client.force_login(leads.manager)
    assert "Reject…" in client.get(url(leads, "board")).content.decode()
    answer = client.post(
        url(leads, "decide", visit_id=visit.pk),
        {"kind": "reject", "reason": leads.reject_reason.pk},
    )
    assert answer.status_code == 302
    assert HandoffDecision.objects.get(visit=visit).kind == DecisionKind.REJECT


# --- The ready-for-sales queue ----------------------------------------------------------------


def test_a_seller_pulls_the_next_lead_oldest_first_and_owns_it(client, leads):
    older = at_sql(leads, "Older", hours=2)
    at_sql(leads, "Newer", minutes=5)
    client.force_login(leads.seller1)
    page = client.get(url(leads, "queue")).content.decode()
    assert page.index("Older") < page.index("Newer")
    assert "<strong>0</strong> of <strong>2</strong>" in page and "room for 2 more" in page
    answer = client.post(url(leads, "pull"))
    assert answer.status_code == 302
    assert answer["Location"] == reverse("funnel:deal_detail", args=[older.deal_id])
    older.deal.refresh_from_db()
    assert older.deal.owner == leads.seller1
    assert HandoffDecision.objects.get(visit=older).kind == DecisionKind.ACCEPT
    page = client.get(url(leads, "queue")).content.decode()
    assert "<strong>1</strong> of <strong>2</strong>" in page


def test_a_refused_pull_shows_the_servers_message(client, leads):
    first = at_sql(leads, "First", hours=2)
    second = at_sql(leads, "Second", hours=1)
    third = at_sql(leads, "Third", minutes=5)
    lead_pull(stream=leads.stream, user=leads.seller2, visit=first)
    client.force_login(leads.seller1)
    taken = client.post(url(leads, "pull"), {"visit": first.pk})
    assert taken.status_code == 400
    assert "seller2 pulled this lead at" in taken.content.decode()
    for bad in ("abc", "99999999999999999999", str(10**12)):
        answer = client.post(url(leads, "pull"), {"visit": bad})
        assert answer.status_code == 400
        assert "That lead is not in this stream&#x27;s queue." in answer.content.decode()
    client.post(url(leads, "pull"), {"visit": second.pk})
    client.post(url(leads, "pull"), {"visit": third.pk})
    assert SellerLimit.objects.get(user=leads.seller1).wip_limit == 2
    full = client.post(url(leads, "pull"))
    assert full.status_code == 400  # seller1 owns Second and Third
    assert "seller1 owns 2 open deals and the limit is 2" in full.content.decode()
    client.force_login(leads.sdr)  # a rep without a limit
    page = client.get(url(leads, "queue")).content.decode()
    assert "You have no WIP limit in this stream" in page
    refused = client.post(url(leads, "pull"))
    assert refused.status_code == 400
    assert "has no WIP limit in Leads" in refused.content.decode()


def test_the_queue_says_when_nothing_waits_and_shows_managers_every_seller(client, leads):
    client.force_login(leads.manager)
    page = client.get(url(leads, "queue")).content.decode()
    assert "Nothing is ready for sales" in page
    assert "Sellers' WIP against their limits" in page and "seller2" in page
    client.force_login(leads.seller1)
    page = client.get(url(leads, "queue")).content.decode()
    assert "Sellers' WIP against their limits" not in page  # a rep sees their own


# --- Setup -------------------------------------------------------------------------------------


def _setup_post(ns, rows, **fields):
    data = {
        "preset": "sirius_2006",
        "inquiry_stage": "Inquiry",
        "won_stage": "Won",
        "recycle_step": ns.steps["Nurture"].pk,
        "handoff-TOTAL_FORMS": str(len(rows)),
        "handoff-INITIAL_FORMS": str(len(rows)),
        "handoff-MIN_NUM_FORMS": "0",
        "handoff-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, row in enumerate(rows):
        base = {"giver": "marketing", "receiver": "sdr", "accepted_stage": "", "sla": ""}
        for key, value in {**base, **row}.items():
            if value is not False:
                data[f"handoff-{i}-{key}"] = value
    return data


def test_a_manager_saves_the_waterfall_with_the_sla_in_hours_and_days(client, leads):
    client.force_login(leads.manager)
    rows = [
        {
            "step": leads.steps["MQL"].pk,
            "offered_stage": "MQL",
            "accepted_stage": "SAL",
            "sla": "4 hours",
            "escalate": "2 days",
        },
        {
            "step": leads.steps["SQL"].pk,
            "offered_stage": "SQL",
            "accepted_stage": "Opportunity",
            "giver": "sdr",
            "receiver": "sales",
            "sla": "90 minutes",
            "pull": "on",
        },
    ]
    answer = client.post(url(leads, "setup"), _setup_post(leads, rows))
    assert answer.status_code == 302
    mql, sql = Handoff.objects.filter(stream=leads.stream).order_by("position")
    assert (mql.sla_minutes, mql.escalate_minutes) == (240, 960)  # 2 days × 8 h × 60
    assert (sql.sla_minutes, sql.escalate_minutes, sql.pull) == (90, None, True)
    page = client.get(url(leads, "setup")).content.decode()
    assert "Waterfall saved: Inquiry → MQL → SAL → SQL → Opportunity → Won." in page
    assert 'value="4 hours"' in page and 'value="2 days"' in page
    assert "A day is 8 working hours" in page


def test_bad_setup_input_is_named_next_to_its_field(client, leads):
    client.force_login(leads.manager)
    row = {"step": leads.steps["MQL"].pk, "offered_stage": "MQL", "sla": "4 weeks"}
    answer = client.post(url(leads, "setup"), _setup_post(leads, [row]))
    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'id="id_handoff-0-sla_error"' in page and "“weeks” is not a unit" in page
    assert 'aria-describedby="id_handoff-0-sla_help id_handoff-0-sla_error"' in page
    assert "Hand-off 1, SLA" in page  # the summary names the row
    # The service's check, mapped to the row's field: escalation before the SLA.
    row = {**row, "sla": "4 hours", "escalate": "2 hours"}
    page = client.post(url(leads, "setup"), _setup_post(leads, [row])).content.decode()
    assert "Escalate after the SLA: more than 240 minutes, not 120." in page
    assert 'id="id_handoff-0-escalate_error"' in page
    # Two queues; a step without a stage; a stage without a step.
    rows = [
        {"step": leads.steps["MQL"].pk, "offered_stage": "MQL", "pull": "on"},
        {"step": leads.steps["SQL"].pk, "offered_stage": "SQL", "pull": "on"},
        {"step": leads.steps["Qualify"].pk, "offered_stage": ""},
        {"step": "", "offered_stage": "XQL"},
    ]
    answer = client.post(url(leads, "setup"), _setup_post(leads, rows))
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Name the stage a lead reaches here" in page
    assert "Choose the step where leads are offered." in page
    rows = rows[:2]
    page = client.post(url(leads, "setup"), _setup_post(leads, rows)).content.decode()
    assert "Only one hand-off is the ready-for-sales queue." in page
    # Nothing half-written: the fixture's hand-offs are as they were.
    assert list(
        Handoff.objects.filter(stream=leads.stream).values_list("offered_stage", "sla_minutes")
    ) == [("MQL", 60), ("SQL", 120)]


def test_a_hand_off_with_decisions_cannot_be_removed(client, leads):
    visit = at_mql(leads, minutes=5)
    handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    client.force_login(leads.manager)
    rows = [{"step": leads.steps["SQL"].pk, "offered_stage": "SQL", "pull": "on"}]
    answer = client.post(url(leads, "setup"), _setup_post(leads, rows))
    assert answer.status_code == 400
    assert "These hand-offs have decisions and cannot be removed" in answer.content.decode()


def test_a_preset_fills_the_form_keeping_the_steps_of_same_named_hand_offs(client, leads):
    client.force_login(leads.manager)
    page = client.get(url(leads, "setup") + "?preset=sirius_2012").content.decode()
    for stage in ("AQL", "TQL", "MQL", "SQL"):
        assert f'value="{stage}"' in page
    assert "from the preset, not saved yet" in page
    # MQL keeps its step (MQL), the new AQL has none chosen.
    assert f'<option value="{leads.steps["MQL"].pk}" selected>' in page
    assert client.get(url(leads, "setup") + "?preset=nonsense").status_code == 200


def test_a_manager_adds_renames_and_retires_reasons(client, leads):
    client.force_login(leads.manager)
    added = client.post(url(leads, "reason_add"), {"kind": "recycle", "label": "Budget in Q3"})
    assert added.status_code == 302 and added["Location"].endswith("#reasons-recycle")
    reason = HandoffReason.objects.get(label="Budget in Q3")
    assert reason.kind == ReasonKind.RECYCLE
    duplicate = client.post(url(leads, "reason_add"), {"kind": "recycle", "label": "budget in q3"})
    assert duplicate.status_code == 400
    assert "The recycle list already has “budget in q3”." in duplicate.content.decode()
    odd = client.post(url(leads, "reason_add"), {"kind": "nope", "label": "X"})
    assert odd.status_code == 400
    assert "Select a valid choice. nope is not one of the available choices." in (
        odd.content.decode()
    )
    empty = client.post(url(leads, "reason_rename", pk=reason.pk), {"label": " "})
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    assert 'aria-invalid="true"' in empty.content.decode()
    renamed = client.post(url(leads, "reason_rename", pk=reason.pk), {"label": "Budget in Q4"})
    assert renamed.status_code == 302
    assert HandoffReason.objects.filter(label="Budget in Q4", retired_at__isnull=True).exists()
    current = HandoffReason.objects.get(label="Budget in Q4")
    assert client.post(url(leads, "reason_retire", pk=current.pk)).status_code == 302
    current.refresh_from_db()
    assert current.retired_at is not None
    again = client.post(url(leads, "reason_retire", pk=current.pk), follow=True)
    assert "This reason is already retired." in again.content.decode()
    client.force_login(leads.sdr)
    assert client.post(url(leads, "reason_retire", pk=current.pk)).status_code == 403


def test_a_manager_sets_and_clears_a_sellers_limit_and_bad_values_are_named(client, leads):
    client.force_login(leads.manager)
    answer = client.post(url(leads, "seller_limit"), {"seller": leads.sdr.pk, "wip_limit": "3"})
    assert answer.status_code == 302
    assert SellerLimit.objects.get(user=leads.sdr).wip_limit == 3
    for bad, says in (("0", "greater than or equal to 1"), ("x", "Enter a whole number")):
        refused = client.post(
            url(leads, "seller_limit"), {"seller": leads.sdr.pk, "wip_limit": bad}
        )
        assert refused.status_code == 400
        page = refused.content.decode()
        assert says in page and f'id="id_seller{leads.sdr.pk}_wip_limit_error"' in page
    cleared = client.post(url(leads, "seller_limit"), {"seller": leads.sdr.pk, "wip_limit": ""})
    assert cleared.status_code == 302
    assert not SellerLimit.objects.filter(user=leads.sdr).exists()
    stranger = client.post(
        url(leads, "seller_limit"), {"seller": leads.outsider.pk, "wip_limit": "2"}, follow=True
    )
    assert "Choose a rep or manager of the team." in stranger.content.decode()
    step = client.post(url(leads, "step_limit"), {"step": leads.steps["SQL"].pk, "wip_limit": "5"})
    assert step.status_code == 302 and leads.steps["SQL"].wip_limit.wip_limit == 5
    assert client.post(url(leads, "step_limit"), {"step": "x"}).status_code == 400


def test_the_setup_of_a_future_state_is_refused_with_a_message(client, leads):
    from streams.future_states import stream_draw_future_state

    future = stream_draw_future_state(stream=leads.stream)
    assert isinstance(future, ValueStream)
    client.force_login(leads.manager)
    rows = [{"step": future.steps.get(name="MQL").pk, "offered_stage": "MQL"}]
    answer = client.post(
        reverse("leads:setup", args=[future.slug]),
        _setup_post(leads, rows, recycle_step=""),
    )
    assert answer.status_code == 400
    assert "Leads flow through the current state" in answer.content.decode()


# --- Working time, win probabilities, odd posts ------------------------------------------------


def test_ages_count_working_time_where_the_team_has_a_calendar(client, leads_office):
    """Office hours Monday to Friday 09:00–17:30 Berlin. A lead offered at MQL on Friday
    27 February 2026 at 17:00 and still waiting on Monday 2 March at 10:00 has waited
    30 min (Friday 17:00–17:30) + 60 min (Monday 09:00–10:00) = 90 working minutes, though
    65 hours have passed: past its 60-minute SLA by 30 working minutes."""
    ns = leads_office
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN), tick=False):
        lead(
            ns,
            ("Capture", "2026-02-27T16:00:00+01:00"),
            ("MQL", "2026-02-27T17:00:00+01:00"),
            name="Weekend lead",
        )
        client.force_login(ns.sdr)
        page = client.get(url(ns, "board")).content.decode()
    assert '<td data-label="Age" class="num">1.5 working h</td>' in page
    assert "Breached by 30 working min" in page
    assert "Ages count working time of the hand-off step's calendar" in page


def test_the_queue_shows_and_orders_by_the_labs_win_probability(client, leads):
    older = at_sql(leads, "Older, unlikely", hours=2)
    newer = at_sql(leads, "Newer, likely", minutes=5)
    LabSnapshot.objects.create(
        stream=leads.stream,
        view_key="default",
        computed_at=timezone.now(),
        requested_at=timezone.now(),
        open_deals={
            str(older.deal_id): {"probability": 0.2},
            str(newer.deal_id): {"probability": 0.75},
        },
    )
    client.force_login(leads.seller1)
    page = client.get(url(leads, "queue")).content.decode()
    assert page.index("Older, unlikely") < page.index("Newer, likely")  # oldest first
    assert "Highest win probability first" in page
    assert ">20" in page and ">75" in page
    by_chance = client.get(url(leads, "queue") + "?order=probability").content.decode()
    assert by_chance.index("Newer, likely") < by_chance.index("Older, unlikely")


def test_odd_posts_to_the_setup_are_400_never_500(client, leads):
    client.force_login(leads.manager)
    assert client.post(url(leads, "setup"), {}).status_code == 400
    data = _setup_post(leads, [{"step": "abc", "offered_stage": "MQL"}])
    answer = client.post(url(leads, "setup"), data)
    assert answer.status_code == 400
    assert "Select a valid choice" in answer.content.decode()
    too_many = _setup_post(leads, [{"offered_stage": ""}] * 13)
    answer = client.post(url(leads, "setup"), too_many)
    assert answer.status_code == 400 and "Please submit at most 12 forms." in (
        answer.content.decode()
    )
    own = client.get(url(leads, "setup") + "?preset=custom").content.decode()
    assert own.count("Another hand-off (optional)") == 3


def test_the_board_shows_the_oldest_rows_and_the_rest_on_request(client, leads, monkeypatch):
    monkeypatch.setattr("funnel.leads.views.BOARD_ROWS", 2)
    for name, hours in (("First", 3), ("Second", 2), ("Third", 1)):
        at_mql(leads, name, hours=hours, minutes=30)
    at_sql(leads, "Queued", minutes=5)
    client.force_login(leads.sdr)
    page = client.get(url(leads, "board")).content.decode()
    assert "First" in page and "Second" in page and "Third" not in page
    assert "<strong>4 waiting</strong>" in page and "among the oldest 2" in page
    assert "All hand-offs (4)" in page and "(3)</a>" in page and "(1)</a>" in page
    assert '<a href="?rows=all">Show the oldest 4</a>' in page
    everything = client.get(url(leads, "board") + "?rows=all").content.decode()
    assert "Third" in everything and "Queued" in everything
    one = client.get(url(leads, "board") + f"?handoff={leads.mql.pk}").content.decode()
    assert "<strong>3 waiting</strong>" in one
    assert f'href="?handoff={leads.mql.pk}&amp;rows=all"' in one
