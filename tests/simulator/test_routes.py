"""Every simulated route: shapes, authentication, case-insensitivity, 404s and DatabaseYear."""

from __future__ import annotations

import pytest

from aeries_simulator import AeriesSimulator

from .conftest import Api


def test_systeminfo_needs_no_certificate(api: Api, sim: AeriesSimulator) -> None:
    response = api.get("systeminfo", cert=None)
    assert response.status_code == 200
    info = response.json()
    assert info["DatabaseYear"] == "2024-2025"
    assert info["AvailableDatabaseYears"] == ["2024-2025", "2023-2024"]
    assert info["CurrentDateTime"].startswith(sim.now.strftime("%Y-%m-%dT%H:%M:%S") + ".")
    assert info["CurrentDateTime"].endswith(("-07:00", "-08:00"))


@pytest.mark.parametrize("cert", [
    pytest.param(None, id="missing"),
    pytest.param("WRONG0CERTIFICATE000000000000000", id="wrong"),
    pytest.param("simulator0certificate00000000001", id="wrong-case"),
])
@pytest.mark.parametrize("path", ["schools", "schools/101/attendance", "StudentDataChanges/student/2025/1/1/0/0"])
def test_certificate_required(api: Api, cert: str | None, path: str) -> None:
    response = api.get(path, cert=cert)
    assert response.status_code == 401
    assert "Message" in response.json()


def test_schools_list_has_pseudo_schools(api: Api, sim: AeriesSimulator) -> None:
    schools = {s["SchoolCode"]: s for s in api.json("schools")}
    assert sorted(schools) == [0, 101, 102, 103, 999]
    assert schools[0]["DoNotReport"] is True and schools[0]["InactiveStatusCode"] == ""
    assert schools[999]["InactiveStatusCode"] == "I" and schools[999]["Name"] == "ZZZ Setup School"
    kinds = {schools[c]["AttendanceType"] for c in sim.school_codes()}
    assert kinds == {"Daily", "Period"}
    assert all(s["AttendanceReporting"] == "Negative" for s in schools.values())
    assert api.json("schools") == sim.truth_schools()


def test_single_school_is_an_array(api: Api) -> None:
    body = api.json("schools/102")
    assert isinstance(body, list) and len(body) == 1 and body[0]["SchoolCode"] == 102
    assert body[0]["Terms"] and body[0]["Terms"][0]["TermCode"] == "F"


def test_unknown_school_is_404_with_message(api: Api) -> None:
    response = api.get("schools/555")
    assert response.status_code == 404 and "Message" in response.json()


@pytest.mark.parametrize("path", ["SCHOOLS/101/ATTENDANCE", "Schools/101/AbsenceCodes", "schools/101/absencecodes",
                                  "SYSTEMINFO", "studentdatachanges/STUDENT/2025/01/01/00/00", "schools/101/Students/"])
def test_paths_are_case_insensitive(api: Api, path: str) -> None:
    assert api.get(path).status_code == 200


def test_unknown_route_404_with_reason(api: Api) -> None:
    response = api.get("schools/101/nonsense")
    assert response.status_code == 404
    body = response.json()
    assert "Message" in body and "no simulated Aeries v5 route" in body["Reason"]
    outside = api.session.get(api.sim.base_url + "/favicon.ico")
    assert outside.status_code == 404 and "Reason" in outside.json()


def test_calendar(api: Api, sim: AeriesSimulator) -> None:
    rows = api.json("schools/101/calendar")
    assert rows == sim.truth_calendar(101)
    dates = [r["CalendarDate"] for r in rows]
    assert dates[0] == "2024-08-15T00:00:00" and dates[-1] == "2025-06-12T00:00:00"
    assert dates == sorted(dates)
    from datetime import date
    assert all(date.fromisoformat(d[:10]).weekday() < 5 for d in dates)
    holidays = [r for r in rows if r["HolidayCode"] == "#"]
    assert any(r["CalendarDate"] == "2024-09-02T00:00:00" for r in holidays)  # Labor Day
    assert 5 <= len(holidays) <= 40
    taught = [r for r in rows if r["HolidayCode"] == ""]
    assert [r["CalendarDayNumber"] for r in taught] == list(range(1, len(taught) + 1))
    first_month = [r for r in taught if r["AttendanceMonth"] == 1]
    assert len(first_month) == 20
    assert {r["PeriodBlockPattern"] for r in taught} == {"".join(sim.school_periods(101))}
    assert {r["PeriodBlockPattern"] for r in api.json("schools/103/calendar")} == {""}
    # today is after the year: every month ended long ago except perhaps the last
    assert rows[0]["AttendanceMonthLocked"] is True


def test_absence_codes(api: Api, sim: AeriesSimulator) -> None:
    rows = api.json("schools/101/AbsenceCodes")
    assert rows == sim.truth_absence_codes(101)
    types = {r["AbsenceCode"]: r["TypeCode"] for r in rows}
    assert types["A"] == 1 and types["U"] == 3 and types["E"] == 2 and types["T"] == 5
    assert types["V"] == 8 and types["L"] == 9 and types["N"] == 4 and types["P"] == 6
    assert next(r for r in rows if r["AbsenceCode"] == "L")["IsPartialDayTruant"] is True
    assert next(r for r in rows if r["AbsenceCode"] == "X")["IsSuspension"] is True
    single = api.json("schools/101/AbsenceCodes/t")
    assert len(single) == 1 and single[0]["AbsenceCode"] == "T"
    assert api.get("schools/101/AbsenceCodes/Q").status_code == 404


def test_terms(api: Api) -> None:
    terms = api.json("schools/101/terms")
    assert [t["TermCode"] for t in terms] == ["F", "S"]
    assert terms == api.json("schools/101")[0]["Terms"]


def test_students(api: Api, sim: AeriesSimulator) -> None:
    rows = api.json("schools/101/students")
    assert rows == sim.truth_students(101)
    ids = [r["StudentID"] for r in rows]
    assert ids == sorted(ids) and all(10_000_000 <= i <= 99_999_999 for i in ids)
    first = rows[0]
    for name in ("StudentNumber", "StateStudentID", "Birthdate", "SchoolEnterDate", "SchoolLeaveDate",
                 "InactiveStatusCode", "FamilyKey", "LowSchedulingPeriod", "HighSchedulingPeriod",
                 "NextGradeLevelLongDescription", "UserCode13", "ResidenceAddressZipExt"):
        assert name in first
    assert first["FirstName"].startswith("Synth-Student") and first["LastName"].startswith("Testfamily")


def test_student_by_id_grade_and_unknown(api: Api) -> None:
    rows = api.json("schools/101/students")
    one = api.json(f"schools/101/students/{rows[3]['StudentID']}")
    assert one == [rows[3]]
    grade = rows[0]["Grade"]
    assert api.json(f"schools/101/students/grade/{grade}") == [r for r in rows if r["Grade"] == grade]
    assert api.json(f"schools/102/students/{rows[3]['StudentID']}") == []  # exists, but not at 102
    missing = api.get("schools/101/students/99999999")
    assert missing.status_code == 404 and "Message" in missing.json()


def test_enrollment(api: Api, sim: AeriesSimulator) -> None:
    rows = api.json("schools/101/enrollment/0/year/2024")
    assert rows == sim.truth_enrollment(101)
    assert {r["AcademicYear"] for r in rows} == {"2024"}
    student = rows[5]["StudentID"]
    assert api.json(f"schools/101/enrollment/{student}/year/2024") == [rows[5]]
    assert api.json("schools/101/enrollment/0/year/2019") == []


def test_attendance_shape(api: Api, sim: AeriesSimulator) -> None:
    period_school = next(c for c in sim.school_codes() if sim.school_periods(c))
    body = api.json(f"schools/{period_school}/attendance/", {"StartDate": "20240901", "EndDate": "20240930"})
    assert body and all(set(s) == {"StudentID", "AttendanceDays"} and s["AttendanceDays"] for s in body)
    day = body[0]["AttendanceDays"][0]
    assert set(day) == {"CalendarDate", "AllDayAttendanceCode", "Classes"}
    assert day["CalendarDate"].endswith("T00:00:00")
    assert all(set(c) == {"SectionNumber", "Period", "AttendanceCode"} for c in day["Classes"])
    student = body[0]["StudentID"]
    one = api.json(f"schools/{period_school}/attendance/{student}", {"StartDate": "20240901", "EndDate": "20240930"})
    assert one == [body[0]]
    assert api.json(f"schools/{period_school}/attendance/99999999") == []


def test_daily_school_has_empty_classes(api: Api, sim: AeriesSimulator) -> None:
    daily = next(c for c in sim.school_codes() if not sim.school_periods(c))
    body = api.json(f"schools/{daily}/attendance", {"StartDate": "20240901", "EndDate": "20241031"})
    days = [d for s in body for d in s["AttendanceDays"]]
    assert days and all(d["Classes"] == [] and d["AllDayAttendanceCode"] for d in days)


def test_data_changes_empty_until_something_changes(api: Api) -> None:
    assert api.json("StudentDataChanges/student/2020/1/1/0/0") == []
    assert api.json("StudentDataChanges/enrollment/2020/01/01/00/00") == []
    assert api.get("StudentDataChanges/attendance/2020/1/1/0/0").status_code == 404


@pytest.mark.parametrize("year, label", [
    pytest.param("2019", "2024-2025", id="unavailable"),
    pytest.param("abc", "2024-2025", id="garbage"),
    pytest.param("", "2024-2025", id="blank"),
    pytest.param("2024", "2024-2025", id="default"),
    pytest.param("2023", "2023-2024", id="prior"),
])
def test_database_year(api: Api, year: str, label: str) -> None:
    assert api.json("systeminfo", {"DatabaseYear": year})["DatabaseYear"] == label


def test_database_year_fallback_serves_default_data(api: Api) -> None:
    params = {"StartDate": "20241001", "EndDate": "20241015"}
    default = api.get("schools/101/attendance", params).content
    assert api.get("schools/101/attendance", {**params, "DatabaseYear": "2019"}).content == default
    assert api.get("schools/101/calendar", {"databaseyear": "abc"}).content == api.get("schools/101/calendar").content
    prior = api.json("schools/101/calendar", {"DatabaseYear": "2023"})
    assert prior[0]["CalendarDate"].startswith("2023-08")
    assert api.json("schools/101/attendance", {"DatabaseYear": "2023", "StartDate": "20231001",
                                               "EndDate": "20231031"})


def test_request_log(api: Api, sim: AeriesSimulator) -> None:
    api.get("schools", {"DatabaseYear": "2024"})
    api.get("schools", cert=None)
    log = sim.request_log
    assert [(r.method, r.path, r.status) for r in log] == [("GET", "/api/v5/schools", 200),
                                                           ("GET", "/api/v5/schools", 401)]
    assert log[0].query == {"DatabaseYear": "2024"}
    sim.clear_request_log()
    assert sim.request_log == []


@pytest.mark.parametrize("path, status", [
    pytest.param("schools/555/students", 404, id="students-unknown-school"),
    pytest.param("schools/555/enrollment/0/year/2024", 404, id="enrollment-unknown-school"),
    pytest.param("StudentDataChanges/student/2025/13/1/0/0", 400, id="changes-bad-month"),
    pytest.param("StudentDataChanges/student/2025/2/30/0/0", 400, id="changes-bad-day"),
])
def test_error_bodies(api: Api, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status and "Message" in response.json()


@pytest.mark.parametrize("code", [0, 999])
def test_pseudo_schools_hold_no_data(api: Api, code: int) -> None:
    assert api.json(f"schools/{code}/students") == []
    assert api.json(f"schools/{code}/attendance") == []
    assert api.json(f"schools/{code}/calendar") == []
