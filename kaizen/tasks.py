"""Background work of the kaizen app: computing the Check of a cycle (metrics.md §6)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from kaizen.cockpit.digest import digests_send_due
from kaizen.services import cycle_check, cycles_check_open


@shared_task(name="kaizen.tasks.check_cycle")
def check_cycle(cycle_id: int) -> str | None:
    """Compute and store one cycle's Check (queued when the cycle enters Check). Idempotent:
    the Check is an upsert. Returns the verdict, or None when the cycle is not in Check or
    Act any more. A failure is not retried with a countdown (an ETA message makes a celery 5.7
    worker exit when Redis drops, docs/background-work.md): ``check_open_cycles`` computes
    every open cycle's Check again within five minutes."""
    check = cycle_check(cycle_id=cycle_id, now=timezone.now())
    return check.verdict if check is not None else None


@shared_task(name="kaizen.tasks.check_open_cycles")
def check_open_cycles() -> int:
    """Every few minutes (beat): the Check of every cycle in Check or Act again, so deals
    that arrived since count. Returns how many were computed."""
    return cycles_check_open(now=timezone.now())


@shared_task(name="kaizen.tasks.send_weekly_digests", ignore_result=True)
def send_weekly_digests() -> int:
    """Every hour (beat): send this week's digest to every subscriber who has not had it
    (``kaizen.cockpit.digest``). Idempotent: a second run in the same week sends nothing; a
    run missed while Redis or the workers were down is made up by the next one. Returns how
    many went."""
    return digests_send_due(now=timezone.now())
