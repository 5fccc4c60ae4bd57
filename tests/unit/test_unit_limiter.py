"""RequestLimiter: request starts stay `1 / max_per_second` apart, as sent, and slots cap those in flight."""

import threading
import time
from typing import Callable, List

import pytest

from aeries_source import limiter as limiter_module
from aeries_source.limiter import RequestLimiter


def _send_from_threads(limiter: RequestLimiter, threads: int, each: int, hold: float = 0.0) -> List[float]:
    """Send `each` requests from each of `threads` threads; return the sorted times the sends began."""
    started: List[float] = []
    lock = threading.Lock()

    def send() -> None:
        with lock:
            started.append(time.monotonic())
        time.sleep(hold)

    def worker() -> None:
        for _ in range(each):
            limiter.wrap(send)()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sorted(started)


def test_a_thread_that_wakes_late_does_not_bring_the_next_starts_closer(monkeypatch: pytest.MonkeyPatch) -> None:
    interval = 0.05
    real_sleep = time.sleep
    overslept = []

    def late_sleep(seconds: float) -> None:
        # One waiter wakes 40 ms late, as a thread does when another holds the GIL in a C call.
        real_sleep(seconds + (0.04 if not overslept else 0.0))
        overslept.append(seconds)

    monkeypatch.setattr(limiter_module.time, "sleep", late_sleep)
    starts = _send_from_threads(RequestLimiter(max_concurrent=4, max_per_second=1 / interval), threads=4, each=3)
    assert overslept, "no start waited: the test did not exercise the wait"
    # Any n + 1 consecutive starts span n intervals, less the lateness the limiter lets pass (and
    # 2 ms for the clock reads between the limiter and `send`).
    slack = RequestLimiter.LATENESS_ALLOWED + 0.002
    for n in range(1, len(starts)):
        spans = [last - first for first, last in zip(starts, starts[n:], strict=False)]
        assert min(spans) >= n * interval - slack, (n, spans)


def test_small_lateness_is_not_passed_on_from_start_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    interval = 0.02
    real_sleep = time.sleep
    monkeypatch.setattr(limiter_module.time, "sleep", lambda seconds: real_sleep(seconds + 0.004))
    starts = _send_from_threads(RequestLimiter(max_concurrent=4, max_per_second=1 / interval), threads=4, each=10)
    # Every wake 4 ms late: starts passing that on would take 40 x 24 ms; turns handed out ahead take 40 x 20.
    assert starts[-1] - starts[0] < 39 * interval + 0.05


def _most_in_flight(limiter: RequestLimiter, goes_first: Callable[[int], bool] = lambda n: False) -> int:
    """Send 3 requests from each of 4 threads (thread n marked `goes_first(n)`); return the most in flight at once."""
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def send() -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.03)
        with lock:
            in_flight[0] -= 1

    pool = [threading.Thread(target=lambda first=goes_first(n): [
        limiter.wrap(send, goes_first=lambda: first)() for _ in range(3)]) for n in range(4)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return most[0]


def test_slots_cap_the_requests_in_flight() -> None:
    assert _most_in_flight(RequestLimiter(max_concurrent=2, max_per_second=100)) == 2


def test_no_ceiling_means_no_wait() -> None:
    begun = time.monotonic()
    starts = _send_from_threads(RequestLimiter(max_concurrent=4, max_per_second=0), threads=4, each=25)
    assert len(starts) == 100 and time.monotonic() - begun < 1.0


def test_a_request_that_goes_first_takes_the_next_free_slot_before_those_waiting_longer() -> None:
    limiter = RequestLimiter(max_concurrent=1, max_per_second=0)
    release = threading.Event()
    order: List[str] = []

    def send(name: str) -> None:
        order.append(name)
        if name == "holder":
            release.wait(5)

    def request(name: str, first: bool) -> threading.Thread:
        thread = threading.Thread(target=limiter.wrap(lambda: send(name), goes_first=lambda: first))
        thread.start()
        return thread

    def waiting_for_a_slot(n: int) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # both waiters are blocked on the one slot
            with limiter._slot_freed:
                if len(limiter._slot_freed._waiters) == n:  # type: ignore[attr-defined]
                    return
            time.sleep(0.005)
        raise AssertionError("the waiters never queued")

    threads = [request("holder", False)]
    while not order:
        time.sleep(0.005)
    threads.append(request("attendance", False))
    waiting_for_a_slot(1)
    threads.append(request("students", True))  # asks after the attendance read
    waiting_for_a_slot(2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["holder", "students", "attendance"]


def test_requests_that_go_first_still_count_against_the_slots() -> None:
    limiter = RequestLimiter(max_concurrent=2, max_per_second=0)
    assert _most_in_flight(limiter, goes_first=lambda n: n % 2 == 0) == 2
