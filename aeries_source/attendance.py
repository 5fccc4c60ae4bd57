"""The per-school attendance resources: date-chunked reads, checkpoints, breaker, window replace."""

import logging
import time
from datetime import date, timedelta
from typing import Any, Dict, Iterator, List, Sequence, Set, Tuple

import dlt
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source import settings
from aeries_source.calendar_index import CalendarIndex
from aeries_source.checkpoint import attendance_resource_name
from aeries_source.client import AeriesClient
from aeries_source.data_through import data_through_items
from aeries_source.errors import AeriesRequestError
from aeries_source.planning import WorkUnit
from aeries_source.rejects import reject_row
from aeries_source.runtime import SyncRuntime
from aeries_source.side_tables import rejects_item
from aeries_source.tracking import batch_row, sync_batch_hints
from aeries_source.transform import (
    TOMBSTONE_COLUMN,
    RejectedRecord,
    SchoolContext,
    attendance_day_row,
    build_absence_codes,
    tombstone_row,
)

logger = logging.getLogger(__name__)

ATTENDANCE_TABLE = "attendance_records"
ATTENDANCE_KEY = ("school_code", "student_id", "attendance_date")
ATTENDANCE_COLUMNS: Dict[str, Any] = {
    "school_code": {"data_type": "bigint", "nullable": False},
    "student_id": {"data_type": "bigint", "nullable": False},
    "attendance_date": {"data_type": "date", "nullable": False},
    "correction_deadline": {"data_type": "date"},
    # The columns every student-day row has (period columns come with the periods a school uses),
    # declared so the table can exist before any attendance is read (see `declared_tables`).
    "all_day_code": {"data_type": "text"},
    "all_day_status": {"data_type": "text"},
    "is_full_day_absent": {"data_type": "bool"},
    "is_present": {"data_type": "bool"},
    "tardy_count": {"data_type": "bigint"},
    "can_be_corrected": {"data_type": "bool"},
    "sync_chunk_start": {"data_type": "date"},
    "sync_chunk_end": {"data_type": "date"},
    "sync_batch": {"data_type": "bigint"},
    "sync_run_id": {"data_type": "text"},
    TOMBSTONE_COLUMN: {"data_type": "bool", "hard_delete": True},
}


def attendance_hints() -> Any:
    """Hints of `attendance_records`: each load replaces whole school-days (merge key).

    The primary key is needed although rows are unique per student-day by construction
    (`_unit_rows` keeps one record per student-day, windows never overlap): dlt deduplicates the
    staging rows on it before inserting, and that is what keeps a load replayed after a kill from
    inserting rows twice (a staging COPY that committed before dlt recorded it runs again on the
    next run; the crash test caught it when the key was dropped to make the merge's delete
    cheaper). With both keys dlt would delete by `pk OR merge key`, which no database hash-joins;
    our destinations delete by the merge key alone, which is equivalent here
    (`destinations.MergeOnMergeKeyJob`). A fresh dict per use: dlt may modify hints it is given.
    """
    return dlt.mark.make_hints(
        table_name=ATTENDANCE_TABLE, write_disposition="merge", primary_key=ATTENDANCE_KEY,
        merge_key=("school_code", "attendance_date"), columns=ATTENDANCE_COLUMNS,
    )


def _school_context(client: AeriesClient, school_code: int) -> SchoolContext:
    calendar = CalendarIndex(client.calendar(school_code))
    school = next((s for s in client.schools() if s.get("SchoolCode") == school_code), {})
    return SchoolContext(
        school_code=school_code,
        attendance_type=str(school.get("AttendanceType") or "Daily"),
        calendar=calendar,
        codes=build_absence_codes(client.absence_codes(school_code)),
        periods=calendar.periods(),
    )


def attendance_resource(runtime: SyncRuntime, school_code: int, batch_size: int) -> DltResource:
    """The `attendance_<school>` resource: the school's planned batches, read in order and checkpointed."""
    name = attendance_resource_name(school_code)
    units = runtime.plan.units_for(school_code)
    # The cursor records how far attendance has been read (its last_value). A lag longer than any
    # school year pins start_value to initial_value (this sync's earliest window start), so the
    # incremental never drops rows of a window that deliberately re-reads days before the cursor.
    initial = min((u.start for u in units), default=settings.DEFAULT_START_DATE)
    plan_key = "|".join(f"{u.start}:{u.end}" for u in units)

    cursor = dlt.sources.incremental[date](
        "attendance_date", initial_value=initial, lag=3660, primary_key=(),
        # rejects, sync_batches and data_through rows ride along in this resource without a cursor field
        on_cursor_value_missing="include",
    )

    def items() -> Iterator[TDataItems]:
        yield from _read_school(runtime, name, school_code, units, plan_key, batch_size)
        yield from data_through_items(runtime, name, school_code, units)
        runtime.resource_finished()

    # Built from a generator object, not a decorated function: dlt resolves configuration for
    # every call of a decorated resource function (a few ms each in the profile, 10 resources
    # per checkpoint run), and these resources take nothing from config. Every item names its table
    # through hints (attendance_records, rejects, sync_batches, data_through): a resource-level column hint
    # would leak into the side tables as columns of their own.
    return dlt.resource(items(), name=name, write_disposition="merge", parallelized=True, incremental=cursor)


def _read_school(
    runtime: SyncRuntime, name: str, school_code: int, units: Sequence[WorkUnit], plan_key: str, batch_size: int
) -> Iterator[TDataItems]:
    """Read a school's batches in order, as far as this run's budget allows, checkpointing each."""
    if not units:
        return
    state = dlt.current.resource_state(name)
    progress = _progress_for(state, plan_key, units)
    failed = {tuple(w) for w in state.get("failed_windows", [])}
    read_before = _read_by_plan(state, plan_key)
    ctx = _school_context(runtime.client, school_code)
    breaker = runtime.breaker(school_code)
    for unit in units:
        window = (unit.start.isoformat(), unit.end.isoformat())
        if runtime.is_skipped(unit):
            _skip(runtime, state, unit, window, progress, read_before)
            continue
        if window[0] in progress:
            runtime.mark_done(unit)
            continue
        if runtime.has_failed(unit):
            continue  # failed earlier in this sync: recorded in failed_windows for the next sync
        if breaker.is_open:
            runtime.mark_failed(unit, "circuit_breaker_open")
            failed.add(window)
            state["failed_windows"] = sorted(failed)
            yield _batch_record(runtime, unit, "skipped", error_class="circuit_breaker_open")
            continue
        if not runtime.budget.take(school_code):
            return
        read = runtime.read_window(unit)
        if read.error is not None and not isinstance(read.error, AeriesRequestError):
            raise read.error  # critical: stops the sync
        if read.error is not None:
            breaker.record_failure(max(read.requests, 1))
            runtime.mark_failed(unit, read.error.error_class)
            failed.add(window)
            state["failed_windows"] = sorted(failed)
            logger.warning("batch %d (school %d, %s..%s) failed: %s", unit.batch, school_code,
                           unit.start, unit.end, read.error)
            yield _batch_record(runtime, unit, "failed", requests=read.requests,
                                seconds=read.seconds, error_class=read.error.error_class)
            continue
        started = time.monotonic()
        rows, rejected = _unit_rows(runtime, ctx, unit, read.payload or [])
        requests_made, seconds = read.requests, read.seconds + time.monotonic() - started
        breaker.record_success()
        # Checkpoint before the yield: committed together with these rows or not at all.
        progress.add(window[0])
        failed.discard(window)
        state["progress"] = {"key": plan_key, "done": sorted(progress)}
        state["failed_windows"] = sorted(failed)
        _forget_read_skips(state, units, progress)
        state["has_read"] = True
        if rejected:
            runtime.count_rejects(len(rejected))
            yield rejects_item(rejected)
        for i in range(0, len(rows), batch_size):
            yield dlt.mark.with_hints(rows[i : i + batch_size], attendance_hints(), create_table_variant=True)
        records = sum(1 for r in rows if not r[TOMBSTONE_COLUMN])
        yield _batch_record(runtime, unit, "done", rows=records, requests=requests_made, seconds=seconds)
        runtime.mark_done(unit, records, extracted=True)
    if all(u.start.isoformat() in progress for u in units):
        # The whole plan was read (a batch skipped by --resume-from-batch counts only if an earlier
        # sync of this plan read it): from here on, months still open now may change before they
        # lock, so the next delta sync starts no later than today's first unlocked day.
        open_from = ctx.calendar.first_unlocked_day()
        state["open_from"] = open_from.isoformat() if open_from else None


def _batch_record(runtime: SyncRuntime, unit: WorkUnit, status: str, **fields: Any) -> Any:
    row = batch_row(runtime.run_id, unit, status, **fields)
    return dlt.mark.with_hints([row], sync_batch_hints(), create_table_variant=True)


def _read_by_plan(state: Dict[str, Any], plan_key: str) -> Set[str]:
    """Return the chunk starts that syncs of this same plan committed, whether the plan finished or not.

    Unlike `_progress_for`, a finished plan counts too: this tells whether a batch skipped by
    `--resume-from-batch` is already in the destination.
    """
    progress = state.get("progress") or {}
    return set(progress.get("done", [])) if progress.get("key") == plan_key else set()


def _skip(
    runtime: SyncRuntime, state: Dict[str, Any], unit: WorkUnit, window: Tuple[str, str], progress: Set[str],
    read_before: Set[str],
) -> None:
    """Account for a batch that `--resume-from-batch` excludes, so that skipping never leaves a hole.

    A batch that an earlier sync of the same plan (the school's same windows) committed is in the
    destination: the usual case of resuming after a crash with the numbers `--dry-run` shows. It
    counts as done and as part of this plan's progress, although its rows are only as fresh as that
    sync. Any other batch has not been read: its window is remembered in the school's
    `skipped_windows`, which the next sync's plan adds (`planning.build_plan`), and it is reported
    as skipped. Re-reading replaces a window, so remembering too much costs requests, never data.
    """
    if window[0] in read_before:
        progress.add(window[0])
        runtime.mark_done(unit)
        return
    skipped = {tuple(w) for w in state.get("skipped_windows", [])}
    state["skipped_windows"] = sorted(skipped | {window})
    runtime.mark_skipped(unit)


def _forget_read_skips(state: Dict[str, Any], units: Sequence[WorkUnit], progress: Set[str]) -> None:
    """Drop the remembered skipped windows that batches of this plan have now read in full.

    Compared by coverage, not equality: a later plan may cut a remembered window into other chunks
    (another `chunk_days`, or a main window that spans it).
    """
    if not state.get("skipped_windows"):
        return
    read = sorted((u.start, u.end) for u in units if u.start.isoformat() in progress)
    state["skipped_windows"] = [
        w for w in state["skipped_windows"]
        if not _covered(date.fromisoformat(w[0]), date.fromisoformat(w[1]), read)
    ]


def _covered(start: date, end: date, spans: Sequence[Tuple[date, date]]) -> bool:
    """Tell whether the date spans (sorted by start) cover every day of start..end."""
    day = start
    for span_start, span_end in spans:
        if span_start > day:
            break
        day = max(day, span_end + timedelta(days=1))
    return day > end


def _progress_for(state: Dict[str, Any], plan_key: str, units: Sequence[WorkUnit]) -> set:
    """Return the chunk starts already read by this plan, or an empty set for a new sync.

    A sync interrupted part-way resumes where its checkpoint stands; a plan that was finished is
    a new sync and starts over.
    """
    progress = state.get("progress") or {}
    if progress.get("key") != plan_key:
        return set()
    done = set(progress.get("done", []))
    if all(u.start.isoformat() in done for u in units):
        return set()
    return done


def _unit_rows(
    runtime: SyncRuntime, ctx: SchoolContext, unit: WorkUnit, payload: List[Any]
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    meta = {
        "sync_run_id": runtime.run_id,
        "sync_batch": unit.batch,
        "sync_chunk_start": unit.start,
        "sync_chunk_end": unit.end,
    }
    rows: List[Dict[str, Any]] = []
    rejected: List[Dict[str, Any]] = []
    nym = runtime.pseudonymizer

    def reject(raw: Any, reason: str) -> None:
        rejected.append(reject_row(runtime.run_id, unit.school_code, unit.start, unit.end, nym.raw(raw), reason))

    seen: Set[Tuple[Any, date]] = set()
    day = unit.start
    while day <= unit.end:
        rows.append({**tombstone_row(unit.school_code, day), **meta})
        day += timedelta(days=1)
    for student in payload:
        student_id = student.get("StudentID") if isinstance(student, dict) else None
        days = student.get("AttendanceDays") if isinstance(student, dict) else None
        if not isinstance(days, list):
            reject(student, "AttendanceDays missing or not a list")
            continue
        for att_day in days:
            raw = {"StudentID": student_id, "AttendanceDay": att_day}
            try:
                row = attendance_day_row(ctx, student_id, att_day)
            except (RejectedRecord, AttributeError, TypeError) as exc:
                reject(raw, str(exc))
                continue
            if not unit.start <= row["attendance_date"] <= unit.end:
                reject(raw, "CalendarDate outside the requested window")
                continue
            key = (row["student_id"], row["attendance_date"])
            if key in seen:
                reject(raw, "second record of the same student and day in the response")
                continue
            seen.add(key)
            row["student_id"] = nym.student_id(row["student_id"])
            rows.append({**row, **meta})
    return rows, rejected
