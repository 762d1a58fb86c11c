"""Commenting on a cycle, from its page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kaizen.forms import CommentForm
from kaizen.models import KaizenCycle
from kaizen.services import cycle_comment_add
from kaizen.views.cycle import cycle_form


@cycle_form("comment_form", CommentForm, done="", anchor="#comments")
def cycle_comment(request: HttpRequest, cycle: KaizenCycle, data: dict[str, Any]) -> KaizenCycle:
    """A comment flashes no message: the page opens at the comments, where it now stands."""
    cycle_comment_add(cycle=cycle, user=request.user, body=data["body"])
    return cycle
