"""Same seed, same bytes; truth_attendance equals what HTTP serves; data looks like a real district."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import date

import requests

from aeries_simulator import AeriesSimulator, DistrictSpec

from .conftest import SPEC, Api

PATHS = ["schools", "schools/101/calendar", "schools/103/AbsenceCodes", "schools/102/students",
         "schools/101/enrollment/0/year/2024", "schools/101/attendance?StartDate=20240815&EndDate=20250612",
         "schools/103/attendance?StartDate=20241101&EndDate=20241130", "systeminfo?DatabaseYear=2019"]


def _bodies(spec: DistrictSpec) -> list[bytes]:
    with AeriesSimulator(spec) as sim:
        headers = {"AERIES-CERT": sim.certificate}
        return [requests.get(f"{sim.base_url}/api/v5/{p}", headers=headers, timeout=10).content for p in PATHS]


def test_same_seed_same_bytes(api: Api) -> None:
    first = _bodies(SPEC)
    assert first == _bodies(SPEC)
    assert first == [api.get(p.split("?")[0], dict(x.split("=") for x in p.split("?")[1].split("&"))
                             if "?" in p else None).content for p in PATHS]


def test_different_seed_differs() -> None:
    a = _bodies(SPEC)
    b = _bodies(DistrictSpec(seed=SPEC.seed + 1, schools=SPEC.schools, students_per_school=SPEC.students_per_school))
    assert a[0] == b[0]  # school list does not depend on the seed
    assert a[3] != b[3] and a[5] != b[5]


def _flatten(body: list[dict], school: int) -> list[dict]:
    return [{"school_code": school, "student_id": s["StudentID"], "date": date.fromisoformat(d["CalendarDate"][:10]),
             "all_day_code": d["AllDayAttendanceCode"],
             "classes": [{"period": c["Period"], "section": c["SectionNumber"], "code": c["AttendanceCode"]}
                         for c in d["Classes"]]}
            for s in body for d in s["AttendanceDays"]]


def test_truth_equals_http_for_whole_year(api: Api, sim: AeriesSimulator) -> None:
    for school in sim.school_codes():
        body = api.json(f"schools/{school}/attendance", {"StartDate": "20240801", "EndDate": "20250630"})
        assert _flatten(body, school) == sim.truth_attendance(school, date(2024, 8, 1), date(2025, 6, 30))


def test_attendance_is_realistic(sim: AeriesSimulator) -> None:
    calendar_days = {date.fromisoformat(r["CalendarDate"][:10]) for r in sim.truth_calendar(101)
                     if r["HolidayCode"] == ""}
    for school in sim.school_codes():
        codes = {r["AbsenceCode"] for r in sim.truth_absence_codes(school)}
        students = {s["StudentID"]: s for s in sim.truth_students(school)}
        rows = sim.truth_attendance(school, date(2024, 8, 1), date(2025, 6, 30))
        enrolled_days = 0
        for s in students.values():
            enter = date.fromisoformat(s["SchoolEnterDate"][:10])
            leave = date.fromisoformat(s["SchoolLeaveDate"][:10]) if s["SchoolLeaveDate"] else date.max
            enrolled_days += sum(1 for d in calendar_days if enter <= d <= leave)
        assert 0.03 < len(rows) / enrolled_days < 0.09
        periods = sim.school_periods(school)
        kinds: Counter[str] = Counter()
        for row in rows:
            assert row["date"] in calendar_days
            s = students[row["student_id"]]
            assert s["SchoolEnterDate"][:10] <= row["date"].isoformat()
            assert s["SchoolLeaveDate"] is None or row["date"].isoformat() <= s["SchoolLeaveDate"][:10]
            assert row["all_day_code"] in codes | {""}
            assert all(c["code"] in codes and c["period"] in periods for c in row["classes"])
            assert "P" not in {row["all_day_code"], *(c["code"] for c in row["classes"])}
            if not periods:
                assert row["classes"] == [] and row["all_day_code"]
            elif row["all_day_code"]:
                assert {c["code"] for c in row["classes"]} == {row["all_day_code"]}
                kinds["full"] += 1
            else:
                kinds["partial"] += 1
        if periods:
            assert kinds["full"] and kinds["partial"]


def test_sections_are_stable_per_student_and_period(sim: AeriesSimulator) -> None:
    seen: dict[tuple[int, str], int] = {}
    for row in sim.truth_attendance(101, date(2024, 8, 1), date(2025, 6, 30)):
        for c in row["classes"]:
            assert seen.setdefault((row["student_id"], c["period"]), c["section"]) == c["section"]


def test_roster_has_concurrent_and_mid_year_students() -> None:
    spec = DistrictSpec(seed=3, schools=4, students_per_school=300)
    sim = AeriesSimulator(spec)
    students = [s for code in sim.school_codes() for s in sim.truth_students(code)]
    per_id = Counter(s["StudentID"] for s in students)
    concurrent = [i for i, n in per_id.items() if n == 2]
    assert 0.005 < len(concurrent) / len(per_id) < 0.03
    assert any(s["SchoolEnterDate"] > "2024-08-15T00:00:00" for s in students)
    leavers = [s for s in students if s["SchoolLeaveDate"]]
    assert leavers and {s["InactiveStatusCode"] for s in leavers} <= {"", "I"}
    assert any(s["InactiveStatusCode"] == "I" for s in leavers)
    assert sim.school_codes() == [101, 102, 103, 104]
    assert sim.school_codes(active_only=False) == [0, 101, 102, 103, 104, 999]


def test_switches() -> None:
    spec = DistrictSpec(seed=5, schools=3, students_per_school=20)
    with AeriesSimulator(spec, include_empty_students=True, attendance_404_when_empty=True,
                         classes_absent_for_daily=True) as sim:
        api = Api(sim)
        body = api.json("schools/101/attendance", {"StartDate": "20240916", "EndDate": "20240916"})
        enrolled = [s["StudentID"] for s in sim.truth_students(101)
                    if s["SchoolEnterDate"] <= "2024-09-16T00:00:00"
                    and (s["SchoolLeaveDate"] is None or s["SchoolLeaveDate"] >= "2024-09-16T00:00:00")]
        assert [s["StudentID"] for s in body] == enrolled and any(s["AttendanceDays"] == [] for s in body)
        daily = api.json("schools/103/attendance", {"StartDate": "20240901", "EndDate": "20241031"})
        assert all("Classes" not in d for s in daily for d in s["AttendanceDays"])
    with AeriesSimulator(spec, attendance_404_when_empty=True) as sim:
        api = Api(sim)
        response = api.get("schools/101/attendance", {"StartDate": "20241005", "EndDate": "20241006"})
        assert response.status_code == 404 and "Message" in response.json()
        assert api.json("schools/101/attendance/99999999") == []


def test_concurrent_requests_agree(api: Api, sim: AeriesSimulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = [f"schools/{code}/attendance" for code in sim.school_codes()] * 4
    params = {"StartDate": "20241001", "EndDate": "20241130"}
    expected = {p: api.get(p, params).content for p in set(paths)}

    def fetch(path: str) -> bool:
        response = requests.get(api.url(path), params=params, headers={"AERIES-CERT": sim.certificate}, timeout=10)
        return response.content == expected[path]

    with ThreadPoolExecutor(6) as pool:
        assert all(pool.map(fetch, paths))


def test_request_body_is_drained_on_keep_alive(api: Api) -> None:
    response = api.session.post(api.url("schools"), data=b"x" * 1000, headers={"AERIES-CERT": api.sim.certificate},
                                timeout=5)
    assert response.status_code == 405
    assert api.get("schools").status_code == 200


def test_small_responses_on_a_kept_alive_connection_arrive_without_a_stall(api: Api) -> None:
    """The headers and the body of a response are two writes; with Nagle's algorithm on, the body
    of a small response waited for the client's delayed ACK (~40 ms on Linux) on every request
    after a connection's first, a stall IIS does not add and a sync paid on every calendar, set of
    absence codes and student page (latency is what `--latency-ms` adds, on purpose)."""
    seconds = []
    for _ in range(11):
        started = time.perf_counter()
        assert len(api.get("schools/101/AbsenceCodes").content) > 0
        seconds.append(time.perf_counter() - started)
    assert statistics.median(seconds[1:]) < 0.02, [round(s * 1000, 1) for s in seconds]


def test_large_district_serves_a_window_lazily() -> None:
    with AeriesSimulator(DistrictSpec.large()) as sim:
        assert len(sim.school_codes()) == 20
        api = Api(sim)
        body = api.json("schools/101/attendance", {"StartDate": "20241001", "EndDate": "20241030"})
        students = len(sim.truth_students(101))
        assert 800 < len(body) < students  # sparse: many students have no code in 21 days
        days = sum(len(s["AttendanceDays"]) for s in body)
        assert 0.03 < days / (students * 21) < 0.09
