"""The Airflow DAG, run for real (`dag.test()`, no mocked Airflow) against two simulator districts into Postgres."""

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from aeries_sync.options import SyncOptions
from tests.sync_truth import assert_attendance_matches, assert_small_tables_match, query

pytest.importorskip("airflow", reason="Airflow is installed by requirements-airflow.txt")

REPO = Path(__file__).resolve().parent.parent
TODAY = date(2025, 3, 12)
# Two districts, each of several schools (one daily, the others period schools).
SPECS = {"north": DistrictSpec(seed=41, schools=3, students_per_school=15, today=TODAY),
         "south": DistrictSpec(seed=42, schools=2, students_per_school=15, today=TODAY)}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME whose sqlite metadata database is migrated once for the module."""
    home = tmp_path_factory.mktemp("airflow_home")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=_airflow_env(home), cwd=REPO,
                   check=True, capture_output=True, timeout=600)
    return home


def _airflow_env(home: Path) -> Dict[str, str]:
    # Airflow's processes as a deployment runs them: dlt's Airflow secrets provider on, as by default.
    base = {k: v for k, v in os.environ.items() if k != "PROVIDERS__ENABLE_AIRFLOW_SECRETS"}
    return {**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONPATH": str(REPO)}


@pytest.fixture
def districts(postgres_url: str, tmp_path: Path) -> Iterator[Dict[str, Tuple[AeriesSimulator, str]]]:
    """Both districts' simulators on 127.0.0.1 and a fresh dataset name for each."""
    sims = {name: AeriesSimulator(spec).start(host="127.0.0.1", port=0) for name, spec in SPECS.items()}
    try:
        yield {name: (sim, f"af_{name}_{uuid.uuid4().hex[:8]}") for name, sim in sims.items()}
    finally:
        for sim in sims.values():
            sim.stop()


def _dag_env(home: Path, districts: Dict[str, Tuple[AeriesSimulator, str]], postgres_url: str,
             data_dir: Path) -> Dict[str, str]:
    env = _airflow_env(home)
    env.update({"DISTRICTS__NAMES": json.dumps(sorted(districts)), "DESTINATION__POSTGRES__CREDENTIALS": postgres_url,
                "DLT_DATA_DIR": str(data_dir), "DAG__RETRIES": "0",
                # fail fast on the injected faults (the defaults wait minutes between attempts)
                "SOURCES__AERIES__REQUEST_MAX_ATTEMPTS": "2", "SOURCES__AERIES__REQUEST_BACKOFF_FACTOR": "0",
                "SOURCES__AERIES__REQUEST_MAX_RETRY_DELAY": "0", "SOURCES__AERIES__REQUEST_JITTER": "0"})
    for name, (sim, dataset) in districts.items():
        prefix = f"DISTRICTS__{name.upper()}__"
        env.update({prefix + "BASE_URL": sim.base_url, prefix + "CERTIFICATE": sim.certificate,
                    prefix + "DATASET_NAME": dataset, prefix + "SCHOOL_YEAR_END": "2025-06-12"})
    return env


def _run(env: Dict[str, str], *args: str) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, "tests/airflow_dag_run.py", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return dict(json.loads(lines[-1][len("RESULT "):]))


def _options(postgres_url: str, dataset: str) -> SyncOptions:
    return SyncOptions(destination="postgres", postgres_credentials=postgres_url, dataset_name=dataset)


def _assert_district_loaded(sim: AeriesSimulator, postgres_url: str, dataset: str) -> None:
    options = _options(postgres_url, dataset)
    assert_small_tables_match(sim, options)
    assert_attendance_matches(sim, options, SPECS["north"].first_day, TODAY)


def _states(outcome: Dict[str, Any]) -> Dict[Tuple[str, int], str]:
    return {(t["task_id"], t["map_index"]): t["state"] for t in outcome["tasks"]}


def test_the_dag_loads_every_district_exactly_then_runs_delta_syncs(
    airflow_home: Path, districts: Dict[str, Tuple[AeriesSimulator, str]], postgres_url: str, tmp_path: Path,
) -> None:
    first = _run(_dag_env(airflow_home, districts, postgres_url, tmp_path / "dlt1"), "test")
    print(f"parse {first['parse_seconds']} s, run {first['run_seconds']} s, tasks {first['task_ids']}")
    assert first["state"] == "success", first["tasks"]
    assert first["task_ids"] == sorted(f"{d}.{t}" for d in ("north", "south")
                                       for t in ("schools", "reference", "attendance", "measures"))
    states = _states(first)
    for name, (sim, dataset) in districts.items():
        mapped = sorted(i for (task, i), _ in states.items() if task == f"{name}.attendance")
        assert mapped == list(range(len(sim.school_codes()))), states  # one mapped task per school
        _assert_district_loaded(sim, postgres_url, dataset)
        measures = query(_options(postgres_url, dataset), "SELECT COUNT(*) FROM {t:school_attendance_summary}")
        assert measures[0][0] == len(sim.school_codes())

    # A day later, on a worker whose dlt folder is empty: every school task is a delta sync.
    for sim, _ in districts.values():
        sim.advance_clock(days=1)
        sim.clear_absence(*_some_absence(sim))
    second = _run(_dag_env(airflow_home, districts, postgres_url, tmp_path / "dlt2"), "test")
    assert second["state"] == "success", second["tasks"]
    for sim, dataset in districts.values():
        _assert_district_loaded(sim, postgres_url, dataset)
        modes = query(_options(postgres_url, dataset),
                      "SELECT pipeline_name, mode FROM {t:sync_runs} WHERE pipeline_name LIKE '%%attendance%%' "
                      "ORDER BY started_at")
        per_school = len(sim.school_codes())
        assert [m for _, m in modes[per_school:]] == ["delta"] * per_school, modes


def _some_absence(sim: AeriesSimulator) -> Tuple[int, int, date]:
    """A school, student and day holding a code in March: clearing it is a change the delta sync must carry."""
    for sc in sim.school_codes():
        for row in sim.truth_attendance(sc, date(2025, 3, 3), TODAY):
            return sc, row["student_id"], row["date"]
    raise AssertionError("no attendance in March")


def test_a_failed_school_task_leaves_the_others_loaded_and_a_rerun_of_it_alone_completes_the_district(
    airflow_home: Path, districts: Dict[str, Tuple[AeriesSimulator, str]], postgres_url: str, tmp_path: Path,
) -> None:
    north, dataset = districts["north"]
    failing = north.school_codes()[1]
    north.faults.add(FaultKind.SERVER_ERROR, route=f"attendance@{failing}", probability=1.0)
    env = _dag_env(airflow_home, districts, postgres_url, tmp_path / "dlt")
    outcome = _run(env, "test")
    states = _states(outcome)
    failed = [key for key, state in states.items() if state == "failed"]
    assert failed == [("north.attendance", north.school_codes().index(failing))], states
    assert states[("north.measures", -1)] == "success"  # measures run after the school tasks, also a failed one
    loaded = {int(r[0]) for r in query(_options(postgres_url, dataset),
                                       "SELECT DISTINCT school_code FROM {t:attendance_records}")}
    assert loaded == set(north.school_codes()) - {failing}
    south, south_dataset = districts["south"]
    _assert_district_loaded(south, postgres_url, south_dataset)

    north.faults.clear()
    rerun = _run(env, "rerun-failed", outcome["run_id"])
    assert rerun["rerun"] == [{"task_id": "north.attendance", "map_index": failed[0][1]}]
    assert _states(rerun)[failed[0]] == "success"
    _assert_district_loaded(north, postgres_url, dataset)


def test_parsing_the_dag_makes_no_request_and_opens_no_connection(airflow_home: Path, tmp_path: Path) -> None:
    # A listener on 127.0.0.1 stands for both Aeries and Postgres: it counts every connection.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: List[Any] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    env = _airflow_env(airflow_home)
    env.update({"DISTRICTS__NAMES": json.dumps(["north", "south"]),
                "DISTRICTS__NORTH__BASE_URL": f"http://127.0.0.1:{port}", "DISTRICTS__NORTH__DATASET_NAME": "n",
                "DISTRICTS__SOUTH__BASE_URL": f"http://127.0.0.1:{port}", "DISTRICTS__SOUTH__DATASET_NAME": "s",
                "DESTINATION__POSTGRES__CREDENTIALS": f"postgresql://nobody:secret@127.0.0.1:{port}/none",
                "DLT_DATA_DIR": str(tmp_path)})
    code = ("import time; from airflow.models import DagBag; t = time.monotonic(); "
            "b = DagBag(dag_folder='dags', include_examples=False); "
            "print('PARSE', round(time.monotonic() - t, 3), sorted(b.dag_ids), b.import_errors, "
            "len(b.get_dag('aeries_attendance').task_ids))")
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=120)
    finally:
        listener.close()
    line = next((x for x in done.stdout.splitlines() if x.startswith("PARSE")), done.stdout + done.stderr[-3000:])
    assert "['aeries_attendance'] {} 8" in line, line
    assert accepted == []
    print(line)
