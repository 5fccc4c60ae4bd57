"""Rows of the `sync_batches` table: each batch of a sync and how it went (no student data)."""

from datetime import datetime, timezone
from typing import Any, Dict, Optional

from aeries_source.planning import Batch


def batch_row(
    operation_id: str,
    batch: Batch,
    status: str,
    rows: int = 0,
    requests: int = 0,
    seconds: float = 0.0,
    error_class: Optional[str] = None,
) -> Dict[str, Any]:
    """One `sync_batches` row: one batch (a school's date window) of a sync and how it went."""
    return {
        "operation_id": operation_id,
        "batch": batch.number,
        "school_code": batch.school_code,
        "batch_start": batch.start,
        "batch_end": batch.end,
        "status": status,
        "rows": rows,
        "requests": requests,
        "seconds": round(seconds, 3),
        "error_class": error_class,
        "finished_at": datetime.now(timezone.utc),
    }
