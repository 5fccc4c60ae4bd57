"""Unit tests of the empty-text rule: blank text from Aeries becomes None in every row the source builds."""

from datetime import date
from typing import Any

import pytest

from aeries_source.calendar_index import CalendarIndex
from aeries_source.dates import parse_aeries_date
from aeries_source.reference import absence_code_row, calendar_day_row
from aeries_source.students import _enrollment_row, _student_row
from aeries_source.transform import (
    RejectedRecord,
    SchoolContext,
    attendance_day_row,
    blank_to_none,
    build_absence_codes,
    snake_record,
    text_column_hints,
)

STUDENT = 90000001  # synthetic id


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="spaces"),
        pytest.param("\t\n", None, id="other-whitespace"),
        pytest.param("A", "A", id="text"),
        pytest.param(" A ", " A ", id="text-with-spaces-kept-as-sent"),
        pytest.param(0, 0, id="zero"),
        pytest.param(False, False, id="false"),
        pytest.param(None, None, id="none"),
        pytest.param([], [], id="empty-list"),
    ],
)
def test_blank_to_none(value: Any, expected: Any) -> None:
    assert blank_to_none(value) == expected


def test_snake_record_turns_blank_text_into_none_and_reports_it() -> None:
    record = {"SchoolCode": 901, "Track": "", "ABDay": "  ", "Name": "Synth", "OldStudentID": 0,
              "TrackHolidays": [{"HolidayCode": ""}], "SchoolLeaveDate": None}
    blanked: set = set()
    row = snake_record(record, date_fields=("SchoolLeaveDate",), blanked=blanked)
    assert row == {"school_code": 901, "track": None, "ab_day": None, "name": "Synth", "old_student_id": 0,
                   "track_holidays": [{"HolidayCode": ""}], "school_leave_date": None}
    assert blanked == {"track", "ab_day"}  # not null fields, not numbers, not nested values


def test_snake_record_without_a_blanked_set_still_blanks() -> None:
    assert snake_record({"Track": ""}) == {"track": None}


def test_text_column_hints_declares_text() -> None:
    assert text_column_hints({"track", "ab_day"}) == {"ab_day": {"data_type": "text"},
                                                      "track": {"data_type": "text"}}


def test_blank_date_text_is_no_date() -> None:
    assert parse_aeries_date("") is None
    assert parse_aeries_date("  ") is None


# -- calendar days -----------------------------------------------------------------------------------
def cal(holiday: Any, pattern: str = "123") -> dict[str, Any]:
    return {"SchoolCode": 901, "CalendarDate": "2024-09-03T00:00:00", "HolidayCode": holiday,
            "AttendanceMonth": 2, "AttendanceMonthLocked": False, "PeriodBlockPattern": pattern, "ABDay": "",
            "TrackHolidays": []}


@pytest.mark.parametrize(
    "holiday, stored, instructional",
    [
        pytest.param("", None, True, id="normal-day"),
        pytest.param("  ", None, True, id="blank-is-a-normal-day"),
        pytest.param("%", "%", True, id="minimum-day"),
        pytest.param("#", "#", False, id="holiday"),
        pytest.param("@", "@", False, id="not-in-session"),
    ],
)
def test_calendar_day_row(holiday: str, stored: Any, instructional: bool) -> None:
    blanked: set = set()
    row = calendar_day_row(cal(holiday), blanked)
    assert row["holiday_code"] == stored
    assert row["is_instructional_day"] is instructional
    assert row["ab_day"] is None and "ab_day" in blanked
    assert row["calendar_date"] == date(2024, 9, 3)


def test_calendar_day_row_without_a_holiday_code_field_is_instructional() -> None:
    record = cal("")
    del record["HolidayCode"]
    assert calendar_day_row(record, set())["is_instructional_day"] is True


def test_absence_code_row_blanks_text_and_keeps_the_status() -> None:
    row = absence_code_row({"SchoolCode": 901, "AbsenceCode": "A", "TypeCode": 1, "ColorCode": "",
                            "IndependentStudyCode": " "}, set())
    assert row["color_code"] is None and row["independent_study_code"] is None
    assert row["status"] == "absent_unverified"


# -- students and enrollment ------------------------------------------------------------------------
def test_student_row_blanks_text() -> None:
    blanked: set = set()
    row = _student_row({"StudentID": STUDENT, "SchoolCode": 901, "Track": "", "LastName": "Testlast",
                        "InactiveStatusCode": " "}, ("StudentID", "SchoolCode", "Track", "LastName",
                                                      "InactiveStatusCode"), (), blanked)
    assert row["track"] is None and row["inactive_status_code"] is None and row["last_name"] == "Testlast"
    assert blanked == {"track", "inactive_status_code"}


def enrollment(**extra: Any) -> dict[str, Any]:
    return {"StudentID": STUDENT, "SchoolCode": 901, "AcademicYear": "2024", "EnterDate": "2024-08-15T00:00:00",
            "LeaveDate": None, "Track": "", "ExitReasonCode": "", **extra}


def test_enrollment_row_blanks_text() -> None:
    row = _enrollment_row(enrollment(), set())
    assert row["track"] is None and row["exit_reason_code"] is None and row["academic_year"] == "2024"


@pytest.mark.parametrize("year", ["", "  ", None])
def test_enrollment_row_without_an_academic_year_is_rejected(year: Any) -> None:
    # A key column cannot be NULL; before the rule '' loaded in DuckDB and failed in Postgres.
    with pytest.raises(RejectedRecord, match="AcademicYear"):
        _enrollment_row(enrollment(AcademicYear=year), set())


# -- attendance ------------------------------------------------------------------------------------
CODES = [{"SchoolCode": 901, "AbsenceCode": c, "TypeCode": t} for c, t in (("A", 1), ("T", 5))]


def period_ctx() -> SchoolContext:
    calendar = CalendarIndex([cal("", "123")])
    return SchoolContext(901, "Period", calendar, build_absence_codes(CODES), calendar.periods())


def day(all_day: Any = "", classes: Any = ()) -> dict[str, Any]:
    return {"CalendarDate": "2024-09-03T00:00:00", "AllDayAttendanceCode": all_day,
            "Classes": [{"SectionNumber": 1200, "Period": p, "AttendanceCode": c} for p, c in classes]}


@pytest.mark.parametrize("blank", ["", " ", "\t"])
def test_blank_all_day_code_is_no_code(blank: str) -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day(all_day=blank, classes=[("1", "T")]))
    assert row["all_day_code"] is None and row["all_day_status"] is None
    assert row["period_1_code"] == "T" and row["tardy_count"] == 1


@pytest.mark.parametrize("blank", ["", " "])
def test_blank_period_code_is_no_code(blank: str) -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day(classes=[("1", "A"), ("2", blank)]))
    assert row["period_1_code"] == "A"
    assert "period_2_code" not in row
    assert row["period_2_status"] == "present"  # the period met and carries no code
    assert row["is_full_day_absent"] is False


def test_blank_absence_codes_are_not_indexed() -> None:
    codes = build_absence_codes(CODES + [{"SchoolCode": 901, "AbsenceCode": " ", "TypeCode": 1}])
    assert sorted(codes) == ["A", "T"]
