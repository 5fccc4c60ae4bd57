"""Hints of the side tables that resources write besides their own: rejects and sync batches."""

from typing import Any, Dict, List

import dlt


def rejects_item(rows: List[Dict[str, Any]]) -> Any:
    """Mark rows for the `rejects` table."""
    return dlt.mark.with_hints(rows, reject_hints(), create_table_variant=True)


def reject_hints() -> Any:
    """Hints of the `rejects` table (a fresh dict per use: dlt may modify hints it is given).

    Every column is declared with its type (the row is `rejects.reject_row`), so the table can be
    created before the first reject (see `declared_tables`).
    """
    return dlt.mark.make_hints(
        table_name="rejects", write_disposition="merge", primary_key="reject_id",
        columns={"reject_id": {"data_type": "text", "nullable": False},
                 "school_code": {"data_type": "bigint"},
                 "endpoint": {"data_type": "text"},
                 "window_start": {"data_type": "date"}, "window_end": {"data_type": "date"},
                 "reason": {"data_type": "text"},
                 "raw_payload": {"data_type": "text"},
                 "sync_run_id": {"data_type": "text"},
                 "rejected_at": {"data_type": "timestamp"}},
    )
