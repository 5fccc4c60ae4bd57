"""dlt source for the Aeries SIS v5 API: schools, calendar, absence codes, students, enrollment, attendance."""

from datetime import date
from typing import List, Optional

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from aeries_source import settings
from aeries_source.attendance import attendance_resource
from aeries_source.checkpoint import attendance_resource_name
from aeries_source.config import AeriesConfiguration, resolve_configuration
from aeries_source.declared_tables import declared_tables_resource
from aeries_source.history import attendance_history_resource
from aeries_source.keys import add_primary_keys
from aeries_source.measures import MeasuresConfiguration, create_measures
from aeries_source.reference import absence_codes_resource, calendar_resource, schools_resource
from aeries_source.runtime import SyncRuntime
from aeries_source.students import enrollment_resource, students_resource
from aeries_source.supabase import lock_down
from aeries_source.sync import active_school_codes, check_school_codes, plan_sync, start_sync

__all__ = [
    "aeries",
    "AeriesConfiguration",
    "SyncRuntime",
    "active_school_codes",
    "add_primary_keys",
    "attendance_resource_name",
    "check_school_codes",
    "create_measures",
    "lock_down",
    "MeasuresConfiguration",
    "plan_sync",
    "resolve_configuration",
    "start_sync",
]


# Defaults of the arguments are AeriesConfiguration's: each setting is declared there, once.
_DEFAULTS = AeriesConfiguration


@dlt.source(name="aeries", max_table_nesting=0, spec=AeriesConfiguration)
def aeries(
    base_url: Optional[str] = dlt.config.value,
    certificate: Optional[TSecretStrValue] = dlt.secrets.value,
    database_year: int = _DEFAULTS.database_year,
    school_year_start: date = _DEFAULTS.school_year_start,
    school_year_end: date = _DEFAULTS.school_year_end,
    start_date: Optional[date] = _DEFAULTS.start_date,
    end_date: Optional[date] = _DEFAULTS.end_date,
    batch_days: int = _DEFAULTS.batch_days,
    rows_per_item: int = _DEFAULTS.rows_per_item,
    school_codes: Optional[List[int]] = _DEFAULTS.school_codes,
    lookback_days: int = _DEFAULTS.lookback_days,
    checkpoint_every: Optional[int] = _DEFAULTS.checkpoint_every,
    checkpoint_seconds: Optional[float] = _DEFAULTS.checkpoint_seconds,
    resume_from_batch: int = _DEFAULTS.resume_from_batch,
    breaker_threshold: int = _DEFAULTS.breaker_threshold,
    student_fields: Optional[List[str]] = _DEFAULTS.student_fields,
    pseudonymize_key: Optional[TSecretStrValue] = _DEFAULTS.pseudonymize_key,
    attendance_history: bool = _DEFAULTS.attendance_history,
    verify_tls: bool = _DEFAULTS.verify_tls,
    ca_bundle: Optional[str] = _DEFAULTS.ca_bundle,
    request_timeout: float = _DEFAULTS.request_timeout,
    request_max_attempts: int = _DEFAULTS.request_max_attempts,
    request_backoff_factor: float = _DEFAULTS.request_backoff_factor,
    request_max_retry_delay: float = _DEFAULTS.request_max_retry_delay,
    request_max_total_wait: float = _DEFAULTS.request_max_total_wait,
    request_jitter: float = _DEFAULTS.request_jitter,
    max_concurrent_requests: int = _DEFAULTS.max_concurrent_requests,
    max_requests_per_second: float = _DEFAULTS.max_requests_per_second,
    sync_runtime: Optional[SyncRuntime] = None,
) -> List[DltResource]:
    """Aeries attendance, students and schools for one district and school year: the whole connector.

    A plain `dlt.pipeline(...).run(aeries())` with `[sources.aeries]` settings checks the server's
    DatabaseYear, plans the sync from the pipeline's state (first load, delta or an explicit
    range; batches an earlier sync failed or skipped; months locked since they were read, so
    `can_be_corrected` follows the locks), reads attendance in batches that replace whole
    school-days, writes `rejects`, `sync_batches` and `data_through`, and checkpoints through dlt
    state. Every setting is documented on `AeriesConfiguration`.

    Args:
        sync_runtime: A sync already started with `start_sync`, to share its plan, client, budget
            and counters across the pipeline runs of one sync (what the command does); other jobs
            leave it out and the source starts its own.

    Returns:
        The resources `schools`, `calendar_days`, `absence_codes`, `students`, `enrollment`,
        `attendance_history_summary` when `attendance_history` is on, one
        `attendance_<school>` per school (which also write `rejects`, `sync_batches` and
        `data_through`), all writing with merge, and `declared_tables`, which creates those side
        tables before their first row.

    Raises:
        AeriesConfigError: Settings that cannot work, a DatabaseYear the server does not offer, an
            unknown school code.
        AeriesCriticalError: Authentication, TLS, DNS or connection-refused failures.
    """
    config = AeriesConfiguration.from_arguments(locals())
    # Without a runtime the plan is made inside the run, from the state of the pipeline that runs
    # the source (not whichever pipeline was current when `aeries()` was called).
    runtime = sync_runtime or start_sync(config, plan_now=False)
    codes = runtime.school_codes
    earliest = min(config.school_year_start, config.start_date or config.school_year_start)
    if runtime.active_schools is not None:
        # A later checkpoint run of the same sync: only attendance that is still to be read.
        return [attendance_resource(runtime, sc, rows_per_item, earliest)
                for sc in codes if sc in runtime.active_schools]
    fields = tuple(student_fields) if student_fields else settings.DEFAULT_STUDENT_FIELDS
    client = runtime.client
    resources: List[DltResource] = [
        schools_resource(client, codes),
        calendar_resource(client, codes),
        absence_codes_resource(client, codes),
        students_resource(runtime, codes, fields),
        enrollment_resource(runtime, codes, database_year),
    ]
    if attendance_history:
        resources.append(attendance_history_resource(runtime, codes, database_year))
    resources += [attendance_resource(runtime, sc, rows_per_item, earliest) for sc in codes]
    resources.append(declared_tables_resource())
    return resources
