"""Postgres going away mid-sync: the failed load completes on the next run, nothing lost or doubled."""

import os
from datetime import date

import pytest
from conftest import _pgserver_url
from sync_truth import assert_attendance_matches, assert_small_tables_match, query

from aeries_sync.runner import EXIT_CRITICAL, EXIT_OK, EXIT_PARTIAL, run_sync


@pytest.mark.skipif(bool(os.environ.get("DESTINATION__POSTGRES__CREDENTIALS")),
                    reason="needs a Postgres this test may stop and start (pgserver)")
def test_load_interrupted_by_postgres_outage_completes_next_run(sim, make_options, tmp_path):
    import pgserver

    data_dir = str(tmp_path / "pg")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    url = _pgserver_url(server.get_uri())
    try:
        options = make_options(sim, "postgres", postgres_credentials=url, batch_days=14, checkpoint_every=3)
        seen = []

        def stop_postgres_during_second_checkpoint(batch, rows):
            seen.append(batch.number)
            if len(seen) == 4:  # the first batch of the second checkpoint: the load after the reading will fail
                server.cleanup()

        first = run_sync(options, on_batch_done=stop_postgres_during_second_checkpoint)
        assert first.exit_code in (EXIT_PARTIAL, EXIT_CRITICAL), first.message
        # Checkpoints are committed by dlt's extract, locally; the sync reads on and its load fails.
        assert first.pipeline_runs > 1
        assert "load step failed" in first.message or "could not be reached" in first.message, first.message

        # While Postgres is down a rerun says so in one line and writes nothing.
        down = run_sync(make_options(sim, "postgres", postgres_credentials=url, batch_days=14, checkpoint_every=3))
        assert down.exit_code == EXIT_CRITICAL
        assert "destination database could not be reached" in down.message

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        assert _pgserver_url(server.get_uri()) == url
        second = run_sync(make_options(sim, "postgres", postgres_credentials=url, batch_days=14, checkpoint_every=3))
        assert second.exit_code == EXIT_OK, second.message
        assert_attendance_matches(sim, options, date(2024, 8, 15), date(2025, 6, 12))
        assert_small_tables_match(sim, options)
        statuses = sorted(r[0] for r in query(options, "SELECT status FROM {t:sync_runs}"))
        assert statuses.count("done") == 1
    finally:
        server.cleanup()
