"""The district's school calendar: weekdays, holidays and 20-school-day attendance months."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

DAYS_PER_ATTENDANCE_MONTH = 20
LOCK_AFTER_DAYS = 10  # districts lock a month roughly ten days after it ends, once ADA is reconciled


@dataclass(frozen=True)
class CalendarDay:
    """One weekday row of the calendar."""

    day: date
    day_number: int
    holiday_code: str
    attendance_month: int

    @property
    def instructional(self) -> bool:
        """True when attendance can be taken that day."""
        return self.holiday_code == ""


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """Return the n-th (1-based; -1 = last) given weekday of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def holidays(first_day: date, last_day: date) -> set[date]:
    """Return the district holidays between two dates, US public-school style.

    Args:
        first_day: First school day.
        last_day: Last school day.

    Returns:
        Weekday dates that carry HolidayCode "#".
    """
    found: set[date] = set()
    for year in range(first_day.year, last_day.year + 1):
        found.add(_nth_weekday(year, 9, 0, 1))  # Labor Day
        found.add(date(year, 11, 11))  # Veterans Day
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        found.update(thanksgiving + timedelta(days=k) for k in range(-3, 2))  # the whole week
        found.update(date(year, 12, 23) + timedelta(days=k) for k in range(10))  # winter break
        found.add(_nth_weekday(year, 1, 0, 3))  # Martin Luther King Jr. Day
        found.add(_nth_weekday(year, 2, 0, 3))  # Presidents' Day
        spring = _nth_weekday(year, 4, 0, 1)
        found.update(spring + timedelta(days=k) for k in range(5))  # spring break
        found.add(_nth_weekday(year, 5, 0, -1))  # Memorial Day
    return {d for d in found if first_day < d < last_day and d.weekday() < 5}


class SchoolCalendar:
    """Every weekday of one school year, with attendance months and lock rules."""

    def __init__(self, first_day: date, last_day: date) -> None:
        """Build the calendar rows.

        Args:
            first_day: First school day (inclusive).
            last_day: Last school day (inclusive).
        """
        off = holidays(first_day, last_day)
        rows: list[CalendarDay] = []
        taught = 0
        day = first_day
        while day <= last_day:
            if day.weekday() < 5:
                if day in off:
                    # A holiday belongs to the month of the next school day and repeats
                    # the previous day number, as Aeries calendars do.
                    rows.append(CalendarDay(day, taught, "#", taught // DAYS_PER_ATTENDANCE_MONTH + 1))
                else:
                    rows.append(CalendarDay(day, taught + 1, "", taught // DAYS_PER_ATTENDANCE_MONTH + 1))
                    taught += 1
            day += timedelta(days=1)
        self.first_day = first_day
        self.last_day = last_day
        self.rows: tuple[CalendarDay, ...] = tuple(rows)
        self.school_days: tuple[date, ...] = tuple(r.day for r in rows if r.instructional)
        self.school_ordinals: tuple[int, ...] = tuple(d.toordinal() for d in self.school_days)
        self._school_day_set = frozenset(self.school_days)
        self._month_of = {r.day: r.attendance_month for r in rows}
        last_of: dict[int, date] = {}
        first_of: dict[int, date] = {}
        for row in rows:
            last_of[row.attendance_month] = row.day
            first_of.setdefault(row.attendance_month, row.day)
        self.month_last_day = last_of
        self.month_first_day = first_of

    def month_of(self, day: date) -> int | None:
        """Return the attendance month of a calendar weekday, or None outside the calendar."""
        return self._month_of.get(day)

    def is_school_day(self, day: date) -> bool:
        """True if attendance can exist on ``day``."""
        return day in self._school_day_set

    def school_ordinals_between(self, start: date, end: date) -> tuple[int, ...]:
        """Return ordinals of instructional days in [start, end], both inclusive."""
        lo = bisect_left(self.school_ordinals, start.toordinal())
        hi = bisect_right(self.school_ordinals, end.toordinal())
        return self.school_ordinals[lo:hi]

    def auto_locked(self, month: int, today: date) -> bool:
        """True when a month ended more than LOCK_AFTER_DAYS days before ``today``."""
        last = self.month_last_day.get(month)
        return last is not None and (today - last).days > LOCK_AFTER_DAYS
