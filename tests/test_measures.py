"""The measure views equal the measures computed in Python from the simulator's truth, on both destinations."""

from datetime import date
from fractions import Fraction
from typing import Any, Dict, Tuple

import pytest

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_source.measures import MeasuresConfiguration, create_measures
from aeries_sync.pipeline import make_pipeline
from aeries_sync.runner import EXIT_OK, run_sync
from tests.measures_truth import Thresholds, expected_measures
from tests.sync_truth import query

VIEWS = {
    "student_days": ("school_code, student_id, attendance_date",
                     "is_full_day_absent, absence_kind, tardy_count, truancy_event"),
    "daily_attendance": ("school_code, attendance_date",
                         "enrolled, present, absent, excused, unexcused, unverified, suspended, tardies, "
                         "attendance_rate"),
    "student_attendance_summary": ("school_code, student_id",
                                   "grade, days_enrolled, days_present, days_absent, days_excused, days_unexcused, "
                                   "days_unverified, days_suspended, tardies, truancy_events, attendance_rate, "
                                   "chronically_absent, truant, data_through"),
    "school_attendance_summary": ("school_code",
                                  "students, instructional_days, ada, attendance_rate, chronic_absentees, "
                                  "chronic_absence_eligible, chronic_absenteeism_rate, data_through"),
}


# Period-school days without an all-day code, each taking one path of the absence-kind rules
# (the simulator's own data rarely has them): every meeting period gets the code, except where
# a second code is given for the first period.
SCRIPTED_PERIOD_DAYS = (
    ("E", None),  # every period excused -> excused
    ("E", "U"),  # excused with one unexcused period -> unexcused
    ("E", "A"),  # excused with one unverified period -> unverified
    ("A", "X"),  # a suspension code in one period -> suspension
)


def script_period_days(sim: AeriesSimulator, school_code: int, student_id: int) -> None:
    """Write `SCRIPTED_PERIOD_DAYS` on October school days, and a partial-day truant tardy on a present day."""
    days = [(row["CalendarDate"][:10], row["PeriodBlockPattern"]) for row in sim.truth_calendar(school_code)
            if row["CalendarDate"].startswith("2024-10") and not row["HolidayCode"]]
    for (day, pattern), (code, first) in zip(days, SCRIPTED_PERIOD_DAYS, strict=False):
        when = date.fromisoformat(day)
        sim.clear_absence(school_code, student_id, when)
        meeting = [p for p in pattern if p.isdigit()] or sim.school_periods(school_code)
        sim.set_attendance(school_code, student_id, when, None,
                           {p: (first if first and n == 0 else code) for n, p in enumerate(meeting)})
    late = date.fromisoformat(days[len(SCRIPTED_PERIOD_DAYS)][0])
    sim.clear_absence(school_code, student_id, late)
    sim.add_period_code(school_code, student_id, late, sim.school_periods(school_code)[0], "L")


def _plain(value: Any) -> Any:
    """One representation for both databases: floats rounded (rates), Decimals and int128s as int."""
    if isinstance(value, float):
        return round(value, 9)
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (bool, int)):
        return int(value)
    return value


def loaded_measures(options: Any) -> Dict[str, Dict[Any, Tuple[Any, ...]]]:
    """Every measure view's rows, keyed like `expected_measures`."""
    loaded: Dict[str, Dict[Any, Tuple[Any, ...]]] = {}
    for view, (key, values) in VIEWS.items():
        width = len(key.split(","))
        rows = query(options, f"SELECT {key}, {values} FROM {{t:{view}}}")
        table: Dict[Any, Tuple[Any, ...]] = {}
        for row in rows:
            k = row[:width] if width > 1 else row[0]
            assert k not in table, f"{view}: key {k} twice"
            table[k] = tuple(_plain(v) for v in row[width:])
        loaded[view] = table
    return loaded


def _rounded(expected: Dict[str, Dict[Any, Tuple[Any, ...]]]) -> Dict[str, Dict[Any, Tuple[Any, ...]]]:
    return {view: {k: tuple(_plain(v) for v in values) for k, values in rows.items()}
            for view, rows in expected.items()}


def _assert_equal(loaded: Dict[str, Any], expected: Dict[str, Any]) -> None:
    for view in VIEWS:
        got, want = loaded[view], expected[view]
        assert set(got) == set(want), (view, sorted(set(got) ^ set(want))[:5])
        wrong = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
        assert not wrong, (view, len(wrong), wrong[:3])


@pytest.mark.parametrize("today", [None, date(2025, 3, 12)], ids=["full_year", "mid_year_march"])
def test_measures_equal_the_truth(make_options: Any, destination: str, today: Any) -> None:
    spec = DistrictSpec(seed=11, schools=3, students_per_school=30, today=today)
    with AeriesSimulator(spec) as sim:
        # Changes that exercise each absence kind's path: a withdrawal mid-year and a late enrollment.
        sim.withdraw_student(102, 10200003, date(2024, 12, 2))
        sim.enroll_student(101, 5, date(2024, 10, 7))
        script_period_days(sim, 102, 10200001)
        options = make_options(sim, destination)
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
        assert result.measures[:4] == list(VIEWS)
        through = min(spec.last_day, sim.today)
        stored = {row[0]: row[1] for row in query(options, "SELECT school_code, data_through FROM {t:data_through}")}
        assert stored == {sc: through for sc in sim.school_codes()}
        expected = _rounded(expected_measures(sim, through))
        loaded = loaded_measures(options)
        # Two Python computations of the student days agree: this file's and the simulator's own.
        simulator_days = {(sc, d["student_id"], d["attendance_date"]): (
            d["is_full_day_absent"], d["absence_kind"], d["tardy_count"], d["truancy_event"])
            for sc in sim.school_codes() for d in sim.truth_student_days(sc, through)}
        assert simulator_days == expected["student_days"]
    _assert_equal(loaded, expected)
    scripted = [v for k, v in sorted(expected["student_days"].items())
                if k[:2] == (102, 10200001) and k[2].month == 10][:len(SCRIPTED_PERIOD_DAYS) + 1]
    assert [v[:2] for v in scripted] == [(True, "excused"), (True, "unexcused"), (True, "unverified"),
                                        (True, "suspension"), (False, None)]
    assert scripted[-1][3] and scripted[-1][2] == 1  # the late-over-30-minutes code: a tardy and a truancy event
    assert any(v[3] for v in expected["student_days"].values())
    assert any(v[3] > 0 for v in expected["school_attendance_summary"].values())  # some chronic absentees


def test_thresholds_come_from_the_measures_settings(sim: AeriesSimulator, make_options: Any) -> None:
    options = make_options(sim, "duckdb")
    assert run_sync(options).exit_code == EXIT_OK
    config = MeasuresConfiguration(chronic_absence_rate=0.03, chronic_min_days_enrolled=100,
                                   truancy_events_for_truant=1)
    assert create_measures(make_pipeline(options), config)[:4] == list(VIEWS)
    through = min(sim.spec.last_day, sim.today)
    expected = _rounded(expected_measures(sim, through, Thresholds(Fraction(3, 100), 100, 1)))
    _assert_equal(loaded_measures(options), expected)


def test_reconciliation_is_empty_until_aeries_disagrees(make_options: Any, destination: str) -> None:
    spec = DistrictSpec(seed=11, schools=3, students_per_school=30, today=date(2025, 3, 12))
    with AeriesSimulator(spec) as sim:
        options = make_options(sim, destination, attendance_history=True)
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
        assert "attendance_reconciliation" in result.measures
        history = query(options, "SELECT school_code, student_id, days_enrolled, days_absence "
                                 "FROM {t:attendance_history_summary}")
        summaries = {sc: sim.truth_history_summary(sc) for sc in sim.school_codes()}
        assert len(history) == sum(len(rows) for rows in summaries.values())  # one summary per student and school
        assert query(options, "SELECT * FROM {t:attendance_reconciliation}") == []

        sim.adjust_history(102, 10200007, "DaysAbsence", 2)
        result = run_sync(options)  # a delta sync reloads Aeries's counts
        assert result.exit_code == EXIT_OK, result.message
        ours = query(options, "SELECT days_enrolled, days_absent FROM {t:student_attendance_summary} "
                              "WHERE school_code = 102 AND student_id = 10200007")[0]
        rows = query(options, "SELECT school_code, student_id, days_enrolled, aeries_days_enrolled, days_absent, "
                              "aeries_days_absent FROM {t:attendance_reconciliation}")
    assert [tuple(_plain(v) for v in row) for row in rows] == [
        (102, 10200007, ours[0], ours[0], ours[1], ours[1] + 2)]


def test_measures_are_refreshed_in_place_keeping_what_depends_on_them(make_options: Any, destination: str) -> None:
    spec = DistrictSpec(seed=11, schools=2, students_per_school=12, today=date(2025, 3, 12))
    with AeriesSimulator(spec) as sim:
        options = make_options(sim, destination)
        assert run_sync(options).exit_code == EXIT_OK
        app = f"{options.dataset_name}_app"
        with make_pipeline(options).sql_client() as client:
            summary = client.make_qualified_table_name("school_attendance_summary")
            client.execute_sql(f"CREATE SCHEMA {app}")
            client.execute_sql(f"CREATE VIEW {app}.school_rates AS SELECT school_code, attendance_rate FROM {summary}")
        before = dict(query(options, f"SELECT school_code, instructional_days FROM {app}.school_rates "
                                     f"JOIN {{t:school_attendance_summary}} USING (school_code)"))
        sim.advance_clock(days=7)
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
        assert result.measures_error is None and result.measures[:4] == list(VIEWS)
        after = dict(query(options, f"SELECT school_code, instructional_days FROM {app}.school_rates "
                                    f"JOIN {{t:school_attendance_summary}} USING (school_code)"))
        through = min(spec.last_day, sim.today)
        expected = _rounded(expected_measures(sim, through))
        loaded = loaded_measures(options)
    assert set(after) == set(before) and all(after[sc] > before[sc] for sc in before)  # a week more of school
    _assert_equal(loaded, expected)


def test_measures_analyze_the_tables_a_sync_just_loaded_on_postgres(sim: AeriesSimulator, make_options: Any) -> None:
    # Without statistics Postgres planned the facts of a small district as a nested loop over the
    # attendance (4.4 s for 2,224 records); autovacuum would analyze them only up to a minute later.
    options = make_options(sim, "postgres")
    assert run_sync(options).exit_code == EXIT_OK
    analyzed = dict(query(options, "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                   f"WHERE schemaname = '{options.dataset_name}'"))
    read = ("attendance_records", "calendar_days", "enrollment", "absence_codes", "data_through")
    assert {name: analyzed.get(name) for name in read} == dict.fromkeys(read, True)
    assert analyzed["students"] is False  # not read by the measures: left to autovacuum
