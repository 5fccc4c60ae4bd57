"""Performance tweaks of dlt that the command applies explicitly (never at import), each with its reason."""

import functools
import logging

from dlt.common import jsonpath

logger = logging.getLogger(__name__)


def cache_jsonpath_parsing() -> None:
    """Cache dlt's parse of jsonpath strings for this process.

    dlt compiles an incremental's cursor path with jsonpath_ng each time one is created, copied or
    bound, and jsonpath_ng builds its whole parser for every parse (~35 ms here). A sync creates
    dozens per checkpoint run: measured, that was most of the checkpoint overhead. Parsing a path
    string is pure, so caching it changes no result. Applied by `run_sync`, so importing
    `aeries_source` (or this module) leaves dlt as it is. Depends on dlt 1.31's
    `dlt.common.jsonpath._parse`; re-check on upgrade.
    """
    if not hasattr(jsonpath._parse, "cache_info"):
        jsonpath._parse = functools.lru_cache(maxsize=256)(jsonpath._parse)  # type: ignore[assignment]
        logger.debug("dlt's jsonpath parsing is cached for this process")
