"""Rows as Arrow tables, typed as dlt would type them, or left as dict rows when dlt would resolve them otherwise."""

from datetime import date, datetime
from typing import Any, Dict, List

import pyarrow as pa

from aeries_source.arrow_rows import rows_table, typed_table, values_table


def test_columns_take_the_types_dlt_gives_their_values() -> None:
    rows = [{"student_id": 1, "last_name": "A", "grade": 9, "active": True, "enter": date(2024, 8, 15), "gpa": 3.5},
            {"student_id": 2, "last_name": None, "grade": 10, "active": False, "enter": None, "gpa": None}]
    table = rows_table(rows, {}, {})
    assert table is not None
    assert dict(zip(table.column_names, table.schema.types, strict=True)) == {
        "student_id": pa.int64(), "last_name": pa.string(), "grade": pa.int64(), "active": pa.bool_(),
        "enter": pa.date32(), "gpa": pa.float64()}
    assert table.to_pylist() == rows


def test_a_column_without_values_needs_a_declared_or_known_type() -> None:
    rows = [{"student_id": 1, "track": None, "leave": None, "nothing": None}]
    table = rows_table(rows, {"track": {"data_type": "text"}}, {"leave": {"data_type": "date"}})
    assert table is not None
    assert table.column_names == ["student_id", "track", "leave"]  # dlt makes no column of untyped NULLs
    assert table.schema.field("leave").type == pa.date32()


def test_rows_dlt_would_coerce_or_split_stay_dict_rows() -> None:
    assert rows_table([{"number": 1}, {"number": "2"}], {}, {}) is None  # mixed: dlt would add a variant
    assert rows_table([{"number": 1}], {}, {"number": {"data_type": "text"}}) is None  # unlike the known type
    assert rows_table([{"when": datetime(2024, 8, 15, 7, 30)}], {}, {}) is None  # no timestamps here
    assert rows_table([{"terms": [1, 2]}], {}, {}) is None  # nested values
    declared = {"enter_date": {"data_type": "date", "nullable": False}}
    assert rows_table([{"enter_date": None}], declared, {}) is None  # NULL in a NOT NULL column


def test_a_not_null_declared_column_is_declared_so_in_arrow() -> None:
    declared = {"enter_date": {"data_type": "date", "nullable": False}}
    table = rows_table([{"enter_date": date(2024, 8, 15)}], declared, {})
    assert table is not None and not table.schema.field("enter_date").nullable


def test_key_columns_are_not_null_in_arrow_as_in_dlts_hints() -> None:
    # dlt warns for every item whose Arrow schema disagrees with its hints (keys are NOT NULL there)
    table = rows_table([{"student_id": 1, "school_code": 101, "grade": None}], {}, {"grade": {"data_type": "bigint"}},
                       not_null=("student_id", "school_code"))
    assert table is not None
    assert [f.nullable for f in table.schema] == [False, False, True]
    assert rows_table([{"student_id": None}], {}, {}, not_null=("student_id",)) is None


def test_parts_of_a_table_combine_as_the_rows_would_in_one_table() -> None:
    first: List[Dict[str, Any]] = [{"student_id": 1, "grade": None, "track": None},
                                   {"student_id": 2, "grade": None, "track": None}]
    second: List[Dict[str, Any]] = [{"student_id": 3, "grade": 11, "track": None, "leave": date(2025, 6, 1)}]
    parts = [values_table(first), values_table(second)]
    assert all(p is not None for p in parts)
    declared = {"track": {"data_type": "text"}}
    combined = typed_table([p for p in parts if p is not None], declared, {})
    assert combined == rows_table(first + second, declared, {})
    assert combined is not None and combined.column_names == ["student_id", "grade", "track", "leave"]
    assert combined.schema.field("grade").type == pa.int64()  # NULLs of one part take the other part's type


def test_parts_that_disagree_stay_dict_rows() -> None:
    number, text = values_table([{"number": 1}]), values_table([{"number": "1"}])
    assert number is not None and text is not None
    assert typed_table([number, text], {}, {}) is None  # mixed across parts, as within one
    assert typed_table([], {}, {}) is None


def test_a_value_arrow_cannot_hold_leaves_the_rows_to_dlt() -> None:
    assert values_table([{"student_id": 2**63}]) is None  # beyond bigint: dlt decides what it becomes
    assert rows_table([{"student_id": 2**63}], {}, {}) is None


def test_an_arrow_part_gives_back_the_rows_it_was_made_from() -> None:
    rows = [{"student_id": 1, "last_name": "A", "enter": date(2024, 8, 15), "gpa": 3.5, "active": True, "x": None}]
    part = values_table(rows)
    assert part is not None and part.to_pylist() == rows  # the dict path's rows when parts must stay dicts
