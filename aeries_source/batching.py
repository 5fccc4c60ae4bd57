"""Splitting a date range into inclusive chunks of whole days."""

from datetime import date, timedelta
from typing import List, Tuple

DateWindow = Tuple[date, date]


def date_batches(start: date, end: date, batch_days: int) -> List[DateWindow]:
    """Split `start`..`end` (both inclusive) into consecutive windows of at most `batch_days` days.

    Windows are contiguous, never overlap, and the last one ends exactly on `end`, so month and
    year boundaries need no special handling: a window simply spans them.

    Args:
        start: First day of the range.
        end: Last day of the range (inclusive).
        batch_days: Maximum number of calendar days per window; must be positive.

    Returns:
        The windows as (first_day, last_day) pairs; empty when `end` is before `start`.
    """
    if batch_days <= 0:
        raise ValueError("batch_days must be a positive number of days")
    windows: List[DateWindow] = []
    lo = start
    while lo <= end:
        hi = min(lo + timedelta(days=batch_days - 1), end)
        windows.append((lo, hi))
        lo = hi + timedelta(days=1)
    return windows


def aeries_date(day: date) -> str:
    """Format a date the way Aeries' attendance filters expect it (`YYYYMMDD`)."""
    return day.strftime("%Y%m%d")
