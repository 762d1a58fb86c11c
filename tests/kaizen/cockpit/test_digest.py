"""The weekly digest: opt-in on the account page, once a week per person, idempotent, made
up after an outage, its content and its unsubscribe link (docs/cockpit.md "Weekly digest")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from kaizen.cockpit.digest import digests_send_due, unsubscribe_token, week_of
from kaizen.cockpit.models import DigestSent, DigestSubscription
from kaizen.tasks import send_weekly_digests
from streams.models import UserProfile
from tests.kaizen.cockpit.conftest import NOW

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def opt_in(user) -> None:
    response = logged_in(user).post(reverse("kaizen:digest_setting"), {"weekly": "on"})
    assert response.status_code == 302
    assert response.url == reverse("people:account")


def test_the_account_page_offers_the_digest_to_leadership_and_managers_only(hand):
    page = logged_in(hand.leader).get(reverse("people:account")).content.decode()
    assert "Send me the weekly digest" in page
    assert "on Monday, from 07:00 in the time zone above" in page  # when it arrives
    assert 'name="weekly" value="on">' in page  # not checked: off until chosen
    rep_page = logged_in(hand.rep).get(reverse("people:account")).content.decode()
    assert "weekly digest" not in rep_page
    assert (
        logged_in(hand.rep).post(reverse("kaizen:digest_setting"), {"weekly": "on"}).status_code
        == 404
    )
    assert not DigestSubscription.objects.exists()


def test_opting_in_and_out(hand):
    opt_in(hand.leader)
    assert DigestSubscription.objects.get(user=hand.leader).weekly is True
    page = logged_in(hand.leader).get(reverse("people:account")).content.decode()
    assert 'value="on" checked>' in page
    logged_in(hand.leader).post(reverse("kaizen:digest_setting"), {})
    assert DigestSubscription.objects.get(user=hand.leader).weekly is False
    assert digests_send_due(now=NOW) == 0
    assert mail.outbox == []


def test_it_sends_once_a_week_to_each_subscriber(hand):
    opt_in(hand.leader)
    opt_in(hand.other_manager)
    assert send_weekly_digests() == 2  # the beat task, at NOW (a Sunday)
    assert send_weekly_digests() == 0  # the next hourly run: sent already this week
    assert sorted(m.to[0] for m in mail.outbox) == ["leader@example.com", "other@example.com"]
    week = week_of(NOW)
    assert str(week) == "2025-05-26"  # the Monday of the week of Sunday 1 June
    assert DigestSent.objects.filter(week=week).count() == 2
    with time_machine.travel(NOW + timedelta(days=1), tick=False):  # Monday: a new week
        assert send_weekly_digests() == 2
    assert len(mail.outbox) == 4


def test_it_makes_up_a_week_missed_while_the_workers_were_down(hand):
    """No run on Monday to Wednesday (Redis down): Thursday's first run sends the week's."""
    opt_in(hand.leader)
    thursday = NOW + timedelta(days=4)
    with time_machine.travel(thursday, tick=False):
        assert send_weekly_digests() == 1
        assert send_weekly_digests() == 0
    assert DigestSent.objects.get().week == week_of(thursday)


def test_each_person_gets_it_on_monday_morning_in_their_own_time_zone(hand):
    """From 07:00 on Monday where the person is (their profile's zone; none: UTC), at the
    first hourly run after it. In June Tokyo is 9 hours ahead of UTC, Los Angeles 7 behind."""
    for user in (hand.leader, hand.manager, hand.other_manager):
        opt_in(user)
    UserProfile.objects.create(user=hand.leader, time_zone="Asia/Tokyo")
    UserProfile.objects.create(user=hand.other_manager, time_zone="America/Los_Angeles")

    def run(*at: int) -> set[str]:
        before = len(mail.outbox)
        digests_send_due(now=datetime(*at, tzinfo=UTC))
        return {message.to[0] for message in mail.outbox[before:]}

    # Sunday 1 June, noon UTC: the week of 26 May everywhere (Tokyo 21:00, LA 05:00).
    everyone = {"leader@example.com", "manager@example.com", "other@example.com"}
    assert run(2025, 6, 1, 12, 41) == everyone
    assert run(2025, 6, 1, 21, 41) == set()  # Tokyo: Monday 06:41
    assert run(2025, 6, 1, 22, 41) == {"leader@example.com"}  # Tokyo: Monday 07:41
    assert run(2025, 6, 2, 6, 41) == set()  # UTC: Monday 06:41
    assert run(2025, 6, 2, 7, 41) == {"manager@example.com"}
    assert run(2025, 6, 2, 13, 41) == set()  # Los Angeles: Monday 06:41
    assert run(2025, 6, 2, 14, 41) == {"other@example.com"}
    assert run(2025, 6, 2, 15, 41) == set()  # every one has had this week's
    tokyo = [m.subject for m in mail.outbox if m.to == ["leader@example.com"]]
    assert tokyo == [
        "Your weekly sales digest, week of 26 May 2025",
        "Your weekly sales digest, week of 02 Jun 2025",  # Sunday 22:41 UTC: Monday there
    ]
    assert set(DigestSent.objects.values_list("week", flat=True)) == {
        date(2025, 5, 26),
        date(2025, 6, 2),
    }


def test_a_failed_send_is_tried_again_by_the_next_run(hand):
    opt_in(hand.leader)
    with (
        mock.patch(
            "django.core.mail.EmailMultiAlternatives.send", side_effect=ConnectionRefusedError
        ),
        pytest.raises(ConnectionRefusedError),
    ):
        digests_send_due(now=NOW)
    assert not DigestSent.objects.exists()  # the claim was rolled back
    assert digests_send_due(now=NOW) == 1


def test_the_digest_carries_the_cockpits_figures_of_the_teams_the_person_may_see(hand):
    opt_in(hand.leader)
    digests_send_due(now=NOW)
    (message,) = mail.outbox
    text = message.body
    html = message.alternatives[0][0]
    assert message.subject == "Your weekly sales digest, week of 26 May 2025"
    for body in (text, html):
        assert "Hand stream" in body
        assert "67%" in body and "up 16.7 pts on the previous 90 days (better)" in body
        assert "$1,093/day" in body
        assert "2 open deals" in body and "down $8,000 on the previous 90 days" in body
        assert "Propose" in body and "up 58 d on the previous 90 days (worse)" in body
        assert "not computed yet" in body
        assert "Other stream" not in body  # another team's
    assert f"http://127.0.0.1:8000/dashboards/streams/{hand.stream.slug}/funnel/" in text
    token = unsubscribe_token(hand.leader)
    assert f"http://127.0.0.1:8000/kaizen/digest/unsubscribe/{token}/" in text
    assert message.extra_headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/kaizen/")


def test_the_unsubscribe_link_asks_then_turns_the_digest_off(hand):
    opt_in(hand.leader)
    url = reverse("kaizen:digest_unsubscribe", args=[unsubscribe_token(hand.leader)])
    anonymous = Client()
    page = anonymous.get(url)
    assert page.status_code == 200 and b"Unsubscribe" in page.content
    assert DigestSubscription.objects.get(user=hand.leader).weekly is True  # a GET changes nothing
    done = anonymous.post(url)
    assert done.status_code == 200 and b"will not get the weekly digest" in done.content
    assert DigestSubscription.objects.get(user=hand.leader).weekly is False
    assert anonymous.get(reverse("kaizen:digest_unsubscribe", args=["forged"])).status_code == 404
