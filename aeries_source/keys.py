"""Primary keys as real Postgres constraints: a public helper for any pipeline that loads the source."""

import logging
from typing import Any, Dict, Sequence

import dlt

logger = logging.getLogger(__name__)

# Indexes besides the primary keys: the merge of `attendance_records` deletes by its merge key.
SECONDARY_INDEXES: Dict[str, Sequence[Sequence[str]]] = {
    "attendance_records": (("school_code", "attendance_date"),),
}


def add_primary_keys(pipeline: dlt.Pipeline) -> None:
    """Give each Postgres table of the pipeline's dataset its primary key as a constraint, plus `SECONDARY_INDEXES`.

    Call it after a load into Postgres (the command does, after a sync's last pipeline run);
    calling it again is cheap. Other destinations are left alone.

    dlt declares primary keys in its schema only (it creates no constraint). Its merge
    deduplicates the staged rows on the key and deletes the matching rows before inserting, so a
    PRIMARY KEY constraint never rejects a merge; it guards against anything else writing
    duplicates and serves the merge's lookups. A table that already holds duplicates (written
    before this rule) keeps a plain index instead, and a warning says so.
    """
    if pipeline.destination.destination_name != "postgres" or not pipeline.default_schema_name:
        return
    schema = pipeline.default_schema
    with pipeline.sql_client() as client:
        for table in schema.data_tables():
            name = table["name"]
            key = [c["name"] for c in table["columns"].values() if c.get("primary_key")]
            qualified = client.make_qualified_table_name(name)
            if key and not _has_primary_key(client, name):
                cols = ", ".join(client.escape_column_name(c) for c in key)
                try:
                    client.execute_sql(f"ALTER TABLE {qualified} ADD PRIMARY KEY ({cols})")
                except Exception as exc:  # duplicates from an older version: keep an index, say so
                    logger.warning("table %s keeps no primary key constraint (%s); indexing its key instead",
                                   name, type(exc).__name__)
                    client.execute_sql(f"CREATE INDEX IF NOT EXISTS {name}_key_idx ON {qualified} ({cols})")
            for n, columns in enumerate(SECONDARY_INDEXES.get(name, ())):
                cols = ", ".join(client.escape_column_name(c) for c in columns)
                client.execute_sql(f"CREATE INDEX IF NOT EXISTS {name}_idx_{n} ON {qualified} ({cols})")


def _has_primary_key(client: Any, table: str) -> bool:
    rows = client.execute_sql(
        "SELECT 1 FROM information_schema.table_constraints WHERE table_schema = %s AND table_name = %s "
        "AND constraint_type = 'PRIMARY KEY'", client.dataset_name, table,
    )
    return bool(rows)
