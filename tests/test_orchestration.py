"""The orchestrator's tasks without Airflow: districts from dlt config, exit causes, school tasks side by side."""

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from aeries_sync import orchestration
from aeries_sync.districts import district_names, district_options
from aeries_sync.options import ATTENDANCE, SyncOptions
from tests.sync_truth import assert_attendance_matches, query

REPO = Path(__file__).resolve().parent.parent
SPEC = DistrictSpec(seed=43, schools=3, students_per_school=20, today=date(2025, 2, 14))


@pytest.fixture
def north(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[AeriesSimulator, str]]:
    """One district, `north`, configured through environment variables as a deployment would."""
    dataset = f"orch_{uuid.uuid4().hex[:8]}"
    with AeriesSimulator(SPEC) as sim:
        for name, value in _district_env(sim, dataset, postgres_url, tmp_path).items():
            monkeypatch.setenv(name, value)
        yield sim, dataset


def _district_env(sim: AeriesSimulator, dataset: str, postgres_url: str, tmp_path: Path) -> Dict[str, str]:
    return {"DISTRICTS__NAMES": '["north"]', "DISTRICTS__NORTH__BASE_URL": sim.base_url,
            "DISTRICTS__NORTH__CERTIFICATE": sim.certificate, "DISTRICTS__NORTH__DATASET_NAME": dataset,
            "DESTINATION__POSTGRES__CREDENTIALS": postgres_url, "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "SOURCES__AERIES__REQUEST_MAX_ATTEMPTS": "2", "SOURCES__AERIES__REQUEST_BACKOFF_FACTOR": "0",
            "SOURCES__AERIES__REQUEST_JITTER": "0"}


def test_districts_and_their_overrides_come_from_dlt_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRICTS__NAMES", '["north", "south"]')
    monkeypatch.setenv("DISTRICTS__SOUTH__BASE_URL", "http://127.0.0.1:1/aeries")
    monkeypatch.setenv("DISTRICTS__SOUTH__DATASET_NAME", "south_data")
    monkeypatch.setenv("DISTRICTS__SOUTH__CERTIFICATE", "c" * 32)
    monkeypatch.setenv("DISTRICTS__SOUTH__BATCH_DAYS", "7")  # any [sources.aeries] setting, per district
    assert district_names() == ["north", "south"]
    options = district_options("south", ATTENDANCE, 102)
    assert (options.dataset_name, options.destination, options.pipeline_name) == (
        "south_data", "postgres", "aeries_south_attendance_102")
    assert options.source["batch_days"] == 7 and options.source["school_codes"] == [102]
    assert options.source["certificate"] == "c" * 32
    assert options.staging_layout == "%s_staging_102" and not options.refresh_measures
    with pytest.raises(Exception, match=r"\[districts.north\] dataset_name is not set"):
        district_options("north")
    monkeypatch.setenv("DISTRICTS__NAMES", '["North Side"]')
    with pytest.raises(Exception, match="lower-case"):
        district_names()


def test_causes_a_retry_cannot_fix_are_not_retryable(north: Tuple[AeriesSimulator, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sim, _ = north
    assert orchestration.list_schools("north") == sim.school_codes()
    sim.faults.add(FaultKind.UNAVAILABLE, route=f"attendance@{sim.school_codes()[0]}", probability=1.0)
    orchestration.sync_reference("north")
    with pytest.raises(orchestration.TaskFailed) as partial:
        orchestration.sync_school("north", sim.school_codes()[0])
    assert partial.value.exit_code == 3 and partial.value.retryable
    assert str(partial.value).startswith("error: ") and "\n" not in str(partial.value)

    monkeypatch.setenv("DISTRICTS__NORTH__CERTIFICATE", "x" * 32)
    for task in (lambda: orchestration.list_schools("north"), lambda: orchestration.sync_school("north", 101)):
        with pytest.raises(orchestration.TaskFailed) as refused:
            task()
        assert refused.value.exit_code == 4 and not refused.value.retryable, refused.value
        assert "x" * 32 not in str(refused.value)
    monkeypatch.delenv("DISTRICTS__NORTH__DATASET_NAME")
    with pytest.raises(orchestration.TaskFailed) as bad:
        orchestration.list_schools("north")
    assert bad.value.exit_code == 2 and not bad.value.retryable
    assert str(bad.value) == "error: [districts.north] dataset_name is not set"


def test_two_school_tasks_of_a_district_load_side_by_side_into_one_dataset(
    north: Tuple[AeriesSimulator, str], postgres_url: str, tmp_path: Path,
) -> None:
    sim, dataset = north
    orchestration.sync_reference("north")
    schools = sim.school_codes()[:2]
    # Slow responses and a checkpoint per batch: both tasks load several times while the other does.
    sim.faults.add(FaultKind.LATENCY, route="attendance", probability=1.0)
    env = {**os.environ, **_district_env(sim, dataset, postgres_url, tmp_path), "SYNC__CHECKPOINT_EVERY": "1",
           "PYTHONPATH": str(REPO)}
    code = ("import json, sys, time; from aeries_sync.orchestration import sync_school; t = time.time(); "
            "r = sync_school('north', int(sys.argv[1])); "
            "print('DONE', json.dumps([t, time.time(), r['pipeline_runs'], r['rows']]))")
    tasks = [subprocess.Popen([sys.executable, "-c", code, str(sc)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for sc in schools]
    outcomes: List[Any] = []
    for task in tasks:
        out, err = task.communicate(timeout=300)
        assert task.returncode == 0, err[-4000:]
        outcomes.append(json.loads(next(x for x in out.splitlines() if x.startswith("DONE"))[5:]))
    (start_a, end_a, runs_a, _), (start_b, end_b, runs_b, _) = outcomes
    assert start_b < end_a and start_a < end_b, outcomes  # they did run at the same time
    assert runs_a > 1 and runs_b > 1
    options = SyncOptions(destination="postgres", postgres_credentials=postgres_url, dataset_name=dataset)
    assert_attendance_matches(SchoolsView(sim, schools), options, SPEC.first_day, SPEC.today)  # type: ignore[arg-type]
    # each task had its own staging dataset; none is shared and none holds rows after the tasks
    staging = {r[0] for r in query(options, "SELECT schema_name FROM information_schema.schemata "
                                            f"WHERE schema_name LIKE '{dataset}_staging%%'")}
    assert staging == {f"{dataset}_staging_{sc}" for sc in schools} | ({f"{dataset}_staging"} & staging)


class SchoolsView:
    """The simulator seen through some of its schools, for `assert_attendance_matches`."""

    def __init__(self, sim: AeriesSimulator, school_codes: List[int]) -> None:
        self._sim, self._schools = sim, school_codes

    def school_codes(self) -> List[int]:
        """Only these schools."""
        return list(self._schools)

    def truth_attendance(self, school_code: int, start: date, end: date) -> List[Dict[str, Any]]:
        """The simulator's truth for the school."""
        return self._sim.truth_attendance(school_code, start, end)
