from django.urls import path

from kaizen import views

app_name = "kaizen"
urlpatterns = [
    path("", views.board, name="board"),
    path("new/", views.cycle_new, name="new"),
    path("<int:pk>/", views.cycle_detail, name="detail"),
    path("<int:pk>/check.json", views.cycle_check_status, name="check_status"),
    path("<int:pk>/plan/", views.cycle_plan_edit, name="plan"),
    path("<int:pk>/withdraw/", views.cycle_delete_view, name="withdraw"),
    path("<int:pk>/do/", views.cycle_do, name="do"),
    path("<int:pk>/notes/", views.cycle_notes, name="notes"),
    path("<int:pk>/check/", views.cycle_check, name="check"),
    path("<int:pk>/act/", views.cycle_act, name="act"),
    path("<int:pk>/adopt/", views.cycle_adopt_view, name="adopt"),
    path("<int:pk>/adapt/", views.cycle_adapt_view, name="adapt"),
    path("<int:pk>/abandon/", views.cycle_abandon_view, name="abandon"),
    path("<int:pk>/comment/", views.cycle_comment, name="comment"),
]
