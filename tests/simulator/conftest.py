"""Fixtures: one shared simulator per session, fresh faults per test, throwaway simulators for changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from aeries_simulator import AeriesSimulator, DistrictSpec

SPEC = DistrictSpec(seed=7, schools=3, students_per_school=40)


class Api:
    """Tiny helper: GET paths under /api/v5 with or without the certificate."""

    def __init__(self, sim: AeriesSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return f"{self.sim.base_url}/api/v5/{path.lstrip('/')}"

    def get(self, path: str, params: dict[str, Any] | None = None, cert: str | None = "default",
            timeout: float = 10) -> requests.Response:
        headers = {"Accept": "application/json"}
        if cert == "default":
            headers["AERIES-CERT"] = self.sim.certificate
        elif cert is not None:
            headers["AERIES-CERT"] = cert
        return self.session.get(self.url(path), params=params, headers=headers, timeout=timeout)

    def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[AeriesSimulator]:
    """A simulator that no test mutates (changes use ``fresh_sim``)."""
    with AeriesSimulator(SPEC, fault_hang_seconds=3.0, fault_latency_seconds=0.3) as sim:
        yield sim


@pytest.fixture
def sim(shared_sim: AeriesSimulator) -> Iterator[AeriesSimulator]:
    """The shared simulator with faults and the request log reset around each test."""
    shared_sim.faults.clear()
    shared_sim.clear_request_log()
    yield shared_sim
    shared_sim.faults.clear()


@pytest.fixture
def api(sim: AeriesSimulator) -> Api:
    """HTTP helper bound to the shared simulator."""
    return Api(sim)


@pytest.fixture
def fresh_sim() -> Iterator[AeriesSimulator]:
    """A private simulator a test may change freely (small, so it starts in milliseconds)."""
    with AeriesSimulator(DistrictSpec(seed=11, schools=3, students_per_school=30), admin_routes=True) as sim:
        yield sim


@pytest.fixture
def fresh_api(fresh_sim: AeriesSimulator) -> Api:
    """HTTP helper bound to ``fresh_sim``."""
    return Api(fresh_sim)
