"""Deterministic generation of a synthetic district: schools, students and enrollments."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from .rng import key, mix64, unit
from .school_calendar import SchoolCalendar
from .spec import DistrictSpec

logger = logging.getLogger(__name__)

DISTRICT_OFFICE = 0
SETUP_SCHOOL = 999
FIRST_SCHOOL = 101

# Per-student share of school days with any attendance code; a mix of tiers gives the
# long tail real districts show (most students rarely absent, a few chronically).
_ABSENCE_TIERS: tuple[tuple[float, float], ...] = ((0.70, 0.040), (0.93, 0.080), (0.99, 0.160), (1.01, 0.350))


@dataclass
class School:
    """A school (or pseudo-school) of the district."""

    code: int
    name: str
    short_name: str
    attendance_type: str  # "Daily" or "Period"
    periods: tuple[str, ...]  # () for daily schools
    low_grade: int
    high_grade: int
    inactive_status: str = ""
    do_not_report: bool = False

    @property
    def is_real(self) -> bool:
        """True for schools that enroll students and take attendance."""
        return self.code not in (DISTRICT_OFFICE, SETUP_SCHOOL)


@dataclass
class StudentRecord:
    """One student's record at one school (a concurrently enrolled student has two)."""

    student_id: int
    school_code: int
    student_number: int
    grade: int
    family_key: int
    gender: str
    birthdate: date
    enter_date: date
    district_enter_date: date
    leave_date: date | None
    inactive_status: str
    exit_reason: str
    periods: tuple[str, ...]
    rate: int  # 16-bit threshold: a day draw below it means the day has some code
    attendance_key: int
    sections: tuple[int, ...] | None = field(default=None, repr=False)  # by period 0-9, filled on first use

    def enrolled_on(self, day: date) -> bool:
        """True if the student is enrolled at this school on ``day`` (leave date inclusive)."""
        return self.enter_date <= day and (self.leave_date is None or day <= self.leave_date)


def _school_layout(index: int) -> tuple[str, tuple[str, ...], int, int, str]:
    """Return (attendance type, periods, low grade, high grade, kind) of the index-th school."""
    if index % 3 == 2:
        return "Daily", (), 0, 5, "Elementary"
    if (index // 3) % 2 == 0:
        return "Period", ("1", "2", "3", "4", "5", "6"), 9, 12, "High"
    return "Period", ("0", "1", "2", "3", "4", "5", "6", "7"), 6, 8, "Middle"


def build_schools(spec: DistrictSpec) -> list[School]:
    """Return the district's schools: district office 0, real schools 101.., setup school 999.

    Args:
        spec: The district parameters.

    Returns:
        Schools ordered by code.
    """
    schools = [School(DISTRICT_OFFICE, "District Office (synthetic)", "DO", "Daily", (), 0, 12,
                      do_not_report=True)]
    for index in range(spec.schools):
        kind_type, periods, low, high, kind = _school_layout(index)
        code = FIRST_SCHOOL + index
        schools.append(School(code, f"Synth {kind} {code}", f"S{code}", kind_type, periods, low, high))
    schools.append(School(SETUP_SCHOOL, "ZZZ Setup School", "ZZZ", "Daily", (), 0, 12,
                          inactive_status="I", do_not_report=True))
    return schools


def _student_periods(school: School, h: int) -> tuple[str, ...]:
    """Return the periods a student attends: the school's, trimmed at either end for some."""
    periods = school.periods
    if len(periods) >= 8:
        low = 0 if (h & 0xFF) < 77 else 1  # about 30% take the zero period
        high = len(periods) if ((h >> 8) & 0xFF) < 128 else len(periods) - 1
        return periods[low:high]
    return periods


def _rate(h: int) -> int:
    """Return the student's 16-bit daily code threshold from a hash."""
    u = unit(h)
    for cutoff, share in _ABSENCE_TIERS:
        if u < cutoff:
            return int(share * 65536)
    return int(_ABSENCE_TIERS[-1][1] * 65536)


def attendance_key(seed: int, school_year: int, school_code: int, student_id: int) -> int:
    """Return the key from which a student's attendance at a school is drawn."""
    return key(seed, school_year, school_code, student_id, 0xA77E)


def new_student(spec: DistrictSpec, school: School, student_id: int, number: int, grade: int,
                enter_date: date, district_enter_date: date | None = None) -> StudentRecord:
    """Create a student record at a school (used by generation and by enroll_student).

    Args:
        spec: District parameters (seed and year feed the hashes).
        school: Where the record lives.
        student_id: District-wide 8-digit id.
        number: School-based StudentNumber.
        grade: Grade level.
        enter_date: SchoolEnterDate.
        district_enter_date: DistrictEnterDate; defaults to ``enter_date``.

    Returns:
        A new StudentRecord.
    """
    h = key(spec.seed, student_id, 0x57D)
    age = 5 + grade
    birth = date(spec.school_year - age, 1, 1) + timedelta(days=h % 365)
    return StudentRecord(
        student_id=student_id,
        school_code=school.code,
        student_number=number,
        grade=grade,
        family_key=100_000 + (mix64(h) % 800_000),
        gender="F" if (h >> 20) & 1 else "M",
        birthdate=birth,
        enter_date=enter_date,
        district_enter_date=district_enter_date or enter_date,
        leave_date=None,
        inactive_status="",
        exit_reason="",
        periods=_student_periods(school, mix64(h ^ school.code)),
        rate=_rate(mix64(h ^ 0xBAD)),
        attendance_key=attendance_key(spec.seed, spec.school_year, school.code, student_id),
    )


class District:
    """Schools, calendar and student records of one school year (attendance is lazy)."""

    def __init__(self, spec: DistrictSpec) -> None:
        """Generate the district from ``spec``.

        Args:
            spec: The district parameters.
        """
        self.spec = spec
        self.calendar = SchoolCalendar(spec.first_day, spec.last_day)
        self.schools = build_schools(spec)
        self.school_by_code = {s.code: s for s in self.schools}
        self.records: dict[int, list[StudentRecord]] = {s.code: [] for s in self.schools}
        self._by_key: dict[tuple[int, int], StudentRecord] = {}
        self._ids: set[int] = set()
        self._generate_students()
        logger.debug("generated district: %d schools, %d student records", len(self.schools),
                     sum(len(v) for v in self.records.values()))

    def _movement_days(self) -> tuple[date, ...]:
        """School days on which mid-year entries and exits may fall (never after today)."""
        today = self.spec.today
        days = tuple(d for d in self.calendar.school_days[1:] if d < today)
        return days

    def _generate_students(self) -> None:
        spec = self.spec
        real = [s for s in self.schools if s.is_real]
        moves = self._movement_days()
        for school in real:
            for number in range(1, spec.students_per_school + 1):
                student_id = school.code * 100_000 + number
                h = key(spec.seed, student_id, 0x5C1)
                grade = school.low_grade + h % (school.high_grade - school.low_grade + 1)
                prior_years = (h >> 12) % 6
                enter = spec.first_day
                u_enter, u_leave = unit(mix64(h ^ 1)), unit(mix64(h ^ 2))
                if moves and u_enter < 0.06:  # about 6% enter mid-year
                    enter = moves[(h >> 24) % len(moves)]
                district_enter = date(spec.first_day.year - prior_years, spec.first_day.month, 10) \
                    if enter == spec.first_day else enter
                record = new_student(spec, school, student_id, number, grade, enter, district_enter)
                later = [d for d in moves if d > enter] if moves and u_leave < 0.05 else []
                if later:  # about 5% leave mid-year; most are flagged inactive, a few not yet
                    record.leave_date = later[(h >> 36) % len(later)]
                    record.exit_reason = "T1" if (h >> 44) & 3 else "E2"
                    record.inactive_status = "" if (h >> 48) % 10 == 0 else "I"
                self.records[school.code].append(record)
        self._add_concurrent(real)
        for records in self.records.values():
            records.sort(key=lambda r: r.student_id)
        self._reindex()

    def _add_concurrent(self, real: list[School]) -> None:
        """Give about 1.5% of students a second, concurrent record at another school."""
        if len(real) < 2:
            return
        spec = self.spec
        for school in real:
            others = [s for s in real if s.code != school.code]
            for record in list(self.records[school.code]):
                h = key(spec.seed, record.student_id, 0xC0C)
                if record.student_number > spec.students_per_school:
                    continue  # already a second record; nobody gets a third
                if unit(h) >= 0.015 or record.leave_date is not None:
                    continue
                other = others[(h >> 16) % len(others)]
                number = spec.students_per_school + 1 + len(
                    [r for r in self.records[other.code] if r.student_number > spec.students_per_school])
                second = new_student(spec, other, record.student_id, number, record.grade,
                                     record.enter_date, record.district_enter_date)
                second.birthdate, second.gender, second.family_key = (
                    record.birthdate, record.gender, record.family_key)
                self.records[other.code].append(second)

    def school(self, code: int) -> School | None:
        """Return a school by code, or None."""
        return self.school_by_code.get(code)

    def records_of(self, school_code: int) -> list[StudentRecord]:
        """Return a school's student records ordered by StudentID."""
        return self.records.get(school_code, [])

    def _reindex(self) -> None:
        self._by_key = {(r.school_code, r.student_id): r for rs in self.records.values() for r in rs}
        self._ids = {r.student_id for rs in self.records.values() for r in rs}

    def add_record(self, record: StudentRecord) -> None:
        """Add a record; the school's list is replaced, never sorted in place, so readers stay safe."""
        code = record.school_code
        self.records[code] = sorted([*self.records[code], record], key=lambda r: r.student_id)
        self._by_key[(code, record.student_id)] = record
        self._ids.add(record.student_id)

    def record(self, school_code: int, student_id: int) -> StudentRecord | None:
        """Return a student's record at a school, or None."""
        return self._by_key.get((school_code, student_id))

    def student_exists(self, student_id: int) -> bool:
        """Return True if the id has a record at any school."""
        return student_id in self._ids

    def next_student_id(self, school_code: int) -> tuple[int, int]:
        """Return a fresh (student id, student number) for a new enrollment at a school."""
        numbers = [r.student_number for r in self.records[school_code]]
        number = max(numbers, default=0) + 1
        student_id = school_code * 100_000 + number
        while self.student_exists(student_id):
            number += 1
            student_id = school_code * 100_000 + number
        return student_id, number
