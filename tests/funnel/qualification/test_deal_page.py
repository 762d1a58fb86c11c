"""The deal page's Qualification section: its queries, and the rep's own win call."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from funnel.qualification.models import WinCall
from funnel.qualification.services import score_create

pytestmark = pytest.mark.django_db


def _queries(client, deal) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("funnel:deal_detail", args=[deal.pk])).status_code == 200
    return len(captured)


def test_the_deal_page_reads_as_many_queries_with_one_score_as_with_one_per_criterion(client, qual):
    client.force_login(qual.rep_a1)
    score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1)
    one = _queries(client, qual.deal_a1)
    for criterion in qual.criteria[1:]:
        score_create(deal=qual.deal_a1, criterion=criterion, level=2, user=qual.rep_a1)
    assert len(qual.criteria) == 8
    assert _queries(client, qual.deal_a1) == one


def _page(client, deal) -> str:
    return client.get(reverse("funnel:deal_detail", args=[deal.pk])).content.decode()


def _call(client, deal, probability):
    return client.post(
        reverse("funnel:deal_win_call", args=[deal.pk]), {"probability": probability}
    )


def test_a_rep_records_their_win_probability_on_their_deal(client, qual):
    client.force_login(qual.rep_a1)
    html = _page(client, qual.deal_a1)
    assert "No win call yet." in html
    field = re.search(r'<input type="number" name="probability"[^>]*>', html).group(0)
    assert 'min="0"' in field and 'max="100"' in field and 'id="id_probability"' in field
    assert '<label for="id_probability">Your own win probability (%)' in html
    response = _call(client, qual.deal_a1, "60")
    assert response.status_code == 302 and response.url.endswith("#win-call")
    call = WinCall.objects.get()
    assert (call.deal, call.probability, call.called_by) == (qual.deal_a1, 60, qual.rep_a1)
    html = _page(client, qual.deal_a1)
    when = timezone.localtime(call.called_at).strftime("%Y-%m-%d %H:%M")
    name = qual.rep_a1.get_full_name()
    assert f'Latest call: <strong class="win-call-now">60 %</strong> · {name}, <time' in html
    assert when in html


def test_a_manager_calls_any_deal_and_leadership_only_reads(client, qual):
    client.force_login(qual.manager_a)
    assert _call(client, qual.deal_a2, "35").status_code == 302
    client.force_login(qual.leader_a)
    html = _page(client, qual.deal_a2)
    assert "35 %" in html and 'name="probability"' not in html
    assert _call(client, qual.deal_a2, "90").status_code == 403
    client.force_login(qual.rep_a1)
    assert _call(client, qual.deal_a2, "90").status_code == 404  # another rep's deal
    assert list(WinCall.objects.values_list("probability", flat=True)) == [35]


@pytest.mark.parametrize("value", ["101", "-1", "abc", "", "50.5"])
def test_a_bad_probability_is_named_next_to_the_field(client, qual, value):
    client.force_login(qual.rep_a1)
    response = _call(client, qual.deal_a1, value)
    assert response.status_code == 400
    assert response.context["win_call_form"].errors["probability"]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not WinCall.objects.exists()


def test_a_closed_deal_takes_no_win_call(client, qual):
    qual.deal_a1.status, qual.deal_a1.closed_at = "won", timezone.now()
    qual.deal_a1.save()
    client.force_login(qual.rep_a1)
    assert 'name="probability"' not in _page(client, qual.deal_a1)
    response = _call(client, qual.deal_a1, "50")
    assert response.status_code == 400 and not WinCall.objects.exists()
    assert "The deal is won; a closed deal" in response.content.decode()
