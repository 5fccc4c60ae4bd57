"""Shared pieces of the sync benchmarks (`benchmarks/sync_*.py`).

- a simulator subprocess (its RSS is measured apart from the sync's),
- a Postgres for the run (a `pgserver` in a temp dir, or DESTINATION__POSTGRES__CREDENTIALS),
- a *sync worker*: `python benchmarks/sync_common.py worker '<json options>'` runs `run_sync` in its
  own process and prints one `RESULT {...}` JSON line, so each sync's peak RSS is its own
  (VmHWM of a process never goes down, so in-process runs would carry over earlier peaks),
- small table printing.

Everything talks to 127.0.0.1 only. Not a test module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple
from urllib.parse import parse_qs, quote, urlsplit

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 2**20

# Every process a benchmark starts (syncs, peers, the simulator) inherits this: with Airflow
# installed, dlt's config would otherwise import it on first use (about a second and 100 MB more).
from aeries_sync.project_settings import skip_airflow_secrets  # noqa: E402
from aeries_sync.tuning import ARROW_POOL_VARIABLE  # noqa: E402

skip_airflow_secrets()


# ----- memory ----------------------------------------------------------------------------------
def vm_hwm(pid: int) -> int:
    """Peak RSS (VmHWM) of a live process in bytes; 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Poll a process (and its children, summed) every `interval` s and keep the largest RSS seen.

    With `kill_above` (bytes), the process is killed once it holds more than that (`killed` is set),
    so a runaway peer cannot take the machine's memory.
    """

    def __init__(self, pid: int, interval: float = 0.05, kill_above: Optional[int] = None) -> None:
        self.pid = pid
        self.interval = interval
        self.kill_above = kill_above
        self.killed = False
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                rss = proc.memory_info().rss
                for child in proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                self.peak = max(self.peak, rss)
                if self.kill_above is not None and rss > self.kill_above:
                    self.killed = True
                    proc.kill()
                    return
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# ----- simulator subprocess ----------------------------------------------------------------------
class SimulatorProcess:
    """`python -m aeries_simulator --port 0 ...` as a child process; URL and certificate from line 1."""

    def __init__(self, schools: int, students_per_school: int, seed: int = 1,
                 today: Optional[date] = None, extra_args: Sequence[str] = ()) -> None:
        cmd = [sys.executable, "-m", "aeries_simulator", "--port", "0", "--seed", str(seed),
               "--schools", str(schools), "--students-per-school", str(students_per_school)]
        if today is not None:
            cmd += ["--today", today.isoformat()]
        cmd += list(extra_args)  # e.g. ["--latency-ms", "100"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"serving (\S+) certificate=(\S+)", line)
        if not found:
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.base_url, self.certificate = found.group(1), found.group(2)
        # Drain the rest of its stdout so it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        try:
            return psutil.Process(self.pid).memory_info().rss
        except psutil.Error:
            return 0

    def peak_rss(self) -> int:
        return vm_hwm(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ----- CPU of the other processes -----------------------------------------------------------------
def process_cpu_seconds(pid: Optional[int]) -> Optional[float]:
    """User + system CPU seconds of a process and of its children, ended ones included; None if unknown.

    A Postgres server's backends are children of its postmaster: the ones that ended (and were
    waited for) are in its `children_*` times, the live ones are added one by one.
    """
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return None


def postmaster_pid(pgdata: Path) -> Optional[int]:
    """The postmaster's pid of the server whose data folder is `pgdata` (line 1 of postmaster.pid)."""
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


# ----- postgres ---------------------------------------------------------------------------------
def pgserver_url(uri: str) -> str:
    """pgserver's socket URI as a URL dlt accepts (same as tests/conftest.py `_pgserver_url`)."""
    parts = urlsplit(uri)
    socket_dir = parse_qs(parts.query)["host"][0]
    return f"postgresql://postgres:postgres@{quote(socket_dir, safe='')}:5432/postgres"


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[Tuple[str, str]]:
    """Yield (credentials URL, description): DESTINATION__POSTGRES__CREDENTIALS, else a pgserver in workdir."""
    external = os.environ.get("DESTINATION__POSTGRES__CREDENTIALS")
    if external:
        yield external, "external (DESTINATION__POSTGRES__CREDENTIALS)"
        return
    import pgserver

    pgdata = workdir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    try:
        yield pgserver_url(server.get_uri()), f"pgserver in {pgdata}"
    finally:
        server.cleanup()


def drop_dataset(credentials: str, dataset: str) -> None:
    """Drop a benchmark's schema (and dlt's staging schema) from Postgres; errors are ignored."""
    import psycopg2

    with contextlib.suppress(Exception):
        conn = psycopg2.connect(credentials)  # libpq decodes a %2F-encoded socket dir as host
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
            cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}_staging" CASCADE')
        conn.close()


# ----- the sync worker --------------------------------------------------------------------------
def worker_options(base_url: str, certificate: str, destination: str, workdir: Path, *,
                   dataset: str = "aeries_bench", pipeline_name: str = "aeries_bench",
                   postgres_credentials: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    """JSON-able SyncOptions fields for `run_worker` (everything in workdir)."""
    opts: Dict[str, Any] = {
        "base_url": base_url, "certificate": certificate, "destination": destination,
        "duckdb_path": str(workdir / f"{pipeline_name}.duckdb"),
        "postgres_credentials": postgres_credentials if destination == "postgres" else None,
        "dataset_name": dataset, "pipeline_name": pipeline_name,
        "pipelines_dir": str(workdir / "pipelines"),
    }
    opts.update(extra)
    return opts


def worker_env() -> Dict[str, str]:
    """A sync worker's environment: this one, the project importable, Arrow's pool set as the command sets it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    env.setdefault(ARROW_POOL_VARIABLE, "system")  # the command sets it before pyarrow loads (aeries_sync.tuning)
    return env


def run_worker(options: Dict[str, Any], sample_interval: float = 0.05) -> Dict[str, Any]:
    """Run one sync in a child process; return its result dict plus `sampled_peak_rss` (bytes, polled)."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(options)],
                            cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid, sample_interval) as sampler:
        out, err = proc.communicate()
    result = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if result is None:
        raise RuntimeError(f"sync worker failed (exit {proc.returncode}):\n{err[-4000:]}")
    result["sampled_peak_rss"] = sampler.peak
    result["stderr_tail"] = err[-2000:]
    return result


def _worker_main(raw: str) -> int:
    import logging

    from aeries_sync.tuning import arrow_on_system_allocator, limit_malloc_arenas, return_freed_memory

    limit_malloc_arenas()  # as the command does, first thing
    return_freed_memory()
    arrow_on_system_allocator()

    logging.basicConfig(level=logging.WARNING)
    from aeries_source.client import RetryPolicy
    from aeries_sync.options import sync_options
    from aeries_sync.pipeline import make_pipeline
    from aeries_sync.runner import run_sync

    fields = json.loads(raw)
    for key in ("start_date", "end_date"):
        if fields.get(key):
            fields[key] = date.fromisoformat(fields[key])
    count_tables = fields.pop("count_tables", True)
    options = sync_options(**fields, retry=RetryPolicy())
    started, cpu_before = time.perf_counter(), _own_cpu_seconds()
    result = run_sync(options)
    wall, cpu = time.perf_counter() - started, _own_cpu_seconds() - cpu_before
    out: Dict[str, Any] = {
        "exit_code": result.exit_code, "status": result.status, "message": result.message,
        "rows": result.rows, "attendance_records": result.attendance_records,
        "seconds": result.seconds, "wall_seconds": wall, "records_per_second": result.records_per_second,
        "cpu_seconds": cpu,  # all of run_sync, the measures included (as wall_seconds)
        "requests": result.requests, "retries": result.retries, "errors": result.errors,
        "pipeline_runs": result.pipeline_runs, "rejects": result.rejects,
        "measures_seconds": result.measures_seconds, "measures_error": result.measures_error,
        "failed_batches": {str(k): v for k, v in result.failed_batches.items()},
        "plan_mode": result.plan.mode if result.plan else None,
        "plan_batches": len(result.plan.batches) if result.plan else 0,
        "windows": [{"school_code": w.school_code, "start": w.start.isoformat(), "end": w.end.isoformat(),
                     "reason": w.reason} for w in (result.plan.ranges if result.plan else [])],
        # ru_maxrss is KiB on Linux: the worker process's own peak RSS.
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if count_tables:
        out["table_counts"] = _table_counts(make_pipeline(options))
    print("RESULT " + json.dumps(out, default=str), flush=True)
    return 0


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _table_counts(pipeline: Any) -> Dict[str, int]:
    """Rows per data table in the destination (attendance without tombstone rows)."""
    counts: Dict[str, int] = {}
    try:
        tables = [t for t in pipeline.default_schema.data_table_names() if not t.startswith("_dlt")]
        with pipeline.sql_client() as client:
            for table in sorted(tables):
                qualified = client.make_qualified_table_name(table)
                where = ""
                if table == "attendance_records":
                    cols = pipeline.default_schema.tables[table]["columns"]
                    if "sync_tombstone" in cols:
                        where = " WHERE sync_tombstone IS NOT TRUE"
                with contextlib.suppress(Exception):
                    counts[table] = int(client.execute_sql(f"SELECT count(*) FROM {qualified}{where}")[0][0])
                if table == "attendance_records":
                    with contextlib.suppress(Exception):
                        by_school = client.execute_sql(
                            f"SELECT school_code, count(*) FROM {qualified}{where} GROUP BY school_code")
                        counts["attendance_by_school"] = {str(sc): int(n) for sc, n in by_school}  # type: ignore
    except Exception as exc:  # counting is informational only
        counts["error"] = str(exc)[:200]  # type: ignore[assignment]
    return counts


# ----- output -----------------------------------------------------------------------------------
def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """Print a small left/right-aligned text table."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    if title:
        print(title)
    pairs = enumerate(zip(headers, widths, strict=True))
    print("  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in pairs))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def mib(n: int) -> float:
    return n / MIB


def add_size_args(parser: Any) -> None:
    """--schools/--students-per-school (default: DistrictSpec.large()), --seed."""
    parser.add_argument("--schools", type=int, default=20, help="real schools (default 20 = large district)")
    parser.add_argument("--students-per-school", type=int, default=2000,
                        help="students per school (default 2000 = large district)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, dlt state)")


@contextlib.contextmanager
def workdir(keep: bool, prefix: str) -> Iterator[Path]:
    """A temp dir for databases and dlt state, removed afterwards unless keep."""
    if keep:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        print(f"working directory (kept): {path}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        sys.exit(_worker_main(sys.argv[2]))
    print("usage: python benchmarks/sync_common.py worker '<json SyncOptions fields>' "
          "(used by the sync_* benchmarks)", file=sys.stderr)
    sys.exit(2)
