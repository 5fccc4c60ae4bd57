"""Benchmark: what checkpointing costs on a full-year sync.

Runs the same full-year sync with checkpoints as shipped (`[sync] checkpoint_seconds`, a dlt
extract step every 10 s of reading, all loaded after the reading) or every `--checkpoint-every N`
batches, and in a single checkpoint (no batch or time limit: one extract, one load), each on a
fresh pipeline and database, N times in alternating order, and reports the medians and the
overhead (t_checkpointed - t_one_run) / t_one_run. Target of the issue:
overhead at most 10 % of a full-year run. `sync_vs_peers.py` measures the same as its
`checkpoint_overhead`.

    python benchmarks/sync_checkpoints.py                                   # large district, duckdb+postgres
    python benchmarks/sync_checkpoints.py --schools 3 --students-per-school 200 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional

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

ONE_RUN = "one run"
ONE_RUN_OPTIONS: Dict[str, Any] = {"checkpoint_every": None, "checkpoint_seconds": 0}  # no batch or time limit


def main() -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("duckdb", "postgres", "both"), default="both")
    p.add_argument("--repeat", type=int, default=2, help="runs per setting; medians are reported (default 2)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="checkpoint every N batches instead of as shipped (by time)")
    args = p.parse_args()
    destinations = ["duckdb", "postgres"] if args.destination == "both" else [args.destination]
    checkpointed: Dict[str, Any] = {}
    label = "as shipped"
    if args.checkpoint_every:
        checkpointed = {"checkpoint_every": args.checkpoint_every, "checkpoint_seconds": 0}
        label = f"every {args.checkpoint_every}"
    options = {label: checkpointed, ONE_RUN: ONE_RUN_OPTIONS}
    settings = list(options)

    runs: Dict[str, Dict[str, List[Dict[str, Any]]]] = {d: {s: [] for s in settings} for d in destinations}
    sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed)
    try:
        with workdir(args.keep, "sync_checkpoints_") as tmp:
            for dest in destinations:
                with (postgres(tmp) if dest == "postgres" else nullcontext()) as pg:
                    url: Optional[str] = pg[0] if pg else None
                    for rep in range(args.repeat):
                        # Alternate the order so drift (caches, disk) does not favour one setting.
                        order = settings if rep % 2 == 0 else list(reversed(settings))
                        for setting in order:
                            name = f"ckpt_{dest}_{settings.index(setting)}_{rep}"
                            dataset = f"bench_{uuid.uuid4().hex[:8]}"
                            opts = worker_options(sim.base_url, sim.certificate, dest, tmp / name, dataset=dataset,
                                                  pipeline_name=name, postgres_credentials=url,
                                                  count_tables=False, **options[setting])
                            try:
                                r = run_worker(opts)
                            finally:
                                if url and not args.keep:
                                    drop_dataset(url, dataset)
                            print(f"{dest} {setting}, run {rep + 1}: {r['status']} "
                                  f"{r['seconds']:.2f} s, {r['pipeline_runs']} pipeline runs, "
                                  f"{r['attendance_records']} records", flush=True)
                            if r["exit_code"] != 0:
                                print(r["stderr_tail"], file=sys.stderr)
                            runs[dest][setting].append(r)
    finally:
        sim.stop()

    print()
    print(f"district: {args.schools} schools x {args.students_per_school} students (seed {args.seed}), "
          f"full school year; {args.repeat} run(s) per setting, medians")
    rows = []
    ok = True
    for dest in destinations:
        ck, one = runs[dest][settings[0]], runs[dest][ONE_RUN]
        t_ck = statistics.median(r["seconds"] for r in ck)
        t_one = statistics.median(r["seconds"] for r in one)
        overhead = (t_ck - t_one) / t_one * 100 if t_one else float("nan")
        ok = ok and all(r["exit_code"] == 0 for r in ck + one)
        rows.append([
            dest, ck[0]["plan_batches"], ck[0]["attendance_records"],
            f"{t_ck:.2f} ({_list(ck)})", f"{t_one:.2f} ({_list(one)})",
            f"{overhead:+.1f} %", f"{statistics.median(r['pipeline_runs'] for r in ck):g}",
            f"{statistics.median(r['pipeline_runs'] for r in one):g}",
            f"{mib(max(r['peak_rss'] for r in ck)):.0f} / {mib(max(r['peak_rss'] for r in one)):.0f}",
            "yes" if overhead <= 10 else "NO",
        ])
    print_table(["destination", "batches", "records", f"t {settings[0]} s (runs)", "t one run s (runs)",
                 "overhead", f"runs {settings[0]}", "runs one run", "peak RSS MiB", "<= 10 %"], rows,
                title="Checkpoint overhead: (t_checkpointed - t_one_run) / t_one_run")
    return 0 if ok else 1


def _list(runs: List[Dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


if __name__ == "__main__":
    sys.exit(main())
