"""Reads the attendance of the next checkpoint's batches while the current one is normalized and loaded."""

import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from aeries_source.attendance_response import AttendanceResponse
from aeries_source.client import AeriesClient
from aeries_source.errors import AeriesCriticalError, AeriesError
from aeries_source.planning import Batch

logger = logging.getLogger(__name__)


@dataclass
class WindowRead:
    """One attendance request of a batch: the payload or the error, and what it cost.

    Attributes:
        payload: The students' attendance for the window (None when the request failed).
        error: The classified failure after every retry (None on success).
        requests: HTTP attempts made, retries included.
        seconds: Wall time of the request, retries and back-off included.
    """

    payload: Union[AttendanceResponse, List[Dict[str, Any]], None] = None
    error: Optional[AeriesError] = None
    requests: int = 0
    seconds: float = 0.0


def read_window(client: AeriesClient, batch: Batch) -> WindowRead:
    """Request one batch's attendance in the calling thread and return the payload or the error."""
    started, attempts = time.monotonic(), client.thread_attempts()
    try:
        payload = client.attendance_response(batch.school_code, batch.start, batch.end)
    except AeriesError as exc:
        return WindowRead(error=exc, requests=client.thread_attempts() - attempts,
                          seconds=time.monotonic() - started)
    return WindowRead(payload=payload, requests=client.thread_attempts() - attempts,
                      seconds=time.monotonic() - started)


class AttendancePrefetcher:
    """Requests the windows of upcoming batches in background threads, one future per batch.

    dlt runs a checkpoint's extract, normalize and load one after the other, so without this the
    Aeries server sits idle while a checkpoint is written and the destination idles while the
    next one is read. A sync hands the next checkpoint's batches to `submit` as soon as the
    current extract has ended; the resources then `take` the finished reads. Nothing here touches
    dlt state: a read that is never taken (a crash, a critical error) is simply made again by
    the next run.

    A school's batches are read one after the other, as its resource would, and schools side by
    side. After a failed read the school's later batches are left to its resource (which checks
    the circuit breaker first); after a critical error (401, TLS...) nothing more is requested.
    """

    def __init__(self, client: AeriesClient, workers: int = 4) -> None:
        self._client = client
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aeries-prefetch")
        self._futures: Dict[int, "Future[WindowRead]"] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._critical: Optional[AeriesCriticalError] = None

    def submit(self, batches: Iterable[Batch]) -> int:
        """Start reading the given batches (those not already started); return how many were queued."""
        by_school: Dict[int, List[Tuple[Batch, "Future[WindowRead]"]]] = defaultdict(list)
        with self._lock:
            if self._closed:
                return 0
            for batch in batches:
                if batch.number not in self._futures:
                    future: "Future[WindowRead]" = Future()
                    self._futures[batch.number] = future
                    by_school[batch.school_code].append((batch, future))
            for reads in by_school.values():
                self._pool.submit(self._read_in_order, reads)
        queued = sum(len(reads) for reads in by_school.values())
        if queued:
            logger.debug("prefetching %d attendance window(s) of %d school(s)", queued, len(by_school))
        return queued

    def _read_in_order(self, reads: List[Tuple[Batch, "Future[WindowRead]"]]) -> None:
        for n, (batch, future) in enumerate(reads):
            if not future.set_running_or_notify_cancel():
                continue  # discarded or closed meanwhile
            if self._critical is not None:
                future.set_result(WindowRead(error=self._critical))
                continue
            try:
                read = read_window(self._client, batch)
            except Exception as exc:  # not an Aeries failure (a bug): raised where the batch is taken
                future.set_exception(exc)
                for _, later in reads[n + 1 :]:
                    later.cancel()
                return
            future.set_result(read)
            if isinstance(read.error, AeriesCriticalError):
                self._critical = read.error
            if read.error is not None:
                for _, later in reads[n + 1 :]:
                    later.cancel()  # the resource reads them itself, if its breaker lets it
                return

    def take(self, batch: Batch) -> Optional[WindowRead]:
        """Return the batch's read, waiting for it if still running; None when there is none to use."""
        with self._lock:
            future = self._futures.pop(batch.number, None)
        if future is None or future.cancelled():
            return None
        return future.result()

    @property
    def pending(self) -> int:
        """Reads submitted and not taken yet."""
        with self._lock:
            return len(self._futures)

    def close(self) -> None:
        """Cancel the reads that have not started and wait for the running ones (bounded by the retry policy)."""
        with self._lock:
            self._closed = True
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
