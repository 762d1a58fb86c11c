"""Breach emails (funnel/leads/alerts.py): one to the owner past the SLA, one to the managers
past escalation, each once, in working time where the team has a calendar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection

from funnel.leads.alerts import handoff_breaches_notify
from funnel.leads.models import AlertLevel, HandoffAlert
from funnel.leads.services import handoff_decide
from tests.funnel.leads.conftest import at, lead

pytestmark = pytest.mark.django_db

ARRIVED = "2026-06-09T09:00Z"  # the MQL hand-off: SLA 60 minutes, escalation 240


def test_one_email_to_the_owner_past_the_sla_and_none_the_second_time(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=60)) == 0  # not past
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=61)) == 1
    (email,) = mail.outbox
    assert email.to == ["sdr@example.com"]
    assert "waits past its SLA at MQL" in email.subject
    assert f"/deals/{visit.deal_id}/" in email.body
    assert "It has waited more than 60 minutes." in email.body  # no calendar: elapsed
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=90)) == 0
    assert len(mail.outbox) == 1
    alert = HandoffAlert.objects.get()
    assert (alert.visit_id, alert.level, alert.recipient) == (visit.pk, "owner", leads.sdr)


def test_without_an_owner_the_managers_are_told(leads):
    lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED))
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=61)) == 1
    assert mail.outbox[0].to == ["manager@example.com"]


def test_past_escalation_the_managers_get_one_more(leads):
    lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=61))
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=241)) == 1
    assert [m.to for m in mail.outbox] == [["sdr@example.com"], ["manager@example.com"]]
    assert "is escalated" in mail.outbox[1].subject
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(days=3)) == 0
    assert sorted(HandoffAlert.objects.values_list("level", flat=True)) == ["manager", "owner"]


def test_a_decided_or_departed_lead_is_not_emailed_about(leads):
    decided = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    handoff_decide(visit=decided, kind="accept", user=leads.sdr, at=at("2026-06-09T09:30Z"))
    lead(
        leads,
        ("Capture", "2026-06-09T08:00Z"),
        ("MQL", ARRIVED),
        ("Qualify", "2026-06-09T09:10Z"),
    )
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(days=1)) == 0
    assert mail.outbox == []


def test_the_sla_clock_runs_in_working_time(leads_office):
    # Friday 12 June 2026 17:00 CEST: 30 working minutes left that day, so the 60-minute SLA
    # passes on Monday at 09:30 CEST (07:30Z), not on Friday evening.
    ns = leads_office
    lead(ns, ("Capture", "2026-06-12T08:00Z"), ("MQL", "2026-06-12T17:00+02:00"), owner=ns.sdr)
    assert handoff_breaches_notify(now=at("2026-06-14T12:00Z")) == 0  # Sunday: 30 minutes
    assert handoff_breaches_notify(now=at("2026-06-15T07:30Z")) == 0  # exactly 60
    assert handoff_breaches_notify(now=at("2026-06-15T07:31Z")) == 1
    assert mail.outbox[0].to == ["sdr@example.com"]
    assert "It has waited more than 60 working minutes." in mail.outbox[0].body


def test_a_failed_email_is_tried_again_next_time(leads, monkeypatch):
    lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    from funnel.leads import alerts

    def broken(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr(alerts, "send_mail", broken)
    with pytest.raises(OSError):
        handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=61))
    assert not HandoffAlert.objects.exists()
    monkeypatch.undo()
    assert handoff_breaches_notify(now=at(ARRIVED) + timedelta(minutes=61)) == 1


def test_an_alert_another_run_recorded_is_not_sent_again(leads):
    visit = lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    from funnel.leads import alerts

    # The other run recorded it between this run's query and its insert: the unique index
    # refuses the second row, and nothing is sent.
    HandoffAlert.objects.create(visit=visit, level=AlertLevel.OWNER, sent_at=at(ARRIVED))
    handoff = leads.mql
    assert alerts._send(visit, handoff, AlertLevel.OWNER, 60, at(ARRIVED)) == 0
    assert mail.outbox == [] and connection.vendor in ("sqlite", "postgresql")


def test_the_beat_task_calls_the_service(leads):
    from funnel.tasks import notify_handoff_breaches

    lead(leads, ("Capture", "2026-06-09T08:00Z"), ("MQL", ARRIVED), owner=leads.sdr)
    assert notify_handoff_breaches.delay().get() == 2  # long past both: owner and managers
    assert [m.to for m in mail.outbox] == [["sdr@example.com"], ["manager@example.com"]]
