from django.urls import path

from streams.calendars import views

app_name = "calendars"
urlpatterns = [
    path("teams/<slug:slug>/calendars/", views.calendar_list, name="list"),
    path("teams/<slug:slug>/calendars/new/", views.calendar_new, name="new"),
    path("teams/<slug:slug>/calendars/lanes/", views.lane_calendars, name="lanes"),
    path("teams/<slug:slug>/calendars/<int:pk>/", views.calendar_detail, name="detail"),
    path(
        "teams/<slug:slug>/calendars/<int:pk>/delete/",
        views.calendar_delete_page,
        name="delete",
    ),
    path("teams/<slug:slug>/calendars/<int:pk>/closures/", views.closure_new, name="closure_new"),
    path(
        "teams/<slug:slug>/calendars/<int:pk>/closures/<int:closure_pk>/remove/",
        views.closure_delete,
        name="closure_delete",
    ),
]
