"""HTTPS: start(ssl_context=...), tls_server_context from PEM files, faults over TLS, --tls-cert/--tls-key."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme

from aeries_simulator import AeriesSimulator, DistrictSpec, FaultKind, tls_server_context

ROOT = Path(__file__).resolve().parents[2]
SPEC = DistrictSpec(seed=7, schools=3, students_per_school=20)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for 127.0.0.1 signed by ``ca``."""
    return ca.issue_cert("127.0.0.1")


@pytest.fixture(scope="module")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the CA certificate as PEM, for requests' ``verify=``."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def https_sim(server_cert: trustme.LeafCert) -> Iterator[AeriesSimulator]:
    """A simulator serving HTTPS with ``server_cert``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    with _serving(context) as sim:
        yield sim


@contextlib.contextmanager
def _serving(context: ssl.SSLContext) -> Iterator[AeriesSimulator]:
    sim = AeriesSimulator(SPEC).start(host="127.0.0.1", port=0, ssl_context=context)
    try:
        yield sim
    finally:
        sim.stop()


def _get(sim: AeriesSimulator, path: str, verify: str | bool, **kwargs: object) -> requests.Response:
    return requests.get(f"{sim.base_url}/api/v5/{path}", verify=verify, timeout=5,
                        headers={"AERIES-CERT": sim.certificate}, **kwargs)  # type: ignore[arg-type]


def test_default_is_plain_http() -> None:
    with AeriesSimulator(SPEC) as sim:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
        assert requests.get(sim.base_url + "/api/v5/systeminfo", timeout=5).status_code == 200


def test_systeminfo_over_https_with_the_ca(https_sim: AeriesSimulator, ca_pem: str) -> None:
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", https_sim.base_url)
    response = requests.get(https_sim.base_url + "/api/v5/systeminfo", verify=ca_pem, timeout=5)
    assert response.status_code == 200
    assert response.json()["DatabaseYear"] == "2024-2025"


def test_keep_alive_and_certificate_routes_over_https(https_sim: AeriesSimulator, ca_pem: str) -> None:
    with requests.Session() as session:
        # verify per request: a Session.verify path loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in requests
        session.headers["AERIES-CERT"] = https_sim.certificate
        schools = session.get(https_sim.base_url + "/api/v5/schools", verify=ca_pem, timeout=5).json()
        assert [s["SchoolCode"] for s in schools] == [0, 101, 102, 103, 999]
        attendance = session.get(https_sim.base_url + "/api/v5/schools/101/attendance", verify=ca_pem,
                                 params={"StartDate": "20240901", "EndDate": "20240930"}, timeout=5)
        assert attendance.status_code == 200 and attendance.json()


def test_unknown_ca_is_refused_and_the_server_keeps_serving(https_sim: AeriesSimulator, ca_pem: str) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        _get(https_sim, "systeminfo", verify=True)  # the system trust store does not know the test CA
    with pytest.raises(requests.ConnectionError):
        requests.get(https_sim.base_url.replace("https://", "http://") + "/api/v5/systeminfo", timeout=5)
    assert _get(https_sim, "systeminfo", verify=ca_pem).status_code == 200


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_still_talks_https(https_sim: AeriesSimulator) -> None:
    assert _get(https_sim, "schools", verify=False).status_code == 200


def test_connection_reset_over_https_is_not_a_tls_error(https_sim: AeriesSimulator, ca_pem: str) -> None:
    """A reset after the handshake stays a connection error (clients must not take it for a bad certificate)."""
    https_sim.faults.add(FaultKind.CONNECTION_RESET, route="schools", times=1)
    try:
        with pytest.raises(requests.ConnectionError) as caught:
            _get(https_sim, "schools", verify=ca_pem)
        assert not isinstance(caught.value, requests.exceptions.SSLError)
    finally:
        https_sim.faults.clear()
    assert _get(https_sim, "schools", verify=ca_pem).status_code == 200


@pytest.mark.parametrize("separate_key", [True, False], ids=["key-file", "key-inside-cert-file"])
def test_tls_server_context_from_pem_files(server_cert: trustme.LeafCert, ca_pem: str, tmp_path: Path,
                                           separate_key: bool) -> None:
    chain, key = tmp_path / "server.pem", tmp_path / "server.key"
    if separate_key:
        _write_chain(server_cert, chain)
        server_cert.private_key_pem.write_to_path(str(key))
    else:
        server_cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    with _serving(tls_server_context(str(chain), str(key) if separate_key else None)) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        assert requests.get(sim.base_url + "/api/v5/systeminfo", verify=ca_pem, timeout=5).status_code == 200


def test_cli_serves_https(server_cert: trustme.LeafCert, ca_pem: str, tmp_path: Path) -> None:
    chain, key = tmp_path / "server.pem", tmp_path / "server.key"
    _write_chain(server_cert, chain)
    server_cert.private_key_pem.write_to_path(str(key))
    proc = _run_cli("--tls-cert", str(chain), "--tls-key", str(key), "--schools", "2", "--students-per-school", "10")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        found = re.match(r"Aeries simulator \(synthetic data\) serving (https://127\.0\.0\.1:\d+) ", first)
        assert found, first
        response = requests.get(found.group(1) + "/api/v5/systeminfo", verify=ca_pem, timeout=5)
        assert response.json()["DatabaseYear"] == "2024-2025"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    pytest.param(["--tls-key", "server.key"], "--tls-key needs --tls-cert", id="key-without-cert"),
    pytest.param(["--tls-cert", "missing.pem"], "cannot load --tls-cert", id="missing-cert"),
])
def test_cli_rejects_bad_tls_options(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "aeries_simulator", *args], cwd=tmp_path, env=_cli_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr


def _write_chain(cert: trustme.LeafCert, path: Path) -> None:
    path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))


def _cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aeries_simulator", "--port", "0", *args], cwd=ROOT,
                            env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
