"""StartingRecord/EndingRecord paging edges and StartDate/EndDate window edges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aeries_simulator import AeriesSimulator

from .conftest import Api


def _ids(rows: list[dict]) -> list[int]:
    return [r["StudentID"] for r in rows]


def test_paging_walk_covers_everything_once(api: Api) -> None:
    everything = _ids(api.json("schools/102/students"))
    seen: list[int] = []
    start, size = 1, 7
    while True:
        page = _ids(api.json("schools/102/students", {"StartingRecord": start, "EndingRecord": start + size - 1}))
        seen += page
        if len(page) < size:
            break
        start += size
    assert seen == everything


@pytest.mark.parametrize("start, end, expected", [
    pytest.param(1, 10, slice(0, 10), id="first-page"),
    pytest.param(5, 5, slice(4, 5), id="start-equals-end"),
    pytest.param(None, 3, slice(0, 3), id="only-end"),
    pytest.param(38, None, slice(37, None), id="only-start"),
    pytest.param(10, 9, slice(0, 0), id="end-before-start"),
    pytest.param(10_000, 10_010, slice(0, 0), id="past-the-end"),
])
def test_paging_edges(api: Api, start: int | None, end: int | None, expected: slice) -> None:
    everything = _ids(api.json("schools/102/students"))
    params = {k: v for k, v in {"StartingRecord": start, "EndingRecord": end}.items() if v is not None}
    assert _ids(api.json("schools/102/students", params)) == everything[expected]


def test_paging_exact_multiple(api: Api) -> None:
    everything = _ids(api.json("schools/102/students"))
    n = len(everything)
    for size in [k for k in (n, *range(2, 11)) if n % k == 0]:
        pages = [_ids(api.json("schools/102/students", {"StartingRecord": s, "EndingRecord": s + size - 1}))
                 for s in range(1, n + size + 1, size)]
        assert all(len(p) == size for p in pages[:-1]) and pages[-1] == []
        assert [i for page in pages for i in page] == everything


def test_paging_grade_route(api: Api) -> None:
    grade = api.json("schools/101/students")[0]["Grade"]
    whole = _ids(api.json(f"schools/101/students/grade/{grade}"))
    assert _ids(api.json(f"schools/101/students/grade/{grade}", {"StartingRecord": 2, "EndingRecord": 3})) == whole[1:3]


def test_paging_bad_number_is_400(api: Api) -> None:
    assert api.get("schools/101/students", {"StartingRecord": "x", "EndingRecord": "5"}).status_code == 400


def _window(api: Api, school: int, start: date, end: date) -> list[tuple[int, str]]:
    body = api.json(f"schools/{school}/attendance", {"StartDate": start.strftime("%Y%m%d"),
                                                     "EndDate": end.strftime("%Y%m%d")})
    return [(s["StudentID"], d["CalendarDate"][:10]) for s in body for d in s["AttendanceDays"]]


def test_window_ends_are_inclusive(api: Api, sim: AeriesSimulator) -> None:
    month = _window(api, 101, date(2024, 10, 1), date(2024, 10, 31))
    dates = sorted({d for _, d in month})
    first, last = date.fromisoformat(dates[0]), date.fromisoformat(dates[-1])
    inner = _window(api, 101, first, last)
    assert sorted(inner) == sorted(month)
    assert first.isoformat() in {d for _, d in inner} and last.isoformat() in {d for _, d in inner}
    shrunk = _window(api, 101, first + timedelta(days=1), last - timedelta(days=1))
    assert first.isoformat() not in {d for _, d in shrunk} and last.isoformat() not in {d for _, d in shrunk}


def test_single_day_window(api: Api) -> None:
    whole = _window(api, 101, date(2024, 9, 1), date(2024, 9, 30))
    day = next(d for _, d in whole)
    single = _window(api, 101, date.fromisoformat(day), date.fromisoformat(day))
    assert single and {d for _, d in single} == {day}
    assert sorted(single) == sorted(x for x in whole if x[1] == day)


@pytest.mark.parametrize("start, end", [
    pytest.param(date(2024, 9, 30), date(2024, 10, 1), id="month-boundary"),
    pytest.param(date(2024, 12, 16), date(2025, 1, 10), id="year-boundary"),
    pytest.param(date(2025, 1, 31), date(2025, 2, 3), id="month-boundary-over-weekend"),
])
def test_windows_split_anywhere_add_up(api: Api, sim: AeriesSimulator, start: date, end: date) -> None:
    whole = _window(api, 102, start, end)
    halves = []
    day = start
    while day <= end:
        halves += _window(api, 102, day, day)
        day += timedelta(days=1)
    assert sorted(whole) == sorted(halves)
    truth = [(r["student_id"], r["date"].isoformat()) for r in sim.truth_attendance(102, start, end)]
    assert sorted(whole) == sorted(truth)
    assert all(start.isoformat() <= d <= end.isoformat() for _, d in whole)


def test_year_boundary_has_both_years(api: Api) -> None:
    dates = {d for _, d in _window(api, 102, date(2024, 12, 1), date(2025, 1, 31))}
    assert any(d.startswith("2024-12") for d in dates) and any(d.startswith("2025-01") for d in dates)
    assert not any("2024-12-24" <= d <= "2025-01-01" for d in dates)  # winter break


def test_weekend_and_holiday_windows_are_empty(api: Api) -> None:
    assert api.json("schools/101/attendance", {"StartDate": "20241005", "EndDate": "20241006"}) == []
    assert api.json("schools/101/attendance", {"StartDate": "20240902", "EndDate": "20240902"}) == []  # Labor Day
    assert api.json("schools/101/attendance", {"StartDate": "20230101", "EndDate": "20230301"}) == []


def test_bad_dates_are_400(api: Api) -> None:
    response = api.get("schools/101/attendance", {"StartDate": "2024-09-01", "EndDate": "20240930"})
    assert response.status_code == 400 and "YYYYMMDD" in response.json()["Message"]
