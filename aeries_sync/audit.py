"""Audit trail of sync operations as JSON lines: who ran what, against which endpoints and windows.

Entries hold operation ids, school codes, endpoints, date windows, row counts and destination
tables, never student data or secrets. The same facts are also in the `sync_runs` and
`sync_batches` tables.
"""

import getpass
import json
import os
import socket
import threading
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from aeries_source.client import EndpointRead

# The table each endpoint's rows go to (None: read to plan the sync, not loaded).
ENDPOINT_TABLES: Dict[str, Optional[str]] = {
    "systeminfo": None,
    "schools": "schools",
    "calendar": "calendar_days",
    "absence_codes": "absence_codes",
    "students": "students",
    "student": "students",
    "enrollment": "enrollment",
    "data_changes": None,
    "attendance": "attendance_records",
}


class AuditTrail:
    """Appends one JSON object per event to a file (no-op without a path)."""

    def __init__(self, path: Optional[str], operation_id: str) -> None:
        self.path = path
        self.operation_id = operation_id
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        """Append an event with the operation id, a UTC timestamp and the given fields."""
        if not self.path:
            return
        entry = {
            "ts": datetime.now(timezone.utc).isoformat(),
            "operation_id": self.operation_id,
            "event": event,
            **fields,
        }
        line = json.dumps(entry, default=str, sort_keys=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def record_read(audit: AuditTrail, read: EndpointRead) -> None:
    """Record one successful Aeries request: endpoint, school, query window, rows and destination table."""
    window = {k: v for k, v in read.query.items() if k in ("StartDate", "EndDate", "StartingRecord", "EndingRecord")}
    audit.record("endpoint_read", endpoint=read.endpoint, school_code=read.school_code, rows=read.rows,
                 destination_table=ENDPOINT_TABLES.get(read.endpoint), **window)


def actor() -> str:
    """Who runs the sync: OS user and host (no secrets)."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"
