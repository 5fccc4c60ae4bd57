"""Thread-safe counters of requests, retries and failures, shared by a sync's resources."""

import threading
from collections import Counter
from typing import Dict


class RequestStats:
    """Counts every HTTP attempt the client makes, and failures by class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.errors: Counter = Counter()
        self.by_endpoint: Counter = Counter()

    def record_attempt(self, endpoint: str) -> None:
        """Count one HTTP attempt to `endpoint` (an endpoint name, never a URL)."""
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] += 1

    def record_retry(self, error_class: str) -> None:
        """Count a failed attempt that will be retried."""
        with self._lock:
            self.retries += 1
            self.errors[error_class] += 1

    def record_error(self, error_class: str) -> None:
        """Count a failure that was not (or no longer) retried."""
        with self._lock:
            self.errors[error_class] += 1

    def snapshot(self) -> Dict[str, object]:
        """Return the counters as plain data for summaries and the sync_runs table."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "errors": dict(self.errors),
                "by_endpoint": dict(self.by_endpoint),
            }
