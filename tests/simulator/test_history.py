"""Attendance History Summary: route shape and errors, counts against an independent recount, adjustments."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from aeries_simulator import AeriesSimulator, DistrictSpec, FaultKind

from .conftest import SPEC, Api

YEAR = "2024-2025"
COUNTERS = ["DaysEnrolled", "DaysPresent", "DaysAbsence", "DaysExcused", "DaysUnexcused", "DaysTardy",
            "DaysOfTruancy", "DaysSuspension", "DaysInSchoolSuspension", "DaysCompleteIndependentStudy",
            "DaysIncompleteIndependentStudy", "PeriodsExpectedToAttend", "PeriodsAttended",
            "PeriodsOutOfSchoolSuspension", "PeriodsAttendedInSchoolSuspension", "PeriodsExcusedAbsence",
            "PeriodsUnexcusedAbsence", "PeriodsCompleteIndependentStudy", "PeriodsIncompleteIndependentStudy"]
SUMMARY_FIELDS = {"SchoolYear", "SchoolCode", "ReportingSchoolCode", "AttendanceProgramCodePrimary", *COUNTERS}


def _year_path(school: int, year: str = YEAR) -> str:
    return f"schools/{school}/AttendanceHistory/summary/year/{year}"


def _iso(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


# ----- the independent recount, from what the other truth_* helpers (and routes) serve ---------------
def _facts(all_day: str, period_codes: dict[str, str], meeting: list[str], period_school: bool,
           codes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One student-day's facts, following the written definitions (not the simulator's code)."""
    day = codes[all_day] if all_day.strip() else None
    periods = {p: codes[c] for p, c in period_codes.items() if c.strip()}
    everything = [c for c in [day, *periods.values()] if c is not None]
    if day is not None:
        absent = day["TypeCode"] in (1, 2, 3)
    else:
        absent = (period_school and bool(periods) and bool(meeting)
                  and all(p in periods and periods[p]["TypeCode"] in (1, 2, 3) for p in meeting))
    kind = None
    if absent and any(c["IsSuspension"] for c in everything):
        kind = "suspension"
    elif absent and day is not None:
        kind = {1: "unverified", 2: "excused", 3: "unexcused"}[day["TypeCode"]]
    elif absent:
        types = [c["TypeCode"] for c in periods.values()]
        kind = "excused" if all(t == 2 for t in types) else "unexcused" if 3 in types else "unverified"
    tardies = sum(c["TypeCode"] in (5, 8, 9) for c in periods.values())
    if not periods and day is not None and day["TypeCode"] in (5, 8, 9):
        tardies = 1
    truant = any((c["TypeCode"] == 3 and not c["IsSuspension"]) or c["IsPartialDayTruant"] for c in everything)
    return {"is_full_day_absent": absent, "absence_kind": kind, "tardy_count": tardies, "truancy_event": truant}


def recount_days(sim: AeriesSimulator, school: int, through: date | None = None) -> list[dict[str, Any]]:
    """Rebuild truth_student_days from calendar, enrollment, absence codes and served attendance."""
    through = min(through or sim.today, sim.today)
    info = next(s for s in sim.truth_schools() if s["SchoolCode"] == school)
    codes = {c["AbsenceCode"]: c for c in sim.truth_absence_codes(school)}
    taught = {_iso(r["CalendarDate"]): r for r in sim.truth_calendar(school) if r["HolidayCode"] in ("", "%")}
    served = {(r["student_id"], r["date"]): r for r in sim.truth_attendance(school, date(2000, 1, 1), through)}
    rows = []
    for enrollment in sorted(sim.truth_enrollment(school), key=lambda e: e["StudentID"]):
        enter, leave = _iso(enrollment["EnterDate"]), _iso(enrollment["LeaveDate"])
        for day in sorted(d for d in taught if d is not None and enter is not None and enter <= d <= through
                          and (leave is None or d < leave)):
            pattern = [p for p in taught[day]["PeriodBlockPattern"] if p.isdigit()]
            meeting = (pattern or sim.school_periods(school)) if info["AttendanceType"] == "Period" else []
            got = served.get((enrollment["StudentID"], day))
            facts = _facts(got["all_day_code"] if got else "",
                           {c["period"]: c["code"] for c in got["classes"]} if got else {},
                           meeting, info["AttendanceType"] == "Period", codes)
            rows.append({"school_code": school, "student_id": enrollment["StudentID"], "attendance_date": day,
                         "grade": enrollment["Grade"], **facts})
    return rows


def recount_summaries(sim: AeriesSimulator, school: int) -> dict[int, dict[str, int]]:
    """Sum recounted days into history counters per student (every enrolled student, even with 0 days)."""
    out: dict[int, dict[str, int]] = {e["StudentID"]: dict.fromkeys(COUNTERS, 0) for e in sim.truth_enrollment(school)}
    for row in recount_days(sim, school):
        counts = out[row["student_id"]]
        counts["DaysEnrolled"] += 1
        counts["DaysAbsence"] += row["is_full_day_absent"]
        counts["DaysPresent"] += not row["is_full_day_absent"]
        kind = {"excused": "DaysExcused", "unexcused": "DaysUnexcused", "suspension": "DaysSuspension"}
        if row["absence_kind"] in kind:
            counts[kind[row["absence_kind"]]] += 1
        counts["DaysTardy"] += row["tardy_count"]
        counts["DaysOfTruancy"] += row["truancy_event"]
    return out


def assert_matches_recount(sim: AeriesSimulator, api: Api) -> None:
    """Every school's year route and truth_student_days equal the recount, school by school."""
    recounts = {school: recount_summaries(sim, school) for school in sim.school_codes()}
    for school in sim.school_codes():
        assert sim.truth_student_days(school) == recount_days(sim, school)
        body = api.json(_year_path(school))
        assert [s["StudentID"] for s in body] == sorted(recounts[school])
        for student in body:
            served = {h["SchoolCode"]: {c: h[c] for c in COUNTERS} for h in student["HistorySummaries"]}
            expected = {sc: counts[student["StudentID"]] for sc, counts in recounts.items()
                        if student["StudentID"] in counts}
            assert served == expected, student["StudentID"]


# ----- helpers for hand-made days -------------------------------------------------------------------
def _period_school(sim: AeriesSimulator) -> int:
    return next(c for c in sim.school_codes() if sim.school_periods(c))


def _daily_school(sim: AeriesSimulator) -> int:
    return next(c for c in sim.school_codes() if not sim.school_periods(c))


def _summary(api: Api, school: int, student: int) -> dict[str, Any]:
    entry = next(s for s in api.json(_year_path(school)) if s["StudentID"] == student)
    return next(h for h in entry["HistorySummaries"] if h["SchoolCode"] == school)


def _full_year_student(sim: AeriesSimulator, school: int) -> int:
    return next(e["StudentID"] for e in sim.truth_enrollment(school)
                if e["EnterDate"].startswith("2024-08-15") and e["LeaveDate"] is None)


# ----- routes ----------------------------------------------------------------------------------------
def test_year_route_shape(api: Api, sim: AeriesSimulator) -> None:
    body = api.json(_year_path(102))
    assert body == sim.truth_history_summary(102)
    assert [s["StudentID"] for s in body] == [e["StudentID"] for e in sim.truth_enrollment(102)]
    withdrawn = {e["StudentID"] for e in sim.truth_enrollment(102) if e["LeaveDate"]}
    assert withdrawn and withdrawn <= {s["StudentID"] for s in body}
    for student in body:
        assert set(student) == {"StudentID", "HistorySummaries"}
        for summary in student["HistorySummaries"]:
            assert set(summary) == SUMMARY_FIELDS
            assert summary["SchoolYear"] == YEAR and summary["AttendanceProgramCodePrimary"] == ""
            assert all(type(summary[c]) is int for c in COUNTERS)
            assert summary["DaysPresent"] + summary["DaysAbsence"] == summary["DaysEnrolled"]
    concurrent = [s for s in body if len(s["HistorySummaries"]) > 1]
    assert concurrent, "the shared district has a concurrently enrolled student"
    assert [h["SchoolCode"] for h in concurrent[0]["HistorySummaries"]] == sorted(
        c for c in sim.school_codes() if any(e["StudentID"] == concurrent[0]["StudentID"]
                                             for e in sim.truth_enrollment(c)))
    assert sum(h["DaysAbsence"] for s in body for h in s["HistorySummaries"]) > 0


@pytest.mark.parametrize("path, status", [
    pytest.param(_year_path(101, "2024"), 400, id="year-without-end"),
    pytest.param(_year_path(101, "2024-2026"), 400, id="years-not-consecutive"),
    pytest.param(_year_path(101, "abcd-efgh"), 400, id="year-not-digits"),
    pytest.param(_year_path(101, "20242025"), 400, id="year-without-dash"),
    pytest.param(_year_path(555), 404, id="unknown-school"),
    pytest.param("schools/555/AttendanceHistory/summary/10100001", 404, id="student-route-unknown-school"),
    pytest.param("schools/101/AttendanceHistory/summary/99999999", 404, id="unknown-student"),
])
def test_bad_input(api: Api, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status and "Message" in response.json()


@pytest.mark.parametrize("path", [
    pytest.param(_year_path(101, "2023-2024"), id="prior-year"),
    pytest.param(_year_path(101, "2025-2026"), id="next-year"),
    pytest.param(_year_path(0), id="district-office"),
    pytest.param(_year_path(999), id="setup-school"),
])
def test_years_and_schools_without_history_are_empty(api: Api, path: str) -> None:
    assert api.json(path) == []


@pytest.mark.parametrize("cert", [
    pytest.param(None, id="missing"),
    pytest.param("WRONG0CERTIFICATE000000000000000", id="wrong"),
    pytest.param("simulator0certificate00000000001", id="wrong-case"),
])
@pytest.mark.parametrize("path", [_year_path(101), "schools/101/AttendanceHistory/summary/10100001"])
def test_certificate_required(api: Api, cert: str | None, path: str) -> None:
    response = api.get(path, cert=cert)
    assert response.status_code == 401 and "Message" in response.json()


def test_case_insensitive_and_database_year(api: Api) -> None:
    body = api.get(_year_path(101)).content
    assert api.get(f"SCHOOLS/101/attendancehistory/SUMMARY/YEAR/{YEAR}/").content == body
    # The year is in the path (as with enrollment); DatabaseYear does not change it.
    for database_year in ("2023", "2019", "abc"):
        assert api.get(_year_path(101), {"DatabaseYear": database_year}).content == body


def test_student_route_spans_schools(api: Api, sim: AeriesSimulator) -> None:
    student = next(s for s in api.json(_year_path(102)) if len(s["HistorySummaries"]) > 1)
    schools = [h["SchoolCode"] for h in student["HistorySummaries"]]
    for code in [*schools, 101, 0]:  # regardless of the school in the path
        assert api.json(f"schools/{code}/AttendanceHistory/summary/{student['StudentID']}") == [student]
    single = next(s for s in api.json(_year_path(101)) if len(s["HistorySummaries"]) == 1)
    assert api.json(f"schools/101/attendancehistory/summary/{single['StudentID']}") == [single]


def test_faults_log_and_unknown_route(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.RATE_LIMIT, route="attendancehistory@101", times=1)
    assert api.get(_year_path(102)).status_code == 200  # scoped to school 101
    limited = api.get(_year_path(101))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert api.get(_year_path(101)).status_code == 200
    assert [(r.path, r.status) for r in sim.request_log] == [
        (f"/api/v5/{_year_path(102)}", 200), (f"/api/v5/{_year_path(101)}", 429), (f"/api/v5/{_year_path(101)}", 200)]
    response = api.get("schools/101/AttendanceHistory/details/10100001")  # not simulated
    assert response.status_code == 404 and "AttendanceHistory/summary" in response.json()["Reason"]


def test_year_route_is_fast_at_2000_students() -> None:
    with AeriesSimulator(DistrictSpec(seed=3, schools=2, students_per_school=2000)) as big:
        api = Api(big)
        api.get("systeminfo")  # open the connection first
        started = time.monotonic()
        body = api.json(_year_path(101))
        assert time.monotonic() - started < 1.0
        assert len(body) >= 2000


# ----- counts against the recount -------------------------------------------------------------------
def test_counts_equal_recount_after_the_year(api: Api, sim: AeriesSimulator) -> None:
    assert sorted({bool(sim.school_periods(c)) for c in sim.school_codes()}) == [False, True]
    assert_matches_recount(sim, api)


def test_counts_equal_recount_mid_year_and_after_changes() -> None:
    with AeriesSimulator(DistrictSpec(seed=SPEC.seed, schools=3, students_per_school=40,
                                      today=date(2024, 11, 20))) as sim:
        api = Api(sim)
        assert_matches_recount(sim, api)
        sim.advance_clock(days=112)  # 2025-03-12: a day in March
        assert sim.today == date(2025, 3, 12)
        assert_matches_recount(sim, api)
        assert max(r["attendance_date"] for r in sim.truth_student_days(101)) == sim.today

        period, daily = _period_school(sim), _daily_school(sim)
        start, today = date(2024, 8, 15), sim.today
        # a period-derived full-day absence, and an all-day unexcused code, on top of generated days
        student = _full_year_student(sim, period)
        sim.set_attendance(period, student, date(2024, 10, 1), all_day_code="",
                           classes=dict.fromkeys(sim.school_periods(period), "A"))
        sim.set_attendance(period, student, date(2024, 10, 2), all_day_code="U")
        # excuse an unverified full day
        unverified = next(r for r in sim.truth_attendance(period, start, today) if r["all_day_code"] == "A")
        sim.excuse_absence(period, unverified["student_id"], unverified["date"])
        # withdraw on a day that carries codes: the leave date itself is no longer an enrolled day
        coded = next(r for r in sim.truth_attendance(daily, date(2025, 1, 6), today)
                     if r["student_id"] != _full_year_student(sim, daily))
        sim.withdraw_student(daily, coded["student_id"], coded["date"])
        days = [r for r in sim.truth_student_days(daily) if r["student_id"] == coded["student_id"]]
        assert days and max(d["attendance_date"] for d in days) < coded["date"]
        # a new student with a code of their own
        new_id = sim.enroll_student(daily, 3, date(2025, 2, 3))
        sim.set_attendance(daily, new_id, date(2025, 2, 4), all_day_code="L")
        assert_matches_recount(sim, api)

        sim.advance_clock(days=20)  # corrections stay, new days appear
        assert_matches_recount(sim, api)


def test_truth_student_days_through(sim: AeriesSimulator) -> None:
    through = date(2024, 12, 6)
    rows = sim.truth_student_days(101, through)
    assert rows == recount_days(sim, 101, through)
    assert max(r["attendance_date"] for r in rows) == through
    assert set(rows[0]) == {"school_code", "student_id", "attendance_date", "grade", "is_full_day_absent",
                            "absence_kind", "tardy_count", "truancy_event"}
    assert sim.truth_student_days(101, date(2030, 1, 1)) == sim.truth_student_days(101)  # never past today


# ----- hand-made days: each absence kind, tardies and truancy --------------------------------------
ALL = "*"  # every period of the school


@pytest.mark.parametrize("kind, all_day, classes, expected", [
    pytest.param("period", "E", {}, (True, "excused", 0, False), id="all-day-excused"),
    pytest.param("period", "U", {}, (True, "unexcused", 0, True), id="all-day-unexcused"),
    pytest.param("period", "A", {}, (True, "unverified", 0, False), id="all-day-unverified"),
    pytest.param("period", "X", {}, (True, "suspension", 0, False), id="all-day-suspension"),
    pytest.param("period", "", {ALL: "I", "1": "E"}, (True, "excused", 0, False), id="periods-excused"),
    pytest.param("period", "", {ALL: "A", "3": "U"}, (True, "unexcused", 0, True), id="periods-unexcused"),
    pytest.param("period", "", {ALL: "A"}, (True, "unverified", 0, False), id="periods-unverified"),
    pytest.param("period", "", {ALL: "E", "2": "X"}, (True, "suspension", 0, False), id="periods-suspension"),
    pytest.param("period", "A", {"1": "X"}, (True, "suspension", 0, False), id="all-day-with-suspended-period"),
    pytest.param("period", "", {ALL: "A", "6": None}, (False, None, 0, False), id="one-period-not-absent"),
    pytest.param("period", "", {"1": "L"}, (False, None, 1, True), id="partial-day-truant"),
    pytest.param("period", "", {"1": "T", "2": "V"}, (False, None, 2, False), id="two-tardies"),
    pytest.param("period", "T", {}, (False, None, 1, False), id="all-day-tardy-without-periods"),
    pytest.param("period", "U", {"1": "T"}, (True, "unexcused", 1, True), id="absent-and-tardy-period"),
    pytest.param("daily", "L", {}, (False, None, 1, True), id="daily-partial-day-truant"),
    pytest.param("daily", "T", {}, (False, None, 1, False), id="daily-tardy"),
    pytest.param("daily", "N", {}, (False, None, 0, False), id="daily-verified-not-absent"),
    pytest.param("daily", "X", {}, (True, "suspension", 0, False), id="daily-suspension"),
    pytest.param("daily", "A", {}, (True, "unverified", 0, False), id="daily-unverified"),
])
def test_hand_made_day(fresh_sim: AeriesSimulator, fresh_api: Api, kind: str, all_day: str,
                       classes: dict[str, str | None], expected: tuple[bool, str | None, int, bool]) -> None:
    school = _period_school(fresh_sim) if kind == "period" else _daily_school(fresh_sim)
    student, day = _full_year_student(fresh_sim, school), date(2024, 10, 8)
    if ALL in classes:
        periods: dict[str, str | None] = dict.fromkeys(fresh_sim.school_periods(school), classes[ALL])
        periods.update({p: c for p, c in classes.items() if p != ALL})
    else:
        periods = dict(classes)
    fresh_sim.clear_absence(school, student, day)
    before = _summary(fresh_api, school, student)
    fresh_sim.set_attendance(school, student, day, all_day_code=all_day, classes=periods or None)

    row = next(r for r in fresh_sim.truth_student_days(school)
               if r["student_id"] == student and r["attendance_date"] == day)
    assert (row["is_full_day_absent"], row["absence_kind"], row["tardy_count"], row["truancy_event"]) == expected
    absent, absence_kind, tardies, truant = expected
    after = _summary(fresh_api, school, student)
    wanted = {"DaysAbsence": absent, "DaysPresent": -absent, "DaysTardy": tardies, "DaysOfTruancy": truant,
              "DaysExcused": absence_kind == "excused", "DaysUnexcused": absence_kind == "unexcused",
              "DaysSuspension": absence_kind == "suspension"}
    assert {c: after[c] - before[c] for c in COUNTERS if after[c] != before[c]} == {
        c: int(d) for c, d in wanted.items() if d}


def test_codes_outside_enrolled_days_are_ignored(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _daily_school(fresh_sim)
    new_id = fresh_sim.enroll_student(school, 2, date(2024, 11, 4))
    fresh_sim.set_attendance(school, new_id, date(2024, 11, 4), all_day_code="U")
    fresh_sim.set_attendance(school, new_id, date(2024, 11, 5), all_day_code="U")
    fresh_sim.withdraw_student(school, new_id, date(2024, 11, 5))  # served, but the leave date is not enrolled
    assert {r["date"] for r in fresh_sim.truth_attendance(school, date(2024, 11, 1), date(2024, 11, 30))
            if r["student_id"] == new_id} == {date(2024, 11, 4), date(2024, 11, 5)}
    summary = _summary(fresh_api, school, new_id)
    assert (summary["DaysEnrolled"], summary["DaysAbsence"], summary["DaysUnexcused"]) == (1, 1, 1)
    later = fresh_sim.enroll_student(school, 2, fresh_sim.today + timedelta(days=30))
    assert _summary(fresh_api, school, later)["DaysEnrolled"] == 0  # listed, nothing counted yet


# ----- scripted discrepancies ------------------------------------------------------------------------
def _adjust(sim: AeriesSimulator, **params: Any) -> requests.Response:
    return requests.post(sim.base_url + "/_admin/history/adjust", params=params, timeout=5)


def test_adjust_history_over_http(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    student = next(s for s in fresh_api.json(_year_path(102)) if len(s["HistorySummaries"]) > 1)["StudentID"]
    before = {code: fresh_api.json(_year_path(code)) for code in fresh_sim.school_codes()}
    days_before = fresh_sim.truth_student_days(102)
    assert _adjust(fresh_sim, school=102, student=student, field="DaysAbsence", delta=2).status_code == 200
    assert _adjust(fresh_sim, school=102, student=student, field="daysabsence", delta=1).status_code == 200

    for code, body in before.items():
        after = fresh_api.json(_year_path(code))
        for old, new in zip(body, after, strict=True):
            for old_summary, new_summary in zip(old["HistorySummaries"], new["HistorySummaries"], strict=True):
                if (new["StudentID"], new_summary["SchoolCode"]) == (student, 102):
                    assert new_summary == {**old_summary, "DaysAbsence": old_summary["DaysAbsence"] + 3}
                else:
                    assert new_summary == old_summary
        assert after == fresh_sim.truth_history_summary(code)
        assert requests.get(fresh_sim.base_url + "/_admin/truth/history", params={"school": code},
                            timeout=5).json() == after
    old_summaries = next(s for s in before[102] if s["StudentID"] == student)["HistorySummaries"]
    assert fresh_api.json(f"schools/103/AttendanceHistory/summary/{student}")[0]["HistorySummaries"] == [
        {**h, "DaysAbsence": h["DaysAbsence"] + 3} if h["SchoolCode"] == 102 else h for h in old_summaries]
    assert fresh_sim.truth_student_days(102) == days_before  # the attendance itself did not change


@pytest.mark.parametrize("params", [
    pytest.param({"school": 101, "student": 10100001, "field": "SchoolYear", "delta": 1}, id="not-a-counter"),
    pytest.param({"school": 101, "student": 10100001, "field": "DaysAbsence", "delta": "x"}, id="bad-delta"),
    pytest.param({"school": 101, "student": 99999999, "field": "DaysAbsence", "delta": 1}, id="unknown-student"),
    pytest.param({"school": 0, "student": 10100001, "field": "DaysAbsence", "delta": 1}, id="pseudo-school"),
    pytest.param({"school": 101, "student": 10100001, "delta": 1}, id="missing-field"),
])
def test_adjust_history_rejects_bad_input(fresh_sim: AeriesSimulator, params: dict[str, Any]) -> None:
    response = _adjust(fresh_sim, **params)
    assert response.status_code == 400 and "Message" in response.json()


def test_adjustment_survives_clock_and_attendance_changes() -> None:
    spec = DistrictSpec(seed=5, schools=3, students_per_school=20, today=date(2025, 1, 15))
    with AeriesSimulator(spec, admin_routes=True) as sim:
        api = Api(sim)
        school = _period_school(sim)
        student = _full_year_student(sim, school)
        assert _adjust(sim, school=school, student=student, field="DaysTardy", delta=-4).status_code == 200
        sim.advance_clock(days=30)
        sim.set_attendance(school, student, date(2025, 2, 3), all_day_code="U")
        served = _summary(api, school, student)
        recount = recount_summaries(sim, school)[student]
        assert served["DaysEnrolled"] > 0 and served["DaysAbsence"] >= 1
        assert {c: served[c] for c in COUNTERS} == {**recount, "DaysTardy": recount["DaysTardy"] - 4}
        other = next(e["StudentID"] for e in sim.truth_enrollment(school) if e["StudentID"] != student)
        assert {c: _summary(api, school, other)[c] for c in COUNTERS} == recount_summaries(sim, school)[other]
