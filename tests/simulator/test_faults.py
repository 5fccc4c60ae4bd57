"""Every FaultKind, scripts, probabilities, school scoping and stop() with a hanging request."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import requests

from aeries_simulator import AeriesSimulator, DistrictSpec, FaultKind

from .conftest import Api

PATH = "schools/101/attendance"
PARAMS = {"StartDate": "20240901", "EndDate": "20240930"}


@pytest.mark.parametrize("kind, status, has_message", [
    pytest.param(FaultKind.RATE_LIMIT, 429, True, id="rate-limit"),
    pytest.param(FaultKind.SERVER_ERROR, 500, True, id="server-error"),
    pytest.param(FaultKind.BAD_GATEWAY, 502, False, id="bad-gateway"),
    pytest.param(FaultKind.UNAVAILABLE, 503, True, id="unavailable"),
    pytest.param(FaultKind.UNAUTHORIZED, 401, True, id="unauthorized"),
])
def test_status_faults(api: Api, sim: AeriesSimulator, kind: FaultKind, status: int, has_message: bool) -> None:
    sim.faults.add(kind, route="attendance", times=1)
    response = api.get(PATH, PARAMS)
    assert response.status_code == status
    if has_message:
        assert "Message" in response.json()
    else:
        assert response.content == b""
    if kind is FaultKind.RATE_LIMIT:
        assert response.headers["Retry-After"] == "1"
    assert api.get(PATH, PARAMS).status_code == 200  # times=1: the next one is normal
    assert [r.status for r in sim.request_log] == [status, 200]


def test_unavailable_without_message_and_status_override(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.UNAVAILABLE, route="schools", message=False, times=1)
    response = api.get("schools")
    assert response.status_code == 503 and response.content == b""
    sim.faults.add(FaultKind.SERVER_ERROR, route="schools", status=504, times=1)
    assert api.get("schools").status_code == 504


def test_connection_reset(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.CONNECTION_RESET, route="attendance", times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url(PATH), params=PARAMS, headers={"AERIES-CERT": sim.certificate}, timeout=5)
    assert api.get(PATH, PARAMS).status_code == 200


def test_hang_exceeds_client_timeout_without_blocking_others(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.script("attendance", [FaultKind.HANG])
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(api.url(PATH), params=PARAMS, headers={"AERIES-CERT": sim.certificate}, timeout=0.5)
    assert time.monotonic() - started < 2.5
    quick = time.monotonic()
    assert api.get("schools").status_code == 200  # other requests are served meanwhile
    assert time.monotonic() - quick < 1.0


def test_latency(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.LATENCY, route="schools")
    started = time.monotonic()
    assert api.get("schools").status_code == 200
    assert time.monotonic() - started >= sim.fault_latency_seconds * 0.9


def test_malformed_json(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.MALFORMED_JSON, route="attendance", times=1)
    response = api.get(PATH, PARAMS)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_truncated_json(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.TRUNCATED_JSON, route="attendance", times=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        requests.get(api.url(PATH), params=PARAMS, headers={"AERIES-CERT": sim.certificate}, timeout=5)
    assert api.get(PATH, PARAMS).status_code == 200


def test_script_is_ordered(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.script("students", [FaultKind.RATE_LIMIT, None, FaultKind.SERVER_ERROR])
    statuses = [api.get("schools/101/students").status_code for _ in range(4)]
    assert statuses == [429, 200, 500, 200]
    assert api.get("schools").status_code == 200  # other routes untouched


def test_fault_scoped_to_a_school(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.add(FaultKind.SERVER_ERROR, route="attendance@102")
    assert api.get("schools/101/attendance", PARAMS).status_code == 200
    assert api.get("schools/102/attendance", PARAMS).status_code == 500
    assert api.get("schools/102/students").status_code == 200


def test_probability_is_seeded(api: Api, sim: AeriesSimulator) -> None:
    def run() -> list[int]:
        sim.faults.clear()
        sim.faults.add(FaultKind.SERVER_ERROR, route="terms", probability=0.5, seed=42)
        return [api.get("schools/101/terms").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 5 < first.count(500) < 25


def test_unauthorized_mid_run(api: Api, sim: AeriesSimulator) -> None:
    sim.faults.script("*", [None, None, FaultKind.UNAUTHORIZED])
    assert [api.get("schools").status_code for _ in range(3)] == [200, 200, 401]


def test_bad_fault_route_rejected(sim: AeriesSimulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.add(FaultKind.SERVER_ERROR, route="attendence")


def test_stop_releases_hanging_request() -> None:
    sim = AeriesSimulator(DistrictSpec(schools=1, students_per_school=5), fault_hang_seconds=60).start()
    sim.faults.add(FaultKind.HANG)
    url = sim.base_url + "/api/v5/systeminfo"
    thread = threading.Thread(target=lambda: _swallow(url), daemon=True)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    thread.join(timeout=5)
    assert not thread.is_alive()


def _swallow(url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=10)
