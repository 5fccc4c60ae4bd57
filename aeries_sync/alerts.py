"""Alerts: one Slack-compatible JSON message to a webhook when a sync fails (or, if asked, succeeds)."""

import logging
from typing import Any, Dict

import requests

from aeries_sync.failure_causes import EXIT_CRITICAL, EXIT_PARTIAL
from aeries_sync.runner import SyncResult

logger = logging.getLogger(__name__)

# Exit codes that alert: a partial sync (3) and a critical stop (4).
ALERTING_EXIT_CODES = (EXIT_PARTIAL, EXIT_CRITICAL)


def should_alert(result: SyncResult, on_success: bool) -> bool:
    """Tell whether this sync's outcome is one to send an alert for."""
    return result.exit_code in ALERTING_EXIT_CODES or (on_success and result.exit_code == 0)


def alert_message(
    result: SyncResult, pipeline_name: str, dataset_name: str, district: str, cause: str,
) -> Dict[str, str]:
    """Build the message: pipeline, dataset, district, status and exit code, the cause, failed batches, skipped schools.

    Args:
        result: The sync's result.
        pipeline_name: The pipeline's name.
        dataset_name: The dataset's name.
        district: The Aeries server's host and port (nothing else of its address).
        cause: The one-line cause exactly as the command prints it (empty after a success).
    """
    lines = [f"Aeries sync {result.status}, exit code {result.exit_code}: pipeline {pipeline_name}, "
             f"dataset {dataset_name}, district {district}"]
    if cause:
        lines.append(cause)
    if result.failed_batches:
        lines.append("failed batches: " + ", ".join(str(b) for b in sorted(result.failed_batches)))
    if result.skipped_schools:
        lines.append("skipped schools: " + ", ".join(str(s) for s in result.skipped_schools))
    lines.append(f"attendance records {result.attendance_records}, requests {result.requests}, "
                 f"{result.seconds:.0f} s")
    return {"text": "\n".join(lines)}


def send_alert(webhook_url: str, message: Dict[str, Any], timeout: float = 10.0) -> bool:
    """POST the message; a failure or no answer within `timeout` is logged, never raised.

    dlt's Slack helper (`dlt.common.runtime.slack.send_slack_message`) sends the same body but
    waits without a timeout and raises on an error answer; an alert must do neither.

    Returns:
        Whether the webhook accepted it (a 2xx answer).
    """
    try:
        response = requests.post(webhook_url, json=message, timeout=timeout)
    except requests.RequestException as exc:
        logger.warning("the alert webhook was not reached: %s", type(exc).__name__)
        return False
    if not response.ok:
        logger.warning("the alert webhook answered %d", response.status_code)
        return False
    return True
