from django.urls import path

from kaizen.cockpit import views as cockpit
from kaizen.fives import views as five_s
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
    # The weekly digest of the cockpit (kaizen/cockpit, docs/cockpit.md).
    path("digest/", cockpit.digest_setting, name="digest_setting"),
    path("digest/unsubscribe/<str:token>/", cockpit.digest_unsubscribe, name="digest_unsubscribe"),
    # The 5S audit of a stream (kaizen/fives, docs/five-s.md).
    path("5s/<slug:slug>/", five_s.five_s_page, name="five_s"),
    path("5s/<slug:slug>/audits/new/", five_s.audit_new, name="five_s_audit_new"),
    path("5s/<slug:slug>/audits/<int:pk>/", five_s.audit_detail, name="five_s_audit"),
    path("5s/<slug:slug>/audits/<int:pk>/edit/", five_s.audit_edit, name="five_s_audit_edit"),
    path("5s/<slug:slug>/questions/", five_s.questions_page, name="five_s_questions"),
    path("5s/<slug:slug>/questions/<int:pk>/", five_s.question_edit, name="five_s_question"),
    path(
        "5s/<slug:slug>/questions/<int:pk>/retire/",
        five_s.question_retire_view,
        name="five_s_question_retire",
    ),
]
