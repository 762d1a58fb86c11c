"""The cockpit's panels on the lower apps' pages, registered in ``KaizenConfig.ready``
through ``streams.hooks``: the team cockpit on the team's dashboard page, and the weekly
digest's opt-in on the account page."""

from __future__ import annotations

from django.utils import timezone

from kaizen.cockpit.digest import may_subscribe, subscribed, team_cockpits
from streams.hooks import StreamPanel


def team_cockpit_panel(team: object, user: object) -> StreamPanel | None:
    """The cockpit of ``team`` for its leadership, managers and admins; None for a rep (whose
    dashboards show their own deals only, docs/cockpit.md "Who sees what")."""
    cockpits = team_cockpits(user, now=timezone.now(), team_id=team.pk)
    if not cockpits:
        return None
    return StreamPanel(template="kaizen/cockpit/_team_panel.html", context={"cockpit": cockpits[0]})


def digest_account_panel(user: object) -> StreamPanel | None:
    """The weekly digest's opt-in, for the people who may have it."""
    if not may_subscribe(user):
        return None
    return StreamPanel(
        template="kaizen/cockpit/_digest_setting.html", context={"subscribed": subscribed(user)}
    )
