from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnel.exporting.csv_export import export_csv
from funnel.exporting.xes import export_xes
from streams.models import ValueStream


class Command(BaseCommand):
    help = (
        "Export a value stream's event log: csv (the columns of the visits import, so the file "
        "imports back) or xes (IEEE 1849, for ProM and pm4py). Written as it is read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stream", required=True, help="Slug of the value stream.")
        parser.add_argument("--format", required=True, choices=("csv", "xes"))
        parser.add_argument("--output", help="File to write (default: standard output).")

    def handle(self, *args, stream: str, format: str, output: str | None, **opts) -> None:
        try:
            value_stream = ValueStream.objects.get(slug=stream)
        except ValueStream.DoesNotExist:
            raise CommandError(f"No value stream with slug '{stream}'.") from None
        chunks = export_csv(value_stream) if format == "csv" else export_xes(value_stream)
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        path = Path(output)
        try:
            # newline="": the csv module already ends rows with \r\n.
            with path.open("w", encoding="utf-8", newline="") as f:
                for chunk in chunks:
                    f.write(chunk)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}.") from exc
        self.stderr.write(f"Wrote {path} ({path.stat().st_size:,} bytes).")
