import sys
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streams.models import JobState
from streams.services import job_create
from vsm_project.background import job_enqueue
from vsm_project.demo import (
    DEMO_TEAM_SLUG,
    default_anchor,
    demo_exists,
    demo_inventory,
    demo_logins,
    demo_seed,
)
from vsm_project.demo_assets import demo_assets_add
from vsm_project.demo_five_s import demo_five_s_add
from vsm_project.demo_forecasts import demo_default_forecast_add, demo_forecasts_add
from vsm_project.tasks import seed_demo_task


class Command(BaseCommand):
    help = (
        "Create the demo team with the example value stream of domain.md and N simulated "
        "deals. The same --seed (and --anchor) gives the same data. When the demo team is "
        "already there, --if-missing leaves it alone (make run); otherwise the command says "
        "what replacing it deletes and asks first (make demo-reset), or --yes replaces it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deals", type=int, default=500, help="How many deals (default 500).")
        parser.add_argument(
            "--leads",
            type=int,
            default=None,
            help="How many leads that never became deals (default six per deal).",
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--anchor",
            help="The simulated 'now', ISO 8601 with a time zone (default: today 00:00 UTC).",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Seed only when there is no demo team; never delete anything (make run).",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Replace an existing demo team without asking (make demo-reset YES=1).",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never ask: without --yes an existing demo team is then left alone and the "
            "command fails.",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Run as a Celery task and follow its progress.",
        )

    def handle(
        self,
        *args,
        deals: int,
        seed: int,
        leads: int | None,
        anchor: str | None,
        background: bool,
        if_missing: bool = False,
        yes: bool = False,
        interactive: bool = True,
        **options,
    ) -> None:
        if deals < 0:
            raise CommandError("--deals must be zero or more.")
        if leads is not None and leads < 0:
            raise CommandError("--leads must be zero or more.")
        try:
            anchor_at = datetime.fromisoformat(anchor) if anchor else default_anchor()
        except ValueError as exc:
            raise CommandError(f"--anchor: {exc}") from exc
        if anchor_at.tzinfo is None:
            raise CommandError("--anchor needs a time zone, e.g. 2026-01-31T00:00:00+00:00.")

        if demo_exists():
            if if_missing:
                # Parts of the demo added after it was seeded, each only when missing.
                if demo_assets_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor_at, seed=seed):
                    self.stdout.write("Added the asset library's demo assets.")
                if demo_five_s_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor_at, seed=seed):
                    self.stdout.write("Added the 5S audits and the steps' checklists.")
                if demo_forecasts_add(team_slug=DEMO_TEAM_SLUG, anchor=anchor_at, seed=seed):
                    self.stdout.write("Added a year of weekly stored forecasts.")
                if demo_default_forecast_add(team_slug=DEMO_TEAM_SLUG):
                    self.stdout.write("Computed the forecast against target.")
                self.stdout.write(
                    f"The demo team ({DEMO_TEAM_SLUG}) is already there: nothing changed. "
                    "`make demo-reset` replaces it."
                )
                self._print_logins()
                return
            if not yes:
                self._confirm_reset(interactive=interactive)

        started = time.monotonic()
        if background:
            job = job_create(
                kind="seed demo",
                params={
                    "deals": deals,
                    "seed": seed,
                    "anchor": anchor_at.isoformat(),
                    "leads": leads,
                },
                total=deals,
            )
            if not job_enqueue(job, seed_demo_task, deals, seed, anchor_at.isoformat(), leads):
                raise CommandError(f"{job.error} (job #{job.pk}: run this command again)")
            result = self._follow(job.pk)
        else:
            result = demo_seed(
                deals=deals, seed=seed, anchor=anchor_at, leads=leads, progress=self._print_progress
            ).as_dict()
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result['deals']:,} deals, {result.get('leads', 0):,} leads and "
                f"{result['visits']:,} visits in "
                f"{elapsed:.1f} s ({result['open_deals']:,} open, {result['won']:,} won, "
                f"{result['lost']:,} lost). Stream: {result['stream_slug']}"
            )
        )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("\nDemo logins (username / password / role):")
        for username, password, role in demo_logins():
            self.stdout.write(f"  {username:<8} {password}  {role}")

    def _confirm_reset(self, *, interactive: bool) -> None:
        """Say what replacing the demo deletes, and go on only on an explicit yes: the demo
        team may hold a team's real work by now."""
        inventory = demo_inventory()
        listing = ", ".join(f"{what} {n:,}" for what, n in inventory.items())
        self.stdout.write(
            f"Replacing the demo data deletes the demo team ({DEMO_TEAM_SLUG}) and everything "
            f"made in it: {listing}."
        )
        if not interactive or not sys.stdin.isatty():
            raise CommandError(
                "The demo team is already there and nothing was deleted. To replace it, "
                "answer yes at a terminal or pass --yes (make demo-reset YES=1)."
            )
        answer = input("Delete all of this and seed the demo again? Type 'yes' to go on: ")
        if answer.strip().lower() != "yes":
            raise CommandError("Not confirmed: nothing was deleted.")

    def _print_progress(self, done: int, total: int, message: str) -> None:
        pct = 100 * done / total if total else 100
        self.stdout.write(f"  [{pct:5.1f}%] {message}")

    def _follow(self, job_id: int) -> dict:
        from streams.models import Job

        last = None
        while True:
            job = Job.objects.get(pk=job_id)
            if (job.done, job.state) != last:
                self._print_progress(job.done, job.total, job.message or job.state)
                last = (job.done, job.state)
            if job.state == JobState.DONE:
                return job.result
            if job.state == JobState.FAILED:
                raise CommandError(f"The seeding task failed: {job.error}")
            time.sleep(0.5)
