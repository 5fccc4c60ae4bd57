"""dlt source for the Aeries SIS v5 API: schools, calendar, absence codes, students, enrollment, attendance."""

import functools
import logging
from datetime import date
from typing import Any, Dict, List, Optional, Sequence

import dlt
from dlt.common import jsonpath as _dlt_jsonpath
from dlt.extract.resource import DltResource

from aeries_source import settings
from aeries_source.attendance import attendance_resource
from aeries_source.calendar_index import CalendarIndex
from aeries_source.checkpoint import (
    attendance_resource_name,
    current_resource_states,
    school_cursor,
    school_failed_windows,
    school_open_from,
    school_skipped_windows,
)
from aeries_source.client import AeriesClient, RetryPolicy
from aeries_source.declared_tables import declared_tables_resource
from aeries_source.errors import AeriesConfigError
from aeries_source.planning import SyncPlan, build_plan
from aeries_source.pseudonym import Pseudonymizer
from aeries_source.reference import absence_codes_resource, calendar_resource, schools_resource
from aeries_source.runtime import SyncRuntime
from aeries_source.students import enrollment_resource, students_resource
from aeries_source.tracking import sync_runs_resource

__all__ = [
    "aeries",
    "AeriesClient",
    "SyncRuntime",
    "active_school_codes",
    "attendance_resource_name",
    "check_school_codes",
    "plan_sync",
]

logger = logging.getLogger(__name__)

# dlt compiles an incremental's cursor path with jsonpath_ng each time one is created, copied or
# bound, and jsonpath_ng builds its whole parser for every parse (~35 ms here). A sync creates
# dozens per checkpoint run: measured, that was most of the checkpoint overhead. Parsing a path
# string is pure, so the parse is cached.
if not hasattr(_dlt_jsonpath._parse, "cache_info"):
    _dlt_jsonpath._parse = functools.lru_cache(maxsize=256)(_dlt_jsonpath._parse)


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
        The resources `schools`, `calendar_days`, `absence_codes`, `students`, `enrollment`, one
        `attendance_<school>` per school (which also write `rejects`, `sync_batches` and
        `data_through`), all writing with merge, and `declared_tables`, which creates those side
        tables before their first row.
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
        return [attendance_resource(runtime, sc, batch_size) for sc in codes if sc in runtime.active_schools]
    fields = tuple(student_fields) if student_fields else settings.DEFAULT_STUDENT_FIELDS
    resources: List[DltResource] = [
        schools_resource(client, codes),
        calendar_resource(client, codes),
        absence_codes_resource(client, codes),
        students_resource(runtime, codes, fields),
        enrollment_resource(runtime, codes, database_year),
    ]
    resources += [attendance_resource(runtime, sc, batch_size) for sc in codes]
    resources.append(declared_tables_resource())
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
        resource_states: The `aeries` source's per-resource state (cursors, failed and skipped chunks);
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
    states = current_resource_states() if resource_states is None else resource_states
    cursors = {sc: school_cursor(states, sc) for sc in codes}
    failed = {sc: school_failed_windows(states, sc) for sc in codes}
    open_from = {sc: school_open_from(states, sc) for sc in codes}
    skipped = {sc: school_skipped_windows(states, sc) for sc in codes}
    plan = build_plan(
        codes, calendars, cursors, year_start, year_end, today, chunk_days, lookback_days, start, end,
        failed, open_from, skipped,
    )
    plan.server_now = server_now
    return plan
