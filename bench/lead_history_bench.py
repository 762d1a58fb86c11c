"""Benchmark of checking a Salesforce Lead history (``make bench``): 50,000 leads of four
rows each (created, two status changes, an owner change that is not read), 200,000 rows,
checked by ``funnel.importing.validate`` into a stream of its own (nothing is written). The
reader reads a lead's columns once per lead and each time text once, so this stays a few
seconds (issue 16's figure; it used to be a timed test, which a busy machine failed).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench python bench/lead_history_bench.py
    python bench/lead_history_bench.py --leads 10000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import django_setup, peak_mib, postgres_migrated

ROOT = Path(__file__).resolve().parents[1]


def history(leads: int) -> bytes:
    """The Lead history's CSV: four rows a lead."""
    lines = [b"LeadId,CreatedDate,Field,OldValue,NewValue,Lead.Company,Lead.Status"]
    for n in range(leads):
        day = f"2025-{1 + n % 9:02d}-{1 + n % 27:02d}"
        company = f"Co {n % 997}"
        lines += [
            f"L{n},{day}T08:00:00Z,created,,,{company},Working - Contacted".encode(),
            f"L{n},{day}T09:00:00Z,Status,Open - Not Contacted,Working - Contacted,{company},"
            "Working - Contacted".encode(),
            f"L{n},{day}T09:30:00Z,Owner,Dana Diaz,Sam Seller,{company},"
            "Working - Contacted".encode(),
            f"L{n},{day}T10:00:00Z,Status,Working - Contacted,Working - Contacted,{company},"
            "Working - Contacted".encode(),
        ]
    return b"\n".join(lines) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=50_000)
    args = parser.parse_args()
    postgres_migrated(__file__)
    django_setup()
    from funnel.importing import ImportOptions, read_table, validate
    from streams.models import Team
    from streams.services import LaneSpec, StepSpec, stream_create
    from vsm_project.demo import STEPS

    names = [s.spec.name for s in STEPS]  # the demo's eight steps, as the example mapping's

    mapping = json.loads((ROOT / "docs" / "examples" / "leads_mapping.json").read_text())["steps"]
    team = Team.objects.create(name="Lead history bench", slug=f"lead-bench-{os.getpid()}")
    try:
        stream = stream_create(
            team=team,
            name="Leads and deals",
            lanes=[LaneSpec("Marketing"), LaneSpec("Sales")],
            steps=[StepSpec(s, "Marketing" if i < 3 else "Sales") for i, s in enumerate(names)],
        )
        table = read_table(history(args.leads))
        started = time.perf_counter()
        result = validate(stream, table, ImportOptions(format="sf_leads", steps=mapping))
        seconds = time.perf_counter() - started
    finally:
        team.delete()
    print(
        f"{args.leads * 4:,} rows ({args.leads:,} leads): checked in {seconds:.1f} s, "
        f"{result.deals_created:,} deals and {result.visits_written:,} visits to write, "
        f"peak {peak_mib():.0f} MiB, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
