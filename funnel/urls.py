from django.urls import path

from funnel import views

app_name = "funnel"
urlpatterns = [
    path("", views.deal_list, name="deal_list"),
    path("new/", views.deal_new, name="deal_new"),
    path("<int:pk>/", views.deal_detail, name="deal_detail"),
    path("<int:pk>/move/", views.deal_move_view, name="deal_move"),
    path("<int:pk>/work/", views.deal_log_work_view, name="deal_log_work"),
    path("<int:pk>/close/", views.deal_close_view, name="deal_close"),
]
