"""The source on its own: a plain `dlt.pipeline(...).run(aeries())`, no runner, on both destinations."""

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, List

import dlt
import pytest
from sync_truth import assert_attendance_matches, assert_small_tables_match, columns_of, query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_source import aeries
from aeries_sync.options import sync_options

YEAR_START = date(2024, 8, 15)
# Columns that say which run wrote a row, not what the row holds.
RUN_COLUMNS = ("_dlt_load_id", "_dlt_id", "sync_run_id", "sync_batch", "sync_batch_start", "sync_batch_end",
               "operation_id", "synced_at")
TABLES = ("attendance_records", "students", "enrollment", "calendar_days", "absence_codes", "schools")


@pytest.fixture
def midyear_sim():
    """A district in May: early months locked, the recent ones open."""
    simulator = AeriesSimulator(DistrictSpec(seed=29, schools=3, students_per_school=30,
                                             today=date(2025, 5, 2))).start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def plain(midyear_sim: AeriesSimulator, destination: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          request: pytest.FixtureRequest):
    """A plain dlt pipeline and `[sources.aeries]` settings from environment variables only."""
    monkeypatch.setenv("SOURCES__AERIES__BASE_URL", midyear_sim.base_url)
    monkeypatch.setenv("SOURCES__AERIES__CERTIFICATE", midyear_sim.certificate)
    monkeypatch.setenv("SOURCES__AERIES__REQUEST_BACKOFF_FACTOR", "0")
    dataset = f"plain_{uuid.uuid4().hex[:8]}"
    if destination == "duckdb":
        target: Any = dlt.destinations.duckdb(str(tmp_path / "plain.duckdb"))
        reader = sync_options(destination="duckdb", duckdb_path=str(tmp_path / "plain.duckdb"))
    else:
        url = request.getfixturevalue("postgres_url")
        target = dlt.destinations.postgres(url)
        reader = sync_options(destination="postgres", postgres_credentials=url)
    pipeline = dlt.pipeline(pipeline_name="plain_aeries", destination=target, dataset_name=dataset,
                            pipelines_dir=str(tmp_path / "pipelines"))
    reader.dataset_name = dataset
    reader.pipeline_name = "plain_reader"
    reader.pipelines_dir = str(tmp_path / "reader")
    return pipeline, reader


def _contents(reader: Any) -> Dict[str, List[tuple]]:
    """Every data table's rows without the columns that name the run that wrote them."""
    out = {}
    for table in TABLES:
        cols = sorted(c for c in columns_of(reader, table) if c not in RUN_COLUMNS)
        rows = query(reader, f"SELECT {', '.join(cols)} FROM {{t:{table}}}")
        out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def _month_of(reader: Any, school: int, day: date) -> int:
    return int(query(reader, "SELECT attendance_month FROM {t:calendar_days} "
                             f"WHERE school_code = {school} AND calendar_date = '{day.isoformat()}'")[0][0])


def _still_correctable(reader: Any, school: int, month: int) -> int:
    return int(query(reader, "SELECT COUNT(*) FROM {t:attendance_records} a JOIN {t:calendar_days} c "
                             "ON c.school_code = a.school_code AND c.calendar_date = a.attendance_date "
                             f"WHERE a.school_code = {school} AND c.attendance_month = {month} "
                             "AND a.can_be_corrected")[0][0])


def test_plain_pipeline_follows_changes_and_locks(midyear_sim: AeriesSimulator, plain) -> None:
    sim, (pipeline, reader) = midyear_sim, plain
    pipeline.run(aeries()).raise_on_failed_jobs()
    assert_attendance_matches(sim, reader, YEAR_START, sim.today)

    school = next(sc for sc in sim.school_codes() if sim.school_periods(sc))
    first_open = sim.first_unlocked_day(school)
    month = _month_of(reader, school, first_open)
    assert _still_correctable(reader, school, month) > 0
    days = sim.truth_attendance(school, first_open + timedelta(days=35), sim.today)
    absences = [d for d in days if d["all_day_code"] or d["classes"]]
    sim.clear_absence(school, absences[0]["student_id"], absences[0]["date"])
    sim.excuse_absence(school, absences[1]["student_id"], absences[1]["date"])
    sim.enroll_student(school, grade=4, enter_date=sim.today)
    for sc in sim.school_codes():
        sim.lock_month(sc, month)
    sim.advance_clock(days=1)

    pipeline.run(aeries()).raise_on_failed_jobs()
    assert_attendance_matches(sim, reader, YEAR_START, sim.today)
    assert_small_tables_match(sim, reader)
    assert _still_correctable(reader, school, month) == 0

    settled = _contents(reader)
    for _ in range(2):
        pipeline.run(aeries()).raise_on_failed_jobs()
        assert _contents(reader) == settled


def test_a_month_locked_since_it_was_read_is_corrected_whatever_range_is_asked(
    midyear_sim: AeriesSimulator, plain
) -> None:
    """Lock a month after the first load, then re-sync an earlier month only: the locked month follows."""
    sim, (pipeline, reader) = midyear_sim, plain
    pipeline.run(aeries()).raise_on_failed_jobs()
    school = sim.school_codes()[0]
    first_open = sim.first_unlocked_day(school)
    month = _month_of(reader, school, first_open)
    assert _still_correctable(reader, school, month) > 0
    changed = next(d for d in sim.truth_attendance(school, first_open, first_open + timedelta(days=10))
                   if d["all_day_code"])
    sim.excuse_absence(school, changed["student_id"], changed["date"])  # corrected before the lock
    for sc in sim.school_codes():
        sim.lock_month(sc, month)

    sim.clear_request_log()
    pipeline.run(aeries(start_date=date(2024, 9, 2), end_date=date(2024, 9, 13))).raise_on_failed_jobs()
    assert _still_correctable(reader, school, month) == 0
    assert_attendance_matches(sim, reader, YEAR_START, sim.today)
    rereads = [r for r in sim.request_log if "/attendance" in r.path.lower()]
    # one explicit batch per school plus the relocked month once per school (batches of batch_days)
    assert len(rereads) <= 2 * len(sim.school_codes()) * 2

    # read once: a second explicit run does not read that month again
    sim.clear_request_log()
    pipeline.run(aeries(start_date=date(2024, 9, 2), end_date=date(2024, 9, 13))).raise_on_failed_jobs()
    assert len([r for r in sim.request_log if "/attendance" in r.path.lower()]) == len(sim.school_codes())
