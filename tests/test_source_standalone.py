"""The source on its own: importing it changes nothing in dlt, and per-school runs load what one run loads."""

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import dlt
import pytest
from sync_truth import assert_attendance_matches, assert_small_tables_match, query

from aeries_source import aeries
from aeries_sync.options import sync_options

CHECK_IMPORT = r"""
import sys, types
import dlt, dlt.common.jsonpath, dlt.extract, dlt.pipeline, dlt.destinations  # what a dlt user has loaded

def snapshot():
    seen = {}
    for name, module in list(sys.modules.items()):
        if (name == "dlt" or name.startswith("dlt.")) and isinstance(module, types.ModuleType):
            seen[name] = {k: id(v) for k, v in vars(module).items() if not k.startswith("__")}
    return seen

before = snapshot()
import aeries_source  # noqa: F401
import aeries_source.config, aeries_source.tables  # noqa: F401
after = snapshot()
changed = [f"{m}.{k}" for m, attrs in before.items() for k, v in attrs.items() if after[m].get(k) != v]
print("CHANGED", changed)
print("CACHED", hasattr(dlt.common.jsonpath._parse, "cache_info"))
"""


def test_importing_aeries_source_leaves_dlt_untouched() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORT], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert "CHANGED []" in done.stdout, done.stdout
    assert "CACHED False" in done.stdout, done.stdout


def _plain_pipeline(name: str, tmp_path: Path, dataset: str) -> Any:
    return dlt.pipeline(pipeline_name=name, destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
                        dataset_name=dataset, pipelines_dir=str(tmp_path / "pipelines"))


def _reader(tmp_path: Path, name: str, dataset: str) -> Any:
    return sync_options(destination="duckdb", duckdb_path=str(tmp_path / f"{name}.duckdb"), dataset_name=dataset,
                        pipeline_name=f"{name}_reader", pipelines_dir=str(tmp_path / "readers"))


def _table(reader: Any, table: str, columns: str) -> list:
    return sorted(tuple(str(v) for v in row) for row in query(reader, f"SELECT {columns} FROM {{t:{table}}}"))


@pytest.mark.parametrize("split", [pytest.param("decompose", id="decompose-scc"),
                                   pytest.param("school_codes", id="one-school-per-run")])
def test_per_school_runs_load_what_one_run_loads(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 split: str) -> None:
    monkeypatch.setenv("SOURCES__AERIES__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__AERIES__CERTIFICATE", sim.certificate)
    monkeypatch.setenv("SOURCES__AERIES__REQUEST_BACKOFF_FACTOR", "0")
    dataset = f"split_{uuid.uuid4().hex[:8]}"
    whole = _plain_pipeline("whole", tmp_path, dataset)
    whole.run(aeries()).raise_on_failed_jobs()

    parts = _plain_pipeline("parts", tmp_path, dataset)
    if split == "decompose":
        components = aeries().decompose("scc")
        attendance = [c for c in components if any(n.startswith("attendance_") for n in c.resources.selected)]
        assert len(attendance) == len(sim.school_codes())  # one component per school
        for component in components:
            parts.run(component).raise_on_failed_jobs()
    else:
        for school in sim.school_codes():
            parts.run(aeries(school_codes=[school])).raise_on_failed_jobs()

    a, b = _reader(tmp_path, "whole", dataset), _reader(tmp_path, "parts", dataset)
    for reader in (a, b):
        assert_attendance_matches(sim, reader, sim.spec.first_day, sim.today)
        assert_small_tables_match(sim, reader)
    columns = {"attendance_records": "school_code, student_id, attendance_date, all_day_code, is_full_day_absent, "
                                     "tardy_count, can_be_corrected, correction_deadline",
               "calendar_days": "school_code, calendar_date, holiday_code, attendance_month_locked",
               "students": "student_id, school_code, last_name, grade",
               "enrollment": "student_id, school_code, enter_date, leave_date",
               "data_through": "school_code, data_through, server_date"}
    for table, cols in columns.items():
        assert _table(a, table, cols) == _table(b, table, cols), table
