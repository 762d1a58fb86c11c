"""A URLconf for the 500 tests of ``test_deployment``: the app's, plus a view that crashes, on
both sides of ``/api/``, with the app's error handlers."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("boom/", _boom),
    path("api/boom/", _boom),
    path("", include("vsm_project.urls")),
]
handler400 = "vsm_project.errors.bad_request"
handler403 = "vsm_project.errors.permission_denied"
handler404 = "vsm_project.errors.page_not_found"
handler500 = "vsm_project.errors.server_error"
