"""Counting what a sync inserted, updated and deleted, by comparing table snapshots before and after."""

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import dlt

# Columns that change on every re-read without the data changing (lineage, not content).
_LINEAGE_PREFIXES = ("_dlt_", "sync_")

Snapshot = Dict[Tuple[Any, ...], Tuple[Any, ...]]


@dataclass
class ChangeCounts:
    """Rows inserted, updated (same key, different content) and deleted in one table."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        return f"+{self.inserted} ~{self.updated} -{self.deleted}"


def content_columns(pipeline: dlt.Pipeline, table: str) -> List[str]:
    """The table's columns that carry Aeries data (no dlt or sync lineage columns)."""
    if not pipeline.default_schema_name or table not in pipeline.default_schema.tables:
        return []
    columns = pipeline.default_schema.tables[table].get("columns", {})
    return sorted(c for c in columns if not c.startswith(_LINEAGE_PREFIXES))


def snapshot(
    pipeline: dlt.Pipeline, client: Any, table: str, key: Sequence[str], where: Optional[str] = None
) -> Snapshot:
    """Read `key -> content` for the rows of `table` matching `where` (empty if the table is missing).

    Args:
        pipeline: The pipeline whose schema names the table's columns.
        client: An open `pipeline.sql_client()`: one serves every table of a sync's snapshots
            (each client dlt makes resolves the destination's configuration again).
        table: The table to read.
        key: Its primary key columns.
        where: An SQL condition on its rows, or None for all.
    """
    columns = content_columns(pipeline, table)
    if not columns or not client.has_dataset():
        return {}
    qualified = client.make_qualified_table_name(table)
    names = ", ".join(client.escape_column_name(c) for c in columns)
    sql = f"SELECT {names} FROM {qualified}" + (f" WHERE {where}" if where else "")
    try:
        rows = client.execute_sql(sql)
    except Exception:  # the table is in the schema but not yet in the destination
        return {}
    if rows is None:  # dlt's sql clients return None for statements without a result set
        return {}
    positions = [columns.index(k) for k in key]
    return {tuple(r[i] for i in positions): tuple(r) for r in rows}


def diff(before: Snapshot, after: Snapshot) -> ChangeCounts:
    """Count inserted, updated and deleted keys between two snapshots."""
    inserted = sum(1 for k in after if k not in before)
    deleted = sum(1 for k in before if k not in after)
    updated = sum(1 for k, v in after.items() if k in before and before[k] != v)
    return ChangeCounts(inserted, updated, deleted)


def window_filter(windows: Iterable[Tuple[int, Any, Any]]) -> str:
    """SQL condition selecting attendance rows of the given (school, first day, last day) windows."""
    parts = [
        f"(school_code = {int(sc)} AND attendance_date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}')"
        for sc, start, end in windows
    ]
    return " OR ".join(parts) if parts else "FALSE"
