"""What a sync leaves for people and monitors: the HTML report, the metrics file and the alert."""

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from aeries_source.errors import AeriesConfigError
from aeries_sync.alerts import alert_message, send_alert, should_alert
from aeries_sync.metrics import write_metrics
from aeries_sync.options import SyncOptions
from aeries_sync.pipeline import make_pipeline
from aeries_sync.runner import SyncResult

logger = logging.getLogger(__name__)


@configspec
class ReportSettings(BaseConfiguration):
    """The HTML report (`[report]`, env `REPORT__*`); `--report PATH` writes one to a file."""

    folder: Optional[str] = None
    """Write a report of every sync into this folder (`aeries_sync_<UTC time>_<run id>.html`)."""
    min_cell_size: int = 10
    """Measure cells of fewer students than this are suppressed."""


@configspec
class AlertSettings(BaseConfiguration):
    """The alert webhook (`[alerts]`, env `ALERTS__*`)."""

    webhook_url: Optional[TSecretStrValue] = None
    """A Slack-compatible incoming webhook (secret): a sync that exits 3 or 4 posts one message to it."""
    on_success: bool = False
    """Post a message after a successful sync too."""
    timeout_seconds: float = 10.0
    """Seconds to wait for the webhook's answer; a webhook that fails or is slower is logged, never fatal."""


@configspec
class MetricsSettings(BaseConfiguration):
    """The Prometheus textfile (`[metrics]`, env `METRICS__*`); `--metrics-file PATH` overrides it."""

    file: Optional[str] = None
    """Write this sync's metrics here, for node_exporter's textfile collector."""


@dataclass
class Monitoring:
    """The resolved settings of everything a sync leaves behind."""

    report: ReportSettings
    alerts: AlertSettings
    metrics: MetricsSettings
    report_path: Optional[str] = None


def resolve_monitoring(report_path: Optional[str] = None, metrics_file: Optional[str] = None) -> Monitoring:
    """Resolve `[report]`, `[alerts]` and `[metrics]`, with the command's flags over them.

    Raises:
        AeriesConfigError: A setting that cannot work.
    """
    report = resolve_configuration(ReportSettings(), sections=("report",))
    alerts = resolve_configuration(AlertSettings(), sections=("alerts",))
    metrics = resolve_configuration(MetricsSettings(), sections=("metrics",))
    if metrics_file:
        metrics.file = metrics_file
    if report.min_cell_size < 1:
        raise AeriesConfigError("[report] min_cell_size must be at least 1")
    if alerts.webhook_url and urlsplit(str(alerts.webhook_url)).scheme not in ("http", "https"):
        raise AeriesConfigError("[alerts] webhook_url must be an http(s) URL")
    return Monitoring(report, alerts, metrics, report_path)


def district_label(base_url: Optional[str]) -> str:
    """The Aeries server as an alert names it: host and port, nothing else of the address."""
    parts = urlsplit(base_url or "")
    if not parts.hostname:
        return "unknown"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def after_sync(monitoring: Monitoring, result: SyncResult, options: SyncOptions, base_url: Optional[str],
               cause: str) -> Optional[str]:
    """Write the report and the metrics, and send the alert, for a sync past its configuration checks.

    Nothing here changes the sync's outcome: each failure is logged and the next step still runs.

    Args:
        monitoring: The settings.
        result: The sync's result.
        options: Its options (pipeline, dataset, destination).
        base_url: The district's Aeries address.
        cause: The one-line cause exactly as the command prints it ("" after a success).

    Returns:
        The report's path, when one was written.
    """
    district = district_label(base_url)
    written = None
    path = _report_path(monitoring, result)
    if path:
        try:
            # Imported here: matplotlib and numpy add 30 MiB to a process that writes no report.
            from aeries_sync.report import read_measures, render_report

            measures = None if options.dry_run else read_measures(make_pipeline(options),
                                                                  monitoring.report.min_cell_size)
            html = render_report(result, options.pipeline_name, options.dataset_name, district,
                                 monitoring.report.min_cell_size, measures)
            _write_atomically(path, html)
            written = path
        except Exception as exc:  # the report must never turn a sync's result into a traceback
            logger.warning("the report was not written: %s: %s", type(exc).__name__, exc)
    if monitoring.metrics.file:
        try:
            write_metrics(monitoring.metrics.file, result, options.pipeline_name, options.dataset_name)
        except Exception as exc:
            logger.warning("the metrics file was not written: %s: %s", type(exc).__name__, exc)
    if monitoring.alerts.webhook_url and should_alert(result, monitoring.alerts.on_success):
        message = alert_message(result, options.pipeline_name, options.dataset_name, district, cause)
        send_alert(str(monitoring.alerts.webhook_url), message, monitoring.alerts.timeout_seconds)
    return written


def _report_path(monitoring: Monitoring, result: SyncResult) -> Optional[str]:
    if monitoring.report_path:
        return monitoring.report_path
    if monitoring.report.folder:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return str(Path(monitoring.report.folder) / f"aeries_sync_{stamp}_{result.run_id or result.status}.html")
    return None


def _write_atomically(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".report_", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a report holds aggregates only
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
