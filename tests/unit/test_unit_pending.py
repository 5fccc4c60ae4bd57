"""Pending loads: a package whose normalize commit a kill cut short is loaded once, and later runs work."""

import shutil
from pathlib import Path

import dlt
import duckdb

from aeries_sync.pipeline import finish_pending


def test_a_kill_between_dlt_s_normalize_commit_and_its_cleanup_does_not_block_later_runs(tmp_path: Path) -> None:
    database = str(tmp_path / "sync.duckdb")
    pipeline = dlt.pipeline("pending_commit", destination=dlt.destinations.duckdb(database),
                            dataset_name="pending", pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.extract([{"id": 1}, {"id": 2}], table_name="rows")
    load_id = pipeline.list_extracted_load_packages()[0]
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    kept = tmp_path / "extracted_copy"
    shutil.copytree(extracted, kept)
    pipeline.normalize()
    # As a SIGKILL after dlt moved the normalized package into place, before it deleted the extracted one.
    shutil.copytree(kept, extracted)
    assert load_id in pipeline.list_extracted_load_packages()
    assert load_id in pipeline.list_normalized_load_packages()

    finish_pending(pipeline)  # raised OSError (Directory not empty) before, on every later run too

    assert not pipeline.has_pending_data
    pipeline.run([{"id": 3}], table_name="rows")
    with duckdb.connect(database) as connection:
        rows = connection.execute("SELECT id FROM pending.rows ORDER BY id").fetchall()
    assert rows == [(1,), (2,), (3,)]  # the interrupted package loaded once, the next run after it
