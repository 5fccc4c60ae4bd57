"""One rule on both destinations: empty (or blank) text from Aeries is loaded as NULL, never as ''."""

from table_helpers import TEXT_TYPES, column_types, count_where, existing_tables, run_sql

from aeries_sync.runner import EXIT_OK, run_sync


def _blank_text_cells(options) -> dict:
    """Count the '' (or whitespace-only) values per text column of every data table in the dataset."""
    found = {}
    for table in sorted(t for t in existing_tables(options) if not t.startswith("_dlt")):
        for column, kind in column_types(options, table).items():
            if kind in TEXT_TYPES:
                n = count_where(options, table, f"TRIM(\"{column}\") = ''")
                if n:
                    found[f"{table}.{column}"] = n
    return found


def _sim_blank_counts(sim) -> dict:
    codes = sim.school_codes()
    return {
        "holiday_code": sum(1 for sc in codes for r in sim.truth_calendar(sc) if not r["HolidayCode"].strip()),
        "ab_day": sum(1 for sc in codes for r in sim.truth_calendar(sc) if not r["ABDay"].strip()),
        "track": sum(1 for sc in codes for r in sim.truth_students(sc) if not r["Track"].strip()),
    }


def _loaded_null_counts(options) -> dict:
    return {
        "holiday_code": run_sql(options, "SELECT COUNT(*) FROM {calendar_days} WHERE holiday_code IS NULL")[0][0],
        "ab_day": run_sql(options, "SELECT COUNT(*) FROM {calendar_days} WHERE ab_day IS NULL")[0][0],
        "track": run_sql(options, "SELECT COUNT(*) FROM {students} WHERE track IS NULL")[0][0],
    }


def test_no_text_column_holds_an_empty_string(sim, make_options, destination):
    options = make_options(sim, destination)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message

    assert _blank_text_cells(options) == {}
    # A column whose values are all blank in Aeries is still created (as text, all NULL).
    assert column_types(options, "calendar_days")["ab_day"] in TEXT_TYPES
    assert column_types(options, "students")["track"] in TEXT_TYPES
    counts = _sim_blank_counts(sim)
    assert counts["holiday_code"] > 0
    assert {k: int(v) for k, v in _loaded_null_counts(options).items()} == counts
    # Instructional days (blank or "%" holiday code) still count as such.
    instructional = run_sql(options, "SELECT COUNT(*) FROM {calendar_days} WHERE is_instructional_day")[0][0]
    assert instructional == counts["holiday_code"]


def test_the_same_sql_gives_the_same_answer_on_both_destinations(sim, make_options):
    duck = make_options(sim, "duckdb")
    pg = make_options(sim, "postgres", pipeline_name="aeries_test_pg")
    for options in (duck, pg):
        result = run_sync(options)
        assert result.exit_code == EXIT_OK, result.message
    queries = [
        "SELECT COUNT(*) FROM {calendar_days} WHERE holiday_code IS NULL",
        "SELECT COUNT(*) FROM {calendar_days} WHERE period_block_pattern IS NULL",
        "SELECT COUNT(*) FROM {students} WHERE track IS NULL",
        "SELECT COUNT(*) FROM {students} WHERE inactive_status_code IS NULL",
        "SELECT COUNT(*) FROM {enrollment} WHERE exit_reason_code IS NULL",
        "SELECT COUNT(*) FROM {absence_codes} WHERE color_code IS NULL",
        "SELECT COUNT(*) FROM {attendance_records} WHERE all_day_code IS NULL",
    ]
    answers = {sql: (run_sql(duck, sql)[0][0], run_sql(pg, sql)[0][0]) for sql in queries}
    assert all(int(a) == int(b) for a, b in answers.values()), answers
    assert answers[queries[0]][0] == _sim_blank_counts(sim)["holiday_code"]
