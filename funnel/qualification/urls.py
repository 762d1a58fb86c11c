"""Pages of qualification, under a stream: ``/streams/<slug>/criteria/…``."""

from django.urls import include, path

from funnel.qualification import views

app_name = "qualification"
_criteria = [
    path("", views.criteria_page, name="criteria"),
    path("preset/", views.criteria_preset, name="preset"),
    path("add/", views.criterion_add, name="add"),
    path("move/", views.criterion_move, name="move"),
    path("<int:pk>/edit/", views.criterion_edit, name="edit"),
    path("<int:pk>/retire/", views.criterion_retire_view, name="retire"),
    path("<int:pk>/restore/", views.criterion_restore_view, name="restore"),
]
urlpatterns = [path("<slug:slug>/criteria/", include(_criteria))]
