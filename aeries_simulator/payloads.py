"""JSON shapes of Aeries objects, built from the district model (shared by routes and truth)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .attendance import DayRecord
from .codes import ABSENCE_CODES, TYPE_DESCRIPTIONS
from .district import District, School, StudentRecord

AEIRES_VERSION = "10.24.5.1-synthetic"


@lru_cache(maxsize=4096)
def api_date(day: date | None) -> str | None:
    """Format a date as Aeries does: naive midnight datetime, or None."""
    return None if day is None else f"{day.isoformat()}T00:00:00"


@lru_cache(maxsize=4096)
def ordinal_date(ordinal: int) -> str:
    """Format a day ordinal as an Aeries datetime string."""
    return f"{date.fromordinal(ordinal).isoformat()}T00:00:00"


def year_label(school_year: int) -> str:
    """Return "2024-2025" for 2024."""
    return f"{school_year}-{school_year + 1}"


def system_info(now: datetime, utc_offset: str, school_year: int, available: list[int]) -> dict[str, Any]:
    """Return the systeminfo object."""
    return {
        "AeriesVersion": AEIRES_VERSION,
        "DatabaseYear": year_label(school_year),
        "AvailableDatabaseYears": [year_label(y) for y in available],
        "LocalTimeZoneName": "(UTC-08:00) Pacific Time (US & Canada)",
        "CurrentDateTime": f"{now.strftime('%Y-%m-%dT%H:%M:%S')}.{now.microsecond:06d}0{utc_offset}",
    }


def terms(district: District) -> list[dict[str, Any]]:
    """Return the Fall and Spring terms, split at winter break."""
    cal = district.calendar
    jan = date(cal.first_day.year + 1, 1, 1)
    fall_end = max((d for d in cal.school_days if d < jan), default=cal.first_day)
    spring_start = min((d for d in cal.school_days if d >= jan), default=cal.last_day)
    return [
        {"TermCode": "F", "TermDescription": "Fall", "StartDate": api_date(cal.first_day),
         "EndDate": api_date(fall_end), "FirstHalfEndDate": None, "SecondHalfStartDate": None, "TrackTerms": []},
        {"TermCode": "S", "TermDescription": "Spring", "StartDate": api_date(spring_start),
         "EndDate": api_date(cal.last_day), "FirstHalfEndDate": None, "SecondHalfStartDate": None,
         "TrackTerms": []},
    ]


def school(s: School, district: District) -> dict[str, Any]:
    """Return a School Information object (synthetic addresses and names)."""
    return {
        "SchoolCode": s.code,
        "Name": s.name,
        "ShortName": s.short_name,
        "InactiveStatusCode": s.inactive_status,
        "Address": f"{s.code} Synthetic Ln",
        "AddressCity": "Synthville",
        "AddressState": "CA",
        "AddressZipCode": "90000",
        "AddressZipExt": "",
        "PhoneNumber": f"555555{s.code:04d}",
        "DoNotReport": s.do_not_report,
        "StateCountyID": "99",
        "StateDistrictID": "99999",
        "StateSchoolID": f"{9900000 + s.code:07d}",
        "LowGradeLevel": s.low_grade,
        "HighGradeLevel": s.high_grade,
        "PrincipalName": f"Synth-Principal {s.code}",
        "PrincipalEmailAddress": f"principal{s.code}@example.invalid",
        "AttendancePeriod": int(s.periods[0]) if s.periods else 0,
        "Tracks": 0,
        "ScheduleType": "MasterSchedule" if s.attendance_type == "Period" else "Elementary",
        "SessionType": "Regular",
        "AttendanceType": s.attendance_type,
        "AttendanceReporting": "Negative",
        "ScheduleBasis": "Semester",
        "Terms": terms(district),
        "RegionCode": "", "StateCharterNumber": "", "CharterStatusCode": "", "FederalTaxID": "",
        "FederalInformationProcessingStandardsCode": "",
        "QualityRatingAndImprovementSystemParticipationCode": "", "AccreditationStatusCode": "",
        "SchoolWebsite": "", "OrganizationCategoryCode": "", "SchoolCategoryCode": "",
        "LocalEducationAgencyTypeCode": "", "TitleIPartACode": "", "NSLPStatusCode": "", "NCESSchoolID": "",
        "CollegeBoardSchoolCode": "", "CampusEnrollmentTypeCode": "", "PreKSchoolTypeCode": "",
        "EarlyCollegeHighSchoolIndicator": False,
        "ScienceTechnologyEngineeringAndMathematicsIndicator": False,
        "PathwaysInTechnologyIndicator": False,
    }


def period_block_pattern(s: School, instructional: bool) -> str:
    """Return a calendar day's PeriodBlockPattern: every period of the school on days that are taught."""
    return "".join(s.periods) if instructional else ""


def calendar(s: School, district: District, locked: set[int]) -> list[dict[str, Any]]:
    """Return a school's calendar rows; ``locked`` holds the locked attendance months."""
    if not s.is_real:
        return []
    return [
        {"SchoolCode": s.code, "CalendarDayNumber": row.day_number, "CalendarDate": api_date(row.day),
         "HolidayCode": row.holiday_code, "AttendanceMonth": row.attendance_month,
         "AttendanceMonthLocked": row.attendance_month in locked, "TotalEnrollment": 0,
         "TotalApportionment": 0, "PeriodBlockPattern": period_block_pattern(s, row.instructional),
         "ABDay": "", "TrackHolidays": []}
        for row in district.calendar.rows
    ]


def absence_codes(s: School) -> list[dict[str, Any]]:
    """Return a school's absence-code table."""
    if not s.is_real:
        return []
    return [
        {"SchoolCode": s.code, "AbsenceCode": c.code, "Title": c.title, "Abbreviation": c.abbreviation,
         "TypeCode": c.type_code, "TypeDescription": TYPE_DESCRIPTIONS[c.type_code],
         "CountsForADA": c.counts_for_ada, "CountOnReportCard": c.type_code in (1, 2, 3, 5),
         "IncludeOnLetters": c.type_code in (1, 3, 9), "IncludeInParentNotifications": c.type_code in (1, 3, 5, 9),
         "IncludeOnReports": c.type_code != 6, "IsSuspension": c.is_suspension,
         "IsPartialDayTruant": c.is_partial_day_truant, "IsTemporarilyNotEnrolled": False,
         "IndependentStudyCode": c.independent_study_code, "ColorCode": c.color_code}
        for c in ABSENCE_CODES
    ]


def _grade_text(grade: int) -> tuple[str, str]:
    if grade == 0:
        return "K", "Kindergarten"
    return str(grade), f"Grade {grade}"


def student(r: StudentRecord) -> dict[str, Any]:
    """Return a Student Information object (every field of aeries-api.md §4.1, all synthetic)."""
    short, long_ = _grade_text(r.grade)
    next_short, next_long = _grade_text(r.grade + 1)
    family = f"Testfamily {r.family_key % 10_000:04d}"
    street = f"{100 + r.family_key % 900} Synthetic Ln"
    phone = f"555{r.family_key % 10_000_000:07d}"
    low = int(r.periods[0]) if r.periods else 0
    high = int(r.periods[-1]) if r.periods else 0
    return {
        "StudentID": r.student_id, "OldStudentID": 0, "SchoolCode": r.school_code,
        "StudentNumber": r.student_number, "StateStudentID": f"99{r.student_id:08d}",
        "LastName": family, "FirstName": f"Synth-Student {r.student_number:04d}", "MiddleName": "",
        "LastNameAlias": "", "FirstNameAlias": "", "MiddleNameAlias": "", "Gender": r.gender,
        "Grade": r.grade, "GradeLevelShortDescription": short, "GradeLevelLongDescription": long_,
        "Birthdate": api_date(r.birthdate), "ParentGuardianName": f"Synth-Parent {family}",
        "HomePhone": phone, "StudentMobilePhone": "",
        "MailingAddress": street, "MailingAddressCity": "Synthville", "MailingAddressState": "CA",
        "MailingAddressZipCode": "90000", "MailingAddressZipExt": "",
        "ResidenceAddress": street, "ResidenceAddressCity": "Synthville", "ResidenceAddressState": "CA",
        "ResidenceAddressZipCode": "90000", "ResidenceAddressZipExt": "", "AddressVerified": True,
        "EthnicityCode": "N", "RaceCode1": "", "RaceCode2": "", "RaceCode3": "", "RaceCode4": "", "RaceCode5": "",
        **{f"UserCode{i}": "" for i in range(1, 14)},
        "SchoolEnterDate": api_date(r.enter_date), "DistrictEnterDate": api_date(r.district_enter_date),
        "SchoolLeaveDate": api_date(r.leave_date), "Track": "", "LockerNumber": "",
        "AttendanceProgramCodePrimary": "", "AttendanceProgramCodeAdditional1": "",
        "AttendanceProgramCodeAdditional2": "", "LowSchedulingPeriod": low, "HighSchedulingPeriod": high,
        "InactiveStatusCode": r.inactive_status, "FamilyKey": r.family_key,
        "LanguageFluencyCode": "E", "HomeLanguageCode": "00", "CorrespondenceLanguageCode": "00",
        "ParentEdLevelCode": "", "NotificationPreferenceCode": "", "RecordsReleaseCode": "",
        "ParentEmailAddress": "", "StudentEmailAddress": f"s{r.student_id}@students.example.invalid",
        "StudentPersonalEmailAddress": "", "NetworkLoginID": f"s{r.student_id}", "CounselorNumber": 0,
        "HomeRoomTeacherNumber": "0", "EarlyWarningPoints": 0.0, "NextSchoolCode": 0,
        "NextGrade": r.grade + 1, "NextGradeLevelShortDescription": next_short,
        "NextGradeLevelLongDescription": next_long,
    }


def enrollment(r: StudentRecord, school_year: int) -> dict[str, Any]:
    """Return an enrollment-history row for a student record."""
    return {
        "StudentID": r.student_id, "SchoolCode": r.school_code, "StudentNumber": r.student_number,
        "AcademicYear": str(school_year), "Grade": r.grade, "Track": "",
        "EnterDate": api_date(r.enter_date), "LeaveDate": api_date(r.leave_date),
        "ExitReasonCode": r.exit_reason, "AttendanceProgramCode": "", "AttendanceProgramCodeAdditional1": "",
        "AttendanceProgramCodeAdditional2": "", "ElementaryTeacherNumber": 0, "ElementaryTeacherName": "",
        "NextSchoolCode": 0, "ReportingSchoolCode": 0, "InterIntraDistrictTransferCode": "",
        "InterIntraDistrictStateCode": "", "NonpublicSchoolStateCode": "",
    }


def attendance_days(days: list[tuple[int, DayRecord]], classes_key: bool = True) -> list[dict[str, Any]]:
    """Return AttendanceDays objects; ``classes_key`` False omits an empty Classes entirely."""
    out = []
    for ordinal, (all_day, classes) in days:
        item: dict[str, Any] = {"CalendarDate": ordinal_date(ordinal), "AllDayAttendanceCode": all_day}
        if classes or classes_key:
            item["Classes"] = [{"SectionNumber": sec, "Period": p, "AttendanceCode": code}
                               for p, sec, code in classes]
        out.append(item)
    return out


# The integer counters of an Attendance History Summary, in the order Aeries documents them.
HISTORY_COUNTERS: tuple[str, ...] = (
    "DaysEnrolled", "DaysPresent", "DaysAbsence", "DaysExcused", "DaysUnexcused", "DaysTardy", "DaysOfTruancy",
    "DaysSuspension", "DaysInSchoolSuspension", "DaysCompleteIndependentStudy", "DaysIncompleteIndependentStudy",
    "PeriodsExpectedToAttend", "PeriodsAttended", "PeriodsOutOfSchoolSuspension",
    "PeriodsAttendedInSchoolSuspension", "PeriodsExcusedAbsence", "PeriodsUnexcusedAbsence",
    "PeriodsCompleteIndependentStudy", "PeriodsIncompleteIndependentStudy",
)


def history_summary(school_year: int, school_code: int, counts: Mapping[str, int]) -> dict[str, Any]:
    """Return one HistorySummaries entry (one school in one year); counters missing from ``counts`` are 0."""
    return {"SchoolYear": year_label(school_year), "SchoolCode": school_code, "ReportingSchoolCode": 0,
            "AttendanceProgramCodePrimary": "",  # the simulator's student records carry no program code
            **{name: counts.get(name, 0) for name in HISTORY_COUNTERS}}
