"""The `data_through` table: per school, how far attendance has been read, and the server date of that read.

Analysts need it to count "days enrolled so far" without guessing from `sync_batches`: attendance
is sparse (a day without codes has no row), so the absence of rows says nothing about whether a
date was read yet.
"""

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence

import dlt

from aeries_source.planning import Batch
from aeries_source.runtime import SyncRuntime
from aeries_source.tables import DATA_THROUGH

# Key of the mark in the per-school attendance resource's state: the row is only rewritten when
# it changes, and an older range read later is compared against it.
STATE_KEY = "data_through"


@dataclass(frozen=True)
class DataThrough:
    """How far one school's attendance has been read, and the Aeries server's date at that read."""

    data_through: date
    server_date: Optional[date]

    def to_state(self) -> Dict[str, Optional[str]]:
        """Return the mark as JSON-able resource state."""
        return {"data_through": self.data_through.isoformat(),
                "server_date": self.server_date.isoformat() if self.server_date else None}

    @classmethod
    def from_state(cls, value: Any) -> Optional["DataThrough"]:
        """Read a mark saved by `to_state`; None when there is none (or it is unreadable)."""
        if not isinstance(value, dict) or not value.get("data_through"):
            return None
        server = value.get("server_date")
        return cls(date.fromisoformat(value["data_through"]), date.fromisoformat(server) if server else None)


def advance(
    previous: Optional[DataThrough], read_ends: Iterable[date], server_date: Optional[date]
) -> Optional[DataThrough]:
    """Return the new mark after windows ending on `read_ends` were read, or None if it does not change.

    The mark never moves back: a re-read of an older range (an explicit `start_date`/`end_date`)
    leaves it, and its server date, as they were. A read that reaches the mark again (or passes
    it) takes the server date of this read. With nothing read the mark stays.
    """
    last = max(read_ends, default=None)
    if last is None or (previous is not None and last < previous.data_through):
        return None
    new = DataThrough(last, server_date)
    return None if new == previous else new


def data_through_items(
    runtime: SyncRuntime, resource_name: str, school_code: int, batches: Sequence[Batch]
) -> Iterator[Any]:
    """Yield the school's `data_through` row when this run moved its mark (at most one row per run).

    Called by the school's attendance resource after it read what it may in this pipeline run, so
    the row and the attendance it describes are committed in the same load package, together
    with the mark kept in resource state. A batch counts as read when the sync has it done
    (`runtime.done`: read now or found read in the checkpoint); failed and skipped batches do not.
    """
    state = dlt.current.resource_state(resource_name)
    previous = DataThrough.from_state(state.get(STATE_KEY))
    server_now = runtime.ensure_plan().server_now
    new = advance(previous, [u.end for u in batches if u.number in runtime.done],
                  server_now.date() if server_now is not None else None)
    if new is None:
        return
    state[STATE_KEY] = new.to_state()
    row = {"school_code": school_code, "data_through": new.data_through, "server_date": new.server_date,
           "synced_at": datetime.now(timezone.utc), "operation_id": runtime.run_id}
    yield dlt.mark.with_table_name([row], DATA_THROUGH.name)  # its hints are declared on the resource
