"""Rows of the per-school tables (students, enrollment) as Arrow tables, typed as dlt would type them.

dlt writes Arrow tables as they are; dict rows go through its JSON-lines normalizer, which held
45 MiB at a full-year sync's peak and took about a tenth of its time (profiled). A set of rows
whose types dlt would resolve differently (a column of mixed types, a value unlike the column's
known type) stays as dict rows, so dlt coerces it exactly as before.
"""

from datetime import date, datetime
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence

import pyarrow as pa

# dlt data type -> the Arrow type dlt reads back as that data type.
_ARROW_TYPES: Dict[str, pa.DataType] = {
    "bigint": pa.int64(), "text": pa.string(), "bool": pa.bool_(), "date": pa.date32(), "double": pa.float64(),
}
_MIXED = "mixed"


def _data_type(values: Sequence[Any]) -> Optional[str]:
    """The dlt data type of a column's values: None when all are None, `mixed` when dlt would need variants."""
    found: Optional[str] = None
    for value in values:
        if value is None:
            continue
        kind = type(value)
        if kind is bool:
            this = "bool"
        elif kind is int:
            this = "bigint"
        elif kind is float:
            this = "double"
        elif kind is str:
            this = "text"
        elif isinstance(value, date) and not isinstance(value, datetime):
            this = "date"
        else:
            return _MIXED
        if found is None:
            found = this
        elif found != this:
            return _MIXED
    return found


def values_table(rows: Sequence[Mapping[str, Any]]) -> Optional[pa.Table]:
    """Return the rows as an Arrow table typed by their values alone, or None when they must stay dict rows.

    The first step of `rows_table`, which a reading thread can take page by page: an Arrow page
    holds a thousand students in a fraction of the memory of their dicts (measured). A column with
    no value at all has Arrow's null type until `typed_table` knows its type.

    Returns:
        A table with a column per key, in the rows' key order; None when a column's values are of
        mixed or unsupported types, or do not fit their type (an integer beyond 64 bits).
    """
    names: List[str] = []
    seen = set()
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    arrays: List[pa.Array] = []
    for name in names:
        values = [row.get(name) for row in rows]
        found = _data_type(values)
        if found == _MIXED:
            return None
        arrow_type = pa.null() if found is None else _ARROW_TYPES.get(found)
        if arrow_type is None:
            return None
        try:
            arrays.append(pa.array(values, type=arrow_type))
        except (pa.ArrowInvalid, OverflowError):  # dlt decides what such a value becomes
            return None
    return pa.Table.from_arrays(arrays, names=names)


def typed_table(
    parts: Sequence[pa.Table], declared: Mapping[str, Mapping[str, Any]],
    known: Mapping[str, Mapping[str, Any]], not_null: Collection[str] = (),
) -> Optional[pa.Table]:
    """Return `values_table` parts of one table's rows as one table typed as dlt would type the rows, or None.

    Args:
        parts: Tables made by `values_table` from consecutive sets of rows.
        declared: The columns the rows' hints declare (name -> dlt column spec).
        known: The table's columns in the schema so far (the destination's types).
        not_null: Columns that are NOT NULL besides those `declared` so (the table's keys). Their
            Arrow fields say so too: dlt warns about every item whose Arrow schema disagrees with
            its hints.

    Returns:
        A table with a column per key that has a value or a declared type (dlt makes no column for
        a value without a type either), typed as the schema knows it, else as declared, else as
        the values are; None when the parts' types of a column differ, or differ from its known
        type, or a NOT NULL column holds a NULL.
    """
    if not parts:
        return None
    try:
        combined = pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column of different types in two parts: mixed
        return None
    fields: List[pa.Field] = []
    arrays: List[Any] = []
    for name, column in zip(combined.column_names, combined.columns, strict=True):
        target = (known.get(name) or {}).get("data_type") or (declared.get(name) or {}).get("data_type")
        if pa.types.is_null(column.type):
            if target is None:
                continue
            arrow_type = _ARROW_TYPES.get(target)
            if arrow_type is None:
                return None
            column = pa.nulls(len(column), type=arrow_type)
        elif target is not None and _ARROW_TYPES.get(target) != column.type:
            return None
        nullable = (declared.get(name) or {}).get("nullable", True) and name not in not_null
        if not nullable and column.null_count:
            return None
        fields.append(pa.field(name, column.type, nullable=bool(nullable)))
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else None


def rows_table(
    rows: Sequence[Mapping[str, Any]], declared: Mapping[str, Mapping[str, Any]],
    known: Mapping[str, Mapping[str, Any]], not_null: Collection[str] = (),
) -> Optional[pa.Table]:
    """Return the rows as one Arrow table typed as dlt would type them, or None when they must stay dict rows.

    `values_table` then `typed_table` (see both for the arguments and the result).
    """
    part = values_table(rows)
    return None if part is None else typed_table([part], declared, known, not_null)
