"""What ``/healthz`` reports: the database, the Celery broker and the workers."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from vsm_project.celery import app as celery_app


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager", "detail": "no REDIS_URL: tasks run in-process"}
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "redis"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _workers(broker_ok: bool) -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager", "count": 0}
    if not broker_ok:
        return {"ok": False, "error": "broker unreachable, workers cannot be asked"}
    try:
        replies = celery_app.control.ping(timeout=1.0) or []
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return {"ok": False, "count": 0, "error": "no Celery worker answered a ping"}
    return {"ok": True, "count": len(names), "names": names}


def health_status() -> tuple[bool, dict]:
    """Returns ``(healthy, report)``; ``report["failing"]`` names the parts that are down."""
    database = _database()
    broker = _broker()
    workers = _workers(broker["ok"])
    parts = {"database": database, "broker": broker, "workers": workers}
    failing = [name for name, part in parts.items() if not part["ok"]]
    return not failing, {"status": "ok" if not failing else "fail", "failing": failing, **parts}
