from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from streams.people.forms import AccountPasswordChangeForm
from vsm_project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (the Django admin's): the
    # static icon, for everyone, instead of a 404 in the console. Resolved per request, so the
    # hashed name of the manifest storage is used.
    path(
        "favicon.ico",
        login_not_required(
            RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"), permanent=True)
        ),
        name="favicon",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(form_class=AccountPasswordChangeForm),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("streams/", include("streams.urls")),
    path("streams/", include("funnel.qualification.urls")),
    path("streams/", include("funnel.leads.urls")),
    path("", include("funnel.standards.urls")),
    path("", include("streams.people.urls")),
    path("", include("streams.calendars.urls")),
    path("deals/", include("funnel.urls")),
    path("assets/", include("funnel.assets.urls")),
    path("dashboards/", include("funnel.dashboards.urls")),
    path("kaizen/", include("kaizen.urls")),
    path("api/", include("funnel.assets.api_urls")),
    path("api/", include("vsm_project.api_urls")),
    path("admin/", admin.site.urls),
]

# The app's own error pages (templates/403.html, 404.html, 500.html), JSON under /api/.
handler400 = "vsm_project.errors.bad_request"
handler403 = "vsm_project.errors.permission_denied"
handler404 = "vsm_project.errors.page_not_found"
handler500 = "vsm_project.errors.server_error"
