"""Runs one sync of the command: plans, extracts in checkpointed pipeline runs, records and summarises."""

import contextlib
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed

from aeries_source import add_primary_keys, aeries, attendance_resource_name, resolve_configuration, start_sync
from aeries_source.attendance_table import DLT_ROW_COLUMNS
from aeries_source.client import AeriesClient, EndpointRead
from aeries_source.config import AeriesConfiguration
from aeries_source.declared_tables import DECLARED_TABLES, declared_tables_resource
from aeries_source.declared_tables import RESOURCE_NAME as DECLARED_TABLES_RESOURCE
from aeries_source.errors import AeriesError
from aeries_source.measures import MEASURES, MeasuresConfiguration, create_measures, resolve_measures_configuration
from aeries_source.planning import DELTA, Batch, SyncPlan, batch_ranges
from aeries_source.prefetch import AttendancePrefetcher
from aeries_source.runtime import SyncRuntime
from aeries_source.supabase import lock_down
from aeries_source.sync import make_client
from aeries_source.tables import ALL_TABLES, BY_NAME
from aeries_sync.audit import AuditTrail, actor, record_read
from aeries_sync.changes import ChangeCounts, diff, snapshot, window_filter
from aeries_sync.failure_causes import (
    EXIT_BAD_INPUT,  # noqa: F401  (re-exported for callers of run_sync)
    EXIT_CRITICAL,  # noqa: F401
    EXIT_OK,
    EXIT_PARTIAL,
    classify_failure,
    find_cause,
    one_line,
    out_of_memory,
    root_cause,
)
from aeries_sync.leftovers import leftovers_removed
from aeries_sync.options import ALL, ATTENDANCE, REFERENCE, SyncOptions, validate_options
from aeries_sync.pipeline import (
    file_format,
    finish_pending,
    make_pipeline,
    newer_schema_notices_hidden,
    sync_connection,
)
from aeries_sync.sync_runs import safe_config, sync_runs_resource
from aeries_sync.tuning import cache_jsonpath_parsing, cache_schema_type_hints, uncompressed_intermediate_files

logger = logging.getLogger(__name__)

# The tables whose changes a delta sync reports.
CHANGE_TABLES = ("attendance_records", "students", "enrollment")


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
    pipeline_runs: int = 0  # checkpoints committed (dlt extract steps), plus the locked table creation on Supabase
    changes: Dict[str, ChangeCounts] = field(default_factory=dict)
    measures: List[str] = field(default_factory=list)
    measures_error: Optional[str] = None
    measures_seconds: float = 0.0
    batch_rows: List[Dict[str, Any]] = field(default_factory=list)
    done_batches: List[int] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        """Attendance records loaded per second of the whole sync."""
        return self.attendance_records / self.seconds if self.seconds > 0 else 0.0


def run_sync(
    options: SyncOptions,
    on_batch_done: Optional[Callable[[Batch, int], None]] = None,
    on_plan: Optional[Callable[[SyncPlan], None]] = None,
    on_secrets: Optional[Callable[[str], None]] = None,
) -> SyncResult:
    """Run one sync end to end and return its result; never raises for expected failures.

    Args:
        options: What to sync and where.
        on_batch_done: Progress callback, called after each batch is extracted.
        on_plan: Called once with the plan before the first attendance request.
        on_secrets: Told each secret value once the settings are resolved (a log redactor).
    """
    cache_jsonpath_parsing()
    cache_schema_type_hints()
    with contextlib.ExitStack() as stack:
        stack.enter_context(uncompressed_intermediate_files())
        return _run_sync(options, stack, on_batch_done, on_plan, on_secrets)


def _run_sync(
    options: SyncOptions,
    stack: contextlib.ExitStack,
    on_batch_done: Optional[Callable[[Batch, int], None]],
    on_plan: Optional[Callable[[SyncPlan], None]],
    on_secrets: Optional[Callable[[str], None]],
) -> SyncResult:
    started = time.monotonic()
    secrets = _secrets(options, None)
    early_reads: List[EndpointRead] = []
    client: Optional[AeriesClient] = None
    try:
        config = resolve_configuration(**options.source)
        secrets = _secrets(options, config)
        for secret in secrets if on_secrets is not None else ():
            on_secrets(secret)  # type: ignore[misc]
        validate_options(options)
        measures_config = resolve_measures_configuration()
        config.checkpoint_every = options.checkpoint_every
        config.checkpoint_seconds = options.checkpoint_seconds
        client = make_client(config)
        client.on_read = early_reads.append  # written to the audit trail once the sync has an id
        pipeline = make_pipeline(options, stack.enter_context(sync_connection(options)))
        if not options.dry_run:  # at the end, failed syncs too: no student data left in dlt's folder or staging
            stack.enter_context(leftovers_removed(pipeline))
        finish_pending(pipeline)
        if not options.dry_run:
            pipeline.sync_destination()
        runtime = start_sync(config, _resource_states(pipeline), client=client)
        if not options.dry_run:
            runtime.row_columns = _dlt_row_columns(pipeline)
    except Exception as exc:  # bad input, Aeries refusing, destination unreachable...: one line, no traceback
        code, status, message = classify_failure(exc, secrets)
        early = SyncResult(code, status, message, seconds=time.monotonic() - started)
        if client is not None:  # what was asked before it failed counts (a 401 is a request and an error)
            _fill_counts(early, client)
        return early

    plan = runtime.plan
    if on_plan is not None:
        on_plan(plan)
    if options.dry_run:
        return SyncResult(EXIT_OK, "dry_run", "dry run: nothing written", plan=plan,
                          seconds=time.monotonic() - started, requests=client.stats.requests)

    audit = AuditTrail(options.audit_log, runtime.run_id)
    settings = _settings_record(options, config)

    def batch_done(batch: Batch, rows: int) -> None:
        audit.record("batch_extracted", endpoint="attendance", school_code=batch.school_code,
                     batch=batch.number, batch_start=batch.start, batch_end=batch.end, rows=rows,
                     destination_table="attendance_records")
        if on_batch_done is not None:
            on_batch_done(batch, rows)

    runtime.on_batch_done = batch_done
    runtime.prefetcher = stack.enter_context(contextlib.closing(AttendancePrefetcher(client)))
    if options.part != REFERENCE:
        # The first batches are read while the destination and dlt get ready for the first extract
        # (queries, the source, the extract's set-up): a quarter of a second the server sat idle.
        runtime.prefetch_next()
    audit.record("sync_started", actor=actor(), pipeline=options.pipeline_name, mode=plan.mode,
                 destination=options.destination, dataset=options.dataset_name, config=settings,
                 ranges=[{"school_code": r.school_code, "start": r.start, "end": r.end, "reason": r.reason}
                         for r in plan.ranges])
    for read in early_reads:
        record_read(audit, read)
    client.on_read = functools.partial(record_read, audit)
    result = SyncResult(EXIT_OK, "done", plan=plan, run_id=runtime.run_id)
    started_at = datetime.now(timezone.utc)

    def run_row(status: str) -> Dict[str, Any]:
        return _run_row(options, settings, runtime, result, started_at, status, started)  # type: ignore[arg-type]

    try:
        _mark_interrupted_runs(pipeline)
        before = _snapshots(pipeline, plan) if plan.mode == DELTA else None
        _run_checkpointed(pipeline, options, config, runtime, result, run_row)
        if before is not None:
            after = _snapshots(pipeline, plan)
            result.changes = {table: diff(before[table], after[table]) for table in before}
    except PipelineStepFailed as exc:
        code, status, message = classify_failure(exc, secrets)
        if code == EXIT_PARTIAL and find_cause(exc, AeriesError) is None and not out_of_memory(exc):
            cause = root_cause(exc)
            message = (f"{exc.step} step failed ({type(cause).__name__}: {one_line(cause, secrets)}); "
                       "the next run finishes it")
        result.exit_code, result.status, result.message = code, status, message
    except Exception as exc:
        result.exit_code, result.status, result.message = classify_failure(exc, secrets)
    _fill_result(result, runtime, started)
    # A reference part leaves the plan's attendance batches to the school tasks: not partial.
    if options.part != REFERENCE and result.exit_code == EXIT_OK and (runtime.failed or runtime.remaining):
        result.exit_code, result.status = EXIT_PARTIAL, "partial"
        result.message = (
            f"{len(runtime.failed)} batch(es) could not be read; the next run picks them up"
        )
    if result.exit_code == EXIT_OK and runtime.skipped_batches:
        # Not done: the destination lacks these batches until the next run reads them (exit 3).
        result.exit_code, result.status = EXIT_PARTIAL, "partial"
        result.message = (f"batch(es) {batch_ranges(runtime.skipped_batches)} were skipped by "
                          "--resume-from-batch and not read; the next run reads them")
    if result.pipeline_runs and options.refresh_measures:
        _refresh_measures(pipeline, measures_config, result, secrets)
    _record_final_status(pipeline, options, result, run_row(result.status))
    audit.record("sync_finished", status=result.status, exit_code=result.exit_code, rows_per_table=result.rows,
                 requests=result.requests, errors_by_class=result.errors, failed_batches=result.failed_batches,
                 seconds=round(result.seconds, 3))
    return result


def _refresh_measures(
    pipeline: dlt.Pipeline, config: MeasuresConfiguration, result: SyncResult, secrets: Tuple[str, ...]
) -> None:
    """Recreate the measure views after a sync that loaded something; a failure is logged, never fatal.

    The data is loaded by then: a view that cannot be made must not turn a good sync into a failed
    one, but the summary says so.
    """
    started = time.monotonic()
    try:
        result.measures = create_measures(pipeline, config)
        result.measures_seconds = time.monotonic() - started
    except Exception as exc:
        logger.warning("attendance measures were not refreshed: %s", one_line(exc, secrets))
        result.measures_error = type(exc).__name__


def _dlt_row_columns(pipeline: dlt.Pipeline) -> Dict[str, Tuple[str, ...]]:
    """dlt's row columns that each table of the destination has (see `SyncRuntime.row_columns`)."""
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return {}
        rows = client.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            client.dataset_name)
    found: Dict[str, List[str]] = {}
    for table, column in rows or ():
        if column in DLT_ROW_COLUMNS:
            found.setdefault(table, []).append(column)
    return {table: tuple(sorted(columns)) for table, columns in found.items()}


def _settings_record(options: SyncOptions, config: AeriesConfiguration) -> Dict[str, Any]:
    """The sync's settings without secrets, for `sync_runs` and the audit trail."""
    command = {name: getattr(options, name) for name in options.__dataclass_fields__ if name != "source"}
    return safe_config({**config.source_args(), **command})


def _resource_states(pipeline: dlt.Pipeline) -> Dict[str, Any]:
    return dict(pipeline.state.get("sources", {}).get("aeries", {}).get("resources", {}))


def _run_row(
    options: SyncOptions, settings: Dict[str, Any], runtime: SyncRuntime, result: SyncResult,
    started_at: datetime, status: str, started: float,
) -> Dict[str, Any]:
    snap = runtime.client.stats.snapshot()
    finished = status != "running"
    rows = dict(result.rows)
    rows["attendance_records"] = runtime.rows.get("attendance_records", 0)
    return {
        "operation_id": runtime.run_id,
        "pipeline_name": options.pipeline_name,
        "mode": runtime.plan.mode,
        "config": settings,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc) if finished else None,
        "status": status,
        "planned_batches": len(runtime.plan.batches),
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


def _snapshots(pipeline: dlt.Pipeline, plan: SyncPlan) -> Dict[str, Any]:
    """Content of the rows a delta sync may touch: its attendance ranges, students, enrollment."""
    ranges = [(r.school_code, r.start, r.end) for r in plan.ranges]
    with pipeline.sql_client() as client:
        return {
            table: snapshot(pipeline, client, table, BY_NAME[table].primary_key,
                            window_filter(ranges) if table == "attendance_records" else None)
            for table in CHANGE_TABLES
        }


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
    pipeline: dlt.Pipeline, options: SyncOptions, result: SyncResult, row: Dict[str, Any]
) -> None:
    """Write the sync's final `sync_runs` row; a failure here is logged, never fatal."""
    if result.status == "critical" and result.pipeline_runs == 0:
        return  # nothing was written; don't touch a destination we may not reach
    try:
        pipeline.run(sync_runs_resource(row), loader_file_format=file_format(options))  # type: ignore[arg-type]
    except Exception as exc:  # the data is loaded; a missing status row must not fail the sync
        logger.warning("could not record the sync's final status: %s", type(exc).__name__)


def _secrets(options: SyncOptions, config: Optional[AeriesConfiguration]) -> Tuple[str, ...]:
    """Values no message may show: the certificate, the pseudonym key, the database password."""
    values = [str(options.source.get("certificate") or ""), str(options.source.get("pseudonymize_key") or "")]
    if config is not None:
        values += [str(config.certificate or ""), str(config.pseudonymize_key or "")]
    if options.postgres_credentials:
        from urllib.parse import unquote, urlsplit

        with contextlib.suppress(ValueError):
            values.append(unquote(urlsplit(options.postgres_credentials).password or ""))
    return tuple(v for v in values if v)


def _run_checkpointed(
    pipeline: dlt.Pipeline, options: SyncOptions, config: AeriesConfiguration, runtime: SyncRuntime,
    result: SyncResult, run_row: Callable[[str], Dict[str, Any]],
) -> None:
    """Extract in checkpoints of at most `checkpoint_every` batches or `checkpoint_seconds`, then load them all.

    A checkpoint is a dlt extract step: it commits a load package together with the dlt state that
    marks its batches done, and the local state, atomically. After a crash the next sync loads the
    pending packages first (`finish_pending`) and reads on from that state, so nothing is lost or
    read twice. Normalize and load run once, over every package, after the reading: a checkpoint
    that also loaded (a full `pipeline.run`) stopped the reading for its normalize and load, 3-5 s
    each at 20 x 4,000 (benchmarks/README.md). When the reading fails, what was committed before
    the failure is still loaded before the error is raised.

    On Supabase (its API roles exist) nothing the sync creates is open to them: tables a first sync
    lacks are created empty and locked before any row is loaded, and the load is followed by
    another `lock_down` (staging tables, a view recreated since).
    """
    # Before anything is loaded: also locks what a killed sync's pending load, finished just now, created.
    guarded = lock_down(pipeline, MEASURES)
    if guarded and _create_tables_locked(pipeline, options, config, runtime, run_row):
        result.pipeline_runs += 1
    try:
        _extract_checkpoints(pipeline, options, config, runtime, result, run_row)
    except Exception:
        _load_after_failure(pipeline, guarded)
        raise
    _load_locked(pipeline, guarded).raise_on_failed_jobs()
    # After the load, not between checkpoints: an index built on the loaded rows at once is cheaper than
    # one kept up row by row through a later load (a first sync of 20 x 4,000 in two runs:
    # loads and keys took 7.2-7.5 s this way, 7.9-8.0 s with the keys after the first run). Tables created
    # empty by `_create_tables_locked` get their key columns only with their first rows. A sync
    # that fails before this leaves the keys to the next one (adding them again is a no-op).
    add_primary_keys(pipeline)


def _extract_checkpoints(
    pipeline: dlt.Pipeline, options: SyncOptions, config: AeriesConfiguration, runtime: SyncRuntime,
    result: SyncResult, run_row: Callable[[str], Dict[str, Any]],
) -> None:
    """Extract the plan's batches in checkpoints (dlt extract steps), each committed with its state."""
    first = True
    while first or runtime.remaining:
        schools = runtime.budget.assign(runtime.pending_batches())
        # Later runs build only the attendance resources that get batches in this run: every
        # resource costs dlt some set-up, per run.
        runtime.active_schools = None if first else schools
        source = aeries(**config.source_args(), sync_runtime=runtime)
        if not first:
            names = [attendance_resource_name(sc) for sc in sorted(runtime.active_schools or ())]
            source = source.with_resources(*names)
        elif options.part != ALL:
            source = source.with_resources(*_part_resources(source, options.part, runtime.school_codes))
        source.resources.add(sync_runs_resource(run_row("running")))
        done_before = len(runtime.done) + len(runtime.failed)
        runtime.start_run(sum(1 for name in source.resources.selected if name.startswith("attendance_")))
        pipeline.extract(source, loader_file_format=file_format(options))  # type: ignore[arg-type]
        result.pipeline_runs += 1
        _count_rows(pipeline, result)
        first = False
        if options.part == REFERENCE:
            break  # the reference tables are loaded in one run; attendance is another task's
        if len(runtime.done) + len(runtime.failed) == done_before:
            break  # nothing moved: stop rather than loop


def _load_after_failure(pipeline: dlt.Pipeline, guarded: bool) -> None:
    """Load the checkpoints committed before the reading failed; a failure here is logged (the next sync loads them)."""
    if not pipeline.list_extracted_load_packages():
        return
    try:
        _load_locked(pipeline, guarded).raise_on_failed_jobs()
    except Exception as exc:  # the reading's failure is the one to report
        logger.warning("the checkpoints read before the failure were not loaded, the next sync loads them: %s",
                       type(exc).__name__)


def _part_resources(source: DltSource, part: str, school_codes: List[int]) -> List[str]:
    """The resources of one part of a sync: the reference tables, or the schools' attendance.

    Both create the declared side tables (`attendance_records` among them) when they are missing,
    so tasks that load attendance side by side find them made by the reference task before them.
    """
    attendance = {attendance_resource_name(sc) for sc in school_codes}
    if part == ATTENDANCE:
        return [n for n in source.resources if n in attendance] + [DECLARED_TABLES_RESOURCE]
    return [n for n in source.resources if n not in attendance]


def _load_locked(pipeline: dlt.Pipeline, guarded: bool) -> LoadInfo:
    """Normalize and load every committed checkpoint; when `guarded`, lock down what it created, also on failure."""
    try:
        with newer_schema_notices_hidden():
            pipeline.normalize()
        info = pipeline.load()
    except Exception:
        if guarded:
            try:
                lock_down(pipeline, MEASURES)
            except Exception as exc:  # the load's own failure is the one to report
                logger.warning("could not lock down the tables after a failed load: %s", type(exc).__name__)
        raise
    if guarded:
        lock_down(pipeline, MEASURES)
    return info


def _create_tables_locked(
    pipeline: dlt.Pipeline, options: SyncOptions, config: AeriesConfiguration, runtime: SyncRuntime,
    run_row: Callable[[str], Dict[str, Any]],
) -> bool:
    """Create the tables the sync writes that the dataset lacks, empty, and lock them down before any row.

    Supabase's default privileges let `anon` read a new table in `public` from the moment it is
    created, and a pipeline run creates its tables and loads their rows in one load step: a first
    sync's student rows would be open until the run ended. Here a package of empty tables (plus
    dlt's state and this sync's `sync_runs` row, no student data) is extracted and normalized, its
    tables are created by `sync_schema`, locked, and only then is the package loaded. Between
    `sync_schema`'s commit and the lock's (milliseconds) the tables are open but empty, and
    `_dlt_version` holds the schema (table and column names); no row of Aeries data is ever open.

    Returns:
        False when every table already exists (nothing was run).
    """
    runtime.active_schools = None  # every resource, as the first run builds them
    full = aeries(**config.source_args(), sync_runtime=runtime)
    # What this configuration writes: a table per resource of the same name, the declared side tables.
    declared = {t.name for t in DECLARED_TABLES}
    tables = [t for t in ALL_TABLES if t.name in full.resources or t.name in declared]
    schema = full.schema
    needed = [t.name for t in tables] + ["sync_runs", schema.version_table_name, schema.loads_table_name,
                                         schema.state_table_name]
    if not _missing_tables(pipeline, needed):
        return False
    source = DltSource(schema, full.section, [declared_tables_resource(tables), sync_runs_resource(run_row("running"))])
    pipeline.extract(source, loader_file_format=file_format(options))  # type: ignore[arg-type]
    pipeline.normalize()
    pipeline.sync_schema()  # creates the tables and dlt's own, empty; loads nothing
    lock_down(pipeline, MEASURES)
    pipeline.load().raise_on_failed_jobs()
    return True


def _missing_tables(pipeline: dlt.Pipeline, names: List[str]) -> List[str]:
    """Those of `names` that the pipeline's dataset does not have (all of them when it does not exist)."""
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", client.dataset_name)
    existing = {row[0] for row in rows or ()}
    return [name for name in names if name not in existing]


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
    result.batch_rows = list(runtime.batch_rows)
    result.done_batches = sorted(runtime.done)
