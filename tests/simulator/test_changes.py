"""Every change type shows up in the next HTTP responses, in truth, and (for students) in StudentDataChanges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests

from aeries_simulator import AeriesSimulator, DistrictSpec

from .conftest import Api

YEAR = {"StartDate": "20240815", "EndDate": "20250612"}


def _days(api: Api, school: int, student: int, params: dict[str, str] = YEAR) -> dict[str, dict]:
    body = api.json(f"schools/{school}/attendance/{student}", params)
    return {d["CalendarDate"][:10]: d for s in body for d in s["AttendanceDays"]}


def _changes(api: Api, area: str, at: str = "2025/06/13/07/30") -> list[dict]:
    return api.json(f"StudentDataChanges/{area}/{at}")


def _find(sim: AeriesSimulator, school: int, predicate) -> dict:
    return next(r for r in sim.truth_attendance(school, date(2024, 8, 15), date(2025, 6, 12)) if predicate(r))


def _period_school(sim: AeriesSimulator) -> int:
    return next(c for c in sim.school_codes() if sim.school_periods(c))


def _daily_school(sim: AeriesSimulator) -> int:
    return next(c for c in sim.school_codes() if not sim.school_periods(c))


def test_clear_absence(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    row = _find(fresh_sim, school, lambda r: r["all_day_code"])
    day = row["date"].isoformat()
    assert day in _days(fresh_api, school, row["student_id"])
    fresh_sim.clear_absence(school, row["student_id"], row["date"])
    assert day not in _days(fresh_api, school, row["student_id"])
    assert row["date"] not in {r["date"] for r in fresh_sim.truth_attendance(school, row["date"], row["date"])
                               if r["student_id"] == row["student_id"]}
    assert _changes(fresh_api, "student") == []  # attendance is not a StudentDataChanges area


def test_excuse_absence_turns_unverified_into_excused(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    row = _find(fresh_sim, school, lambda r: r["all_day_code"] == "A")
    fresh_sim.excuse_absence(school, row["student_id"], row["date"])
    day = _days(fresh_api, school, row["student_id"])[row["date"].isoformat()]
    assert day["AllDayAttendanceCode"] == "I"
    assert {c["AttendanceCode"] for c in day["Classes"]} == {"I"}
    types = {c["AbsenceCode"]: c["TypeCode"] for c in fresh_api.json(f"schools/{school}/AbsenceCodes")}
    assert types["I"] == 2


def test_excuse_period_cut(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    row = _find(fresh_sim, school, lambda r: not r["all_day_code"] and any(c["code"] == "A" for c in r["classes"]))
    fresh_sim.excuse_absence(school, row["student_id"], row["date"])
    day = _days(fresh_api, school, row["student_id"])[row["date"].isoformat()]
    assert "A" not in {c["AttendanceCode"] for c in day["Classes"]} and day["AllDayAttendanceCode"] == ""


def test_add_period_code_on_a_clean_day(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    student = fresh_sim.truth_students(school)[0]["StudentID"]
    taken = {r["date"] for r in fresh_sim.truth_attendance(school, date(2024, 8, 15), date(2025, 6, 12))
             if r["student_id"] == student}
    calendar = [date.fromisoformat(r["CalendarDate"][:10]) for r in fresh_sim.truth_calendar(school)
                if r["HolidayCode"] == ""]
    day = next(d for d in calendar[30:] if d not in taken)
    period = fresh_sim.school_periods(school)[2]
    fresh_sim.add_period_code(school, student, day, period, "U")
    got = _days(fresh_api, school, student)[day.isoformat()]
    assert got["AllDayAttendanceCode"] == "" and [(c["Period"], c["AttendanceCode"]) for c in got["Classes"]] == [
        (period, "U")]
    assert isinstance(got["Classes"][0]["SectionNumber"], int)


def test_set_attendance_adds_changes_and_removes(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    row = _find(fresh_sim, school, lambda r: r["all_day_code"] and len(r["classes"]) >= 3)
    periods = [c["period"] for c in row["classes"]]
    fresh_sim.set_attendance(school, row["student_id"], row["date"], all_day_code="",
                             classes={periods[0]: None, periods[1]: "T"})
    got = _days(fresh_api, school, row["student_id"])[row["date"].isoformat()]
    assert got["AllDayAttendanceCode"] == ""
    codes = {c["Period"]: c["AttendanceCode"] for c in got["Classes"]}
    assert periods[0] not in codes and codes[periods[1]] == "T"
    with pytest.raises(ValueError):
        fresh_sim.set_attendance(school, row["student_id"], row["date"], all_day_code="Z")
    with pytest.raises(ValueError):
        fresh_sim.set_attendance(school, row["student_id"], date(2024, 9, 2), all_day_code="A")  # Labor Day


def test_daily_school_set_all_day(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _daily_school(fresh_sim)
    student = fresh_sim.truth_students(school)[1]["StudentID"]
    fresh_sim.set_attendance(school, student, date(2024, 10, 1), all_day_code="U")
    assert _days(fresh_api, school, student)["2024-10-01"] == {
        "CalendarDate": "2024-10-01T00:00:00", "AllDayAttendanceCode": "U", "Classes": []}
    with pytest.raises(ValueError):
        fresh_sim.add_period_code(school, student, date(2024, 10, 1), "1", "T")


def test_clear_school_day(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    row = _find(fresh_sim, school, lambda r: True)
    day = row["date"]
    fresh_sim.clear_school_day(school, day)
    params = {"StartDate": day.strftime("%Y%m%d"), "EndDate": day.strftime("%Y%m%d")}
    assert fresh_api.json(f"schools/{school}/attendance", params) == []
    fresh_sim.add_period_code(school, row["student_id"], day, fresh_sim.school_periods(school)[0], "T")
    assert len(fresh_api.json(f"schools/{school}/attendance", params)) == 1  # later corrections still count


def test_enroll_student(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    before = fresh_sim.now
    new_id = fresh_sim.enroll_student(101, 10, date(2024, 11, 4))
    students = {s["StudentID"]: s for s in fresh_api.json("schools/101/students")}
    assert students[new_id]["SchoolEnterDate"] == "2024-11-04T00:00:00" and students[new_id]["Grade"] == 10
    assert fresh_api.json(f"schools/101/students/{new_id}")[0]["StudentID"] == new_id
    enrollment = fresh_api.json(f"schools/101/enrollment/{new_id}/year/2024")
    assert enrollment[0]["EnterDate"] == "2024-11-04T00:00:00" and enrollment[0]["LeaveDate"] is None
    stamp = before.strftime("%Y/%m/%d/%H/%M")
    expected = [{"StudentID": new_id, "SchoolCode": 101, "StudentNumber": students[new_id]["StudentNumber"]}]
    assert _changes(fresh_api, "student", stamp) == expected
    assert _changes(fresh_api, "enrollment", stamp) == expected
    unpadded = f"{before.year}/{before.month}/{before.day}/{before.hour}/{before.minute}"
    assert _changes(fresh_api, "student", unpadded) == expected
    days = _days(fresh_api, 101, new_id)
    assert days and min(days) >= "2024-11-04"


def test_withdraw_student_backdated(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    school = _period_school(fresh_sim)
    counts: dict[int, list[date]] = {}
    for r in fresh_sim.truth_attendance(school, date(2024, 8, 15), date(2025, 6, 12)):
        counts.setdefault(r["student_id"], []).append(r["date"])
    student, dates = max(counts.items(), key=lambda kv: len(kv[1]))
    leave = dates[len(dates) // 2]
    fresh_sim.withdraw_student(school, student, leave)
    remaining = _days(fresh_api, school, student)
    assert remaining and max(remaining) == leave.isoformat()
    record = fresh_api.json(f"schools/{school}/students/{student}")[0]
    assert record["SchoolLeaveDate"] == f"{leave.isoformat()}T00:00:00" and record["InactiveStatusCode"] == "I"
    row = fresh_api.json(f"schools/{school}/enrollment/{student}/year/2024")[0]
    assert row["LeaveDate"] == f"{leave.isoformat()}T00:00:00" and row["ExitReasonCode"]
    for area in ("student", "enrollment"):
        assert [c["StudentID"] for c in _changes(fresh_api, area)] == [student]
    assert max(r["date"] for r in fresh_sim.truth_attendance(school, date(2024, 8, 15), date(2025, 6, 12))
               if r["student_id"] == student) == leave


def test_changes_feed_dedupes_and_respects_since(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    first = fresh_sim.enroll_student(102, 9, date(2024, 9, 3))
    fresh_sim.withdraw_student(102, first, date(2024, 12, 13))
    assert [c["StudentID"] for c in _changes(fresh_api, "student")] == [first]  # one entry per (student, school)
    fresh_sim.advance_clock(hours=2)
    second = fresh_sim.enroll_student(102, 9, date(2024, 9, 3))
    later = (fresh_sim.now - timedelta(minutes=1)).strftime("%Y/%m/%d/%H/%M")
    assert [c["StudentID"] for c in _changes(fresh_api, "student", later)] == [second]
    assert [c["StudentID"] for c in _changes(fresh_api, "student")] == sorted([first, second])
    assert _changes(fresh_api, "contact") == []


def test_advance_clock(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    start = fresh_sim.now
    fresh_sim.advance_clock(days=1, hours=2, minutes=3)
    assert fresh_sim.now == start + timedelta(days=1, hours=2, minutes=3)
    info = fresh_api.json("systeminfo")
    assert info["CurrentDateTime"].startswith(fresh_sim.now.strftime("%Y-%m-%dT%H:%M:%S"))
    with pytest.raises(ValueError):
        fresh_sim.advance_clock(days=-1)


def test_clock_reveals_new_days_and_locks_months() -> None:
    spec = DistrictSpec(seed=2, schools=2, students_per_school=80, today=date(2024, 10, 15))
    with AeriesSimulator(spec) as sim:
        api = Api(sim)
        params = {"StartDate": "20241001", "EndDate": "20241031"}
        before = {d["CalendarDate"][:10] for s in api.json("schools/101/attendance", params)
                  for d in s["AttendanceDays"]}
        assert before and max(before) <= "2024-10-15"
        unlocked = sim.first_unlocked_day(101)
        assert unlocked is not None
        sim.advance_clock(days=14)
        after = {d["CalendarDate"][:10] for s in api.json("schools/101/attendance", params)
                 for d in s["AttendanceDays"]}
        assert max(after) > "2024-10-15" and before <= after
        later = sim.first_unlocked_day(101)
        assert later is not None and later > unlocked


def test_lock_month(fresh_sim: AeriesSimulator, fresh_api: Api) -> None:
    spec_today = date(2024, 11, 20)
    with AeriesSimulator(DistrictSpec(seed=4, schools=2, students_per_school=10, today=spec_today)) as sim:
        api = Api(sim)
        rows = api.json("schools/101/calendar")
        locked = {r["AttendanceMonth"] for r in rows if r["AttendanceMonthLocked"]}
        month = max(locked) + 1
        first_unlocked = sim.first_unlocked_day(101)
        assert first_unlocked == min(date.fromisoformat(r["CalendarDate"][:10]) for r in rows
                                     if r["AttendanceMonth"] == month)
        sim.lock_month(101, month)
        rows = api.json("schools/101/calendar")
        assert all(r["AttendanceMonthLocked"] for r in rows if r["AttendanceMonth"] == month)
        assert not any(r["AttendanceMonthLocked"] for r in api.json("schools/102/calendar")
                       if r["AttendanceMonth"] == month)
        later = sim.first_unlocked_day(101)
        assert first_unlocked is not None and later is not None and later > first_unlocked
        assert rows == sim.truth_calendar(101)


def test_admin_routes(fresh_sim: AeriesSimulator) -> None:
    base = fresh_sim.base_url + "/_admin"
    assert requests.post(base + "/clock/advance", params={"hours": 1}, timeout=5).json()["now"].endswith("08:30:00")
    new_id = requests.post(base + "/students/enroll", params={"school": "101", "grade": "9", "date": "2024-09-03"},
                           timeout=5).json()["StudentID"]
    assert new_id in {s["StudentID"] for s in fresh_sim.truth_students(101)}
    response = requests.post(base + "/attendance/set", timeout=5, params={
        "school": "101", "student": str(new_id), "date": "2024-09-04", "all_day": "U", "p1": "U"})
    assert response.status_code == 200, response.text
    truth = requests.get(base + "/truth/attendance", params={"school": "101", "start": "2024-09-04",
                                                             "end": "2024-09-04"}, timeout=5).json()
    assert {"school_code": 101, "student_id": new_id, "date": "2024-09-04", "all_day_code": "U",
            "classes": [{"period": "1", "section": truth[-1]["classes"][0]["section"], "code": "U"}]} in truth
    assert requests.post(base + "/attendance/clear", timeout=5, params={
        "school": 101, "student": new_id, "date": "2024-09-04"}).status_code == 200
    assert requests.post(base + "/calendar/lock", params={"school": 101, "month": 99}, timeout=5).status_code == 400
    assert requests.post(base + "/nope", timeout=5).status_code == 404
    assert requests.post(base + "/faults/add", params={"kind": "server_error", "route": "schools"},
                         timeout=5).status_code == 200
    assert requests.get(fresh_sim.base_url + "/api/v5/schools", timeout=5,
                        headers={"AERIES-CERT": fresh_sim.certificate}).status_code == 500


def test_admin_routes_off_by_default(sim: AeriesSimulator) -> None:
    assert requests.post(sim.base_url + "/_admin/clock/advance", params={"days": 1}, timeout=5).status_code == 404
