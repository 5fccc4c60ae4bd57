"""Runs one sync: validates, plans, extracts in checkpointed pipeline runs and summarises."""

import contextlib
import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from aeries_source import aeries, attendance_resource_name, check_school_codes, plan_sync, settings
from aeries_source.audit import AuditTrail, actor, record_read
from aeries_source.changes import ChangeCounts, diff, snapshot, window_filter
from aeries_source.client import AeriesClient, EndpointRead, RetryPolicy
from aeries_source.destinations import DuckDb, Postgres
from aeries_source.errors import AeriesConfigError, AeriesCriticalError, AeriesError
from aeries_source.failure_causes import (
    EXIT_BAD_INPUT,  # noqa: F401  (re-exported: pipelines/attendance.py imports it from here)
    EXIT_CRITICAL,
    EXIT_OK,
    EXIT_PARTIAL,
    classify_failure,
    find_cause,
    one_line,
    root_cause,
)
from aeries_source.planning import DELTA, SchoolWindow, SyncPlan, WorkUnit, batch_ranges, check_resume_from_batch
from aeries_source.prefetch import AttendancePrefetcher
from aeries_source.pseudonym import Pseudonymizer
from aeries_source.runtime import SyncRuntime, UnitBudget
from aeries_source.tracking import safe_config, sync_runs_resource

logger = logging.getLogger(__name__)


# Indexes besides the primary keys: the merge of `attendance_records` deletes by its merge key.
SECONDARY_INDEXES: Dict[str, Sequence[Sequence[str]]] = {
    "attendance_records": (("school_code", "attendance_date"),),
}


@dataclass
class SyncOptions:
    """Everything one sync needs; built by `pipelines/attendance.py` from flags and `.dlt` config."""

    base_url: str
    certificate: str
    database_year: int = settings.DEFAULT_DATABASE_YEAR
    start_date: Optional[date] = None
    end_date: Optional[date] = None
    school_year_start: date = settings.DEFAULT_START_DATE
    school_year_end: date = settings.DEFAULT_END_DATE
    chunk_days: int = settings.DEFAULT_CHUNK_DAYS
    batch_size: int = settings.DEFAULT_BATCH_SIZE
    school_codes: Optional[List[int]] = None
    lookback_days: int = settings.DEFAULT_LOOKBACK_DAYS
    resume_from_batch: int = 0
    checkpoint_every: int = settings.DEFAULT_CHECKPOINT_EVERY
    breaker_threshold: int = 10
    student_fields: Optional[List[str]] = None
    destination: str = "duckdb"
    duckdb_path: Optional[str] = None
    postgres_credentials: Optional[str] = None
    dataset_name: str = "aeries"
    pipeline_name: str = "aeries_attendance"
    pipelines_dir: Optional[str] = None
    dry_run: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_tls: Union[bool, str] = True
    pseudonymize_key: Optional[str] = None
    audit_log: Optional[str] = None


@dataclass
class SyncResult:
    """What a sync did, for the summary and the exit code."""

    exit_code: int
    status: str
    message: str = ""
    plan: Optional[SyncPlan] = None
    run_id: str = ""
    rows: Dict[str, int] = field(default_factory=dict)
    attendance_records: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    errors: Dict[str, int] = field(default_factory=dict)
    failed_batches: Dict[int, str] = field(default_factory=dict)
    skipped_batches: List[int] = field(default_factory=list)
    skipped_schools: List[int] = field(default_factory=list)
    rejects: int = 0
    pipeline_runs: int = 0
    changes: Dict[str, ChangeCounts] = field(default_factory=dict)

    @property
    def records_per_second(self) -> float:
        """Attendance records loaded per second of the whole sync."""
        return self.attendance_records / self.seconds if self.seconds > 0 else 0.0


def validate_options(options: SyncOptions) -> None:
    """Refuse options that cannot work, before anything is requested or written.

    Raises:
        AeriesConfigError: With one line naming the problem and how to fix it.
    """
    if not options.base_url:
        raise AeriesConfigError(
            "no Aeries server configured: set SOURCES__AERIES__BASE_URL and SOURCES__AERIES__CERTIFICATE "
            "(or .dlt/secrets.toml), or run with --demo"
        )
    if not options.certificate:
        raise AeriesConfigError("no Aeries certificate configured: set SOURCES__AERIES__CERTIFICATE")
    if options.chunk_days <= 0:
        raise AeriesConfigError("chunk_days must be a positive number of days")
    if options.batch_size <= 0:
        raise AeriesConfigError("batch_size must be a positive number of records")
    if options.checkpoint_every <= 0:
        raise AeriesConfigError("checkpoint_every must be a positive number of batches")
    if options.resume_from_batch < 0:
        raise AeriesConfigError("resume_from_batch cannot be negative")
    if options.lookback_days < 0:
        raise AeriesConfigError("lookback_days cannot be negative")
    if options.start_date and options.end_date and options.end_date < options.start_date:
        raise AeriesConfigError(
            f"end date {options.end_date} is before start date {options.start_date}"
        )
    if options.school_year_end < options.school_year_start:
        raise AeriesConfigError("school_year_end is before school_year_start")
    if options.destination not in ("duckdb", "postgres"):
        raise AeriesConfigError("destination must be duckdb or postgres")
    if not options.dataset_name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", options.dataset_name):
        raise AeriesConfigError("dataset name must be letters, digits and underscores, not starting with a digit")
    catalog = Path(duckdb_file(options)).stem
    if options.destination == "duckdb" and catalog.lower() == options.dataset_name.lower():
        # DuckDB names the database after its file; a schema of the same name makes every
        # reference ambiguous and dlt's first load fails part-way.
        raise AeriesConfigError(
            f"the DuckDB file {catalog}.duckdb and the dataset {options.dataset_name!r} have the same name, "
            "which DuckDB cannot tell apart: choose another --dataset-name or --duckdb-path"
        )
    if options.breaker_threshold < 1:
        raise AeriesConfigError("breaker_threshold must be at least 1 failed request")
    retry = options.retry
    if retry.max_attempts < 1:
        raise AeriesConfigError("request_max_attempts must be at least 1")
    if retry.timeout <= 0:
        raise AeriesConfigError("request_timeout must be a positive number of seconds")
    if retry.backoff_factor < 0 or retry.max_delay < 0 or retry.jitter < 0:
        raise AeriesConfigError("request_backoff_factor and request_max_retry_delay cannot be negative")
    if retry.max_total_wait <= 0:
        raise AeriesConfigError("request_max_total_wait must be a positive number of seconds")


def check_database_year(client: AeriesClient, year: int) -> None:
    """Refuse a DatabaseYear the server does not offer (Aeries would silently serve another year)."""
    info = client.system_info()
    offered = [str(y) for y in info.get("AvailableDatabaseYears") or []]
    wanted = f"{year}-{year + 1}"
    if offered and wanted not in offered:
        raise AeriesConfigError(
            f"database_year {year} ({wanted}) is not offered by this Aeries server "
            f"(available: {', '.join(offered)})"
        )


def duckdb_file(options: SyncOptions) -> str:
    """Absolute path of the DuckDB database; relative paths are taken from the working directory."""
    return str(Path(options.duckdb_path or f"{options.pipeline_name}.duckdb").resolve())


def make_pipeline(options: SyncOptions, duckdb_connection: Any = None) -> dlt.Pipeline:
    """Create the dlt pipeline for the chosen destination.

    Args:
        options: Destination, dataset and pipeline names.
        duckdb_connection: An open DuckDB connection to load through (default: dlt opens the file
            itself, for each step).
    """
    if options.destination == "duckdb":
        # dlt would resolve a relative path against its own folder, hence the absolute path.
        destination: Any = DuckDb(credentials=duckdb_connection or duckdb_file(options))
    else:
        # None: dlt reads DESTINATION__POSTGRES__CREDENTIALS or .dlt/secrets.toml.
        # create_indexes=False: dlt's only indexes are UNIQUE constraints on `_dlt_id`. A kill after
        # the append job of `_dlt_pipeline_state` committed but before dlt recorded the job as done
        # makes the next run insert the same state row again, and the constraint then failed that
        # load on every rerun (seen in the crash test). Without it the state row is doubled, which
        # dlt tolerates; the data tables merge and are unaffected. Our own indexes: TABLE_INDEXES.
        destination = Postgres(credentials=options.postgres_credentials, create_indexes=False)
    kwargs: Dict[str, Any] = {}
    if options.pipelines_dir:
        kwargs["pipelines_dir"] = options.pipelines_dir
    return dlt.pipeline(
        pipeline_name=options.pipeline_name,
        destination=destination,
        dataset_name=options.dataset_name,
        **kwargs,
    )


def _file_format(options: SyncOptions) -> str:
    # Postgres loads fastest with COPY (csv); DuckDB with parquet (its insert_values path is slow).
    return "csv" if options.destination == "postgres" else "parquet"


def _finish_pending(pipeline: dlt.Pipeline) -> None:
    """Load what an interrupted earlier run left extracted or normalized, before extracting anew.

    `pipeline.run()` would otherwise load the old package and return without extracting.
    """
    if pipeline.has_pending_data:
        logger.info("finishing a load that an earlier run left pending")
        pipeline.normalize()
        pipeline.load()


def _resource_states(pipeline: dlt.Pipeline) -> Dict[str, Any]:
    return dict(pipeline.state.get("sources", {}).get("aeries", {}).get("resources", {}))


def _create_keys(pipeline: dlt.Pipeline) -> None:
    """Give each Postgres table its primary key as a real constraint, plus `SECONDARY_INDEXES`.

    dlt declares primary keys in its schema only (it creates no constraint). Its merge
    deduplicates the staged rows on the key and deletes the matching rows before inserting, so a
    PRIMARY KEY constraint never rejects a merge; it guards against anything else writing
    duplicates and serves the merge's lookups. A table that already holds duplicates (written
    before this rule) keeps a plain index instead, and a warning says so.
    """
    schema = pipeline.default_schema
    with pipeline.sql_client() as client:
        for table in schema.data_tables():
            name = table["name"]
            key = [c["name"] for c in table["columns"].values() if c.get("primary_key")]
            qualified = client.make_qualified_table_name(name)
            if key and not _has_primary_key(client, name):
                cols = ", ".join(client.escape_column_name(c) for c in key)
                try:
                    client.execute_sql(f"ALTER TABLE {qualified} ADD PRIMARY KEY ({cols})")
                except Exception as exc:  # duplicates from an older version: keep an index, say so
                    logger.warning("table %s keeps no primary key constraint (%s); indexing its key instead",
                                   name, type(exc).__name__)
                    client.execute_sql(f"CREATE INDEX IF NOT EXISTS {name}_key_idx ON {qualified} ({cols})")
            for n, columns in enumerate(SECONDARY_INDEXES.get(name, ())):
                cols = ", ".join(client.escape_column_name(c) for c in columns)
                client.execute_sql(f"CREATE INDEX IF NOT EXISTS {name}_idx_{n} ON {qualified} ({cols})")


def _has_primary_key(client: Any, table: str) -> bool:
    rows = client.execute_sql(
        "SELECT 1 FROM information_schema.table_constraints WHERE table_schema = %s AND table_name = %s "
        "AND constraint_type = 'PRIMARY KEY'", client.dataset_name, table,
    )
    return bool(rows)


def describe_window(window: SchoolWindow) -> str:
    """Say what a sync reads of one school: its date range and why, or that it is up to date."""
    if window.end < window.start:
        return f"up to date (attendance read through {window.end})"
    return f"{window.start}..{window.end} ({window.reason})"


def describe_plan(plan: SyncPlan, batch_size: int) -> List[str]:
    """Return the plan as lines for `--dry-run`: schools, windows, batches and estimated requests."""
    lines = [f"mode: {plan.mode}; {len(plan.school_codes)} school(s); {len(plan.units)} batch(es)"]
    for sc in plan.school_codes:
        for window in plan.windows_for(sc):
            units = [u for u in plan.units_for(sc) if window.start <= u.start <= window.end]
            if not units:
                lines.append(f"  school {sc}: {describe_window(window)}")
                continue
            lines.append(f"  school {sc}: {describe_window(window)}, batches {units[0].batch}-{units[-1].batch}")
    for unit in plan.units:
        lines.append(f"    batch {unit.batch}: school {unit.school_code} {unit.start}..{unit.end}")
    small = 3 + 4 * len(plan.school_codes)  # systeminfo, schools; per school calendar, codes, students, enrollment
    lines.append(
        f"estimated requests: {len(plan.units)} attendance + about {small} others "
        f"(student pages add one per {settings.DEFAULT_STUDENT_PAGE_SIZE} students); "
        f"records are written in groups of {batch_size}"
    )
    return lines


@contextlib.contextmanager
def _sync_connection(options: SyncOptions) -> Iterator[Any]:
    """Yield one DuckDB connection for the whole sync (None for Postgres and dry runs), closed at the end.

    dlt opens and closes the DuckDB file several times per pipeline run, and every close writes a
    DuckDB checkpoint: measured, ~0.25 s per checkpoint run of a full-year sync. With one
    connection the file is checkpointed once; every commit is still durable through DuckDB's WAL.
    """
    if options.destination != "duckdb" or options.dry_run:  # a dry run must not even create the file
        yield None
        return
    import duckdb

    path = Path(duckdb_file(options))
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.closing(duckdb.connect(str(path))) as connection:
            yield connection
    finally:
        if created:
            _remove_if_empty(path)


def _remove_if_empty(path: Path) -> None:
    """Delete a DuckDB file that this sync created and left without any table.

    Opening the connection creates the file before planning, so a sync refused after planning
    (a `--resume-from-batch` beyond the plan) or stopped before its first load would otherwise
    leave an empty database behind: bad input must write nothing.
    """
    import duckdb

    if not path.exists():
        return
    try:
        with contextlib.closing(duckdb.connect(str(path), read_only=True)) as connection:
            tables = connection.execute("SELECT COUNT(*) FROM information_schema.tables").fetchone()
        if tables is not None and tables[0] == 0:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
    except (duckdb.Error, OSError) as exc:  # tidying up must never turn a result into a traceback
        logger.debug("could not check or remove the empty DuckDB file %s: %s", path, exc)


def run_sync(
    options: SyncOptions,
    on_unit_done: Optional[Callable[[WorkUnit, int], None]] = None,
    on_plan: Optional[Callable[[SyncPlan], None]] = None,
) -> SyncResult:
    """Run one sync end to end and return its result; never raises for expected failures.

    Args:
        options: What to sync and where.
        on_unit_done: Progress callback, called after each batch is extracted.
        on_plan: Called once with the plan before the first attendance request.
    """
    with contextlib.ExitStack() as stack:
        return _run_sync(options, stack, on_unit_done, on_plan)


def _run_sync(
    options: SyncOptions,
    stack: contextlib.ExitStack,
    on_unit_done: Optional[Callable[[WorkUnit, int], None]],
    on_plan: Optional[Callable[[SyncPlan], None]],
) -> SyncResult:
    started = time.monotonic()
    if options.verify_tls is False:
        logger.warning("TLS certificate verification of the Aeries server is OFF (verify_tls = false): "
                       "traffic with student data can be intercepted; use ca_bundle for an internal CA")
    client: Optional[AeriesClient] = None
    early_reads: List[EndpointRead] = []
    try:
        validate_options(options)
        client = AeriesClient(
            options.base_url, options.certificate, options.database_year, options.retry, options.verify_tls
        )
        client.on_read = early_reads.append  # written to the audit trail once the sync has an id
        check_database_year(client, options.database_year)
        check_school_codes(client, options.school_codes)
        pipeline = make_pipeline(options, stack.enter_context(_sync_connection(options)))
        if not options.dry_run:  # at the end, failed syncs too: no student data left in dlt's folder or staging
            from aeries_source.leftovers import leftovers_removed

            stack.enter_context(leftovers_removed(pipeline))
        _finish_pending(pipeline)
        if not options.dry_run:
            pipeline.sync_destination()
        plan = plan_sync(
            client, options.school_codes, options.start_date, options.end_date, options.chunk_days,
            options.lookback_days, options.school_year_start, options.school_year_end,
            _resource_states(pipeline),
        )
        check_resume_from_batch(plan, options.resume_from_batch)  # before the dry run and any write
    except Exception as exc:  # bad input, Aeries refusing, destination unreachable...: one line, no traceback
        code, status, message = _classify_unexpected(exc, options)
        early = SyncResult(code, status, message, seconds=time.monotonic() - started)
        if client is not None:  # what was asked before it failed counts (a 401 is a request and an error)
            _fill_counts(early, client)
        return early

    if on_plan is not None:
        on_plan(plan)
    if options.dry_run:
        snap = client.stats.snapshot()
        return SyncResult(EXIT_OK, "dry_run", "dry run: nothing written", plan=plan,
                          seconds=time.monotonic() - started, requests=int(snap["requests"]))

    run_id = uuid.uuid4().hex[:16]
    audit = AuditTrail(options.audit_log, run_id)

    def unit_done(unit: WorkUnit, rows: int) -> None:
        audit.record("batch_extracted", endpoint="attendance", school_code=unit.school_code,
                               batch=unit.batch, window_start=unit.start, window_end=unit.end, rows=rows,
                               destination_table="attendance_records")
        if on_unit_done is not None:
            on_unit_done(unit, rows)

    runtime = SyncRuntime(
        client=client, plan=plan, run_id=run_id, resume_from_batch=options.resume_from_batch,
        budget=UnitBudget(options.checkpoint_every), on_unit_done=unit_done,
        breaker_threshold=options.breaker_threshold,
        pseudonymizer=Pseudonymizer(options.pseudonymize_key),
        prefetcher=stack.enter_context(contextlib.closing(AttendancePrefetcher(client))),
    )
    audit.record("sync_started", actor=actor(), pipeline=options.pipeline_name, mode=plan.mode,
                 destination=options.destination, dataset=options.dataset_name, config=safe_config(options),
                 windows=[{"school_code": w.school_code, "start": w.start, "end": w.end, "reason": w.reason}
                          for w in plan.windows])
    for read in early_reads:
        record_read(audit, read)
    client.on_read = functools.partial(record_read, audit)
    result = SyncResult(EXIT_OK, "done", plan=plan, run_id=runtime.run_id)
    started_at = datetime.now(timezone.utc)
    runtime.run_row = lambda: _run_row(options, runtime, result, started_at, "running", started)
    try:
        _mark_interrupted_runs(pipeline)
        before = _snapshots(pipeline, plan) if plan.mode == DELTA else None
        _run_checkpointed(pipeline, options, runtime, result)
        _refresh_correction_flags(pipeline)
        if before is not None:
            after = _snapshots(pipeline, plan)
            result.changes = {table: diff(before[table], after[table]) for table in before}
    except AeriesCriticalError as exc:
        result.exit_code, result.status, result.message = EXIT_CRITICAL, "critical", str(exc)
    except PipelineStepFailed as exc:
        code, status, message = _classify_unexpected(exc, options)
        if code == EXIT_PARTIAL and find_cause(exc, AeriesError) is None:
            cause = root_cause(exc)
            message = (f"{exc.step} step failed ({type(cause).__name__}: {one_line(cause, _secrets(options))}); "
                       "the next run finishes it")
        result.exit_code, result.status, result.message = code, status, message
    except Exception as exc:
        result.exit_code, result.status, result.message = _classify_unexpected(exc, options)
    _fill_result(result, runtime, started)
    if result.exit_code == EXIT_OK and (runtime.failed or runtime.remaining):
        result.exit_code, result.status = EXIT_PARTIAL, "partial"
        result.message = (
            f"{len(runtime.failed)} batch(es) could not be read; the next run picks them up"
        )
    if result.exit_code == EXIT_OK and runtime.skipped_batches:
        # Not done: the destination lacks these batches until the next run reads them (exit 3).
        result.exit_code, result.status = EXIT_PARTIAL, "partial"
        result.message = (f"batch(es) {batch_ranges(runtime.skipped_batches)} were skipped by "
                          "--resume-from-batch and not read; the next run reads them")
    _record_final_status(pipeline, options, runtime, result, started_at, started)
    audit.record("sync_finished", status=result.status, exit_code=result.exit_code, rows_per_table=result.rows,
                 requests=result.requests, errors_by_class=result.errors, failed_batches=result.failed_batches,
                 seconds=round(result.seconds, 3))
    return result


def _run_row(
    options: SyncOptions, runtime: SyncRuntime, result: SyncResult, started_at: datetime,
    status: str, started: float,
) -> Dict[str, Any]:
    snap = runtime.client.stats.snapshot()
    finished = status != "running"
    rows = dict(result.rows)
    rows["attendance_records"] = runtime.rows.get("attendance_records", 0)
    return {
        "operation_id": runtime.run_id,
        "pipeline_name": options.pipeline_name,
        "mode": runtime.plan.mode,
        "config": safe_config(options),
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc) if finished else None,
        "status": status,
        "planned_batches": len(runtime.plan.units),
        "last_completed_batch": runtime.last_completed_batch,
        "total_processed": rows["attendance_records"],
        "rows_per_table": rows,
        "requests": snap["requests"],
        "retries": snap["retries"],
        "errors_by_class": snap["errors"],
        "failed_batches": {str(k): v for k, v in sorted(runtime.failed.items())},
        "skipped_schools": runtime.skipped_schools,
        "skipped_batches": runtime.skipped_batches,
        "rejects": runtime.rejects,
        "seconds": round(time.monotonic() - started, 3),
    }


# Keys of the tables whose changes a delta sync reports.
_CHANGE_KEYS = {
    "attendance_records": ("school_code", "student_id", "attendance_date"),
    "students": ("student_id", "school_code"),
    "enrollment": ("student_id", "school_code", "academic_year", "enter_date"),
}


def _snapshots(pipeline: dlt.Pipeline, plan: SyncPlan) -> Dict[str, Any]:
    """Content of the rows a delta sync may touch: its attendance windows, students, enrollment."""
    windows = [(w.school_code, w.start, w.end) for w in plan.windows]
    return {
        table: snapshot(pipeline, table, key, window_filter(windows) if table == "attendance_records" else None)
        for table, key in _CHANGE_KEYS.items()
    }


def _refresh_correction_flags(pipeline: dlt.Pipeline) -> None:
    """Set `can_be_corrected` from the freshly loaded calendar for rows outside the re-read window.

    Delta syncs never re-read locked months, so a row read while its month was open would keep
    saying it can be corrected after the district locked the month.
    """
    tables = pipeline.default_schema.tables if pipeline.default_schema_name else {}
    if "attendance_records" not in tables or "calendar_days" not in tables:
        return
    with pipeline.sql_client() as client:
        att = client.make_qualified_table_name("attendance_records")
        cal = client.make_qualified_table_name("calendar_days")
        client.execute_sql(
            f"UPDATE {att} SET can_be_corrected = NOT c.attendance_month_locked FROM {cal} AS c "
            f"WHERE c.school_code = {att}.school_code AND c.calendar_date = {att}.attendance_date "
            f"AND {att}.can_be_corrected = c.attendance_month_locked"
        )


def _mark_interrupted_runs(pipeline: dlt.Pipeline) -> None:
    """Mark syncs of this pipeline that never finished (killed, crashed) as interrupted."""
    if not pipeline.default_schema_name or "sync_runs" not in pipeline.default_schema.tables:
        return
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("sync_runs")
        client.execute_sql(
            f"UPDATE {table} SET status = 'interrupted' WHERE status = 'running' AND pipeline_name = %s",
            pipeline.pipeline_name,
        )


def _record_final_status(
    pipeline: dlt.Pipeline, options: SyncOptions, runtime: SyncRuntime, result: SyncResult,
    started_at: datetime, started: float,
) -> None:
    """Write the sync's final `sync_runs` row; a failure here is logged, never fatal."""
    if result.status == "critical" and result.pipeline_runs == 0:
        return  # nothing was written; don't touch a destination we may not reach
    row = _run_row(options, runtime, result, started_at, result.status, started)
    try:
        pipeline.run(sync_runs_resource(row), loader_file_format=_file_format(options))  # type: ignore[arg-type]
    except Exception as exc:  # the data is loaded; a missing status row must not fail the sync
        logger.warning("could not record the sync's final status: %s", type(exc).__name__)


def _classify_unexpected(exc: BaseException, options: SyncOptions) -> "tuple[int, str, str]":
    """Map an unexpected failure (mostly the destination's) to an exit code and one line."""
    return classify_failure(exc, _secrets(options))


def _secrets(options: SyncOptions) -> "tuple[str, ...]":
    """Values no message may show: the certificate, the pseudonym key, the database password."""
    values = [options.certificate, options.pseudonymize_key or ""]
    if options.postgres_credentials:
        from urllib.parse import unquote, urlsplit

        with contextlib.suppress(ValueError):
            values.append(unquote(urlsplit(options.postgres_credentials).password or ""))
    return tuple(v for v in values if v)


def _run_checkpointed(
    pipeline: dlt.Pipeline, options: SyncOptions, runtime: SyncRuntime, result: SyncResult
) -> None:
    """Extract in pipeline runs of at most `checkpoint_every` batches, each committed on its own."""
    first = True
    indexed = False
    while first or runtime.remaining:
        schools = runtime.budget.assign(runtime.pending_units())
        # Later runs build only the attendance resources that get batches in this run: every
        # resource costs dlt some set-up, per run.
        runtime.active_schools = None if first else schools
        source = aeries(
            base_url=options.base_url, certificate=options.certificate,
            database_year=options.database_year, chunk_days=options.chunk_days,
            batch_size=options.batch_size, lookback_days=options.lookback_days,
            student_fields=options.student_fields, sync_runtime=runtime,
        )
        if not first:
            names = [attendance_resource_name(sc) for sc in sorted(runtime.active_schools or ())]
            source = source.with_resources(*names)
        done_before = len(runtime.done) + len(runtime.failed)
        runtime.start_run(sum(1 for name in source.resources.selected if name.startswith("attendance_")))
        info = pipeline.run(source, loader_file_format=_file_format(options))  # type: ignore[arg-type]
        result.pipeline_runs += 1
        _count_rows(pipeline, result)
        if options.destination == "postgres" and not indexed:
            _create_keys(pipeline)
            indexed = True
        info.raise_on_failed_jobs()
        first = False
        if len(runtime.done) + len(runtime.failed) == done_before:
            break  # nothing moved: stop rather than loop


def _count_rows(pipeline: dlt.Pipeline, result: SyncResult) -> None:
    """Add the rows this pipeline run extracted per table (attendance is counted by the source).

    Taken from the extract step: normalize's counts are cells, not rows, for dlt's csv writer.
    """
    info = pipeline.last_trace.last_extract_info if pipeline.last_trace else None
    if info is None:
        return
    for metrics in info.metrics.values():
        for step in metrics:
            for table, table_metrics in step.get("table_metrics", {}).items():
                if table.startswith("_dlt") or table == "attendance_records":
                    continue
                result.rows[table] = result.rows.get(table, 0) + table_metrics.items_count


def _fill_counts(result: SyncResult, client: AeriesClient) -> None:
    """Copy the client's request, retry and error counts into the result."""
    snap = client.stats.snapshot()
    result.requests = int(snap["requests"])  # type: ignore[call-overload]
    result.retries = int(snap["retries"])  # type: ignore[call-overload]
    result.errors = dict(snap["errors"])  # type: ignore[call-overload]


def _fill_result(result: SyncResult, runtime: SyncRuntime, started: float) -> None:
    _fill_counts(result, runtime.client)
    result.seconds = time.monotonic() - started
    result.attendance_records = runtime.rows.get("attendance_records", 0)
    result.rows["attendance_records"] = result.attendance_records
    result.failed_batches = dict(runtime.failed)
    result.skipped_schools = runtime.skipped_schools
    result.skipped_batches = runtime.skipped_batches
    result.rejects = runtime.rejects
