from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from vsm_project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("streams/", include("streams.urls")),
    path("", include("streams.people.urls")),
    path("deals/", include("funnel.urls")),
    path("dashboards/", include("funnel.dashboard_views")),
    path("kaizen/", include("kaizen.urls")),
    path("api/", include("vsm_project.api_urls")),
    path("admin/", admin.site.urls),
]

# The app's own error pages (templates/403.html, 404.html, 500.html), JSON under /api/.
handler400 = "vsm_project.errors.bad_request"
handler403 = "vsm_project.errors.permission_denied"
handler404 = "vsm_project.errors.page_not_found"
handler500 = "vsm_project.errors.server_error"
