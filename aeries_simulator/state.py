"""Mutable simulator state: the clock, attendance corrections, enrollments, locks, history edits and the change log."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .attendance import DayRecord, classes_for, section_number, student_days, window_ordinals
from .codes import CODES_BY_LETTER, EXCUSED_REPLACEMENT, UNVERIFIED
from .district import District, School, StudentRecord, new_student
from .payloads import HISTORY_COUNTERS
from .spec import DistrictSpec

logger = logging.getLogger(__name__)

STUDENT_AREAS = ("student", "contact", "program", "test", "class", "enrollment")


@dataclass(frozen=True)
class Change:
    """One entry of the StudentDataChanges feed."""

    at: datetime
    area: str
    student_id: int
    school_code: int
    student_number: int


class DistrictState:
    """Everything the simulated server holds; all mutations go through here under one lock."""

    def __init__(self, spec: DistrictSpec) -> None:
        """Generate the district and start the clock at 07:30 on ``spec.today``.

        Args:
            spec: District parameters.
        """
        self.spec = spec
        self.district = District(spec)
        self._prior: District | None = None
        self.now = datetime.combine(spec.today, time(7, 30))
        self.lock = threading.RLock()
        self.overrides: dict[int, dict[int, dict[int, DayRecord | None]]] = {}
        self.cleared: dict[int, set[int]] = {}
        self.explicit_locks: dict[int, set[int]] = {}
        self.changes: list[Change] = []
        # Scripted Attendance History discrepancies: (school, student) -> counter -> delta. Kept as
        # deltas, not values, so they ride on top of whatever the clock and corrections do to the counts.
        self.history_adjustments: dict[tuple[int, int], dict[str, int]] = {}

    # ----- years -------------------------------------------------------------------------
    @property
    def available_years(self) -> list[int]:
        """Starting years the server accepts as DatabaseYear, newest first."""
        return [self.spec.school_year, self.spec.school_year - 1]

    def district_for(self, year: int | None) -> District:
        """Return the district of a DatabaseYear; unknown years fall back to the default."""
        if year == self.spec.school_year - 1:
            with self.lock:
                if self._prior is None:
                    self._prior = District(self.spec.prior_year())
            return self._prior
        return self.district

    def is_current(self, district: District) -> bool:
        """True for the default year, the only year that changes."""
        return district is self.district

    # ----- clock and locks ---------------------------------------------------------------
    @property
    def today(self) -> date:
        """The simulated date."""
        return self.now.date()

    def advance(self, delta: timedelta) -> None:
        """Move the simulated clock forward."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self.lock:
            self.now += delta

    def locked_months(self, school_code: int, district: District) -> set[int]:
        """Return locked attendance months at a school (by age, or locked explicitly)."""
        cal = district.calendar
        today = self.today if self.is_current(district) else district.spec.today
        locked = {m for m in cal.month_last_day if cal.auto_locked(m, today)}
        if self.is_current(district):
            locked |= self.explicit_locks.get(school_code, set())
        return locked

    def lock_month(self, school_code: int, month: int) -> None:
        """Lock one attendance month at a school."""
        self._real_school(school_code)
        if month not in self.district.calendar.month_last_day:
            raise ValueError(f"no attendance month {month}")
        with self.lock:
            self.explicit_locks.setdefault(school_code, set()).add(month)

    def first_unlocked_day(self, school_code: int) -> date | None:
        """Return the first calendar day whose attendance month is unlocked, or None."""
        self._real_school(school_code)
        locked = self.locked_months(school_code, self.district)
        for row in self.district.calendar.rows:
            if row.attendance_month not in locked:
                return row.day
        return None

    # ----- reads -------------------------------------------------------------------------
    def _real_school(self, school_code: int) -> School:
        school = self.district.school(school_code)
        if school is None or not school.is_real:
            raise KeyError(f"no real school {school_code}")
        return school

    def attendance(self, district: District, school: School, start: date, end: date,
                   student_id: int | None = None) -> list[tuple[StudentRecord, list[tuple[int, DayRecord]]]]:
        """Return each enrolled record with its effective days in [start, end].

        Args:
            district: The year's district.
            school: The school.
            start: First day, inclusive.
            end: Last day, inclusive.
            student_id: Restrict to one student.

        Returns:
            (record, days) per student record ordered by StudentID; days may be empty.
        """
        current = self.is_current(district)
        today = self.today if current else district.spec.today
        window = window_ordinals(district.calendar.school_ordinals, start, end, today)
        with self.lock:  # snapshot this school's corrections so generation runs unlocked
            overrides = {sid: dict(v) for sid, v in self.overrides.get(school.code, {}).items()} if current else {}
            cleared = frozenset(self.cleared.get(school.code, ())) if current else frozenset()
            records = list(district.records_of(school.code))
        if student_id is not None:
            records = [r for r in records if r.student_id == student_id]
        if cleared:
            cleared = frozenset(o for o in cleared if window and window[0] <= o <= window[-1])
        return [(r, student_days(school, r, window, overrides.get(r.student_id), cleared)) for r in records]

    def changes_since(self, area: str, since: datetime) -> list[Change]:
        """Return one change per (student, school) in an area at or after ``since``."""
        seen: dict[tuple[int, int], Change] = {}
        with self.lock:
            for change in self.changes:
                if change.area == area and change.at >= since:
                    seen.setdefault((change.student_id, change.school_code), change)
        return sorted(seen.values(), key=lambda c: (c.student_id, c.school_code))

    # ----- attendance corrections --------------------------------------------------------
    def _enrolled_record(self, school_code: int, student_id: int, day: date) -> StudentRecord:
        school = self._real_school(school_code)
        record = self.district.record(school.code, student_id)
        if record is None:
            raise KeyError(f"student {student_id} has no record at school {school_code}")
        if not self.district.calendar.is_school_day(day):
            raise ValueError(f"{day} is not a school day")
        if not record.enrolled_on(day):
            raise ValueError(f"student {student_id} is not enrolled at {school_code} on {day}")
        return record

    def current_day(self, school_code: int, student_id: int, day: date) -> DayRecord:
        """Return the effective (all-day code, classes) of one student-day ("" and () if none)."""
        record = self._enrolled_record(school_code, student_id, day)
        school = self._real_school(school_code)
        with self.lock:
            overrides = self.overrides.get(school_code, {}).get(student_id)
            cleared = {day.toordinal()} & self.cleared.get(school_code, set())
        ordinal = day.toordinal()
        if overrides and ordinal in overrides:
            return overrides[ordinal] or ("", ())
        if cleared or day > self.today:  # nothing is recorded for days the clock has not reached
            return "", ()
        days = student_days(school, record, (ordinal,), None, frozenset())
        return days[0][1] if days else ("", ())

    def set_day(self, school_code: int, student_id: int, day: date, all_day: str | None,
                classes: dict[str, str | None] | None) -> None:
        """Change one student-day: set the all-day code and/or add, change or remove period codes.

        Args:
            school_code: Real school code.
            student_id: Student with a record there, enrolled that day.
            day: A school day.
            all_day: New all-day code, "" to clear it, None to keep it.
            classes: Period to new code, or to None to remove that period's code.
        """
        school = self._real_school(school_code)
        record = self._enrolled_record(school_code, student_id, day)
        for code in [all_day, *(classes or {}).values()]:
            if code and code not in CODES_BY_LETTER:
                raise ValueError(f"unknown absence code {code!r}")
        if classes and not school.periods:
            raise ValueError(f"school {school_code} takes daily attendance; it has no periods")
        for period in classes or {}:
            if period not in school.periods:
                raise ValueError(f"school {school_code} has no period {period!r}")
        with self.lock:
            current_all, current_classes = self.current_day(school_code, student_id, day)
            codes = {p: c for p, _, c in current_classes}
            for period, code in (classes or {}).items():
                if code:
                    codes[period] = code
                else:
                    codes.pop(period, None)
            new_all = current_all if all_day is None else all_day
            new: DayRecord | None = (new_all, classes_for(record, codes)) if (new_all or codes) else None
            self.overrides.setdefault(school_code, {}).setdefault(student_id, {})[day.toordinal()] = new
        logger.debug("attendance changed at school %s on %s", school_code, day)

    def excuse(self, school_code: int, student_id: int, day: date) -> None:
        """Turn every unverified code of a student-day into the excused code."""
        all_day, classes = self.current_day(school_code, student_id, day)
        new_all = EXCUSED_REPLACEMENT if all_day in UNVERIFIED else all_day
        self.set_day(school_code, student_id, day, new_all,
                     {p: EXCUSED_REPLACEMENT for p, _, c in classes if c in UNVERIFIED})

    def clear(self, school_code: int, student_id: int, day: date) -> None:
        """Remove every code of a student-day (the student was present)."""
        self._enrolled_record(school_code, student_id, day)
        with self.lock:
            self.overrides.setdefault(school_code, {}).setdefault(student_id, {})[day.toordinal()] = None

    def clear_school_day(self, school_code: int, day: date) -> None:
        """Remove every code of every student at a school on one day."""
        self._real_school(school_code)
        ordinal = day.toordinal()
        with self.lock:
            for per_student in self.overrides.get(school_code, {}).values():
                per_student.pop(ordinal, None)
            self.cleared.setdefault(school_code, set()).add(ordinal)

    # ----- attendance history -----------------------------------------------------------
    def adjust_history(self, school_code: int, student_id: int, field: str, delta: int) -> None:
        """Shift one counter of a student's history summary at a school by ``delta`` (adds up).

        Args:
            school_code: Real school code.
            student_id: Student with a record there.
            field: A summary counter such as "DaysAbsence" (any letter case).
            delta: Amount to add; negative values subtract.
        """
        self._real_school(school_code)
        if self.district.record(school_code, student_id) is None:
            raise KeyError(f"student {student_id} has no record at school {school_code}")
        name = next((c for c in HISTORY_COUNTERS if c.lower() == field.lower()), None)
        if name is None:
            raise ValueError(f"unknown history field {field!r}; use one of {', '.join(HISTORY_COUNTERS)}")
        with self.lock:
            fields = self.history_adjustments.setdefault((school_code, student_id), {})
            fields[name] = fields.get(name, 0) + delta

    def history_adjustment(self, school_code: int, student_id: int) -> dict[str, int]:
        """Return a copy of the scripted deltas of one student's summary at a school."""
        with self.lock:
            return dict(self.history_adjustments.get((school_code, student_id), {}))

    # ----- enrollment --------------------------------------------------------------------
    def _record_change(self, record: StudentRecord, *areas: str) -> None:
        for area in areas:
            self.changes.append(Change(self.now, area, record.student_id, record.school_code,
                                       record.student_number))

    def enroll(self, school_code: int, grade: int, enter_date: date) -> int:
        """Enroll a new student; returns the new StudentID."""
        school = self._real_school(school_code)
        with self.lock:
            student_id, number = self.district.next_student_id(school_code)
            record = new_student(self.spec, school, student_id, number, grade, enter_date)
            self.district.add_record(record)
            self._record_change(record, "student", "enrollment")
        return student_id

    def withdraw(self, school_code: int, student_id: int, leave_date: date) -> None:
        """Withdraw a student (possibly backdated): attendance after ``leave_date`` disappears."""
        self._real_school(school_code)
        with self.lock:
            record = self.district.record(school_code, student_id)
            if record is None:
                raise KeyError(f"student {student_id} has no record at school {school_code}")
            if leave_date < record.enter_date:
                raise ValueError("leave_date is before the student's enter date")
            record.leave_date = leave_date
            record.inactive_status = "I"
            record.exit_reason = "T1"
            self._record_change(record, "student", "enrollment")

    def section(self, record: StudentRecord, period: str) -> int:
        """Return a student's section number in a period."""
        return section_number(record, period)
