"""The dlt pipeline of a sync: its destination, file format, one DuckDB connection, pending loads."""

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterator, cast

import dlt
from dlt.common.pipeline import get_dlt_pipelines_dir

from aeries_sync.destinations import DuckDb, Postgres
from aeries_sync.options import SyncOptions, duckdb_file

logger = logging.getLogger(__name__)


def make_pipeline(options: SyncOptions, duckdb_connection: Any = None) -> dlt.Pipeline:
    """Create the dlt pipeline for the chosen destination.

    Args:
        options: Destination, dataset and pipeline names.
        duckdb_connection: An open DuckDB connection to load through (default: dlt opens the file
            itself, for each step).
    """
    staging: Dict[str, Any] = {"staging_dataset_name_layout": options.staging_layout} if options.staging_layout else {}
    if options.destination == "duckdb":
        # dlt would resolve a relative path against its own folder, hence the absolute path.
        destination: Any = DuckDb(credentials=duckdb_connection or duckdb_file(options), **staging)
    else:
        # None: dlt reads DESTINATION__POSTGRES__CREDENTIALS or .dlt/secrets.toml.
        # create_indexes=False: dlt's only indexes are UNIQUE constraints on `_dlt_id`. A kill after
        # the append job of `_dlt_pipeline_state` committed but before dlt recorded the job as done
        # makes the next run insert the same state row again, and the constraint then failed that
        # load on every rerun (seen in the crash test). Without it the state row is doubled, which
        # dlt tolerates; the data tables merge and are unaffected. Our own keys: aeries_source.add_primary_keys.
        # cast: dlt's signature leaves out None, its own default.
        destination = Postgres(credentials=cast(str, options.postgres_credentials), create_indexes=False, **staging)
    pipelines_dir = options.pipelines_dir or get_dlt_pipelines_dir()
    _remove_interrupted_schema_saves(Path(pipelines_dir) / options.pipeline_name / "schemas")
    return dlt.pipeline(
        pipeline_name=options.pipeline_name,
        destination=destination,
        dataset_name=options.dataset_name,
        pipelines_dir=pipelines_dir,
    )


# dlt 1.31's `FileStorage.save_atomic` writes into a temporary file named `uniq_id(8)`: 16 hex digits.
_ATOMIC_SAVE_TEMP = re.compile(r"[0-9a-f]{16}")


def _remove_interrupted_schema_saves(schemas_dir: Path) -> None:
    """Delete the temporary files of schema saves that a kill cut short, before dlt lists its schemas.

    dlt saves a schema by writing a temporary file in its schemas folder and renaming it over
    `<name>.schema.json`. A SIGKILL between the two leaves the temporary file, and dlt takes every
    file in that folder for a schema (named up to the first dot): the rerun then read
    `<hex>.schema.json`, which does not exist, and failed with FileNotFoundError, and so did every
    run after it (found by the kill test under CI). The file holds only a partial schema, no rows.
    Re-check the name pattern on a dlt upgrade.
    """
    if not schemas_dir.is_dir():
        return
    for entry in os.scandir(schemas_dir):
        if entry.is_file() and _ATOMIC_SAVE_TEMP.fullmatch(entry.name):
            logger.info("removing %s, a schema save that an earlier run did not finish", entry.name)
            Path(entry.path).unlink(missing_ok=True)


def file_format(options: SyncOptions) -> str:
    """The loader file format: csv for Postgres (COPY), parquet for DuckDB."""
    # Postgres loads fastest with COPY (csv); DuckDB with parquet (its insert_values path is slow).
    return "csv" if options.destination == "postgres" else "parquet"


def finish_pending(pipeline: dlt.Pipeline) -> None:
    """Load what an interrupted earlier run left extracted or normalized, before extracting anew.

    `pipeline.run()` would otherwise load the old package and return without extracting.
    """
    if pipeline.has_pending_data:
        logger.info("finishing a load that an earlier run left pending")
        _finish_interrupted_normalize_commit(pipeline)
        with newer_schema_notices_hidden():
            pipeline.normalize()
        pipeline.load()


def _finish_interrupted_normalize_commit(pipeline: dlt.Pipeline) -> None:
    """Delete the extracted copy of every package dlt has already normalized: the end of a commit a kill cut short.

    dlt's normalize commits a package by moving its normalized folder into place, then deleting the
    extracted one (it logs "Committing storage, do not kill this process"). A SIGKILL between the
    two left both: the next normalize normalized the extracted copy again and could not move it
    over the committed one (`OSError: Directory not empty`), so every later run failed (found by
    the crash test). The committed package holds all of it; the copy is what dlt was deleting.
    Uses dlt 1.31's normalize storage (`_get_normalize_storage`); re-check on upgrade.
    """
    committed = set(pipeline.list_normalized_load_packages()) | set(pipeline.list_completed_load_packages())
    leftovers = [load_id for load_id in pipeline.list_extracted_load_packages() if load_id in committed]
    if leftovers:
        storage = pipeline._get_normalize_storage()
        for load_id in leftovers:
            logger.info("removing the extracted copy of package %s, which dlt had already normalized", load_id)
            storage.extracted_packages.delete_package(load_id)


class _NewerSchemaNotice(logging.Filter):
    """Drops dlt's warning that a package was normalized with the pipeline's newer schema.

    A sync commits several checkpoints (extract steps) before it normalizes them: the schema a
    later checkpoint adds to (a column first seen, a table) is newer than the one an earlier
    package was extracted with, and dlt normalizes every package with the newest, saying so once
    per package. dlt's schemas only grow, so the newest holds everything the older package has.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("When normalizing package") and "Storage schema was used" in message)


@contextlib.contextmanager
def newer_schema_notices_hidden() -> Iterator[None]:
    """Hide dlt's "storage schema was used" warning while the sync normalizes its checkpoints."""
    dlt_logger = logging.getLogger("dlt")
    notice = _NewerSchemaNotice()
    dlt_logger.addFilter(notice)
    try:
        yield
    finally:
        dlt_logger.removeFilter(notice)


@contextlib.contextmanager
def sync_connection(options: SyncOptions) -> Iterator[Any]:
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
        # Every load inserts staged rows whose order no reader relies on (keys identify rows, and
        # every query that needs an order says so). Without the order kept, DuckDB inserts the
        # staged Parquet on both threads: measured 0.95-1.06 s against 1.54-1.83 s for a full
        # year's attendance (20 x 2,000, three syncs each, alternated), the same peak RSS.
        config: Dict[str, Any] = {"preserve_insertion_order": False}
        if options.duckdb_memory_limit:
            config["memory_limit"] = options.duckdb_memory_limit
        with contextlib.closing(duckdb.connect(str(path), config=config)) as connection:
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
