"""The work of an orchestrator's tasks (the Airflow DAG's): list a district's schools, load one part, refresh measures.

Each function does on a worker with an empty disk what the command does: the pipeline's state
comes from the destination, the sync is the command's (`run_sync`), and a failure is raised as
`TaskFailed` with the command's one-line cause and whether retrying can help. Nothing here
imports Airflow.
"""

import logging
import tempfile
from typing import Any, Callable, Dict, List, Optional

from aeries_source.config import resolve_configuration
from aeries_source.measures import MEASURES, create_measures, resolve_measures_configuration
from aeries_source.supabase import lock_down
from aeries_source.sync import active_school_codes, check_school_codes, make_client
from aeries_sync.districts import district_options
from aeries_sync.failure_causes import EXIT_BAD_INPUT, EXIT_CRITICAL, EXIT_OK, classify_failure
from aeries_sync.options import ATTENDANCE, REFERENCE, SyncOptions
from aeries_sync.pipeline import make_pipeline
from aeries_sync.runner import run_sync
from aeries_sync.summary import render_summary, summary_record

logger = logging.getLogger(__name__)

# Exit codes whose cause a retry cannot fix: bad configuration (2) and critical errors (4:
# authentication, TLS, DNS, connection refused). Partial results (3) and anything unexpected are
# worth another attempt: the next run picks up what failed.
NOT_RETRYABLE = (EXIT_BAD_INPUT, EXIT_CRITICAL)

OnSecret = Optional[Callable[[str], None]]


class TaskFailed(Exception):
    """A task's failure: the command's one-line cause, its exit code and whether a retry can help."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.retryable = exit_code not in NOT_RETRYABLE


def list_schools(district: str, on_secret: OnSecret = None) -> List[int]:
    """Return the district's schools to sync: `school_codes` from its config, checked, or every active school.

    Raises:
        TaskFailed: Bad configuration, or Aeries refusing or unreachable.
    """
    try:
        options = district_options(district)
        config = resolve_configuration(**options.source)
        _tell_secrets(config.certificate, on_secret)
        client = make_client(config)
        if config.school_codes:
            return list(check_school_codes(client, config.school_codes))
        return active_school_codes(client.schools())
    except Exception as exc:
        code, _, message = classify_failure(exc)
        raise TaskFailed(f"error: {message}", code) from None


def sync_reference(district: str, on_secret: OnSecret = None) -> Dict[str, Any]:
    """Load the district's reference tables (schools, calendars, absence codes, students, enrollment).

    Returns:
        The command's JSON summary of the sync.

    Raises:
        TaskFailed: As the command would exit non-zero.
    """
    with tempfile.TemporaryDirectory(prefix="aeries_task_") as folder:
        return _sync(district_options(district, REFERENCE, pipelines_dir=folder), on_secret)


def sync_school(district: str, school_code: int, on_secret: OnSecret = None) -> Dict[str, Any]:
    """Load one school's attendance: the first run loads the year so far, later runs are delta syncs.

    Returns:
        The command's JSON summary of the sync.

    Raises:
        TaskFailed: As the command would exit non-zero.
    """
    with tempfile.TemporaryDirectory(prefix="aeries_task_") as folder:
        return _sync(district_options(district, ATTENDANCE, school_code, pipelines_dir=folder), on_secret)


def refresh_measures(district: str) -> List[str]:
    """Rebuild the district's attendance measures and close what the sync made to Supabase's API roles.

    Returns:
        The measures made (none before the first load).

    Raises:
        TaskFailed: Bad configuration or an unreachable destination.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="aeries_task_") as folder:
            # The reference pipeline's state and schema, restored from the destination, name every table.
            pipeline = make_pipeline(district_options(district, REFERENCE, pipelines_dir=folder))
            pipeline.sync_destination()
            made = create_measures(pipeline, resolve_measures_configuration())
            lock_down(pipeline, MEASURES)
            return made
    except Exception as exc:
        code, _, message = classify_failure(exc)
        raise TaskFailed(f"error: {message}", code) from None


def _sync(options: SyncOptions, on_secret: OnSecret) -> Dict[str, Any]:
    result = run_sync(options, on_secrets=on_secret)
    summary, error = render_summary(result)
    for line in summary.splitlines():
        logger.info("%s", line)
    if result.exit_code == EXIT_OK:
        return summary_record(result)
    cause = error or f"error: {result.message}"
    raise TaskFailed(cause, result.exit_code)


def _tell_secrets(certificate: Any, on_secret: OnSecret) -> None:
    if on_secret is not None and certificate:
        on_secret(str(certificate))
