"""Optional HTTP admin routes under /_admin/ that drive the simulator's change and fault API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from .faults import FaultKind
from .routes import Response, json_response, message

if TYPE_CHECKING:
    from .simulator import AeriesSimulator

PREFIX = "/_admin"


def _day(query: dict[str, str], name: str = "date") -> date:
    return date.fromisoformat(query[name])


def _int(query: dict[str, str], name: str) -> int:
    return int(query[name])


def _advance(sim: AeriesSimulator, q: dict[str, str]) -> Any:
    sim.advance_clock(int(q.get("days", 0)), int(q.get("hours", 0)), int(q.get("minutes", 0)))
    return {"now": sim.now.isoformat()}


def _add_fault(sim: AeriesSimulator, q: dict[str, str]) -> Any:
    sim.faults.add(FaultKind[q["kind"].upper()], q.get("route", "*"), float(q.get("probability", 1.0)),
                   int(q.get("seed", 0)), int(q["status"]) if q.get("status") else None,
                   int(q["times"]) if q.get("times") else None)
    return {"ok": True}


def _set(sim: AeriesSimulator, q: dict[str, str]) -> Any:
    classes = {k[1:]: (v or None) for k, v in q.items() if len(k) == 2 and k[0] == "p" and k[1].isdigit()}
    sim.set_attendance(_int(q, "school"), _int(q, "student"), _day(q), q.get("all_day"), classes or None)
    return {"ok": True}


_ACTIONS: dict[str, Callable[[AeriesSimulator, dict[str, str]], Any]] = {
    "clock/advance": _advance,
    "attendance/set": _set,
    "attendance/clear": lambda s, q: s.clear_absence(_int(q, "school"), _int(q, "student"), _day(q)),
    "attendance/excuse": lambda s, q: s.excuse_absence(_int(q, "school"), _int(q, "student"), _day(q)),
    "attendance/add-period": lambda s, q: s.add_period_code(_int(q, "school"), _int(q, "student"), _day(q),
                                                            q["period"], q["code"]),
    "attendance/clear-day": lambda s, q: s.clear_school_day(_int(q, "school"), _day(q)),
    "students/enroll": lambda s, q: {"StudentID": s.enroll_student(_int(q, "school"), _int(q, "grade"), _day(q))},
    "students/withdraw": lambda s, q: s.withdraw_student(_int(q, "school"), _int(q, "student"), _day(q)),
    "calendar/lock": lambda s, q: s.lock_month(_int(q, "school"), _int(q, "month")),
    "history/adjust": lambda s, q: s.adjust_history(_int(q, "school"), _int(q, "student"), q["field"],
                                                    _int(q, "delta")),
    "faults/add": _add_fault,
    "faults/clear": lambda s, q: s.faults.clear(),
}

_READS: dict[str, Callable[[AeriesSimulator, dict[str, str]], Any]] = {
    "state": lambda s, q: {"now": s.now.isoformat(), "today": s.today.isoformat(),
                           "schools": s.school_codes(), "synthetic": True},
    "truth/attendance": lambda s, q: [
        {**row, "date": row["date"].isoformat()}
        for row in s.truth_attendance(_int(q, "school"), _day(q, "start"), _day(q, "end"))],
    "truth/history": lambda s, q: s.truth_history_summary(_int(q, "school")),
}


def handle(sim: AeriesSimulator, method: str, path: str, query: dict[str, str]) -> Response:
    """Serve one admin request (POST for changes, GET for reads).

    Args:
        sim: The simulator to drive.
        method: HTTP method.
        path: Path starting with /_admin/.
        query: Query parameters with lower-cased keys.

    Returns:
        The JSON response.
    """
    name = path[len(PREFIX) + 1:].strip("/").lower()
    table = _ACTIONS if method == "POST" else _READS if method == "GET" else {}
    action = table.get(name)
    if action is None:
        known = [f"POST {PREFIX}/{k}" for k in _ACTIONS] + [f"GET {PREFIX}/{k}" for k in _READS]
        return message(404, f"No admin route {method} {path}", Reason="known: " + ", ".join(known))
    try:
        result = action(sim, query)
    except (KeyError, ValueError) as exc:
        return message(400, f"{type(exc).__name__}: {exc}")
    return json_response(result if result is not None else {"ok": True})
