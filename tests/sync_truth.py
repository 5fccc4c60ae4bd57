"""Compare what a sync loaded with what the simulator says Aeries holds, row for row."""

import re
from datetime import date
from typing import Any, Dict, List, Set, Tuple

from aeries_simulator import AeriesSimulator
from aeries_sync.options import SyncOptions
from aeries_sync.pipeline import make_pipeline

PERIODS = [str(p) for p in range(10)]


def query(options: SyncOptions, sql_template: str) -> List[Tuple[Any, ...]]:
    """Run a query against the options' destination; `{t:name}` becomes a qualified table name."""
    pipeline = make_pipeline(options)
    with pipeline.sql_client() as client:
        sql = re.sub(r"\{t:(\w+)\}", lambda m: client.make_qualified_table_name(m.group(1)), sql_template)
        return [tuple(r) for r in client.execute_sql(sql)]


def columns_of(options: SyncOptions, table: str) -> Set[str]:
    """Return the column names a table has in the destination."""
    pipeline = make_pipeline(options)
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            options.dataset_name, table,
        )
    return {r[0] for r in rows}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not hasattr(value, "hour") else value.date()


def expected_attendance(sim: AeriesSimulator, start: date, end: date) -> Set[Tuple[Any, ...]]:
    """Truth: one tuple per student-day Aeries reports, with every raw code and section."""
    rows = set()
    for sc in sim.school_codes():
        for day in sim.truth_attendance(sc, start, end):
            classes = {c["period"]: (c["code"], c["section"]) for c in day["classes"]}
            periods = tuple((p, *classes[p]) for p in PERIODS if p in classes)
            rows.add((sc, day["student_id"], day["date"], day["all_day_code"] or None, periods))
    return rows


def loaded_attendance(options: SyncOptions, start: date, end: date) -> List[Tuple[Any, ...]]:
    """The loaded attendance in the same shape as `expected_attendance` (a list: duplicates show)."""
    cols = columns_of(options, "attendance_records")
    present = [p for p in PERIODS if f"period_{p}_code" in cols]
    select = ", ".join(
        ["school_code", "student_id", "attendance_date", "all_day_code"]
        + [f"period_{p}_code, period_{p}_section" for p in present]
    )
    rows = query(
        options,
        f"SELECT {select} FROM {{t:attendance_records}} "
        f"WHERE attendance_date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'",
    )
    result = []
    for r in rows:
        periods = []
        for i, p in enumerate(present):
            code, section = r[4 + 2 * i], r[5 + 2 * i]
            if code is not None:
                periods.append((p, code, section))
        result.append((int(r[0]), int(r[1]), _as_date(r[2]), r[3] or None, tuple(periods)))
    return result


def assert_attendance_matches(sim: AeriesSimulator, options: SyncOptions, start: date, end: date) -> int:
    """Assert the loaded attendance equals the truth exactly (no missing, no extra, no duplicates)."""
    expected = expected_attendance(sim, start, end)
    loaded = loaded_attendance(options, start, end)
    assert len(loaded) == len(set(loaded)), "duplicate attendance rows loaded"
    missing = expected - set(loaded)
    extra = set(loaded) - expected
    assert not missing and not extra, f"missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}"
    return len(expected)


def assert_small_tables_match(sim: AeriesSimulator, options: SyncOptions) -> None:
    """Assert schools, calendar, absence codes, students and enrollment equal the simulator's."""
    codes = sim.school_codes()
    assert sorted(int(r[0]) for r in query(options, "SELECT school_code FROM {t:schools}")) == codes

    cal = {(sc, _as_date(_d(r["CalendarDate"])), r["AttendanceMonth"], bool(r["AttendanceMonthLocked"]),
            r["HolidayCode"] or None) for sc in codes for r in sim.truth_calendar(sc)}
    got = {(int(a), _as_date(b), int(c), bool(d), e or None) for a, b, c, d, e in query(
        options, "SELECT school_code, calendar_date, attendance_month, attendance_month_locked, holiday_code "
                 "FROM {t:calendar_days}")}
    assert got == cal

    ac = {(sc, r["AbsenceCode"], r["TypeCode"]) for sc in codes for r in sim.truth_absence_codes(sc)}
    got = {(int(a), b, int(c)) for a, b, c in query(
        options, "SELECT school_code, absence_code, type_code FROM {t:absence_codes}")}
    assert got == ac

    st = {(r["StudentID"], sc, r["LastName"], r["Grade"], _opt_date(r["SchoolLeaveDate"]))
          for sc in codes for r in sim.truth_students(sc)}
    got_rows = query(options, "SELECT student_id, school_code, last_name, grade, school_leave_date FROM {t:students}")
    got = {(int(a), int(b), c, int(d), _as_date(e) if e else None) for a, b, c, d, e in got_rows}
    assert len(got_rows) == len(got), "duplicate student rows"
    assert got == st

    en = {(r["StudentID"], sc, _d(r["EnterDate"]), _opt_date(r["LeaveDate"]))
          for sc in codes for r in sim.truth_enrollment(sc)}
    got_rows = query(options, "SELECT student_id, school_code, enter_date, leave_date FROM {t:enrollment}")
    got = {(int(a), int(b), _as_date(c), _as_date(d) if d else None) for a, b, c, d in got_rows}
    assert len(got_rows) == len(got), "duplicate enrollment rows"
    assert got == en


def _d(text: str) -> date:
    return date.fromisoformat(text[:10])


def _opt_date(text: Any) -> Any:
    return _d(text) if text and not str(text).startswith("0001-") else None


def table_counts(options: SyncOptions) -> Dict[str, int]:
    """Row counts of the data tables."""
    return {t: int(query(options, "SELECT COUNT(*) FROM {t:%s}" % t)[0][0])
            for t in ("attendance_records", "students", "schools", "calendar_days", "absence_codes", "enrollment")}

