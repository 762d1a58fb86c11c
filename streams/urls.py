from django.urls import path

from streams import views

app_name = "streams"
urlpatterns = [
    path("<slug:slug>/", views.stream_detail, name="detail"),
]
