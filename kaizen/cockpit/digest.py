"""The weekly digest: the cockpit's figures by email (docs/cockpit.md "Weekly digest").

- Opt-in: :class:`DigestSubscription` ``weekly``, set on the account page; off by default.
- Who may have it: people who lead or manage a team (roles leadership and manager) and admins,
  the roles the team-wide cockpit is shown to; it covers the current-state streams of those
  teams only.
- Once a week, on Monday morning in the person's own time zone: beat runs
  ``kaizen.tasks.send_weekly_digests`` every hour; each run sends every subscriber the digest
  of their current ISO week, counted in their time zone (their profile's, else ``TIME_ZONE``),
  from 07:00 on its Monday there (``SEND_FROM_HOUR``), unless they have had it. A
  ``DigestSent`` row per person and week is written in the transaction that sends, under a
  unique constraint: a second run, or a second worker, sends nothing. After an outage of Redis
  or the workers the next hourly run sends what is owed for the week. The email's dates and
  figures are those the person's cockpit shows, in their time zone.
- Each email carries an unsubscribe link (a signed token, no login needed) and the
  ``List-Unsubscribe`` header.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from kaizen.cockpit.figures import StreamCockpit, stream_cockpit
from kaizen.cockpit.models import DigestSent, DigestSubscription
from streams.models import Role, StreamState, UserProfile
from streams.people.selectors import available_time_zones, user_time_zone
from streams.selectors import home_memberships

#: The roles whose team-wide figures the cockpit and the digest show.
COCKPIT_ROLES = (Role.LEADERSHIP, Role.MANAGER, "admin")
UNSUBSCRIBE_SALT = "kaizen.cockpit.digest.unsubscribe"
#: A week's digest is due from this hour of its Monday in the person's time zone: read on
#: Monday morning, not sent at midnight (or, for a UTC week, on Sunday in the Americas).
SEND_FROM_HOUR = 7


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


def week_of(moment: datetime, zone: tzinfo = UTC) -> date:
    """The Monday of ``moment``'s ISO week, counted in ``zone``."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def _zone(name: str) -> tzinfo:
    """The time zone ``name`` (a profile's), else the site's default (``TIME_ZONE``)."""
    if name and name in available_time_zones():
        return zoneinfo.ZoneInfo(name)
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def person_zone(user) -> tzinfo:
    """The time zone ``user``'s pages are shown in (``streams.models.UserProfile``)."""
    return _zone(user_time_zone(user))


def week_due(now: datetime, zone: tzinfo) -> date | None:
    """The week whose digest is due at ``now`` for a person in ``zone``: their current week,
    once its Monday has reached ``SEND_FROM_HOUR`` there; None earlier on that Monday (the
    week before is over, the new one not yet due)."""
    local = now.astimezone(zone)
    week = week_of(now, zone)
    if local.date() == week and local.hour < SEND_FROM_HOUR:
        return None
    return week


def _absolute(path: str) -> str:
    return settings.VSM_SITE_URL.rstrip("/") + path


def digest_message(
    user, *, now: datetime, zone: tzinfo = UTC
) -> tuple[EmailMultiAlternatives, int] | None:
    """The digest email of ``user`` and the number of streams it covers, its week and its
    figures in ``zone`` (the person's); None when the user may see no team's cockpit."""
    with timezone.override(zone):
        return _message(user, now=now, week=week_of(now, zone))


def _message(user, *, now: datetime, week: date) -> tuple[EmailMultiAlternatives, int] | None:
    teams = team_cockpits(user, now=now, compute=True)
    if not teams:
        return None
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
    transaction: if sending fails the row is rolled back and the next run tries again.
    Nothing is sent before the week is due in the person's time zone (:func:`week_due`)."""
    zone = person_zone(user)
    week = week_due(now, zone)
    if week is None:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                sent = DigestSent.objects.create(user=user, week=week, sent_at=now)
        except IntegrityError:
            return False  # another run sent it
        built = digest_message(user, now=now, zone=zone)
        if built is None:
            transaction.set_rollback(True)
            return False
        message, streams = built
        message.send(fail_silently=False)
        DigestSent.objects.filter(pk=sent.pk).update(streams=streams)
    return True


def digests_due(*, now: datetime) -> list:
    """The subscribers owed a digest at ``now``: active, with an email address, their week
    due in their time zone (:func:`week_due`) and not sent yet."""
    subscribers = list(
        get_user_model()
        .objects.filter(digest_subscription__weekly=True, is_active=True)
        .exclude(email="")
        .order_by("pk")
    )
    zones = dict(
        UserProfile.objects.filter(user__in=subscribers).values_list("user_id", "time_zone")
    )
    weeks = {user.pk: week_due(now, _zone(zones.get(user.pk, ""))) for user in subscribers}
    sent = set(
        DigestSent.objects.filter(user__in=subscribers, week__in=set(weeks.values())).values_list(
            "user_id", "week"
        )
    )
    return [
        user
        for user in subscribers
        if weeks[user.pk] is not None and (user.pk, weeks[user.pk]) not in sent
    ]


def digests_send_due(*, now: datetime) -> int:
    """Send every digest owed this week (:func:`digests_due`); returns how many went."""
    return sum(digest_send(user=user, now=now) for user in digests_due(now=now))
