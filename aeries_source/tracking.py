"""The `sync_runs` and `sync_batches` tables: what each sync did, for operators and auditors.

Neither table holds student data: only ids of runs, school codes, date windows, counts and
error classes.
"""

from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Optional
from urllib.parse import urlsplit, urlunsplit

import dlt
from dlt.extract.resource import DltResource

from aeries_source.planning import WorkUnit

SYNC_RUNS_HINTS = {
    "write_disposition": "merge",
    "primary_key": "operation_id",
    "columns": {
        "config": {"data_type": "json"},
        "rows_per_table": {"data_type": "json"},
        "errors_by_class": {"data_type": "json"},
        "failed_batches": {"data_type": "json"},
        "skipped_schools": {"data_type": "json"},
        "skipped_batches": {"data_type": "json"},
        "started_at": {"data_type": "timestamp"},
        "finished_at": {"data_type": "timestamp", "nullable": True},
        "last_completed_batch": {"data_type": "bigint", "nullable": True},
    },
}

def sync_batch_hints() -> Any:
    """Hints of the `sync_batches` table (a fresh dict per use: dlt may modify hints it is given)."""
    return dlt.mark.make_hints(
    table_name="sync_batches",
    write_disposition="merge",
    primary_key=("operation_id", "batch"),
    # Every column of `batch_row` is declared, so the table can exist before its first row.
    columns={
        "operation_id": {"data_type": "text", "nullable": False},
        "batch": {"data_type": "bigint", "nullable": False},
        "school_code": {"data_type": "bigint"},
        "chunk_start": {"data_type": "date"},
        "chunk_end": {"data_type": "date"},
        "status": {"data_type": "text"},
        "rows": {"data_type": "bigint"},
        "requests": {"data_type": "bigint"},
        "seconds": {"data_type": "double"},
        "error_class": {"data_type": "text", "nullable": True},
        "finished_at": {"data_type": "timestamp"},
    },
    )

_SECRET_FIELDS = {"certificate", "postgres_credentials", "pseudonymize_key"}


def safe_config(options: Any) -> Dict[str, Any]:
    """Return a sync's options as JSON-able data without secrets (and without URL credentials)."""
    data = asdict(options) if is_dataclass(options) else dict(options)
    clean: Dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECRET_FIELDS:
            continue
        if key == "base_url" and isinstance(value, str):
            parts = urlsplit(value)
            value = urlunsplit(parts._replace(netloc=parts.hostname or "" if "@" in parts.netloc else parts.netloc))
        clean[key] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
    return clean


def batch_row(
    operation_id: str,
    unit: WorkUnit,
    status: str,
    rows: int = 0,
    requests: int = 0,
    seconds: float = 0.0,
    error_class: Optional[str] = None,
) -> Dict[str, Any]:
    """One `sync_batches` row: a school's date chunk in one sync and how it went."""
    return {
        "operation_id": operation_id,
        "batch": unit.batch,
        "school_code": unit.school_code,
        "chunk_start": unit.start,
        "chunk_end": unit.end,
        "status": status,
        "rows": rows,
        "requests": requests,
        "seconds": round(seconds, 3),
        "error_class": error_class,
        "finished_at": datetime.now(timezone.utc),
    }


def sync_runs_resource(row: Dict[str, Any]) -> DltResource:
    """A resource yielding one `sync_runs` row (merged on `operation_id`)."""
    return dlt.resource([row], name="sync_runs", **SYNC_RUNS_HINTS)  # type: ignore[arg-type]
