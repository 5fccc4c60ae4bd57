"""`--resume-from-batch N`: skipped batches are remembered and read by the next run, never a silent hole.

Issue 11 point 4: on a fresh dataset `--resume-from-batch 4` followed by a normal run left school 101
without its first three batches for good, with exit 0 and a summary that said the whole year was
re-read; and a resume number beyond the plan ran, wrote an empty sync and exited 0.
"""

import json
from datetime import date
from pathlib import Path
from typing import Any, Dict

import duckdb
import pytest
from reliability_helpers import schema_exists
from sync_truth import assert_attendance_matches, assert_small_tables_match, query
from test_cli import run_cli, sim_env

from aeries_simulator import FaultKind
from aeries_sync.runner import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, run_sync

YEAR_START, YEAR_END = date(2024, 8, 15), date(2025, 6, 12)
SKIPPED_LINE = "batches skipped by --resume-from-batch (read by the next run): 1-3"


def _is_skipped_retry(window: Any) -> bool:
    """A plan window that re-reads batches an earlier sync skipped with --resume-from-batch."""
    return "--resume-from-batch" in window.reason


def _as_list(value: Any) -> Any:
    """A json column as Python data (DuckDB returns text, Postgres parsed JSON)."""
    return json.loads(value) if isinstance(value, str) else value


def test_skipped_batches_are_read_by_the_next_run(sim, make_options, destination):
    first = run_sync(make_options(sim, destination, resume_from_batch=4))
    assert first.plan is not None and len(first.plan.batches) > 4
    assert first.status != "critical", first.message

    second = run_sync(make_options(sim, destination))
    assert second.exit_code == EXIT_OK, second.message
    options = make_options(sim, destination)
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    assert_small_tables_match(sim, options)
    assert {w.school_code for w in second.plan.ranges if _is_skipped_retry(w)} == {101}
    assert second.skipped_batches == []

    # Once read, the skipped windows are forgotten: the third run reads no retry windows.
    third = run_sync(make_options(sim, destination))
    assert third.exit_code == EXIT_OK, third.message
    assert not any(_is_skipped_retry(w) for w in third.plan.ranges), third.plan.ranges


def test_result_and_sync_runs_name_the_skipped_batches(sim, make_options):
    options = make_options(sim, resume_from_batch=4)
    result = run_sync(options)
    assert result.skipped_batches == [1, 2, 3]
    # Not fully done: the destination lacks those batches until the next run reads them.
    assert (result.exit_code, result.status) == (EXIT_PARTIAL, "partial"), result.message
    assert "--resume-from-batch" in result.message
    assert result.failed_batches == {}
    rows = query(options, "SELECT operation_id, status, skipped_batches FROM {t:sync_runs}")
    assert [(r[0], r[1], _as_list(r[2])) for r in rows] == [(result.run_id, "partial", [1, 2, 3])]


def test_summary_line_names_the_skipped_batches(sim, tmp_path):
    env: Dict[str, str] = {**sim_env(sim), "DLT_DATA_DIR": str(tmp_path / "dlt_data")}
    db = tmp_path / "out.duckdb"
    result = run_cli(["--resume-from-batch", "4", "--batch-days", "30", "--duckdb-path", str(db)], tmp_path, env)
    assert result.returncode == EXIT_PARTIAL, result.stdout + result.stderr
    assert SKIPPED_LINE in result.stdout, result.stdout
    assert "Traceback" not in result.stderr


def test_resume_after_an_interrupted_sync_leaves_no_hole(sim, make_options):
    """The legitimate use: a sync stopped part-way, rerun with the same plan from the batch it reached.

    Batches the stopped sync committed are in the destination: skipping them is no hole, so nothing is
    reported as skipped and the sync is done (exit 0).
    """
    window = {"start_date": date(2024, 9, 2), "end_date": date(2024, 10, 27), "batch_days": 14,
              "school_codes": [101], "checkpoint_every": 1}
    # Batches 1 and 2 load; the third request is refused as if the certificate had been revoked.
    sim.faults.script("attendance", [None, None] + [FaultKind.UNAUTHORIZED] * 8)
    stopped = run_sync(make_options(sim, **window))
    assert stopped.status == "critical", stopped.message
    assert len(stopped.plan.batches) == 4
    sim.faults.clear()

    resumed = run_sync(make_options(sim, resume_from_batch=3, **window))
    assert resumed.exit_code == EXIT_OK, resumed.message
    assert resumed.skipped_batches == []
    options = make_options(sim)
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records}")[0][0] > 0
    loaded = {int(r[0]) for r in query(options, "SELECT school_code FROM {t:attendance_records}")}
    assert loaded == {101}
    _assert_school_matches(sim, options, 101, window["start_date"], window["end_date"])

    later = run_sync(make_options(sim, school_codes=[101]))
    assert not any(_is_skipped_retry(w) for w in later.plan.ranges), later.plan.ranges


def _assert_school_matches(sim, options, school: int, start: date, end: date) -> None:
    expected = {(d["student_id"], d["date"]) for d in sim.truth_attendance(school, start, end)}
    got = {(int(a), b) for a, b in query(
        options, "SELECT student_id, attendance_date FROM {t:attendance_records} "
                 f"WHERE school_code = {school} AND attendance_date BETWEEN '{start}' AND '{end}'")}
    assert got == expected


@pytest.mark.parametrize("destination", ["duckdb", "postgres"])
def test_resume_beyond_the_plan_is_bad_input_and_writes_nothing(sim, make_options, tmp_path, destination):
    planned = run_sync(make_options(sim, destination, batch_days=30, dry_run=True))
    batches = len(planned.plan.batches)
    dataset = make_options(sim, destination).dataset_name
    db = tmp_path / "beyond.duckdb"
    env: Dict[str, str] = {**sim_env(sim), "DLT_DATA_DIR": str(tmp_path / "dlt_data")}
    args = ["--resume-from-batch", "99", "--batch-days", "30", "--dataset-name", dataset,
            "--destination", destination, "--duckdb-path", str(db)]
    if destination == "postgres":
        env["DESTINATION__POSTGRES__CREDENTIALS"] = make_options(sim, destination).postgres_credentials
    result = run_cli(args, tmp_path, env)

    assert result.returncode == EXIT_BAD_INPUT, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "99" in lines[0] and f"{batches} batch" in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    if destination == "postgres":
        assert not schema_exists(make_options(sim, destination).postgres_credentials, dataset)
    else:
        _assert_no_tables(db)


def _assert_no_tables(db: Path) -> None:
    if db.exists():  # a DuckDB file, if any, must at least be empty
        with duckdb.connect(str(db), read_only=True) as connection:
            tables = connection.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        assert tables == [], tables
    assert not db.exists(), "the sync left an empty DuckDB file behind"


def test_resume_from_batch_0_and_1_skip_nothing(sim, make_options):
    for n in (0, 1):
        result = run_sync(make_options(sim, resume_from_batch=n, start_date=date(2024, 9, 2),
                                       end_date=date(2024, 9, 30), school_codes=[101]))
        assert result.exit_code == EXIT_OK, result.message
        assert result.skipped_batches == []
