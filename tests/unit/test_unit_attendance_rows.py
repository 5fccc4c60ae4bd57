"""Unit tests of how one batch's Aeries payload becomes attendance rows, tombstones and rejects."""

import weakref
from datetime import date
from typing import Iterator, List

import pyarrow as pa
from test_unit_transform import cls, daily_ctx, day, period_ctx

from aeries_source.attendance import _batch_table, _gathered
from aeries_source.attendance_table import ATTENDANCE_SCHEMA
from aeries_source.planning import Batch, SyncPlan
from aeries_source.runtime import SyncRuntime
from aeries_source.tables import TOMBSTONE_COLUMN

WINDOW = Batch(number=7, school_code=902, start=date(2024, 9, 1), end=date(2024, 9, 30))
STUDENT = 90000001  # synthetic id


def make_runtime() -> SyncRuntime:
    return SyncRuntime(client=None, plan=SyncPlan(mode="full", ranges=[], batches=[WINDOW]),  # type: ignore[arg-type]
                       run_id="run0000000000001")


def _batch_rows(*args):  # type: ignore[no-untyped-def]
    """The batch as rows (dicts of every declared column), its record count and rejects."""
    table, records, rejected = _batch_table(*args)
    assert table.schema == ATTENDANCE_SCHEMA, "typed as the table is declared, every batch alike"
    rows = table.to_pylist()
    assert records == sum(1 for r in rows if not r[TOMBSTONE_COLUMN])
    return rows, rejected


def test_each_window_day_gets_a_tombstone_and_each_student_day_one_row() -> None:
    payload = [{"StudentID": STUDENT, "AttendanceDays": [day("2024-09-03T00:00:00", "A")]}]
    rows, rejected = _batch_rows(make_runtime(), daily_ctx(), WINDOW, payload)
    tombstones = [r for r in rows if r[TOMBSTONE_COLUMN]]
    records = [r for r in rows if not r[TOMBSTONE_COLUMN]]
    assert len(tombstones) == 30 and not rejected
    assert [(r["student_id"], r["attendance_date"]) for r in records] == [(STUDENT, date(2024, 9, 3))]
    assert records[0]["sync_batch"] == 7 and records[0]["sync_run_id"] == "run0000000000001"
    assert {(r["sync_batch"], r["sync_batch_start"], r["sync_batch_end"]) for r in rows} == {
        (7, WINDOW.start, WINDOW.end)}, "every row, tombstones too, names its batch"
    assert records[0]["all_day_code"] == "A" and records[0]["is_full_day_absent"] is True
    assert tombstones[0]["all_day_code"] is None and tombstones[0]["student_id"] == 0


def test_period_codes_land_in_their_period_columns() -> None:
    payload = [{"StudentID": STUDENT, "AttendanceDays": [day("2024-09-03T00:00:00", "", [cls("3", "U", 3301)])]}]
    rows, rejected = _batch_rows(make_runtime(), period_ctx(), WINDOW, payload)
    (record,) = [r for r in rows if not r[TOMBSTONE_COLUMN]]
    assert not rejected
    assert (record["period_3_code"], record["period_3_section"]) == ("U", 3301)
    assert record["period_3_status"] != "present" and record["period_1_status"] == "present"
    assert record["period_9_code"] is None and record["period_9_status"] is None


def test_a_second_record_of_the_same_student_day_is_rejected_not_loaded_twice() -> None:
    """Rows are unique per student-day by construction; a duplicate in a response goes to rejects."""
    payload = [
        {"StudentID": STUDENT, "AttendanceDays": [day("2024-09-03T00:00:00", "A")]},
        {"StudentID": STUDENT, "AttendanceDays": [day("2024-09-03T00:00:00", "U")]},
    ]
    rows, rejected = _batch_rows(make_runtime(), daily_ctx(), WINDOW, payload)
    records = [r for r in rows if not r[TOMBSTONE_COLUMN]]
    assert len(records) == 1 and records[0]["all_day_code"] == "A", "the first record is kept"
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "second record of the same student and day in the response"
    assert rejected[0]["school_code"] == 902


def test_a_day_outside_the_window_is_rejected() -> None:
    payload = [{"StudentID": STUDENT, "AttendanceDays": [day("2024-10-01T00:00:00", "A")]}]
    rows, rejected = _batch_rows(make_runtime(), daily_ctx(), WINDOW, payload)
    assert all(r[TOMBSTONE_COLUMN] for r in rows)
    assert [r["reason"] for r in rejected] == ["CalendarDate outside the requested window"]


def test_a_daily_school_s_null_period_columns_share_one_array_per_type() -> None:
    import pyarrow as pa

    from aeries_source.attendance_columns import batch_values_of, vector_attendance_table
    from aeries_source.attendance_response import parse_attendance
    from aeries_source.attendance_table import NullColumns
    from aeries_source.pseudonym import Pseudonymizer

    students = [{"StudentID": STUDENT + n, "AttendanceDays": [day("2024-09-03T00:00:00", "A")]} for n in range(50)]
    parsed = parse_attendance(__import__("orjson").dumps(students))
    values = batch_values_of(WINDOW, "run0000000000001")
    built = vector_attendance_table(daily_ctx(), WINDOW, parsed.students, Pseudonymizer(None), values)
    assert built is not None, "a plain payload takes the column path"
    table = built[0]  # the window's tombstones, then the records: a chunk each
    assert table.column("period_0_status").num_chunks == 2
    for chunk in range(2):
        period_columns = [table.column(f"period_{p}_{kind}").chunk(chunk)
                          for p in range(10) for kind in ("status", "code", "section")]
        assert all(column.null_count == len(column) for column in period_columns)
        # 30 all-NULL columns, two arrays (text, bigint): at most 2 buffers each.
        distinct = {b.address for column in period_columns for b in column.buffers() if b is not None}
        assert len(distinct) <= 4, distinct
    nulls = NullColumns(3)
    assert nulls.of(pa.string()) is nulls.of(pa.string()) and nulls.of(pa.int64()).type == pa.int64()


def test_a_batch_table_is_not_held_while_the_school_s_next_batch_is_read() -> None:
    refs: List[weakref.ref] = []
    freed_while_reading: List[bool] = []

    def tracked(table: pa.Table) -> pa.Table:
        refs.append(weakref.ref(table))
        return table

    def batches() -> Iterator[pa.Table]:
        yield tracked(pa.table({"student_id": [1, 2]}))
        freed_while_reading.append(refs[0]() is None)  # the next request would be made here
        yield tracked(pa.table({"student_id": [3]}))

    items = _gathered(batches(), rows_per_item=1)
    first = next(items)
    assert first.data.num_rows == 2 and first.meta.table_name == "attendance_records"
    del first  # written by dlt
    assert next(items).data.num_rows == 1
    assert freed_while_reading == [True], "the school's last batch was still held while its next one was read"
