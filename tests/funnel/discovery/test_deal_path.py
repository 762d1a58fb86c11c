"""A deal's own path against the map on the deal page (funnel/discovery/deal_path.py), on the
hand-worked log of ``hand_log``. By hand (moves: each visit, and the close of a closed deal):

- A: Lead, Qualify, Demo, Proposal, Close, won: 6 moves, none deviates, fitness 1;
- B: Lead, Demo (skips Qualify), Proposal, Close, won: 5 moves, 1 skip, fitness 4/5;
- C: Lead, Qualify three times in a row, Demo, lost: 6 moves, 2 re-entries, fitness 4/6;
- F: Qualify (skips Lead from the start), Demo, won there (before Close): 3 moves, 2
  deviations, fitness 1/3.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from funnel.discovery.deal_path import deal_path_check
from funnel.discovery.services import deviation_accept
from tests.factories import DealFactory
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def ns():
    return hand_log()


def _labels(check):
    return [(d["label"], d["skipped"], d["accepted"]) for d in check["deviations"]]


def test_each_deal_gets_its_fitness_and_deviations(ns):
    a = deal_path_check(ns.deals["A"])
    assert (a["fitness"], a["moves"], a["conforming"], a["deviations"]) == (1, 6, 6, [])
    b = deal_path_check(ns.deals["B"])
    assert (b["fitness"], b["moves"]) == (pytest.approx(0.8), 5)
    assert _labels(b) == [("Skipped steps: Lead → Demo", ["Qualify"], False)]
    c = deal_path_check(ns.deals["C"])
    assert (c["fitness"], c["moves"], c["conforming"]) == (pytest.approx(4 / 6), 6, 4)
    assert _labels(c) == [("Re-entry: Qualify → Qualify", [], False)] * 2
    f = deal_path_check(ns.deals["F"])
    assert f["fitness"] == pytest.approx(1 / 3)
    assert _labels(f) == [
        ("Skipped steps: start → Qualify", ["Lead"], False),
        ("Won before the last step: Demo → end", [], False),
    ]
    assert deal_path_check(DealFactory(stream=ns.stream)) is None  # no visit yet


def test_an_accepted_deviation_is_listed_and_counts_as_designed(ns):
    deviation_accept(
        stream=ns.stream,
        kind="skip",
        source=ns.steps["Lead"].pk,
        target=ns.steps["Demo"].pk,
        user=ns.manager,
    )
    b = deal_path_check(ns.deals["B"])
    assert b["fitness"] == 1 and _labels(b) == [("Skipped steps: Lead → Demo", ["Qualify"], True)]


def test_the_deal_page_shows_it(client, ns):
    client.force_login(ns.manager)
    html = client.get(reverse("funnel:deal_detail", args=[ns.deals["C"].pk])).content.decode()
    assert 'data-fitness="0.67"' in html and "(4 of 6 moves as the map designs" in html
    assert html.count('<li data-deviation="reentry">Re-entry: Qualify → Qualify</li>') == 2
    html = client.get(reverse("funnel:deal_detail", args=[ns.deals["A"].pk])).content.decode()
    assert "Every move followed the map's order." in html
