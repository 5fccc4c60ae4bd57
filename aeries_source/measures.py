"""Attendance measures as views in the dataset: student days, daily attendance, student and school summaries.

The definitions (README "Attendance measures") follow the California School Dashboard for chronic
absenteeism, Education Code 46301 for ADA and 48260 for truancy. Days enrolled come from the
calendar and enrollment, never from counting attendance rows: Aeries sends a day only when it
holds a code, so a student-day without a row is a present day. Nothing after a school's
`data_through` date is counted, so a mid-year sync gives mid-year figures.

Views rather than tables: they are always as fresh as the tables they read, cost nothing to
keep, and are recreated by `create_measures` after each sync (which also applies changed
thresholds).
"""

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import dlt
from dlt.common.configuration import configspec
from dlt.common.configuration import resolve_configuration as dlt_resolve
from dlt.common.configuration.specs import BaseConfiguration

from aeries_source.errors import AeriesConfigError
from aeries_source.settings import ALL_PERIODS
from aeries_source.tables import (
    ABSENCE_CODES,
    ATTENDANCE_HISTORY_SUMMARY,
    ATTENDANCE_RECORDS,
    CALENDAR_DAYS,
    DATA_THROUGH,
    ENROLLMENT,
)

logger = logging.getLogger(__name__)

STUDENT_DAYS = "student_days"
DAILY_ATTENDANCE = "daily_attendance"
STUDENT_ATTENDANCE_SUMMARY = "student_attendance_summary"
SCHOOL_ATTENDANCE_SUMMARY = "school_attendance_summary"
ATTENDANCE_RECONCILIATION = "attendance_reconciliation"

# Every view `create_measures` may create, in the order they depend on each other.
MEASURE_VIEWS: Tuple[str, ...] = (
    STUDENT_DAYS, DAILY_ATTENDANCE, STUDENT_ATTENDANCE_SUMMARY, SCHOOL_ATTENDANCE_SUMMARY,
    ATTENDANCE_RECONCILIATION,
)

# The tables the measures read; without any of them (a first sync that loaded nothing) there are no measures.
_REQUIRED_TABLES = (CALENDAR_DAYS.name, ENROLLMENT.name, ATTENDANCE_RECORDS.name, ABSENCE_CODES.name,
                    DATA_THROUGH.name)

# Postgres runs a view with its owner's rights unless it is `security_invoker` (15+); the owner
# is the loading role, so on Supabase a plain view would show RLS-protected rows to `anon`.
_SECURITY_INVOKER_SINCE = 150000


@configspec
class MeasuresConfiguration(BaseConfiguration):
    """Thresholds of the measures (`[measures]`); districts differ, the defaults are California's."""

    chronic_absence_rate: float = 0.10
    """Share of days enrolled a student must miss to be chronically absent (Dashboard: 10 %)."""
    chronic_min_days_enrolled: int = 31
    """Days enrolled below which a student is not counted for chronic absenteeism (Dashboard: 31)."""
    truancy_events_for_truant: int = 3
    """Truancy events in a school year that make a student truant (Education Code 48260: 3)."""


def resolve_measures_configuration(**explicit: Any) -> MeasuresConfiguration:
    """Resolve the `[measures]` settings from dlt config, with explicit values taking precedence.

    Raises:
        AeriesConfigError: A threshold that cannot work.
    """
    given = {name: value for name, value in explicit.items() if value is not None}
    config = dlt_resolve(MeasuresConfiguration(), sections=("measures",), explicit_value=given)
    if not 0 < config.chronic_absence_rate <= 1:
        raise AeriesConfigError("[measures] chronic_absence_rate must be above 0 and at most 1")
    if config.chronic_min_days_enrolled < 1 or config.truancy_events_for_truant < 1:
        raise AeriesConfigError("[measures] chronic_min_days_enrolled and truancy_events_for_truant must be at least 1")
    return config


def create_measures(pipeline: dlt.Pipeline, config: Optional[MeasuresConfiguration] = None) -> List[str]:
    """Create (or recreate) the measure views in the pipeline's dataset.

    Call it after a load; the command does after every sync. `attendance_reconciliation` is
    created only when `attendance_history_summary` has been loaded (`attendance_history = true`).

    Args:
        pipeline: A pipeline that has loaded the `aeries` source into Postgres or DuckDB.
        config: Thresholds; default `[measures]` from dlt config.

    Returns:
        The names of the views created; empty when the tables the measures read are not loaded yet.
    """
    config = config or resolve_measures_configuration()
    if not pipeline.default_schema_name:
        return []
    tables = pipeline.default_schema.tables
    missing = [name for name in _REQUIRED_TABLES if name not in tables]
    if missing:
        logger.info("no attendance measures yet: %s not loaded", ", ".join(missing))
        return []
    periods = [p for p in ALL_PERIODS if f"period_{p}_code" in tables[ATTENDANCE_RECORDS.name]["columns"]]
    with pipeline.sql_client() as client:
        names = {name: client.make_qualified_table_name(name) for name in
                 (*_REQUIRED_TABLES, ATTENDANCE_HISTORY_SUMMARY.name, *MEASURE_VIEWS)}
        views = view_definitions(names, periods, config,
                                 reconcile=ATTENDANCE_HISTORY_SUMMARY.name in tables)
        postgres = pipeline.destination.destination_name == "postgres"
        options = ""
        if postgres and _server_version(client) >= _SECURITY_INVOKER_SINCE:
            options = " WITH (security_invoker = true)"
        with client.begin_transaction():
            for name in reversed(MEASURE_VIEWS):  # dependents first
                client.execute_sql(f"DROP VIEW IF EXISTS {names[name]}")
            for name, select in views.items():
                client.execute_sql(f"CREATE VIEW {names[name]}{options} AS {select}")
    logger.info("attendance measures created: %s", ", ".join(views))
    return list(views)


def _server_version(client: Any) -> int:
    return int(client.execute_sql("SHOW server_version_num")[0][0])


def view_definitions(
    names: Dict[str, str], periods: Sequence[str], config: MeasuresConfiguration, reconcile: bool = True,
) -> Dict[str, str]:
    """Return each measure view's SELECT, in dependency order.

    Args:
        names: Qualified names of the tables read and the views made, by plain name.
        periods: The periods whose `period_N_code` column `attendance_records` has.
        config: The thresholds.
        reconcile: Whether to include `attendance_reconciliation`.
    """
    t = names
    rate = repr(float(config.chronic_absence_rate))  # a decimal literal: exact in both databases
    min_days = int(config.chronic_min_days_enrolled)
    truant_events = int(config.truancy_events_for_truant)
    instructional = f"""
        SELECT c.school_code, c.calendar_date AS attendance_date
        FROM {t['calendar_days']} c JOIN {t['data_through']} t ON t.school_code = c.school_code
        WHERE c.is_instructional_day AND c.calendar_date <= t.data_through"""
    # One row per code a student-day carries (its all-day code and each period's), to look every
    # code up in absence_codes once.
    code_rows = [f"SELECT school_code, student_id, attendance_date, all_day_code AS code, 1 AS all_day "
                 f"FROM {t['attendance_records']} WHERE all_day_code IS NOT NULL"]
    code_rows += [f"SELECT school_code, student_id, attendance_date, period_{p}_code, 0 "
                  f"FROM {t['attendance_records']} WHERE period_{p}_code IS NOT NULL" for p in periods]
    union = "\n        UNION ALL ".join(code_rows)
    views = {
        STUDENT_DAYS: f"""
    WITH instructional AS ({instructional}),
    enrolled AS (
        SELECT DISTINCT i.school_code, e.student_id, i.attendance_date
        FROM instructional i JOIN {t['enrollment']} e ON e.school_code = i.school_code
         AND e.enter_date <= i.attendance_date AND (e.leave_date IS NULL OR i.attendance_date < e.leave_date)),
    codes AS (
        {union}),
    day_codes AS (
        SELECT k.school_code, k.student_id, k.attendance_date,
               MAX(CASE WHEN a.is_suspension THEN 1 ELSE 0 END) AS suspension,
               MAX(CASE WHEN k.all_day = 1 THEN a.type_code END) AS all_day_type,
               CAST(SUM(1 - k.all_day) AS BIGINT) AS period_codes,
               CAST(SUM(CASE WHEN k.all_day = 0 AND a.type_code = 2 THEN 1 ELSE 0 END) AS BIGINT) AS period_excused,
               CAST(SUM(CASE WHEN k.all_day = 0 AND a.type_code = 3 THEN 1 ELSE 0 END) AS BIGINT) AS period_unexcused,
               MAX(CASE WHEN (a.type_code = 3 AND NOT COALESCE(a.is_suspension, FALSE))
                          OR a.is_partial_day_truant THEN 1 ELSE 0 END) AS truancy
        FROM codes k LEFT JOIN {t['absence_codes']} a ON a.school_code = k.school_code AND a.absence_code = k.code
        GROUP BY k.school_code, k.student_id, k.attendance_date)
    SELECT e.school_code, e.student_id, e.attendance_date,
           COALESCE(r.is_full_day_absent, FALSE) AS is_full_day_absent,
           CASE WHEN NOT COALESCE(r.is_full_day_absent, FALSE) THEN NULL
                WHEN d.suspension = 1 THEN 'suspension'
                WHEN d.all_day_type = 2 THEN 'excused'
                WHEN d.all_day_type = 3 THEN 'unexcused'
                WHEN d.all_day_type = 1 THEN 'unverified'
                WHEN d.period_codes > 0 AND d.period_excused = d.period_codes THEN 'excused'
                WHEN d.period_unexcused > 0 THEN 'unexcused'
                ELSE 'unverified' END AS absence_kind,
           COALESCE(r.tardy_count, 0) AS tardy_count,
           COALESCE(d.truancy = 1, FALSE) AS truancy_event
    FROM enrolled e
    LEFT JOIN {t['attendance_records']} r
      ON r.school_code = e.school_code AND r.student_id = e.student_id AND r.attendance_date = e.attendance_date
    LEFT JOIN day_codes d
      ON d.school_code = e.school_code AND d.student_id = e.student_id AND d.attendance_date = e.attendance_date""",
        DAILY_ATTENDANCE: f"""
    WITH instructional AS ({instructional}),
    per_day AS (
        SELECT school_code, attendance_date, COUNT(*) AS enrolled,
               CAST(SUM(CASE WHEN is_full_day_absent THEN 1 ELSE 0 END) AS BIGINT) AS absent,
               CAST(SUM(CASE WHEN absence_kind = 'excused' THEN 1 ELSE 0 END) AS BIGINT) AS excused,
               CAST(SUM(CASE WHEN absence_kind = 'unexcused' THEN 1 ELSE 0 END) AS BIGINT) AS unexcused,
               CAST(SUM(CASE WHEN absence_kind = 'unverified' THEN 1 ELSE 0 END) AS BIGINT) AS unverified,
               CAST(SUM(CASE WHEN absence_kind = 'suspension' THEN 1 ELSE 0 END) AS BIGINT) AS suspended,
               CAST(SUM(tardy_count) AS BIGINT) AS tardies
        FROM {t[STUDENT_DAYS]} GROUP BY school_code, attendance_date)
    SELECT i.school_code, i.attendance_date,
           COALESCE(p.enrolled, 0) AS enrolled, COALESCE(p.enrolled - p.absent, 0) AS present,
           COALESCE(p.absent, 0) AS absent, COALESCE(p.excused, 0) AS excused,
           COALESCE(p.unexcused, 0) AS unexcused, COALESCE(p.unverified, 0) AS unverified,
           COALESCE(p.suspended, 0) AS suspended, COALESCE(p.tardies, 0) AS tardies,
           CAST(p.enrolled - p.absent AS DOUBLE PRECISION) / NULLIF(p.enrolled, 0) AS attendance_rate
    FROM instructional i
    LEFT JOIN per_day p ON p.school_code = i.school_code AND p.attendance_date = i.attendance_date""",
        STUDENT_ATTENDANCE_SUMMARY: f"""
    WITH latest_grade AS (
        SELECT school_code, student_id, grade FROM (
            SELECT school_code, student_id, grade,
                   ROW_NUMBER() OVER (PARTITION BY school_code, student_id ORDER BY enter_date DESC) AS n
            FROM {t['enrollment']}) g
        WHERE n = 1),
    per_student AS (
        SELECT school_code, student_id, COUNT(*) AS days_enrolled,
               CAST(SUM(CASE WHEN is_full_day_absent THEN 1 ELSE 0 END) AS BIGINT) AS days_absent,
               CAST(SUM(CASE WHEN absence_kind = 'excused' THEN 1 ELSE 0 END) AS BIGINT) AS days_excused,
               CAST(SUM(CASE WHEN absence_kind = 'unexcused' THEN 1 ELSE 0 END) AS BIGINT) AS days_unexcused,
               CAST(SUM(CASE WHEN absence_kind = 'unverified' THEN 1 ELSE 0 END) AS BIGINT) AS days_unverified,
               CAST(SUM(CASE WHEN absence_kind = 'suspension' THEN 1 ELSE 0 END) AS BIGINT) AS days_suspended,
               CAST(SUM(tardy_count) AS BIGINT) AS tardies,
               CAST(SUM(CASE WHEN truancy_event THEN 1 ELSE 0 END) AS BIGINT) AS truancy_events
        FROM {t[STUDENT_DAYS]} GROUP BY school_code, student_id)
    SELECT s.school_code, s.student_id, g.grade, s.days_enrolled,
           s.days_enrolled - s.days_absent AS days_present, s.days_absent, s.days_excused,
           s.days_unexcused, s.days_unverified, s.days_suspended, s.tardies, s.truancy_events,
           CAST(s.days_enrolled - s.days_absent AS DOUBLE PRECISION) / s.days_enrolled AS attendance_rate,
           (s.days_enrolled >= {min_days} AND s.days_absent >= {rate} * s.days_enrolled) AS chronically_absent,
           (s.truancy_events >= {truant_events}) AS truant,
           t.data_through
    FROM per_student s
    JOIN {t['data_through']} t ON t.school_code = s.school_code
    LEFT JOIN latest_grade g ON g.school_code = s.school_code AND g.student_id = s.student_id""",
        SCHOOL_ATTENDANCE_SUMMARY: f"""
    WITH days AS (
        SELECT school_code, COUNT(*) AS instructional_days FROM ({instructional}) i GROUP BY school_code),
    per_school AS (
        SELECT school_code, COUNT(*) AS students, CAST(SUM(days_present) AS BIGINT) AS days_present,
               CAST(SUM(days_enrolled) AS BIGINT) AS days_enrolled,
               CAST(SUM(CASE WHEN chronically_absent THEN 1 ELSE 0 END) AS BIGINT) AS chronic_absentees,
               CAST(SUM(CASE WHEN days_enrolled >= {min_days} THEN 1 ELSE 0 END) AS BIGINT) AS chronic_absence_eligible
        FROM {t[STUDENT_ATTENDANCE_SUMMARY]} GROUP BY school_code)
    SELECT t.school_code, COALESCE(s.students, 0) AS students,
           COALESCE(d.instructional_days, 0) AS instructional_days,
           CAST(s.days_present AS DOUBLE PRECISION) / NULLIF(d.instructional_days, 0) AS ada,
           CAST(s.days_present AS DOUBLE PRECISION) / NULLIF(s.days_enrolled, 0) AS attendance_rate,
           COALESCE(s.chronic_absentees, 0) AS chronic_absentees,
           COALESCE(s.chronic_absence_eligible, 0) AS chronic_absence_eligible,
           CAST(s.chronic_absentees AS DOUBLE PRECISION) / NULLIF(s.chronic_absence_eligible, 0)
               AS chronic_absenteeism_rate,
           t.data_through
    FROM {t['data_through']} t
    LEFT JOIN days d ON d.school_code = t.school_code
    LEFT JOIN per_school s ON s.school_code = t.school_code""",
    }
    if reconcile:
        views[ATTENDANCE_RECONCILIATION] = f"""
    WITH aeries AS (
        SELECT school_code, student_id, days_enrolled AS aeries_days_enrolled, days_absence AS aeries_days_absent
        FROM {t['attendance_history_summary']}
        WHERE school_year = (SELECT MAX(school_year) FROM {t['attendance_history_summary']})),
    ours AS (SELECT school_code, student_id, days_enrolled, days_absent FROM {t[STUDENT_ATTENDANCE_SUMMARY]})
    SELECT COALESCE(o.school_code, a.school_code) AS school_code,
           COALESCE(o.student_id, a.student_id) AS student_id,
           COALESCE(o.days_enrolled, 0) AS days_enrolled, a.aeries_days_enrolled,
           COALESCE(o.days_absent, 0) AS days_absent, a.aeries_days_absent
    FROM ours o FULL OUTER JOIN aeries a ON a.school_code = o.school_code AND a.student_id = o.student_id
    WHERE COALESCE(o.school_code, a.school_code) IN (SELECT school_code FROM aeries)
      AND (COALESCE(o.days_enrolled, 0) <> COALESCE(a.aeries_days_enrolled, 0)
           OR COALESCE(o.days_absent, 0) <> COALESCE(a.aeries_days_absent, 0))"""
    return views
