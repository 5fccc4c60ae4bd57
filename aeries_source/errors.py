"""Error classes of the Aeries source and the classification of request failures."""

import socket
from typing import Iterator, Optional

import requests
import urllib3

# Failure classes used in summaries, logs and sync_runs.
AUTH = "auth"
TLS = "tls"
DNS = "dns"
CONNECTION_REFUSED = "connection_refused"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION_RESET = "connection_reset"
MALFORMED_RESPONSE = "malformed_response"
NOT_FOUND = "not_found"
CLIENT_ERROR = "client_error"

CRITICAL_CLASSES = frozenset({AUTH, TLS, DNS, CONNECTION_REFUSED})


class AeriesError(Exception):
    """Base class of every error this source raises on purpose.

    Messages never contain the certificate or student data: only the error class, the endpoint
    name, the school and the status.
    """

    def __init__(self, message: str, error_class: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class AeriesCriticalError(AeriesError):
    """A failure no retry can fix (authentication, TLS, DNS, connection refused): stop the run."""


class AeriesRequestError(AeriesError):
    """A transient failure that persisted after every retry (timeouts, 5xx, 429, bad JSON)."""


class AeriesConfigError(AeriesError):
    """Configuration or arguments that cannot work; reported before anything is written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "config")


def classify_status(status: int) -> Optional[str]:
    """Return the failure class of an HTTP status, or None for success."""
    if status < 400:
        return None
    if status in (401, 403):
        return AUTH
    if status == 404:
        return NOT_FOUND
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return SERVER_ERROR
    return CLIENT_ERROR


def classify_exception(exc: BaseException) -> str:
    """Return the failure class of an exception raised while sending a request."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TLS
    if isinstance(exc, requests.exceptions.Timeout):
        return TIMEOUT
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return CONNECTION_RESET
    if isinstance(exc, requests.exceptions.ConnectionError):
        # requests wraps urllib3's errors (MaxRetryError -> NameResolutionError -> socket.gaierror);
        # the wrapped types say what happened, the message text varies by platform.
        chain = list(_chain(exc))
        if any(isinstance(e, (urllib3.exceptions.NameResolutionError, socket.gaierror)) for e in chain):
            return DNS
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return CONNECTION_REFUSED
        return CONNECTION_RESET
    if isinstance(exc, ValueError):
        return MALFORMED_RESPONSE
    return CONNECTION_RESET


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield `exc` and the exceptions it wraps (arguments, `.reason`, chaining), each once."""
    seen: set = set()
    queue = [exc]
    while queue:
        current = queue.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        queue.extend(n for n in nested if isinstance(n, BaseException))
