"""No student data stays behind: not in dlt's pipelines folder, not in the `<dataset>_staging` schema.

After any sync (done, failed, or killed and rerun) every file under the pipelines folder is read
(gzip undone, parquet decoded, pickles unpickled) and searched for the simulator's student names,
state ids and student ids; every table of the staging schema must be empty. The one exception is a
pending package of a killed run, until the rerun loads it.
"""

import dataclasses
import gzip
import os
import pickle
import re
import signal
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reliability_helpers import cli_command, cli_env, prepare_cwd
from sync_truth import assert_attendance_matches, assert_small_tables_match, query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from aeries_sync.leftovers import remove_leftovers
from aeries_sync.options import SyncOptions
from aeries_sync.runner import EXIT_CRITICAL, EXIT_OK, EXIT_PARTIAL, run_sync

# A tiny district in mid-November: two schools, three months of attendance, months still open, so a
# delta sync re-reads (and merges) attendance, students and enrollment.
SPEC = DistrictSpec(seed=11, schools=2, students_per_school=12, today=date(2024, 11, 20))
YEAR_START = date(2024, 8, 15)
# dlt's folders of packages not yet loaded (extract writes into normalize/<scratch>/<load id>).
PENDING_FOLDERS = (("normalize",), ("load", "new"), ("load", "normalized"))


@pytest.fixture
def district() -> Iterator[AeriesSimulator]:
    """A fresh tiny district on 127.0.0.1."""
    simulator = AeriesSimulator(SPEC).start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


# ----- what counts as student data, and where it is found ------------------------------------------

def marker_pattern(texts: Iterable[str], numbers: Iterable[str]) -> "re.Pattern[bytes]":
    """One pattern for student values: names anywhere, ids only as whole numbers."""
    names = [re.escape(t.encode()) for t in sorted(set(texts)) if len(t) >= 5]  # short names hit by chance
    ids = [re.escape(n.encode()) for n in sorted(set(numbers)) if n]
    alternatives = names + ([rb"(?<![0-9])(?:" + b"|".join(ids) + rb")(?![0-9])"] if ids else [])
    assert alternatives, "no student values to look for"
    return re.compile(b"|".join(alternatives))


def student_pattern(sim: AeriesSimulator) -> "re.Pattern[bytes]":
    """Last and first names, state ids and student ids of every student the simulator serves."""
    students = [s for sc in sim.school_codes() for s in sim.truth_students(sc)]
    names = [s[k] for s in students for k in ("LastName", "FirstName") if s[k]]
    ids = [str(s["StudentID"]) for s in students] + [str(s["StateStudentID"]) for s in students]
    return marker_pattern(names, ids)


def readable_forms(path: Path) -> Iterator[bytes]:
    """The bytes of a file as stored, decompressed, and decoded (parquet values, unpickled objects)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    yield data
    if data[:4] == b"PAR1":  # pages may be compressed and ids are binary: compare the values as text
        yield repr(pq.read_table(pa.BufferReader(data)).to_pylist()).encode()
    if path.suffix == ".pickle":  # dlt's trace; pickled ints are binary too
        yield repr(pickle.loads(data)).encode()


def files_with_student_data(root: Path, pattern: "re.Pattern[bytes]") -> List[Path]:
    """Every file under `root` whose content, in any readable form, holds a student value."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and any(pattern.search(f) for f in readable_forms(p)))


def is_pending(path: Path, pipeline_dir: Path) -> bool:
    """True for a file inside a package that is extracted or normalized but not loaded."""
    parts = path.relative_to(pipeline_dir).parts
    return any(parts[:len(folder)] == folder for folder in PENDING_FOLDERS)


def reader(options: SyncOptions, tmp_path: Path) -> SyncOptions:
    """Options that read the same dataset through a pipeline outside the scanned pipelines folder."""
    return dataclasses.replace(options, pipeline_name="leftovers_reader", pipelines_dir=str(tmp_path / "reader"))


def staging_leftovers(options: SyncOptions, pattern: "re.Pattern[bytes]") -> dict:
    """Rows per table of `<dataset>_staging` (dlt's `_dlt_version`: whether it holds student values)."""
    staging = f"{options.dataset_name}_staging"
    tables = query(options, "SELECT table_name FROM information_schema.tables "
                            f"WHERE table_schema = '{staging}'")
    found = {}
    for (table,) in tables:
        rows = query(options, f'SELECT * FROM "{staging}"."{table}"')
        if table == "_dlt_version":  # dlt's stored schemas: kept, must name no student
            found[table] = len(pattern.findall(repr(rows).encode()))
        else:
            found[table] = len(rows)
    return {t: n for t, n in found.items() if n}


def assert_no_student_data_left(sim: AeriesSimulator, options: SyncOptions, tmp_path: Path) -> None:
    """No file under the pipelines folder and no staging table holds a student value."""
    pattern = student_pattern(sim)
    hits = files_with_student_data(Path(options.pipelines_dir or ""), pattern)
    left = staging_leftovers(reader(options, tmp_path), pattern)
    assert not hits and not left, (f"{len(hits)} file(s) hold student data: {[str(h) for h in hits[:5]]}; "
                                   f"staging tables with rows: {left}")


def test_the_scanner_finds_student_values_in_compressed_and_binary_files(tmp_path):
    pattern = marker_pattern(["Testfamily 6509"], ["10100001", "9910100001"])
    table = pa.table({"student_id": pa.array([10100001], pa.int64()), "grade": [11]})
    pq.write_table(table, tmp_path / "attendance.parquet", compression="zstd")
    (tmp_path / "students.csv.gz").write_bytes(gzip.compress(b"student_id,last_name\n1,Testfamily 6509\n"))
    (tmp_path / "trace.pickle").write_bytes(pickle.dumps({"state_id": 9910100001}))
    (tmp_path / "clean.json").write_text('{"load_id": "1710100001.5", "student_number": 101000012}')
    assert [p.name for p in files_with_student_data(tmp_path, pattern)] == [
        "attendance.parquet", "students.csv.gz", "trace.pickle"]


# ----- syncs -------------------------------------------------------------------------------------------

def test_a_full_and_a_delta_sync_leave_no_student_data(district, make_options, destination, tmp_path):
    options = make_options(district, destination)
    full = run_sync(options)
    assert full.exit_code == EXIT_OK, full.message
    assert full.rows.get("students") and full.attendance_records > 0
    assert_no_student_data_left(district, options, tmp_path)

    district.advance_clock(days=7)
    delta = run_sync(options)
    assert delta.exit_code == EXIT_OK, delta.message
    assert delta.plan.mode == "delta" and delta.attendance_records > 0
    assert_no_student_data_left(district, options, tmp_path)
    # The merges still work on emptied staging tables: the new week arrived, nothing doubled.
    read = reader(options, tmp_path)
    assert_attendance_matches(district, read, YEAR_START, district.today)
    assert_small_tables_match(district, read)


@pytest.mark.parametrize("failure", ["dead_school", "revoked_certificate"])
def test_a_failed_sync_leaves_no_student_data(district, make_options, destination, tmp_path, failure):
    sim = district
    if failure == "dead_school":  # every attendance request of one school fails: its breaker opens
        sim.faults.add(FaultKind.UNAVAILABLE, route=f"attendance@{sim.school_codes()[-1]}", probability=1.0)
        expected = EXIT_PARTIAL
    else:  # a 401 after two committed checkpoints stops the sync
        sim.faults.script("attendance", [None, None, FaultKind.UNAUTHORIZED])
        expected = EXIT_CRITICAL
    options = make_options(sim, destination, batch_days=14, checkpoint_every=1)
    result = run_sync(options)
    assert result.exit_code == expected, result.message
    assert result.pipeline_runs >= 1, "nothing was loaded before the failure: the test tests nothing"
    assert_no_student_data_left(sim, options, tmp_path)


def test_the_cleanup_keeps_a_pending_package_and_the_rows_it_may_stage(tmp_path):
    pattern = marker_pattern(["Loadedname One", "Pendingname Two"], [])
    # The DuckDB file is not named after the dataset: DuckDB could not tell catalog and schema apart.
    duckdb = dlt.destinations.duckdb(str(tmp_path / "leftovers_unit.duckdb"))
    pipeline = dlt.pipeline("leftovers_unit", destination=duckdb, dataset_name="batch",
                            pipelines_dir=str(tmp_path / "pipelines"))
    hints = {"table_name": "students", "write_disposition": "merge", "primary_key": "id"}
    pipeline.run([{"id": 1, "name": "Loadedname One"}], **hints)
    pipeline.extract([{"id": 2, "name": "Pendingname Two"}], **hints)
    pipeline.normalize()
    pending = list(pipeline.list_normalized_load_packages())
    assert pending and pipeline.list_completed_load_packages()

    remove_leftovers(pipeline)
    assert list(pipeline.list_normalized_load_packages()) == pending, "a pending package was deleted"
    assert not pipeline.list_completed_load_packages()
    pipeline_dir = Path(pipeline.working_dir)
    hits = files_with_student_data(pipeline_dir, pattern)
    assert hits, "the scanner found no student value in the pending package"
    assert all(is_pending(h, pipeline_dir) for h in hits), [str(h) for h in hits if not is_pending(h, pipeline_dir)]
    assert _staged_rows(pipeline) == 1, "staging emptied while a package was pending (its merge job may still read it)"

    pipeline.load()  # what the rerun does first
    remove_leftovers(pipeline)
    assert not files_with_student_data(pipeline_dir, pattern)
    assert not pipeline.list_normalized_load_packages() and not pipeline.list_completed_load_packages()
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("students")
        assert client.execute_sql(f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,)]
    assert _staged_rows(pipeline) == 0


def _staged_rows(pipeline: dlt.Pipeline) -> int:
    with pipeline.sql_client() as client, client.with_staging_dataset():
        return int(client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name('students')}")[0][0])


# ----- a killed sync and its rerun ----------------------------------------------------------------------

def _has_package(pipeline_dir: Path, *folder: str) -> bool:
    path = pipeline_dir.joinpath(*folder)
    return path.is_dir() and any(p.is_dir() for p in path.iterdir())


def _pending(pipeline_dir: Path) -> bool:
    try:
        return any(_has_package(pipeline_dir, *f) for f in (("normalize", "extracted"), ("load", "new"),
                                                             ("load", "normalized")))
    except FileNotFoundError:  # dlt moved a package while it was listed
        return False


def _has_cleaned_loaded_package(pipeline_dir: Path) -> bool:
    """True once a loaded package exists whose data files dlt has deleted (`load.delete_completed_jobs`).

    dlt moves a package into `load/loaded` and deletes its data files a few milliseconds later
    (`Load.complete_package`); a kill in between leaves them until the rerun deletes the package.
    The checkpoints are loaded back to back after the reading, so a package is pending during that
    window too: the kill waits for the deletion, as it waited for the next extract before.
    """
    try:
        loaded = pipeline_dir / "load" / "loaded"
        return loaded.is_dir() and any(
            p.is_dir() and not any((p / "completed_jobs").glob("*.*")) for p in loaded.iterdir())
    except FileNotFoundError:  # dlt moved a package while it was listed
        return False


def kill_while_pending(proc: subprocess.Popen, pipeline_dir: Path, timeout: float = 90) -> bool:
    """SIGKILL the sync once a package is loaded and the next one is pending; False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if _has_cleaned_loaded_package(pipeline_dir) and _pending(pipeline_dir):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        time.sleep(0.002)
    return False


def test_a_killed_sync_keeps_only_its_pending_package_and_the_rerun_removes_it(
        district, make_options, destination, tmp_path):
    sim = district
    data_dir = tmp_path / "dlt_data"
    options = make_options(sim, destination, pipeline_name="leftovers_kill", batch_days=7,
                           pipelines_dir=str(data_dir / "pipelines"))
    pipeline_dir = data_dir / "pipelines" / options.pipeline_name
    postgres_url: Optional[str] = options.postgres_credentials
    env = cli_env(sim, postgres_url, data_dir, SYNC__CHECKPOINT_EVERY="1",
                  SOURCES__AERIES__BATCH_DAYS="7")
    args = ["--destination", destination, "--pipeline-name", options.pipeline_name,
            "--dataset-name", options.dataset_name]
    if destination == "duckdb":
        args += ["--duckdb-path", str(options.duckdb_path)]
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cli_command(*args), cwd=prepare_cwd(tmp_path / "cwd"), env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            killed = kill_while_pending(proc, pipeline_dir)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    assert killed, f"the sync ended before it could be killed: {(tmp_path / 'killed.log').read_text()[-2000:]}"

    # Killed: student data only in the pending package, none in the packages it had loaded.
    hits = files_with_student_data(pipeline_dir, student_pattern(sim))
    assert all(is_pending(h, pipeline_dir) for h in hits), [str(h) for h in hits if not is_pending(h, pipeline_dir)]
    assert hits, "the kill left no pending package with student rows: the rerun has nothing to finish"

    # The rerun loads the pending package, reads the rest and leaves nothing behind.
    rerun = run_sync(dataclasses.replace(options, checkpoint_every=50))
    assert rerun.exit_code == EXIT_OK, rerun.message
    assert_no_student_data_left(sim, options, tmp_path)
    # Nothing was lost by deleting loaded packages or emptying staging: the data equals the truth.
    read = reader(options, tmp_path)
    assert assert_attendance_matches(sim, read, YEAR_START, sim.today) > 0
    assert_small_tables_match(sim, read)
