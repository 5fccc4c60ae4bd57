"""Lookups over a school's Aeries calendar: attendance months, locks and correction deadlines."""

from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from aeries_source.dates import parse_aeries_date


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One calendar row reduced to what the attendance transform needs."""

    day: date
    attendance_month: int
    locked: bool
    holiday_code: str
    period_pattern: str


class CalendarIndex:
    """Answers per-date questions about one school's calendar.

    Correction rule: a date can be corrected while its attendance month is not locked
    (`AttendanceMonthLocked`); its correction deadline is the last calendar day of that attendance
    month, after which districts reconcile and lock the month.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._days: Dict[date, CalendarDay] = {}
        self._month_end: Dict[int, date] = {}
        self._month_start: Dict[int, date] = {}
        for row in rows:
            day = parse_aeries_date(row.get("CalendarDate"))
            if day is None:
                continue
            month = int(row.get("AttendanceMonth") or 0)
            self._days[day] = CalendarDay(
                day=day,
                attendance_month=month,
                locked=bool(row.get("AttendanceMonthLocked")),
                holiday_code=str(row.get("HolidayCode") or ""),
                period_pattern=str(row.get("PeriodBlockPattern") or ""),
            )
            if month:
                self._month_end[month] = max(self._month_end.get(month, day), day)
                self._month_start[month] = min(self._month_start.get(month, day), day)

    def __len__(self) -> int:
        return len(self._days)

    def get(self, day: date) -> Optional[CalendarDay]:
        """Return the calendar row of `day`, or None if the calendar does not list it."""
        return self._days.get(day)

    def can_be_corrected(self, day: date) -> bool:
        """Tell whether attendance on `day` can still change (its attendance month is unlocked)."""
        entry = self._days.get(day)
        return True if entry is None else not entry.locked

    def correction_deadline(self, day: date) -> Optional[date]:
        """Return the last calendar day of `day`'s attendance month, or None if unknown."""
        entry = self._days.get(day)
        if entry is None or not entry.attendance_month:
            return None
        return self._month_end.get(entry.attendance_month)

    def periods(self) -> List[str]:
        """Return the sorted set of period digits that meet on any day of the calendar."""
        digits = {ch for entry in self._days.values() for ch in entry.period_pattern if ch.isdigit()}
        return sorted(digits)

    def has_locked_months(self) -> bool:
        """Tell whether any attendance month of the calendar is locked."""
        return any(entry.locked for entry in self._days.values())

    def first_unlocked_day(self) -> Optional[date]:
        """Return the first day of the earliest unlocked attendance month, or None if all are locked."""
        unlocked = [self._month_start[m] for m in self._month_start if not self._month_locked(m)]
        return min(unlocked) if unlocked else None

    def months_between(self, start: date, end: date) -> List[Tuple[int, date, date, bool]]:
        """Return the attendance months with a day in `start`..`end`: (month, first day, last day, locked)."""
        months = sorted({e.attendance_month for d, e in self._days.items() if start <= d <= end and e.attendance_month})
        return [(m, self._month_start[m], self._month_end[m], self._month_locked(m)) for m in months]

    def is_locked(self, day: date) -> bool:
        """Tell whether `day`'s attendance month is locked now (False for a day the calendar does not list)."""
        entry = self._days.get(day)
        return bool(entry and entry.attendance_month and self._month_locked(entry.attendance_month))

    def _month_locked(self, month: int) -> bool:
        return any(e.locked for e in self._days.values() if e.attendance_month == month)
