"""Unit tests of `aeries_source.planning`: batch numbering and the per-school sync windows."""

from datetime import date, timedelta
from typing import Any

import pytest

from aeries_source.batching import date_batches
from aeries_source.calendar_index import CalendarIndex
from aeries_source.planning import (
    DELTA,
    EXPLICIT,
    FULL,
    Batch,
    SchoolRange,
    build_plan,
    delta_start,
    number_batches,
)

D = date
YEAR_START = D(2024, 8, 15)
YEAR_END = D(2025, 6, 12)
TODAY = D(2024, 10, 20)


def cal_row(day: date, month: int, locked: bool) -> dict[str, Any]:
    return {"SchoolCode": 901, "CalendarDate": f"{day.isoformat()}T00:00:00", "HolidayCode": "",
            "AttendanceMonth": month, "AttendanceMonthLocked": locked, "PeriodBlockPattern": "", "ABDay": "",
            "TrackHolidays": []}


def calendar(locked_months: tuple[int, ...] = ()) -> CalendarIndex:
    """Weekdays from Aug 15 2024, cut into 20-day attendance months 1..4 (months end Sep 11, Oct 9, Nov 6, Dec 4)."""
    rows, d, n = [], YEAR_START, 0
    while n < 80:
        if d.weekday() < 5:
            month = n // 20 + 1
            rows.append(cal_row(d, month, month in locked_months))
            n += 1
        d += timedelta(days=1)
    return CalendarIndex(rows)


def test_synthetic_calendar_months() -> None:
    cal = calendar((1,))
    assert cal.correction_deadline(YEAR_START) == D(2024, 9, 11)
    assert cal.first_unlocked_day() == D(2024, 9, 12)
    assert calendar((1, 2)).first_unlocked_day() == D(2024, 10, 10)


# -- number_batches ------------------------------------------------------------------------------------
def test_number_units_orders_by_school_then_date() -> None:
    windows = [
        SchoolRange(20, D(2024, 9, 1), D(2024, 9, 10), "main"),
        SchoolRange(10, D(2024, 9, 21), D(2024, 9, 25), "retry"),
        SchoolRange(10, D(2024, 9, 1), D(2024, 9, 12), "main"),
    ]
    batches = number_batches(windows, 5)
    assert batches == [
        Batch(1, 10, D(2024, 9, 1), D(2024, 9, 5)),
        Batch(2, 10, D(2024, 9, 6), D(2024, 9, 10)),
        Batch(3, 10, D(2024, 9, 11), D(2024, 9, 12)),
        Batch(4, 10, D(2024, 9, 21), D(2024, 9, 25)),
        Batch(5, 20, D(2024, 9, 1), D(2024, 9, 5)),
        Batch(6, 20, D(2024, 9, 6), D(2024, 9, 10)),
    ]


@pytest.mark.parametrize(
    "order",
    [pytest.param((0, 1, 2, 3), id="given"), pytest.param((3, 2, 1, 0), id="reversed"),
     pytest.param((2, 0, 3, 1), id="shuffled")],
)
def test_number_units_is_stable_for_any_input_order(order: tuple[int, ...]) -> None:
    windows = [
        SchoolRange(101, D(2024, 8, 15), D(2024, 10, 20), "a"),
        SchoolRange(102, D(2024, 8, 15), D(2024, 10, 20), "b"),
        SchoolRange(7, D(2024, 9, 1), D(2024, 9, 30), "c"),
        SchoolRange(101, D(2024, 6, 1), D(2024, 6, 3), "d"),
    ]
    reference = number_batches(windows, 30)
    batches = number_batches([windows[i] for i in order], 30)
    assert batches == reference
    assert [u.number for u in batches] == list(range(1, len(batches) + 1))
    keys = [(u.school_code, u.start) for u in batches]
    assert keys == sorted(keys)


def test_number_units_empty_window_gives_no_units() -> None:
    assert number_batches([SchoolRange(1, D(2024, 9, 2), D(2024, 9, 1), "empty")], 30) == []


# -- build_plan: explicit ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "explicit_start, explicit_end, expected",
    [
        pytest.param(D(2024, 9, 1), D(2024, 9, 20), (D(2024, 9, 1), D(2024, 9, 20)), id="both-given"),
        pytest.param(D(2024, 9, 1), None, (D(2024, 9, 1), TODAY), id="start-only-ends-today"),
        pytest.param(None, D(2024, 9, 20), (YEAR_START, D(2024, 9, 20)), id="end-only-starts-at-year-start"),
    ],
)
def test_build_plan_explicit_range(explicit_start: date | None, explicit_end: date | None,
                                   expected: tuple[date, date]) -> None:
    plan = build_plan(
        [102, 101], {101: calendar((1,)), 102: calendar()}, {101: D(2024, 10, 1), 102: None},
        YEAR_START, YEAR_END, TODAY, batch_days=10, lookback_days=14,
        explicit_start=explicit_start, explicit_end=explicit_end,
    )
    assert plan.mode == EXPLICIT
    assert plan.school_codes == [101, 102]
    for sc in (101, 102):
        assert [(w.start, w.end) for w in plan.ranges_for(sc)] == [expected]
        assert [(u.start, u.end) for u in plan.batches_for(sc)] == date_batches(*expected, 10)
    assert [u.number for u in plan.batches] == list(range(1, len(plan.batches) + 1))
    assert plan.batches[0].school_code == 101


# -- build_plan: full first load ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "today, expected_end",
    [
        pytest.param(TODAY, TODAY, id="mid-year-stops-today"),
        pytest.param(D(2025, 7, 30), YEAR_END, id="after-year-stops-at-year-end"),
        pytest.param(YEAR_END, YEAR_END, id="on-year-end"),
    ],
)
def test_build_plan_full_first_load(today: date, expected_end: date) -> None:
    plan = build_plan([101, 102], {101: calendar(), 102: calendar()}, {}, YEAR_START, YEAR_END, today,
                      batch_days=30, lookback_days=14)
    assert plan.mode == FULL
    assert [(w.school_code, w.start, w.end) for w in plan.ranges] == [
        (101, YEAR_START, expected_end), (102, YEAR_START, expected_end),
    ]
    assert [(u.start, u.end) for u in plan.batches_for(102)] == date_batches(YEAR_START, expected_end, 30)


def test_build_plan_one_school_without_cursor_makes_it_full() -> None:
    plan = build_plan([101, 102], {101: calendar(), 102: calendar()}, {101: D(2024, 10, 15), 102: None},
                      YEAR_START, YEAR_END, TODAY, batch_days=30, lookback_days=14)
    assert plan.mode == FULL
    assert [(w.start, w.end) for w in plan.ranges_for(101)] == [(D(2024, 10, 1), TODAY)]
    assert [(w.start, w.end) for w in plan.ranges_for(102)] == [(YEAR_START, TODAY)]


def test_build_plan_no_schools() -> None:
    plan = build_plan([], {}, {}, YEAR_START, YEAR_END, TODAY, batch_days=30, lookback_days=14)
    assert plan.ranges == [] and plan.batches == []
    assert plan.mode == FULL


# -- delta windows -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "locked, cursor, lookback, expected_start, reason_part",
    [
        pytest.param((1,), D(2024, 10, 15), 14, D(2024, 9, 12), "first unlocked", id="earliest-unlocked-month"),
        pytest.param((1, 2), D(2024, 10, 15), 14, D(2024, 10, 10), "first unlocked", id="two-locked-months"),
        pytest.param((1, 2), D(2024, 9, 20), 14, D(2024, 9, 21), "first unlocked",
                     id="never-later-than-cursor-plus-one"),
        pytest.param((1, 2, 3, 4), D(2024, 10, 15), 14, D(2024, 10, 16), "every attendance month locked",
                     id="all-locked-days-after-cursor"),
        pytest.param((), D(2024, 10, 15), 14, D(2024, 10, 1), "cursor minus 14", id="no-locks-lookback"),
        pytest.param((), D(2024, 10, 15), 0, D(2024, 10, 15), "cursor minus 0", id="no-locks-zero-lookback"),
        pytest.param((), D(2024, 8, 20), 14, YEAR_START, "cursor minus 14", id="lookback-clipped-at-year-start"),
        pytest.param((2,), D(2024, 10, 15), 14, YEAR_START, "first unlocked", id="month1-open-month2-locked"),
    ],
)
def test_delta_start(locked: tuple[int, ...], cursor: date, lookback: int, expected_start: date,
                     reason_part: str) -> None:
    start, reason = delta_start(calendar(locked), cursor, lookback, YEAR_START)
    assert start == expected_start
    assert reason_part in reason
    assert start <= cursor + timedelta(days=1)
    assert start >= YEAR_START


@pytest.mark.parametrize(
    "locked, cursor, expected_start",
    [
        pytest.param((1,), D(2024, 10, 15), D(2024, 9, 12), id="locks"),
        pytest.param((), D(2024, 10, 15), D(2024, 10, 8), id="no-locks"),
        pytest.param((1, 2, 3, 4), D(2024, 10, 15), D(2024, 10, 16), id="all-locked"),
    ],
)
def test_build_plan_delta(locked: tuple[int, ...], cursor: date, expected_start: date) -> None:
    plan = build_plan([101], {101: calendar(locked)}, {101: cursor}, YEAR_START, YEAR_END, TODAY,
                      batch_days=7, lookback_days=7)
    assert plan.mode == DELTA
    assert [(w.start, w.end) for w in plan.ranges] == [(expected_start, TODAY)]
    assert [(u.start, u.end) for u in plan.batches] == date_batches(expected_start, TODAY, 7)


def test_build_plan_delta_per_school_calendars() -> None:
    plan = build_plan([101, 102], {101: calendar((1,)), 102: calendar()}, {101: D(2024, 10, 15), 102: D(2024, 10, 15)},
                      YEAR_START, YEAR_END, TODAY, batch_days=30, lookback_days=14)
    assert plan.mode == DELTA
    assert [(w.school_code, w.start) for w in plan.ranges] == [(101, D(2024, 9, 12)), (102, D(2024, 10, 1))]


# -- retry windows --------------------------------------------------------------------------------------------------
def test_build_plan_adds_uncovered_retry_windows_only() -> None:
    retries: dict[int, list[tuple[date, date]]] = {
        101: [(D(2024, 10, 1), D(2024, 10, 5)),  # covered by the delta window from Oct 1: not added
              (D(2024, 9, 1), D(2024, 9, 10)),  # before the window: added
              (D(2024, 9, 28), D(2024, 10, 3))],  # only partly covered: added
        999: [(D(2024, 9, 1), D(2024, 9, 10))],  # not a planned school: ignored
    }
    plan = build_plan([101], {101: calendar()}, {101: D(2024, 10, 15)}, YEAR_START, YEAR_END, TODAY,
                      batch_days=30, lookback_days=14, failed_batch_dates=retries)
    assert plan.school_codes == [101]
    assert sorted((w.start, w.end) for w in plan.ranges_for(101)) == [
        (D(2024, 9, 1), D(2024, 9, 10)), (D(2024, 9, 28), D(2024, 10, 3)), (D(2024, 10, 1), TODAY),
    ]
    retry_reasons = [w.reason for w in plan.ranges if w.start != D(2024, 10, 1)]
    assert all("retry" in r for r in retry_reasons)
    # Batches follow date order within the school, retries included.
    assert [(u.number, u.start, u.end) for u in plan.batches] == [
        (1, D(2024, 9, 1), D(2024, 9, 10)),
        (2, D(2024, 9, 28), D(2024, 10, 3)),
        (3, D(2024, 10, 1), D(2024, 10, 20)),
    ]


def test_build_plan_retry_with_explicit_range() -> None:
    retries = {101: [(D(2024, 9, 5), D(2024, 9, 6)), (D(2024, 8, 20), D(2024, 8, 21))]}
    plan = build_plan([101], {101: calendar()}, {}, YEAR_START, YEAR_END, TODAY, batch_days=30, lookback_days=14,
                      explicit_start=D(2024, 9, 1), explicit_end=D(2024, 9, 30), failed_batch_dates=retries)
    assert plan.mode == EXPLICIT
    assert [(u.start, u.end) for u in plan.batches] == [
        (D(2024, 8, 20), D(2024, 8, 21)), (D(2024, 9, 1), D(2024, 9, 30)),
    ]


def test_build_plan_retry_on_full_load_is_covered() -> None:
    plan = build_plan([101], {101: calendar()}, {}, YEAR_START, YEAR_END, TODAY, batch_days=30, lookback_days=14,
                      failed_batch_dates={101: [(D(2024, 9, 1), D(2024, 9, 10))]})
    assert [(w.start, w.end) for w in plan.ranges] == [(YEAR_START, TODAY)]
