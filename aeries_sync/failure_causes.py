"""Find the root cause of a failure by exception type and say it in one line, secrets masked."""

import re
import socket
from typing import Iterator, List, Optional, Tuple, Type

from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigurationValueError,
    ConfigValueCannotBeCoercedException,
)

from aeries_source.errors import AeriesConfigError, AeriesCriticalError, AeriesError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_CRITICAL = 4

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield an exception and everything it wraps, each once, outermost first.

    Follows dlt's step wrappers (`.exception`), urllib3's `.reason`, explicit and implicit
    chaining and exceptions passed as arguments (requests wraps urllib3's errors that way).
    """
    seen: List[int] = []
    queue: List[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.append(id(current))
        yield current
        nested = [getattr(current, "exception", None), getattr(current, "reason", None),
                  current.__cause__, current.__context__, *current.args]
        queue.extend(n for n in nested if isinstance(n, BaseException))


def find_cause(exc: BaseException, *types: Type[BaseException]) -> Optional[BaseException]:
    """Return the outermost exception in `exc`'s chain that is an instance of one of `types`."""
    return next((c for c in causes(exc) if isinstance(c, types)), None)


def _driver_errors() -> Tuple[Type[BaseException], ...]:
    """The database drivers' connection-level error classes that are installed."""
    found: List[Type[BaseException]] = []
    try:
        import psycopg2

        found.append(psycopg2.OperationalError)
    except ImportError:  # a DuckDB-only install
        pass
    try:
        import duckdb

        found.append(duckdb.IOException)
    except ImportError:
        pass
    return tuple(found)


def _out_of_memory_errors() -> Tuple[Type[BaseException], ...]:
    """DuckDB's out-of-memory error class, when DuckDB is installed."""
    try:
        import duckdb
    except ImportError:  # a Postgres-only install
        return ()
    return (duckdb.OutOfMemoryException,)


def out_of_memory(exc: BaseException) -> bool:
    """Whether DuckDB ran out of the memory it is allowed (its `memory_limit`) somewhere in `exc`'s chain."""
    errors = _out_of_memory_errors()
    return bool(errors) and find_cause(exc, *errors) is not None


def mask_secrets(text: str, secrets: Tuple[str, ...] = ()) -> str:
    """Mask passwords in connection strings (`user:***@`, `password=***`) and any given secret."""
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    text = _KEYWORD_PASSWORD.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def one_line(exc: BaseException, secrets: Tuple[str, ...] = (), limit: int = 300) -> str:
    """Return an exception's message as one line, secrets masked, at most `limit` characters."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return mask_secrets(text, secrets)[:limit] or type(exc).__name__


def classify_failure(exc: BaseException, secrets: Tuple[str, ...] = ()) -> Tuple[int, str, str]:
    """Map a failure to (exit code, status, one-line cause), by the types in its chain.

    Args:
        exc: What the sync caught (often dlt's `PipelineStepFailed` around the real cause).
        secrets: Values to mask in the message besides URL and keyword passwords.

    Returns:
        2 for configuration (ours, or a dlt setting such as missing destination credentials),
        4 for causes no rerun fixes by itself (Aeries authentication, TLS, DNS, a database that
        cannot be reached), 3 for everything else (the next run picks it up; after DuckDB ran out
        of memory, once its `memory_limit` is raised).
    """
    aeries = find_cause(exc, AeriesError)
    if isinstance(aeries, AeriesConfigError):
        return EXIT_BAD_INPUT, "bad_input", str(aeries)
    if isinstance(aeries, AeriesCriticalError):
        return EXIT_CRITICAL, "critical", str(aeries)
    if aeries is not None:  # a request that failed after its retries
        return EXIT_PARTIAL, "failed", str(aeries)
    missing = find_cause(exc, ConfigFieldMissingException)
    if isinstance(missing, ConfigFieldMissingException):
        fields = ", ".join(missing.fields) or "a field"
        return EXIT_BAD_INPUT, "bad_input", (
            f"destination configuration is missing {fields} ({missing.spec_name}): set "
            "DESTINATION__POSTGRES__CREDENTIALS or [destination.postgres] credentials in .dlt/secrets.toml"
        )
    value = find_cause(exc, ConfigurationValueError)
    if isinstance(value, ConfigValueCannotBeCoercedException):
        return EXIT_BAD_INPUT, "bad_input", (
            f"setting {value.field_name} = {mask_secrets(str(value.field_value), secrets)!r} is not a "
            f"{getattr(value.hint, '__name__', value.hint)}"
        )
    if value is not None:
        return EXIT_BAD_INPUT, "bad_input", f"bad configuration: {one_line(value, secrets)}"
    driver = find_cause(exc, *_driver_errors(), socket.gaierror, ConnectionRefusedError)
    if driver is not None:
        return EXIT_CRITICAL, "critical", (
            f"the destination database could not be reached: {one_line(driver, secrets)}"
        )
    if out_of_memory(exc):
        # dlt retries the load job as transient, but the same limit fails it again: say what to change.
        return EXIT_PARTIAL, "failed", (
            "DuckDB ran out of memory within its memory_limit: raise [sync] duckdb_memory_limit "
            "(SYNC__DUCKDB_MEMORY_LIMIT) and rerun; the rerun finishes the pending load"
        )
    root = root_cause(exc)
    return EXIT_PARTIAL, "failed", f"{type(root).__name__}: {one_line(root, secrets)}"


def root_cause(exc: BaseException) -> BaseException:
    """Follow dlt's wrappers and exception chaining down to the innermost cause."""
    current = exc
    for _ in range(20):
        nested = (getattr(current, "exception", None) or getattr(current, "reason", None)
                  or current.__cause__ or current.__context__)
        if not isinstance(nested, BaseException) or nested is current:
            break
        current = nested
    return current
