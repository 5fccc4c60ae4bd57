"""The request pipeline: route match, fault injection, certificate check, handler, request log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from . import admin, routes
from .faults import Fault, FaultKind
from .server import RequestHandler

if TYPE_CHECKING:
    from .simulator import AeriesSimulator

logger = logging.getLogger(__name__)

_UNAUTHORIZED = "Authorization has been denied for this request."


@dataclass(frozen=True)
class RequestRecord:
    """One logged API request."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: datetime
    """When the answer was ready to be written (the request's end, as far as the server knows).

    Logged before the answer goes out: a client that has its answer finds the request in the log."""
    started_at: datetime | None = None
    """When the request line arrived (the request's start)."""


def _fault_response(fault: Fault, normal: routes.Response) -> routes.Response:
    kind = fault.kind
    if kind is FaultKind.RATE_LIMIT:
        response = routes.message(fault.status or 429, "API calls quota exceeded! Try again later.")
        response.headers["Retry-After"] = "1"
        return response
    if kind is FaultKind.UNAUTHORIZED:
        return routes.message(fault.status or 401, _UNAUTHORIZED)
    if kind is FaultKind.MALFORMED_JSON:
        # Half a document followed by an HTML fragment: what a proxy error page spliced into JSON looks like.
        body = normal.body[: max(1, len(normal.body) // 2)] + b"<html><body>Synthetic proxy error</body>"
        return routes.Response(200, body, {"Content-Type": "application/json; charset=utf-8"})
    defaults = {FaultKind.SERVER_ERROR: (500, True), FaultKind.BAD_GATEWAY: (502, False),
                FaultKind.UNAVAILABLE: (503, True)}
    status, with_message = defaults.get(kind, (500, True))
    status = fault.status or status
    if fault.message if fault.message is not None else with_message:
        return routes.message(status, "An error has occurred.")
    return routes.Response(status, b"", {})


def dispatch(sim: AeriesSimulator, handler: RequestHandler) -> None:
    """Serve one HTTP request on behalf of ``sim``.

    Args:
        sim: The simulator whose state, faults and options apply.
        handler: The live request.
    """
    started_at = datetime.now()
    parts = urlsplit(handler.path)
    path = parts.path
    raw_query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query = {k.lower(): v for k, v in raw_query.items()}
    method = handler.command
    length = int(handler.headers.get("Content-Length") or 0)
    if length > 0:  # drain any body so the next request on this keep-alive connection parses
        handler.rfile.read(length)

    if path.lower().startswith(admin.PREFIX + "/") and sim.admin_routes:
        handler.write(admin.handle(sim, method, path, query))
        return

    found = routes.match(path) if method == "GET" else None
    logged = False

    def log(status: int) -> None:
        nonlocal logged
        logged = True
        sim._log(RequestRecord(method, path, raw_query, status, datetime.now(), started_at))

    try:
        if found is None:
            response = routes.not_found(method, path)
            if method != "GET" and routes.match(path) is not None:
                response = routes.message(405, f"The requested resource does not support http method '{method}'.")
            log(response.status)
            handler.write(response)
            return
        decision = sim.faults.decide(found.name, found.school)
        if decision.latency and sim._stopping.wait(sim.fault_latency_seconds):
            handler.reset()
            return
        fault = decision.fault
        if fault is not None and fault.kind is FaultKind.CONNECTION_RESET:
            handler.reset()
            return
        if fault is not None and fault.kind is FaultKind.HANG:
            if sim._stopping.wait(sim.fault_hang_seconds):
                handler.reset()
                return
            fault = None  # the client has long given up; answer normally for whoever is left
        response = _authorized_response(sim, found, handler, query)
        if fault is not None and fault.kind is not FaultKind.TRUNCATED_JSON:
            # Gateway-level faults win over whatever the application would have said.
            response = _fault_response(fault, response)
        log(response.status)
        if fault is not None and fault.kind is FaultKind.TRUNCATED_JSON:
            handler.write_truncated(response)
        else:
            handler.write(response)
    finally:
        if not logged:  # reset, or failed before an answer
            log(0)


def _authorized_response(sim: AeriesSimulator, found: routes.Match, handler: RequestHandler,
                         query: dict[str, str]) -> routes.Response:
    if found.name != "systeminfo":
        certificate = handler.headers.get("AERIES-CERT") or query.get("cert")
        if certificate != sim.certificate:  # value compared case-sensitively, as Aeries does
            return routes.message(401, _UNAUTHORIZED)
    return routes.handle(found, query, sim._state, sim.options)

