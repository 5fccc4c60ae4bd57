"""Districts of a multi-district deployment, from dlt config: `[districts] names` and one `[districts.<name>]` each."""

import re
from typing import Any, Dict, List, Optional, get_origin

import dlt
from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.configuration.utils import deserialize_value
from dlt.common.typing import extract_inner_type

from aeries_source.config import AeriesConfiguration
from aeries_source.errors import AeriesConfigError
from aeries_sync.options import ALL, SyncOptions, SyncSettings


@configspec
class DagSettings(BaseConfiguration):
    """How Airflow retries the DAG's tasks (`[dag]`, env `DAG__*`)."""

    retries: int = 2
    """Retries of a task whose cause may pass (never of bad configuration or a critical error)."""
    retry_delay_seconds: float = 300.0
    """Seconds between a failed attempt and its retry."""


def dag_settings() -> DagSettings:
    """Resolve `[dag]`."""
    return resolve_configuration(DagSettings(), sections=("dag",))


# Source settings read with dlt.secrets (secrets.toml or environment), never from config.toml.
_SECRET_SETTINGS = ("certificate", "pseudonymize_key")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def district_names() -> List[str]:
    """Return the districts named in `[districts] names` (env `DISTRICTS__NAMES='["north","south"]'`).

    Raises:
        AeriesConfigError: When a name is not lower-case letters, digits and underscores (it names
            an Airflow task group, a config section and the pipelines), or names repeat.
    """
    names = dlt.config.get("districts.names", list) or []
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise AeriesConfigError(f"district name {name!r} must be lower-case letters, digits and underscores")
    if len(set(names)) != len(names):
        raise AeriesConfigError("[districts] names lists a district twice")
    return list(names)


def district_source_settings(name: str) -> Dict[str, Any]:
    """Return the `[sources.aeries]` settings that `[districts.<name>]` overrides (certificate included).

    Raises:
        AeriesConfigError: When a value cannot be read as its setting's type.
    """
    settings: Dict[str, Any] = {}
    for field, hint in AeriesConfiguration.get_resolvable_fields().items():
        key = f"districts.{name}.{field}"
        if field in _SECRET_SETTINGS:
            secret: Any = dlt.secrets.get(key)
            if secret is not None:
                settings[field] = str(secret)
            continue
        value: Any = dlt.config.get(key)
        if value is None:
            continue
        # dlt reads env values as text; its coercion takes plain types, not Optional[...] or List[int].
        inner = extract_inner_type(hint)
        try:
            settings[field] = deserialize_value(key, value, get_origin(inner) or inner)
        except Exception:
            raise AeriesConfigError(f"[districts.{name}] {field} = {value!r} is not a valid {field}") from None
    return settings


def district_options(
    name: str, part: str = ALL, school_code: Optional[int] = None, pipelines_dir: Optional[str] = None,
) -> SyncOptions:
    """Return the sync options of one district, or of one part of it (an orchestrator's task).

    Each part loads into the district's dataset under its own pipeline name, so its state (cursor,
    watermarks) is its own and is restored from the destination on any worker; a school's
    attendance also has its own staging dataset, so schools loading at the same time never share
    staging tables.

    Args:
        name: A name from `district_names()`.
        part: `all`, `reference` or `attendance` (see `SyncOptions.part`).
        school_code: The one school whose attendance to load (with `part="attendance"`).
        pipelines_dir: dlt's local folder for the pipeline (a temporary one on a worker).

    Raises:
        AeriesConfigError: When the district has no `dataset_name` or `base_url`.
    """
    source = district_source_settings(name)
    dataset: Any = dlt.config.get(f"districts.{name}.dataset_name")
    if not dataset:
        raise AeriesConfigError(f"[districts.{name}] dataset_name is not set")
    if not source.get("base_url"):
        raise AeriesConfigError(f"[districts.{name}] base_url is not set")
    pipeline_name = f"aeries_{name}"
    staging_layout = None
    if school_code is not None:
        source["school_codes"] = [school_code]
        pipeline_name = f"aeries_{name}_{part}_{school_code}"
        staging_layout = f"%s_staging_{school_code}"
    elif part != ALL:
        pipeline_name = f"aeries_{name}_{part}"
    command = resolve_configuration(SyncSettings(), sections=("sync",))
    return SyncOptions(source=source, destination="postgres", dataset_name=str(dataset),
                       pipeline_name=pipeline_name, pipelines_dir=pipelines_dir, part=part,
                       staging_layout=staging_layout, refresh_measures=part == ALL,
                       checkpoint_every=command.checkpoint_every, checkpoint_seconds=command.checkpoint_seconds,
                       audit_log=command.audit_log)
