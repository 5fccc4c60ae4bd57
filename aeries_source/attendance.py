"""The per-school attendance resources: date-chunked reads, checkpoints, breaker, window replace."""

import logging
import time
from datetime import date, timedelta
from typing import Any, Dict, Iterator, List, Sequence, Set, Tuple, Union

import dlt
import pyarrow as pa
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source.attendance_columns import batch_values_of, vector_attendance_table
from aeries_source.attendance_response import AttendanceResponse
from aeries_source.attendance_table import DLT_ROW_COLUMNS, attendance_table, with_dlt_row_columns
from aeries_source.calendar_index import CalendarIndex
from aeries_source.checkpoint import attendance_resource_name, note_batch_read
from aeries_source.client import AeriesClient
from aeries_source.data_through import data_through_items
from aeries_source.errors import AeriesRequestError
from aeries_source.planning import Batch
from aeries_source.rejects import reject_row
from aeries_source.runtime import SyncRuntime
from aeries_source.sync_batches import batch_row
from aeries_source.tables import ATTENDANCE_RECORDS, DATA_THROUGH, REJECTS, SYNC_BATCHES
from aeries_source.transform import (
    RejectedRecord,
    SchoolContext,
    attendance_day_row,
    build_absence_codes,
    tombstone_row,
)

logger = logging.getLogger(__name__)

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


def attendance_resource(runtime: SyncRuntime, school_code: int, rows_per_item: int, earliest: date) -> DltResource:
    """The `attendance_<school>` resource: the school's planned batches, read in order and checkpointed.

    Args:
        earliest: The earliest date any batch of the sync can start (the school year's start, or
            an explicit start before it).
    """
    name = attendance_resource_name(school_code)
    # The cursor records how far attendance has been read (its last_value). A lag longer than any
    # school year pins start_value to initial_value (no later than any batch of the sync), so the
    # incremental never drops rows of a batch that deliberately re-reads days before the cursor.
    cursor = dlt.sources.incremental[date](
        "attendance_date", initial_value=earliest, lag=3660, primary_key=(),
        # rejects, sync_batches and data_through rows ride along in this resource without a cursor field
        on_cursor_value_missing="include",
    )

    def items() -> Iterator[TDataItems]:
        # Planned here, not when the source is built: inside the run, state is the running pipeline's.
        batches = runtime.ensure_plan().batches_for(school_code)
        plan_key = "|".join(f"{u.start}:{u.end}" for u in batches)
        known = dlt.current.source_schema().tables.get(ATTENDANCE_RECORDS.name, {}).get("columns", {})
        legacy_columns = [c for c in DLT_ROW_COLUMNS
                          if c in known or c in runtime.row_columns.get(ATTENDANCE_RECORDS.name, ())]
        yield from _gathered(_read_school(runtime, name, school_code, batches, plan_key), rows_per_item, legacy_columns)
        yield from data_through_items(runtime, name, school_code, batches)
        runtime.resource_finished()

    # Built from a generator object, not a decorated function: dlt resolves configuration for
    # every call of a decorated resource function (a few ms each in the profile, 10 resources
    # per checkpoint run), and these resources take nothing from config. Every item names its
    # table (attendance_records, rejects, sync_batches, data_through), each declared on the resource
    # as a variant: a resource-level column hint would leak into the side tables as columns of their own.
    resource = dlt.resource(items(), name=name, write_disposition="merge", parallelized=True, incremental=cursor)
    for table in (ATTENDANCE_RECORDS, REJECTS, SYNC_BATCHES, DATA_THROUGH):
        table.declare_on(resource)
    return resource


def _read_school(
    runtime: SyncRuntime, name: str, school_code: int, batches: Sequence[Batch], plan_key: str
) -> Iterator[TDataItems]:
    """Read a school's batches in order, as far as this run's budget allows, checkpointing each.

    Yields each batch's attendance as a bare Arrow table (`_gathered` marks it) and the other
    tables' rows marked with their table.
    """
    if not batches:
        return
    state = dlt.current.resource_state(name)
    progress = _progress_for(state, plan_key, batches)
    failed_before: List[Any] = state.get("failed_windows", [])  # the key's name in earlier versions
    failed = {tuple(w) for w in state.get("failed_batches", failed_before)}
    read_before = _read_by_plan(state, plan_key)
    ctx = _school_context(runtime.client, school_code)
    breaker = runtime.breaker(school_code)
    for batch in batches:
        window = (batch.start.isoformat(), batch.end.isoformat())
        if runtime.is_skipped(batch):
            _skip(runtime, state, batch, window, progress, read_before)
            continue
        if window[0] in progress:
            runtime.mark_done(batch)
            continue
        if runtime.has_failed(batch):
            continue  # failed earlier in this sync: recorded in failed_batches for the next sync
        if breaker.is_open:
            runtime.mark_failed(batch, "circuit_breaker_open")
            failed.add(window)
            state["failed_batches"] = sorted(failed)
            yield _batch_record(runtime, batch, "skipped", error_class="circuit_breaker_open")
            continue
        if not runtime.budget.take(school_code):
            return
        read = runtime.read_window(batch)
        if read.error is not None and not isinstance(read.error, AeriesRequestError):
            raise read.error  # critical: stops the sync
        if read.error is not None:
            breaker.record_failure(max(read.requests, 1))
            runtime.mark_failed(batch, read.error.error_class)
            failed.add(window)
            state["failed_batches"] = sorted(failed)
            logger.warning("batch %d (school %d, %s..%s) failed: %s", batch.number, school_code,
                           batch.start, batch.end, read.error)
            yield _batch_record(runtime, batch, "failed", requests=read.requests,
                                seconds=read.seconds, error_class=read.error.error_class)
            continue
        started = time.monotonic()
        table, records, rejected = _batch_table(runtime, ctx, batch, read.payload or [])
        requests_made, seconds = read.requests, read.seconds + time.monotonic() - started
        # The decoded response (megabytes of Python objects) must not stay referenced while this
        # generator waits at a yield: with a school per resource that was most of the peak memory.
        del read
        breaker.record_success()
        # Checkpoint before the yield: committed together with these rows or not at all.
        progress.add(window[0])
        failed.discard(window)
        state["progress"] = {"key": plan_key, "done": sorted(progress)}
        state["failed_batches"] = sorted(failed)
        _forget_read_skips(state, batches, progress)
        note_batch_read(state, ctx.calendar, batch.start, batch.end)
        state["has_read"] = True
        if rejected:
            runtime.count_rejects(len(rejected))
            yield dlt.mark.with_table_name(rejected, REJECTS.name)
        yield table
        # Nor the batch's table, once dlt has it: this generator waits with its locals at every
        # yield and during its next request, and each school's resource is one such generator.
        del table
        yield _batch_record(runtime, batch, "done", rows=records, requests=requests_made, seconds=seconds)
        runtime.mark_done(batch, records, extracted=True)
    if all(u.start.isoformat() in progress for u in batches):
        # The whole plan was read (a batch skipped by --resume-from-batch counts only if an earlier
        # sync of this plan read it): from here on, months still open now may change before they
        # lock, so the next delta sync starts no later than today's first unlocked day.
        open_from = ctx.calendar.first_unlocked_day()
        state["open_from"] = open_from.isoformat() if open_from else None


def _gathered(items: Iterator[Any], rows_per_item: int, legacy_columns: Sequence[str] = ()) -> Iterator[Any]:
    """Pass items on, gathering the attendance tables of consecutive batches into items of `rows_per_item` rows or more.

    With the default (1) every batch is its own item. Gathering saved dlt's per-item schema work
    once; it now costs memory in every school's resource at once and saves no time (see
    `settings.DEFAULT_ROWS_PER_ITEM`). Gathering within a pipeline run changes nothing about
    checkpoints: the run's state and all its items are committed together, or none of them.

    Args:
        legacy_columns: dlt's row columns the destination table has (`with_dlt_row_columns`).
    """
    pending: List[pa.Table] = []
    rows = 0

    def item_of(tables: List[pa.Table]) -> Any:
        table = pa.concat_tables(tables)
        tables.clear()  # held by the item alone while this generator waits for its next batch
        if legacy_columns:
            table = with_dlt_row_columns(table, legacy_columns, dlt.current.load_package_state()["load_id"])
        return dlt.mark.with_table_name(table, ATTENDANCE_RECORDS.name)

    for item in items:
        if not isinstance(item, pa.Table):
            yield item
            continue
        pending.append(item)
        rows += item.num_rows
        del item  # this frame waits for the next batch without it (`item_of` empties `pending` too)
        if rows >= rows_per_item:
            yield item_of(pending)
            pending, rows = [], 0
    if pending:
        yield item_of(pending)


def _batch_record(runtime: SyncRuntime, batch: Batch, status: str, **fields: Any) -> Any:
    row = batch_row(runtime.run_id, batch, status, **fields)
    runtime.batch_rows.append(row)
    return dlt.mark.with_table_name([row], SYNC_BATCHES.name)


def _read_by_plan(state: Dict[str, Any], plan_key: str) -> Set[str]:
    """Return the chunk starts that syncs of this same plan committed, whether the plan finished or not.

    Unlike `_progress_for`, a finished plan counts too: this tells whether a batch skipped by
    `--resume-from-batch` is already in the destination.
    """
    progress = state.get("progress") or {}
    return set(progress.get("done", [])) if progress.get("key") == plan_key else set()


def _skip(
    runtime: SyncRuntime, state: Dict[str, Any], batch: Batch, window: Tuple[str, str], progress: Set[str],
    read_before: Set[str],
) -> None:
    """Account for a batch that `--resume-from-batch` excludes, so that skipping never leaves a hole.

    A batch that an earlier sync of the same plan (the school's same windows) committed is in the
    destination: the usual case of resuming after a crash with the numbers `--dry-run` shows. It
    counts as done and as part of this plan's progress, although its rows are only as fresh as that
    sync. Any other batch has not been read: its window is remembered in the school's
    `skipped_batches`, which the next sync's plan adds (`planning.build_plan`), and it is reported
    as skipped. Re-reading replaces a window, so remembering too much costs requests, never data.
    """
    if window[0] in read_before:
        progress.add(window[0])
        runtime.mark_done(batch)
        return
    skipped = {tuple(w) for w in state.get("skipped_batches", [])}
    state["skipped_batches"] = sorted(skipped | {window})
    runtime.mark_skipped(batch)


def _forget_read_skips(state: Dict[str, Any], batches: Sequence[Batch], progress: Set[str]) -> None:
    """Drop the remembered skipped windows that batches of this plan have now read in full.

    Compared by coverage, not equality: a later plan may cut a remembered window into other chunks
    (another `batch_days`, or a main window that spans it).
    """
    if not state.get("skipped_batches"):
        return
    read = sorted((u.start, u.end) for u in batches if u.start.isoformat() in progress)
    state["skipped_batches"] = [
        w for w in state["skipped_batches"]
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


def _progress_for(state: Dict[str, Any], plan_key: str, batches: Sequence[Batch]) -> set:
    """Return the chunk starts already read by this plan, or an empty set for a new sync.

    A sync interrupted part-way resumes where its checkpoint stands; a plan that was finished is
    a new sync and starts over.
    """
    progress = state.get("progress") or {}
    if progress.get("key") != plan_key:
        return set()
    done = set(progress.get("done", []))
    if all(u.start.isoformat() in done for u in batches):
        return set()
    return done


def _batch_table(
    runtime: SyncRuntime, ctx: SchoolContext, batch: Batch, payload: Union[AttendanceResponse, List[Any]]
) -> Tuple[pa.Table, int, List[Dict[str, Any]]]:
    """Turn one batch's payload into its Arrow table (a tombstone per day first), its record count and rejects.

    A response Arrow parsed is transformed column by column (`attendance_columns`); one with any
    record to reject, or that Arrow could not parse, row by row here.
    """
    batch_values = batch_values_of(batch, runtime.run_id)
    if isinstance(payload, AttendanceResponse):
        if payload.students is not None:
            built = vector_attendance_table(ctx, batch, payload.students, runtime.pseudonymizer, batch_values)
            if built is not None:
                return built[0], built[1], []
        payload = payload.records()
    rows: List[Dict[str, Any]] = [tombstone_row(batch.school_code, day) for day in batch.days()]
    rejected: List[Dict[str, Any]] = []
    nym = runtime.pseudonymizer

    def reject(raw: Any, reason: str) -> None:
        rejected.append(reject_row(runtime.run_id, batch.school_code, batch.start, batch.end, nym.raw(raw), reason))

    seen: Set[Tuple[Any, date]] = set()
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
            if not batch.start <= row["attendance_date"] <= batch.end:
                reject(raw, "CalendarDate outside the requested window")
                continue
            key = (row["student_id"], row["attendance_date"])
            if key in seen:
                reject(raw, "second record of the same student and day in the response")
                continue
            seen.add(key)
            row["student_id"] = nym.student_id(row["student_id"])
            rows.append(row)
    return attendance_table(rows, batch_values), len(seen), rejected
