"""Unit tests of per-school reads made side by side and handed back in order."""

import threading
import time
import weakref
from typing import Callable

import pytest

from aeries_source.side_by_side import side_by_side


class _Counted:
    """A fetch that sleeps `seconds(n)` and counts the most fetches running at once."""

    def __init__(self, seconds: Callable[[int], float]) -> None:
        self.seconds = seconds
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, n: int) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds(n))
        with self.lock:
            self.running -= 1
        return n * 10


def test_results_come_back_in_the_items_order_while_fetches_overlap() -> None:
    fetch = _Counted(lambda n: 0.05 if n % 2 else 0.01)  # odd items finish last
    started = time.monotonic()
    assert list(side_by_side(range(8), fetch, ahead=4)) == [(n, n * 10) for n in range(8)]
    assert fetch.most == 4, "four fetches at once, never more"
    assert time.monotonic() - started < 8 * 0.03, "overlapping, not one after the other"


def test_no_more_than_ahead_results_wait_for_a_slow_consumer() -> None:
    fetched = []
    reads = side_by_side(range(10), lambda n: fetched.append(n) or n, ahead=3)
    assert next(reads) == (0, 0)
    time.sleep(0.05)
    assert len(fetched) <= 4, "item 0 taken, at most three more fetched ahead"
    reads.close()


def test_a_failed_fetch_is_raised_at_its_place_and_closing_stops_the_rest() -> None:
    fetched = []

    def fetch(n: int) -> int:
        fetched.append(n)
        if n == 2:
            raise ValueError("school 2 failed")
        return n

    reads = side_by_side(range(20), fetch, ahead=2)
    assert [next(reads), next(reads)] == [(0, 0), (1, 1)]
    with pytest.raises(ValueError, match="school 2 failed"):
        next(reads)
    assert len(fetched) <= 5, "nothing is fetched after the failure surfaced"


class _Rows(list):
    """A result that can be watched with a weak reference."""


def test_a_result_is_not_held_while_the_next_fetch_is_awaited() -> None:
    refs = []
    dropped = threading.Event()
    freed_while_waiting = []

    def fetch(n: int) -> _Rows:
        if n == 1:  # awaited by the generator after the consumer has dropped result 0
            assert dropped.wait(5)
            deadline = time.monotonic() + 2
            while refs[0]() is not None and time.monotonic() < deadline:
                time.sleep(0.01)
            freed_while_waiting.append(refs[0]() is None)
        rows = _Rows([n])
        refs.append(weakref.ref(rows))
        return rows

    reads = side_by_side(range(2), fetch, ahead=1)
    assert next(reads) == (0, [0])  # the tuple is not kept
    dropped.set()
    assert next(reads) == (1, [1])
    assert freed_while_waiting == [True], "school 0's rows were still held while school 1 was read"


def test_ahead_after_a_large_result_keeps_fewer_fetches_going() -> None:
    running, overlapping = [0], []
    lock = threading.Lock()

    def fetch(n: int) -> int:
        with lock:
            running[0] += 1
            if n >= 3:
                overlapping.append(running[0] > 1)
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return n

    # Items 0-3 are large: one fetch at a time after each. Items 1 and 2 were started with item 0;
    # item 3 starts once they are taken, item 4 once item 3 is; after item 4, three at a time again.
    reads = side_by_side(range(8), fetch, ahead=3, ahead_after=lambda n: 1 if n < 4 else 3)
    assert [n for n, _ in reads] == list(range(8))
    assert overlapping[:2] == [False, False], "items 3 and 4 were read alone"
    assert True in overlapping[2:], "a small result lets three run again"


def test_ahead_after_never_runs_more_than_ahead() -> None:
    fetch = _Counted(lambda n: 0.01)
    assert [n for n, _ in side_by_side(range(10), fetch, ahead=2, ahead_after=lambda _: 10)] == list(range(10))
    assert fetch.most == 2
