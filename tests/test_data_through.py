"""The `data_through` table: per school, how far attendance has been read, and on which server date."""

from datetime import date

import dlt
import pytest
from table_helpers import run_sql

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_source import aeries
from aeries_sync.runner import EXIT_OK, run_sync

YEAR_START = date(2024, 8, 15)


@pytest.fixture
def midyear_sim():
    """A district in November: attendance exists up to the simulator's clock date."""
    spec = DistrictSpec(seed=11, schools=3, students_per_school=15, today=date(2024, 11, 20))
    simulator = AeriesSimulator(spec).start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


def _as_date(value):
    return value if isinstance(value, date) and not hasattr(value, "hour") else value.date()


def _data_through(options) -> dict:
    rows = run_sql(options, "SELECT school_code, data_through, server_date FROM {data_through}")
    return {int(sc): (_as_date(through), _as_date(server)) for sc, through, server in rows}


def _max_done_chunk_end(options) -> dict:
    rows = run_sql(options, "SELECT school_code, MAX(batch_end) FROM {sync_batches} WHERE status = 'done' "
                            "GROUP BY school_code")
    return {int(sc): _as_date(end) for sc, end in rows}


def test_data_through_follows_the_reads_and_never_moves_back(midyear_sim, make_options, destination):
    sim = midyear_sim
    options = make_options(sim, destination, batch_days=14, checkpoint_every=4)
    full = run_sync(options)
    assert full.exit_code == EXIT_OK, full.message
    assert full.pipeline_runs > 1  # the rows are written across checkpointed pipeline runs
    expected = {sc: (sim.today, sim.today) for sc in sim.school_codes()}
    assert _data_through(options) == expected
    assert {sc: v[0] for sc, v in expected.items()} == _max_done_chunk_end(options)
    assert all(w.end == sim.today for w in full.plan.ranges)

    # An explicit re-read of an older month leaves it where it is.
    sim.advance_clock(days=1)
    older = run_sync(make_options(sim, destination, start_date=date(2024, 9, 1), end_date=date(2024, 9, 30)))
    assert older.exit_code == EXIT_OK, older.message
    assert _data_through(options) == expected

    # A later delta sync raises it to the new server date.
    sim.advance_clock(days=6)
    delta = run_sync(make_options(sim, destination, batch_days=14, checkpoint_every=4))
    assert delta.exit_code == EXIT_OK, delta.message
    assert delta.plan.mode == "delta"
    assert _data_through(options) == {sc: (sim.today, sim.today) for sc in sim.school_codes()}
    assert {sc: sim.today for sc in sim.school_codes()} == _max_done_chunk_end(options)


def test_a_plain_dlt_pipeline_of_the_source_writes_data_through(midyear_sim, make_options, monkeypatch, tmp_path):
    sim = midyear_sim
    monkeypatch.setenv("SOURCES__AERIES__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__AERIES__CERTIFICATE", sim.certificate)
    options = make_options(sim)
    pipeline = dlt.pipeline("plain", destination=dlt.destinations.duckdb(options.duckdb_path),
                            dataset_name=options.dataset_name, pipelines_dir=str(tmp_path / "plain"))
    school = sim.school_codes()[0]
    pipeline.run(aeries(school_codes=[school], start_date="2024-09-01", end_date="2024-10-31"))
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("data_through")
        rows = client.execute_sql(f"SELECT school_code, data_through, server_date FROM {table}")
    assert [(int(r[0]), _as_date(r[1]), _as_date(r[2])) for r in rows] == [(school, date(2024, 10, 31), sim.today)]
