"""Tables that exist from the first sync on, even while they have no rows.

dlt creates a table when its first row is loaded, so `rejects` did not exist until the first
reject and a dashboard querying it failed (likewise `attendance_records`, `sync_batches` and
`data_through` on a first sync with nothing to read). dlt's own way to create a table without
rows is to yield `dlt.mark.materialize_table_schema()` (an empty `MaterializedEmptyList`) with the
table's hints: dlt 1.31 then writes an empty items file for the table (`Extract` collects
`tables_with_empty`), and the load step creates the table with every column the hints declare
with a type. A plain empty list does not do this (dlt drops it), and columns declared without a
type are not created, which is why these tables' hints declare every column with its type.

The command also uses the resource to create every table a first sync writes, empty, before any
row is loaded (`aeries_sync.runner`, on Supabase: see `aeries_source.supabase`).
"""

from typing import Any, Iterator, Sequence

import dlt
from dlt.extract.resource import DltResource

from aeries_source.tables import ATTENDANCE_RECORDS, DATA_THROUGH, REJECTS, SYNC_BATCHES, Table

RESOURCE_NAME = "declared_tables"

# The tables other resources write only when there is something to write; `schools`,
# `calendar_days`, `absence_codes`, `students` and `enrollment` get rows on every first sync, and
# `sync_runs` is written by every sync of pipelines/attendance.py.
DECLARED_TABLES: Sequence[Table] = (REJECTS, SYNC_BATCHES, ATTENDANCE_RECORDS, DATA_THROUGH)


def declared_tables_resource(tables: Sequence[Table] = DECLARED_TABLES) -> DltResource:
    """The `declared_tables` resource: creates the given tables the destination does not have yet, empty.

    Args:
        tables: The tables to create; default `DECLARED_TABLES`. A table whose key columns have no
            declared type is created without its keys (dlt refuses a key column without values),
            with its typed columns and dlt's `_dlt_load_id` and `_dlt_id`; its first rows add the
            rest, keys included.
    """
    # Built from a generator object, not a decorated function: it takes nothing from config (see
    # attendance.attendance_resource).
    return dlt.resource(_materialize(tuple(tables)), name=RESOURCE_NAME)


def _materialize(tables: Sequence[Table]) -> Iterator[Any]:
    # A table already in the schema exists in the destination (or is in a package still to be
    # loaded); skipping it spares every later sync an empty load job per table.
    known = dlt.current.source_schema().tables
    for table in tables:
        if table.name not in known:
            yield dlt.mark.with_hints(dlt.mark.materialize_table_schema(), _hints(table), create_table_variant=True)


def _hints(table: Table) -> Any:
    keys = (*table.primary_key, *table.merge_key)
    if all(table.columns.get(name, {}).get("data_type") for name in keys):
        return table.hints()
    # Without values an untyped key column fails normalize (UnboundColumnException), and typing it
    # here would guess what Aeries sends: a wrong guess makes dlt add a variant column later.
    columns: Any = {name: dict(spec) for name, spec in table.columns.items()}
    return dlt.mark.make_hints(table_name=table.name, write_disposition="merge", columns=columns)
