"""The asset library's pages (``/assets/…``, docs/assets.md): the library of a team, an asset's
page (versions, steps, usage, reviews), the new asset and new version forms, the buttons (mark
reviewed, retire and restore with confirmation, attach, accept or decline a proposal, "used on
this deal") and the file download. Every post calls one service and redirects back; a refused
form is shown again with the reason next to its field (status 400)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from funnel.assets import selectors, services
from funnel.assets.forms import (
    AssetEditForm,
    AssetForm,
    AttachForm,
    LibraryFilterForm,
    ReviewForm,
    VersionForm,
)
from funnel.assets.models import (
    Asset,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
    ProposalState,
)
from funnel.assets.outcome_views import asset_section
from funnel.common.pages import button_post, form_page
from funnel.eventlog.selectors import deals_visible_to
from streams.forms import form_submit
from streams.models import ProcessStep, Team

_MB = 1024 * 1024


def _max_mb() -> float:
    return round(settings.ASSETS_MAX_BYTES / _MB, 2)


def _team(request: HttpRequest, teams: list[Team]) -> Team | None:
    wanted = request.POST.get("team") or request.GET.get("team")
    for team in teams:
        if str(team.pk) == wanted:
            return team
    return teams[0] if teams else None


#: An asset's details: what the edit form changes, and the new asset form asks besides its
#: first version.
_DETAILS = ("title", "kind", "description", "tags", "owner", "reviewer", "review_interval_days")


def _source(data: dict) -> dict:
    """A version's file or link and its change note (a form's ``_SourceFields``), in the
    services' keywords."""
    return {"upload": data["file"], "link": data["link"], "change_note": data["change_note"]}


def _asset(request: HttpRequest, pk: int) -> Asset:
    return get_object_or_404(selectors.assets_visible_to(request.user), pk=pk)


def library(request: HttpRequest) -> HttpResponse:
    teams = selectors.library_teams(request.user)
    team = _team(request, teams)
    form = LibraryFilterForm(request.GET or None, team=team)
    filters = form.cleaned_data if form.is_valid() else {}
    rows, counts = [], {}
    if team is not None:
        now = timezone.now()
        mine = selectors.assets_visible_to(request.user).filter(team=team)
        assets = selectors.filter_state(mine, filters.get("state") or "", now)
        if filters.get("step"):
            on_step = AssetStep.objects.filter(step=filters["step"]).values("asset_id")
            assets = assets.filter(pk__in=on_step)
        if filters.get("kind"):
            assets = assets.filter(kind=filters["kind"])
        assets = selectors.search(assets, filters.get("q") or "")
        rows = selectors.library_rows(assets, now)
        counts = {
            state: selectors.filter_state(mine, state, now).count()
            for state in ("due", "stale", "retire", "proposed")
        }
    return render(
        request,
        "funnel/assets/library.html",
        {
            "teams": teams,
            "team": team,
            "form": form,
            "rows": rows,
            "counts": counts,
            "filtered": any(filters.values()) if filters else False,
            "can_propose": team is not None and selectors.can_propose(request.user, team.pk),
            "can_curate": team is not None and selectors.can_curate(request.user, team.pk),
            "stale_days": settings.ASSETS_STALE_AFTER_DAYS,
            "unused_days": settings.ASSETS_UNUSED_DAYS,
        },
    )


def asset_new(request: HttpRequest) -> HttpResponse:
    teams = selectors.library_teams(request.user)
    team = _team(request, teams)
    if team is None or not selectors.can_propose(request.user, team.pk):
        raise PermissionDenied("Managers add assets to the library and reps propose them.")
    form = AssetForm(request.POST or None, request.FILES or None, team=team, max_mb=_max_mb())

    def saved(asset: Asset) -> HttpResponse:
        if asset.state == ProposalState.PROPOSED:
            messages.success(request, "Proposed: a manager of the team will accept it.")
        else:
            messages.success(request, f"Added “{asset.title}” to the library.")
        return redirect("assets:detail", pk=asset.pk)

    return form_page(
        request,
        form,
        lambda data: services.asset_create(
            user=request.user, team=team, **{k: data[k] for k in _DETAILS}, **_source(data)
        ),
        saved,
        "funnel/assets/asset_form.html",
        {"team": team, "teams": teams, "title": "New asset", "submit": "Add asset"},
    )


def asset_detail(request: HttpRequest, pk: int, **forms) -> HttpResponse:
    asset = _asset(request, pk)
    user = request.user
    can_curate = selectors.can_curate(user, asset.team_id)
    status = forms.pop("status", 200)
    return render(
        request,
        "funnel/assets/asset_detail.html",
        {
            "asset": asset,
            "review": selectors.review_state(asset),
            "versions": selectors.asset_versions(asset, user),
            "current": selectors.current_versions([asset.pk]).get(asset.pk),
            "attachments": AssetStep.objects.filter(asset=asset).select_related(
                "step", "step__stream"
            ),
            "usage": selectors.usage_by_user(asset, user),
            "usage_own_only": selectors.usage_own_only(user, asset.team_id),
            "use_count": AssetUsage.objects.filter(asset=asset).count(),
            "reviews": AssetReview.objects.filter(asset=asset).select_related(
                "reviewed_by", "version"
            )[:20],
            "can_curate": can_curate,
            "can_propose": selectors.can_propose(user, asset.team_id),
            "can_review": can_curate or asset.reviewer_id == user.pk,
            "attach_form": forms.get("attach_form") or AttachForm(team=asset.team),
            "review_form": forms.get("review_form") or ReviewForm(max_mb=_max_mb()),
            "stale_days": settings.ASSETS_STALE_AFTER_DAYS,
            "outcome": asset_section(asset, request.GET),
        },
        status=status,
    )


def asset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    if not selectors.can_curate(request.user, asset.team_id):
        raise PermissionDenied("Only the team's managers edit its assets.")
    initial = {name: getattr(asset, name) for name in _DETAILS}
    form = AssetEditForm(request.POST or None, team=asset.team, initial=initial)

    def saved(_: Asset) -> HttpResponse:
        messages.success(request, "Saved.")
        return redirect("assets:detail", pk=asset.pk)

    return form_page(
        request,
        form,
        lambda data: services.asset_update(
            user=request.user, asset=asset, **{k: data[k] for k in _DETAILS}
        ),
        saved,
        "funnel/assets/asset_form.html",
        {"asset": asset, "title": f"Edit “{asset.title}”", "submit": "Save"},
    )


def version_new(request: HttpRequest, pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    if not selectors.can_propose(request.user, asset.team_id):
        raise PermissionDenied("Managers add versions and reps propose them.")
    form = VersionForm(request.POST or None, request.FILES or None, max_mb=_max_mb())

    def saved(version: AssetVersion) -> HttpResponse:
        messages.success(
            request,
            f"Version {version.number} added."
            if version.number
            else "New version proposed: a manager of the team will accept it.",
        )
        return redirect("assets:detail", pk=asset.pk)

    return form_page(
        request,
        form,
        lambda data: services.version_add(user=request.user, asset=asset, **_source(data)),
        saved,
        "funnel/assets/asset_form.html",
        {"asset": asset, "title": f"New version of “{asset.title}”", "submit": "Add version"},
    )


def version_download(request: HttpRequest, pk: int, version_pk: int) -> FileResponse:
    """A version's file, to members of the asset's team only (another team's: 404)."""
    version = get_object_or_404(
        selectors.versions_visible_to(request.user), asset_id=pk, pk=version_pk
    )
    return file_response(version)


def file_response(version: AssetVersion) -> FileResponse:
    """Always a download: never shown inline, the browser told not to guess its type, and
    sandboxed if it were opened (the page's download and ``/api/asset-versions/<id>/download/``)."""
    if not version.file:
        raise Http404("This version is a link, not a file.")
    try:
        handle = version.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The file is missing from the storage.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=version.file_name or "asset",
        content_type=version.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


def _button(request: HttpRequest, asset: Asset, call, done: str) -> HttpResponse:
    """One service call from a button; a refusal comes back as a message."""
    return button_post(request, call, done, redirect("assets:detail", pk=asset.pk))


@require_POST
def asset_review_view(request: HttpRequest, pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    form = ReviewForm(request.POST, request.FILES or None, max_mb=_max_mb())
    saved, review = form_submit(
        form,
        lambda data: services.asset_review(
            user=request.user,
            asset=asset,
            note=data["note"],
            **_source(data),
        ),
    )
    if not saved:
        return asset_detail(request, pk, review_form=form, status=400)
    messages.success(
        request,
        "Marked reviewed"
        + (f" with version {review.version.number}." if review.version else ".")
        + f" Next review {asset.review_interval_days} days from now.",
    )
    return redirect("assets:detail", pk=asset.pk)


@require_POST
def asset_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_button(
        request,
        pk,
        "retire",
        services.asset_retire,
        lambda asset: f"Retired “{asset.title}”: it left the steps; its history is kept.",
    )


@require_POST
def asset_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_button(
        request,
        pk,
        "restore",
        services.asset_restore,
        lambda asset: f"Restored “{asset.title}”.",
    )


def _confirmed_button(
    request: HttpRequest,
    pk: int,
    action: str,
    service: Callable[..., Asset],
    done: Callable[[Asset], str],
) -> HttpResponse:
    """A button that asks first (retire, restore: ``action``): its confirmation page until the
    post says ``confirmed=1``, then ``service(user, asset)`` as :func:`_button` calls it."""
    asset = _asset(request, pk)
    if request.POST.get("confirmed") != "1":
        return _confirm_page(request, asset, action)
    message = done(asset)
    return _button(request, asset, lambda: service(user=request.user, asset=asset), message)


def _confirm_page(request: HttpRequest, asset: Asset, action: str) -> HttpResponse:
    if not selectors.can_curate(request.user, asset.team_id):
        raise PermissionDenied("Only the team's managers retire and restore assets.")
    return render(
        request,
        "funnel/assets/confirm.html",
        {"asset": asset, "action": action, "url": reverse(f"assets:{action}", args=[asset.pk])},
    )


@require_POST
def asset_attach_view(request: HttpRequest, pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    if not selectors.can_curate(request.user, asset.team_id):
        raise PermissionDenied("Only the team's managers attach assets to steps.")
    form = AttachForm(request.POST, team=asset.team)
    saved, link = form_submit(
        form,
        lambda data: services.asset_attach(user=request.user, asset=asset, step=data["step"]),
    )
    if not saved:
        return asset_detail(request, pk, attach_form=form, status=400)
    messages.success(request, f"Attached to {link.step.name} ({link.step.stream.name}).")
    return redirect("assets:detail", pk=asset.pk)


@require_POST
def asset_detach_view(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    step = get_object_or_404(ProcessStep, pk=step_pk, stream__team_id=asset.team_id)
    return _button(
        request,
        asset,
        lambda: services.asset_detach(user=request.user, asset=asset, step=step),
        f"Taken off {step.name}.",
    )


@require_POST
def version_decide_view(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    asset = _asset(request, pk)
    version = get_object_or_404(asset.versions, pk=version_pk)
    accept = request.POST.get("decision") == "accept"
    return _button(
        request,
        asset,
        lambda: services.proposal_decide(user=request.user, version=version, accept=accept),
        "Accepted." if accept else "Declined; it stays in the history.",
    )


@require_POST
def asset_use_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One tap from the deal page: "used on this deal"; back to the deal's page."""
    asset = _asset(request, pk)
    deal_id = request.POST.get("deal") or ""
    deal_pk = int(deal_id) if deal_id.isdigit() else 0
    deal = get_object_or_404(deals_visible_to(request.user), pk=deal_pk)
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return button_post(
        request,
        lambda: services.usage_record(user=request.user, asset=asset, deal=deal),
        lambda usage_new: (
            f"Recorded: “{asset.title}” used on this deal."
            if usage_new[1]  # usage_record answers (the usage, whether it is new)
            else f"“{asset.title}” was already recorded on this deal."
        ),
        redirect(back or reverse("funnel:deal_detail", args=[deal.pk]) + "#assets"),
    )
