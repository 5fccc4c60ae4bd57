"""Unit tests of the read-ahead of attendance windows (`aeries_source.prefetch`) and its runtime hooks."""

import threading
from datetime import date, timedelta
from typing import Any, Dict, List, Optional, Tuple

import pytest

from aeries_source.errors import AUTH, SERVER_ERROR, AeriesCriticalError, AeriesRequestError
from aeries_source.planning import Batch, SyncPlan
from aeries_source.prefetch import AttendancePrefetcher, read_window
from aeries_source.runtime import BatchBudget, SyncRuntime

START = date(2024, 8, 15)


def batch(batch: int, school: int, n: int) -> Batch:
    start = START + timedelta(days=30 * n)
    return Batch(number=batch, school_code=school, start=start, end=start + timedelta(days=29))


class FakeClient:
    """Stands in for AeriesClient: records the order of attendance requests, fails on demand.

    `gate` lets a test hold requests until it has looked at the prefetcher's state.
    """

    def __init__(self, failures: Optional[Dict[Tuple[int, date], Exception]] = None, attempts: int = 1) -> None:
        self.failures = failures or {}
        self.attempts = attempts
        self.calls: List[Tuple[int, date, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self._local = threading.local()
        self._lock = threading.Lock()

    def thread_attempts(self) -> int:
        return int(getattr(self._local, "n", 0))

    def attendance_response(self, school_code: int, start: date, end: date) -> List[Dict[str, Any]]:
        self.gate.wait(5)
        with self._lock:
            self.calls.append((school_code, start, threading.current_thread().name))
        self._local.n = self.thread_attempts() + self.attempts
        failure = self.failures.get((school_code, start))
        if failure is not None:
            raise failure
        return [{"StudentID": 1, "AttendanceDays": [], "window": [school_code, start.isoformat()]}]


def test_read_window_returns_payload_and_counts_attempts() -> None:
    client = FakeClient(attempts=3)
    read = read_window(client, batch(1, 101, 0))  # type: ignore[arg-type]
    assert read.error is None and read.requests == 3 and read.seconds >= 0
    assert read.payload == [{"StudentID": 1, "AttendanceDays": [], "window": [101, START.isoformat()]}]


def test_read_window_returns_the_error_instead_of_raising() -> None:
    failure = AeriesRequestError("HTTP 503 from attendance", SERVER_ERROR)
    client = FakeClient({(101, START): failure}, attempts=5)
    read = read_window(client, batch(1, 101, 0))  # type: ignore[arg-type]
    assert read.payload is None and read.error is failure and read.requests == 5


def test_prefetched_reads_are_taken_with_their_payloads() -> None:
    client = FakeClient()
    prefetcher = AttendancePrefetcher(client)  # type: ignore[arg-type]
    batches = [batch(1, 101, 0), batch(5, 102, 0), batch(9, 103, 0)]
    assert prefetcher.submit(batches) == 3
    assert prefetcher.submit(batches) == 0, "a batch already submitted is not read twice"
    for u in batches:
        read = prefetcher.take(u)
        assert read is not None and read.payload is not None
        assert read.payload[0]["window"] == [u.school_code, u.start.isoformat()]
    assert prefetcher.take(batches[0]) is None, "a read is handed out once"
    assert prefetcher.take(batch(2, 101, 1)) is None, "a batch never submitted is read by the caller"
    prefetcher.close()
    assert len(client.calls) == 3


def test_one_school_is_read_in_date_order_schools_side_by_side() -> None:
    client = FakeClient()
    prefetcher = AttendancePrefetcher(client, workers=4)  # type: ignore[arg-type]
    batches = [batch(b, 101, n) for n, b in enumerate((1, 2, 3, 4))] + [batch(5, 102, 0)]
    prefetcher.submit(batches)
    for u in batches:
        prefetcher.take(u)
    prefetcher.close()
    school_101 = [(start, thread) for sc, start, thread in client.calls if sc == 101]
    assert [s for s, _ in school_101] == [u.start for u in batches[:4]]
    assert len({t for _, t in school_101}) == 1, "one school's batches are read by one thread, in order"


def test_after_a_failed_read_the_school_s_later_batches_are_left_to_the_resource() -> None:
    failure = AeriesRequestError("HTTP 503 from attendance", SERVER_ERROR)
    client = FakeClient({(101, START): failure})
    prefetcher = AttendancePrefetcher(client)  # type: ignore[arg-type]
    first, second, other = batch(1, 101, 0), batch(2, 101, 1), batch(5, 102, 0)
    prefetcher.submit([first, second, other])
    read = prefetcher.take(first)
    assert read is not None and read.error is failure
    assert prefetcher.take(second) is None, "not requested: the breaker decides first"
    other_read = prefetcher.take(other)
    assert other_read is not None and other_read.error is None
    prefetcher.close()
    assert sorted((sc, start) for sc, start, _ in client.calls) == [(101, START), (102, START)]


def test_nothing_more_is_requested_after_a_critical_error() -> None:
    critical = AeriesCriticalError("HTTP 401 from attendance: certificate rejected", AUTH)
    client = FakeClient({(101, START): critical})
    prefetcher = AttendancePrefetcher(client, workers=1)  # type: ignore[arg-type]
    batches = [batch(1, 101, 0), batch(5, 102, 0), batch(9, 103, 0)]
    prefetcher.submit(batches)
    reads = [prefetcher.take(u) for u in batches]
    prefetcher.close()
    assert len(client.calls) == 1, "a 401 stops every further request"
    assert all(r is not None and r.error is critical for r in reads)


def test_close_cancels_reads_not_started_and_refuses_new_ones() -> None:
    client = FakeClient()
    client.gate.clear()
    prefetcher = AttendancePrefetcher(client, workers=1)  # type: ignore[arg-type]
    prefetcher.submit([batch(1, 101, 0), batch(5, 102, 0), batch(9, 103, 0)])
    closing = threading.Thread(target=prefetcher.close)
    closing.start()  # cancels what has not started, then waits for the read held at the gate
    closing.join(0.2)
    client.gate.set()
    closing.join(5)
    assert not closing.is_alive()
    assert len(client.calls) == 1, "reads that had not started were cancelled"
    assert prefetcher.submit([batch(13, 104, 0)]) == 0
    assert prefetcher.pending == 0


# -- the runtime: what is read ahead --------------------------------------------------------------

def runtime_with(batches: List[Batch], limit: int, client: FakeClient) -> SyncRuntime:
    plan = SyncPlan(mode="full", ranges=[], batches=batches)
    return SyncRuntime(client=client, plan=plan, budget=BatchBudget(limit),  # type: ignore[arg-type]
                       prefetcher=AttendancePrefetcher(client))  # type: ignore[arg-type]


def three_schools() -> List[Batch]:
    return [batch(b, sc, n) for b, (sc, n) in enumerate(((101, 0), (101, 1), (101, 2), (102, 0), (102, 1),
                                                         (103, 0)), start=1)]


def test_budget_preview_is_what_the_next_run_gets() -> None:
    budget = BatchBudget(4)
    batches = three_schools()
    preview = budget.preview(batches)
    assert [u.number for u in preview] == [1, 4, 6, 2], "first chunk of each school, then second chunks"
    assert budget.assign(batches) == {101, 102, 103}
    taken = [sc for sc in (101, 101, 101, 102, 102, 103) if budget.take(sc)]
    assert sorted(taken) == sorted(u.school_code for u in preview)


def test_prefetch_next_reads_the_next_runs_batches_when_the_last_resource_finishes() -> None:
    client = FakeClient()
    runtime = runtime_with(three_schools(), 2, client)
    runtime.budget.assign(runtime.pending_batches())
    runtime.start_run(2)
    for done in runtime.plan.batches[:1] + runtime.plan.batches[3:4]:  # batches 1 and 4 are this run's
        runtime.mark_done(done)
    runtime.resource_finished()
    assert runtime.prefetcher is not None and runtime.prefetcher.pending == 0, "one resource still running"
    runtime.resource_finished()
    assert runtime.prefetcher.pending == 2
    read = runtime.read_window(runtime.plan.batches[5])  # batch 6: school 103's first chunk
    assert read.payload is not None and read.payload[0]["window"] == [103, START.isoformat()]
    runtime.prefetcher.close()
    assert sorted(c[0] for c in client.calls) == [101, 103], "batches 2 and 6, nothing else"


def test_prefetch_skips_schools_whose_breaker_is_open() -> None:
    client = FakeClient()
    runtime = runtime_with(three_schools(), 10, client)
    runtime.breaker_threshold = 1
    runtime.breaker(102).record_failure()
    assert runtime.prefetch_next() == 4, "schools 101 (3 batches) and 103 (1), not 102"
    assert runtime.prefetcher is not None
    runtime.prefetcher.close()


@pytest.mark.parametrize("prefetcher", [False, True])
def test_read_window_without_a_read_ahead_reads_now(prefetcher: bool) -> None:
    client = FakeClient()
    runtime = runtime_with(three_schools(), 2, client)
    if not prefetcher:
        assert runtime.prefetcher is not None
        runtime.prefetcher.close()
        runtime.prefetcher = None
    read = runtime.read_window(runtime.plan.batches[0])
    assert read.payload is not None and len(client.calls) == 1


def test_an_unexpected_exception_reaches_the_taker_instead_of_hanging_it() -> None:
    client = FakeClient({(101, START): RuntimeError("bug")})
    prefetcher = AttendancePrefetcher(client)  # type: ignore[arg-type]
    first, second = batch(1, 101, 0), batch(2, 101, 1)
    prefetcher.submit([first, second])
    with pytest.raises(RuntimeError, match="bug"):
        prefetcher.take(first)
    assert prefetcher.take(second) is None
    prefetcher.close()


def test_prefetch_next_holds_no_more_reads_than_it_has_workers() -> None:
    """Each read is held decoded until its run takes it: at most one per worker waits."""
    client = FakeClient()
    runtime = runtime_with(three_schools(), 10, client)  # the next run gets all six batches
    assert runtime.prefetcher is not None
    runtime.prefetcher.close()
    runtime.prefetcher = AttendancePrefetcher(client, workers=2)  # type: ignore[arg-type]
    assert runtime.prefetch_next() == 2
    for first_chunk in (runtime.plan.batches[0], runtime.plan.batches[3]):  # schools 101 and 102
        assert runtime.read_window(first_chunk).payload is not None
    runtime.prefetcher.close()
    assert sorted(c[0] for c in client.calls) == [101, 102], "read ahead: the first chunk of the first two schools"
