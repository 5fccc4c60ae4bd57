"""Where each school's sync stands, read from the `aeries` source's dlt state."""

from datetime import date
from typing import Any, Dict, List, Optional, Tuple

import dlt

from aeries_source.calendar_index import CalendarIndex
from aeries_source.planning import uncovered


def attendance_resource_name(school_code: int) -> str:
    """Name of the per-school attendance resource (and of its state and orchestrator task)."""
    return f"attendance_{school_code}"


def current_resource_states() -> Dict[str, Any]:
    """Return the per-resource state of the active pipeline's `aeries` source ({} outside a run)."""
    try:
        return dict(dlt.current.source_state().get("resources", {}))
    except Exception:  # no active pipeline: a plain call outside `pipeline.run`
        return {}


def school_cursor(resource_states: Dict[str, Any], school_code: int) -> Optional[date]:
    """Return how far a school's attendance has been read (its incremental cursor), if at all.

    dlt creates the cursor with `last_value = initial_value` as soon as the resource runs, even
    when it read nothing (a checkpointed run may end before the school's first batch), so the
    cursor counts only once a batch of the school has been committed (`has_read`).
    """
    state = resource_states.get(attendance_resource_name(school_code), {})
    if not state.get("has_read"):
        return None
    cursor = (
        state
        .get("incremental", {})
        .get("attendance_date", {})
        .get("last_value")
    )
    return date.fromisoformat(str(cursor)[:10]) if cursor else None


def school_open_from(resource_states: Dict[str, Any], school_code: int) -> Optional[date]:
    """Return the first unlocked day the school had when its last complete sync finished."""
    value = resource_states.get(attendance_resource_name(school_code), {}).get("open_from")
    return date.fromisoformat(value) if value else None


def school_failed_batches(resource_states: Dict[str, Any], school_code: int) -> List[Tuple[date, date]]:
    """Return the (start, end) of a school's batches that an earlier sync could not read (to retry)."""
    return _batch_dates(resource_states, school_code, "failed_batches")


def school_skipped_batches(resource_states: Dict[str, Any], school_code: int) -> List[Tuple[date, date]]:
    """Return the (start, end) of a school's batches that an earlier sync skipped with `--resume-from-batch`."""
    return _batch_dates(resource_states, school_code, "skipped_batches")


# Key of the attendance months (first and last day) that a sync read while they were unlocked.
OPEN_MONTHS = "open_months"


def school_relocked_months(
    resource_states: Dict[str, Any], school_code: int, calendar: CalendarIndex
) -> List[Tuple[date, date]]:
    """Return the parts of attendance months that were read while unlocked and are locked now.

    Rows read while their month was open say `can_be_corrected`; once the district locks the
    month that is stale, and corrections made before the lock may be missing. Such a month is read
    once more, whatever range the sync asked for (one request per school and month, once).
    """
    state = resource_states.get(attendance_resource_name(school_code), {})
    return [part for part in _open_months(state) if calendar.is_locked(part[0])]


def note_batch_read(state: Dict[str, Any], calendar: CalendarIndex, start: date, end: date) -> None:
    """Record in a school's state which months a batch read while open, and which locked ones it re-read.

    A month read while unlocked is remembered whole (its rows may go stale when it locks); a
    locked month's days read now are final, so they are forgotten.
    """
    parts = _open_months(state)
    for _, first, last, locked in calendar.months_between(start, end):
        if not locked:
            parts = [p for p in parts if not first <= p[0] <= last] + [(first, last)]
        else:
            parts = [q for p in parts for q in uncovered(p[0], p[1], [(max(first, start), min(last, end))])]
    if parts or OPEN_MONTHS in state:
        state[OPEN_MONTHS] = [[a.isoformat(), b.isoformat()] for a, b in sorted(parts)]


def _open_months(state: Dict[str, Any]) -> List[Tuple[date, date]]:
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in state.get(OPEN_MONTHS, [])]


# Names these lists had in the state of earlier versions, read until a sync writes the new ones.
_OLD_KEYS = {"failed_batches": "failed_windows", "skipped_batches": "skipped_windows"}


def _batch_dates(resource_states: Dict[str, Any], school_code: int, key: str) -> List[Tuple[date, date]]:
    state = resource_states.get(attendance_resource_name(school_code), {})
    stored = state.get(key, state.get(_OLD_KEYS[key], []))
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in stored]
