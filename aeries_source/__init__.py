"""dlt source for the Aeries SIS v5 API: schools, calendar, absence codes, students, enrollment, attendance."""

import functools
import logging
import time
from datetime import date, datetime, timedelta
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import dlt
from dlt.common import jsonpath as _dlt_jsonpath
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source import settings
from aeries_source.calendar_index import CalendarIndex
from aeries_source.client import AeriesClient, RetryPolicy
from aeries_source.errors import AeriesConfigError, AeriesRequestError
from aeries_source.planning import EXPLICIT, SyncPlan, WorkUnit, build_plan
from aeries_source.pseudonym import Pseudonymizer
from aeries_source.rejects import reject_row
from aeries_source.runtime import SyncRuntime
from aeries_source.tracking import batch_row, sync_batch_hints, sync_runs_resource
from aeries_source.transform import (
    TOMBSTONE_COLUMN,
    RejectedRecord,
    SchoolContext,
    attendance_day_row,
    build_absence_codes,
    snake_record,
    tombstone_row,
)

__all__ = ["aeries", "AeriesClient", "SyncRuntime", "active_school_codes", "attendance_resource_name"]

logger = logging.getLogger(__name__)

# dlt compiles an incremental's cursor path with jsonpath_ng each time one is created, copied or
# bound, and jsonpath_ng builds its whole parser for every parse (~35 ms here). A sync creates
# dozens per checkpoint run: measured, that was most of the checkpoint overhead. Parsing a path
# string is pure, so the parse is cached.
if not hasattr(_dlt_jsonpath._parse, "cache_info"):
    _dlt_jsonpath._parse = functools.lru_cache(maxsize=256)(_dlt_jsonpath._parse)

ATTENDANCE_TABLE = "attendance_records"
ATTENDANCE_KEY = ("school_code", "student_id", "attendance_date")
ATTENDANCE_COLUMNS: Dict[str, Any] = {
    "school_code": {"data_type": "bigint", "nullable": False},
    "student_id": {"data_type": "bigint", "nullable": False},
    "attendance_date": {"data_type": "date", "nullable": False},
    "correction_deadline": {"data_type": "date"},
    "sync_chunk_start": {"data_type": "date"},
    "sync_chunk_end": {"data_type": "date"},
    "sync_batch": {"data_type": "bigint"},
    "sync_run_id": {"data_type": "text"},
    TOMBSTONE_COLUMN: {"data_type": "bool", "hard_delete": True},
}


def attendance_hints() -> Any:
    """Hints of `attendance_records`: merge on the student-day, replace whole school-days.

    A fresh dict per use: dlt may modify hints it is given.
    """
    return dlt.mark.make_hints(
        table_name=ATTENDANCE_TABLE, write_disposition="merge", primary_key=ATTENDANCE_KEY,
        merge_key=("school_code", "attendance_date"), columns=ATTENDANCE_COLUMNS,
    )


def attendance_resource_name(school_code: int) -> str:
    """Name of the per-school attendance resource (and of its state and orchestrator task)."""
    return f"attendance_{school_code}"


def active_school_codes(schools: Sequence[Dict[str, Any]]) -> List[int]:
    """Return the codes of real, active schools: no district entry 0, no inactive setup schools."""
    codes = []
    for school in schools:
        code = school.get("SchoolCode")
        if not isinstance(code, int) or code <= 0:
            continue
        if str(school.get("InactiveStatusCode") or "").strip():
            continue
        codes.append(code)
    return sorted(codes)


def _as_date(value: Any, name: str) -> Optional[date]:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise AeriesConfigError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def _resource_states() -> Dict[str, Any]:
    """Return the per-resource state of the active pipeline's `aeries` source ({} outside a run)."""
    try:
        return dict(dlt.current.source_state().get("resources", {}))
    except Exception:  # no active pipeline: a plain call outside `pipeline.run`
        return {}


def school_cursor(resource_states: Dict[str, Any], school_code: int) -> Optional[date]:
    """Return how far a school's attendance has been read (its incremental cursor), if at all.

    dlt creates the cursor with `last_value = initial_value` as soon as the resource runs, even
    when it read nothing (a checkpointed run may end before the school's first batch), so the
    cursor counts only once a batch of the school has been committed (`has_read`).
    """
    state = resource_states.get(attendance_resource_name(school_code), {})
    if not state.get("has_read"):
        return None
    cursor = (
        state
        .get("incremental", {})
        .get("attendance_date", {})
        .get("last_value")
    )
    return _as_date(cursor, "cursor") if cursor else None


def school_open_from(resource_states: Dict[str, Any], school_code: int) -> Optional[date]:
    """Return the first unlocked day the school had when its last complete sync finished."""
    value = resource_states.get(attendance_resource_name(school_code), {}).get("open_from")
    return date.fromisoformat(value) if value else None


def school_failed_windows(resource_states: Dict[str, Any], school_code: int) -> List[Tuple[date, date]]:
    """Return the chunks of a school that an earlier sync could not read (to retry)."""
    failed = resource_states.get(attendance_resource_name(school_code), {}).get("failed_windows", [])
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in failed]


@dlt.source(name="aeries", max_table_nesting=0)
def aeries(
    base_url: str = dlt.config.value,
    certificate: str = dlt.secrets.value,
    database_year: int = settings.DEFAULT_DATABASE_YEAR,
    start_date: Optional[str] = None,
    end_date: Optional[str] = None,
    chunk_days: int = settings.DEFAULT_CHUNK_DAYS,
    batch_size: int = settings.DEFAULT_BATCH_SIZE,
    school_codes: Optional[List[int]] = None,
    lookback_days: int = settings.DEFAULT_LOOKBACK_DAYS,
    school_year_start: Optional[str] = None,
    school_year_end: Optional[str] = None,
    student_fields: Optional[List[str]] = None,
    pseudonymize_key: Optional[str] = None,
    sync_runtime: Optional[SyncRuntime] = None,
) -> List[DltResource]:
    """Aeries attendance, students and schools for one district and school year.

    Args:
        base_url: The district's Aeries root (`https://host/aeries`); a trailing `/api/v5` is fine.
        certificate: The district's 32-character Aeries API certificate (secret).
        database_year: Starting year of the school year (2024 = 2024-2025).
        start_date: First attendance date to re-read (YYYY-MM-DD); with `end_date` an explicit range.
        end_date: Last attendance date to re-read (inclusive).
        chunk_days: Days per attendance request window.
        batch_size: Attendance records per yielded batch.
        school_codes: Schools to load; default every active school.
        lookback_days: Delta syncs of a school whose calendar locks nothing re-read this many days
            before the cursor.
        school_year_start: First day of the school year (default 2024-08-15).
        school_year_end: Last day of the school year (default 2025-06-12).
        student_fields: Aeries student fields to keep (default `settings.DEFAULT_STUDENT_FIELDS`).
        pseudonymize_key: Secret key; when set, student ids (and state ids, student numbers) are
            replaced by keyed HMAC pseudonyms, the same in every table.
        sync_runtime: Supplied by `pipelines/attendance.py` to share a plan, client and checkpoint
            budget across runs; other jobs leave it out and the source plans for itself.

    Returns:
        The resources `schools`, `calendar_days`, `absence_codes`, `students`, `enrollment` and one
        `attendance_<school>` per school, all writing with merge.
    """
    runtime = sync_runtime
    if runtime is None:
        runtime = _standalone_runtime(
            base_url, certificate, database_year, start_date, end_date, chunk_days,
            school_codes, lookback_days, school_year_start, school_year_end,
        )
        runtime.pseudonymizer = Pseudonymizer(pseudonymize_key)
    if batch_size <= 0:
        raise AeriesConfigError("batch_size must be a positive number of records")
    client = runtime.client
    codes = runtime.plan.school_codes
    if runtime.active_schools is not None:
        # A later checkpoint run of the same sync: only attendance that is still to be read.
        return [_attendance_resource(runtime, sc, batch_size) for sc in codes if sc in runtime.active_schools]
    fields = tuple(student_fields) if student_fields else settings.DEFAULT_STUDENT_FIELDS
    resources: List[DltResource] = [
        _schools_resource(client, codes),
        _calendar_resource(client, codes),
        _absence_codes_resource(client, codes),
        _students_resource(runtime, codes, fields),
        _enrollment_resource(runtime, codes, database_year),
    ]
    resources += [_attendance_resource(runtime, sc, batch_size) for sc in codes]
    if runtime.run_row is not None:
        resources.append(sync_runs_resource(runtime.run_row()))
    return resources


def _standalone_runtime(
    base_url: str,
    certificate: str,
    database_year: int,
    start_date: Optional[str],
    end_date: Optional[str],
    chunk_days: int,
    school_codes: Optional[List[int]],
    lookback_days: int,
    school_year_start: Optional[str],
    school_year_end: Optional[str],
) -> SyncRuntime:
    client = AeriesClient(base_url, certificate, database_year, RetryPolicy())
    plan = plan_sync(
        client, school_codes, _as_date(start_date, "start_date"), _as_date(end_date, "end_date"),
        chunk_days, lookback_days,
        _as_date(school_year_start, "school_year_start") or settings.DEFAULT_START_DATE,
        _as_date(school_year_end, "school_year_end") or settings.DEFAULT_END_DATE,
    )
    return SyncRuntime(client=client, plan=plan)


def check_school_codes(client: AeriesClient, school_codes: Optional[Sequence[int]]) -> List[int]:
    """Return the schools to sync: the requested ones, checked against the server, or every active one.

    Raises:
        AeriesConfigError: When a requested code is not an active school of the district.
    """
    available = active_school_codes(client.schools())
    if not school_codes:
        return available
    unknown = sorted(set(int(c) for c in school_codes) - set(available))
    if unknown:
        raise AeriesConfigError(
            f"school code(s) {', '.join(map(str, unknown))} are not active schools of this district "
            f"(active: {', '.join(map(str, available))})"
        )
    return sorted(set(int(c) for c in school_codes))


def plan_sync(
    client: AeriesClient,
    school_codes: Optional[Sequence[int]],
    start: Optional[date],
    end: Optional[date],
    chunk_days: int,
    lookback_days: int,
    year_start: date,
    year_end: date,
    resource_states: Optional[Dict[str, Any]] = None,
) -> SyncPlan:
    """Ask the server for its schools, calendars and clock and decide what the sync reads.

    Args:
        resource_states: The `aeries` source's per-resource state (cursors, failed chunks);
            default: the active pipeline's.

    Raises:
        AeriesConfigError: When a requested school code is not an active school of the district.
    """
    if chunk_days <= 0:
        raise AeriesConfigError("chunk_days must be a positive number of days")
    codes = check_school_codes(client, school_codes)
    server_now = client.server_now()
    today = server_now.date()
    calendars = {sc: CalendarIndex(client.calendar(sc)) for sc in codes}
    states = _resource_states() if resource_states is None else resource_states
    cursors = {sc: school_cursor(states, sc) for sc in codes}
    failed = {sc: school_failed_windows(states, sc) for sc in codes}
    open_from = {sc: school_open_from(states, sc) for sc in codes}
    plan = build_plan(
        codes, calendars, cursors, year_start, year_end, today, chunk_days, lookback_days, start, end,
        failed, open_from,
    )
    plan.server_now = server_now
    return plan


def _schools_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    @dlt.resource(name="schools", write_disposition="merge", primary_key="school_code",
                  columns={"terms": {"data_type": "json"}})
    def schools() -> Iterator[TDataItems]:
        wanted = set(codes)
        yield [
            snake_record(s, date_fields=()) for s in client.schools() if s.get("SchoolCode") in wanted
        ]

    return schools


def _calendar_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    @dlt.resource(name="calendar_days", write_disposition="merge",
                  primary_key=("school_code", "calendar_date"), merge_key="school_code",
                  columns={"calendar_date": {"data_type": "date"}, "track_holidays": {"data_type": "json"}})
    def calendar_days() -> Iterator[TDataItems]:
        for sc in codes:
            rows = []
            for row in client.calendar(sc):
                out = snake_record(row, date_fields=("CalendarDate",))
                out["is_instructional_day"] = out.get("holiday_code", "") in ("", "%")
                rows.append(out)
            yield rows

    return calendar_days


def _absence_codes_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    @dlt.resource(name="absence_codes", write_disposition="merge",
                  primary_key=("school_code", "absence_code"), merge_key="school_code")
    def absence_codes() -> Iterator[TDataItems]:
        from aeries_source.status import status_for_type_code

        for sc in codes:
            rows = []
            for row in client.absence_codes(sc):
                out = snake_record(row)
                type_code = row.get("TypeCode")
                out["status"] = status_for_type_code(type_code) if isinstance(type_code, int) else None
                rows.append(out)
            yield rows

    return absence_codes


def _changed_students(runtime: SyncRuntime, watermark: Optional[str]) -> Optional[Dict[int, set]]:
    """Students changed since `watermark` by StudentDataChanges, per school; None without a watermark.

    Both the `student` and `enrollment` areas are read: a withdrawal or a new enrollment touches
    either, and both tables need the re-fetch.
    """
    if not watermark:
        return None
    since = datetime.fromisoformat(watermark) - timedelta(minutes=settings.DATA_CHANGES_OVERLAP_MINUTES)
    changed: Dict[int, set] = {}
    for area in ("student", "enrollment"):
        for item in runtime.client.data_changes(area, since):
            sid, sc = item.get("StudentID"), item.get("SchoolCode")
            if isinstance(sid, int) and isinstance(sc, int):
                changed.setdefault(sc, set()).add(sid)
    return changed


def _full_refresh(runtime: SyncRuntime, changed: Optional[Dict[int, set]], school_code: int) -> bool:
    plan = runtime.plan
    return changed is None or plan.mode == EXPLICIT or school_code in plan.first_load_schools


def _students_hints(columns: Dict[str, Any]) -> Any:
    # No merge key: a delta load holds only the changed students and must not replace the others.
    return dlt.mark.make_hints(table_name="students", write_disposition="merge",
                               primary_key=("student_id", "school_code"), columns=dict(columns))


def _students_resource(runtime: SyncRuntime, codes: Sequence[int], fields: Sequence[str]) -> DltResource:
    client = runtime.client
    date_fields = [f for f in settings.STUDENT_DATE_FIELDS if f in fields]
    wanted = set(_snake_all(fields))
    columns: Dict[str, Any] = {c: {"data_type": "date"} for c in (
        "birthdate", "school_enter_date", "district_enter_date", "school_leave_date") if c in wanted}
    columns[TOMBSTONE_COLUMN] = {"data_type": "bool", "hard_delete": True}
    if runtime.pseudonymizer.enabled:
        columns.update({"state_student_id": {"data_type": "text"}, "student_number": {"data_type": "text"}})

    def rows(sc: int, records: List[Dict[str, Any]]) -> Iterator[Any]:
        good, rejected = _transform_records(runtime, sc, "students", records,
                                            lambda r: _student_row(r, fields, date_fields))
        if rejected:
            yield _rejects_item(rejected)
        if good:
            yield dlt.mark.with_hints(good, _students_hints(columns), create_table_variant=True)

    # Items name their tables through hints (students, rejects): see _attendance_resource.
    @dlt.resource(name="students", write_disposition="merge")
    def students() -> Iterator[TDataItems]:
        state = dlt.current.resource_state()
        changed = _changed_students(runtime, state.get("watermark"))
        for sc in codes:
            if _full_refresh(runtime, changed, sc):
                for page in client.students(sc):
                    yield from rows(sc, page)
                continue
            for sid in sorted(changed.get(sc, ())):  # type: ignore[union-attr]
                records = [r for r in client.student(sc, sid) if r.get("SchoolCode", sc) == sc]
                if records:
                    yield from rows(sc, records)
                else:  # no longer at this school in Aeries: remove the row
                    tombstone = {"student_id": runtime.pseudonymizer.student_id(sid), "school_code": sc,
                                 TOMBSTONE_COLUMN: True}
                    yield dlt.mark.with_hints([tombstone], _students_hints(columns), create_table_variant=True)
        if runtime.plan.server_now is not None:
            state["watermark"] = runtime.plan.server_now.isoformat()

    return students


def _transform_records(runtime: SyncRuntime, school_code: int, endpoint: str, records: List[Dict[str, Any]],
                       transform: Any) -> "tuple[List[Dict[str, Any]], List[Dict[str, Any]]]":
    """Transform records; those that fail go to `rejects` instead of failing the run."""
    good, rejected = [], []
    for record in records:
        try:
            good.append(runtime.pseudonymizer.row(transform(record)))
        except (RejectedRecord, AttributeError, TypeError, ValueError) as exc:
            rejected.append(reject_row(runtime.run_id, school_code, None, None,
                                       runtime.pseudonymizer.raw(record), str(exc), endpoint))
    if rejected:
        runtime.count_rejects(len(rejected))
    return good, rejected


def _student_row(record: Dict[str, Any], fields: Sequence[str], date_fields: Sequence[str]) -> Dict[str, Any]:
    if not isinstance(record.get("StudentID"), int) or not isinstance(record.get("SchoolCode"), int):
        raise RejectedRecord("StudentID or SchoolCode missing or not an integer")
    row = snake_record(record, fields=fields, date_fields=date_fields)
    row[TOMBSTONE_COLUMN] = False
    return row


def _snake_all(fields: Sequence[str]) -> List[str]:
    from aeries_source.transform import snake_case

    return [snake_case(f) for f in fields]


# Placeholder enter date of the tombstone that clears a student's enrollment rows (the key column
# is NOT NULL; no real enrollment starts on it).
_TOMBSTONE_ENTER_DATE = date(1900, 1, 1)


def _enrollment_hints() -> Any:
    # The merge key replaces all of a student's rows at a school for the year, which serves both a
    # full school refresh and a re-fetch of single changed students.
    return dlt.mark.make_hints(
        table_name="enrollment", write_disposition="merge",
        primary_key=("student_id", "school_code", "academic_year", "enter_date"),
        merge_key=("student_id", "school_code", "academic_year"),
        columns={"enter_date": {"data_type": "date", "nullable": False},
                 "leave_date": {"data_type": "date"},
                 "academic_year": {"data_type": "text", "nullable": False},
                 TOMBSTONE_COLUMN: {"data_type": "bool", "hard_delete": True}},
    )


def _enrollment_resource(runtime: SyncRuntime, codes: Sequence[int], year: int) -> DltResource:
    client = runtime.client

    @dlt.resource(name="enrollment", write_disposition="merge")
    def enrollment() -> Iterator[TDataItems]:
        state = dlt.current.resource_state()
        changed = _changed_students(runtime, state.get("watermark"))
        for sc in codes:
            if _full_refresh(runtime, changed, sc):
                records, tombstones = client.enrollment(sc, year), []
            else:
                records, tombstones = [], []
                for sid in sorted(changed.get(sc, ())):  # type: ignore[union-attr]
                    records += client.student_enrollment(sc, sid, year)
                    # The tombstone clears the student's rows first (merge key), so rows Aeries no
                    # longer has disappear; the fetched rows are then inserted.
                    tombstones.append({"student_id": runtime.pseudonymizer.student_id(sid), "school_code": sc,
                                       "academic_year": str(year), "enter_date": _TOMBSTONE_ENTER_DATE,
                                       TOMBSTONE_COLUMN: True})
            good, rejected = _transform_records(runtime, sc, "enrollment", records, _enrollment_row)
            if rejected:
                yield _rejects_item(rejected)
            if tombstones or good:
                yield dlt.mark.with_hints(tombstones + good, _enrollment_hints(), create_table_variant=True)
        if runtime.plan.server_now is not None:
            state["watermark"] = runtime.plan.server_now.isoformat()

    return enrollment


def _enrollment_row(record: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(record.get("StudentID"), int) or not isinstance(record.get("SchoolCode"), int):
        raise RejectedRecord("StudentID or SchoolCode missing or not an integer")
    row = snake_record(record, date_fields=settings.ENROLLMENT_DATE_FIELDS)
    if row.get("enter_date") is None:
        raise RejectedRecord("EnterDate is missing")
    row["academic_year"] = str(row.get("academic_year", ""))
    row[TOMBSTONE_COLUMN] = False
    return row


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


def _attendance_resource(runtime: SyncRuntime, school_code: int, batch_size: int) -> DltResource:
    name = attendance_resource_name(school_code)
    units = runtime.plan.units_for(school_code)
    # The cursor records how far attendance has been read (its last_value). A lag longer than any
    # school year pins start_value to initial_value (this sync's earliest window start), so the
    # incremental never drops rows of a window that deliberately re-reads days before the cursor.
    initial = min((u.start for u in units), default=settings.DEFAULT_START_DATE)
    plan_key = "|".join(f"{u.start}:{u.end}" for u in units)

    # Every item names its table through hints (attendance_records, rejects, sync_batches): a
    # resource-level column hint would leak into the side tables as columns of their own.
    @dlt.resource(name=name, write_disposition="merge", parallelized=True)
    def attendance(
        cursor: dlt.sources.incremental[date] = dlt.sources.incremental[date](
            "attendance_date", initial_value=initial, lag=3660, primary_key=(),
            # rejects and sync_batches rows ride along in this resource without a cursor field
            on_cursor_value_missing="include",
        ),
    ) -> Iterator[TDataItems]:
        if not units:
            return
        state = dlt.current.resource_state(name)
        progress = _progress_for(state, plan_key, units)
        failed = {tuple(w) for w in state.get("failed_windows", [])}
        ctx = _school_context(runtime.client, school_code)
        breaker = runtime.breaker(school_code)
        for unit in units:
            if runtime.is_skipped(unit):
                continue
            window = (unit.start.isoformat(), unit.end.isoformat())
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
            if not runtime.budget.take():
                return
            started, attempts = time.monotonic(), runtime.client.thread_attempts()
            try:
                rows, rejected = _unit_rows(runtime, ctx, unit)
            except AeriesRequestError as exc:
                requests_made = runtime.client.thread_attempts() - attempts
                breaker.record_failure(runtime.client.retry.max_attempts)
                runtime.mark_failed(unit, exc.error_class)
                failed.add(window)
                state["failed_windows"] = sorted(failed)
                logger.warning("batch %d (school %d, %s..%s) failed: %s", unit.batch, school_code,
                               unit.start, unit.end, exc)
                yield _batch_record(runtime, unit, "failed", requests=requests_made,
                                    seconds=time.monotonic() - started, error_class=exc.error_class)
                continue
            # Counted now: after a yield the generator may resume on another worker thread.
            requests_made, seconds = runtime.client.thread_attempts() - attempts, time.monotonic() - started
            breaker.record_success()
            # Checkpoint before the yield: committed together with these rows or not at all.
            progress.add(window[0])
            failed.discard(window)
            state["progress"] = {"key": plan_key, "done": sorted(progress)}
            state["failed_windows"] = sorted(failed)
            state["has_read"] = True
            if rejected:
                runtime.count_rejects(len(rejected))
                yield _rejects_item(rejected)
            for i in range(0, len(rows), batch_size):
                yield dlt.mark.with_hints(rows[i : i + batch_size], attendance_hints(), create_table_variant=True)
            records = sum(1 for r in rows if not r[TOMBSTONE_COLUMN])
            yield _batch_record(runtime, unit, "done", rows=records, requests=requests_made, seconds=seconds)
            runtime.mark_done(unit, records, extracted=True)
        if all(u.start.isoformat() in progress for u in units if not runtime.is_skipped(u)):
            # The whole plan was read: from here on, months still open now may change before they
            # lock, so the next delta sync starts no later than today's first unlocked day.
            open_from = ctx.calendar.first_unlocked_day()
            state["open_from"] = open_from.isoformat() if open_from else None

    return attendance


def _batch_record(runtime: SyncRuntime, unit: WorkUnit, status: str, **fields: Any) -> Any:
    row = batch_row(runtime.run_id, unit, status, **fields)
    return dlt.mark.with_hints([row], sync_batch_hints(), create_table_variant=True)


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


def _rejects_item(rows: List[Dict[str, Any]]) -> Any:
    return dlt.mark.with_hints(rows, _reject_hints(), create_table_variant=True)


def _reject_hints() -> Any:
    """Hints of the `rejects` table (a fresh dict per use: dlt may modify hints it is given)."""
    return dlt.mark.make_hints(
        table_name="rejects", write_disposition="merge", primary_key="reject_id",
        columns={"window_start": {"data_type": "date"}, "window_end": {"data_type": "date"},
                 "raw_payload": {"data_type": "text"}},
    )


def _unit_rows(
    runtime: SyncRuntime, ctx: SchoolContext, unit: WorkUnit
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    payload = runtime.client.attendance(unit.school_code, unit.start, unit.end)
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
            row["student_id"] = nym.student_id(row["student_id"])
            rows.append({**row, **meta})
    return rows, rejected
