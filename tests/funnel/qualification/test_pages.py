"""The criteria page, the deal page's Qualification section and the deals list's coverage."""

from __future__ import annotations

import pytest
from django.urls import reverse

from funnel.eventlog.services import deal_move
from funnel.qualification.models import Criterion, CriterionScore
from funnel.qualification.services import criterion_update, score_create

pytestmark = pytest.mark.django_db


def _criteria_url(ns, name="criteria", **kwargs):
    return reverse(f"qualification:{name}", kwargs={"slug": ns.stream_a.slug, **kwargs})


def test_everyone_of_the_team_reads_the_criteria_page_and_only_managers_edit(client, qual):
    for who, edits in [("manager_a", True), ("rep_a1", False), ("leader_a", False)]:
        client.force_login(getattr(qual, who))
        page = client.get(_criteria_url(qual))
        assert page.status_code == 200
        assert "Economic buyer" in page.content.decode()
        assert ("Add criterion" in page.content.decode()) is edits
    client.force_login(qual.manager_b)
    assert client.get(_criteria_url(qual)).status_code == 404
    client.force_login(qual.rep_a1)
    assert client.post(_criteria_url(qual, "add"), {"name": "X"}).status_code == 403
    assert client.post(_criteria_url(qual, "retire", pk=qual.crit.pk)).status_code == 403


def test_the_map_links_the_criteria_page(client, qual):
    client.force_login(qual.rep_a1)
    page = client.get(reverse("streams:detail", args=[qual.stream_a.slug]))
    assert _criteria_url(qual) in page.content.decode()


def test_a_manager_adds_edits_moves_retires_and_restores(client, qual):
    client.force_login(qual.manager_a)
    form = {
        "name": "Timing",
        "question": "By when?",
        "scale": "yes_no",
        "met_level": "1",
        "known_by": qual.steps_a[1].pk,
        "weight": "2",
    }
    assert client.post(_criteria_url(qual, "add"), form).status_code == 302
    timing = Criterion.objects.get(name="Timing")
    assert (timing.scale, timing.weight, timing.known_by_id) == ("yes_no", 2, qual.steps_a[1].pk)
    refused = client.post(_criteria_url(qual, "add"), {**form, "name": "champion"})
    assert (
        refused.status_code == 400 and "already has a criterion named" in refused.content.decode()
    )
    score_create(deal=qual.deal_a1, criterion=timing, level=1, user=qual.rep_a1)
    edited = client.post(_criteria_url(qual, "edit", pk=timing.pk), {**form, "question": "When?"})
    assert edited.status_code == 302
    assert list(Criterion.objects.filter(key="timing").values_list("version", "question")) == [
        (1, "By when?"),
        (2, "When?"),
    ]
    new = Criterion.objects.get(key="timing", version=2)
    client.post(_criteria_url(qual, "move"), {"criterion": new.pk, "direction": "up"})
    new.refresh_from_db()
    assert new.position == 7
    client.post(_criteria_url(qual, "retire", pk=new.pk))
    client.post(_criteria_url(qual, "restore", pk=new.pk))
    new.refresh_from_db()
    assert new.retired_at is None
    page = client.get(_criteria_url(qual)).content.decode()
    assert "Retired criteria and earlier versions (1)" in page


def test_a_preset_over_scored_criteria_asks_first(client, qual):
    score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1)
    client.force_login(qual.manager_a)
    asked = client.post(_criteria_url(qual, "preset"), {"preset": "bant"})
    assert asked.status_code == 200 and "Start from BANT?" in asked.content.decode()
    assert not Criterion.objects.filter(name="Authority").exists()
    done = client.post(_criteria_url(qual, "preset"), {"preset": "bant", "confirm_retire": "on"})
    assert done.status_code == 302
    assert Criterion.objects.filter(retired_at__isnull=True).count() == 4
    assert CriterionScore.objects.count() == 1


def test_a_rep_scores_their_deal_on_its_page(client, qual):
    url = reverse("funnel:deal_detail", args=[qual.deal_a1.pk])
    client.force_login(qual.rep_a1)
    page = client.get(url).content.decode()
    assert 'type="radio"' in page and "Identified" in page
    posted = client.post(
        reverse("funnel:deal_score", args=[qual.deal_a1.pk]),
        {"criterion": qual.crit.pk, "level": "2", "note": "Saw the ROI sheet"},
    )
    assert posted.status_code == 302
    score = CriterionScore.objects.get()
    assert (score.level, score.note, score.scored_by) == (2, "Saw the ROI sheet", qual.rep_a1)
    page = client.get(url).content.decode()
    assert "History of scores (1)" in page and "checked" in page
    bad = client.post(
        reverse("funnel:deal_score", args=[qual.deal_a1.pk]),
        {"criterion": qual.crit.pk, "level": "7"},
    )
    assert bad.status_code == 400 and "is not a level of Metrics" in bad.content.decode()


def test_others_cannot_score_and_leadership_reads_without_a_form(client, qual):
    score_url = reverse("funnel:deal_score", args=[qual.deal_a1.pk])
    client.force_login(qual.rep_a2)
    assert client.post(score_url, {"criterion": qual.crit.pk, "level": "1"}).status_code == 404
    client.force_login(qual.leader_a)
    assert client.post(score_url, {"criterion": qual.crit.pk, "level": "1"}).status_code == 403
    page = client.get(reverse("funnel:deal_detail", args=[qual.deal_a1.pk])).content.decode()
    assert "Qualification" in page and 'type="radio"' not in page
    assert not CriterionScore.objects.exists()


def test_the_deals_list_shows_coverage_and_filters_overdue(client, qual):
    criterion_update(criterion=qual.criteria[0], user=qual.manager_a, known_by=qual.steps_a[0])
    criterion_update(criterion=qual.criteria[1], user=qual.manager_a, known_by=qual.steps_a[0])
    deal_move(deal=qual.deal_a1, step=qual.steps_a[1], actor=qual.manager_a)
    score_create(deal=qual.deal_a1, criterion=qual.criteria[0], level=1, user=qual.rep_a1)
    client.force_login(qual.manager_a)
    page = client.get(reverse("funnel:deal_list")).content.decode()
    assert "1/2 known" in page and "1 overdue" in page and "0/2 known" in page
    only = client.get(reverse("funnel:deal_list"), {"overdue": "on"}).content.decode()
    assert qual.deal_a1.name in only and qual.deal_a2.name not in only


def test_bad_scores_on_the_deal_page_are_form_errors_and_store_nothing(client, qual):
    """An unknown level, no level, a criterion of another stream or retired (no form of its
    own on the page: the section's summary names it), and a closed deal: each a 400 with the
    reason on the page, and no score stored."""
    from funnel.eventlog.services import deal_close
    from funnel.qualification.services import criteria_set_start, criterion_retire

    other = criteria_set_start(stream=qual.stream_b, preset="bant", user=qual.manager_b)
    retired = criterion_retire(criterion=qual.criteria[1], user=qual.manager_a)
    url = reverse("funnel:deal_score", args=[qual.deal_a1.pk])
    client.force_login(qual.rep_a1)
    for data, reason in [
        ({"criterion": qual.crit.pk, "level": "7"}, "is not a level of Metrics"),
        ({"criterion": other.criteria.first().pk, "level": "1"}, "Criterion: Select a valid"),
        ({"criterion": retired.pk, "level": "1"}, "Criterion: “Economic buyer” is retired"),
        ({"criterion": qual.crit.pk}, "Tap a level."),
    ]:
        answer = client.post(url, data)
        assert answer.status_code == 400, data
        assert reason in answer.content.decode(), data
    deal_close(deal=qual.deal_a1, outcome="won", actor=qual.rep_a1)
    answer = client.post(url, {"criterion": qual.crit.pk, "level": "1"})
    assert answer.status_code == 400
    assert "a closed deal cannot be scored" in answer.content.decode()
    assert not CriterionScore.objects.exists()


def test_a_team_starts_its_own_set_and_fills_it(client, team_setup):
    """ "The team's own": an empty set (no preset's criteria), then criteria of its own."""
    from funnel.qualification.models import CriteriaSet

    ns = team_setup
    client.force_login(ns.manager_a)
    assert client.post(_criteria_url(ns, "preset"), {"preset": "custom"}).status_code == 302
    assert CriteriaSet.objects.get(stream=ns.stream_a).preset == "custom"
    assert not Criterion.objects.exists()
    form = {"name": "Security review booked", "question": "Is the review on the calendar?"}
    form |= {"scale": "yes_no", "met_level": "1", "known_by": ns.steps_a[1].pk, "weight": ""}
    assert client.post(_criteria_url(ns, "add"), form).status_code == 302
    own = Criterion.objects.get()
    assert (own.key, own.scale, own.weight, own.known_by_id) == (
        "security-review-booked",
        "yes_no",
        None,
        ns.steps_a[1].pk,
    )
    assert "Security review booked" in client.get(_criteria_url(ns)).content.decode()
