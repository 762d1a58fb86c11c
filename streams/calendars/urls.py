from django.urls import include, path

from streams.calendars import views

app_name = "calendars"
# The pages of one team's calendars, under /teams/<slug>/calendars/.
_calendars = [
    path("", views.calendar_list, name="list"),
    path("new/", views.calendar_new, name="new"),
    path("lanes/", views.lane_calendars, name="lanes"),
    path("<int:pk>/", views.calendar_detail, name="detail"),
    path("<int:pk>/delete/", views.calendar_delete_page, name="delete"),
    path("<int:pk>/closures/", views.closure_new, name="closure_new"),
    path("<int:pk>/closures/<int:closure_pk>/remove/", views.closure_delete, name="closure_delete"),
]
urlpatterns = [path("teams/<slug:slug>/calendars/", include(_calendars))]
