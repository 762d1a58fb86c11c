"""Pages of the asset library: ``/assets/…`` (docs/assets.md)."""

from django.urls import path

from funnel.assets import outcome_views, views

app_name = "assets"
urlpatterns = [
    path("", views.library, name="library"),
    path("new/", views.asset_new, name="new"),
    path("outcomes/", outcome_views.outcomes_page, name="outcomes"),
    path("<int:pk>/", views.asset_detail, name="detail"),
    path("<int:pk>/edit/", views.asset_edit, name="edit"),
    path("<int:pk>/versions/new/", views.version_new, name="version_new"),
    path(
        "<int:pk>/versions/<int:version_pk>/download/",
        views.version_download,
        name="download",
    ),
    path("<int:pk>/versions/<int:version_pk>/decide/", views.version_decide_view, name="decide"),
    path("<int:pk>/review/", views.asset_review_view, name="review"),
    path("<int:pk>/retire/", views.asset_retire_view, name="retire"),
    path("<int:pk>/restore/", views.asset_restore_view, name="restore"),
    path("<int:pk>/attach/", views.asset_attach_view, name="attach"),
    path("<int:pk>/steps/<int:step_pk>/detach/", views.asset_detach_view, name="detach"),
    path("<int:pk>/use/", views.asset_use_view, name="use"),
]
