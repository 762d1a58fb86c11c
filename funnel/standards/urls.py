from django.urls import include, path

from funnel.standards import views

app_name = "standards"
_standards = [
    path("", views.standards_page, name="page"),
    path("steps/<int:step_id>/items/", views.item_add_view, name="item_add"),
    path("items/<int:pk>/edit/", views.item_edit_view, name="item_edit"),
    path("items/<int:pk>/retire/", views.item_retire_view, name="item_retire"),
    path("steps/<int:step_id>/assets/", views.step_asset_add_view, name="asset_add"),
    path("assets/<int:pk>/remove/", views.step_asset_remove_view, name="asset_remove"),
]
urlpatterns = [
    path("streams/<slug:slug>/standards/", include(_standards)),
    path("deals/<int:pk>/checklist/", views.deal_checklist_view, name="deal_checklist"),
]
