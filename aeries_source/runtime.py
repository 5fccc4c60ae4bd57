"""Per-sync runtime shared by the resources: client, plan, run id, checkpoint budget and progress."""

import contextlib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from aeries_source.breaker import CircuitBreaker
from aeries_source.client import AeriesClient
from aeries_source.planning import Batch, SyncPlan
from aeries_source.prefetch import AttendancePrefetcher, WindowRead, read_window
from aeries_source.pseudonym import Pseudonymizer


class BatchBudget:
    """Which batches one pipeline run may extract before it stops to commit a checkpoint.

    A run stops taking batches once it has `limit` of them, or once `seconds` have passed since it
    started and it has read at least one (so every run makes progress), unless what is left of
    its schools' batches is a tail of at most `TAIL_SHARE` of what it has taken: a run of its own
    would cost that tail more than its reading (with 100 ms of request latency, a full year's
    last run took 2.3 s for 1.5 s of reading on Postgres, 3.3 s on DuckDB), and a run past its
    time reads at most about half as long again. The command hands the batch limit out as
    per-school quotas (`assign`) over the pending batches in the order (n-th chunk of each
    school, school): a run reads the next chunk of up to `limit` schools side by side, and only
    those schools' resources need to be built. A plain pipeline run counts its
    batches whichever school they belong to (`start_run`). Shared by the per-school resources,
    which run in parallel threads.
    """

    TAIL_SHARE = 0.5

    def __init__(self, limit: Optional[int], seconds: Optional[float] = None) -> None:
        self._lock = threading.Lock()
        self._other_reads = 0  # resources of the run still reading something besides attendance
        self.limit = limit
        self.seconds = seconds
        self._quota: Optional[Counter] = None
        self._left: Optional[int] = limit
        self._deadline: Optional[float] = None
        self._taken = 0
        self._pending: Optional[int] = None  # batches the run's schools have left, when assigned

    def start_run(self) -> None:
        """Start a run that may take `limit` batches of any school, for `seconds` (a plain pipeline's run)."""
        with self._lock:
            self._quota, self._left = None, self.limit
            self._start_clock()
            self._pending = None

    def assign(self, pending: Sequence[Batch]) -> Set[int]:
        """Start a run with per-school quotas over the pending batches; return the schools that got one."""
        with self._lock:
            self._left = None
            self._start_clock()
            if self.limit is None:
                self._quota = None
                self._pending = len(pending)
                return {u.school_code for u in pending}
            self._quota = Counter(batch.school_code for batch in self._choose(pending))
            self._pending = sum(self._quota.values())
            return set(self._quota)

    def _start_clock(self) -> None:
        self._taken = 0
        self._deadline = time.monotonic() + self.seconds if self.seconds else None

    def preview(self, pending: Sequence[Batch]) -> List[Batch]:
        """Return the batches the next run will get first, without handing out quotas.

        Without a batch limit that is the next batch of each school: how many more a run gets
        depends on its time.
        """
        with self._lock:
            if self.limit is not None:
                return self._choose(pending)
            first: Dict[int, Batch] = {}
            for batch in sorted(pending, key=lambda u: u.number):
                first.setdefault(batch.school_code, batch)
            return list(first.values())

    def _choose(self, pending: Sequence[Batch]) -> List[Batch]:
        ordinal: Counter = Counter()
        ranked = []
        for batch in sorted(pending, key=lambda u: u.number):
            ranked.append((ordinal[batch.school_code], batch.school_code, batch))
            ordinal[batch.school_code] += 1
        return [batch for _, _, batch in sorted(ranked, key=lambda r: (r[0], r[1]))[: self.limit]]

    def _in_tail(self) -> bool:
        return self._pending is not None and 0 < self._pending - self._taken <= self._taken * self.TAIL_SHARE

    @contextlib.contextmanager
    def other_reads(self) -> Iterator[None]:
        """Let attendance go on past the run's deadline while a resource reads something else.

        The run cannot commit before such a resource (students, enrollment) has read everything.
        Stopping attendance at the deadline left request slots idle meanwhile: with 100 ms of
        latency per request the students' pages went on for 5 s with 1.6-2 of the 4 slots busy.
        Those reads do not queue behind attendance: the client's request limiter lets them pass
        (`RequestLimiter`), so they end no later than they would have. There is no bound on
        this: it cannot delay the checkpoint, which waits for those reads in any case. A bound
        of twice `seconds` (before) idled the slots for the students' last pages and split the
        reading in two checkpoints (20 x 4,000 with 100 ms of latency, where the students' pages go
        on for 22-25 s: syncs of two checkpoints took 38.5-43.8 s, without the bound 35.4-37.5).
        """
        with self._lock:
            self._other_reads += 1
        try:
            yield
        finally:
            with self._lock:
                self._other_reads -= 1

    def take(self, school_code: int) -> bool:
        """Claim one batch for a school; False once the run's quota or time is spent."""
        with self._lock:
            if self._deadline is not None and self._taken and not self._in_tail():
                if time.monotonic() >= self._deadline and not self._other_reads:
                    return False
            if self._quota is not None:
                if self._quota[school_code] <= 0:
                    return False
                self._quota[school_code] -= 1
            elif self._left is not None:
                if self._left <= 0:
                    return False
                self._left -= 1
            self._taken += 1
            return True


@dataclass
class SyncRuntime:
    """What one sync (one command invocation) shares across its pipeline runs and resources.

    Attributes:
        client: The Aeries client (its cache holds calendars and absence codes for the sync).
        plan: The plan every resource follows (see `ensure_plan`).
        planner: Makes the plan on first use, when it was not given.
        school_codes: The schools the sync reads (known before the plan).
        run_id: The sync's operation id, stamped on every attendance row.
        resume_from_batch: Batches numbered below this are skipped (`--resume-from-batch`); those
            not already read are remembered for the next sync (see `mark_skipped`).
        budget: How many batches, or how long, a pipeline run reads before it commits (the checkpoint interval).
        on_batch_done: Called after each batch is extracted (progress reporting).
        pseudonymizer: Replaces student identifiers in every table when a key is configured.
        active_schools: When set, only these schools get attendance resources (later runs of a
            sync), and the other tables are not refreshed again.
        prefetcher: When set, batches read ahead by `prefetch_next` are taken from it.
    """

    client: AeriesClient
    # Known at once (the command plans before its first run), or made by `planner` on first use
    # inside a pipeline run (`ensure_plan`), so that it reads the state of the pipeline that runs it.
    plan: SyncPlan = None  # type: ignore[assignment]
    planner: Optional[Callable[[], SyncPlan]] = None
    school_codes: List[int] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    resume_from_batch: int = 0
    budget: BatchBudget = field(default_factory=lambda: BatchBudget(None))
    on_batch_done: Optional[Callable[[Batch, int], None]] = None
    breaker_threshold: int = 10
    pseudonymizer: Pseudonymizer = field(default_factory=lambda: Pseudonymizer(None))
    # dlt's row columns (`_dlt_load_id`, `_dlt_id`) that the destination's tables have, by table,
    # as a runner that looked found them: a pipeline that has not loaded yet (a task on a new
    # worker, its own pipeline name) has no schema to tell it that another pipeline created a
    # table with them, NOT NULL, and Arrow items without them would fail to load there.
    row_columns: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    # Every `sync_batches` row this sync made (no student data), for a report of the sync.
    batch_rows: List[Dict[str, Any]] = field(default_factory=list)
    done: Set[int] = field(default_factory=set)
    failed: Dict[int, str] = field(default_factory=dict)
    skipped: Set[int] = field(default_factory=set)
    _breakers: Dict[int, CircuitBreaker] = field(default_factory=dict)
    rows: Dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    active_schools: Optional[Set[int]] = None
    prefetcher: Optional[AttendancePrefetcher] = None
    _resources_left: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_plan(self) -> SyncPlan:
        """Return the plan, making it with `planner` the first time it is needed."""
        with self._lock:
            if self.plan is None:
                if self.planner is None:
                    raise RuntimeError("SyncRuntime has neither a plan nor a planner")
                self.plan = self.planner()
                # A plain pipeline's run starts here (the command assigns each run's budget itself).
                self.budget.start_run()
            return self.plan

    def read_window(self, batch: Batch) -> WindowRead:
        """Return a batch's attendance request: read ahead by the prefetcher, or made now."""
        read = self.prefetcher.take(batch) if self.prefetcher is not None else None
        return read if read is not None else read_window(self.client, batch)

    def start_run(self, attendance_resources: int) -> None:
        """Note how many attendance resources the coming pipeline run extracts."""
        with self._lock:
            self._resources_left = attendance_resources

    def resource_finished(self) -> None:
        """Called by an attendance resource that read all it may in this run.

        When the last one is through, the run's attendance is extracted and the next run's batches
        are known: reading them starts now, while dlt finishes this run (see prefetch.py).
        """
        with self._lock:
            self._resources_left -= 1
            last = self._resources_left == 0
        if last:
            self.prefetch_next()

    def prefetch_next(self) -> int:
        """Start reading the batches the next run will get (skipping schools whose breaker is open).

        Returns:
            How many reads were started.
        """
        if self.prefetcher is None:
            return 0
        batches = [u for u in self.budget.preview(self.pending_batches()) if not self.breaker(u.school_code).is_open]
        # One read per prefetch worker: each read is held decoded (megabytes) until its run takes it,
        # and the next run's resources read the rest as soon as it starts.
        return self.prefetcher.submit(batches[: self.prefetcher.workers])

    def mark_done(self, batch: Batch, rows: int = 0, extracted: bool = False) -> None:
        """Record a batch as finished (extracted now, or found done in the checkpoint)."""
        with self._lock:
            self.done.add(batch.number)
            if extracted:
                self.rows["attendance_records"] = self.rows.get("attendance_records", 0) + rows
        if extracted and self.on_batch_done is not None:
            self.on_batch_done(batch, rows)

    def has_failed(self, batch: Batch) -> bool:
        """Tell whether the batch already failed in this sync (the next sync retries it)."""
        with self._lock:
            return batch.number in self.failed

    def mark_failed(self, batch: Batch, error_class: str) -> None:
        """Record a batch that could not be read in this sync (the next sync retries it)."""
        with self._lock:
            self.failed[batch.number] = error_class

    def mark_skipped(self, batch: Batch) -> None:
        """Record a batch that `--resume-from-batch` skipped and no earlier sync had read.

        Its school's resource state remembers it (`skipped_batches`) and the next sync reads it.
        """
        with self._lock:
            self.skipped.add(batch.number)

    @property
    def skipped_batches(self) -> List[int]:
        """Batches skipped by `--resume-from-batch` that are not in the destination yet."""
        with self._lock:
            return sorted(self.skipped)

    def breaker(self, school_code: int) -> CircuitBreaker:
        """Return the school's circuit breaker (one per school for the whole sync)."""
        with self._lock:
            if school_code not in self._breakers:
                self._breakers[school_code] = CircuitBreaker(self.breaker_threshold)
            return self._breakers[school_code]

    @property
    def skipped_schools(self) -> List[int]:
        """Schools whose breaker opened during this sync."""
        with self._lock:
            return sorted(sc for sc, b in self._breakers.items() if b.is_open)

    def count_rejects(self, n: int) -> None:
        """Count records sent to the rejects table."""
        with self._lock:
            self.rejects += n

    def is_skipped(self, batch: Batch) -> bool:
        """Tell whether `--resume-from-batch` excludes this batch."""
        return batch.number < self.resume_from_batch

    @property
    def last_completed_batch(self) -> Optional[int]:
        """The highest batch number extracted in this sync so far."""
        with self._lock:
            return max(self.done, default=None)

    @property
    def remaining(self) -> int:
        """Batches of the plan not done, not failed and not excluded: what another run would read."""
        with self._lock:
            return sum(
                1 for u in self.plan.batches
                if u.number not in self.done and u.number not in self.failed and not self.is_skipped(u)
            )

    def pending_batches(self) -> List[Batch]:
        """Batches that still have to be read in this sync."""
        with self._lock:
            return [
                u for u in self.plan.batches
                if u.number not in self.done and u.number not in self.failed and not self.is_skipped(u)
            ]
