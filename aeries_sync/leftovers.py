"""Remove the student data that dlt leaves behind after loading: loaded packages and staging rows.

dlt keeps every package it has loaded under `<pipelines_dir>/<pipeline>/load/loaded/`, data files
included (`students.*.parquet`/`.csv.gz` with names and state ids), and a merge leaves the rows it
merged last in the `<dataset>_staging` schema. Neither is needed once a package is loaded: the rows
are in the destination and dlt never reads a loaded package again.

Pending packages (extracted or normalized, not yet loaded) are never touched: they are how a failed
or killed sync's rerun finishes the load. For the same reason the staging dataset is left alone while
a normalized package is pending, since its merge job may still read the rows it staged.
"""

import contextlib
import logging
import os
from typing import Dict, Iterator, List

import dlt
from dlt.common.storages import LoadStorage, LoadStorageConfiguration
from dlt.pipeline.trace import TRACE_FILE_NAME

logger = logging.getLogger(__name__)

# dlt's own switch: delete a package's data files as soon as the package is loaded, so that even a
# killed sync leaves no loaded rows on disk. Set in code for the length of the sync because the
# protection must not depend on which `.dlt/config.toml` is found (an environment variable still wins).
DLT_SETTINGS: Dict[str, object] = {"load.delete_completed_jobs": True}

# dlt's version table lives in the staging schema too; it holds schemas, not rows, and dlt reads it
# to know that the staging tables exist.
_KEEP_STAGING_TABLES = ("_dlt_version",)


@contextlib.contextmanager
def leftovers_removed(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Run a sync with dlt deleting loaded data files, then remove what the sync left behind.

    The cleanup also runs when the body raises (a failed sync), but not on KeyboardInterrupt or
    SystemExit: an interrupted sync is treated like a killed one and the next sync cleans up.

    Args:
        pipeline: The pipeline the sync runs; it stays usable after the cleanup.

    Yields:
        Nothing; the sync runs inside the context.
    """
    try:
        with _dlt_settings():
            yield
    except Exception:
        remove_leftovers(pipeline)
        raise
    remove_leftovers(pipeline)


def remove_leftovers(pipeline: dlt.Pipeline) -> List[str]:
    """Empty the staging dataset, delete loaded packages and the last run's trace; never raises.

    Loaded packages mark that something was loaded since the last cleanup, so staging may hold rows
    (and the destination was reachable): only then is the destination asked, and only when no
    normalized package is pending. If emptying staging fails, the packages are kept as that mark and
    the next sync tries again (dlt has already deleted their data files, see `DLT_SETTINGS`, unless a job failed).

    Args:
        pipeline: Pipeline whose working folder and destination are cleaned.

    Returns:
        The load ids of the loaded packages that were deleted.
    """
    try:
        removed: List[str] = []
        if pipeline.list_completed_load_packages():
            if pipeline.list_normalized_load_packages():
                logger.info("staging dataset kept: a pending load package may still need its rows")
                removed = remove_loaded_packages(pipeline)
            elif _empty_staging_or_warn(pipeline):
                removed = remove_loaded_packages(pipeline)
        _remove_trace(pipeline)
        return removed
    except Exception as exc:  # cleanup must not turn a finished sync into a failed one
        logger.warning("could not remove loaded dlt packages: %s", type(exc).__name__)
        return []


def remove_loaded_packages(pipeline: dlt.Pipeline) -> List[str]:
    """Delete the loaded (or aborted) packages from the pipeline's working folder.

    Only dlt's `load/loaded` storage is touched: dlt moves a package there once it is complete, so
    extracted and normalized (pending) packages are never deleted.

    Args:
        pipeline: Pipeline that owns the packages.

    Returns:
        The load ids of the deleted packages.
    """
    # The same storage `dlt.Pipeline` opens for its working folder (`<working_dir>/load`).
    config = LoadStorageConfiguration(load_volume_path=os.path.join(pipeline.working_dir, "load"))
    storage = LoadStorage(False, [], config)
    if not storage.is_storage_ready():
        return []
    load_ids = list(storage.list_loaded_packages())
    for load_id in load_ids:
        storage.delete_loaded_package(load_id)
    logger.debug("deleted %d loaded dlt package(s)", len(load_ids))
    return load_ids


def empty_staging_dataset(pipeline: dlt.Pipeline) -> int:
    """Delete every row of the pipeline's staging dataset (`<dataset>_staging`), keeping its tables.

    The tables stay so that dlt's stored staging schema remains true; dlt empties a staging table
    before it stages the next rows into it anyway.

    Args:
        pipeline: Pipeline whose destination holds the staging dataset.

    Returns:
        How many tables were emptied (0 when there is no staging dataset).
    """
    with pipeline.sql_client() as client:
        with client.with_staging_dataset():
            if not client.has_dataset():
                return 0
            rows = client.execute_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE'",
                client.staging_dataset_name,
            )
            tables = sorted(r[0] for r in rows or [] if r[0] not in _KEEP_STAGING_TABLES)
            if tables:
                client.truncate_tables(*tables)
    logger.debug("emptied %d staging table(s)", len(tables))
    return len(tables)


@contextlib.contextmanager
def _dlt_settings() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dlt.config.values(DLT_SETTINGS))
        except Exception as exc:  # no writable config provider: the end-of-sync cleanup still runs
            logger.debug("dlt settings not applied: %s", type(exc).__name__)
        yield


def _empty_staging_or_warn(pipeline: dlt.Pipeline) -> bool:
    try:
        empty_staging_dataset(pipeline)
        return True
    except Exception as exc:  # destination gone at the very end: the next sync empties staging
        logger.warning("could not empty the staging dataset, the next sync will: %s", type(exc).__name__)
        return False


def _remove_trace(pipeline: dlt.Pipeline) -> None:
    # The trace keeps the last run's step exceptions, and a destination error can quote row values.
    # The sync's outcome is recorded in `sync_runs`, the summary and the audit trail instead.
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(pipeline.working_dir, TRACE_FILE_NAME))
