"""The asset library's background work (imported by ``funnel.tasks`` so the worker finds it)."""

from __future__ import annotations

from celery import shared_task

from funnel.assets.services import reviews_notify_due


@shared_task(name="funnel.tasks.asset_reviews_due")
def asset_reviews_due() -> int:
    """Hourly (beat): email each reviewer once when an asset falls due (docs/assets.md)."""
    return reviews_notify_due()
