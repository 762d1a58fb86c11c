from django.urls import path

from kaizen.views import board, comments, cycle, phases, plan

app_name = "kaizen"
urlpatterns = [
    path("", board.board, name="board"),
    path("new/", plan.cycle_new, name="new"),
    path("<int:pk>/", cycle.cycle_detail, name="detail"),
    path("<int:pk>/check.json", cycle.cycle_check_status, name="check_status"),
    path("<int:pk>/plan/", plan.cycle_plan_edit, name="plan"),
    path("<int:pk>/withdraw/", plan.cycle_delete_view, name="withdraw"),
    path("<int:pk>/do/", phases.cycle_do, name="do"),
    path("<int:pk>/notes/", phases.cycle_notes, name="notes"),
    path("<int:pk>/check/", phases.cycle_check, name="check"),
    path("<int:pk>/act/", phases.cycle_act, name="act"),
    path("<int:pk>/adopt/", phases.cycle_adopt_view, name="adopt"),
    path("<int:pk>/adapt/", phases.cycle_adapt_view, name="adapt"),
    path("<int:pk>/abandon/", phases.cycle_abandon_view, name="abandon"),
    path("<int:pk>/comment/", comments.cycle_comment, name="comment"),
]
