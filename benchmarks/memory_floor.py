"""Benchmark: the resident memory a sync process holds before it reads anything (issue 13's 200 MiB target).

Imports what the sync imports, step by step, in a fresh interpreter, then opens a DuckDB database as
the sync does (its `memory_limit`) and runs the first catalog query; prints the RSS after each step.
Everything here is paid before the first Aeries byte arrives: the floor under the sync's peak.

    python benchmarks/memory_floor.py
    python benchmarks/memory_floor.py --json-out /tmp/floor.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import psutil

# In the order the sync loads them (numpy first: pyarrow.lib imports it whenever it is installed).
STEPS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("numpy (imported by pyarrow)", ("numpy",)),
    ("pyarrow", ("pyarrow",)),
    ("pyarrow.compute, pyarrow.parquet, pyarrow.csv", ("pyarrow.compute", "pyarrow.parquet", "pyarrow.csv")),
    ("dlt (with sqlglot, pendulum)", ("dlt",)),
    ("requests, psycopg2", ("requests", "psycopg2")),
    ("dlt's REST client, extract, normalize, load", (
        "dlt.sources.helpers.rest_client", "dlt.extract", "dlt.normalize", "dlt.load", "dlt.destinations")),
    ("aeries_source, aeries_sync.runner", ("aeries_source", "aeries_sync.runner")),
    ("duckdb", ("duckdb",)),
)


def rss_mib() -> float:
    """This process's resident set size in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def measure(memory_limit: str) -> List[Dict[str, float | str]]:
    """RSS after each import step, after opening a DuckDB file and after its first catalog query."""
    rows: List[Dict[str, float | str]] = [{"step": "python", "rss_mib": rss_mib(), "added_mib": 0.0}]

    def note(step: str) -> None:
        now = rss_mib()
        rows.append({"step": step, "rss_mib": now, "added_mib": now - float(rows[-1]["rss_mib"])})

    for label, modules in STEPS:
        for module in modules:
            importlib.import_module(module)
        note(label)
    import duckdb

    with tempfile.TemporaryDirectory(prefix="memory_floor_") as folder:
        conn = duckdb.connect(str(Path(folder) / "floor.duckdb"), config={"memory_limit": memory_limit})
        note(f"duckdb.connect (memory_limit {memory_limit})")
        conn.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall()
        note("its first catalog query")
        conn.close()
    return rows


def main() -> int:
    """Print the floor, step by step; optionally write it as JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duckdb-memory-limit", default="100MB", help="as [sync] duckdb_memory_limit")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    rows = measure(args.duckdb_memory_limit)
    width = max(len(str(r["step"])) for r in rows)
    print(f"{'step':{width}s}  {'added MiB':>9s}  {'RSS MiB':>8s}")
    for r in rows:
        print(f"{str(r['step']):{width}s}  {float(r['added_mib']):9.1f}  {float(r['rss_mib']):8.1f}")
    postgres_floor = next(float(r["rss_mib"]) for r in rows if str(r["step"]).startswith("aeries_source"))
    duckdb_floor = float(rows[-1]["rss_mib"])
    print(f"\nfloor of a Postgres sync: {postgres_floor:.0f} MiB; of a DuckDB sync: {duckdb_floor:.0f} MiB")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
