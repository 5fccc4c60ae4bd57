"""Endpoint paths and defaults for the Aeries v5 source."""

from datetime import date

API_PREFIX = "api/v5"

SYSTEMINFO_PATH = "systeminfo"
SCHOOLS_PATH = "schools"
CALENDAR_PATH = "schools/{school_code}/calendar"
ABSENCE_CODES_PATH = "schools/{school_code}/AbsenceCodes"
STUDENTS_PATH = "schools/{school_code}/students"
STUDENT_PATH = "schools/{school_code}/students/{student_id}"
ENROLLMENT_PATH = "schools/{school_code}/enrollment/0/year/{year}"
STUDENT_ENROLLMENT_PATH = "schools/{school_code}/enrollment/{student_id}/year/{year}"
ATTENDANCE_PATH = "schools/{school_code}/attendance/"
ATTENDANCE_HISTORY_SUMMARY_PATH = "schools/{school_code}/AttendanceHistory/summary/year/{school_year}"
DATA_CHANGES_PATH = "StudentDataChanges/{area}/{y}/{m}/{d}/{h}/{minute}"

# Defaults of the original design (school year 2024-2025).
DEFAULT_START_DATE = date(2024, 8, 15)
DEFAULT_END_DATE = date(2025, 6, 12)
DEFAULT_DATABASE_YEAR = 2024
DEFAULT_BATCH_DAYS = 30
# Each batch's attendance is handed to dlt as its own item. Gathering a school's batches (2,500 rows
# before) held up to that many rows in every school's resource at once, so the peak grew with the
# schools: 247 MiB for 80 schools of 500 against 203 MiB ungathered, and 199 against 221 MiB for 80
# of 100, with no time saved (dlt's per-item cost no longer shows: 27.0 against 28.4 s there).
DEFAULT_ROWS_PER_ITEM = 1
# As the API's own recipe pages (StartingRecord n, EndingRecord n+999): with 500 a school of 2,000
# took 5 requests instead of 3, and 100 ms of latency per response cost the full year ~1.5 s more.
DEFAULT_STUDENT_PAGE_SIZE = 1000
DEFAULT_LOOKBACK_DAYS = 14
# StudentDataChanges is asked for changes since the last watermark minus this overlap, since the
# server's change times and its clock are read in separate requests.
DATA_CHANGES_OVERLAP_MINUTES = 10

# Aeries allows traditional periods 0-9.
ALL_PERIODS = tuple(str(p) for p in range(10))

# Sentinel student id of the tombstone rows that clear a re-synced school-day
# (primary-key columns are NOT NULL, so a real value is needed; Aeries ids are > 0).
TOMBSTONE_STUDENT_ID = 0

# Student fields loaded by default: what attendance-intervention work needs, nothing more
# (no addresses, phones, birthdates, parent names or e-mail). Override with `student_fields`.
DEFAULT_STUDENT_FIELDS = (
    "StudentID",
    "SchoolCode",
    "StudentNumber",
    "StateStudentID",
    "FirstName",
    "LastName",
    "Grade",
    "SchoolEnterDate",
    "SchoolLeaveDate",
    "InactiveStatusCode",
    "Track",
    "AttendanceProgramCodePrimary",
    "LowSchedulingPeriod",
    "HighSchedulingPeriod",
    "HomeRoomTeacherNumber",
    "CounselorNumber",
    "CorrespondenceLanguageCode",
)
STUDENT_DATE_FIELDS = ("Birthdate", "SchoolEnterDate", "DistrictEnterDate", "SchoolLeaveDate")
ENROLLMENT_DATE_FIELDS = ("EnterDate", "LeaveDate")
