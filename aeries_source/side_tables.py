"""Hints of the side tables that resources write besides their own: rejects and sync batches."""

from typing import Any, Dict, List

import dlt


def rejects_item(rows: List[Dict[str, Any]]) -> Any:
    """Mark rows for the `rejects` table."""
    return dlt.mark.with_hints(rows, reject_hints(), create_table_variant=True)


def reject_hints() -> Any:
    """Hints of the `rejects` table (a fresh dict per use: dlt may modify hints it is given)."""
    return dlt.mark.make_hints(
        table_name="rejects", write_disposition="merge", primary_key="reject_id",
        columns={"window_start": {"data_type": "date"}, "window_end": {"data_type": "date"},
                 "raw_payload": {"data_type": "text"}},
    )
