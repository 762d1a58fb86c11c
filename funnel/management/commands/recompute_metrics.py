import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from funnel.metrics.snapshots import (
    metrics_prune,
    metrics_recompute_stream,
    streams_with_deals,
)
from streams.models import ValueStream


class Command(BaseCommand):
    help = (
        "Recompute the metric snapshots (metrics.md §2–5) of one value stream, or of every "
        "stream that has deals, as the nightly Celery job does; prints progress per stream."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stream", help="Slug of the value stream (default: all).")

    def handle(self, *args, stream: str | None, **opts) -> None:
        now = timezone.now()
        if stream is not None:
            streams = list(ValueStream.objects.filter(slug=stream))
            if not streams:
                raise CommandError(f"No value stream with slug '{stream}'.")
        else:
            metrics_prune(now=now)
            streams = streams_with_deals()
        for done, value_stream in enumerate(streams, start=1):
            began = time.perf_counter()

            def progress(set_done: int, set_total: int, message: str) -> None:
                self.stderr.write(f"    {set_done}/{set_total}: {message}")

            sets = metrics_recompute_stream(stream_id=value_stream.pk, now=now, progress=progress)
            self.stderr.write(
                f"[{done}/{len(streams)}] {value_stream.slug}: {sets} window and filter sets "
                f"in {time.perf_counter() - began:.1f} s"
            )
        self.stdout.write(f"Recomputed {len(streams)} stream(s).")
