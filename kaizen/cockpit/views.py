"""The weekly digest's pages: the opt-in posted from the account page, and the unsubscribe
link of each email (a signed token: it works without logging in)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kaizen.cockpit.digest import digest_subscribe, may_subscribe, user_of_token


@require_POST
def digest_setting(request: HttpRequest) -> HttpResponse:
    """Turn the weekly digest on (``weekly=on``) or off, then back to the account page."""
    if not may_subscribe(request.user):
        raise Http404("The weekly digest is for the leadership and managers of a team.")
    weekly = request.POST.get("weekly") == "on"
    digest_subscribe(user=request.user, weekly=weekly)
    messages.success(
        request,
        "You will get the weekly digest by email every Monday."
        if weekly
        else "You will not get the weekly digest any more.",
    )
    return redirect("people:account")


@login_not_required
@require_http_methods(["GET", "POST"])
def digest_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with one button (a mail client's link preview must not unsubscribe);
    POST: unsubscribe the person the token names."""
    user = user_of_token(token)
    if user is None:
        raise Http404("This unsubscribe link is not valid.")
    done = request.method == "POST"
    if done:
        digest_subscribe(user=user, weekly=False)
    return render(request, "kaizen/cockpit/unsubscribe.html", {"person": user, "done": done})
