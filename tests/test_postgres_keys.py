"""Postgres tables carry their primary keys as real constraints, and merges go on working with them."""

from sync_truth import assert_attendance_matches, query

from aeries_sync.runner import EXIT_OK, run_sync


def _primary_keys(options) -> dict:
    rows = query(options, """
        SELECT tc.table_name, kcu.column_name, kcu.ordinal_position
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = '{dataset}'
        ORDER BY tc.table_name, kcu.ordinal_position""".replace("{dataset}", options.dataset_name))
    keys: dict = {}
    for table, column, _ in rows:
        keys.setdefault(table, set()).add(column)
    return keys


def test_primary_keys_are_constraints_and_reruns_still_merge(sim, make_options):
    from datetime import date

    options = make_options(sim, "postgres", start_date=date(2024, 9, 2), end_date=date(2024, 10, 11))
    assert run_sync(options).exit_code == EXIT_OK
    keys = _primary_keys(options)
    assert keys.get("attendance_records") == {"school_code", "student_id", "attendance_date"}
    assert keys.get("students") == {"student_id", "school_code"}
    assert keys.get("enrollment") == {"student_id", "school_code", "academic_year", "enter_date"}
    assert keys.get("calendar_days") == {"school_code", "calendar_date"}
    assert keys.get("absence_codes") == {"school_code", "absence_code"}
    assert keys.get("schools") == {"school_code"}
    assert keys.get("sync_runs") == {"operation_id"}
    assert keys.get("sync_batches") == {"operation_id", "batch"}
    # the same range again merges over the constrained tables without a conflict
    again = run_sync(options)
    assert again.exit_code == EXIT_OK, again.message
    assert_attendance_matches(sim, options, date(2024, 9, 2), date(2024, 10, 11))
