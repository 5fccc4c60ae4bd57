"""Logs: a debug-level run of the command, with faults on the error paths, leaks no secret and no student.

The command runs as a subprocess against a simulator served from this process on 127.0.0.1 and loads
into Postgres; everything it writes to stdout and stderr is searched for the certificate and for every
synthetic student's name and ids.
"""

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from reliability_helpers import cli_env, run_cli, unique_dataset

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind

SPEC = DistrictSpec(seed=30, schools=2, students_per_school=20, today=date(2024, 9, 30))
ATTEMPTS = 3


@pytest.fixture
def faulty_district() -> Iterator[AeriesSimulator]:
    """A small district whose attendance, students and calendar routes fail now and then."""
    sim = AeriesSimulator(SPEC, fault_hang_seconds=1.5, fault_latency_seconds=0.02)
    sim.start(host="127.0.0.1", port=0)
    for n, (kind, probability) in enumerate([(FaultKind.SERVER_ERROR, 0.1), (FaultKind.MALFORMED_JSON, 0.05),
                                             (FaultKind.TRUNCATED_JSON, 0.05), (FaultKind.CONNECTION_RESET, 0.05),
                                             (FaultKind.RATE_LIMIT, 0.05), (FaultKind.LATENCY, 0.1)]):
        sim.faults.add(kind, route="attendance", probability=probability, seed=40 + n)
    # One batch fails on every attempt, so the "batch failed" warning is logged too.
    sim.faults.script("attendance@102", [None] + [FaultKind.UNAVAILABLE] * ATTEMPTS)
    sim.faults.script("students", [FaultKind.MALFORMED_JSON, FaultKind.SERVER_ERROR])
    sim.faults.script("calendar", [FaultKind.TRUNCATED_JSON, FaultKind.HANG])
    try:
        yield sim
    finally:
        sim.stop()


def _personal_data(sim: AeriesSimulator) -> Dict[str, List[str]]:
    names, ids = set(), set()
    for sc in sim.school_codes():
        for student in sim.truth_students(sc):
            names |= {student["FirstName"], student["LastName"]}
            ids |= {str(student["StudentID"]), str(student["StateStudentID"])}
    return {"names": sorted(n for n in names if n), "ids": sorted(i for i in ids if i)}


def _leaks(text: str, sim: AeriesSimulator) -> List[str]:
    found = []
    if sim.certificate in text:
        found.append("certificate")
    pii = _personal_data(sim)
    found += [f"name {n!r}" for n in pii["names"] if re.search(rf"\b{re.escape(n)}\b", text)]
    found += [f"id {i}" for i in pii["ids"] if re.search(rf"\b{re.escape(i)}\b", text)]
    return found


@pytest.mark.parametrize("json_logs", [pytest.param(False, id="text"), pytest.param(True, id="json")])
def test_debug_logs_of_a_faulty_run_hold_no_certificate_and_no_student(
    faulty_district: AeriesSimulator, postgres_url: str, tmp_path: Path, json_logs: bool
) -> None:
    sim = faulty_district
    env = cli_env(sim, postgres_url, tmp_path / "dlt_data", ENHANCED_SYNC_DEBUG="true",
                  SOURCES__AERIES__REQUEST_MAX_ATTEMPTS=str(ATTEMPTS), SOURCES__AERIES__REQUEST_TIMEOUT="1",
                  SOURCES__AERIES__BATCH_DAYS="7", SYNC__CHECKPOINT_EVERY="3")
    args = ["--destination", "postgres", "--dataset-name", unique_dataset("logs"), "--pipeline-name", "logs"]
    result = run_cli(args + (["--json-logs"] if json_logs else []), tmp_path / "cwd", env)
    output = result.stdout + result.stderr
    (tmp_path / "cli_output.txt").write_text(output)  # kept for a look after a failure

    assert result.returncode in (0, 3), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # The run really went through the error paths and logged at debug level.
    if json_logs:  # the summary is one JSON line too
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["event"] == "sync_summary", summary
        assert summary["errors_by_class"].get("server_error"), summary
    else:
        assert "Aeries sync" in result.stdout and "errors by class:" in result.stdout
        assert "server_error" in result.stdout, result.stdout
    assert re.search(r"batch \d+ \(school 102, [\d-]+\.\.[\d-]+\) failed", result.stderr), result.stderr[-3000:]
    assert re.search(r"(?i)debug", result.stderr), "no debug lines: ENHANCED_SYNC_DEBUG had no effect"
    assert len(result.stderr.splitlines()) > 20

    leaks = _leaks(output, sim)
    assert not leaks, f"{len(leaks)} leak(s) in the output: {leaks[:10]}"

    if json_logs:
        bad: List[str] = []
        entries: List[Dict[str, Any]] = []
        for line in result.stderr.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not isinstance(entry, dict):
                bad.append(line)
                continue
            entries.append(entry)
        assert not bad, f"{len(bad)} stderr line(s) are not JSON: {bad[:5]}"
        assert all({"level", "message"} <= set(e) for e in entries)
        assert any(e["level"] == "debug" for e in entries)
        assert any(e["level"] == "warning" for e in entries)


def test_debug_logs_of_a_certificate_revoked_mid_run_hold_no_certificate_and_no_student(
    postgres_url: str, tmp_path: Path
) -> None:
    sim = AeriesSimulator(SPEC).start(host="127.0.0.1", port=0)
    try:
        sim.faults.script("attendance", [None, FaultKind.SERVER_ERROR, None, FaultKind.UNAUTHORIZED])
        env = cli_env(sim, postgres_url, tmp_path / "dlt_data", ENHANCED_SYNC_DEBUG="true",
                      SOURCES__AERIES__REQUEST_MAX_ATTEMPTS=str(ATTEMPTS), SOURCES__AERIES__BATCH_DAYS="7",
                      SYNC__CHECKPOINT_EVERY="1")
        args = ["--destination", "postgres", "--dataset-name", unique_dataset("logs"), "--pipeline-name", "logs401"]
        result = run_cli(args, tmp_path / "cwd", env)
        output = result.stdout + result.stderr
        (tmp_path / "cli_output.txt").write_text(output)
        assert result.returncode == 4, output[-3000:]
        assert "401" in result.stdout and "certificate" in result.stdout
        assert "Traceback" not in output
        leaks = _leaks(output, sim)
        assert not leaks, f"{len(leaks)} leak(s) in the output: {leaks[:10]}"
    finally:
        sim.stop()
