"""Unit tests of `aeries_source.transform` on small, synthetic Aeries-shaped payloads."""

from datetime import date
from typing import Any

import pytest

from aeries_source.calendar_index import CalendarIndex
from aeries_source.settings import ALL_PERIODS, TOMBSTONE_STUDENT_ID
from aeries_source.transform import (
    TOMBSTONE_COLUMN,
    AbsenceCode,
    RejectedRecord,
    SchoolContext,
    attendance_day_row,
    build_absence_codes,
    snake_case,
    snake_record,
    tombstone_row,
)

D = date
STUDENT = 90000001  # synthetic id


# -- synthetic Aeries payloads -------------------------------------------------------------------
def cal_row(day: str, month: int, locked: bool, pattern: str, holiday: str = "") -> dict[str, Any]:
    return {
        "SchoolCode": 901, "CalendarDayNumber": 1, "CalendarDate": f"{day}T00:00:00", "HolidayCode": holiday,
        "AttendanceMonth": month, "AttendanceMonthLocked": locked, "TotalEnrollment": 0,
        "TotalApportionment": 0, "PeriodBlockPattern": pattern, "ABDay": "", "TrackHolidays": [],
    }


def code_row(code: str, type_code: Any) -> dict[str, Any]:
    return {
        "SchoolCode": 901, "AbsenceCode": code, "Title": f"CODE {code}", "Abbreviation": code,
        "TypeCode": type_code, "TypeDescription": "", "CountsForADA": True, "CountOnReportCard": True,
        "IncludeOnLetters": False, "IncludeInParentNotifications": False, "IncludeOnReports": True,
        "IsSuspension": False, "IsPartialDayTruant": code == "L", "IsTemporarilyNotEnrolled": False,
        "IndependentStudyCode": "", "ColorCode": "",
    }


ABSENCE_CODE_ROWS = [
    code_row("A", 1),  # unverified absence
    code_row("I", 2),  # excused absence
    code_row("U", 3),  # unexcused absence
    code_row("V", 4),  # verified not absent
    code_row("T", 5),  # tardy
    code_row("P", 6),  # present
    code_row("X", 7),  # unused type: must be unknown
    code_row("E", 8),  # verified excused tardy
    code_row("L", 9),  # verified unexcused tardy
    code_row("S", "5"),  # TypeCode not an int: skipped
    code_row("N", None),  # no TypeCode: skipped
    code_row("", 1),  # no code: skipped
]

# Period school: month 1 (August) locked, month 2 (September) open; Sept 5 is a block day.
PERIOD_CALENDAR = [
    cal_row("2024-08-15", 1, True, "1234567"),
    cal_row("2024-08-16", 1, True, "1234567"),
    cal_row("2024-09-03", 2, False, "1234567"),
    cal_row("2024-09-04", 2, False, "0123456"),
    cal_row("2024-09-05", 2, False, "135"),
    cal_row("2024-09-27", 2, False, "", holiday="#"),
]
DAILY_CALENDAR = [
    cal_row("2024-08-15", 1, True, ""),
    cal_row("2024-09-03", 2, False, ""),
    cal_row("2024-09-30", 2, False, ""),
]


def period_ctx() -> SchoolContext:
    calendar = CalendarIndex(PERIOD_CALENDAR)
    return SchoolContext(901, "Period", calendar, build_absence_codes(ABSENCE_CODE_ROWS), calendar.periods())


def daily_ctx() -> SchoolContext:
    calendar = CalendarIndex(DAILY_CALENDAR)
    return SchoolContext(902, "Daily", calendar, build_absence_codes(ABSENCE_CODE_ROWS), calendar.periods())


def day(
    calendar_date: Any = "2024-09-03T00:00:00", all_day: Any = "", classes: Any = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"CalendarDate": calendar_date, "AllDayAttendanceCode": all_day,
                            "Classes": [] if classes is None else classes}
    body.update(extra)
    return body


def cls(period: Any, code: Any, section: Any = 1200) -> dict[str, Any]:
    return {"SectionNumber": section, "Period": period, "AttendanceCode": code}


def period_statuses(row: dict[str, Any]) -> dict[str, str | None]:
    return {p: row[f"period_{p}_status"] for p in ALL_PERIODS if f"period_{p}_status" in row}


# -- snake_case --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("StudentID", "student_id", id="StudentID"),
        pytest.param("OldStudentID", "old_student_id", id="OldStudentID"),
        pytest.param("StateStudentID", "state_student_id", id="StateStudentID"),
        pytest.param("SchoolCode", "school_code", id="SchoolCode"),
        pytest.param("CalendarDate", "calendar_date", id="CalendarDate"),
        pytest.param("AllDayAttendanceCode", "all_day_attendance_code", id="AllDayAttendanceCode"),
        pytest.param("MailingAddressZipExt", "mailing_address_zip_ext", id="MailingAddressZipExt"),
        pytest.param("AttendanceMonthLocked", "attendance_month_locked", id="AttendanceMonthLocked"),
        pytest.param("PeriodBlockPattern", "period_block_pattern", id="PeriodBlockPattern"),
        pytest.param("ABDay", "ab_day", id="ABDay-acronym-prefix"),
        pytest.param("CountsForADA", "counts_for_ada", id="CountsForADA-acronym-suffix"),
        pytest.param("RaceCode1", "race_code1", id="RaceCode1-digit"),
        pytest.param("UserCode13", "user_code13", id="UserCode13"),
        pytest.param("GradeLevelShortDescription", "grade_level_short_description", id="long-name"),
        pytest.param("HomeRoomTeacherNumber", "home_room_teacher_number", id="HomeRoomTeacherNumber"),
        pytest.param("Grade", "grade", id="single-word"),
        pytest.param("student_id", "student_id", id="already-snake"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


# -- build_absence_codes -------------------------------------------------------------------------------
def test_build_absence_codes_indexes_known_types_only() -> None:
    codes = build_absence_codes(ABSENCE_CODE_ROWS)
    assert set(codes) == {"A", "I", "U", "V", "T", "P", "E", "L"}
    assert codes["A"] == AbsenceCode("A", 1, "absent_unverified")
    assert codes["T"] == AbsenceCode("T", 5, "tardy")
    assert codes["V"].status == "present"
    assert codes["L"].status == "tardy_unexcused"


# -- daily school ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "all_day, status, full_day_absent, tardies",
    [
        pytest.param("A", "absent_unverified", True, 0, id="unverified-absence"),
        pytest.param("I", "absent_excused", True, 0, id="excused-absence"),
        pytest.param("U", "absent_unexcused", True, 0, id="unexcused-absence"),
        pytest.param("T", "tardy", False, 1, id="tardy"),
        pytest.param("E", "tardy_excused", False, 1, id="excused-tardy"),
        pytest.param("L", "tardy_unexcused", False, 1, id="unexcused-tardy"),
        pytest.param("V", "present", False, 0, id="verified-not-absent"),
        pytest.param("P", "present", False, 0, id="present-code"),
    ],
)
def test_daily_school_all_day_code(all_day: str, status: str, full_day_absent: bool, tardies: int) -> None:
    row = attendance_day_row(daily_ctx(), STUDENT, day("2024-09-03T00:00:00", all_day, []))
    assert row["school_code"] == 902
    assert row["student_id"] == STUDENT
    assert row["attendance_date"] == D(2024, 9, 3)
    assert row["all_day_code"] == all_day
    assert row["all_day_status"] == status
    assert row["is_full_day_absent"] is full_day_absent
    assert row["is_present"] is (not full_day_absent)
    assert row["tardy_count"] == tardies
    assert period_statuses(row) == {}
    assert row[TOMBSTONE_COLUMN] is False


@pytest.mark.parametrize(
    "classes",
    [pytest.param([], id="empty-list"), pytest.param(None, id="null"), pytest.param("absent", id="key-absent")],
)
def test_daily_school_tolerates_missing_classes(classes: Any) -> None:
    body = {"CalendarDate": "2024-09-03T00:00:00", "AllDayAttendanceCode": "A"}
    if classes != "absent":
        body["Classes"] = classes
    row = attendance_day_row(daily_ctx(), STUDENT, body)
    assert row["all_day_status"] == "absent_unverified"
    assert row["is_full_day_absent"] is True


# -- period school ------------------------------------------------------------------------------------------
def test_period_school_uncoded_periods_are_present() -> None:
    ctx = period_ctx()
    assert ctx.periods == ["0", "1", "2", "3", "4", "5", "6", "7"]
    row = attendance_day_row(ctx, STUDENT, day("2024-09-03T00:00:00", "", [cls("1", "T", 1204)]))
    statuses = period_statuses(row)
    # Only the periods that met that day (PeriodBlockPattern "1234567") get a status; period 0
    # exists at the school but did not meet on 2024-09-03, so it has none.
    assert statuses == {
        "1": "tardy", "2": "present", "3": "present", "4": "present",
        "5": "present", "6": "present", "7": "present",
    }
    assert "period_0_status" not in row
    assert "period_8_status" not in row and "period_9_status" not in row
    assert row["period_1_code"] == "T"
    assert row["period_1_section"] == 1204
    # Periods without a code carry a status only, no raw code or section.
    assert "period_2_code" not in row and "period_2_section" not in row
    assert row["all_day_code"] is None and row["all_day_status"] is None
    assert row["is_full_day_absent"] is False and row["is_present"] is True
    assert row["tardy_count"] == 1


def test_period_cut_is_not_a_full_day_absence() -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day("2024-09-03T00:00:00", "", [cls("3", "U", 3301)]))
    assert row["period_3_status"] == "absent_unexcused"
    assert row["period_3_code"] == "U"
    assert row["period_3_section"] == 3301
    assert [p for p, s in period_statuses(row).items() if s != "present"] == ["3"]
    assert row["is_full_day_absent"] is False
    assert row["is_present"] is True
    assert row["tardy_count"] == 0


@pytest.mark.parametrize(
    "calendar_date, classes, expected",
    [
        pytest.param("2024-09-03T00:00:00", [cls(p, "A", 1000 + int(p)) for p in "1234567"], True,
                     id="all-seven-meeting-periods-absent"),
        pytest.param("2024-09-03T00:00:00",
                     [cls(p, c, 1000 + int(p)) for p, c in zip("1234567", "AIUAIUA", strict=True)], True,
                     id="mixed-absence-types"),
        pytest.param("2024-09-05T00:00:00", [cls(p, "A") for p in "135"], True,
                     id="block-day-only-meeting-periods-count"),
        pytest.param("2024-09-03T00:00:00", [cls(p, "A") for p in "123456"], False,
                     id="one-meeting-period-without-code"),
        pytest.param("2024-09-03T00:00:00", [cls(p, "A") for p in "123456"] + [cls("7", "T")], False,
                     id="one-meeting-period-tardy"),
        pytest.param("2024-09-03T00:00:00", [cls(p, "A") for p in "123456"] + [cls("7", "V")], False,
                     id="one-meeting-period-verified-not-absent"),
        pytest.param("2024-09-04T00:00:00", [cls(p, "A") for p in "123456"], False,
                     id="zero-period-met-and-was-not-absent"),
    ],
)
def test_period_school_full_day_absence_from_periods(calendar_date: str, classes: list[dict[str, Any]],
                                                      expected: bool) -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day(calendar_date, "", classes))
    assert row["all_day_code"] is None
    assert row["is_full_day_absent"] is expected
    assert row["is_present"] is (not expected)
    for item in classes:
        assert row[f"period_{item['Period']}_code"] == item["AttendanceCode"]
        assert row[f"period_{item['Period']}_section"] == item["SectionNumber"]


@pytest.mark.parametrize(
    "all_day, period_code, status, full_day_absent",
    [
        pytest.param("I", "I", "absent_excused", True, id="all-day-excused"),
        pytest.param("A", "A", "absent_unverified", True, id="all-day-unverified"),
        pytest.param("V", "A", "present", False, id="all-day-verified-not-absent-wins"),
    ],
)
def test_period_school_all_day_code_decides(all_day: str, period_code: str, status: str,
                                            full_day_absent: bool) -> None:
    classes = [cls(p, period_code, 2000 + int(p)) for p in "1234567"]
    row = attendance_day_row(period_ctx(), STUDENT, day("2024-09-03T00:00:00", all_day, classes))
    assert row["all_day_code"] == all_day
    assert row["all_day_status"] == status
    assert row["is_full_day_absent"] is full_day_absent
    assert row["period_7_code"] == period_code and row["period_7_section"] == 2007


@pytest.mark.parametrize(
    "classes, all_day, expected",
    [
        pytest.param([cls("1", "T"), cls("2", "E"), cls("3", "L"), cls("4", "A")], "", 3, id="three-tardy-types"),
        pytest.param([cls("1", "A"), cls("2", "I")], "", 0, id="absences-are-not-tardies"),
        pytest.param([cls("1", "T")], "T", 1, id="all-day-tardy-not-double-counted"),
        pytest.param([], "T", 1, id="all-day-tardy-without-periods"),
        pytest.param([], "", 0, id="nothing-recorded"),
    ],
)
def test_tardy_count(classes: list[dict[str, Any]], all_day: str, expected: int) -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day("2024-09-03T00:00:00", all_day, classes))
    assert row["tardy_count"] == expected


def test_class_with_blank_code_counts_as_no_code() -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day("2024-09-03T00:00:00", "", [cls("2", ""), cls("3", "A")]))
    assert row["period_2_status"] == "present"
    assert "period_2_code" not in row
    assert row["period_3_status"] == "absent_unverified"


def test_missing_section_number_is_kept_as_none() -> None:
    row = attendance_day_row(period_ctx(), STUDENT, day("2024-09-03T00:00:00", "",
                                                        [{"Period": "4", "AttendanceCode": "T"}]))
    assert row["period_4_code"] == "T"
    assert row["period_4_section"] is None


# -- corrections ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ctx_factory, calendar_date, can_correct, deadline",
    [
        pytest.param(period_ctx, "2024-08-15T00:00:00", False, D(2024, 8, 16), id="period-locked-month"),
        pytest.param(period_ctx, "2024-09-04T00:00:00", True, D(2024, 9, 27), id="period-open-month-deadline"),
        pytest.param(daily_ctx, "2024-08-15T00:00:00", False, D(2024, 8, 15), id="daily-locked-month"),
        pytest.param(daily_ctx, "2024-09-03T00:00:00", True, D(2024, 9, 30), id="daily-open-month-deadline"),
        pytest.param(daily_ctx, "2024-09-07T00:00:00", True, None, id="date-not-in-calendar"),
    ],
)
def test_correction_fields_from_calendar(ctx_factory: Any, calendar_date: str, can_correct: bool,
                                         deadline: date | None) -> None:
    row = attendance_day_row(ctx_factory(), STUDENT, day(calendar_date, "A", []))
    assert row["can_be_corrected"] is can_correct
    assert row["correction_deadline"] == deadline


# -- rejects ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "student_id, body, reason",
    [
        pytest.param(STUDENT, day(all_day="Z"), "unknown absence code", id="unknown-all-day-code"),
        pytest.param(STUDENT, day(classes=[cls("1", "Z")]), "unknown absence code", id="unknown-period-code"),
        pytest.param(STUDENT, day(all_day="X"), "unknown absence code", id="type-7-code-is-unknown"),
        pytest.param(STUDENT, day(all_day="S"), "unknown absence code", id="code-with-text-typecode-is-unknown"),
        pytest.param(STUDENT, day(classes=[cls("10", "A")]), "outside 0-9", id="period-10"),
        pytest.param(STUDENT, day(classes=[cls("-1", "A")]), "outside 0-9", id="period-minus-1"),
        pytest.param(STUDENT, day(classes=[cls("A", "A")]), "outside 0-9", id="flex-period-letter"),
        pytest.param(STUDENT, day(classes=[cls("", "A")]), "outside 0-9", id="period-blank"),
        pytest.param(STUDENT, day(classes=[{"SectionNumber": 1, "AttendanceCode": "A"}]), "outside 0-9",
                     id="period-missing"),
        pytest.param(STUDENT, day(classes=[cls("1", None)]), "AttendanceCode", id="class-code-null"),
        pytest.param(STUDENT, day(classes=[cls("1", "A", "1204")]), "SectionNumber", id="section-as-text"),
        pytest.param(STUDENT, day(classes=["1:A"]), "not an object", id="class-entry-not-object"),
        pytest.param(STUDENT, day(classes="1:A,2:A"), "not a list", id="classes-is-text"),
        pytest.param(STUDENT, day(classes={"Period": "1", "AttendanceCode": "A"}), "not a list",
                     id="classes-is-object"),
        pytest.param(STUDENT, {"AllDayAttendanceCode": "A", "Classes": []}, "CalendarDate is missing",
                     id="calendar-date-key-missing"),
        pytest.param(STUDENT, day(calendar_date=None, all_day="A"), "CalendarDate is missing",
                     id="calendar-date-null"),
        pytest.param(STUDENT, day(calendar_date="0001-01-01T00:00:00", all_day="A"), "CalendarDate is missing",
                     id="calendar-date-placeholder"),
        pytest.param(STUDENT, day(calendar_date="not a date", all_day="A"), "CalendarDate is not a date",
                     id="calendar-date-garbage"),
        pytest.param(STUDENT, day(calendar_date="2024-13-45T00:00:00", all_day="A"), "CalendarDate is not a date",
                     id="calendar-date-impossible"),
        pytest.param(STUDENT, day(calendar_date=20240903, all_day="A"), "CalendarDate is not a date",
                     id="calendar-date-number"),
        pytest.param(None, day(all_day="A"), "StudentID", id="student-id-missing"),
        pytest.param("90000001", day(all_day="A"), "StudentID", id="student-id-text"),
        pytest.param(90000001.0, day(all_day="A"), "StudentID", id="student-id-float"),
        pytest.param(True, day(all_day="A"), "StudentID", id="student-id-bool"),
        pytest.param(0, day(all_day="A"), "StudentID", id="student-id-zero"),
        pytest.param(-5, day(all_day="A"), "StudentID", id="student-id-negative"),
        pytest.param(STUDENT, day(all_day=5), "AllDayAttendanceCode", id="all-day-code-not-text"),
    ],
)
def test_rejected_records(student_id: Any, body: dict[str, Any], reason: str) -> None:
    with pytest.raises(RejectedRecord, match=reason):
        attendance_day_row(period_ctx(), student_id, body)


def test_rejected_record_is_a_value_error() -> None:
    assert issubclass(RejectedRecord, ValueError)


# -- tombstones --------------------------------------------------------------------------------------------------
def test_tombstone_row() -> None:
    row = tombstone_row(901, D(2024, 9, 3))
    assert row == {
        "school_code": 901,
        "student_id": TOMBSTONE_STUDENT_ID,
        "attendance_date": D(2024, 9, 3),
        TOMBSTONE_COLUMN: True,
    }
    assert TOMBSTONE_STUDENT_ID == 0  # never a real (positive) Aeries id


def test_real_rows_are_not_tombstones() -> None:
    row = attendance_day_row(daily_ctx(), STUDENT, day(all_day="A"))
    assert row[TOMBSTONE_COLUMN] is False
    assert row["student_id"] != TOMBSTONE_STUDENT_ID


# -- snake_record -------------------------------------------------------------------------------------------------
STUDENT_RECORD = {
    "StudentID": 90000001, "SchoolCode": 901, "StudentNumber": 42, "LastName": "Testlast", "FirstName": "Testfirst",
    "Grade": 10, "Birthdate": "2009-03-02T00:00:00", "SchoolEnterDate": "2024-08-15T00:00:00",
    "SchoolLeaveDate": None, "DistrictEnterDate": "0001-01-01T00:00:00", "HomePhone": "5550000000",
    "InactiveStatusCode": "",
}


@pytest.mark.parametrize(
    "fields, date_fields, drop, expected",
    [
        pytest.param(
            ("StudentID", "SchoolCode", "SchoolEnterDate", "SchoolLeaveDate", "DistrictEnterDate"),
            ("SchoolEnterDate", "SchoolLeaveDate", "DistrictEnterDate", "Birthdate"),
            (),
            {"student_id": 90000001, "school_code": 901, "school_enter_date": D(2024, 8, 15),
             "school_leave_date": None, "district_enter_date": None},
            id="allow-list-with-dates-null-and-placeholder",
        ),
        pytest.param(
            ("StudentID", "Grade", "NotSentByAeries"), (), (),
            {"student_id": 90000001, "grade": 10},
            id="allow-list-ignores-absent-fields",
        ),
        pytest.param(
            None, ("Birthdate",), ("HomePhone", "LastName", "FirstName"),
            {"student_id": 90000001, "school_code": 901, "student_number": 42, "grade": 10,
             "birthdate": D(2009, 3, 2), "school_enter_date": "2024-08-15T00:00:00", "school_leave_date": None,
             "district_enter_date": "0001-01-01T00:00:00", "inactive_status_code": None},  # blank text is NULL
            id="no-allow-list-keeps-all-but-dropped",
        ),
        pytest.param(("StudentID",), ("Birthdate",), ("StudentID",), {}, id="drop-beats-allow-list"),
    ],
)
def test_snake_record(fields: Any, date_fields: Any, drop: Any, expected: dict[str, Any]) -> None:
    assert snake_record(STUDENT_RECORD, fields=fields, date_fields=date_fields, drop=drop) == expected


def test_snake_record_date_is_a_date_not_datetime() -> None:
    row = snake_record(STUDENT_RECORD, fields=("SchoolEnterDate",), date_fields=("SchoolEnterDate",))
    assert type(row["school_enter_date"]) is date


@pytest.mark.parametrize(
    "value",
    [pytest.param("yesterday", id="text"), pytest.param(20240815, id="number"),
     pytest.param("2024-02-30T00:00:00", id="impossible-day")],
)
def test_snake_record_rejects_bad_date(value: Any) -> None:
    with pytest.raises(RejectedRecord, match="SchoolEnterDate"):
        snake_record({"StudentID": 1, "SchoolEnterDate": value}, date_fields=("SchoolEnterDate",))


def test_day_facts_keep_only_recent_dates() -> None:
    """A school's context lives through its whole reading: it keeps the facts of recent dates, not of the year."""
    calendar = CalendarIndex([cal_row(f"2024-{m:02d}-{d:02d}", m - 7, False, "") for m in (8, 9, 10, 11, 12)
                              for d in range(1, 29)])
    ctx = SchoolContext(902, "Daily", calendar, build_absence_codes(ABSENCE_CODE_ROWS), calendar.periods())
    texts = [f"2024-{m:02d}-{d:02d}T00:00:00" for m in (8, 9, 10, 11, 12) for d in range(1, 29)]
    first = [ctx.day_facts(t) for t in texts]
    assert len(ctx._facts) <= 64  # the context's bound (transform._RECENT_DAYS)
    again = [ctx.day_facts(t) for t in texts]
    assert again == first  # recomputed facts are the same facts
    assert ctx.day_facts(texts[-1]) is ctx.day_facts(texts[-1])  # a recent date is looked up once
