"""Shared fixtures: a real Postgres server, simulators on 127.0.0.1 and sync options per test."""

import os
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from aeries_source.client import RetryPolicy
from aeries_sync.options import SyncOptions, sync_options
from aeries_sync.project_settings import skip_airflow_secrets

# Retries without waiting keep fault tests fast; jitter 0 keeps them deterministic.
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_factor=0.0, max_delay=0.0, jitter=0.0, timeout=5.0)


def _pgserver_url(uri: str) -> str:
    """Turn pgserver's socket URI into a URL dlt accepts (it insists on a host)."""
    parts = urlsplit(uri)
    socket_dir = parse_qs(parts.query)["host"][0]
    return f"postgresql://postgres:postgres@{quote(socket_dir, safe='')}:5432/postgres"


@pytest.fixture(scope="session", autouse=True)
def dlt_data_dir_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dlt's data folder for everything the tests run, in-process or as subprocesses: never the user's."""
    folder = tmp_path_factory.mktemp("dlt_data")
    before = os.environ.get("DLT_DATA_DIR")
    os.environ["DLT_DATA_DIR"] = str(folder)
    skip_airflow_secrets()  # tests are no Airflow tasks (those run in their own processes, without it)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("DLT_DATA_DIR", None)
        else:
            os.environ["DLT_DATA_DIR"] = before


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Postgres: the one named by DESTINATION__POSTGRES__CREDENTIALS, else a pgserver we start."""
    external = os.environ.get("DESTINATION__POSTGRES__CREDENTIALS")
    if external:
        yield external
        return
    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("pgdata")), cleanup_mode="stop")
    try:
        yield _pgserver_url(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def test_spec() -> DistrictSpec:
    """A small district: one daily and two period schools, a whole school year."""
    return DistrictSpec(seed=11, schools=3, students_per_school=30)


@pytest.fixture
def sim(test_spec: DistrictSpec) -> Iterator[AeriesSimulator]:
    """A fresh simulator per test (tests change its data)."""
    simulator = AeriesSimulator(test_spec).start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(params=["duckdb", "postgres"])
def destination(request: pytest.FixtureRequest) -> str:
    """Run a test against both real destinations."""
    return str(request.param)



@pytest.fixture
def slow_sim() -> Iterator[AeriesSimulator]:
    """Every answer takes 60 ms, so that requests overlap when the client lets them."""
    simulator = AeriesSimulator(DistrictSpec(seed=5, schools=4, students_per_school=20),
                                fault_latency_seconds=0.06).start(host="127.0.0.1", port=0)
    simulator.faults.add(FaultKind.LATENCY)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def make_options(tmp_path: Path, request: pytest.FixtureRequest):
    """Build SyncOptions for a simulator, isolated in tmp_path and a unique dataset."""
    dataset = f"t_{uuid.uuid4().hex[:10]}"

    def factory(sim: AeriesSimulator, destination: str = "duckdb", **overrides) -> SyncOptions:
        options = sync_options(
            base_url=sim.base_url,
            certificate=sim.certificate,
            destination=destination,
            duckdb_path=str(tmp_path / "aeries_test.duckdb"),
            postgres_credentials=request.getfixturevalue("postgres_url") if destination == "postgres" else None,
            dataset_name=dataset,
            pipeline_name="aeries_test",
            pipelines_dir=str(tmp_path / "pipelines"),
            retry=FAST_RETRY,
        )
        for key, value in overrides.items():
            setattr(options, key, value)
        return options

    return factory
