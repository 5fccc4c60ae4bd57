"""Fault injection: which request gets which failure, by seeded probability or ordered script."""

from __future__ import annotations

import enum
import random
import threading
from dataclasses import dataclass, field

ROUTE_NAMES = ("systeminfo", "schools", "calendar", "absencecodes", "terms", "students", "enrollment",
               "attendance", "attendancehistory", "datachanges")


class FaultKind(enum.Enum):
    """Kinds of failure the simulator can inject."""

    LATENCY = "latency"  # delay, then the normal response
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After: 1
    SERVER_ERROR = "server_error"  # 500 with a Message body
    BAD_GATEWAY = "bad_gateway"  # 502 with no body
    UNAVAILABLE = "unavailable"  # 503, with a Message body unless message=False
    CONNECTION_RESET = "connection_reset"  # TCP reset before any response byte
    HANG = "hang"  # no response for fault_hang_seconds
    MALFORMED_JSON = "malformed_json"  # 200 with a body that is not JSON
    TRUNCATED_JSON = "truncated_json"  # Content-Length promises more than is sent, then close
    UNAUTHORIZED = "unauthorized"  # 401 with a Message body, as if the certificate was revoked


@dataclass(frozen=True)
class Fault:
    """One injected failure as the server should carry it out."""

    kind: FaultKind
    status: int | None = None
    message: bool | None = None


@dataclass
class _Rule:
    fault: Fault
    route: str
    probability: float
    rng: random.Random
    remaining: int | None


@dataclass
class _Script:
    route: str
    kinds: list[Fault | None]
    seen: int = 0


@dataclass
class Decision:
    """What to do with one request: delay it, and/or replace its response with a fault."""

    latency: bool = False
    fault: Fault | None = None
    labels: list[str] = field(default_factory=list)


def route_matches(pattern: str, route: str, school: int | None) -> bool:
    """True if a fault route pattern ("*", "attendance", "attendance@101") matches a request."""
    name, _, scope = pattern.lower().partition("@")
    if name not in ("*", route):
        return False
    return not scope or (school is not None and scope == str(school))


class FaultPlan:
    """Thread-safe set of fault rules and scripts consulted once per API request."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._scripts: list[_Script] = []

    def add(self, kind: FaultKind, route: str = "*", probability: float = 1.0, seed: int = 0,
            status: int | None = None, times: int | None = None, message: bool | None = None) -> None:
        """Inject ``kind`` into matching requests with a seeded probability.

        Args:
            kind: The failure.
            route: Route name (see ROUTE_NAMES), "*" for all, optionally "@<school code>".
            probability: Chance per matching request, drawn from ``random.Random(seed)``.
            seed: Seed of this rule's draws, so a run is repeatable.
            status: Override the HTTP status (e.g. 500/502/503 for error kinds).
            times: Stop after firing this many times (None = unlimited).
            message: Whether error responses carry a {"Message"} body (None = the kind's default).
        """
        _check_route(route)
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        with self._lock:
            self._rules.append(_Rule(Fault(FaultKind(kind), status, message), route, probability,
                                     random.Random(seed), times))

    def script(self, route: str, kinds: list[FaultKind | None]) -> None:
        """Give the n-th matching request ``kinds[n]`` (None = normal); later requests are normal.

        Args:
            route: Route pattern as for :meth:`add`.
            kinds: Ordered faults; None entries let a request through.
        """
        _check_route(route)
        with self._lock:
            self._scripts.append(_Script(route, [None if k is None else Fault(FaultKind(k)) for k in kinds]))

    def clear(self) -> None:
        """Remove every rule and script."""
        with self._lock:
            self._rules.clear()
            self._scripts.clear()

    def decide(self, route: str, school: int | None) -> Decision:
        """Return what to inject for one request to ``route`` (at ``school``, if any)."""
        decision = Decision()
        with self._lock:
            for script in self._scripts:
                if not route_matches(script.route, route, school):
                    continue
                index = script.seen
                script.seen += 1
                fault = script.kinds[index] if index < len(script.kinds) else None
                if fault is not None:
                    _apply(decision, fault)
            for rule in self._rules:
                if not route_matches(rule.route, route, school) or rule.remaining == 0:
                    continue
                if decision.fault is not None and rule.fault.kind is not FaultKind.LATENCY:
                    continue
                if rule.rng.random() < rule.probability:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    _apply(decision, rule.fault)
        return decision


def _apply(decision: Decision, fault: Fault) -> None:
    if fault.kind is FaultKind.LATENCY:
        decision.latency = True
    elif decision.fault is None:
        decision.fault = fault
    decision.labels.append(fault.kind.value)


def _check_route(route: str) -> None:
    name = route.lower().partition("@")[0]
    if name != "*" and name not in ROUTE_NAMES:
        raise ValueError(f"unknown fault route {route!r}; use one of {', '.join(ROUTE_NAMES)} or '*'")
