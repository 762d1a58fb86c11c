from django.urls import path

from streams.people import views

app_name = "people"
urlpatterns = [
    path("teams/", views.people_home, name="home"),
    path("teams/<slug:slug>/people/", views.team_people_page, name="team"),
    path("teams/<slug:slug>/people/<int:pk>/role/", views.member_role, name="role"),
    path(
        "teams/<slug:slug>/people/<int:pk>/deactivate/",
        views.member_deactivate_page,
        name="deactivate",
    ),
    path(
        "teams/<slug:slug>/people/former/<int:pk>/reactivate/",
        views.member_reactivate_page,
        name="reactivate",
    ),
    path(
        "teams/<slug:slug>/invitations/<int:pk>/resend/",
        views.invitation_resend_view,
        name="resend",
    ),
    path("accounts/settings/", views.account_settings, name="account"),
    path("accounts/time-zone/", views.time_zone_propose, name="time_zone_propose"),
    path(
        "accounts/invitation/<uidb64>/<token>/",
        views.InvitationAcceptView.as_view(),
        name="invitation_accept",
    ),
]
