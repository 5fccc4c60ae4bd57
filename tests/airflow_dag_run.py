"""Run the `aeries_attendance` DAG for real with `dag.test()`, or rerun its failed tasks; print what happened as JSON.

Run in a subprocess by tests/test_airflow_dag.py, with the repo root as working directory and on
PYTHONPATH, AIRFLOW_HOME holding a migrated sqlite metadata database, the DAGs folder `dags/`, and
the districts in `DISTRICTS__*` variables. Usage: `python tests/airflow_dag_run.py test` or
`python tests/airflow_dag_run.py rerun-failed <run_id>`.
"""

import json
import sys
import time
from typing import Any, Dict, List

from airflow.models import DagBag, DagRun
from airflow.utils.state import TaskInstanceState


def _load() -> Any:
    started = time.monotonic()
    bag = DagBag(dag_folder="dags", include_examples=False)
    parse_seconds = time.monotonic() - started
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("aeries_attendance"), parse_seconds


def _states(run: Any) -> List[Dict[str, Any]]:
    return sorted(({"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state),
                    "tries": ti.try_number} for ti in run.get_task_instances()),
                  key=lambda t: (t["task_id"], t["map_index"]))


def run_test() -> Dict[str, Any]:
    """Run the whole DAG once, as `dag.test()` does: every task in this process."""
    dag, parse_seconds = _load()
    started = time.monotonic()
    run = dag.test()
    return {"run_id": run.run_id, "state": str(run.state), "parse_seconds": round(parse_seconds, 3),
            "run_seconds": round(time.monotonic() - started, 1), "task_ids": sorted(dag.task_ids),
            "tasks": _states(run)}


def rerun_failed(run_id: str) -> Dict[str, Any]:
    """Run the failed task instances of one DAG run again, alone, and record their new state."""
    dag, _ = _load()
    run = DagRun.find(dag_id=dag.dag_id, run_id=run_id)[0]
    rerun = []
    for ti in run.get_task_instances(state=[TaskInstanceState.FAILED]):
        ti.task = dag.get_task(ti.task_id)
        ti.run(ignore_all_deps=True, ignore_ti_state=True, raise_on_defer=True)
        rerun.append({"task_id": ti.task_id, "map_index": ti.map_index})
    return {"run_id": run_id, "rerun": rerun, "tasks": _states(run)}


if __name__ == "__main__":
    outcome = run_test() if sys.argv[1] == "test" else rerun_failed(sys.argv[2])
    print("RESULT " + json.dumps(outcome, default=str))
