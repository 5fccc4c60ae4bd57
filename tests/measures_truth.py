"""The attendance measures computed in Python from the simulator's truth, independently of the views' SQL."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Dict, List, Optional, Tuple

from aeries_simulator import AeriesSimulator

ABSENT_TYPES = {1, 2, 3}
TARDY_TYPES = {5, 8, 9}
KIND_OF_TYPE = {1: "unverified", 2: "excused", 3: "unexcused"}


@dataclass(frozen=True)
class Thresholds:
    """The measures' settings; the defaults are the California Dashboard's and Education Code 48260's."""

    chronic_rate: Fraction = Fraction(1, 10)
    chronic_min_days: int = 31
    truant_events: int = 3


def _day(value: Optional[str]) -> Optional[date]:
    return datetime.fromisoformat(value).date() if value else None


def _school_facts(sim: AeriesSimulator, school_code: int) -> Tuple[bool, List[str]]:
    school = next(s for s in sim.truth_schools() if s["SchoolCode"] == school_code)
    return school["AttendanceType"].lower() == "period", sim.school_periods(school_code)


def instructional_days(sim: AeriesSimulator, school_code: int, through: date) -> Dict[date, List[str]]:
    """The school's instructional days up to `through`, each with the periods that met (none in a daily school)."""
    is_period, periods = _school_facts(sim, school_code)
    days: Dict[date, List[str]] = {}
    for row in sim.truth_calendar(school_code):
        day = _day(row["CalendarDate"])
        assert day is not None
        if (row["HolidayCode"] or "").strip() not in ("", "%") or day > through:
            continue
        pattern = [p for p in (row.get("PeriodBlockPattern") or "") if p.isdigit()]
        days[day] = (pattern or list(periods)) if is_period else []
    return days


def student_days(sim: AeriesSimulator, school_code: int, through: date) -> List[Dict[str, Any]]:
    """One dict per student x enrolled instructional day up to `through`, with the day's absence facts."""
    is_period, _ = _school_facts(sim, school_code)
    days = instructional_days(sim, school_code, through)
    codes = {c["AbsenceCode"]: c for c in sim.truth_absence_codes(school_code)}
    recorded = {(r["student_id"], r["date"]): r for r in sim.truth_attendance(school_code, min(days), through)} \
        if days else {}
    enrolled = defaultdict(set)
    for row in sim.truth_enrollment(school_code):
        enter, leave = _day(row["EnterDate"]), _day(row["LeaveDate"])
        for day in days:
            if enter is not None and enter <= day and (leave is None or day < leave):
                enrolled[row["StudentID"]].add(day)
    out = []
    for student_id, student_days_set in enrolled.items():
        for day in sorted(student_days_set):
            record = recorded.get((student_id, day))
            all_day = (record["all_day_code"] or "").strip() if record else ""
            period_codes = {c["period"]: c["code"] for c in (record["classes"] if record else []) if c["code"].strip()}
            all_day_code = codes[all_day] if all_day else None
            day_codes = ([all_day_code] if all_day_code else []) + [codes[c] for c in period_codes.values()]
            if all_day_code is not None:
                absent = all_day_code["TypeCode"] in ABSENT_TYPES
            else:
                meeting = days[day]
                absent = bool(is_period and period_codes and meeting and all(
                    p in period_codes and codes[period_codes[p]]["TypeCode"] in ABSENT_TYPES for p in meeting))
            kind = None
            if absent:
                period_types = [codes[c]["TypeCode"] for c in period_codes.values()]
                if any(c["IsSuspension"] for c in day_codes):
                    kind = "suspension"
                elif all_day_code is not None:
                    kind = KIND_OF_TYPE[all_day_code["TypeCode"]]
                elif all(t == 2 for t in period_types):
                    kind = "excused"
                elif 3 in period_types:
                    kind = "unexcused"
                else:
                    kind = "unverified"
            tardies = sum(1 for c in period_codes.values() if codes[c]["TypeCode"] in TARDY_TYPES)
            if not period_codes and all_day_code is not None and all_day_code["TypeCode"] in TARDY_TYPES:
                tardies = 1
            truancy = any((c["TypeCode"] == 3 and not c["IsSuspension"]) or c["IsPartialDayTruant"] for c in day_codes)
            out.append({"school_code": school_code, "student_id": student_id, "attendance_date": day,
                        "is_full_day_absent": absent, "absence_kind": kind, "tardy_count": tardies,
                        "truancy_event": truancy})
    return out


def latest_grades(sim: AeriesSimulator, school_code: int) -> Dict[int, int]:
    """Each student's grade on their latest enrollment row at the school."""
    latest: Dict[int, Tuple[date, int]] = {}
    for row in sim.truth_enrollment(school_code):
        enter = _day(row["EnterDate"])
        assert enter is not None
        if row["StudentID"] not in latest or enter > latest[row["StudentID"]][0]:
            latest[row["StudentID"]] = (enter, row["Grade"])
    return {sid: grade for sid, (_, grade) in latest.items()}


def _ratio(numerator: int, denominator: int) -> Optional[float]:
    return numerator / denominator if denominator else None


def expected_measures(sim: AeriesSimulator, through: date, thresholds: Thresholds = Thresholds()) -> Dict[str, Any]:
    """Every measure view's expected rows, keyed like the views, for all the simulator's schools."""
    result: Dict[str, Any] = {"student_days": {}, "daily_attendance": {}, "student_attendance_summary": {},
                              "school_attendance_summary": {}}
    for sc in sim.school_codes():
        days = instructional_days(sim, sc, through)
        rows = student_days(sim, sc, through)
        grades = latest_grades(sim, sc)
        for r in rows:
            result["student_days"][(sc, r["student_id"], r["attendance_date"])] = (
                r["is_full_day_absent"], r["absence_kind"], r["tardy_count"], r["truancy_event"])
        for day in days:
            on_day = [r for r in rows if r["attendance_date"] == day]
            absent = sum(r["is_full_day_absent"] for r in on_day)
            kinds = [r["absence_kind"] for r in on_day]
            result["daily_attendance"][(sc, day)] = (
                len(on_day), len(on_day) - absent, absent, kinds.count("excused"), kinds.count("unexcused"),
                kinds.count("unverified"), kinds.count("suspension"), sum(r["tardy_count"] for r in on_day),
                _ratio(len(on_day) - absent, len(on_day)))
        by_student: Dict[int, List[Dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_student[r["student_id"]].append(r)
        students = []
        for sid, mine in by_student.items():
            enrolled = len(mine)
            absent = sum(r["is_full_day_absent"] for r in mine)
            kinds = [r["absence_kind"] for r in mine]
            truancy = sum(r["truancy_event"] for r in mine)
            chronic = enrolled >= thresholds.chronic_min_days and absent >= thresholds.chronic_rate * enrolled
            students.append((enrolled, absent, chronic))
            result["student_attendance_summary"][(sc, sid)] = (
                grades.get(sid), enrolled, enrolled - absent, absent, kinds.count("excused"),
                kinds.count("unexcused"), kinds.count("unverified"), kinds.count("suspension"),
                sum(r["tardy_count"] for r in mine), truancy, _ratio(enrolled - absent, enrolled), chronic,
                truancy >= thresholds.truant_events, through)
        present = sum(e - a for e, a, _ in students)
        eligible = sum(1 for e, _, _ in students if e >= thresholds.chronic_min_days)
        chronic_count = sum(1 for _, _, c in students if c)
        result["school_attendance_summary"][sc] = (
            len(students), len(days), _ratio(present, len(days)), _ratio(present, sum(e for e, _, _ in students)),
            chronic_count, eligible, _ratio(chronic_count, eligible), through)
    return result
