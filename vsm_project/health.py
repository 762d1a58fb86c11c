"""What ``/healthz`` reports: the database, the Celery broker and the workers (any of them
down: ``fail``, HTTP 503), and the metrics (figures that miss a change older than
``METRICS_OWED_GRACE_SECONDS``: ``degraded``, naming the streams, HTTP 200: the product works,
its figures lag)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from funnel.metrics.snapshots import metrics_owed
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


def _metrics(database_ok: bool) -> dict:
    """The streams whose figures miss a change older than the grace (a recompute is owed:
    Redis was down, a worker died, or they are queued behind a long job)."""
    grace = settings.METRICS_OWED_GRACE_SECONDS
    if not database_ok:
        return {"ok": False, "error": "database unreachable, metrics cannot be checked"}
    try:
        owed = list(
            metrics_owed(older_than=timezone.now() - timedelta(seconds=grace))
            .order_by("stream_id")
            .values(
                "stream_id",
                "stream__slug",
                "stream__name",
                "stream__team__slug",
                "changed_at",
                "computed_at",
            )
        )
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    streams = [
        {
            "id": row["stream_id"],
            "slug": row["stream__slug"],
            "name": row["stream__name"],
            "team": row["stream__team__slug"],
            "changed_at": row["changed_at"].isoformat(),
            "computed_at": row["computed_at"].isoformat() if row["computed_at"] else None,
        }
        for row in owed
    ]
    report = {"ok": not streams, "grace_seconds": grace, "stale_streams": streams}
    if streams:
        names = ", ".join(s["slug"] for s in streams)
        report["error"] = f"metrics older than their changes: {names}"
    return report


def health_status() -> tuple[bool, dict]:
    """Returns ``(healthy, report)``. ``report["failing"]`` names the parts that are down
    (unhealthy: 503); ``report["degraded"]`` the parts that lag but work (still healthy:
    ``status`` is ``degraded``), today the metrics, naming the streams in
    ``report["metrics"]["stale_streams"]``."""
    database = _database()
    broker = _broker()
    workers = _workers(broker["ok"])
    parts = {"database": database, "broker": broker, "workers": workers}
    failing = [name for name, part in parts.items() if not part["ok"]]
    metrics = _metrics(database["ok"])
    degraded = [] if metrics["ok"] or not database["ok"] else ["metrics"]
    status = "fail" if failing else "degraded" if degraded else "ok"
    report = {"status": status, "failing": failing, "degraded": degraded, **parts}
    return not failing, report | {"metrics": metrics}
