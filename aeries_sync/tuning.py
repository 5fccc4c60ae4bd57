"""Performance tweaks of dlt that the command applies explicitly (never at import), each with its reason."""

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from typing import Any, Dict, Iterator, Optional, Tuple

import dlt
from dlt.common import jsonpath, validation

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


def cache_schema_type_hints() -> None:
    """Cache the type hints dlt's schema validation evaluates, per TypedDict, for this process.

    dlt validates the table schema of every item it extracts against its TypedDicts, evaluating
    their type hints with `typing.get_type_hints` each time (its own comment there says the result
    should be cached). With a batch per item that was 32 % of the sync's samples at 80 schools x
    500 students (880 attendance items). A TypedDict's hints do not change, so the cache changes
    no result. Applied by `run_sync`, never at import. Depends on dlt 1.31's
    `dlt.common.validation.get_type_hints`; re-check on upgrade.
    """
    evaluate = validation.get_type_hints
    if getattr(evaluate, "aeries_cached", False):
        return
    hints_of: Dict[Tuple[Any, bool], Dict[str, Any]] = {}

    def cached(spec: Any, globalns: Optional[Dict[str, Any]] = None, localns: Optional[Dict[str, Any]] = None,
               include_extras: bool = False) -> Dict[str, Any]:
        key = (spec, include_extras)
        try:
            hints = hints_of.get(key)
        except TypeError:  # not hashable: no TypedDict, evaluated as before
            return evaluate(spec, globalns=globalns, localns=localns, include_extras=include_extras)  # type: ignore[no-any-return]
        if hints is None:
            hints = evaluate(spec, globalns=globalns, localns=localns, include_extras=include_extras)
            hints_of[key] = hints
        return dict(hints)  # a copy: the caller may change what it gets

    cached.aeries_cached = True  # type: ignore[attr-defined]
    validation.get_type_hints = cached  # type: ignore[assignment]
    logger.debug("dlt's schema type hints are cached for this process")


@contextlib.contextmanager
def uncompressed_intermediate_files() -> Iterator[None]:
    """Within the block, dlt writes its extracted and normalized files without gzip.

    dlt gzips every intermediate file at level 9, and those files live only seconds (the sync
    deletes them once loaded): on a full year that was 15 % of all threads' samples, and turning it
    off cut the sync by 19.5 % (`../shared/dlt-notes.md` section 11). The loaded data is the same.
    """
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dlt.config.values({"data_writer.disable_compression": True}))
        except Exception as exc:  # no writable config provider: the sync runs as dlt is configured
            logger.debug("gzip of intermediate files left on: %s", type(exc).__name__)
        yield


# glibc's mallopt parameter for the number of malloc arenas (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let the process's threads share `arenas` glibc malloc arenas instead of up to 8 per core.

    A sync runs a dozen threads (side-by-side reads, the prefetcher, dlt's extract pool); each one
    that allocates gets its own arena, and an arena keeps what was freed in it. Measured on a full
    year of 20 x 2,000 into Postgres: peak RSS 335 -> 294 MiB with two arenas, no slower (25.6 s
    against 26.6 s). Call it first thing in a process (the command does): arenas already made
    stay. Only glibc has it; elsewhere nothing happens.

    Returns:
        Whether the limit was set.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


# glibc's mallopt parameters (malloc.h): blocks at least this large are mmap'd, and the heap's
# free top beyond this is given back.
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1


def return_freed_memory(mmap_threshold: int = 128 * 1024) -> bool:
    """Let glibc give blocks of `mmap_threshold` bytes or more back to the system as soon as they are freed.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
    response bodies and Arrow buffers of a few hundred KiB come from the heap, and what they free
    stays in the process between longer-lived blocks. A fixed threshold keeps them in their own
    mappings. Measured on a full year of 20 x 2,000 into Postgres: peak RSS 248 -> 222 MiB (three
    runs each), at the same speed. Call it first thing in a process, as `limit_malloc_arenas`.
    Only glibc has it; elsewhere nothing happens.

    Returns:
        Whether both settings were taken.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


# Arrow's C++ library reads its default memory pool from this variable once, when pyarrow loads.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def arrow_default_pool_on_system_allocator() -> bool:
    """Make the C library's malloc the default pool of Arrow's C++ code, unless the environment names one.

    `pa.set_memory_pool` (`arrow_on_system_allocator`) changes only the pool pyarrow passes along;
    Arrow's C++ code that takes the library's own default (the parquet writer dlt's extract uses,
    among others) still allocates from mimalloc, which reserved 1 GiB and kept 15-21 MiB of it
    resident through a full year of 20 x 4,000 into Postgres. With this variable set before
    pyarrow loads, that sync peaked at 201-202 MiB instead of 213-218 (three runs each), at the
    same speed. Call it before anything imports pyarrow (the command does, above its imports); a
    pool the environment already names is kept.

    Returns:
        Whether it can take effect: pyarrow was not loaded yet.
    """
    os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
    return "pyarrow" not in sys.modules


def arrow_on_system_allocator() -> None:
    """Let Arrow allocate from the C library's malloc instead of its own mimalloc pool.

    mimalloc keeps what Arrow frees for reuse: measured on a full year of 20 x 2,000 into Postgres,
    peak RSS 300 -> 248 MiB with the system allocator (the two glibc arenas of
    `limit_malloc_arenas`), at the same speed. Arrow never held more than 40 MiB at once there.
    Call it first thing in a process (the command does): memory Arrow already holds stays where it is.
    Arrow's C++ code keeps its own default pool: see `arrow_default_pool_on_system_allocator`.
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
