"""Profile a full-year sync with py-spy and print where its time goes (shares of samples).

Runs the sync worker of `sync_common` under `py-spy record` (by default only the thread holding the
GIL, i.e. where Python's one core of work goes; `--all-threads` for every running thread) against
a simulator subprocess, writes py-spy's collapsed stacks (open them in speedscope or flamegraph.pl),
and prints two tables: time by area (which package a stack is in: the innermost of ours, dlt's,
pyarrow's ... wins) and time by the function at the top of each stack ("self"). Needs
`pip install py-spy` (not in requirements.txt).

    python benchmarks/profile_sync.py --destination postgres                 # large district
    python benchmarks/profile_sync.py --schools 3 --students-per-school 200  # smoke check
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (  # noqa: E402
    ROOT,
    SimulatorProcess,
    add_size_args,
    drop_dataset,
    postgres,
    workdir,
    worker_env,
    worker_options,
)

WORKER = Path(__file__).resolve().parent / "sync_common.py"

# Areas, checked in order on each frame from the innermost outwards: the first match names the sample.
AREAS: Tuple[Tuple[str, str], ...] = (
    ("aeries_source/", "ours: aeries_source"),
    ("aeries_sync/", "ours: aeries_sync"),
    ("pyarrow/", "pyarrow"),
    ("orjson", "JSON decoding"),
    ("dlt/normalize/", "dlt normalize"),
    ("dlt/load/", "dlt load"),
    ("dlt/destinations/", "dlt destination client"),
    ("dlt/extract/", "dlt extract"),
    ("dlt/common/", "dlt common"),
    ("dlt/pipeline/", "dlt pipeline"),
    ("psycopg2", "psycopg2"),
    ("duckdb", "duckdb"),
    ("urllib3/", "HTTP (urllib3)"),
    ("requests/", "HTTP (requests)"),
    ("http/client", "HTTP (http.client)"),
    ("ssl.py", "HTTP (ssl)"),
    ("socket.py", "HTTP (socket)"),
    ("threading.py", "threads waiting"),
    ("concurrent/futures", "threads waiting"),
)


def area_of(stack: List[str]) -> str:
    """Name the area of one sampled stack (frames outermost first)."""
    for frame in reversed(stack):
        for needle, area in AREAS:
            if needle in frame:
                return area
    return "other"


def summarise(collapsed: Path, top: int) -> Dict[str, List[Tuple[str, float]]]:
    """Shares of samples by top-of-stack function and by area, from py-spy's collapsed output."""
    by_self: Counter = Counter()
    by_area: Counter = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        # The first frame is py-spy's "process"/"thread" label when --threads is given: skip it.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        by_self[frames[-1]] += count
        by_area[area_of(frames)] += count
    return {
        "self": [(name, n / total) for name, n in by_self.most_common(top)],
        "area": [(name, n / total) for name, n in by_area.most_common()],
    }


def main() -> int:
    """Run the profile, print the summary, leave the collapsed stacks in `--out`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("duckdb", "postgres"), default="postgres")
    p.add_argument("--out", type=Path, default=Path("/tmp/aeries_sync_profile"),
                   help="folder for the collapsed stacks and the speedscope file")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25, help="functions to list")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="batches per pipeline run (default: as shipped)")
    p.add_argument("--all-threads", action="store_true",
                   help="sample every running thread, not only the one holding the GIL (threads waiting "
                        "for the GIL then count where they wait)")
    args = p.parse_args()
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed)
    try:
        with workdir(args.keep, "profile_sync_") as tmp, \
                (postgres(tmp) if args.destination == "postgres" else nullcontext()) as pg:
            url = pg[0] if pg else None
            dataset = f"profile_{uuid.uuid4().hex[:8]}"
            opts = worker_options(sim.base_url, sim.certificate, args.destination, tmp, dataset=dataset,
                                  pipeline_name="profile", postgres_credentials=url, count_tables=False,
                                  **({"checkpoint_every": args.checkpoint_every} if args.checkpoint_every else {}))
            env = worker_env()
            collapsed = args.out / "collapsed.txt"
            try:
                cmd = ["py-spy", "record", "--format", "raw", "-o", str(collapsed), "--rate", str(args.rate),
                       "--threads", *([] if args.all_threads else ["--gil"]),
                       "--", sys.executable, str(WORKER), "worker", json.dumps(opts)]
                done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
                result = next((json.loads(line[7:]) for line in done.stdout.splitlines()
                               if line.startswith("RESULT ")), None)
                if result is None:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
            finally:
                if url and not args.keep:
                    drop_dataset(url, dataset)
    finally:
        sim.stop()
    print(f"sync: {result['status']}, {result['attendance_records']:,} records in {result['seconds']:.2f} s, "
          f"{result['requests']} requests, {result['pipeline_runs']} pipeline runs")
    shares = summarise(collapsed, args.top)
    print(f"\nBy area (innermost known frame of each sample, {'all threads' if args.all_threads else 'GIL holder'}):")
    for name, share in shares["area"]:
        print(f"  {share:6.1%}  {name}")
    print(f"\nBy function at the top of the stack (top {args.top}):")
    for name, share in shares["self"]:
        print(f"  {share:6.1%}  {name}")
    print(f"\ncollapsed stacks: {collapsed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
