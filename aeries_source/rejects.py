"""Rows of the `rejects` table: records Aeries sent that could not be turned into table rows."""

import hashlib
from datetime import date, datetime, timezone
from typing import Any, Dict, List, Optional

import dlt
import orjson

from aeries_source.tables import REJECTS


def reject_row(
    run_id: str,
    school_code: int,
    batch_start: Optional[date],
    batch_end: Optional[date],
    raw: Any,
    reason: str,
    endpoint: str = "attendance",
) -> Dict[str, Any]:
    """Describe one rejected record with its source (school, endpoint, date window), reason and payload.

    The id hashes source and payload, so a re-run that meets the same bad record updates its row
    instead of adding a duplicate.
    """
    raw_text = orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS).decode()
    ident = f"{school_code}|{endpoint}|{batch_start}|{batch_end}|{raw_text}"
    return {
        "reject_id": hashlib.sha256(ident.encode()).hexdigest()[:32],
        "school_code": school_code,
        "endpoint": endpoint,
        "batch_start": batch_start,
        "batch_end": batch_end,
        "reason": reason,
        "raw_payload": raw_text,
        "sync_run_id": run_id,
        "rejected_at": datetime.now(timezone.utc),
    }


def rejects_item(rows: List[Dict[str, Any]]) -> Any:
    """Mark rows for the `rejects` table (resources write them beside their own table)."""
    return dlt.mark.with_hints(rows, REJECTS.hints(), create_table_variant=True)
