"""Attendance History Summary computed from the simulator's own attendance, through the current day."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from . import payloads
from .attendance import DayRecord
from .codes import CODES_BY_LETTER, AbsenceCode
from .district import District, School, StudentRecord
from .state import DistrictState

ABSENCE_TYPES = frozenset({1, 2, 3})  # unverified, excused, unexcused
TARDY_TYPES = frozenset({5, 8, 9})  # tardy, verified excused tardy, verified unexcused tardy
_KIND_OF_ALL_DAY_TYPE = {1: "unverified", 2: "excused", 3: "unexcused"}
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class DayFacts:
    """What one student-day contributes to the history summary."""

    is_full_day_absent: bool
    absence_kind: str | None  # "excused", "unexcused", "unverified", "suspension"; None unless absent
    tardy_count: int
    truancy_event: bool


NO_CODES = DayFacts(False, None, 0, False)


def meeting_periods(school: School) -> tuple[str, ...]:
    """Return the periods that meet on a taught day: the calendar's PeriodBlockPattern, else every period.

    Daily schools have none. This mirrors the connector's ``_meeting_periods``, which reads the same
    pattern from the calendar route.
    """
    if school.attendance_type != "Period":
        return ()
    pattern = payloads.period_block_pattern(school, instructional=True)
    return tuple(p for p in pattern if p in _DIGITS) or school.periods


def _is_truant(code: AbsenceCode) -> bool:
    # Education Code 48260: absent without valid excuse, or late by more than 30 minutes.
    return (code.type_code == 3 and not code.is_suspension) or code.is_partial_day_truant


@lru_cache(maxsize=8192)
def classify(all_day: str, period_codes: tuple[tuple[str, str], ...], meeting: tuple[str, ...],
             period_school: bool) -> DayFacts:
    """Return the facts of one student-day from its codes.

    Cached: generated days repeat a few hundred code patterns across a whole district.

    Args:
        all_day: The all-day code ("" or blank for none).
        period_codes: (period, code) pairs recorded that day; blank codes are ignored.
        meeting: Periods that met that day (see :func:`meeting_periods`).
        period_school: True when the school's AttendanceType is "Period".

    Returns:
        Full-day absence, its kind, the tardy count and whether the day is a truancy event.
    """
    day_code = CODES_BY_LETTER[all_day] if all_day.strip() else None
    by_period = {p: CODES_BY_LETTER[c] for p, c in period_codes if c.strip()}
    codes = list(by_period.values())
    if day_code is not None:  # the all-day code decides when there is one
        absent = day_code.type_code in ABSENCE_TYPES
    else:
        absent = period_school and bool(by_period) and bool(meeting) and all(
            p in by_period and by_period[p].type_code in ABSENCE_TYPES for p in meeting)
    kind: str | None = None
    if absent:
        if (day_code is not None and day_code.is_suspension) or any(c.is_suspension for c in codes):
            kind = "suspension"
        elif day_code is not None:
            kind = _KIND_OF_ALL_DAY_TYPE[day_code.type_code]
        elif all(c.type_code == 2 for c in codes):
            kind = "excused"
        elif any(c.type_code == 3 for c in codes):
            kind = "unexcused"
        else:
            kind = "unverified"
    tardies = sum(1 for c in codes if c.type_code in TARDY_TYPES)
    if not codes and day_code is not None and day_code.type_code in TARDY_TYPES:
        tardies = 1
    truant = any(_is_truant(c) for c in codes) or (day_code is not None and _is_truant(day_code))
    return DayFacts(absent, kind, tardies, truant)


def _facts_of(day: DayRecord, meeting: tuple[str, ...], period_school: bool) -> DayFacts:
    all_day, classes = day
    return classify(all_day, tuple((p, code) for p, _, code in classes), meeting, period_school)


def _enrolled_ordinals(district: District, record: StudentRecord, through: date) -> tuple[int, ...]:
    """Return ordinals of taught days from EnterDate, before LeaveDate (exclusive) and up to ``through``."""
    ordinals = district.calendar.school_ordinals
    last = through.toordinal()
    if record.leave_date is not None:
        last = min(last, record.leave_date.toordinal() - 1)
    return ordinals[bisect_left(ordinals, record.enter_date.toordinal()):bisect_right(ordinals, last)]


def _school_student_days(state: DistrictState, school: School, through: date, student_id: int | None = None,
                         ) -> Iterator[tuple[StudentRecord, tuple[int, ...], dict[int, DayFacts]]]:
    """Yield (record, enrolled ordinals, facts of the enrolled days that carry codes) per record."""
    district = state.district
    through = min(through, state.today)  # nothing is recorded for days the clock has not reached
    meeting, period_school = meeting_periods(school), school.attendance_type == "Period"
    for record, days in state.attendance(district, school, district.calendar.first_day, through, student_id):
        enrolled = _enrolled_ordinals(district, record, through)
        if not enrolled:
            yield record, enrolled, {}
            continue
        lo, hi = enrolled[0], enrolled[-1]
        # Days outside [lo, hi] (the leave date itself) are not enrolled days; their codes do not count.
        yield record, enrolled, {o: _facts_of(day, meeting, period_school) for o, day in days if lo <= o <= hi}


def student_days(state: DistrictState, school_code: int, through: date | None = None) -> list[dict[str, Any]]:
    """Return one row per student and enrolled taught day at a school, up to ``through`` (default today).

    Args:
        state: Simulator state.
        school_code: School code.
        through: Last day, inclusive; days after the simulated today are never included.

    Returns:
        Dicts with school_code, student_id, attendance_date, grade, is_full_day_absent, absence_kind,
        tardy_count and truancy_event, ordered by student then date.
    """
    school = _existing_school(state, school_code)
    rows = []
    for record, enrolled, facts in _school_student_days(state, school, through or state.today):
        for ordinal in enrolled:
            f = facts.get(ordinal, NO_CODES)
            rows.append({"school_code": school.code, "student_id": record.student_id,
                         "attendance_date": date.fromordinal(ordinal), "grade": record.grade,
                         "is_full_day_absent": f.is_full_day_absent, "absence_kind": f.absence_kind,
                         "tardy_count": f.tardy_count, "truancy_event": f.truancy_event})
    return rows


def _counts(enrolled: tuple[int, ...], facts: dict[int, DayFacts]) -> dict[str, int]:
    counts = {"DaysEnrolled": len(enrolled), "DaysAbsence": 0, "DaysExcused": 0, "DaysUnexcused": 0,
              "DaysSuspension": 0, "DaysTardy": 0, "DaysOfTruancy": 0}
    by_kind = {"excused": "DaysExcused", "unexcused": "DaysUnexcused", "suspension": "DaysSuspension"}
    for f in facts.values():
        if f.is_full_day_absent:
            counts["DaysAbsence"] += 1
            if f.absence_kind in by_kind:  # unverified absences count only in DaysAbsence
                counts[by_kind[f.absence_kind]] += 1
        counts["DaysTardy"] += f.tardy_count
        counts["DaysOfTruancy"] += f.truancy_event
    counts["DaysPresent"] = counts["DaysEnrolled"] - counts["DaysAbsence"]
    return counts


def _summary(state: DistrictState, school_code: int, student_id: int, counts: dict[str, int]) -> dict[str, Any]:
    for name, delta in state.history_adjustment(school_code, student_id).items():
        counts[name] = counts.get(name, 0) + delta
    return payloads.history_summary(state.spec.school_year, school_code, counts)


def _student_counts(state: DistrictState, school_code: int, student_id: int) -> dict[str, int]:
    school = state.district.school(school_code)
    assert school is not None  # the caller found a record of the student there
    for _, enrolled, facts in _school_student_days(state, school, state.today, student_id):
        return _counts(enrolled, facts)
    return _counts((), {})


def _schools_of(district: District, student_id: int) -> list[int]:
    return [code for code in district.records if district.record(code, student_id) is not None]


def year_summaries(state: DistrictState, school_code: int) -> list[dict[str, Any]]:
    """Return the year route's body: every student with a record at the school, withdrawn ones included.

    Each student carries one summary per school they have a record at this year (ordered by school),
    so a concurrently enrolled student also shows the other school's counts.

    Args:
        state: Simulator state.
        school_code: School code.

    Returns:
        [{"StudentID", "HistorySummaries"}] ordered by StudentID.
    """
    school = _existing_school(state, school_code)
    district = state.district
    own = {record.student_id: _counts(enrolled, facts)
           for record, enrolled, facts in _school_student_days(state, school, state.today)}
    out = []
    for student_id in sorted(own):
        summaries = []
        for code in _schools_of(district, student_id):
            counts = own[student_id] if code == school.code else _student_counts(state, code, student_id)
            summaries.append(_summary(state, code, student_id, dict(counts)))
        out.append({"StudentID": student_id, "HistorySummaries": summaries})
    return out


def student_summaries(state: DistrictState, student_id: int) -> list[dict[str, Any]]:
    """Return the StudentID route's body: the student's summaries at every school, or [] if none."""
    codes = _schools_of(state.district, student_id)
    if not codes:
        return []
    return [{"StudentID": student_id, "HistorySummaries": [
        _summary(state, code, student_id, _student_counts(state, code, student_id)) for code in codes]}]


def _existing_school(state: DistrictState, school_code: int) -> School:
    school = state.district.school(school_code)
    if school is None:
        raise KeyError(f"no school {school_code}")
    return school
