from django.urls import path

from funnel import views

app_name = "funnel"
urlpatterns = [
    path("", views.deal_list, name="deal_list"),
    path("<int:pk>/", views.deal_detail, name="deal_detail"),
]
