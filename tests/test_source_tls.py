"""Issue 12: a plain dlt pipeline honours the source's TLS settings (verify_tls, ca_bundle) over HTTPS.

The simulator serves HTTPS with a server certificate for 127.0.0.1 from a throwaway CA that
`trustme` makes in the test, a CA no trust store knows:

* verification on and no CA bundle: the sync stops with a critical "tls" error;
* `ca_bundle` = the test CA: it loads;
* `verify_tls=False`: it loads, and the source warns that verification is off.

Each case runs without and with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE naming another bundle (as on
many machines, this one included): requests lets those variables override a session's `verify`,
so the source's settings must win over them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import certifi
import dlt
import pytest
import trustme
from dlt.common.pipeline import SupportsPipeline

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_source import aeries
from aeries_source.errors import AeriesCriticalError

SCHOOL = 101
START, END = date(2024, 9, 3), date(2024, 9, 13)  # two school weeks keep each run short
# Requests that fail are retried at once: no backoff, no jitter.
FAST_REQUESTS: dict[str, Any] = {"request_backoff_factor": 0.0, "request_jitter": 0.0, "request_max_attempts": 2,
                                 "request_timeout": 10.0}
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(params=[False, True], ids=["no-env-bundle", "env-bundle-elsewhere"])
def ca_bundle_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Clear REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, or point them at a public bundle without the test CA.

    Returns:
        True when the variables are set.
    """
    for variable in CA_BUNDLE_VARIABLES:
        if request.param:
            monkeypatch.setenv(variable, certifi.where())
        else:
            monkeypatch.delenv(variable, raising=False)
    return bool(request.param)


@pytest.fixture
def ca() -> trustme.CA:
    """A throwaway certificate authority no trust store knows."""
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> str:
    """Path of the test CA's certificate (PEM), as an operator would give it in `ca_bundle`."""
    path = tmp_path / "district-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def https_sim(ca: trustme.CA, test_spec: DistrictSpec) -> Iterator[AeriesSimulator]:
    """The simulator serving HTTPS on 127.0.0.1 with a certificate for 127.0.0.1 signed by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    simulator = AeriesSimulator(test_spec).start(host="127.0.0.1", port=0, ssl_context=context)
    try:
        assert simulator.base_url.startswith("https://127.0.0.1:")
        yield simulator
    finally:
        simulator.stop()


def make_pipeline(tmp_path: Path, name: str) -> dlt.Pipeline:
    """Build a plain dlt pipeline into a DuckDB file under ``tmp_path``.

    Args:
        tmp_path: The test's folder (database and pipeline state live there).
        name: Pipeline name.

    Returns:
        The pipeline.
    """
    return dlt.pipeline(pipeline_name=name, destination=dlt.destinations.duckdb(str(tmp_path / "x.duckdb")),
                        dataset_name="tls_test", pipelines_dir=str(tmp_path / "pipelines"))


def run_sync(pipeline: dlt.Pipeline, sim: AeriesSimulator, **tls: Any) -> None:
    """Run the `aeries` source for one school over a short explicit range.

    Args:
        pipeline: Where to load.
        sim: The HTTPS simulator.
        **tls: The TLS settings under test (`verify_tls`, `ca_bundle`).
    """
    source = aeries(base_url=sim.base_url, certificate=sim.certificate, start_date=START, end_date=END,
                    school_codes=[SCHOOL], **FAST_REQUESTS, **tls)
    pipeline.run(source)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and every exception it wraps (dlt's ``.exception``, ``__cause__``, ``__context__``)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "exception", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def critical_error_of(exc: BaseException) -> AeriesCriticalError | None:
    """Return the first AeriesCriticalError in ``exc``'s chain, or None."""
    return next((e for e in exception_chain(exc) if isinstance(e, AeriesCriticalError)), None)


def attendance_rows(pipeline: SupportsPipeline) -> int:
    """Count the rows of attendance_records in the pipeline's dataset."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("attendance_records")
        return int(client.execute_sql(f"SELECT COUNT(*) FROM {table}")[0][0])


def test_unknown_ca_with_verification_on_stops_with_a_tls_error(https_sim: AeriesSimulator, tmp_path: Path,
                                                               ca_bundle_environment: bool) -> None:
    """Default settings (verify_tls on, no ca_bundle) refuse the district's unknown CA."""
    pipeline = make_pipeline(tmp_path, "tls_default")
    with pytest.raises(Exception) as caught:
        run_sync(pipeline, https_sim)
    critical = critical_error_of(caught.value)
    assert critical is not None, f"no AeriesCriticalError in the chain of {caught.value!r}"
    assert critical.error_class == "tls"
    assert https_sim.certificate not in str(critical)


def test_ca_bundle_trusts_the_district_ca(https_sim: AeriesSimulator, ca_pem: str, tmp_path: Path,
                                          ca_bundle_environment: bool) -> None:
    """`ca_bundle` makes the sync trust the CA, and wins over REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE."""
    pipeline = make_pipeline(tmp_path, "tls_ca_bundle")
    run_sync(pipeline, https_sim, ca_bundle=ca_pem)
    assert attendance_rows(pipeline) > 0
    assert len(https_sim.truth_attendance(SCHOOL, START, END)) > 0


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_loads_and_warns(https_sim: AeriesSimulator, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture, ca_bundle_environment: bool) -> None:
    """`verify_tls=False` talks to any certificate (whatever REQUESTS_CA_BUNDLE says), and warns that it does."""
    pipeline = make_pipeline(tmp_path, "tls_off")
    with caplog.at_level(logging.WARNING, logger="aeries_source"):
        run_sync(pipeline, https_sim, verify_tls=False)
    assert attendance_rows(pipeline) > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("aeries_source")]
    assert any("verif" in r.getMessage().lower() for r in warnings), [r.getMessage() for r in warnings]
