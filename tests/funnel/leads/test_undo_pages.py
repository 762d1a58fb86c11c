"""The undo of a hand-off decision on the pages (funnel/leads/views.py ``undo``, the board's
success message, the deal page), the decisions in the deal's timeline, and the deals list's
"Leads or deals" filter (docs/leads.md "Undo", docs/deals.md)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from funnel.leads.models import HandoffDecision, HandoffUndo
from funnel.leads.services import handoff_decide, lead_pull
from funnel.models import Deal, Visit
from streams.people.services import profile_set_time_zone
from tests.funnel.leads.conftest import lead

pytestmark = pytest.mark.django_db


def arrived(ns, name="Acme lead", at_step="MQL", owner=None):
    start = timezone.now() - timedelta(minutes=30)
    return lead(
        ns,
        ("Qualify", start.isoformat()),
        (at_step, (start + timedelta(minutes=5)).isoformat()),
        name=name,
        owner=owner,
    )


def board(ns) -> str:
    return reverse("leads:board", args=[ns.stream.slug])


def undo_url(ns, decision) -> str:
    return reverse("leads:undo", args=[ns.stream.slug, decision.pk])


def test_the_board_offers_undo_after_a_reject_and_undo_restores_the_lead(client, leads):
    visit = arrived(leads)
    client.force_login(leads.sdr)
    answer = client.post(
        reverse("leads:decide", args=[leads.stream.slug, visit.pk]),
        {"kind": "reject", "reason": leads.reject_reason.pk},
        follow=True,
    )
    page = answer.content.decode()
    decision = HandoffDecision.objects.get(visit=visit)
    assert "Rejected “Acme lead”" in page
    assert undo_url(leads, decision) in page and ">Undo</button>" in page
    assert "min left" in page

    undone = client.post(undo_url(leads, decision), {"next": board(leads)}, follow=True)
    assert undone.redirect_chain[-1][0] == board(leads)
    page = undone.content.decode()
    assert "Undone: “Acme lead” waits at MQL again, undecided." in page
    assert ">Undo</button>" not in page  # the offer went with the decision
    assert Visit.objects.get(deal_id=visit.deal_id, exited_at__isnull=True) == visit
    assert "Acme lead" in client.get(board(leads)).content.decode()  # waiting again


def test_a_foreign_next_is_ignored_and_leadership_gets_403(client, leads):
    visit = arrived(leads)
    decision = handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    client.force_login(leads.leader)
    assert client.post(undo_url(leads, decision), {"reason": "x"}).status_code == 403
    client.force_login(leads.seller1)  # another rep
    assert client.post(undo_url(leads, decision)).status_code == 403
    client.force_login(leads.sdr)
    answer = client.post(undo_url(leads, decision), {"next": "https://evil.example/"})
    assert answer.status_code == 302
    assert answer["Location"] == reverse("funnel:deal_detail", args=[visit.deal_id])
    assert not HandoffDecision.objects.filter(pk=decision.pk).exists()


def test_the_deal_page_shows_the_decisions_and_undos_in_its_timeline(client, leads):
    visit = arrived(leads, owner=leads.sdr)  # a rep sees the deals they own
    decision = handoff_decide(
        visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason, note="no phone"
    )
    client.force_login(leads.sdr)
    deal_url = reverse("funnel:deal_detail", args=[visit.deal_id])
    page = client.get(deal_url).content.decode()
    assert "Rejected at MQL</strong>: " + leads.reject_reason.label in page
    assert "“no phone”" in page
    assert undo_url(leads, decision) in page  # the decider's own undo, on the deal page too
    client.post(undo_url(leads, decision))
    page = client.get(deal_url).content.decode()
    assert page.count('data-handoff="rejected"') == 1 and 'data-handoff="undo"' in page
    assert "Undid the MQL decision" in page and '<span class="badge">undone</span>' in page
    # In the viewer's time zone, as the visits.
    profile_set_time_zone(user=leads.sdr, time_zone="Asia/Tokyo")
    client.force_login(leads.sdr)  # a new session reads the zone
    undo = HandoffUndo.objects.get()
    tokyo = timezone.localtime(undo.undone_at, timezone=ZoneInfo("Asia/Tokyo"))
    assert tokyo.strftime("%Y-%m-%d %H:%M") + " JST" in client.get(deal_url).content.decode()


def test_a_manager_undoes_from_the_deal_page_with_a_reason(client, leads):
    visit = arrived(leads, at_step="SQL")
    decision = lead_pull(stream=leads.stream, user=leads.seller1, visit=visit)
    HandoffDecision.objects.filter(pk=decision.pk).update(
        recorded_at=timezone.now() - timedelta(hours=2)
    )
    deal_url = reverse("funnel:deal_detail", args=[visit.deal_id])
    client.force_login(leads.seller1)
    assert undo_url(leads, decision) not in client.get(deal_url).content.decode()  # too late
    client.force_login(leads.manager)
    page = client.get(deal_url).content.decode()
    assert "Undo the hand-off decision" in page and "gives it back to its owner" in page
    refused = client.post(undo_url(leads, decision), {"form": "handoff_undo", "reason": ""})
    assert refused.status_code == 400
    assert "Say why the decision is undone" in refused.content.decode()
    done = client.post(
        undo_url(leads, decision), {"form": "handoff_undo", "reason": "Pulled by the wrong seller"}
    )
    assert done.status_code == 302
    assert Deal.objects.get(pk=visit.deal_id).owner_id is None
    page = client.get(deal_url).content.decode()
    assert "Pulled at SQL" in page and "“Pulled by the wrong seller”" in page


def test_the_deals_list_filters_leads_and_deals_and_shows_both_by_default(client, leads):
    arrived(leads, name="Early lead", at_step="MQL")  # before the pull hand-off: a lead
    arrived(leads, name="Queued case", at_step="SQL")  # at the pull hand-off: a deal
    later = arrived(leads, name="Selling case", at_step="SQL")
    lead_pull(stream=leads.stream, user=leads.seller1, visit=later)
    client.force_login(leads.manager)
    url = reverse("funnel:deal_list")

    def names(query=""):
        page = client.get(url + query).content.decode()
        return {n for n in ("Early lead", "Queued case", "Selling case") if n in page}

    assert names() == {"Early lead", "Queued case", "Selling case"}
    assert names("?cases=all") == names()
    assert names("?cases=leads") == {"Early lead"}
    assert names("?cases=deals") == {"Queued case", "Selling case"}
    page = client.get(url + "?cases=leads").content.decode()
    assert '<option value="leads" selected>' in page and "Clear filters" in page
    bad = client.get(url + "?cases=zzz").content.decode()
    assert "so this filter is not applied" in bad


def test_a_seller_undoes_a_pull_from_the_deal_page_it_lands_on(client, leads):
    visit = arrived(leads, name="Queued case", at_step="SQL")
    client.force_login(leads.seller1)
    answer = client.post(
        reverse("leads:pull", args=[leads.stream.slug]), {"visit": visit.pk}, follow=True
    )
    page = answer.content.decode()
    decision = HandoffDecision.objects.get(visit=visit)
    assert "You pulled “Queued case”: it is yours now." in page
    assert "You pulled “" in page and undo_url(leads, decision) in page
    assert ">Undo</button>" in page
    deal_url = reverse("funnel:deal_detail", args=[visit.deal_id])
    client.post(undo_url(leads, decision), {"next": deal_url})
    assert Deal.objects.get(pk=visit.deal_id).owner_id is None
    assert not HandoffDecision.objects.filter(visit=visit).exists()
