"""Attendance measures as views in the dataset: student days, daily attendance, student and school summaries.

The definitions (README "Attendance measures") follow the California School Dashboard for chronic
absenteeism, Education Code 46301 for ADA and 48260 for truancy. Days enrolled come from the
calendar and enrollment, never from counting attendance rows: Aeries sends a day only when it
holds a code, so a student-day without a row is a present day. Nothing after a school's
`data_through` date is counted, so a mid-year sync gives mid-year figures.

`create_measures` rebuilds them after each sync, which also applies changed thresholds.
"""

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import dlt
from dlt.common.configuration import configspec
from dlt.common.configuration import resolve_configuration as dlt_resolve
from dlt.common.configuration.specs import BaseConfiguration

from aeries_source.errors import AeriesConfigError
from aeries_source.settings import ALL_PERIODS
from aeries_source.supabase import api_roles, lock_statements
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

# What `create_measures` makes, in the order they depend on each other. The summaries are tables
# rebuilt after every sync: a district's summary then reads in milliseconds, where the same SQL
# as a view took 2 s unfiltered and, with a filter, up to 50 s once Postgres misjudged the range
# join of calendar and enrollment (measured at 20 schools x 2,000 students). `student_days` (one
# row per student-day, 7.4 million there) stays a view; so does the reconciliation, which is small.
MEASURE_TABLES: Tuple[str, ...] = (DAILY_ATTENDANCE, STUDENT_ATTENDANCE_SUMMARY, SCHOOL_ATTENDANCE_SUMMARY)
MEASURES: Tuple[str, ...] = (
    STUDENT_DAYS, DAILY_ATTENDANCE, STUDENT_ATTENDANCE_SUMMARY, SCHOOL_ATTENDANCE_SUMMARY,
    ATTENDANCE_RECONCILIATION,
)

# The tables the measures read; without any of them (a first sync that loaded nothing) there are no measures.
_REQUIRED_TABLES = (CALENDAR_DAYS.name, ENROLLMENT.name, ATTENDANCE_RECORDS.name, ABSENCE_CODES.name,
                    DATA_THROUGH.name)

# The session's temporary table of the coded, enrolled instructional days while the summaries are made.
_FACTS_TABLE = "aeries_measure_facts"

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
    """Create or refresh the measures in the pipeline's dataset, in one transaction.

    Call it after a load; the command does after every sync. `student_days` and
    `attendance_reconciliation` are views, the three summaries tables (`MEASURE_TABLES`).
    `attendance_reconciliation` is made only once `attendance_history_summary` has been loaded
    (`attendance_history = true`).

    Measures that exist with the same columns are refreshed in place (a table's rows replaced, a
    view replaced), so grants, policies and views of your own on them stay; readers see the old
    rows until the commit. When a measure's columns change (a new version of this connector), all
    of them are dropped and made again; a view of your own on one of them then makes this fail,
    with the old measures left as they were. On a Postgres with Supabase's API roles each new
    object is closed to them in the transaction that makes it, so they never see one open.

    Args:
        pipeline: A pipeline that has loaded the `aeries` source into Postgres or DuckDB.
        config: Thresholds; default `[measures]` from dlt config.

    Returns:
        The names of the measures made; empty when the tables they read are not loaded yet.
    """
    config = config or resolve_measures_configuration()
    postgres = pipeline.destination.destination_name == "postgres"
    with pipeline.sql_client() as client:
        # The destination, not the pipeline's schema, says what is loaded: pipelines that load parts
        # of one dataset (an orchestrator's tasks) each know only the tables they wrote.
        columns = _dataset_columns(client)
        missing = [name for name in _REQUIRED_TABLES if name not in columns]
        if missing:
            logger.info("no attendance measures yet: %s not loaded", ", ".join(missing))
            return []
        periods = [p for p in ALL_PERIODS if f"period_{p}_code" in columns[ATTENDANCE_RECORDS.name]]
        names = {name: client.make_qualified_table_name(name) for name in
                 (*_REQUIRED_TABLES, ATTENDANCE_HISTORY_SUMMARY.name, *MEASURES)}
        selects = measure_selects(names, periods, config, reconcile=ATTENDANCE_HISTORY_SUMMARY.name in columns,
                                  facts_table=_FACTS_TABLE)
        view_options = ""
        roles: List[str] = []
        if postgres:
            roles = api_roles(client)
            if _server_version(client) >= _SECURITY_INVOKER_SINCE:
                view_options = " WITH (security_invoker = true)"
        existing = _existing_measures(client, columns)
        if postgres:
            _analyze_unanalyzed(client, [name for name in (*_REQUIRED_TABLES, ATTENDANCE_HISTORY_SUMMARY.name)
                                         if name in columns])
        with client.begin_transaction():
            # Computed once for both summaries (half of their time), dropped before the commit.
            client.execute_sql(f"CREATE TEMPORARY TABLE {_FACTS_TABLE} AS {enrolled_facts_select(names, periods)}")
            if postgres:  # autovacuum never analyzes a temporary table: without statistics the plans were 20x slower
                client.execute_sql(f"ANALYZE {_FACTS_TABLE}")
            in_place = all(
                name in existing and existing[name] == (name in MEASURE_TABLES, _columns_of(client, select))
                for name, select in selects.items())
            if not in_place:
                for name in reversed(MEASURES):  # dependents first
                    if name in existing:
                        client.execute_sql(f"DROP {'TABLE' if existing[name][0] else 'VIEW'} {names[name]}")
            for name, select in selects.items():
                is_table = name in MEASURE_TABLES
                if in_place and is_table:
                    client.execute_sql(f"DELETE FROM {names[name]}")
                    client.execute_sql(f"INSERT INTO {names[name]} {select}")
                elif in_place:
                    client.execute_sql(f"CREATE OR REPLACE VIEW {names[name]}{view_options} AS {select}")
                else:
                    kind = "TABLE" if is_table else f"VIEW {names[name]}{view_options} AS"
                    client.execute_sql(f"CREATE TABLE {names[name]} AS {select}" if is_table
                                       else f"CREATE {kind} {select}")
                    for statement in lock_statements(client, names[name], is_table, roles):
                        client.execute_sql(statement)
            client.execute_sql(f"DROP TABLE {_FACTS_TABLE}")
    logger.info("attendance measures %s: %s", "refreshed" if in_place else "made", ", ".join(selects))
    return list(selects)


def _analyze_unanalyzed(client: Any, tables: Sequence[str]) -> None:
    """ANALYZE those of the dataset's `tables` that autovacuum would analyze but has not yet (Postgres).

    A table loaded seconds ago has no statistics until autovacuum gets to it, up to a minute later.
    Without them Postgres estimated one instructional day, read the attendance by a nested loop,
    and the facts of a 2-school, 100-student district took 4.4 s (5 ms after ANALYZE; 0.97 s at
    20 x 2,000 either way, where ANALYZE costs 0.25 s). The rule is autovacuum's own (never
    analyzed, or more than 50 rows + 10 % changed since), so a delta that changed little analyzes
    nothing. A table of another owner is skipped by Postgres with a warning, not an error.
    """
    stale = client.execute_sql(
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s AND relname = ANY(%s) AND "
        "((last_analyze IS NULL AND last_autoanalyze IS NULL) OR n_mod_since_analyze > 50 + 0.1 * n_live_tup)",
        client.dataset_name, list(tables)) or ()
    for (table,) in stale:
        client.execute_sql(f"ANALYZE {client.make_qualified_table_name(table)}")


def _dataset_columns(client: Any) -> Dict[str, List[str]]:
    """Every table and view of the dataset with its columns in order."""
    columns: Dict[str, List[str]] = {}
    for table, column in client.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY table_name, ordinal_position", client.dataset_name) or ():
        columns.setdefault(table, []).append(column)
    return columns


def _existing_measures(client: Any, columns: Dict[str, List[str]]) -> Dict[str, Tuple[bool, List[str]]]:
    """The measures already in the dataset: whether each is a table, and its columns (from `_dataset_columns`)."""
    kinds = {name: kind for name, kind in client.execute_sql(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
        client.dataset_name) or () if name in MEASURES}
    return {name: (kind != "VIEW", columns.get(name, [])) for name, kind in kinds.items()}


def _columns_of(client: Any, select: str) -> List[str]:
    """The column names a SELECT gives, without running it."""
    with client.execute_query(f"SELECT * FROM ({select}) AS q LIMIT 0") as cursor:
        return [c[0] for c in cursor.description]


def _server_version(client: Any) -> int:
    return int(client.execute_sql("SHOW server_version_num")[0][0])


def measure_selects(
    names: Dict[str, str], periods: Sequence[str], config: MeasuresConfiguration, reconcile: bool = True,
    facts_table: Optional[str] = None,
) -> Dict[str, str]:
    """Return each measure's SELECT, in dependency order.

    Args:
        names: Qualified names of the tables read and the views made, by plain name.
        periods: The periods whose `period_N_code` column `attendance_records` has.
        config: The thresholds.
        reconcile: Whether to include `attendance_reconciliation`.
        facts_table: A table holding `enrolled_facts_select`'s rows, for the summaries to read
            instead of each computing them.
    """
    t = names
    rate = repr(float(config.chronic_absence_rate))  # a decimal literal: exact in both databases
    min_days = int(config.chronic_min_days_enrolled)
    truant_events = int(config.truancy_events_for_truant)
    ctes = _common_ctes(t, periods, enrolled_facts=facts_table is None)
    facts = facts_table or "enrolled_facts"
    views = {
        STUDENT_DAYS: f"""
    WITH {_common_ctes(t, periods, enrolled_facts=False)}
    SELECT e.school_code, e.student_id, e.attendance_date,
           COALESCE(f.is_full_day_absent, FALSE) AS is_full_day_absent, f.absence_kind,
           COALESCE(f.tardy_count, 0) AS tardy_count, COALESCE(f.truancy_event, FALSE) AS truancy_event
    FROM enrolled e
    LEFT JOIN facts f
      ON f.school_code = e.school_code AND f.student_id = e.student_id AND f.attendance_date = e.attendance_date""",
        DAILY_ATTENDANCE: f"""
    WITH {ctes},
    {_ENROLLED_PER_DAY},
    facts_per_day AS (
        SELECT school_code, attendance_date,
               {_counts("")},
               CAST(SUM(tardy_count) AS BIGINT) AS tardies
        FROM {facts} GROUP BY school_code, attendance_date)
    SELECT i.school_code, i.attendance_date,
           COALESCE(n.enrolled, 0) AS enrolled, COALESCE(n.enrolled, 0) - COALESCE(f.absent, 0) AS present,
           COALESCE(f.absent, 0) AS absent, COALESCE(f.excused, 0) AS excused,
           COALESCE(f.unexcused, 0) AS unexcused, COALESCE(f.unverified, 0) AS unverified,
           COALESCE(f.suspended, 0) AS suspended, COALESCE(f.tardies, 0) AS tardies,
           CAST(n.enrolled - COALESCE(f.absent, 0) AS DOUBLE PRECISION) / NULLIF(n.enrolled, 0) AS attendance_rate
    FROM instructional i
    LEFT JOIN enrolled_per_day n ON n.school_code = i.school_code AND n.attendance_date = i.attendance_date
    LEFT JOIN facts_per_day f ON f.school_code = i.school_code AND f.attendance_date = i.attendance_date""",
        STUDENT_ATTENDANCE_SUMMARY: f"""
    WITH {ctes},
    latest_enter AS (
        SELECT school_code, student_id, MAX(enter_date) AS enter_date
        FROM {t['enrollment']} GROUP BY school_code, student_id),
    latest_grade AS (
        SELECT e.school_code, e.student_id, MAX(e.grade) AS grade
        FROM {t['enrollment']} e JOIN latest_enter l
          ON l.school_code = e.school_code AND l.student_id = e.student_id AND l.enter_date = e.enter_date
        GROUP BY e.school_code, e.student_id),
    {_ENROLLED_PER_STUDENT},
    facts_per_student AS (
        SELECT school_code, student_id,
               {_counts("days_")},
               CAST(SUM(tardy_count) AS BIGINT) AS tardies,
               CAST(SUM(CASE WHEN truancy_event THEN 1 ELSE 0 END) AS BIGINT) AS truancy_events
        FROM {facts} GROUP BY school_code, student_id),
    per_student AS (
        SELECT n.school_code, n.student_id, n.days_enrolled, COALESCE(f.days_absent, 0) AS days_absent,
               COALESCE(f.days_excused, 0) AS days_excused, COALESCE(f.days_unexcused, 0) AS days_unexcused,
               COALESCE(f.days_unverified, 0) AS days_unverified, COALESCE(f.days_suspended, 0) AS days_suspended,
               COALESCE(f.tardies, 0) AS tardies, COALESCE(f.truancy_events, 0) AS truancy_events
        FROM enrolled_per_student n
        LEFT JOIN facts_per_student f ON f.school_code = n.school_code AND f.student_id = n.student_id)
    SELECT s.school_code, s.student_id, g.grade, s.days_enrolled,
           s.days_enrolled - s.days_absent AS days_present, s.days_absent, s.days_excused,
           s.days_unexcused, s.days_unverified, s.days_suspended, s.tardies, s.truancy_events,
           CAST(s.days_enrolled - s.days_absent AS DOUBLE PRECISION) / s.days_enrolled AS attendance_rate,
           (s.days_enrolled >= {min_days} AND s.days_absent >= {rate} * s.days_enrolled) AS chronically_absent,
           (s.truancy_events >= {truant_events}) AS truant,
           t.data_through
    FROM per_student s
    JOIN {t['data_through']} t ON t.school_code = s.school_code
    LEFT JOIN latest_grade g ON g.school_code = s.school_code AND g.student_id = s.student_id
    WHERE s.days_enrolled > 0""",
        SCHOOL_ATTENDANCE_SUMMARY: f"""
    WITH days AS (
        SELECT school_code, COUNT(*) AS instructional_days FROM ({_instructional(t)}) i GROUP BY school_code),
    per_school AS (
        SELECT school_code, COUNT(*) AS students, CAST(SUM(days_present) AS BIGINT) AS days_present,
               CAST(SUM(days_enrolled) AS BIGINT) AS days_enrolled,
               CAST(SUM(CASE WHEN chronically_absent THEN 1 ELSE 0 END) AS BIGINT) AS chronic_absentees,
               CAST(SUM(CASE WHEN days_enrolled >= {min_days} THEN 1 ELSE 0 END) AS BIGINT)
                   AS chronic_absence_eligible
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


# Days enrolled without a row per student-day (7.4 million at 20 x 2,000, which took seconds to
# make and aggregate): a sweep over each school's timeline. Each enrollment span adds 1 from its
# enter date and takes it back at its leave date; at one date the span events sort before the
# day itself, so a student is enrolled on the enter date and not on the leave date.
_ENROLLED_PER_DAY = """span_events AS (
        SELECT school_code, enter_date AS event_date, 1 AS delta FROM enrolled_spans
        UNION ALL SELECT school_code, leave_date, -1 FROM enrolled_spans),
    day_timeline AS (
        SELECT school_code, event_date AS attendance_date, delta, 0 AS is_day FROM span_events
        UNION ALL SELECT school_code, attendance_date, 0, 1 FROM instructional),
    day_running AS (
        SELECT school_code, attendance_date, is_day,
               SUM(delta) OVER (PARTITION BY school_code ORDER BY attendance_date, is_day
                                ROWS UNBOUNDED PRECEDING) AS enrolled
        FROM day_timeline),
    enrolled_per_day AS (
        SELECT school_code, attendance_date, CAST(enrolled AS BIGINT) AS enrolled FROM day_running WHERE is_day = 1)"""

# A span's days enrolled = instructional days before its leave date - those before its enter date;
# "days before" is a running count of the school's instructional days, read at each span date
# (which sorts before a day of the same date).
_ENROLLED_PER_STUDENT = """span_probes AS (
        SELECT school_code, student_id, enter_date AS probe_date, -1 AS sign FROM enrolled_spans
        UNION ALL SELECT school_code, student_id, leave_date, 1 FROM enrolled_spans),
    probe_timeline AS (
        SELECT school_code, student_id, probe_date, sign, 0 AS is_day FROM span_probes
        UNION ALL SELECT school_code, NULL, attendance_date, 0, 1 FROM instructional),
    probe_running AS (
        SELECT school_code, student_id, sign, is_day,
               SUM(is_day) OVER (PARTITION BY school_code ORDER BY probe_date, is_day
                                 ROWS UNBOUNDED PRECEDING) AS days_before
        FROM probe_timeline),
    enrolled_per_student AS (
        SELECT school_code, student_id, CAST(SUM(sign * days_before) AS BIGINT) AS days_enrolled
        FROM probe_running WHERE is_day = 0 GROUP BY school_code, student_id)"""


def enrolled_facts_select(names: Dict[str, str], periods: Sequence[str]) -> str:
    """The SELECT of the coded days that are enrolled instructional days, which both day-level summaries read."""
    return f"WITH {_common_ctes(names, periods)} SELECT * FROM enrolled_facts"


def _counts(prefix: str) -> str:
    """Full-day absences and each kind's count, as SELECT columns (`absent`/`days_absent`, ...)."""
    kinds = (("excused", "excused"), ("unexcused", "unexcused"), ("unverified", "unverified"),
             ("suspended", "suspension"))
    columns = [f"CAST(SUM(CASE WHEN is_full_day_absent THEN 1 ELSE 0 END) AS BIGINT) AS {prefix}absent"]
    columns += [f"CAST(SUM(CASE WHEN absence_kind = '{kind}' THEN 1 ELSE 0 END) AS BIGINT) AS {prefix}{name}"
                for name, kind in kinds]
    return ",\n               ".join(columns)


def _instructional(t: Dict[str, str]) -> str:
    """Each school's instructional days up to its data-through date."""
    return f"""
        SELECT c.school_code, c.calendar_date AS attendance_date
        FROM {t['calendar_days']} c JOIN {t['data_through']} t ON t.school_code = c.school_code
        WHERE c.is_instructional_day AND c.calendar_date <= t.data_through"""


def _facts(t: Dict[str, str], periods: Sequence[str]) -> str:
    """One row per attendance record: its full-day absence, absence kind, tardies and truancy event.

    The TypeCode of each code is already in the record, as its status (`all_day_status`,
    `period_N_status`: excused, unexcused, unverified); only the two flags are looked up, in the
    few codes that carry them: the record's codes as an array, overlapped with its school's
    flagged codes (`flag_codes`, one row per school). Joining `absence_codes` once per code
    column instead took 2-3 s at 20 x 2,000 on Postgres. A row-value `IN` list per column (22 of
    them) took DuckDB 2.2 s there and more memory than the command's `memory_limit` (100MB);
    the one join takes 0.2 s and fits in 50MB at 20 x 4,000.
    """
    slots = ["all_day"] + [f"period_{p}" for p in periods]
    period_slots = slots[1:]
    record_codes = "ARRAY[" + ", ".join(f"r.{slot}_code" for slot in slots) + "]"

    def flagged(codes: str) -> str:
        return f"{record_codes} && fc.{codes}"

    has_period_code = " OR ".join(f"r.{slot}_code IS NOT NULL" for slot in period_slots) or "FALSE"
    all_periods_excused = " AND ".join(
        f"(r.{slot}_code IS NULL OR r.{slot}_status = 'absent_excused')" for slot in period_slots) or "TRUE"
    any_period_unexcused = " OR ".join(
        f"(r.{slot}_code IS NOT NULL AND r.{slot}_status = 'absent_unexcused')" for slot in period_slots) or "FALSE"
    return f"""
        SELECT r.school_code, r.student_id, r.attendance_date,
               COALESCE(r.is_full_day_absent, FALSE) AS is_full_day_absent,
               CASE WHEN NOT COALESCE(r.is_full_day_absent, FALSE) THEN NULL
                    WHEN {flagged("suspension_codes")} THEN 'suspension'
                    WHEN r.all_day_status = 'absent_excused' THEN 'excused'
                    WHEN r.all_day_status = 'absent_unexcused' THEN 'unexcused'
                    WHEN r.all_day_status = 'absent_unverified' THEN 'unverified'
                    WHEN ({has_period_code}) AND {all_periods_excused} THEN 'excused'
                    WHEN {any_period_unexcused} THEN 'unexcused'
                    ELSE 'unverified' END AS absence_kind,
               COALESCE(r.tardy_count, 0) AS tardy_count,
               COALESCE({flagged("truancy_codes")}, FALSE) AS truancy_event
        FROM {t['attendance_records']} r LEFT JOIN flag_codes fc ON fc.school_code = r.school_code"""


def _common_ctes(t: Dict[str, str], periods: Sequence[str], enrolled_facts: bool = True) -> str:
    """The CTEs the day-level views share: instructional days, enrolled days, and the facts of coded days.

    `enrolled` holds one row per student x school x instructional day enrolled. Enrollment rows
    of a student at a school are first merged where they overlap or touch (gaps and islands), so
    every day comes from exactly one span and no DISTINCT over millions of student-days is
    needed. `facts` describes the days Aeries holds a code for (the only days that can differ
    from "present"); `enrolled_facts` keeps those that are enrolled instructional days, so the
    summaries aggregate the few coded days instead of joining every student-day.
    """
    ctes = f"""instructional AS ({_instructional(t)}),
    spans AS (
        SELECT school_code, student_id, enter_date, COALESCE(leave_date, DATE '9999-12-31') AS leave_date
        FROM {t['enrollment']} WHERE leave_date IS NULL OR leave_date > enter_date),
    span_starts AS (
        SELECT school_code, student_id, enter_date, leave_date,
               CASE WHEN enter_date <= MAX(leave_date) OVER (
                        PARTITION BY school_code, student_id ORDER BY enter_date, leave_date
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS starts
        FROM spans),
    span_islands AS (
        SELECT school_code, student_id, enter_date, leave_date,
               SUM(starts) OVER (PARTITION BY school_code, student_id ORDER BY enter_date, leave_date
                                 ROWS UNBOUNDED PRECEDING) AS island
        FROM span_starts),
    enrolled_spans AS (
        SELECT school_code, student_id, MIN(enter_date) AS enter_date, MAX(leave_date) AS leave_date
        FROM span_islands GROUP BY school_code, student_id, island),
    enrolled AS (
        SELECT i.school_code, s.student_id, i.attendance_date
        FROM instructional i JOIN enrolled_spans s ON s.school_code = i.school_code
         AND s.enter_date <= i.attendance_date AND i.attendance_date < s.leave_date),
    flag_codes AS (
        SELECT school_code,
               ARRAY_AGG(absence_code) FILTER (WHERE is_suspension) AS suspension_codes,
               ARRAY_AGG(absence_code) FILTER (
                   WHERE (type_code = 3 AND NOT COALESCE(is_suspension, FALSE)) OR is_partial_day_truant)
                   AS truancy_codes
        FROM {t['absence_codes']} GROUP BY school_code),
    facts AS ({_facts(t, periods)})"""
    if not enrolled_facts:
        # Postgres inlines a CTE referenced once, so a filter on the view reaches the tables; a
        # second reference would make it compute every school's days first.
        return ctes
    return ctes + """,
    enrolled_facts AS (
        SELECT f.* FROM facts f
        JOIN instructional i ON i.school_code = f.school_code AND i.attendance_date = f.attendance_date
        JOIN enrolled_spans s ON s.school_code = f.school_code AND s.student_id = f.student_id
         AND s.enter_date <= f.attendance_date AND f.attendance_date < s.leave_date)"""
