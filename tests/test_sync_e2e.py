"""End to end: the sync against the simulator over HTTP into real DuckDB and Postgres."""

from datetime import date
from pathlib import Path

from sync_truth import assert_attendance_matches, assert_small_tables_match, query, table_counts

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_sync.runner import EXIT_OK, EXIT_PARTIAL, run_sync

YEAR_START, YEAR_END = date(2024, 8, 15), date(2025, 6, 12)


def test_full_sync_matches_truth_and_rerun_adds_nothing(sim, make_options, destination):
    options = make_options(sim, destination)

    first = run_sync(options)
    assert first.exit_code == EXIT_OK, first.message
    rows = assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    assert rows > 100
    assert first.attendance_records == rows
    assert_small_tables_match(sim, options)
    counts = table_counts(options)

    runs = query(options, "SELECT operation_id, status, planned_batches, last_completed_batch, total_processed, "
                          "finished_at FROM {t:sync_runs}")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in runs] == [
        (first.run_id, "done", len(first.plan.batches), len(first.plan.batches), rows)]
    assert runs[0][5] is not None
    batches = query(options, "SELECT batch, status, rows, requests FROM {t:sync_batches}")
    assert sorted(b[0] for b in batches) == [u.number for u in first.plan.batches]
    assert {b[1] for b in batches} == {"done"}
    assert sum(b[2] for b in batches) == rows
    assert [b[3] for b in batches] == [1] * len(batches)  # one attendance request per batch, no retries

    # An explicit re-sync of the whole year: the same rows, nothing duplicated.
    again = run_sync(make_options(sim, destination, start_date=YEAR_START, end_date=YEAR_END))
    assert again.exit_code == EXIT_OK, again.message
    assert table_counts(options) == counts
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    assert_small_tables_match(sim, options)


def test_batches_gathered_into_larger_items_load_the_same_rows(sim, make_options, destination):
    """A `rows_per_item` above a batch's rows hands a school's batches to dlt together (by default each alone)."""
    options = make_options(sim, destination, rows_per_item=1_000_000)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    assert result.attendance_records == assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    assert_small_tables_match(sim, options)


def test_attendance_rows_carry_batch_metadata_and_dates(sim, make_options):
    options = make_options(sim, batch_days=7)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    rows = query(options, "SELECT sync_run_id, sync_batch, sync_batch_start, sync_batch_end, attendance_date, "
                          "correction_deadline FROM {t:attendance_records}")
    assert rows
    batches = {u.number: u for u in result.plan.batches}
    for run_id, batch, batch_start, batch_end, day, deadline in rows:
        assert run_id == result.run_id
        batch = batches[int(batch)]
        assert (batch_start, batch_end) == (batch.start, batch.end)
        assert batch_start <= day <= batch_end
        assert (batch_end - batch_start).days <= 6
        assert deadline is None or deadline >= day


def test_correction_resync_replaces_the_window(sim, make_options, destination):
    options = make_options(sim, destination)
    assert run_sync(options).exit_code == EXIT_OK
    school = sim.school_codes()[0]
    window = (date(2024, 9, 1), date(2024, 9, 30))
    days = sim.truth_attendance(school, *window)
    assert len(days) >= 3
    cleared, excused = days[0], days[1]
    sim.clear_absence(school, cleared["student_id"], cleared["date"])
    sim.excuse_absence(school, excused["student_id"], excused["date"])
    sim.add_period_code(school, days[2]["student_id"], days[2]["date"], "1", "T")
    busy_day = max({d["date"] for d in days}, key=lambda d: sum(1 for x in days if x["date"] == d))
    sim.clear_school_day(school, busy_day)

    result = run_sync(make_options(sim, destination, start_date=window[0], end_date=window[1]))
    assert result.exit_code == EXIT_OK, result.message
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    left = query(options, "SELECT COUNT(*) FROM {t:attendance_records} "
                          f"WHERE school_code = {school} AND attendance_date = '{busy_day.isoformat()}'")
    assert left[0][0] == 0


def test_resume_from_batch_skips_earlier_batches(sim, make_options):
    options = make_options(sim, batch_days=30, start_date=date(2024, 9, 1), end_date=date(2024, 12, 31))
    sim.clear_request_log()
    result = run_sync(make_options(sim, batch_days=30, start_date=date(2024, 9, 1), end_date=date(2024, 12, 31),
                                   resume_from_batch=4))
    # Not done: batches 1-3 were not read (the next run reads them; tests/test_resume_from_batch.py).
    assert (result.exit_code, result.skipped_batches) == (EXIT_PARTIAL, [1, 2, 3]), result.message
    loaded_batches = sorted(int(r[0]) for r in query(options, "SELECT batch FROM {t:sync_batches}"))
    assert loaded_batches == [u.number for u in result.plan.batches if u.number >= 4]
    requested = [r for r in sim.request_log if "/attendance" in r.path.lower()]
    assert len(requested) == len(loaded_batches)
    skipped = [u for u in result.plan.batches if u.number < 4]
    for batch in skipped:
        sql = ("SELECT COUNT(*) FROM {t:attendance_records} WHERE school_code = "
               f"{batch.school_code} AND attendance_date BETWEEN '{batch.start}' AND '{batch.end}'")
        assert not query(options, sql)[0][0]


def test_a_removed_database_gets_a_full_load_not_a_delta(sim, make_options, tmp_path):
    import os

    options = make_options(sim)
    assert run_sync(options).exit_code == EXIT_OK
    # The data is gone, the pipeline's local state is not: dlt's sync_destination finds no
    # dataset and resets the local state, so the next sync is a full load, not a delta.
    os.remove(options.duckdb_path)

    again = run_sync(make_options(sim))
    assert again.exit_code == EXIT_OK, again.message
    assert again.plan.mode == "full"
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)
    assert_small_tables_match(sim, options)


def test_duckdb_file_in_a_folder_that_does_not_exist_yet(sim, make_options, tmp_path):
    options = make_options(sim, duckdb_path=str(tmp_path / "not" / "yet" / "there.duckdb"))
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)


def test_postgres_load_jobs_can_be_replayed_after_a_kill(sim, make_options):
    """dlt replays a load job that a kill interrupted after its commit: no UNIQUE constraint may trip it.

    The crash test once caught a rerun failing forever on `_dlt_pipeline_state__dlt_id_key` after a
    kill between the state row's commit and dlt's job bookkeeping.
    """
    options = make_options(sim, "postgres")
    assert run_sync(options).exit_code == EXIT_OK
    dataset = options.dataset_name
    # Only the tables' declared primary keys are unique (a merge deletes before it inserts, so a
    # replayed merge cannot trip them); nothing on dlt's `_dlt_id` columns or its own tables.
    unique = query(options, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = '%s' "
                            "AND indexdef LIKE 'CREATE UNIQUE%%'" % dataset)
    assert all(name == f"{table}_pkey" and not table.startswith("_dlt") and "_dlt_id" not in indexdef
               for table, name, indexdef in unique), unique
    # the replay itself: the same state row inserted a second time
    state = f'"{dataset}"."_dlt_pipeline_state"'
    query(options, f"INSERT INTO {state} SELECT * FROM {state} LIMIT 1 RETURNING 1")
    again = run_sync(make_options(sim, "postgres"))
    assert again.exit_code == EXIT_OK, again.message
    assert again.plan.mode == "delta"
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)


def test_time_based_checkpoints_commit_several_runs_and_load_exactly(test_spec, make_options, destination):
    """The shipped cadence is by time: a run stops taking batches after `checkpoint_seconds`.

    Every response of this simulator takes 150 ms, so a run of 0.5 s reads a few batches and the
    year takes several runs, each committed on its own; the data is the same as in one run.
    """
    from aeries_simulator import AeriesSimulator, FaultKind

    slow = AeriesSimulator(test_spec, fault_latency_seconds=0.15)
    slow.faults.add(FaultKind.LATENCY)
    slow.start(host="127.0.0.1", port=0)
    try:
        options = make_options(slow, destination, checkpoint_seconds=0.5, batch_days=28)
        assert options.checkpoint_every is None, "no batch limit: time alone decides"
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
        assert result.pipeline_runs >= 3
        assert result.pipeline_runs < len(result.plan.batches), "a run reads as many batches as its time allows"
        assert result.attendance_records == assert_attendance_matches(slow, options, YEAR_START, YEAR_END)
        runs = query(options, "SELECT status, planned_batches, last_completed_batch FROM {t:sync_runs}")
        assert runs == [("done", len(result.plan.batches), len(result.plan.batches))]
    finally:
        slow.stop()


def test_students_and_enrollment_first_loaded_as_dict_rows_keep_loading(sim, make_options, destination):
    """Versions before students and enrollment went as Arrow tables made them from dict rows, `_dlt_id` NOT NULL.

    The source adds dlt's row columns to its Arrow items for such tables (found in the schema,
    or in the destination by the runner), and both full and delta syncs go on loading there.
    """
    import dlt

    from aeries_sync.pipeline import make_pipeline

    options = make_options(sim, destination)
    school = sim.school_codes()[0]
    pipeline = make_pipeline(options)
    stale_student = {"student_id": 1, "school_code": school, "last_name": "Stale", "sync_tombstone": False}
    stale_enrollment = {"student_id": 1, "school_code": school, "academic_year": "2024",
                        "enter_date": date(2024, 8, 15), "sync_tombstone": False}
    pipeline.run([dlt.resource([stale_student], name="students", write_disposition="merge",
                               primary_key=("student_id", "school_code")),
                  dlt.resource([stale_enrollment], name="enrollment", write_disposition="merge",
                               primary_key=("student_id", "school_code", "academic_year", "enter_date"),
                               merge_key=("student_id", "school_code", "academic_year"))],
                 schema=dlt.Schema("aeries"))
    for table in ("students", "enrollment"):
        assert query(options, f"SELECT COUNT(*) FROM {{t:{table}}} WHERE _dlt_id IS NOT NULL") == [(1,)]

    # A new pipeline folder: its schema knows nothing of the tables; the destination does.
    options.pipelines_dir = str(Path(options.pipelines_dir).parent / "fresh_pipelines")
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    sim.withdraw_student(school, sim.truth_students(school)[0]["StudentID"], date(2025, 1, 6))
    sim.advance_clock(days=1)
    result = run_sync(options)  # a delta sync re-fetches the changed student
    assert result.exit_code == EXIT_OK, result.message
    for table in ("students", "enrollment"):
        assert query(options, f"SELECT COUNT(*) FROM {{t:{table}}} WHERE _dlt_id IS NULL "
                              "OR _dlt_load_id IS NULL") == [(0,)]
    # the stale student 1 is not one of the simulator's: a full refresh of its school does not
    # remove it (no merge key on students), so compare the simulator's students only
    assert query(options, "SELECT COUNT(*) FROM {t:students} WHERE student_id = 1") == [(1,)]
    pipeline_rows = query(options, "SELECT COUNT(*) FROM {t:students} WHERE student_id <> 1")
    assert pipeline_rows == [(sum(len(sim.truth_students(sc)) for sc in sim.school_codes()),)]


def test_a_dataset_first_loaded_as_dict_rows_keeps_loading(sim, make_options, destination):
    """Versions before the Arrow path loaded dict rows: there dlt's `_dlt_id` and `_dlt_load_id` are NOT NULL.

    Arrow items carry neither column, so the source adds them for such a table, and its loads go on.
    """
    from aeries_sync.pipeline import make_pipeline

    options = make_options(sim, destination)
    school = sim.school_codes()[0]
    pipeline = make_pipeline(options)
    dict_row = {"school_code": school, "student_id": 1, "attendance_date": date(2024, 9, 3),
                "all_day_code": "A", "sync_tombstone": False}
    import dlt

    pipeline.run(dlt.resource([dict_row], name="attendance_records", write_disposition="merge",
                              primary_key=("school_code", "student_id", "attendance_date"),
                              merge_key=("school_code", "attendance_date")),
                 schema=dlt.Schema("aeries"))  # the source's schema, as the earlier version wrote it
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records} WHERE _dlt_id IS NOT NULL") == [(1,)]

    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    assert_attendance_matches(sim, options, YEAR_START, YEAR_END)  # the stale dict row was replaced
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records} WHERE _dlt_id IS NULL "
                          "OR _dlt_load_id IS NULL") == [(0,)]


def test_a_school_of_more_than_a_thousand_students_loads_all_its_students_and_enrollment(make_options):
    """A school's students and enrollment are transformed and made Arrow parts a thousand at a time."""
    big = AeriesSimulator(DistrictSpec(seed=5, schools=1, students_per_school=2_300)).start(host="127.0.0.1", port=0)
    try:
        options = make_options(big, part="reference")
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
        school = big.school_codes()[0]
        assert len(big.truth_enrollment(school)) > 2_000  # three parts, the last a partial one
        assert_small_tables_match(big, options)
    finally:
        big.stop()
