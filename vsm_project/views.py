from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from funnel.eventlog.selectors import open_deal_counts
from kaizen.cockpit.digest import team_cockpits
from streams.models import Job
from streams.selectors import home_memberships, team_ids_with_role
from vsm_project.background import job_restartable
from vsm_project.health import health_status


def home(request: HttpRequest) -> HttpResponse:
    """The user's teams with their role, each team's streams, and the open deals the user
    may see in each; for the teams the user leads or manages, the leadership cockpit
    (kaizen.cockpit, docs/cockpit.md)."""
    memberships = home_memberships(request.user)
    stream_ids = [s.pk for m in memberships for s in m["streams"]]
    open_deals = open_deal_counts(user=request.user, stream_ids=stream_ids)
    for entry in memberships:
        for stream in entry["streams"]:
            stream.open_deals = open_deals.get(stream.pk, 0)
    cockpits = team_cockpits(request.user, now=timezone.now())
    return render(request, "home.html", {"memberships": memberships, "cockpits": cockpits})


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health_status()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's progress: JSON for the polling progress bar, HTML for people."""
    job = get_object_or_404(Job, pk=pk)
    user = request.user
    if not (
        user.is_staff
        or job.created_by_id == user.pk
        or (job.team_id and job.team_id in team_ids_with_role(user))
    ):
        raise Http404
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "id": job.pk,
                "kind": job.kind,
                "state": job.state,
                "done": job.done,
                "total": job.total,
                "percent": job.percent,
                "message": job.message,
                "error": job.error,
                "result": job.result,
            }
        )
    return render(request, "job_detail.html", {"job": job, "restartable": job_restartable(job)})
