"""One batch of `attendance_records` rows as an Arrow table, typed as the table is declared."""

from typing import Any, Collection, Dict, List, Mapping, Sequence

import pyarrow as pa
from dlt.common.normalizers.utils import generate_dlt_ids

from aeries_source.tables import ATTENDANCE_RECORDS

# dlt data types of the attendance table -> Arrow types (the only ones the table declares).
_ARROW_TYPES: Dict[str, pa.DataType] = {
    "bigint": pa.int64(), "text": pa.string(), "date": pa.date32(), "bool": pa.bool_(),
}

def _schema() -> pa.Schema:
    fields = [
        pa.field(name, _ARROW_TYPES[spec["data_type"]], nullable=spec.get("nullable", True))
        for name, spec in ATTENDANCE_RECORDS.columns.items()
    ]
    return pa.schema(fields)


# Matches the declared hints exactly (types and nullability), so dlt takes each table as it is:
# no "arrow schema differs" warning and no rewrite in normalize.
ATTENDANCE_SCHEMA = _schema()


def attendance_table(rows: Sequence[Mapping[str, Any]], batch_values: Mapping[str, Any]) -> pa.Table:
    """Build the Arrow table of one batch's rows (tombstones included), in the declared column order.

    Building columns, not dicts, is what lets dlt skip its row normalizer: it writes an Arrow table
    straight to parquet (DuckDB) or csv (Postgres).

    Args:
        rows: The batch's rows as `transform.attendance_day_row` / `tombstone_row` return them; a
            column a row lacks is NULL there.
        batch_values: The columns that hold one value on every row of the batch (`sync_run_id`,
            `sync_batch`, ...), by name.
    """
    count = len(rows)
    # Most period columns are NULL on every row of a batch (a daily school has none): those are
    # made whole instead of being looked up row by row.
    present = set().union(*rows)
    nulls = NullColumns(count)
    arrays: List[pa.Array] = []
    for field in ATTENDANCE_SCHEMA:
        name = field.name
        if name in batch_values:
            arrays.append(repeated(batch_values[name], field.type, count))
        elif name in present:
            arrays.append(pa.array([row.get(name) for row in rows], type=field.type))
        else:
            arrays.append(nulls.of(field.type))
    return pa.Table.from_arrays(arrays, schema=ATTENDANCE_SCHEMA)


class NullColumns:
    """All-NULL columns of one table's length, one Arrow array per type shared by every such column.

    A daily school's rows have no period: 30 of the 45 columns are NULL on every row, and an
    array of NULLs per column still holds its own validity, offsets and values (measured: 160 of a
    row's 254 bytes while a school's rows wait to be gathered into an item). Arrow arrays are
    immutable, so the columns of a table can share one.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._made: Dict[pa.DataType, pa.Array] = {}

    def of(self, arrow_type: pa.DataType) -> pa.Array:
        """The all-NULL array of this type and the table's length."""
        made = self._made.get(arrow_type)
        if made is None:
            made = self._made[arrow_type] = pa.nulls(self.count, type=arrow_type)
        return made


def repeated(value: Any, arrow_type: pa.DataType, count: int) -> pa.Array:
    """Return one value repeated `count` times, without a Python list of that length."""
    return pa.repeat(pa.scalar(value, type=arrow_type), count)


# dlt's row columns, which its normalizer adds to dict rows and not to Arrow tables.
DLT_ROW_COLUMNS = ("_dlt_load_id", "_dlt_id")


def with_dlt_row_columns(table: pa.Table, names: Collection[str], load_id: str) -> pa.Table:
    """Add dlt's `_dlt_load_id` and `_dlt_id` (those in `names`) to a table of attendance rows.

    For a dataset whose `attendance_records` was first loaded as dict rows (before the Arrow path):
    there both columns are NOT NULL, and Arrow items without them fail to load.
    """
    count = table.num_rows
    for name in DLT_ROW_COLUMNS:
        if name in names and name not in table.column_names:
            values = (repeated(load_id, pa.string(), count) if name == "_dlt_load_id"
                      else pa.array(generate_dlt_ids(count), type=pa.string()))
            table = table.append_column(pa.field(name, pa.string(), nullable=False), values)
    return table
