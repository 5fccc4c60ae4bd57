"""What one sync of the command needs: the source's settings given explicitly, and the command's own."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration

from aeries_source.client import RetryPolicy
from aeries_source.config import AeriesConfiguration
from aeries_source.errors import AeriesConfigError

# A checkpoint every 10 seconds of reading: a crash costs at most that much re-reading. A checkpoint
# is a dlt extract step (the load runs once, after the reading; runner.py), so its cost is that
# step's commit and the next step's set-up. No batch limit unless one is set.
DEFAULT_CHECKPOINT_SECONDS = 10.0
# DuckDB's default is 80 % of the machine's memory, and its merge of a full year took the sync's
# peak RSS from ~300 to 520 MiB; at 100 MB it was 335 MiB, and the load ~1 s slower (benchmarks/README.md).
DEFAULT_DUCKDB_MEMORY_LIMIT = "100MB"
_MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


@configspec
class SyncSettings(BaseConfiguration):
    """The command's own settings, from `[sync]` in `.dlt/config.toml` or `SYNC__*` (flags win)."""

    checkpoint_every: Optional[int] = None
    """Batches per checkpoint at most (a dlt extract step that commits its data with the dlt state)."""
    checkpoint_seconds: Optional[float] = DEFAULT_CHECKPOINT_SECONDS
    """Seconds of reading between checkpoints (0: no time limit)."""
    audit_log: Optional[str] = None
    """Append a JSON-lines audit trail of every sync to this file (no student data)."""
    duckdb_memory_limit: Optional[str] = DEFAULT_DUCKDB_MEMORY_LIMIT
    """DuckDB's `memory_limit` for the sync's connection (`"100MB"`, `"1GB"`); empty: DuckDB's default."""


ALL = "all"
REFERENCE = "reference"
ATTENDANCE = "attendance"
PARTS = (ALL, REFERENCE, ATTENDANCE)


@dataclass
class SyncOptions:
    """One sync: where it loads, how it checkpoints, and the source settings given explicitly.

    `source` holds only what the caller sets (flags, tests); every other source setting comes
    from `[sources.aeries]` through `AeriesConfiguration`, where each is declared once.
    """

    source: Dict[str, Any] = field(default_factory=dict)
    destination: str = "duckdb"
    duckdb_path: Optional[str] = None
    postgres_credentials: Optional[str] = None
    dataset_name: str = "aeries"
    pipeline_name: str = "aeries_attendance"
    pipelines_dir: Optional[str] = None
    dry_run: bool = False
    checkpoint_every: Optional[int] = None
    checkpoint_seconds: Optional[float] = DEFAULT_CHECKPOINT_SECONDS
    audit_log: Optional[str] = None
    duckdb_memory_limit: Optional[str] = DEFAULT_DUCKDB_MEMORY_LIMIT
    # What the sync loads: everything (`ALL`, the command), or one part of it for an orchestrator's
    # task: the reference tables (`REFERENCE`) or the attendance of the selected schools (`ATTENDANCE`).
    part: str = "all"
    # dlt's staging dataset name layout (default `%s_staging`); tasks that load one dataset at the
    # same time each need their own staging tables.
    staging_layout: Optional[str] = None
    # Rebuild the attendance measures after the sync (an orchestrator does it once, after its tasks).
    refresh_measures: bool = True

    def __getattr__(self, name: str) -> Any:
        # Source settings read as attributes (`options.start_date`): what was given, else None.
        if name in AeriesConfiguration.get_resolvable_fields():
            return self.__dict__.get("source", {}).get(name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dataclass_fields__:
            super().__setattr__(name, value)
        elif name in AeriesConfiguration.get_resolvable_fields():
            self.source[name] = value
        elif name == "retry" and isinstance(value, RetryPolicy):
            self.source.update(retry_settings(value))
        else:
            super().__setattr__(name, value)


def sync_options(**settings: Any) -> SyncOptions:
    """Build `SyncOptions` from one flat set of settings: source settings go to `source`.

    A `retry` RetryPolicy is spread over the `request_*` settings.
    """
    options = SyncOptions()
    for name, value in settings.items():
        setattr(options, name, value)
    return options


def retry_settings(policy: RetryPolicy) -> Dict[str, Any]:
    """A RetryPolicy as the source's `request_*` settings."""
    return {
        "request_max_attempts": policy.max_attempts, "request_backoff_factor": policy.backoff_factor,
        "request_max_retry_delay": policy.max_delay, "request_max_total_wait": policy.max_total_wait,
        "request_jitter": policy.jitter, "request_timeout": policy.timeout,
    }


def duckdb_file(options: SyncOptions) -> str:
    """Absolute path of the DuckDB database; relative paths are taken from the working directory."""
    return str(Path(options.duckdb_path or f"{options.pipeline_name}.duckdb").resolve())


def validate_options(options: SyncOptions) -> None:
    """Refuse command settings that cannot work, before anything is requested or written.

    Raises:
        AeriesConfigError: With one line naming the problem and how to fix it.
    """
    if options.checkpoint_every is not None and options.checkpoint_every < 1:
        raise AeriesConfigError("checkpoint_every must be a positive number of batches")
    if options.duckdb_memory_limit and not _MEMORY_SIZE.match(options.duckdb_memory_limit):
        raise AeriesConfigError(f"duckdb_memory_limit must be a size such as \"100MB\" or \"2GB\", "
                                f"not {options.duckdb_memory_limit!r}")
    if options.checkpoint_seconds is not None and options.checkpoint_seconds < 0:
        raise AeriesConfigError("checkpoint_seconds cannot be negative (0 means no time limit)")
    if options.destination not in ("duckdb", "postgres"):
        raise AeriesConfigError("destination must be duckdb or postgres")
    if options.part not in PARTS:
        raise AeriesConfigError(f"part must be one of {', '.join(PARTS)}")
    if options.staging_layout is not None and options.staging_layout.count("%s") != 1:
        raise AeriesConfigError("staging_layout must hold %s once, where the dataset name goes")
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
