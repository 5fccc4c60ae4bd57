"""Bookkeeping: the rows a sync reports (summary, `sync_runs.rows_per_table`) are the rows it loaded."""

import json
from datetime import date
from typing import Any, Dict, Iterator

import pytest
from reliability_helpers import assert_everything_matches
from sync_truth import query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_sync.runner import EXIT_OK, run_sync

SPEC = DistrictSpec(seed=30, schools=3, students_per_school=20, today=date(2024, 9, 20))


@pytest.fixture
def district() -> Iterator[AeriesSimulator]:
    sim = AeriesSimulator(SPEC).start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        sim.stop()


def _truth_counts(sim: AeriesSimulator) -> Dict[str, int]:
    codes = sim.school_codes()
    return {
        "schools": len(codes),
        "calendar_days": sum(len(sim.truth_calendar(sc)) for sc in codes),
        "absence_codes": sum(len(sim.truth_absence_codes(sc)) for sc in codes),
        "students": sum(len(sim.truth_students(sc)) for sc in codes),
        "enrollment": sum(len(sim.truth_enrollment(sc)) for sc in codes),
    }


def test_postgres_first_sync_reports_the_rows_it_loaded(district: AeriesSimulator, make_options: Any) -> None:
    sim = district
    options = make_options(sim, "postgres", batch_days=10, checkpoint_every=3)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    attendance = assert_everything_matches(sim, options, date(2024, 8, 15), sim.today)
    assert attendance > 0

    truth = _truth_counts(sim)
    loaded = {t: int(query(options, "SELECT COUNT(*) FROM {t:%s}" % t)[0][0]) for t in truth}
    assert loaded == truth  # the data is right; what follows is what the sync says about it
    recorded = query(options, "SELECT rows_per_table FROM {t:sync_runs}")
    assert len(recorded) == 1
    per_table = recorded[0][0] if isinstance(recorded[0][0], dict) else json.loads(recorded[0][0])
    reported = {t: result.rows.get(t) for t in truth}
    assert reported == truth, f"summary rows {reported} != loaded {truth}"
    assert {t: per_table.get(t) for t in truth} == truth, f"sync_runs.rows_per_table {per_table}"
    assert result.rows["attendance_records"] == per_table["attendance_records"]
