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
from typing import Any, Optional


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


def actor() -> str:
    """Who runs the sync: OS user and host (no secrets)."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"
