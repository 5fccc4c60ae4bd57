"""Politeness towards the district's server: a ceiling on requests in flight and on requests per second."""

import collections
import contextlib
import math
import threading
import time
from typing import Any, Callable, Deque, Iterator


class RequestLimiter:
    """Lets a request (every attempt, retries included) start only within both limits.

    The original design asks for "rate limiting to prevent API abuse". Reads run side by side
    (parallel school resources, the read-ahead of the next checkpoint), so the limits are shared by
    every thread of one client.

    A request marked to go first (`wrap`'s `goes_first`) takes the next free slot before any
    other request waiting for one: the reads a checkpoint waits for (students, enrollment) are
    not left queuing behind the attendance reads, which are many and can wait.

    Args:
        max_concurrent: At most this many requests in flight at once (at least 1).
        max_per_second: At most this many request starts per second; 0 means no ceiling.
    """

    # A start up to this late (a thread woken a little after its turn) does not delay the starts
    # after it: passing on every such delay slowed a full-year sync from 14 to 20-25 s (measured).
    LATENESS_ALLOWED = 0.01

    def __init__(self, max_concurrent: int, max_per_second: float) -> None:
        self._max_in_flight = max(1, max_concurrent)
        self._in_flight = 0
        self._first_waiting = 0  # requests that go first, waiting for a slot
        self._slot_freed = threading.Condition()
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next_start = 0.0
        # The last second's worth of actual starts (at least the last one).
        self._starts: Deque[float] = collections.deque(maxlen=max(1, math.ceil(max_per_second)))

    def _earliest_start(self) -> float:
        """The earliest time the next request may start: n intervals after the n-th start back, for each n kept."""
        last = len(self._starts)
        return max((self._starts[last - n] + n * self._interval for n in range(1, last + 1)),
                   default=0.0) - self.LATENESS_ALLOWED

    def _wait_for_start(self) -> None:
        """Wait for this request's turn, then until it is far enough from the actual starts before it.

        Turns are handed out `interval` apart, ahead of time, so threads sleep side by side. A
        thread that wakes late (another holding the GIL, a garbage collection) starts late, and the
        turns after it would come less than `interval` after its actual start, as the server sees
        them: the politeness test saw 11 starts within 0.949 s at 10 per second. So each start also
        keeps n intervals from the n-th actual start before it, for the last second's starts: never
        more than `max_per_second` starts in any second, a late start's delay passed on only as
        far as needed.
        """
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)
        while True:
            with self._lock:
                now = time.monotonic()
                earliest = self._earliest_start()
                if now >= earliest:
                    self._starts.append(now)
                    self._next_start = max(self._next_start, now + self._interval)
                    return
            time.sleep(earliest - now)

    @contextlib.contextmanager
    def _slot(self, goes_first: bool) -> Iterator[None]:
        """Hold one of the slots for the block: the first free one, or one no request that goes first waits for."""
        with self._slot_freed:
            if goes_first:
                self._first_waiting += 1
            try:
                while self._in_flight >= self._max_in_flight or (not goes_first and self._first_waiting):
                    self._slot_freed.wait()
            finally:
                if goes_first:
                    self._first_waiting -= 1
            self._in_flight += 1
        try:
            yield
        finally:
            with self._slot_freed:
                self._in_flight -= 1
                # Every waiter looks again: the one to take the slot depends on who goes first.
                self._slot_freed.notify_all()

    def wrap(self, send: Callable[..., Any], goes_first: Callable[[], bool] = lambda: False) -> Callable[..., Any]:
        """Return `send` (a `requests.Session.send`) made to respect both limits.

        Args:
            send: The function that sends one request.
            goes_first: Asked in the sending thread before each request: whether it takes the next
                free slot ahead of the requests for which it answers False.
        """
        def limited_send(*args: Any, **kwargs: Any) -> Any:
            with self._slot(goes_first()):
                self._wait_for_start()
                return send(*args, **kwargs)

        return limited_send
