"""Unit tests of `aeries_source.calendar_index.CalendarIndex` built from synthetic Aeries calendar rows."""

from datetime import date
from typing import Any

import pytest

from aeries_source.calendar_index import CalendarIndex

D = date


def cal_row(
    day: str | None, month: Any, locked: bool = False, pattern: str = "1234567", holiday: str = ""
) -> dict[str, Any]:
    """One Aeries-shaped calendar row (synthetic school 901)."""
    return {
        "SchoolCode": 901,
        "CalendarDayNumber": 1,
        "CalendarDate": None if day is None else f"{day}T00:00:00",
        "HolidayCode": holiday,
        "AttendanceMonth": month,
        "AttendanceMonthLocked": locked,
        "TotalEnrollment": 0,
        "TotalApportionment": 0,
        "PeriodBlockPattern": pattern,
        "ABDay": "",
        "TrackHolidays": [],
    }


def three_months(m1_locked: bool = True, m2_locked: bool = False, m3_locked: bool = False) -> list[dict[str, Any]]:
    # Deliberately out of date order: the index must not depend on row order.
    return [
        cal_row("2024-09-04", 2, m2_locked, pattern="0123456"),
        cal_row("2024-08-15", 1, m1_locked),
        cal_row("2024-08-16", 1, m1_locked, pattern="135"),
        cal_row("2024-09-13", 2, m2_locked, holiday="#", pattern=""),
        cal_row("2024-08-19", 1, m1_locked, pattern="246"),
        cal_row("2024-09-03", 2, m2_locked),
        cal_row("2024-10-01", 3, m3_locked),
        cal_row("2024-10-02", 3, m3_locked, pattern="12345678"),
    ]


@pytest.mark.parametrize(
    "rows, expected",
    [
        pytest.param(three_months(), ["0", "1", "2", "3", "4", "5", "6", "7", "8"], id="union-of-day-patterns"),
        pytest.param([cal_row("2024-09-03", 1, pattern="")], [], id="daily-school-no-pattern"),
        pytest.param([cal_row("2024-09-03", 1, pattern="31"), cal_row("2024-09-04", 1, pattern="13")], ["1", "3"],
                     id="deduplicated-and-sorted"),
        pytest.param([cal_row("2024-09-03", 1, pattern="1 2,A")], ["1", "2"], id="non-digits-ignored"),
        pytest.param([], [], id="empty-calendar"),
    ],
)
def test_periods(rows: list[dict[str, Any]], expected: list[str]) -> None:
    assert CalendarIndex(rows).periods() == expected


@pytest.mark.parametrize(
    "rows, has_locked, first_unlocked",
    [
        pytest.param(three_months(True, False, False), True, D(2024, 9, 3), id="month1-locked"),
        pytest.param(three_months(True, True, False), True, D(2024, 10, 1), id="months1-2-locked"),
        pytest.param(three_months(True, True, True), True, None, id="all-locked"),
        pytest.param(three_months(False, False, False), False, D(2024, 8, 15), id="none-locked"),
        pytest.param(three_months(False, True, False), True, D(2024, 8, 15), id="earlier-month-unlocked"),
        pytest.param([], False, None, id="empty-calendar"),
        pytest.param(
            [cal_row("2024-09-03", 2, False), cal_row("2024-09-04", 2, True), cal_row("2024-10-01", 3, False)],
            True, D(2024, 10, 1), id="partly-locked-month-counts-as-locked",
        ),
    ],
)
def test_locks_and_first_unlocked_day(
    rows: list[dict[str, Any]], has_locked: bool, first_unlocked: date | None
) -> None:
    index = CalendarIndex(rows)
    assert index.has_locked_months() is has_locked
    assert index.first_unlocked_day() == first_unlocked


@pytest.mark.parametrize(
    "day, can_correct, deadline",
    [
        pytest.param(D(2024, 8, 15), False, D(2024, 8, 19), id="locked-month-first-day"),
        pytest.param(D(2024, 8, 19), False, D(2024, 8, 19), id="locked-month-last-day"),
        pytest.param(D(2024, 9, 3), True, D(2024, 9, 13), id="unlocked-deadline-is-holiday-last-row"),
        pytest.param(D(2024, 9, 13), True, D(2024, 9, 13), id="deadline-of-last-day-is-itself"),
        pytest.param(D(2024, 10, 2), True, D(2024, 10, 2), id="third-month"),
        pytest.param(D(2024, 9, 7), True, None, id="weekend-not-in-calendar"),
        pytest.param(D(2025, 7, 1), True, None, id="outside-the-year"),
    ],
)
def test_correction_window(day: date, can_correct: bool, deadline: date | None) -> None:
    index = CalendarIndex(three_months())
    assert index.can_be_corrected(day) is can_correct
    assert index.correction_deadline(day) == deadline


@pytest.mark.parametrize(
    "month",
    [pytest.param(0, id="zero"), pytest.param(None, id="null"), pytest.param("", id="blank")],
)
def test_day_without_attendance_month_has_no_deadline(month: Any) -> None:
    index = CalendarIndex([cal_row("2024-08-14", month), cal_row("2024-08-15", 1)])
    assert index.get(D(2024, 8, 14)) is not None
    assert index.correction_deadline(D(2024, 8, 14)) is None
    assert index.correction_deadline(D(2024, 8, 15)) == D(2024, 8, 15)


def test_rows_without_a_date_are_skipped() -> None:
    index = CalendarIndex(
        [cal_row(None, 1), cal_row("0001-01-01", 1), cal_row("2024-09-03", 1, pattern="12", holiday="%")]
    )
    assert len(index) == 1
    entry = index.get(D(2024, 9, 3))
    assert entry is not None
    assert (entry.day, entry.attendance_month, entry.locked, entry.holiday_code, entry.period_pattern) == (
        D(2024, 9, 3), 1, False, "%", "12",
    )
    assert index.get(D(2024, 9, 4)) is None
