"""dlt's DuckDB and Postgres destinations with their capabilities worked out once per sync."""

import copy
from typing import Any, Optional

import dlt
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.destination.reference import DestinationReference


class _CapabilitiesOnce:
    """Keeps the destination's default capabilities after the first time they are asked for.

    dlt asks a destination factory for its capabilities some 25 times per pipeline run, and each
    time resolves the destination's whole configuration again (for DuckDB on an open connection
    that includes a query): measured, about a fifth of a checkpoint's fixed cost. The default
    capabilities cannot change during a sync, so they are computed once; calls with an explicit
    config or naming convention go to dlt as before. Depends on dlt 1.31's `Destination`
    (`capabilities`, `destination_type`); re-check on upgrade.
    """

    _default_capabilities: Optional[DestinationCapabilitiesContext] = None

    def capabilities(self, config: Any = None, naming: Any = None) -> DestinationCapabilitiesContext:
        if config is not None or naming is not None:
            return super().capabilities(config, naming)  # type: ignore[misc]
        if self._default_capabilities is None:
            self._default_capabilities = super().capabilities()  # type: ignore[misc]
        # a copy: callers may adjust what they get
        return copy.copy(self._default_capabilities)

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
