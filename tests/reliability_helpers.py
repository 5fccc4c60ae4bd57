"""Helpers of the reliability tests: the CLI as a subprocess, truth checks on every table, Postgres probes."""

import os
import shutil
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import psycopg2
from sync_truth import assert_small_tables_match, expected_attendance, loaded_attendance, query

from aeries_simulator import AeriesSimulator
from aeries_sync.options import SyncOptions, sync_options

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pipelines" / "attendance.py"

# The natural key of every table the sync writes (what merge deduplicates on).
TABLE_KEYS: Dict[str, Tuple[str, ...]] = {
    "attendance_records": ("school_code", "student_id", "attendance_date"),
    "students": ("student_id", "school_code"),
    "enrollment": ("student_id", "school_code", "academic_year", "enter_date"),
    "calendar_days": ("school_code", "calendar_date"),
    "absence_codes": ("school_code", "absence_code"),
    "schools": ("school_code",),
    "sync_runs": ("operation_id",),
    "sync_batches": ("operation_id", "batch"),
}


class TruthMismatch(AssertionError):
    """Loaded attendance differs from the simulator's truth (rows missing or extra).

    Its own class so that an `xfail(raises=TruthMismatch)` for a known data-loss bug does not also
    hide duplicates or bookkeeping failures, which raise a plain AssertionError.
    """


def assert_attendance_exact(sim: AeriesSimulator, options: SyncOptions, start: date, end: date) -> int:
    """Assert the loaded attendance in [start, end] equals the truth; return the rows compared.

    Duplicates raise AssertionError; missing or extra rows raise TruthMismatch.
    """
    expected = expected_attendance(sim, start, end)
    loaded = loaded_attendance(options, start, end)
    assert len(loaded) == len(set(loaded)), f"{len(loaded) - len(set(loaded))} duplicate attendance rows"
    missing = sorted(expected - set(loaded))
    extra = sorted(set(loaded) - expected)
    if missing or extra:
        raise TruthMismatch(f"{len(missing)} attendance rows missing {missing[:5]}, "
                            f"{len(extra)} extra {extra[:5]}")
    return len(expected)


def unique_dataset(prefix: str = "rel") -> str:
    """A dataset (Postgres schema) name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def prepare_cwd(cwd: Path) -> Path:
    """Give a scratch working directory a copy of the project's `.dlt/config.toml`."""
    (cwd / ".dlt").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / ".dlt" / "config.toml", cwd / ".dlt" / "config.toml")
    return cwd


def cli_env(sim: Optional[AeriesSimulator], postgres_url: Optional[str], data_dir: Path,
            **extra: str) -> Dict[str, str]:
    """Environment of a CLI subprocess: simulator, Postgres, its own dlt data dir, retries without waiting."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__", "ENHANCED_SYNC_DEBUG"))}
    env.update({
        "DLT_DATA_DIR": str(data_dir),
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0",
        "SOURCES__AERIES__REQUEST_BACKOFF_FACTOR": "0",
        "SOURCES__AERIES__REQUEST_MAX_RETRY_DELAY": "0",
        "PYTHONUNBUFFERED": "1",
    })
    if sim is not None:
        env["SOURCES__AERIES__BASE_URL"] = sim.base_url
        env["SOURCES__AERIES__CERTIFICATE"] = sim.certificate
    if postgres_url is not None:
        env["DESTINATION__POSTGRES__CREDENTIALS"] = postgres_url
    env.update(extra)
    return env


def cli_command(*args: str) -> List[str]:
    """The command line of `pipelines/attendance.py` with `args`."""
    return [sys.executable, str(SCRIPT), *args]


def run_cli(args: Sequence[str], cwd: Path, env: Dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the CLI to completion from `cwd` (which gets the project's config) and capture its output."""
    prepare_cwd(cwd)
    return subprocess.run(cli_command(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def query_options(sim: AeriesSimulator, postgres_url: str, dataset: str, pipelines_dir: Path,
                  pipeline_name: str = "reliability_reader") -> SyncOptions:
    """SyncOptions that only serve to read a Postgres dataset with `sync_truth.query`."""
    return sync_options(base_url=sim.base_url, certificate=sim.certificate, destination="postgres",
                       postgres_credentials=postgres_url, dataset_name=dataset,
                       pipeline_name=pipeline_name, pipelines_dir=str(pipelines_dir))


def _raw_host(postgres_url: str) -> str:
    from urllib.parse import unquote, urlsplit

    netloc = urlsplit(postgres_url).netloc
    hostport = netloc.rsplit("@", 1)[-1]
    return unquote(hostport.rsplit(":", 1)[0])


def schema_exists(postgres_url: str, dataset: str) -> bool:
    """Whether a schema (dlt dataset) of that name exists in the Postgres database."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(postgres_url)
    conn = psycopg2.connect(host=_raw_host(postgres_url), port=parts.port or 5432,
                            user=unquote(parts.username or "postgres"), password=unquote(parts.password or ""),
                            dbname=(parts.path or "/postgres").lstrip("/") or "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                        (dataset + "%",))
            return bool(cur.fetchall())
    finally:
        conn.close()


def table_exists(options: SyncOptions, table: str) -> bool:
    """Whether the dataset has a table of that name."""
    rows = query(options, "SELECT COUNT(*) FROM information_schema.tables "
                          f"WHERE table_schema = '{options.dataset_name}' AND table_name = '{table}'")
    return int(rows[0][0]) > 0


def assert_no_duplicate_keys(options: SyncOptions, tables: Optional[Sequence[str]] = None) -> None:
    """Assert no table holds two rows with the same natural key."""
    for table in tables or TABLE_KEYS:
        if not table_exists(options, table):
            continue
        cols = ", ".join(TABLE_KEYS[table])
        dupes = query(options, f"SELECT {cols}, COUNT(*) FROM {{t:{table}}} "
                               f"GROUP BY {cols} HAVING COUNT(*) > 1 LIMIT 5")
        assert not dupes, f"duplicate keys in {table}: {dupes}"


def assert_no_tombstones_left(options: SyncOptions) -> None:
    """Tombstone rows only delete; none may be stored as data."""
    cols = query(options, "SELECT column_name FROM information_schema.columns "
                          f"WHERE table_schema = '{options.dataset_name}' AND table_name = 'attendance_records'")
    if "sync_tombstone" in {c[0] for c in cols}:
        left = query(options, "SELECT COUNT(*) FROM {t:attendance_records} WHERE sync_tombstone")
        assert int(left[0][0]) == 0, f"{left[0][0]} tombstone rows stored in attendance_records"


def truth_row_count(sim: AeriesSimulator) -> int:
    """Rows of the small tables in the simulator's truth (schools, calendar, codes, students, enrollment)."""
    codes = sim.school_codes()
    return len(codes) + sum(len(sim.truth_calendar(sc)) + len(sim.truth_absence_codes(sc))
                            + len(sim.truth_students(sc)) + len(sim.truth_enrollment(sc)) for sc in codes)


def assert_everything_matches(sim: AeriesSimulator, options: SyncOptions, start: date, end: date) -> int:
    """Assert every data table equals the simulator's truth, without duplicates; return rows compared.

    Duplicates and small-table differences are checked first (plain AssertionError), attendance last.
    """
    assert_no_duplicate_keys(options)
    assert_no_tombstones_left(options)
    assert_small_tables_match(sim, options)
    outside = query(options, "SELECT COUNT(*) FROM {t:attendance_records} WHERE attendance_date "
                             f"NOT BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'")
    assert int(outside[0][0]) == 0, f"{outside[0][0]} attendance rows outside {start}..{end}"
    attendance = assert_attendance_exact(sim, options, start, end)
    return attendance + truth_row_count(sim)


def sync_runs(options: SyncOptions) -> List[Dict[str, Any]]:
    """The `sync_runs` rows of the dataset, oldest first."""
    cols = ("operation_id", "status", "planned_batches", "last_completed_batch", "finished_at", "mode")
    rows = query(options, f"SELECT {', '.join(cols)} FROM {{t:sync_runs}} ORDER BY started_at")
    return [dict(zip(cols, r, strict=True)) for r in rows]
