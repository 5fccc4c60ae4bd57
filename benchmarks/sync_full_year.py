"""Benchmark: a full-year sync of a synthetic district into DuckDB and Postgres.

The simulator runs as its own process (`python -m aeries_simulator --port 0`); each sync runs
`run_sync` in a separate worker process, so the sync's peak RSS and the simulator's are measured
apart. Postgres is a `pgserver` started in a temp dir unless DESTINATION__POSTGRES__CREDENTIALS is set.

    python benchmarks/sync_full_year.py                                  # large district (20 x 2,000)
    python benchmarks/sync_full_year.py --schools 3 --students-per-school 200 --destination duckdb
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (  # noqa: E402
    SimulatorProcess,
    add_size_args,
    drop_dataset,
    mib,
    postgres,
    print_table,
    run_worker,
    workdir,
    worker_options,
)


def main() -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("duckdb", "postgres", "both"), default="both")
    p.add_argument("--batch-days", type=int, default=None, help="days per attendance request (default: the source's)")
    p.add_argument("--rows-per-item", type=int, default=None, help="records per written batch (default: the source's)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="batches per pipeline run (default: the source's)")
    args = p.parse_args()

    destinations = ["duckdb", "postgres"] if args.destination == "both" else [args.destination]
    extra: Dict[str, Any] = {}
    for key in ("batch_days", "rows_per_item", "checkpoint_every"):
        if getattr(args, key) is not None:
            extra[key] = getattr(args, key)

    results: Dict[str, Dict[str, Any]] = {}
    sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed)
    sim_idle = sim.rss()
    try:
        with workdir(args.keep, "sync_full_year_") as tmp:
            for dest in destinations:
                dataset = f"bench_{uuid.uuid4().hex[:8]}"
                if dest == "duckdb":
                    opts = worker_options(sim.base_url, sim.certificate, "duckdb", tmp / dest,
                                          dataset=dataset, pipeline_name="full_year_duckdb", **extra)
                    results[dest] = run_worker(opts)
                else:
                    with postgres(tmp) as (url, where):
                        print(f"postgres: {where}", flush=True)
                        opts = worker_options(sim.base_url, sim.certificate, "postgres", tmp / dest,
                                              dataset=dataset, pipeline_name="full_year_postgres",
                                              postgres_credentials=url, **extra)
                        try:
                            results[dest] = run_worker(opts)
                        finally:
                            if not args.keep:
                                drop_dataset(url, dataset)
                r = results[dest]
                print(f"{dest}: {r['status']} (exit {r['exit_code']}) {r['message']}".rstrip(), flush=True)
                if r["exit_code"] != 0:
                    print(r["stderr_tail"], file=sys.stderr)
        sim_peak = sim.peak_rss()
    finally:
        sim.stop()

    print()
    print(f"district: {args.schools} schools x {args.students_per_school} students (seed {args.seed}), "
          f"full school year; simulator as a subprocess")
    rows: List[List[Any]] = []
    metrics = [
        ("status", lambda r: r["status"]),
        ("plan batches", lambda r: r["plan_batches"]),
        ("attendance records", lambda r: r["attendance_records"]),
        ("seconds (run_sync)", lambda r: r["seconds"]),
        ("records/s", lambda r: r["records_per_second"]),
        ("requests", lambda r: r["requests"]),
        ("retries", lambda r: r["retries"]),
        ("pipeline runs", lambda r: r["pipeline_runs"]),
        ("rejects", lambda r: r["rejects"]),
        ("measures seconds (or error)", lambda r: r["measures_error"] or r["measures_seconds"]),
        ("sync peak RSS MiB (VmHWM)", lambda r: mib(r["peak_rss"])),
        ("sync peak RSS MiB (polled, +children)", lambda r: mib(r["sampled_peak_rss"])),
    ]
    for name, get in metrics:
        rows.append([name, *(get(results[d]) for d in destinations)])
    print_table(["metric", *destinations], rows, title="Full-year sync")

    tables = sorted({t for d in destinations for t in results[d]["rows"]}
                    | {t for d in destinations for t in results[d].get("table_counts", {})})
    rows = []
    for t in tables:
        rows.append([t, *(f"{results[d]['rows'].get(t, '-')} / {results[d].get('table_counts', {}).get(t, '-')}"
                          for d in destinations)])
    print_table(["table (rows reported / rows in destination)", *destinations], rows,
                title="Rows per table (attendance in destination excludes tombstone rows)")
    print(f"simulator RSS: idle {mib(sim_idle):.1f} MiB, peak (VmHWM over all runs) {mib(sim_peak):.1f} MiB")
    return 0 if all(results[d]["exit_code"] == 0 and not results[d]["measures_error"] for d in destinations) else 1


if __name__ == "__main__":
    sys.exit(main())
