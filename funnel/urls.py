from django.urls import path

from funnel.deals import views
from funnel.importing import views as import_views

app_name = "funnel"
urlpatterns = [
    path("", views.deal_list, name="deal_list"),
    path("new/", views.deal_new, name="deal_new"),
    path("<int:pk>/", views.deal_detail, name="deal_detail"),
    path("<int:pk>/move/", views.deal_move_view, name="deal_move"),
    path("<int:pk>/work/", views.deal_log_work_view, name="deal_log_work"),
    path("<int:pk>/score/", views.deal_score_view, name="deal_score"),
    path("<int:pk>/win-call/", views.deal_win_call_view, name="deal_win_call"),
    path("<int:pk>/close/", views.deal_close_view, name="deal_close"),
    path("<int:pk>/undo/", views.deal_close_undo_view, name="deal_close_undo"),
    path("<int:pk>/reopen/", views.deal_reopen_view, name="deal_reopen"),
    path("<int:pk>/edit/", views.deal_edit, name="deal_edit"),
    path("import/", import_views.import_start, name="import_start"),
    path("import/<int:pk>/", import_views.import_map, name="import_map"),
    path("import/<int:pk>/errors.csv", import_views.import_errors_csv, name="import_errors"),
    path("import/<int:pk>/run/", import_views.import_run, name="import_run"),
    path("export/<slug:slug>.csv", import_views.export_events_csv, name="export_csv"),
    path("export/<slug:slug>.xes", import_views.export_events_xes, name="export_xes"),
]
