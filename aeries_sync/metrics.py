"""Prometheus metrics of a sync, as a textfile for node_exporter's textfile collector."""

import logging
import time
from pathlib import Path
from typing import Optional

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from aeries_sync.runner import SyncResult

logger = logging.getLogger(__name__)

LAST_SUCCESS = "aeries_sync_last_success_timestamp_seconds"
LABELS = ("pipeline", "dataset")


def write_metrics(path: str, result: SyncResult, pipeline_name: str, dataset_name: str,
                  finished_at: Optional[float] = None) -> None:
    """Write this sync's figures to `path` atomically (prometheus_client writes a temporary file and renames it).

    `aeries_sync_last_success_timestamp_seconds` is this sync's end when it succeeded; after a
    failure it keeps the value the file held, so an alert on its age keeps counting.
    """
    finished_at = time.time() if finished_at is None else finished_at
    registry = CollectorRegistry()
    labels = {"pipeline": pipeline_name, "dataset": dataset_name}

    def gauge(name: str, help_text: str, value: float) -> None:
        Gauge(name, help_text, LABELS, registry=registry).labels(**labels).set(value)

    gauge("aeries_sync_attendance_records", "Attendance records loaded by this sync.", result.attendance_records)
    gauge("aeries_sync_duration_seconds", "How long the sync took.", result.seconds)
    gauge("aeries_sync_requests", "Requests made to Aeries.", result.requests)
    gauge("aeries_sync_retries", "Retries made.", result.retries)
    gauge("aeries_sync_rejects", "Records rejected.", result.rejects)
    gauge("aeries_sync_exit_code", "The sync's exit code.", result.exit_code)
    errors = Gauge("aeries_sync_errors", "Errors by class.", LABELS + ("error_class",), registry=registry)
    for error_class, count in sorted(result.errors.items()):
        errors.labels(error_class=error_class, **labels).set(count)
    last = finished_at if result.exit_code == 0 else _previous_success(path, labels)
    if last is not None:
        gauge(LAST_SUCCESS, "When the last successful sync ended (Unix time).", last)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(path, registry)


def _previous_success(path: str, labels: dict) -> Optional[float]:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
    except ValueError:
        logger.warning("the metrics file %s could not be read; the last success time starts over", path)
    return None
