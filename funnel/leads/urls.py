"""Pages of leads, under a stream: ``/streams/<slug>/leads/setup/``, ``…/handoffs/`` and
``…/queue/`` (docs/leads.md)."""

from django.urls import path

from funnel.leads import undo_views, views

app_name = "leads"
urlpatterns = [
    path("<slug:slug>/leads/setup/", views.setup, name="setup"),
    path("<slug:slug>/leads/reasons/add/", views.reason_add, name="reason_add"),
    path("<slug:slug>/leads/reasons/<int:pk>/rename/", views.reason_rename, name="reason_rename"),
    path(
        "<slug:slug>/leads/reasons/<int:pk>/retire/", views.reason_retire_view, name="reason_retire"
    ),
    path("<slug:slug>/leads/limits/seller/", views.seller_limit, name="seller_limit"),
    path("<slug:slug>/leads/limits/step/", views.step_limit, name="step_limit"),
    path("<slug:slug>/handoffs/", views.board, name="board"),
    path("<slug:slug>/handoffs/<int:visit_id>/decide/", views.decide, name="decide"),
    path("<slug:slug>/handoffs/decisions/<int:pk>/undo/", undo_views.undo, name="undo"),
    path("<slug:slug>/queue/", views.queue, name="queue"),
    path("<slug:slug>/queue/pull/", views.pull, name="pull"),
]
