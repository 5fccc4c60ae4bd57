"""Pure transformations of Aeries payloads into table rows (no I/O)."""

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from dlt.common.schema.typing import TTableSchemaColumns

from aeries_source.calendar_index import CalendarIndex
from aeries_source.dates import parse_aeries_date
from aeries_source.settings import ALL_PERIODS, TOMBSTONE_STUDENT_ID
from aeries_source.status import PRESENT, is_absence, is_tardy, status_for_type_code
from aeries_source.tables import TOMBSTONE_COLUMN

# The status, code and section column of each period 0-9.
_PERIOD_COLUMNS: Dict[str, Tuple[str, str, str]] = {
    p: (f"period_{p}_status", f"period_{p}_code", f"period_{p}_section") for p in ALL_PERIODS
}

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=1024)
def snake_case(name: str) -> str:
    """Convert an Aeries field name (`StudentID`, `AddressZipExt`) to snake_case.

    Cached: a district has a few dozen field names and sends them on every record (the regex was
    a tenth of a full sync's Python time).
    """
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def is_blank(value: Any) -> bool:
    """Tell whether a value is empty or whitespace-only text (what Aeries sends for "no value")."""
    return isinstance(value, str) and not value.strip()


def blank_to_none(value: Any) -> Any:
    """Return None for empty or whitespace-only text, else the value unchanged.

    The one rule for every table this source writes: blank text from Aeries is NULL. Without it
    the destinations disagree: Postgres loads csv, which reads '' as NULL, while DuckDB loads
    parquet, which keeps '', so the same SQL counted differently on each.
    """
    return None if is_blank(value) else value


def text_column_hints(columns: Iterable[str]) -> TTableSchemaColumns:
    """Declare columns as text: those whose Aeries value was blank text and is now None.

    dlt creates no column for a value without a type, so a field that is blank in every record
    (e.g. `Track`, `ABDay`) would otherwise vanish from the table instead of holding NULLs.
    """
    return {name: {"data_type": "text"} for name in sorted(columns)}


class RejectedRecord(ValueError):
    """A record Aeries sent that cannot be turned into a row; carries the reason."""


@dataclass
class AbsenceCode:
    """The parts of an absence-code row that decide an attendance status."""

    code: str
    type_code: int
    status: str


@dataclass(frozen=True, slots=True)
class DayFacts:
    """What the transform derives from a school's calendar for one attendance date."""

    day: date
    meeting_periods: Tuple[str, ...]
    can_be_corrected: bool
    correction_deadline: Optional[date]


# Dates a school's context keeps the facts of: more than the school days of one 30-day batch.
_RECENT_DAYS = 64


@dataclass
class SchoolContext:
    """What the attendance transform must know about one school."""

    school_code: int
    attendance_type: str
    calendar: CalendarIndex
    codes: Dict[str, AbsenceCode]
    periods: List[str] = field(default_factory=list)
    # DayFacts by the CalendarDate text Aeries sends: a batch has a few dozen dates and thousands
    # of records, so each date is parsed and looked up once. Only recent dates are kept: a school's
    # context lives as long as its reading, and a year of facts per school grew the sync's memory
    # with the number of schools.
    _facts: Dict[str, DayFacts] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_period_school(self) -> bool:
        """Tell whether the school takes attendance per period."""
        return self.attendance_type.lower() == "period"

    def day_facts(self, calendar_date: Any) -> DayFacts:
        """Return the facts of the date in an AttendanceDay's `CalendarDate`.

        Raises:
            RejectedRecord: When the value is missing or not a date.
        """
        cached = self._facts.get(calendar_date) if isinstance(calendar_date, str) else None
        if cached is not None:
            return cached
        try:
            day = parse_aeries_date(calendar_date)
        except ValueError as exc:
            raise RejectedRecord(f"CalendarDate is not a date: {exc}") from None
        if day is None:
            raise RejectedRecord("CalendarDate is missing")
        facts = DayFacts(day, tuple(_meeting_periods(self, day)), self.calendar.can_be_corrected(day),
                         self.calendar.correction_deadline(day))
        if isinstance(calendar_date, str):
            if len(self._facts) >= _RECENT_DAYS:
                self._facts.clear()
            self._facts[calendar_date] = facts
        return facts


def build_absence_codes(rows: Iterable[Mapping[str, Any]]) -> Dict[str, AbsenceCode]:
    """Index a school's AbsenceCodes payload by code, skipping codes whose TypeCode is unknown."""
    codes: Dict[str, AbsenceCode] = {}
    for row in rows:
        code = str(row.get("AbsenceCode") or "")
        type_code = row.get("TypeCode")
        if not isinstance(type_code, int) or isinstance(type_code, bool):
            continue  # no TypeCode, or not a number: unknown
        status = status_for_type_code(type_code)
        if code.strip() and status is not None:  # a blank code is no code (see blank_to_none)
            codes[code] = AbsenceCode(code=code, type_code=int(type_code), status=status)
    return codes


def _lookup(ctx: SchoolContext, code: str) -> AbsenceCode:
    found = ctx.codes.get(code)
    if found is None:
        raise RejectedRecord(f"unknown absence code {code!r}")
    return found


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def _is_bigint(value: Any) -> bool:
    """Tell whether a JSON value fits a bigint column (type(), not isinstance: a bool is no number)."""
    return type(value) is int and _BIGINT_MIN <= value <= _BIGINT_MAX


def _classes_by_period(day: Mapping[str, Any]) -> Dict[str, Tuple[str, Optional[int]]]:
    classes = day.get("Classes")
    if classes is None:
        classes = []
    if not isinstance(classes, list):
        raise RejectedRecord("Classes is not a list")
    by_period: Dict[str, Tuple[str, Optional[int]]] = {}
    for item in classes:
        # dict, not typing.Mapping: JSON objects are dicts, and an ABC check costs more than the
        # rest of this loop together (measured in the transform's profile).
        if not isinstance(item, dict):
            raise RejectedRecord("class entry is not an object")
        period = str(item.get("Period", ""))
        if period not in _PERIOD_COLUMNS:
            raise RejectedRecord(f"period {period!r} is outside 0-9")
        code = item.get("AttendanceCode")
        if not isinstance(code, str):
            raise RejectedRecord("class AttendanceCode is missing or not text")
        section = item.get("SectionNumber")
        if section is not None and not _is_bigint(section):
            raise RejectedRecord("SectionNumber is not an integer")
        if code.strip():  # blank text means no code for the period
            by_period[period] = (code, section)
    return by_period


def attendance_day_row(ctx: SchoolContext, student_id: Any, day: Mapping[str, Any]) -> Dict[str, Any]:
    """Turn one Aeries AttendanceDay of one student into an `attendance_records` row.

    Args:
        ctx: The school the request was made for (Aeries does not echo it).
        student_id: The `StudentID` of the enclosing student object.
        day: One element of `AttendanceDays`.

    Returns:
        The row, with a status per period the school uses (absent codes there read as present,
        since the school reports attendance negatively) and the raw codes and sections. Columns
        of periods without a status are left out (NULL).

    Raises:
        RejectedRecord: When a field is missing, of the wrong type, or names an unknown code.
    """
    if not _is_bigint(student_id) or student_id <= 0:
        raise RejectedRecord("StudentID is missing or not a positive integer")
    facts = ctx.day_facts(day.get("CalendarDate"))
    all_day_code = day.get("AllDayAttendanceCode") or ""
    if not isinstance(all_day_code, str):
        raise RejectedRecord("AllDayAttendanceCode is not text")
    all_day_code = all_day_code if all_day_code.strip() else ""  # blank text means no code
    classes = _classes_by_period(day)

    all_day = _lookup(ctx, all_day_code) if all_day_code else None
    period_codes = {p: _lookup(ctx, code) for p, (code, _) in classes.items()}

    row: Dict[str, Any] = {
        "school_code": ctx.school_code,
        "student_id": student_id,
        "attendance_date": facts.day,
        "all_day_code": all_day_code or None,
        "all_day_status": all_day.status if all_day else None,
    }
    for period in facts.meeting_periods:
        row[_PERIOD_COLUMNS[period][0]] = PRESENT
    for period, (code, section) in classes.items():
        status_column, code_column, section_column = _PERIOD_COLUMNS[period]
        row[status_column] = period_codes[period].status
        row[code_column] = code
        row[section_column] = section

    row["is_full_day_absent"] = _is_full_day_absent(ctx, facts.meeting_periods, all_day, period_codes)
    row["is_present"] = not row["is_full_day_absent"]
    tardies = sum(1 for c in period_codes.values() if is_tardy(c.type_code))
    if not period_codes and all_day is not None and is_tardy(all_day.type_code):
        tardies = 1
    row["tardy_count"] = tardies
    row["can_be_corrected"] = facts.can_be_corrected
    row["correction_deadline"] = facts.correction_deadline
    row[TOMBSTONE_COLUMN] = False
    return row


def _is_full_day_absent(
    ctx: SchoolContext,
    meeting: Sequence[str],
    all_day: Optional[AbsenceCode],
    period_codes: Mapping[str, AbsenceCode],
) -> bool:
    # The all-day code decides when present; a period school may also leave it blank while every
    # period that met that day carries an absence.
    if all_day is not None:
        return is_absence(all_day.type_code)
    if not ctx.is_period_school or not period_codes or not meeting:
        return False
    return all(p in period_codes and is_absence(period_codes[p].type_code) for p in meeting)


def _meeting_periods(ctx: SchoolContext, day: date) -> List[str]:
    """Periods that met on `day`: the calendar's PeriodBlockPattern, else every period of the school."""
    if not ctx.is_period_school:
        return []
    entry = ctx.calendar.get(day)
    if entry is not None and entry.period_pattern:
        return [p for p in entry.period_pattern if p in ALL_PERIODS]
    return list(ctx.periods)


def tombstone_row(school_code: int, day: date) -> Dict[str, Any]:
    """Return the row that makes a merge delete every stored record of one school-day.

    Its merge key (school, date) clears the day in the destination; its hard-delete flag keeps
    it from being inserted, so a day Aeries now reports as empty ends up empty.
    """
    return {
        "school_code": school_code,
        "student_id": TOMBSTONE_STUDENT_ID,
        "attendance_date": day,
        TOMBSTONE_COLUMN: True,
    }


def snake_record(
    record: Mapping[str, Any],
    fields: Optional[Sequence[str]] = None,
    date_fields: Iterable[str] = (),
    drop: Iterable[str] = (),
    blanked: Optional[Set[str]] = None,
) -> Dict[str, Any]:
    """Copy an Aeries object into a snake_case row, keeping only `fields` when given.

    Fields named in `date_fields` become `date` values (Aeries sends naive midnight datetimes).
    Blank text becomes None (see `blank_to_none`); nested values (lists, objects) are kept as sent.

    Args:
        record: One Aeries object.
        fields: The Aeries fields to keep; default all.
        date_fields: Aeries fields holding dates.
        drop: Aeries fields to leave out.
        blanked: When given, the snake_case names of the text fields that were blank are added
            to it, so the caller can declare them as text columns (`text_column_hints`).

    Raises:
        RejectedRecord: When a date field holds something that is not a date.
    """
    wanted = set(fields) if fields is not None else None
    dates = set(date_fields)
    dropped = set(drop)
    row: Dict[str, Any] = {}
    for key, value in record.items():
        if key in dropped or (wanted is not None and key not in wanted):
            continue
        name = snake_case(key)
        if key in dates:
            try:
                value = parse_aeries_date(value)
            except ValueError as exc:
                raise RejectedRecord(f"{key} is not a date: {exc}") from None
        elif is_blank(value):
            value = None
            if blanked is not None:
                blanked.add(name)
        row[name] = value
    return row
