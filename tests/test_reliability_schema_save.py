"""A kill while dlt saves a schema leaves its temporary file behind; the rerun must not take it for a schema."""

import os
from datetime import date
from pathlib import Path

from sync_truth import assert_attendance_matches

from aeries_simulator import AeriesSimulator
from aeries_sync.runner import EXIT_OK, run_sync

YEAR_START = date(2024, 8, 15)


def test_a_schema_save_cut_short_by_a_kill_does_not_fail_the_rerun(
        sim: AeriesSimulator, make_options, destination: str) -> None:
    options = make_options(sim, destination)
    first = run_sync(options)
    assert first.exit_code == EXIT_OK, first.message
    schemas = Path(options.pipelines_dir) / options.pipeline_name / "schemas"
    assert sorted(os.listdir(schemas)) == ["aeries.schema.json"]
    # What dlt's atomic save leaves when a SIGKILL lands between writing its temporary file and
    # renaming it (seen under CI: the rerun failed with FileNotFoundError on `<hex>.schema.json`).
    partial = (schemas / "aeries.schema.json").read_text()[:500]
    (schemas / "e5c83003aa53162e").write_text(partial)

    rerun = run_sync(options)

    assert rerun.exit_code == EXIT_OK, rerun.message
    assert sorted(os.listdir(schemas)) == ["aeries.schema.json"]
    assert_attendance_matches(sim, options, YEAR_START, sim.today)
