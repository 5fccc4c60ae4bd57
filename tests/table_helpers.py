"""Read any table of a synced dataset, including ones `sync_truth.query` does not name."""

from typing import Any, Dict, List, Tuple

from aeries_sync.options import SyncOptions
from aeries_sync.pipeline import make_pipeline

# Every table the README's "Tables" list names.
README_TABLES = (
    "schools", "calendar_days", "absence_codes", "students", "enrollment", "attendance_records",
    "rejects", "sync_runs", "sync_batches", "data_through",
)
# Types the destinations report for text columns in information_schema.
TEXT_TYPES = {"varchar", "text", "character varying"}


def run_sql(options: SyncOptions, sql: str, *args: Any) -> List[Tuple[Any, ...]]:
    """Run SQL on the options' destination; `{name}` placeholders become qualified table names."""
    pipeline = make_pipeline(options)
    with pipeline.sql_client() as client:
        names = {t: client.make_qualified_table_name(t) for t in README_TABLES}
        rows = client.execute_sql(sql.format(**names), *args)
        return [tuple(r) for r in rows or []]


def column_types(options: SyncOptions, table: str) -> Dict[str, str]:
    """Return a table's columns in the destination with their lower-cased data types."""
    rows = run_sql(
        options,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        options.dataset_name, table,
    )
    return {name: str(kind).lower() for name, kind in rows}


def existing_tables(options: SyncOptions) -> set:
    """Return the names of the tables in the options' dataset."""
    rows = run_sql(options, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                   options.dataset_name)
    return {r[0] for r in rows}


def count_where(options: SyncOptions, table: str, condition: str) -> int:
    """Count a table's rows that meet an SQL condition (any table of the dataset, by name)."""
    pipeline = make_pipeline(options)
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        return int(client.execute_sql(f"SELECT COUNT(*) FROM {qualified} WHERE {condition}")[0][0])
