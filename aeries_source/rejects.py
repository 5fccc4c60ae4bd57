"""Rows of the `rejects` table: records Aeries sent that could not be turned into table rows."""

import hashlib
from datetime import datetime, timezone
from typing import Any, Dict

import orjson

from aeries_source.planning import WorkUnit


def reject_row(run_id: str, unit: WorkUnit, raw: Any, reason: str, endpoint: str = "attendance") -> Dict[str, Any]:
    """Describe one rejected record with its source, the reason and the raw payload.

    The id hashes source and payload, so a re-run that meets the same bad record updates its row
    instead of adding a duplicate.
    """
    raw_text = orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS).decode()
    ident = f"{unit.school_code}|{endpoint}|{unit.start}|{unit.end}|{raw_text}"
    return {
        "reject_id": hashlib.sha256(ident.encode()).hexdigest()[:32],
        "school_code": unit.school_code,
        "endpoint": endpoint,
        "window_start": unit.start,
        "window_end": unit.end,
        "reason": reason,
        "raw_payload": raw_text,
        "sync_run_id": run_id,
        "rejected_at": datetime.now(timezone.utc),
    }
