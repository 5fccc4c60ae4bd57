"""The sync plan: which date window each school is read for, cut into numbered batches."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Dict, List, Optional, Sequence, Tuple

from aeries_source.calendar_index import CalendarIndex
from aeries_source.chunking import date_chunks
from aeries_source.errors import AeriesConfigError

FULL = "full"
DELTA = "delta"
EXPLICIT = "explicit"

RETRY_REASON = "retry of a chunk an earlier sync could not read"
SKIPPED_REASON = "batch an earlier sync skipped with --resume-from-batch"


@dataclass(frozen=True)
class WorkUnit:
    """One school's attendance for one date chunk: a batch, numbered stably within its plan.

    Batch numbers run 1..N over the schools in ascending code order and, within a school, over
    its chunks in date order, so the same arguments against the same server give the same
    numbers (what `--dry-run` shows and `--resume-from-batch` refers to).
    """

    batch: int
    school_code: int
    start: date
    end: date


@dataclass(frozen=True)
class SchoolWindow:
    """The attendance window one school is re-read for in a sync, and why."""

    school_code: int
    start: date
    end: date
    reason: str


@dataclass
class SyncPlan:
    """Everything a sync will read, decided before the first attendance request."""

    mode: str
    windows: List[SchoolWindow]
    units: List[WorkUnit] = field(default_factory=list)
    server_now: Optional[datetime] = None
    first_load_schools: List[int] = field(default_factory=list)

    def units_for(self, school_code: int) -> List[WorkUnit]:
        """Return the units of one school in date order."""
        return [u for u in self.units if u.school_code == school_code]

    def windows_for(self, school_code: int) -> List[SchoolWindow]:
        """Return the windows of one school: its main window and any failed chunks to retry."""
        return [w for w in self.windows if w.school_code == school_code]

    @property
    def school_codes(self) -> List[int]:
        """The schools the plan reads, in ascending order."""
        return sorted({w.school_code for w in self.windows})


def number_units(windows: Sequence[SchoolWindow], chunk_days: int) -> List[WorkUnit]:
    """Cut each school's windows into chunks and number them as batches 1..N."""
    units: List[WorkUnit] = []
    for window in sorted(windows, key=lambda w: (w.school_code, w.start)):
        for start, end in date_chunks(window.start, window.end, chunk_days):
            units.append(WorkUnit(len(units) + 1, window.school_code, start, end))
    return units


def _with_retries(
    windows: List[SchoolWindow], retry_windows: Dict[int, List[Tuple[date, date]]], reason: str = RETRY_REASON
) -> List[SchoolWindow]:
    """Add chunks an earlier sync did not read, unless a window of `windows` already covers them.

    Called once for failed chunks and once more for skipped ones: a chunk that is both (it failed,
    and the retry was then skipped) is planned once.
    """
    result = list(windows)
    for sc, missing in retry_windows.items():
        planned = [w for w in windows if w.school_code == sc]
        for start, end in sorted(set(missing)):
            if not any(w.start <= start and end <= w.end for w in planned):
                result.append(SchoolWindow(sc, start, end, reason))
    return result


def _with_unread(
    windows: List[SchoolWindow],
    failed: Dict[int, List[Tuple[date, date]]],
    skipped: Dict[int, List[Tuple[date, date]]],
) -> List[SchoolWindow]:
    """Add the chunks earlier syncs failed to read or skipped with `--resume-from-batch`."""
    return _with_retries(_with_retries(windows, failed), skipped, SKIPPED_REASON)


def check_resume_from_batch(plan: SyncPlan, resume_from_batch: int) -> None:
    """Refuse a `--resume-from-batch` number beyond the plan: it would skip every batch.

    0 and 1 skip nothing, so they are accepted even for a plan without batches.

    Raises:
        AeriesConfigError: With one line naming the plan's batch count.
    """
    count = len(plan.units)
    if resume_from_batch <= max(count, 1):
        return
    raise AeriesConfigError(
        f"--resume-from-batch {resume_from_batch} is beyond the plan, which has {count} batch(es) "
        "(--dry-run lists them)"
    )


def batch_ranges(batches: Sequence[int]) -> str:
    """Write batch numbers compactly: [1, 2, 3, 7, 9, 10] -> "1-3, 7, 9-10"."""
    parts: List[str] = []
    ordered = sorted(set(batches))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts)


def delta_start(
    calendar: CalendarIndex,
    last_synced: date,
    lookback_days: int,
    year_start: date,
    open_at_last_sync: Optional[date] = None,
) -> "tuple[date, str]":
    """Return where a delta sync re-reads a school from, and the reason in words.

    Rule: from the first day of the earliest attendance month that was unlocked at the last
    complete sync or is unlocked now (a month locked since the last sync may have been corrected
    before it locked, so it is read once more; after that it is final); where the calendar locks
    nothing, from the cursor minus `lookback_days`. Never later than the day after the cursor, so
    nothing between two syncs is skipped, and never before the school year.
    """
    after_cursor = last_synced + timedelta(days=1)
    if not calendar.has_locked_months():
        start, reason = last_synced - timedelta(days=lookback_days), f"cursor minus {lookback_days} days"
        return max(start, year_start), reason
    unlocked = calendar.first_unlocked_day()
    if unlocked is None:
        candidates = [(after_cursor, "every attendance month locked; only days after the cursor")]
    else:
        candidates = [(after_cursor, "first unlocked attendance month starts after the cursor; from the day after it"),
                      (unlocked, "first unlocked attendance month")]
    if open_at_last_sync is not None:
        candidates.append((open_at_last_sync, "month locked since the last sync, read once more"))
    start, reason = min(candidates, key=lambda c: c[0])
    return max(start, year_start), reason


def build_plan(
    school_codes: Sequence[int],
    calendars: Dict[int, CalendarIndex],
    last_synced: Dict[int, Optional[date]],
    year_start: date,
    year_end: date,
    today: date,
    chunk_days: int,
    lookback_days: int,
    explicit_start: Optional[date] = None,
    explicit_end: Optional[date] = None,
    retry_windows: Optional[Dict[int, List[Tuple[date, date]]]] = None,
    open_at_last_sync: Optional[Dict[int, Optional[date]]] = None,
    skipped_windows: Optional[Dict[int, List[Tuple[date, date]]]] = None,
) -> SyncPlan:
    """Decide each school's window and number the batches.

    With explicit dates every school reads exactly that range. Otherwise a school without a
    cursor gets a full load from `year_start` up to today (by the server's clock) or the year's
    end, whichever is first, and a school with a cursor gets a delta window (see `delta_start`).
    Chunks that an earlier sync failed to read (`retry_windows`) or skipped with
    `--resume-from-batch` (`skipped_windows`) are always added: neither was read, and a school's
    cursor says nothing about them (skipped batches are the earliest of their school).
    """
    retries = {sc: w for sc, w in (retry_windows or {}).items() if sc in set(school_codes)}
    skipped = {sc: w for sc, w in (skipped_windows or {}).items() if sc in set(school_codes)}
    windows: List[SchoolWindow] = []
    if explicit_start is not None or explicit_end is not None:
        start = explicit_start or year_start
        end = explicit_end or min(year_end, today)
        windows = _with_unread([SchoolWindow(sc, start, end, "requested range") for sc in school_codes],
                               retries, skipped)
        return SyncPlan(EXPLICIT, windows, number_units(windows, chunk_days),
                        first_load_schools=[sc for sc in school_codes if last_synced.get(sc) is None])

    stop = min(year_end, today)
    mode = DELTA if school_codes and all(last_synced.get(sc) for sc in school_codes) else FULL
    for sc in school_codes:
        cursor = last_synced.get(sc)
        if cursor is None:
            windows.append(SchoolWindow(sc, year_start, stop, "first load of the school year"))
            continue
        start, reason = delta_start(calendars[sc], cursor, lookback_days, year_start,
                                    (open_at_last_sync or {}).get(sc))
        windows.append(SchoolWindow(sc, start, stop, reason))
    windows = _with_unread(windows, retries, skipped)
    return SyncPlan(mode, windows, number_units(windows, chunk_days),
                    first_load_schools=[sc for sc in school_codes if last_synced.get(sc) is None])
