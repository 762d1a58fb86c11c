"""Pages of qualification, under a stream: ``/streams/<slug>/criteria/…``."""

from django.urls import path

from funnel.qualification import views

app_name = "qualification"
urlpatterns = [
    path("<slug:slug>/criteria/", views.criteria_page, name="criteria"),
    path("<slug:slug>/criteria/preset/", views.criteria_preset, name="preset"),
    path("<slug:slug>/criteria/add/", views.criterion_add, name="add"),
    path("<slug:slug>/criteria/move/", views.criterion_move, name="move"),
    path("<slug:slug>/criteria/<int:pk>/edit/", views.criterion_edit, name="edit"),
    path("<slug:slug>/criteria/<int:pk>/retire/", views.criterion_retire_view, name="retire"),
    path("<slug:slug>/criteria/<int:pk>/restore/", views.criterion_restore_view, name="restore"),
]
