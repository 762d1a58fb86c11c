from django.urls import path
from django.views.generic import RedirectView

from streams import views

app_name = "streams"
urlpatterns = [
    # The streams are listed by team on the home page.
    path("", RedirectView.as_view(pattern_name="home"), name="list"),
    path("new/", views.stream_new, name="new"),
    path("<slug:slug>/", views.stream_detail, name="detail"),
    path("<slug:slug>/map.svg", views.stream_svg_download, name="svg"),
    path("<slug:slug>/edit/", views.stream_edit, name="edit"),
    path("<slug:slug>/future/", views.stream_future, name="future"),
    path("<slug:slug>/future/another/", views.stream_future_another, name="future_another"),
    path("<slug:slug>/compare/", views.stream_compare, name="compare"),
]
