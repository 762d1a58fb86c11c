"""Breach emails of the hand-offs' SLAs (docs/leads.md "Decisions and the SLA clock").

:func:`handoff_breaches_notify`, run every five minutes by the beat
(``funnel.tasks.notify_handoff_breaches``), finds the arrivals still waiting for a decision
(``funnel.leads.selectors.waiting_visits``) that are older than their hand-off's SLA, in
working minutes of the step's calendar (elapsed without one), and sends:

- one email to the lead's owner (the case's owner; without one, the team's managers) when it
  passes the SLA;
- one more to the team's managers when it passes the escalation threshold.

A :class:`HandoffAlert` row (unique per visit and level) is written in the same transaction
as the email is sent, so each goes once: a second run finds the row, and two runs at the same
moment (two beats) meet at the unique index, where the second waits for the first and then
skips. An email that fails to send rolls its row back, to be tried again at the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import groupby

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from funnel.leads.models import AlertLevel, Handoff, HandoffAlert
from funnel.leads.selectors import now_offsets, waiting_visits
from funnel.models import Visit
from streams.models import Role
from streams.times import when_text

#: The most arrivals one run emails about per hand-off and level (the rest go next run).
BATCH = 500


def _managers(team_id: int) -> list:
    return list(
        get_user_model()
        .objects.filter(memberships__team_id=team_id, memberships__role=Role.MANAGER)
        .exclude(email="")
        .order_by("username")
    )


def _due(handoff: Handoff, level: str, minutes: int, now: datetime, now_w: int | None):
    """The waiting arrivals at ``handoff`` older than ``minutes`` without a ``level`` alert."""
    elapsed = Q(entered_at__lt=now - timedelta(minutes=minutes))
    if now_w is not None:
        # Working time; a visit whose offset is not written yet counts elapsed.
        older = Q(entered_w__lt=now_w - minutes * 60) | Q(entered_w__isnull=True) & elapsed
    else:
        older = elapsed
    alerted = HandoffAlert.objects.filter(visit=OuterRef("pk"), level=level)
    return (
        waiting_visits(handoff.step_id)
        .filter(older)
        .filter(~Exists(alerted))
        .select_related("deal", "deal__owner")
        .order_by("entered_at", "id")[:BATCH]
    )


def _message(
    visit: Visit, handoff: Handoff, level: str, minutes: int, unit: str
) -> tuple[str, str]:
    deal = visit.deal
    what = "waits past its SLA" if level == AlertLevel.OWNER else "is escalated"
    subject = f"{deal.name} {what} at {handoff.offered_stage} ({handoff.step.name})"
    lines = [
        f"The lead “{deal.name}” ({deal.external_id}) arrived at “{handoff.step.name}” "
        f"({handoff.offered_stage}) at {when_text(visit.entered_at)} and is still waiting for "
        f"a decision ({handoff.get_receiver_display()} to accept or turn it down).",
        f"It has waited more than {minutes} {unit}"
        + (f"; the SLA is {handoff.sla_minutes}." if level == AlertLevel.MANAGER else "."),
        "",
        f"Open it: {reverse('funnel:deal_detail', args=[deal.pk])}",
    ]
    return subject, "\n".join(lines) + "\n"


def _send(
    visit: Visit,
    handoff: Handoff,
    level: str,
    minutes: int,
    now: datetime,
    unit: str = "working minutes",
) -> int:
    """Record and send one alert; 1 when an email went, 0 when none was due (recorded by
    another run, or nobody to send to). ``unit``: what ``minutes`` count (working minutes, or
    minutes where the team has no calendar)."""
    owner = visit.deal.owner if level == AlertLevel.OWNER else None
    has_owner = owner is not None and owner.email
    recipients = [owner] if has_owner else _managers(handoff.stream.team_id)
    with transaction.atomic():
        try:
            with transaction.atomic():
                HandoffAlert.objects.create(
                    visit=visit,
                    level=level,
                    recipient=recipients[0] if len(recipients) == 1 else None,
                    sent_at=now,
                )
        except IntegrityError:
            return 0  # another run sent it
        if not recipients:
            return 0
        subject, body = _message(visit, handoff, level, minutes, unit)
        send_mail(subject, body, None, [u.email for u in recipients], fail_silently=False)
    return 1


def handoff_breaches_notify(*, now: datetime | None = None) -> int:
    """Email about every waiting arrival past its hand-off's SLA (the owner) and past its
    escalation threshold (the managers), once each. Returns the emails sent."""
    now = now or timezone.now()
    handoffs = (
        Handoff.objects.filter(sla_minutes__isnull=False)
        .select_related("step", "stream")
        .order_by("stream_id", "position")
    )
    sent = 0
    for _, group in groupby(handoffs, key=lambda h: h.stream_id):
        group = list(group)
        now_w = now_offsets(group[0].stream, group, now)
        for handoff in group:
            levels = [(AlertLevel.OWNER, handoff.sla_minutes)]
            if handoff.escalate_minutes is not None:
                levels.append((AlertLevel.MANAGER, handoff.escalate_minutes))
            step_w = now_w.get(handoff.step_id)
            unit = "minutes" if step_w is None else "working minutes"
            for level, minutes in levels:
                for visit in _due(handoff, level, minutes, now, step_w):
                    sent += _send(visit, handoff, level, minutes, now, unit)
    return sent
