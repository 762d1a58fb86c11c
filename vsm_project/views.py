from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from streams.models import Job
from streams.selectors import home_memberships, team_ids_with_role
from vsm_project.health import health_status


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"memberships": home_memberships(request.user)})


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
    return render(request, "job_detail.html", {"job": job})
