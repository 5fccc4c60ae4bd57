"""Politeness towards the district's server: a ceiling on requests in flight and on requests per second."""

import threading
import time
from typing import Any, Callable


class RequestLimiter:
    """Lets a request (every attempt, retries included) start only within both limits.

    The original design asks for "rate limiting to prevent API abuse". Reads run side by side
    (parallel school resources, the read-ahead of the next checkpoint), so the limits are shared by
    every thread of one client.

    Args:
        max_concurrent: At most this many requests in flight at once (at least 1).
        max_per_second: At most this many request starts per second; 0 means no ceiling.
    """

    def __init__(self, max_concurrent: int, max_per_second: float) -> None:
        self._slots = threading.BoundedSemaphore(max(1, max_concurrent))
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._last_start = float("-inf")

    def _wait_for_start(self) -> None:
        """Wait until `interval` has passed since the previous request's actual start, then take the turn.

        Starts are spaced from the time the previous one really went out, not reserved ahead: a
        thread that woke late from a reserved slot (the GIL held by another thread's C call) used
        to leave the next reserved start less than `interval` after its own, as the server saw it.
        The lock is held while waiting, so waiting threads start one at a time, in turn.
        """
        if not self._interval:
            return
        with self._lock:
            wait = self._last_start + self._interval - time.monotonic()
            while wait > 0:
                time.sleep(wait)
                wait = self._last_start + self._interval - time.monotonic()
            self._last_start = time.monotonic()

    def wrap(self, send: Callable[..., Any]) -> Callable[..., Any]:
        """Return `send` (a `requests.Session.send`) made to respect both limits."""
        def limited_send(*args: Any, **kwargs: Any) -> Any:
            with self._slots:
                self._wait_for_start()
                return send(*args, **kwargs)

        return limited_send
