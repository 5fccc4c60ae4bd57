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


def rows_table(
    rows: Sequence[Mapping[str, Any]], declared: Mapping[str, Mapping[str, Any]],
    known: Mapping[str, Mapping[str, Any]], not_null: Collection[str] = (),
) -> Optional[pa.Table]:
    """Return the rows as one Arrow table, or None when they must stay dict rows.

    Args:
        rows: Dict rows of one table.
        declared: The columns the rows' hints declare (name -> dlt column spec).
        known: The table's columns in the schema so far (the destination's types).
        not_null: Columns that are NOT NULL besides those `declared` so (the table's keys). Their
            Arrow fields say so too: dlt warns about every item whose Arrow schema disagrees with
            its hints.

    Returns:
        A table with a column per key that has a value or a declared type (dlt makes no column for
        a value without a type either), typed as the schema knows it, else as declared, else as
        the values are; None when a column's values are of mixed types or unlike its known type.
    """
    names: List[str] = []
    seen = set()
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    fields: List[pa.Field] = []
    arrays: List[pa.Array] = []
    for name in names:
        values = [row.get(name) for row in rows]
        found = _data_type(values)
        if found == _MIXED:
            return None
        target = (known.get(name) or {}).get("data_type") or (declared.get(name) or {}).get("data_type")
        if found is None:
            if target is None:
                continue
            found = target
        elif target is not None and target != found:
            return None
        arrow_type = _ARROW_TYPES.get(found)
        if arrow_type is None:
            return None
        nullable = (declared.get(name) or {}).get("nullable", True) and name not in not_null
        if not nullable and any(v is None for v in values):
            return None
        fields.append(pa.field(name, arrow_type, nullable=bool(nullable)))
        arrays.append(pa.array(values, type=arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else None
