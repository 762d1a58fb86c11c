from django.urls import path

from funnel.standards import views

app_name = "standards"
urlpatterns = [
    path("streams/<slug:slug>/standards/", views.standards_page, name="page"),
    path(
        "streams/<slug:slug>/standards/steps/<int:step_id>/items/",
        views.item_add_view,
        name="item_add",
    ),
    path(
        "streams/<slug:slug>/standards/items/<int:pk>/edit/",
        views.item_edit_view,
        name="item_edit",
    ),
    path(
        "streams/<slug:slug>/standards/items/<int:pk>/retire/",
        views.item_retire_view,
        name="item_retire",
    ),
    path(
        "streams/<slug:slug>/standards/steps/<int:step_id>/assets/",
        views.step_asset_add_view,
        name="asset_add",
    ),
    path(
        "streams/<slug:slug>/standards/assets/<int:pk>/remove/",
        views.step_asset_remove_view,
        name="asset_remove",
    ),
    path("deals/<int:pk>/checklist/", views.deal_checklist_view, name="deal_checklist"),
]
