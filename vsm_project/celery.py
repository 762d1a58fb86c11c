"""The Celery app. Tasks are discovered in each app's ``tasks.py``; config is the ``CELERY_*``
settings (JSON only, time limits, beat schedule)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsm_project.settings")

app = Celery("vsm_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
