"""Benchmark of the XES import against the CSV import of the same log (``make bench``).

Generates the ``visits`` CSV of :mod:`import_bench` (the demo's eight steps, rework, won, lost
and open deals) with enough visits for ``--events`` XES events (default 1,000,000: a start and
a complete per closed visit, a start for an open one), writes the same log as XES (one trace
per deal with its fields, as :mod:`funnel.exporting.xes` writes it), and gzips it. Then, each
in a fresh process so that its peak memory (``ru_maxrss``) is its own, and each into an empty
stream of its own with the same steps and team:

* **csv** — ``import_events`` of the CSV (format ``visits``);
* **xes** — ``import_events`` of the XES file (format ``xes``);
* **xes.gz** — the same, gzipped.

It prints time and peak memory of each. Targets (issue 18): the XES file imports no slower
than the same log as CSV, measured in the same run, and a 1,000,000-event file under 500 MiB.
Needs ``DATABASE_URL=postgres://…`` (a database of its own: it is created if the server
allows it and migrated; the benchmark's team is removed afterwards).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench python bench/xes_bench.py
    python bench/xes_bench.py --events 100000
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import django_setup, peak_mib

TEAM_SLUG = f"xes-bench-{os.getpid()}"
KINDS = ("csv", "xes", "xes.gz")


# --- The files ------------------------------------------------------------------------------


def _q(value: str) -> str:
    from funnel.exporting.xes import _q as quote

    return quote(value)


def write_xes(csv_path: Path, xes_path: Path) -> int:
    """The visits CSV as an XES log, a trace per deal; returns the number of events."""
    from funnel.exporting.xes import XES_HEADER

    events = 0
    with csv_path.open(newline="", encoding="utf-8") as f, xes_path.open("w") as out:
        out.write(XES_HEADER.format(stream=_q("Benchmark")))
        current = None
        parts: list[str] = []
        for row in csv.DictReader(f):
            if row["deal_id"] != current:
                if current is not None:
                    parts.append("  </trace>\n")
                current = row["deal_id"]
                parts.append("  <trace>\n")
                parts.append(f'    <string key="concept:name" value={_q(current)}/>\n')
                for key in ("deal_name", "account", "owner", "source", "outcome", "lost_reason"):
                    if row[key]:
                        parts.append(f'    <string key="{key}" value={_q(row[key])}/>\n')
                parts.append(f'    <float key="amount" value="{row["amount"]}"/>\n')
                for key in ("created_at", "closed_at"):
                    if row[key]:
                        parts.append(f'    <date key="{key}" value="{row[key]}"/>\n')
            step, actor, work = _q(row["step"]), _q(row["actor"]), row["work_minutes"]
            for transition, at in (("start", row["entered_at"]), ("complete", row["exited_at"])):
                if not at:
                    continue
                events += 1
                parts.append(
                    "    <event>\n"
                    f'      <string key="concept:name" value={step}/>\n'
                    f'      <date key="time:timestamp" value="{at}"/>\n'
                    f'      <string key="lifecycle:transition" value="{transition}"/>\n'
                    f'      <string key="org:resource" value={actor}/>\n'
                )
                if work and (transition == "complete" or not row["exited_at"]):
                    parts.append(f'      <int key="work_minutes" value="{work}"/>\n')
                parts.append("    </event>\n")
            if len(parts) > 20_000:
                out.write("".join(parts))
                parts = []
        parts.append("  </trace>\n</log>\n")
        out.write("".join(parts))
    return events


# --- The phases (each in its own process) -----------------------------------------------------


def setup(tmp: Path, events: int, seed: int) -> dict:
    import import_bench
    from django.core.management import call_command

    from streams.models import Team
    from streams.services import stream_create
    from vsm_project.demo import LANES, STEPS

    import_bench._ensure_database()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    # About 1.94 events a visit (an open deal's last visit has no complete event).
    counts = import_bench.generate(tmp / "log.csv", round(events / 1.94), seed)
    n_events = write_xes(tmp / "log.csv", tmp / "log.xes")
    with (tmp / "log.xes").open("rb") as f, gzip.open(tmp / "log.xes.gz", "wb", 6) as g:
        shutil.copyfileobj(f, g, 1 << 20)
    first = import_bench._bench_stream(TEAM_SLUG)
    team = Team.objects.get(slug=TEAM_SLUG)
    streams = {"csv": first}
    for kind in KINDS[1:]:
        streams[kind] = stream_create(
            team=team, name=f"Benchmark {kind}", lanes=LANES, steps=[s.spec for s in STEPS]
        ).slug
    return {
        **counts,
        "events": n_events,
        "sizes": {k: (tmp / f"log.{k}").stat().st_size for k in KINDS},
        "streams": streams,
        "seconds": time.perf_counter() - started,
    }


def measure(path: Path, stream_slug: str, format: str) -> dict:
    from django.conf import settings

    from funnel import importing
    from funnel.importing import ImportOptions, import_events
    from funnel.models import Visit
    from streams.models import ValueStream

    stream = ValueStream.objects.get(slug=stream_slug)
    settings.VSM_IMPORT_MAX_BYTES = max(settings.VSM_IMPORT_MAX_BYTES, path.stat().st_size)
    # The metrics recompute the import queues is a task of its own (bench/metrics_bench.py).
    importing.uploads.metrics_changed = lambda *, stream_id: None
    started, cpu = time.perf_counter(), time.process_time()
    # The file as the command and the background job hand it over: opened, not read (a CSV
    # is read into memory by the import, an XES log a chunk at a time on each pass).
    with path.open("rb") as data:
        result = import_events(stream=stream, data=data, options=ImportOptions(format=format))
    seconds = time.perf_counter() - started
    # The CPU time of the XES reader's child processes (funnel.importing.formats.xes_parse),
    # beside this process's. (Not their peak memory: ru_maxrss counts the parent's pages a child
    # shares between its fork and its exec; a child's own is about 25 MiB.)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "peak_mib": peak_mib(),
        "cpu_s": time.process_time() - cpu,
        "children_cpu_s": children.ru_utime + children.ru_stime,
        "visits_written": result.visits_written,
        "deals_created": result.deals_created,
        "stored_visits": Visit.objects.filter(deal__stream=stream).count(),
    }


def parse_floor(tmp: Path) -> dict:
    """Where the XES reader's time goes, against the CSV reader's, without the database: the
    seconds to read every row of each file, and of the XES log the floor of any reader built
    on expat: expat alone (no handlers: the tokenizer, in C) and expat calling two empty
    Python handlers (a start and an end for each of the log's elements)."""
    from pyexpat import ParserCreate

    from django.conf import settings

    from funnel.importing.formats import xes
    from funnel.importing.reading import read_table

    settings.VSM_IMPORT_MAX_BYTES = 1 << 40
    out = {}

    def timed(name, work) -> None:
        started = time.perf_counter()
        work()
        out[name] = time.perf_counter() - started

    def csv_rows() -> None:
        table = read_table((tmp / "log.csv").read_bytes())  # the checks of the whole file
        for _ in table.numbered_rows():
            pass

    def xes_rows() -> None:
        with (tmp / "log.xes").open("rb") as f:
            for _ in read_table(f).numbered_rows():
                pass

    def expat(handlers: bool) -> None:
        parser = ParserCreate()
        if handlers:
            parser.StartElementHandler = lambda name, attrs: None
            parser.EndElementHandler = lambda name: None
        with (tmp / "log.xes").open("rb") as f:
            while chunk := f.read(xes._CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)

    timed("csv rows", csv_rows)
    timed("xes rows", xes_rows)
    timed("expat alone", lambda: expat(False))
    timed("expat, empty handlers", lambda: expat(True))
    return out


def cleanup() -> dict:
    from funnel.models import Deal, Visit
    from streams.models import Team

    # The visits in one statement (the ORM's cascade would load 1.5 million of them first).
    visits = Visit.objects.filter(deal__stream__team__slug=TEAM_SLUG)
    visits._raw_delete(visits.db)
    Deal.objects.filter(stream__team__slug=TEAM_SLUG).delete()
    Team.objects.filter(slug=TEAM_SLUG).delete()
    return {}


def _child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    django_setup()
    tmp = Path(args.dir)
    if args.child == "setup":
        out = setup(tmp, args.events, args.seed)
    elif args.child == "cleanup":
        out = cleanup()
    elif args.child == "parse":
        out = parse_floor(tmp)
    else:
        fmt = "visits" if args.child == "csv" else "xes"
        out = measure(tmp / f"log.{args.child}", args.stream, fmt)
    print(json.dumps(out))


def _run(kind: str, tmp: Path, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--dir", str(tmp), "--team", TEAM_SLUG]
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"The {kind} step failed.")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    global TEAM_SLUG
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--child", choices=("setup", "cleanup", "parse", *KINDS), help=argparse.SUPPRESS
    )
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--stream", default="", help=argparse.SUPPRESS)
    parser.add_argument("--team", default=TEAM_SLUG, help=argparse.SUPPRESS)
    args = parser.parse_args()
    TEAM_SLUG = args.team
    if args.child:
        _child(args)
        return 0
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("bench/xes_bench.py needs DATABASE_URL=postgres://… (a database of its own)")
        return 2
    with tempfile.TemporaryDirectory(prefix="xes-bench-") as name:
        tmp = Path(name)
        print(f"Generating about {args.events:,} events …", flush=True)
        try:
            made = _run("setup", tmp, events=args.events, seed=args.seed)
            sizes = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in made["sizes"].items())
            print(
                f"  {made['events']:,} events = {made['visits']:,} visits of "
                f"{made['deals']:,} deals ({sizes}), in {made['seconds']:.0f} s",
                flush=True,
            )
            runs = {}
            for kind in KINDS:
                print(f"import_events of the {kind} file into an empty stream …", flush=True)
                load = os.getloadavg()[0]
                runs[kind] = _run(kind, tmp, stream=made["streams"][kind])
                # The machine's load average (1 minute) before and after: the figures of a
                # shared machine are comparable only with it.
                runs[kind]["load"] = (load, os.getloadavg()[0])
                print(
                    f"  {runs[kind]['seconds']:.1f} s, peak {runs[kind]['peak_mib']:,.0f} MiB, "
                    f"load {load:.1f} → {runs[kind]['load'][1]:.1f}; "
                    f"CPU {runs[kind]['cpu_s']:.1f} s (child processes "
                    f"{runs[kind]['children_cpu_s']:.1f} s)",
                    flush=True,
                )
            print("Reading the rows only (no database), each file in turn …", flush=True)
            load = os.getloadavg()[0]
            floor = _run("parse", tmp)
            floor_load = (load, os.getloadavg()[0])
            print(f"  {json.dumps(floor)}", flush=True)
        finally:
            _run("cleanup", tmp)
    print()
    print(f"{'':<10}{'visits':>10}{'seconds':>9}{'peak RSS':>13}{'load':>16}")
    for kind, run in runs.items():
        assert run["stored_visits"] == made["visits"], (kind, run, made["visits"])
        print(f"{kind:<10}{run['stored_visits']:>10,}{run['seconds']:>9.1f}", end="")
        print(f"{run['peak_mib']:>9,.0f} MiB{run['load'][0]:>8.1f} → {run['load'][1]:.1f}")
    print(f"Reading only (load {floor_load[0]:.1f} → {floor_load[1]:.1f}): ", end="")
    print(", ".join(f"{name} {seconds:.1f} s" for name, seconds in floor.items()))
    csv_s = runs["csv"]["seconds"]
    worst = max(runs["xes"]["seconds"], runs["xes.gz"]["seconds"])
    peak = max(runs["xes"]["peak_mib"], runs["xes.gz"]["peak_mib"])
    print(
        f"Targets: XES no slower than CSV: {'met' if worst <= csv_s else 'missed'} "
        f"({worst / csv_s:.2f}× the CSV's time); under 500 MiB: "
        f"{'met' if peak < 500 else 'missed'} ({peak:,.0f} MiB)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
