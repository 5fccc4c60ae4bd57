"""The sync plan: which date range each school is read for, cut into numbered batches."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Dict, List, Optional, Sequence, Set, Tuple

from aeries_source.batching import date_batches
from aeries_source.calendar_index import CalendarIndex
from aeries_source.errors import AeriesConfigError

FULL = "full"
DELTA = "delta"
EXPLICIT = "explicit"

RETRY_REASON = "retry of a batch an earlier sync could not read"
SKIPPED_REASON = "batch an earlier sync skipped with --resume-from-batch"
RELOCKED_REASON = "attendance month locked since it was read, read once more"


@dataclass(frozen=True)
class Batch:
    """A batch: one school's attendance for one date window, read with one request, numbered stably within its plan.

    Batch numbers run 1..N over the schools in ascending code order and, within a school, over
    its batches in date order, so the same arguments against the same server give the same
    numbers (what `--dry-run` shows and `--resume-from-batch` refers to).
    """

    number: int
    school_code: int
    start: date
    end: date

    def days(self) -> List[date]:
        """Every date of the window, first to last."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class SchoolRange:
    """The date range one school is read for in a sync (cut into batches), and why."""

    school_code: int
    start: date
    end: date
    reason: str


@dataclass
class SyncPlan:
    """Everything a sync will read, decided before the first attendance request."""

    mode: str
    ranges: List[SchoolRange]
    batches: List[Batch] = field(default_factory=list)
    server_now: Optional[datetime] = None
    first_load_schools: List[int] = field(default_factory=list)

    def batches_for(self, school_code: int) -> List[Batch]:
        """Return the batches of one school in date order."""
        return [u for u in self.batches if u.school_code == school_code]

    def ranges_for(self, school_code: int) -> List[SchoolRange]:
        """Return the date ranges one school is read for: its main range and any earlier batches to read again."""
        return [w for w in self.ranges if w.school_code == school_code]

    @property
    def school_codes(self) -> List[int]:
        """The schools the plan reads, in ascending order."""
        return sorted({w.school_code for w in self.ranges})


def number_batches(ranges: Sequence[SchoolRange], batch_days: int) -> List[Batch]:
    """Cut each school's ranges into batches and number them 1..N."""
    batches: List[Batch] = []
    for school_range in sorted(ranges, key=lambda w: (w.school_code, w.start)):
        for start, end in date_batches(school_range.start, school_range.end, batch_days):
            batches.append(Batch(len(batches) + 1, school_range.school_code, start, end))
    return batches


def _with_retries(
    ranges: List[SchoolRange], failed_batch_dates: Dict[int, List[Tuple[date, date]]], reason: str = RETRY_REASON
) -> List[SchoolRange]:
    """Add batches an earlier sync did not read, unless a range of `ranges` already covers them.

    Called once for failed batches and once more for skipped ones: a batch that is both (it failed,
    and the retry was then skipped) is planned once.
    """
    result = list(ranges)
    for sc, missing in failed_batch_dates.items():
        planned = [w for w in ranges if w.school_code == sc]
        for start, end in sorted(set(missing)):
            if not any(w.start <= start and end <= w.end for w in planned):
                result.append(SchoolRange(sc, start, end, reason))
    return result


def _with_unread(
    ranges: List[SchoolRange],
    failed: Dict[int, List[Tuple[date, date]]],
    skipped: Dict[int, List[Tuple[date, date]]],
) -> List[SchoolRange]:
    """Add the batches earlier syncs failed to read or skipped with `--resume-from-batch`."""
    return _with_retries(_with_retries(ranges, failed), skipped, SKIPPED_REASON)


def _with_relocked(
    ranges: List[SchoolRange], relocked: Dict[int, List[Tuple[date, date]]], schools: Set[int]
) -> List[SchoolRange]:
    """Add the parts of relocked attendance months that no planned range of their school covers."""
    result = list(ranges)
    for sc, months in sorted(relocked.items()):
        if sc not in schools:
            continue
        for first, last in sorted(months):
            planned = [(r.start, r.end) for r in result if r.school_code == sc]
            for start, end in uncovered(first, last, planned):
                result.append(SchoolRange(sc, start, end, RELOCKED_REASON))
    return result


def uncovered(start: date, end: date, covered: Sequence[Tuple[date, date]]) -> List[Tuple[date, date]]:
    """Return the parts of `start`..`end` (inclusive) outside every range of `covered`."""
    parts = [(start, end)]
    for c_start, c_end in covered:
        nxt = []
        for p_start, p_end in parts:
            if c_end < p_start or c_start > p_end:
                nxt.append((p_start, p_end))
                continue
            if p_start < c_start:
                nxt.append((p_start, c_start - timedelta(days=1)))
            if c_end < p_end:
                nxt.append((c_end + timedelta(days=1), p_end))
        parts = nxt
    return parts


def check_resume_from_batch(plan: SyncPlan, resume_from_batch: int) -> None:
    """Refuse a `--resume-from-batch` number beyond the plan: it would skip every batch.

    0 and 1 skip nothing, so they are accepted even for a plan without batches.

    Raises:
        AeriesConfigError: With one line naming the plan's batch count.
    """
    count = len(plan.batches)
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
    batch_days: int,
    lookback_days: int,
    explicit_start: Optional[date] = None,
    explicit_end: Optional[date] = None,
    failed_batch_dates: Optional[Dict[int, List[Tuple[date, date]]]] = None,
    open_at_last_sync: Optional[Dict[int, Optional[date]]] = None,
    skipped_batch_dates: Optional[Dict[int, List[Tuple[date, date]]]] = None,
    relocked_months: Optional[Dict[int, List[Tuple[date, date]]]] = None,
) -> SyncPlan:
    """Decide each school's range and number the batches.

    With explicit dates every school reads exactly that range. Otherwise a school without a
    cursor gets a full load from `year_start` up to today (by the server's clock) or the year's
    end, whichever is first, and a school with a cursor gets a delta range (see `delta_start`).
    Chunks that an earlier sync failed to read (`failed_batch_dates`) or skipped with
    `--resume-from-batch` (`skipped_batches`) are always added: neither was read, and a school's
    cursor says nothing about them (skipped batches are the earliest of their school).
    Attendance months read while unlocked and locked since (`relocked_months`) are added too, as
    far as no other range covers them, whatever range was asked for: their stored rows still say
    they can be corrected.
    """
    retries = {sc: w for sc, w in (failed_batch_dates or {}).items() if sc in set(school_codes)}
    skipped = {sc: w for sc, w in (skipped_batch_dates or {}).items() if sc in set(school_codes)}
    ranges: List[SchoolRange] = []
    if explicit_start is not None or explicit_end is not None:
        start = explicit_start or year_start
        end = explicit_end or min(year_end, today)
        ranges = _with_unread([SchoolRange(sc, start, end, "requested range") for sc in school_codes],
                               retries, skipped)
        ranges = _with_relocked(ranges, relocked_months or {}, set(school_codes))
        return SyncPlan(EXPLICIT, ranges, number_batches(ranges, batch_days),
                        first_load_schools=[sc for sc in school_codes if last_synced.get(sc) is None])

    stop = min(year_end, today)
    mode = DELTA if school_codes and all(last_synced.get(sc) for sc in school_codes) else FULL
    for sc in school_codes:
        cursor = last_synced.get(sc)
        if cursor is None:
            ranges.append(SchoolRange(sc, year_start, stop, "first load of the school year"))
            continue
        start, reason = delta_start(calendars[sc], cursor, lookback_days, year_start,
                                    (open_at_last_sync or {}).get(sc))
        ranges.append(SchoolRange(sc, start, stop, reason))
    ranges = _with_unread(ranges, retries, skipped)
    ranges = _with_relocked(ranges, relocked_months or {}, set(school_codes))
    return SyncPlan(mode, ranges, number_batches(ranges, batch_days),
                    first_load_schools=[sc for sc in school_codes if last_synced.get(sc) is None])
