"""Airflow DAG `aeries_attendance`: every district of `[districts]`, one attendance task per school, daily.

Per district (a task group named after it): `schools` lists the schools to sync when the DAG runs,
`reference` loads schools, calendars, absence codes, students and enrollment, `attendance` is
mapped over the schools (one task each, side by side), and `measures` rebuilds the attendance
measures once the school tasks are done. Each task runs the command's sync on a temporary dlt
folder, restoring its state from Postgres, so it works on any worker. Parsing this file reads dlt
config only: no Aeries request, no database connection.

dlt's `PipelineTasksGroup` is not used: it decomposes a source into tasks when the DAG is parsed,
and the schools of a district are known only when it runs (dynamic task mapping).
"""

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List

# The project's packages and its `.dlt/` folder, wherever Airflow's DAG folder points.
PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from airflow import DAG  # noqa: E402
from airflow.decorators import task  # noqa: E402
from airflow.exceptions import AirflowException, AirflowFailException  # noqa: E402
from airflow.utils.log.secrets_masker import mask_secret  # noqa: E402
from airflow.utils.task_group import TaskGroup  # noqa: E402

from aeries_sync import orchestration  # noqa: E402
from aeries_sync.districts import dag_settings, district_names  # noqa: E402
from aeries_sync.project_settings import use_project_settings  # noqa: E402

use_project_settings(PROJECT_DIR)

# Airflow retries a task whose cause may pass (a partial sync, a timeout, a 503); never one that
# failed on bad configuration (exit 2) or a critical error (exit 4: authentication, TLS, DNS,
# connection refused): AirflowFailException skips the remaining retries.
SETTINGS = dag_settings()


def _failure(exc: orchestration.TaskFailed) -> Exception:
    """The Airflow exception for a failed task: retried only when a retry can help."""
    return AirflowException(str(exc)) if exc.retryable else AirflowFailException(str(exc))


@task
def schools(district: str) -> List[int]:
    """The district's schools: `school_codes` from its config, or every active school Aeries lists."""
    try:
        return orchestration.list_schools(district, on_secret=mask_secret)
    except orchestration.TaskFailed as exc:
        raise _failure(exc) from None


@task
def reference(district: str) -> Dict[str, Any]:
    """Load the district's schools, calendars, absence codes, students and enrollment."""
    try:
        return orchestration.sync_reference(district, on_secret=mask_secret)
    except orchestration.TaskFailed as exc:
        raise _failure(exc) from None


@task(map_index_template="{{ task.op_kwargs['school_code'] }}")
def attendance(district: str, school_code: int) -> Dict[str, Any]:
    """Load one school's attendance (a delta sync after the first load)."""
    try:
        return orchestration.sync_school(district, school_code, on_secret=mask_secret)
    except orchestration.TaskFailed as exc:
        raise _failure(exc) from None


@task(trigger_rule="all_done")
def measures(district: str) -> List[str]:
    """Rebuild the district's attendance measures after its school tasks, also when one failed."""
    try:
        return orchestration.refresh_measures(district)
    except orchestration.TaskFailed as exc:
        raise _failure(exc) from None


with DAG(
    dag_id="aeries_attendance",
    description="Aeries attendance, students and schools into Postgres, per district and school",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": SETTINGS.retries, "retry_delay": timedelta(seconds=SETTINGS.retry_delay_seconds)},
    tags=["aeries", "dlt"],
) as dag:
    for name in district_names():
        with TaskGroup(group_id=name):
            school_list = schools.override(task_id="schools")(name)
            tables = reference.override(task_id="reference")(name)
            per_school = attendance.override(task_id="attendance").partial(district=name).expand(
                school_code=school_list)
            done = measures.override(task_id="measures")(name)
            school_list >> tables >> per_school >> done
