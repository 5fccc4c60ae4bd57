"""Per-school circuit breaker: stop asking for a school that keeps failing, let the others go on."""

import threading


class CircuitBreaker:
    """Opens after `threshold` consecutive failed requests to one school.

    A batch that failed after every retry counts as all of its attempts; any successful batch
    closes the count again. Once open, the school's remaining batches are skipped for this sync
    and recorded as failed, so the next sync reads them.
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.consecutive_failures = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Tell whether the school is being skipped."""
        return self.threshold > 0 and self.consecutive_failures >= self.threshold

    def record_failure(self, requests: int = 1) -> None:
        """Count failed requests."""
        with self._lock:
            self.consecutive_failures += requests

    def record_success(self) -> None:
        """Reset the count after a successful batch."""
        with self._lock:
            self.consecutive_failures = 0
