"""The deal page's Qualification section: its queries, and the rep's own win call."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from funnel.qualification.services import score_create

pytestmark = pytest.mark.django_db


def _queries(client, deal) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("funnel:deal_detail", args=[deal.pk])).status_code == 200
    return len(captured)


def test_the_deal_page_reads_as_many_queries_with_one_score_as_with_one_per_criterion(
    client, qual
):
    client.force_login(qual.rep_a1)
    score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1)
    one = _queries(client, qual.deal_a1)
    for criterion in qual.criteria[1:]:
        score_create(deal=qual.deal_a1, criterion=criterion, level=2, user=qual.rep_a1)
    assert len(qual.criteria) == 8
    assert _queries(client, qual.deal_a1) == one
