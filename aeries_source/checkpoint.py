"""Where each school's sync stands, read from the `aeries` source's dlt state."""

from datetime import date
from typing import Any, Dict, List, Optional, Tuple

import dlt


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


def school_failed_windows(resource_states: Dict[str, Any], school_code: int) -> List[Tuple[date, date]]:
    """Return the chunks of a school that an earlier sync could not read (to retry)."""
    return _windows(resource_states, school_code, "failed_windows")


def school_skipped_windows(resource_states: Dict[str, Any], school_code: int) -> List[Tuple[date, date]]:
    """Return the chunks of a school that an earlier sync skipped with `--resume-from-batch` (to read)."""
    return _windows(resource_states, school_code, "skipped_windows")


def _windows(resource_states: Dict[str, Any], school_code: int, key: str) -> List[Tuple[date, date]]:
    stored = resource_states.get(attendance_resource_name(school_code), {}).get(key, [])
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in stored]
