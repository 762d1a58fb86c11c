"""The weekly digest: the cockpit's figures by email (docs/cockpit.md "Weekly digest").

- Opt-in: :class:`DigestSubscription` ``weekly``, set on the account page; off by default.
- Who may have it: people who lead or manage a team (roles leadership and manager) and admins,
  the roles the team-wide cockpit is shown to; it covers the current-state streams of those
  teams only.
- Once a week: beat runs ``kaizen.tasks.send_weekly_digests`` every hour; each run sends the
  digest of the current ISO week (Monday, UTC) to every subscriber who has not had it. A
  ``DigestSent`` row per person and week is written in the transaction that sends, under a
  unique constraint: a second run, or a second worker, sends nothing. After an outage of Redis
  or the workers the next hourly run sends what is owed for the week.
- Each email carries an unsubscribe link (a signed token, no login needed) and the
  ``List-Unsubscribe`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from kaizen.cockpit.figures import StreamCockpit, stream_cockpit
from kaizen.cockpit.models import DigestSent, DigestSubscription
from streams.models import Role, StreamState
from streams.selectors import home_memberships

#: The roles whose team-wide figures the cockpit and the digest show.
COCKPIT_ROLES = (Role.LEADERSHIP, Role.MANAGER, "admin")
UNSUBSCRIBE_SALT = "kaizen.cockpit.digest.unsubscribe"


@dataclass
class TeamCockpit:
    team: object
    role: str
    role_code: str
    streams: list[StreamCockpit]


def cockpit_memberships(user) -> list[dict]:
    """The user's teams whose cockpit they may see (``COCKPIT_ROLES``), each with its
    current-state streams (the home page's memberships, narrowed)."""
    if not user.is_authenticated:
        return []
    entries = []
    for entry in home_memberships(user):
        if entry["role_code"] not in COCKPIT_ROLES:
            continue
        streams = [s for s in entry["streams"] if s.state == StreamState.CURRENT]
        entries.append({**entry, "streams": streams})
    return entries


def team_cockpits(
    user, *, now: datetime, compute: bool = False, team_id: int | None = None
) -> list[TeamCockpit]:
    """Every team cockpit ``user`` may see (only ``team_id``'s when given), with each
    current-state stream's figures."""
    return [
        TeamCockpit(
            team=entry["team"],
            role=entry["role"],
            role_code=entry["role_code"],
            streams=[
                stream_cockpit(s, now=now, user=user, compute=compute) for s in entry["streams"]
            ],
        )
        for entry in cockpit_memberships(user)
        if team_id is None or entry["team"].pk == team_id
    ]


def may_subscribe(user) -> bool:
    return bool(cockpit_memberships(user))


def subscribed(user) -> bool:
    return DigestSubscription.objects.filter(user=user, weekly=True).exists()


def digest_subscribe(*, user, weekly: bool) -> DigestSubscription:
    """Turn the weekly digest on or off for ``user``."""
    subscription, _ = DigestSubscription.objects.update_or_create(
        user=user, defaults={"weekly": weekly}
    )
    return subscription


def unsubscribe_token(user) -> str:
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT)


def user_of_token(token: str):
    """The user an unsubscribe token names, or None (bad or foreign token)."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of ``moment``'s ISO week."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _absolute(path: str) -> str:
    return settings.VSM_SITE_URL.rstrip("/") + path


def digest_message(user, *, now: datetime) -> tuple[EmailMultiAlternatives, int] | None:
    """The digest email of ``user`` and the number of streams it covers; None when the user
    may see no team's cockpit."""
    teams = team_cockpits(user, now=now, compute=True)
    if not teams:
        return None
    week = week_of(now)
    unsubscribe = _absolute(reverse("kaizen:digest_unsubscribe", args=[unsubscribe_token(user)]))
    context = {
        "user": user,
        "teams": teams,
        "week": week,
        "site": settings.VSM_SITE_URL.rstrip("/"),
        "unsubscribe_url": unsubscribe,
        "settings_url": _absolute(reverse("people:account")),
    }
    subject = f"Your weekly sales digest, week of {week:%d %b %Y}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("kaizen/cockpit/digest_email.txt", context),
        to=[user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>"},
    )
    message.attach_alternative(
        render_to_string("kaizen/cockpit/digest_email.html", context), "text/html"
    )
    return message, sum(len(t.streams) for t in teams)


def digest_send(*, user, now: datetime) -> bool:
    """Send ``user`` this week's digest unless it was sent already; True when it went. The
    week's ``DigestSent`` row is written first and the email sent inside the same
    transaction: if sending fails the row is rolled back and the next run tries again."""
    week = week_of(now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                sent = DigestSent.objects.create(user=user, week=week, sent_at=now)
        except IntegrityError:
            return False  # another run sent it
        built = digest_message(user, now=now)
        if built is None:
            transaction.set_rollback(True)
            return False
        message, streams = built
        message.send(fail_silently=False)
        DigestSent.objects.filter(pk=sent.pk).update(streams=streams)
    return True


def digests_due(*, now: datetime):
    """The subscribers still owed this week's digest: active, with an email address."""
    return (
        get_user_model()
        .objects.filter(digest_subscription__weekly=True, is_active=True)
        .exclude(email="")
        .exclude(digests_sent__week=week_of(now))
        .order_by("pk")
    )


def digests_send_due(*, now: datetime) -> int:
    """Send every digest owed this week (:func:`digests_due`); returns how many went."""
    return sum(digest_send(user=user, now=now) for user in digests_due(now=now))
