"""Every table the README lists exists after the first sync, even when it has no rows."""

from datetime import date

import pytest
from table_helpers import README_TABLES, column_types, existing_tables, run_sql

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_sync.runner import EXIT_OK, run_sync

REJECT_COLUMNS = {"reject_id", "school_code", "endpoint", "batch_start", "batch_end", "reason", "raw_payload",
                  "sync_run_id", "rejected_at"}
DATA_THROUGH_COLUMNS = {"school_code", "data_through", "server_date"}
SYNC_BATCH_COLUMNS = {"operation_id", "batch", "school_code", "batch_start", "batch_end", "status", "rows",
                      "requests", "seconds", "error_class", "finished_at"}


def test_every_listed_table_exists_after_a_clean_first_sync(sim, make_options, destination):
    options = make_options(sim, destination)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    assert result.rejects == 0  # a clean sync: nothing was rejected

    assert set(README_TABLES) <= existing_tables(options)
    counts = {t: int(run_sql(options, "SELECT COUNT(*) FROM {%s}" % t)[0][0]) for t in README_TABLES}
    assert counts["rejects"] == 0
    assert all(counts[t] > 0 for t in README_TABLES if t != "rejects"), counts

    rejects = column_types(options, "rejects")
    assert REJECT_COLUMNS <= set(rejects)
    assert "date" in rejects["batch_start"] and "date" in rejects["batch_end"]
    assert "timestamp" in rejects["rejected_at"]
    assert DATA_THROUGH_COLUMNS <= set(column_types(options, "data_through"))
    assert SYNC_BATCH_COLUMNS <= set(column_types(options, "sync_batches"))
    # The empty table works in the queries a dashboard runs.
    assert run_sql(options, "SELECT school_code, endpoint, reason, raw_payload FROM {rejects} "
                            "WHERE batch_start IS NULL OR batch_end >= '2024-08-15'") == []


@pytest.fixture
def before_school_sim():
    """A district whose clock stands before the first school day: no school has attendance to read."""
    simulator = AeriesSimulator(DistrictSpec(seed=11, schools=2, students_per_school=5, today=date(2024, 8, 1)))
    simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


def test_a_sync_with_nothing_to_read_still_creates_every_table(before_school_sim, make_options, destination):
    options = make_options(before_school_sim, destination)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    assert not result.plan.batches
    assert set(README_TABLES) <= existing_tables(options)
    for table in ("attendance_records", "rejects", "sync_batches", "data_through"):
        assert run_sql(options, "SELECT COUNT(*) FROM {%s}" % table)[0][0] == 0
    assert {"school_code", "student_id", "attendance_date", "is_present", "is_full_day_absent", "tardy_count",
            "can_be_corrected", "correction_deadline", "all_day_code", "all_day_status", "sync_run_id",
            "sync_batch", "sync_batch_start", "sync_batch_end"} <= set(column_types(options, "attendance_records"))
    assert REJECT_COLUMNS <= set(column_types(options, "rejects"))
    assert SYNC_BATCH_COLUMNS <= set(column_types(options, "sync_batches"))
    assert DATA_THROUGH_COLUMNS <= set(column_types(options, "data_through"))
