"""The `sync_runs` table: one row per sync of the command, for operators and auditors (no student data)."""

from dataclasses import asdict, is_dataclass
from typing import Any, Dict
from urllib.parse import urlsplit, urlunsplit

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.resource import DltResource

SYNC_RUNS_COLUMNS: TTableSchemaColumns = {
    "config": {"data_type": "json"},
    "rows_per_table": {"data_type": "json"},
    "errors_by_class": {"data_type": "json"},
    "failed_batches": {"data_type": "json"},
    "skipped_schools": {"data_type": "json"},
    "skipped_batches": {"data_type": "json"},
    "started_at": {"data_type": "timestamp"},
    "finished_at": {"data_type": "timestamp", "nullable": True},
    "last_completed_batch": {"data_type": "bigint", "nullable": True},
}

_SECRET_FIELDS = {"certificate", "postgres_credentials", "pseudonymize_key"}


def safe_config(options: Any) -> Dict[str, Any]:
    """Return a sync's options as JSON-able data without secrets (and without URL credentials)."""
    data = asdict(options) if is_dataclass(options) and not isinstance(options, type) else dict(options)
    clean: Dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECRET_FIELDS:
            continue
        if key == "base_url" and isinstance(value, str):
            parts = urlsplit(value)
            value = urlunsplit(parts._replace(netloc=parts.hostname or "" if "@" in parts.netloc else parts.netloc))
        clean[key] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
    return clean


def sync_runs_resource(row: Dict[str, Any]) -> DltResource:
    """A resource yielding one `sync_runs` row (merged on `operation_id`)."""
    return dlt.resource(
        [row], name="sync_runs", write_disposition="merge", primary_key="operation_id", columns=SYNC_RUNS_COLUMNS
    )
