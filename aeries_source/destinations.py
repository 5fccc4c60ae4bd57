"""dlt's DuckDB and Postgres destinations with their capabilities worked out once per sync."""

import copy
from typing import Any, Dict, Optional, Tuple

import dlt
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.destination.reference import DestinationReference


class _CapabilitiesOnce:
    """Keeps the destination's capabilities after the first time they are asked for.

    dlt asks a destination factory for its capabilities some 25 times per pipeline run, and each
    time resolves the destination's whole configuration again (for DuckDB on an open connection
    that includes a query): measured, about a fifth of a checkpoint's fixed cost. The default
    capabilities cannot change during a sync, so they are computed once per naming convention;
    calls with an explicit config go to dlt as before. Depends on dlt 1.31's `Destination`
    (`capabilities`, `destination_type`); re-check on upgrade.
    """

    _capabilities_by_naming: Optional[Dict[Tuple[Any, ...], DestinationCapabilitiesContext]] = None

    def capabilities(self, config: Any = None, naming: Any = None) -> DestinationCapabilitiesContext:
        if config is not None:
            return super().capabilities(config, naming)  # type: ignore[misc]
        # dlt passes the schema's naming convention: a new instance per schema object, the same
        # kind and settings throughout a sync
        key = (type(naming), getattr(naming, "max_length", None), getattr(naming, "is_case_sensitive", None))
        if self._capabilities_by_naming is None:
            self._capabilities_by_naming = {}
        if key not in self._capabilities_by_naming:
            self._capabilities_by_naming[key] = super().capabilities(naming=naming)  # type: ignore[misc]
        # a copy: callers may adjust what they get
        return copy.copy(self._capabilities_by_naming[key])

    @property
    def destination_type(self) -> str:
        # The type of the dlt factory this class extends, so pipeline state and configuration
        # sections are exactly those of the plain dlt destination.
        base = next(c for c in type(self).__mro__ if c.__module__.startswith("dlt."))
        return DestinationReference.normalize_type(f"{base.__module__}.{base.__qualname__}")


class DuckDb(_CapabilitiesOnce, dlt.destinations.duckdb):
    """`dlt.destinations.duckdb` with capabilities computed once."""


class Postgres(_CapabilitiesOnce, dlt.destinations.postgres):
    """`dlt.destinations.postgres` with capabilities computed once."""
